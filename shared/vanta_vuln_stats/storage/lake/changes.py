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
    return table.take(last.take(pc.sort_indices(last)))  # those rows, in their order


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
    snapshot = snapshot.select(model_columns)
    ts_type = schema.field("first_seen_at").type
    stamp_scalar = pa.scalar(stamp, ts_type)
    run_date_scalar = pa.scalar(run_date, pa.date32())

    if previous is None or previous.num_rows == 0:
        snapshot = dedupe_by_id(snapshot)
        n_new = snapshot.num_rows
        state = pa.Table.from_arrays(
            [
                *snapshot.columns,
                pa.repeat(stamp_scalar, n_new),
                pa.repeat(stamp_scalar, n_new),
                pa.nulls(n_new, ts_type),
                pa.repeat(run_date_scalar, n_new),
            ],
            schema=schema,
        )
        events = None
        if resource is Resource.VULNERABILITIES:
            everything = pa.repeat(pa.scalar(True), n_new)
            events = _events(state, {"discovered": everything}, None, stamp, run_date, run_id)
        return StateChange(state, events, ChangeCounts(discovered=n_new))

    previous = previous.cast(schema)
    tracked = tracked_columns(resource)
    # Each snapshot row gets the position of its id in the previous state (null for a new id),
    # and only the previous state's columns the comparison needs are gathered in that order.
    snapshot, positions = _match(snapshot, previous["id"])
    n_new = snapshot.num_rows
    extra = ["is_deactivated"] if resource is Resource.VULNERABILITIES else []
    needed = list(dict.fromkeys([*tracked, *extra, *_STATE_EXTRA]))
    old = previous.select(needed).take(positions)

    known = pc.is_valid(positions)
    discovered = pc.invert(known)
    resolved_before = pc.is_valid(old["resolved_at"])
    tracks_resolution = resource is not Resource.VULNERABILITY_REMEDIATIONS
    changed_masks = {
        column: pc.and_(known, _differs(snapshot[column], old[column])) for column in tracked
    }
    false = pa.repeat(pa.scalar(False), n_new)
    any_change = false
    for mask in changed_masks.values():
        any_change = pc.or_(any_change, mask)

    remediated = reactivated = false
    if resource is Resource.VULNERABILITIES:
        was = pc.fill_null(old["is_deactivated"], False)
        now = pc.fill_null(snapshot["is_deactivated"], False)
        became = pc.and_(now, pc.invert(was))
        stopped = pc.and_(was, pc.invert(now))
        remediated = pc.and_(known, became)
        reactivated = pc.and_(known, pc.and_(pc.invert(became), pc.or_(stopped, resolved_before)))
    elif tracks_resolution:
        reactivated = pc.and_(known, resolved_before)
    updated = pc.and_(pc.and_(known, pc.invert(pc.or_(remediated, reactivated))), any_change)

    # The previous rows no position points at: the records the snapshot lacks.
    matched = pc.scatter(
        pa.repeat(pa.scalar(True), len(positions)), positions, max_index=previous.num_rows - 1
    )
    gone = previous.filter(pc.invert(pc.fill_null(matched, False)))
    resolved_now = pa.repeat(pa.scalar(False), gone.num_rows)
    if tracks_resolution and complete:
        resolved_now = pc.is_null(gone["resolved_at"])
        gone = gone.set_column(
            schema.get_field_index("resolved_at"),
            schema.field("resolved_at"),
            pc.if_else(resolved_now, stamp_scalar, gone["resolved_at"]),
        )
    seen = pa.Table.from_arrays(
        [
            *snapshot.columns,
            pc.if_else(known, old["first_seen_at"], stamp_scalar),
            pa.repeat(stamp_scalar, n_new),
            pa.nulls(n_new, ts_type),
            pa.repeat(run_date_scalar, n_new),
        ],
        schema=schema,
    )
    state = pa.concat_tables([seen, gone.cast(schema)])

    counts = ChangeCounts(
        discovered=_count(discovered),
        updated=_count(updated),
        remediated=_count(remediated),
        reactivated=_count(reactivated),
        resolved=_count(resolved_now),
    )
    events = None
    if resource is Resource.VULNERABILITIES:
        kinds = {
            "discovered": discovered,
            "updated": updated,
            "remediated": remediated,
            "reactivated": reactivated,
        }
        with_fields = pc.or_(pc.or_(updated, remediated), reactivated)
        fields = _changed_fields(
            {name: mask.filter(with_fields) for name, mask in changed_masks.items()}
        )
        changed = _events(seen, kinds, (with_fields, fields), stamp, run_date, run_id)
        resolved = _events(gone, {"resolved": resolved_now}, None, stamp, run_date, run_id)
        events = pa.concat_tables([changed, resolved])
    return StateChange(state, events, counts)


