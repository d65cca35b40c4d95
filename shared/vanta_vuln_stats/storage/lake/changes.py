"""The lake's change detection: the new state and the change events of a day, from the state of
the last committed earlier day and the day's snapshot, with Arrow joins and column-wise
comparisons (no Python loop over records).

The rules are the SQLite store's (storage/sqlite.py), so both stores tell the same history:

    discovered   an id not in the previous state
    remediated   deactivateMetadata appeared (is_deactivated false/null -> true)
    reactivated  it stopped being deactivated, or it was resolved and is reported again
    updated      any other change of a tracked field (model.fields.tracked_columns); a change of
                 a field that only says "seen again" (lastDetectedDate) updates the state row but
                 is no event
    resolved     in the previous state and reported then, absent from a complete snapshot

Vulnerabilities get event rows (``history_schema``); remediations and assets get counts only, as
in the SQLite store. Remediation records are never resolved (they are facts about the past): a
record missing from a day's feed stays in the state as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from vanta_vuln_stats.model.fields import Resource, tracked_columns
from vanta_vuln_stats.storage.base import ChangeCounts
from vanta_vuln_stats.storage.lake.layout import history_schema, state_schema

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["StateChange", "apply_snapshot", "dedupe_by_id"]


@dataclass(frozen=True)
class StateChange:
    state: pa.Table
    events: pa.Table | None
    counts: ChangeCounts


def dedupe_by_id(table: pa.Table) -> pa.Table:
    """One row per id, the last occurrence winning (a record listed twice in one walk, as the
    SQLite store keeps the last copy)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if table.num_rows == 0 or pc.count_distinct(table["id"]).as_py() == table.num_rows:
        return table
    indexed = table.append_column("__row", pa.array(range(table.num_rows), pa.int64()))
    last = indexed.group_by("id").aggregate([("__row", "max")])["__row_max"]
    return table.take(pc.sort_indices(last))


def _differs(new: pa.ChunkedArray, old: pa.ChunkedArray) -> pa.ChunkedArray:
    """Row-wise "not the same value", nulls compared as values (null vs null is the same)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_list(new.type):
        lengths = pc.not_equal(pc.list_value_length(new), pc.list_value_length(old))
        new, old = pc.binary_join(new, "\x1f"), pc.binary_join(old, "\x1f")
        values = pc.or_kleene(lengths, pc.not_equal(new, old))
    else:
        values = pc.not_equal(new, old)
    return pc.or_(pc.fill_null(values, False), pc.xor(pc.is_null(new), pc.is_null(old)))


def apply_snapshot(
    resource: Resource,
    previous: pa.Table | None,
    snapshot: pa.Table,
    *,
    stamp: datetime,
    run_date: date,
    run_id: str,
    complete: bool = True,
) -> StateChange:
    """The state after ``snapshot`` (a day's records of ``resource``, snapshot or state columns)
    over ``previous`` (the state of the last committed earlier day, None for the first day).

    ``complete`` says whether the walk that produced the snapshot reached its end; only then are
    missing records resolved. ``stamp`` is the run's stamp (its run date at its time of day).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    schema = state_schema(resource)
    model_columns = [f.name for f in schema if f.name not in _STATE_EXTRA]
    snapshot = dedupe_by_id(snapshot.select(model_columns))
    ts_type = schema.field("first_seen_at").type
    stamp_scalar = pa.scalar(stamp, ts_type)
    run_date_scalar = pa.scalar(run_date, pa.date32())
    n_new = snapshot.num_rows

    if previous is None or previous.num_rows == 0:
        state = pa.Table.from_arrays(
            [
                *snapshot.columns,
                pa.repeat(stamp_scalar, n_new),
                pa.repeat(stamp_scalar, n_new),
                pa.nulls(n_new, ts_type),
                pa.repeat(run_date_scalar, n_new),
            ],
            schema=schema,
        ).sort_by("id")
        events = None
        if resource is Resource.VULNERABILITIES:
            everything = pa.chunked_array([pa.repeat(pa.scalar(True), n_new)])
            events = _events(state, {"discovered": everything}, None, stamp, run_date, run_id)
        return StateChange(state, events, ChangeCounts(discovered=n_new))

    previous = previous.cast(schema)
    # Join on the ids alone (Acero cannot carry list columns through a join), sorted by id, then
    # gather each side's rows by position: a null position is a row that side lacks.
    keys = pa.table({"id": snapshot["id"], "__new": pa.array(range(n_new), pa.int64())}).join(
        pa.table({"id": previous["id"], "__old": pa.array(range(previous.num_rows), pa.int64())}),
        keys="id",
        join_type="full outer",
        coalesce_keys=True,
    )
    keys = keys.sort_by("id").combine_chunks()
    new_rows = snapshot.take(keys["__new"]).combine_chunks()
    old_rows = previous.take(keys["__old"]).combine_chunks()

    is_new = pc.is_valid(keys["__new"])
    is_old = pc.is_valid(keys["__old"])
    both = pc.and_(is_new, is_old)
    discovered = pc.and_(is_new, pc.invert(is_old))
    resolved_before = pc.is_valid(old_rows["resolved_at"])
    tracks_resolution = resource is not Resource.VULNERABILITY_REMEDIATIONS

    changed_masks = {
        column: pc.and_(both, _differs(new_rows[column], old_rows[column]))
        for column in tracked_columns(resource)
    }
    false = pa.chunked_array([pa.repeat(pa.scalar(False), keys.num_rows)])
    any_change = false
    for mask in changed_masks.values():
        any_change = pc.or_(any_change, mask)

    remediated = reactivated = false
    if resource is Resource.VULNERABILITIES:
        was = pc.fill_null(old_rows["is_deactivated"], False)
        now = pc.fill_null(new_rows["is_deactivated"], False)
        became = pc.and_(now, pc.invert(was))
        stopped = pc.and_(was, pc.invert(now))
        remediated = pc.and_(both, became)
        reactivated = pc.and_(both, pc.and_(pc.invert(became), pc.or_(stopped, resolved_before)))
    elif tracks_resolution:
        reactivated = pc.and_(both, resolved_before)
    transition = pc.or_(remediated, reactivated)
    updated = pc.and_(pc.and_(both, pc.invert(transition)), any_change)
    resolved = false
    if tracks_resolution and complete:
        resolved = pc.and_(pc.and_(is_old, pc.invert(is_new)), pc.invert(resolved_before))

    columns: list[pa.ChunkedArray] = []
    for column in model_columns:
        if column == "id":
            columns.append(keys["id"])
        else:
            columns.append(pc.if_else(is_new, new_rows[column], old_rows[column]))
    first_seen = pc.if_else(is_old, old_rows["first_seen_at"], stamp_scalar)
    last_seen = pc.if_else(is_new, stamp_scalar, old_rows["last_seen_at"])
    resolved_at = pc.if_else(
        is_new,
        pa.scalar(None, ts_type),
        pc.if_else(resolved, stamp_scalar, old_rows["resolved_at"]),
    )
    last_run = pc.if_else(is_new, run_date_scalar, old_rows["last_seen_run_date"])
    state = pa.Table.from_arrays(
        [*columns, first_seen, last_seen, resolved_at, last_run], schema=schema
    )

    counts = ChangeCounts(
        discovered=_count(discovered),
        updated=_count(updated),
        remediated=_count(remediated),
        reactivated=_count(reactivated),
        resolved=_count(resolved),
    )
    events = None
    if resource is Resource.VULNERABILITIES:
        kinds = {
            "discovered": discovered,
            "updated": updated,
            "remediated": remediated,
            "reactivated": reactivated,
            "resolved": resolved,
        }
        fields_changed = _changed_fields(changed_masks)
        events = _events(state, kinds, fields_changed, stamp, run_date, run_id)
    return StateChange(state, events, counts)


_STATE_EXTRA = frozenset({"first_seen_at", "last_seen_at", "resolved_at", "last_seen_run_date"})


def _count(mask: pa.ChunkedArray) -> int:
    import pyarrow.compute as pc

    return int(pc.sum(pc.cast(mask, "int64")).as_py() or 0)


def _array(values: pa.ChunkedArray | pa.Array) -> pa.Array:
    return values.combine_chunks() if hasattr(values, "combine_chunks") else values


def _changed_fields(masks: dict[str, pa.ChunkedArray]) -> pa.Array:
    """Per row, the names of the columns whose mask is set, as list<string> (empty when none)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arrays = {name: _array(mask) for name, mask in masks.items()}
    rows = len(next(iter(arrays.values()))) if arrays else 0
    # One text per row naming the set columns (",severity,,description"), split and emptied
    # of the blanks; the offsets come from the number of set masks per row. (Plain arrays and
    # null_handling="replace": binary_join_element_wise drops all-null rows with "skip" and
    # mis-aligns chunked inputs in pyarrow 26.)
    names = [pc.if_else(mask, pa.scalar(name), pa.scalar("")) for name, mask in arrays.items()]
    counts = pa.repeat(pa.scalar(0, pa.int32()), rows)
    for mask in arrays.values():
        counts = pc.add(counts, pc.cast(mask, pa.int32()))
    if not names:
        return pa.array([[]] * rows, pa.list_(pa.string()))
    text = names[0] if len(names) == 1 else pc.binary_join_element_wise(*names, ",")
    pieces = pc.list_flatten(pc.split_pattern(text, ","))
    values = pieces.filter(pc.not_equal(pieces, ""))
    offsets = pa.concat_arrays(
        [pa.array([0], pa.int32()), pc.cumulative_sum(counts).cast(pa.int32())]
    )
    return pa.ListArray.from_arrays(offsets, values)


def _events(
    state: pa.Table,
    kinds: dict[str, pa.ChunkedArray],
    changed: pa.ChunkedArray | None,
    stamp: datetime,
    run_date: date,
    run_id: str,
) -> pa.Table:
    """The event rows of the state rows that changed: one per row with a set mask in ``kinds``
    (change type -> mask aligned with ``state``). ``changed`` names the changed fields."""
    import pyarrow as pa
    import pyarrow.compute as pc

    schema = history_schema()
    rows = state.num_rows
    list_type = pa.list_(pa.string())
    change_type = pa.nulls(rows, pa.string())
    keep = pa.repeat(pa.scalar(False), rows)
    kinds = {name: _array(mask) for name, mask in kinds.items()}
    for name, mask in kinds.items():
        change_type = pc.if_else(mask, pa.scalar(name), change_type)
        keep = pc.or_(keep, mask)
    if changed is None:
        changed = pa.nulls(rows, list_type)
    else:
        no_fields = pc.or_(kinds["discovered"], kinds["resolved"])
        changed = pc.if_else(no_fields, pa.scalar(None, list_type), _array(changed))
    table = pa.Table.from_arrays(
        [
            state["id"],
            change_type,
            changed,
            pa.repeat(pa.scalar(stamp, schema.field("snapshot_date").type), rows),
            state["name"],
            state["severity"],
            state["is_deactivated"],
            state["deactivated_on_date"],
            pa.repeat(pa.scalar(run_id), rows),
            pa.repeat(pa.scalar(run_date, pa.date32()), rows),
        ],
        schema=schema,
    )
    return table.filter(keep)