def _match(snapshot: pa.Table, previous_ids: pa.ChunkedArray) -> tuple[pa.Table, pa.Array]:
    """The snapshot with one row per id (``dedupe_by_id``) and, per row, the position of its id
    in the previous state's ids (unique: a state has one row per id), null for a new id.

    One hash lookup of the snapshot's ids in the previous ones gives the positions; a repeated
    id then shows as a repeated position, or as a repeated new id (few), both cheap to count,
    so the snapshot's million ids are hashed once more only when it has a repeat."""
    import pyarrow.compute as pc

    def positions_of(ids: pa.ChunkedArray) -> pa.Array:
        return _array(pc.index_in(ids, value_set=previous_ids))

    positions = positions_of(snapshot["id"])
    known = positions.drop_null()
    new_ids = snapshot["id"].filter(pc.is_null(positions))
    if pc.count_distinct(known).as_py() != len(known) or (
        pc.count_distinct(new_ids).as_py() != len(new_ids)
    ):
        snapshot = dedupe_by_id(snapshot)
        positions = positions_of(snapshot["id"])
    return snapshot, positions


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
    kinds: dict[str, pa.Array],
    changed: tuple[pa.Array, pa.Array] | None,
    stamp: datetime,
    run_date: date,
    run_id: str,
) -> pa.Table:
    """The event rows of the state rows that changed: one per row with a set mask in ``kinds``
    (change type -> mask aligned with ``state``). ``changed`` is (mask, changed fields of the
    rows the mask selects), for the events that name their changed fields."""
    import pyarrow as pa
    import pyarrow.compute as pc

    schema = history_schema()
    list_type = pa.list_(pa.string())
    keep = None
    change_type = pa.nulls(state.num_rows, pa.string())
    for name, mask in kinds.items():
        mask = _array(mask)
        change_type = pc.if_else(mask, pa.scalar(name), change_type)
        keep = mask if keep is None else pc.or_(keep, mask)
    assert keep is not None
    fields = pa.nulls(state.num_rows, list_type)
    if changed is not None:
        # Scatter the named fields back to their rows: positions of the masked rows, in order.
        mask, values = changed
        where = pc.indices_nonzero(_array(mask))
        order = pa.nulls(state.num_rows, pa.int64())
        order = pc.replace_with_mask(order, _array(mask), pa.array(range(len(where)), pa.int64()))
        fields = values.take(order)
    rows = int(pc.sum(pc.cast(keep, pa.int64())).as_py() or 0)
    picked = state.filter(keep)
    return pa.Table.from_arrays(
        [
            picked["id"],
            change_type.filter(keep),
            fields.filter(keep),
            pa.repeat(pa.scalar(stamp, schema.field("snapshot_date").type), rows),
            picked["name"],
            picked["severity"],
            picked["is_deactivated"],
            picked["deactivated_on_date"],
            pa.repeat(pa.scalar(run_id), rows),
            pa.repeat(pa.scalar(run_date, pa.date32()), rows),
        ],
        schema=schema,
    )
