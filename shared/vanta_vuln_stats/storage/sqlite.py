"""The SQLite store: one local file, drop-in for the earlier tool's database.

Writes are one transaction per batch. The stored (id, raw_data, resolved_at) of the batch's ids
are read in one query (the ids go in as one JSON array, so SQLite's limit on bound variables
never applies). A row whose raw_data text is unchanged and that is not resolved only gets its
last-seen marks moved on: the normaliser is a function of the raw record (key-sorted compact
JSON), so the same text means the same row, and a routine sync, where nearly everything is
unchanged, costs little. The other rows are read in full and classified, in this order:

    new id                                  insert, history 'discovered'
    deactivateMetadata appeared             upsert, history 'remediated'
    deactivateMetadata went away            upsert, history 'reactivated'
    resolved earlier, reported again        upsert, history 'reactivated' (resolved_at cleared)
    a tracked column differs                upsert, history 'updated' with changed_fields
    no tracked column differs               upserted quietly, not a change: the current row
                                            gets the new record, the history nothing

Tracked columns are ``model.tracked_columns``, the rule every store shares: every model column
except those that only say the scanner saw the record again (``last_detected_date``). So a
record in which only lastDetectedDate moved, or only fields outside the model changed, or whose
JSON is only spelled differently (a database upgraded from the earlier tool holds its own
spelling) is rewritten without an event; JSON-valued columns compare by value for that reason.

A finding resolved and then back deactivated counts as remediated, the more informative event.
Remediations and assets get no history rows; their new and changed records are counted by the
same rule.

``changed_fields`` is recorded for every change of an existing row (remediated and reactivated
included): the tracked columns that differ, in column order (an empty list when a resolved
finding comes back unchanged).

Times written by a run (sync_date, last_updated, first_seen_at, last_seen_at, snapshot_date,
resolved_at) are the run's stamp (``SyncRun.stamp``: its run date at its start's time of day,
the start itself unless the run counts for another day), so every row a run touched carries the
same stamp, a run's events sort together and a back-filled day lands on its date. The run's
started_at and finished_at are the real times; rejected_records.rejected_at is the real time too.

A change to the normaliser that alters stored columns of unchanged records needs a migration
(schema.py) to rewrite them: unchanged raw text is never re-read.

One writer at a time. A run left 'running' by a process that died is recorded as interrupted by
the next ``begin_sync``; if that process was in fact alive, its next write fails with StoreError.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime
from operator import itemgetter
from pathlib import Path
from typing import Any, Literal, cast

from vanta_vuln_stats.errors import StoreError
from vanta_vuln_stats.model.fields import (
    FIELDS,
    RAW_COLUMN,
    Resource,
    column_names,
    tracked_columns,
)
from vanta_vuln_stats.model.records import parse_timestamp, timestamp_to_iso
from vanta_vuln_stats.storage import schema
from vanta_vuln_stats.storage.base import (
    ChangeCounts,
    ChangeEvent,
    ChangeType,
    RejectedRecord,
    ResourceCounts,
    StorageBackend,
    SyncRun,
    SyncStatus,
    SyncSummary,
    run_stamp,
    run_times,
)
from vanta_vuln_stats.storage.filters import VulnerabilityFilter, where_sql
from vanta_vuln_stats.storage.schema import (
    HISTORY_TABLE,
    REJECTED_TABLE,
    RESOURCE_TABLES,
    SCHEMA_VERSION,
    SYNC_RESOURCES_TABLE,
    SYNC_TABLE,
    is_foreign,
    is_legacy,
    migrate,
    table_names,
    transaction,
)

__all__ = ["SQLiteStorage"]

log = logging.getLogger(__name__)

_MEMORY = ":memory:"
_PAGE_SIZE = 16384
_dumps = json.JSONEncoder(separators=(",", ":"), sort_keys=True, allow_nan=False).encode
_quote: Callable[[str], str] = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]
_COUNT_FIELDS = ("discovered", "updated", "remediated", "reactivated", "resolved")
# Column kinds stored as JSON text: the same value may be spelled differently (key order,
# escapes), so a textual difference is checked by value before it counts as a change.
_JSON_KINDS = frozenset({"json", "strings"})


def _iso_or_text(value: Any) -> Any:
    if value.__class__ is str:
        return value
    if value.tzinfo is UTC:
        # C-speed form of timestamp_to_iso for the UTC datetimes the model produces.
        return value.isoformat(timespec="milliseconds")[:-6] + "Z"
    return timestamp_to_iso(value)


def _strings_or_text(value: Any) -> Any:
    if value.__class__ is not list:
        return value if value.__class__ is str else _dumps(value)
    if not value:
        return "[]"
    try:
        # What the JSON encoder writes for a list of strings, without its per-call setup.
        return "[" + ",".join(map(_quote, value)) + "]"
    except TypeError:
        return _dumps(value)


def _json_or_text(value: Any) -> Any:
    return value if value.__class__ is str else _dumps(value)


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "timestamp": _iso_or_text,
    "bool": int,
    "strings": _strings_or_text,
    "json": _json_or_text,
}


@dataclass(frozen=True, slots=True)
class _Plan:
    """Everything store_batch needs for one resource, built once."""

    resource: Resource
    table: str
    columns: tuple[str, ...]
    get: Callable[[Mapping[str, Any]], tuple[Any, ...]]
    converters: tuple[tuple[int, Callable[[Any], Any]], ...]
    raw_index: int
    # (index, column, compare as JSON) of each tracked column, and a getter of their values
    # (one C-level tuple comparison tells whether any of them differs).
    tracked: tuple[tuple[int, str, bool], ...]
    tracked_values: Callable[[Sequence[Any]], tuple[Any, ...]]
    tracks_history: bool
    seen_times: bool  # first_seen_at / last_seen_at / resolved_at exist
    deactivated_index: int | None
    peek_sql: str
    select_sql: str
    upsert_sql: str
    touch_sql: str


def _build_plan(resource: Resource) -> _Plan:
    table = RESOURCE_TABLES[resource]
    columns = column_names(resource)
    converters = tuple(
        (index, _CONVERTERS[spec.kind])
        for index, spec in enumerate(FIELDS[resource])
        if spec.kind in _CONVERTERS
    )
    seen_times = resource is not Resource.VULNERABILITY_REMEDIATIONS
    tracks_history = resource is Resource.VULNERABILITIES
    extra = ["last_updated"]
    if seen_times:
        extra += ["first_seen_at", "last_seen_at"]
    extra.append("last_seen_sync_id")
    insert_columns = [*columns, *extra]
    marks = ", ".join("?" * len(insert_columns))
    updates = [f"{c} = excluded.{c}" for c in columns[1:]]
    updates += [
        "last_updated = excluded.last_updated",
        "last_seen_sync_id = excluded.last_seen_sync_id",
    ]
    if seen_times:
        updates += [
            f"first_seen_at = coalesce({table}.first_seen_at, excluded.first_seen_at)",
            "last_seen_at = excluded.last_seen_at",
            "resolved_at = NULL",
        ]
    upsert_sql = (
        f"INSERT INTO {table} ({', '.join(insert_columns)}) VALUES ({marks}) "
        f"ON CONFLICT(id) DO UPDATE SET {', '.join(updates)}"
    )
    resolved = "resolved_at" if seen_times else "NULL"
    peek_sql = (
        f"SELECT id, {RAW_COLUMN}, {resolved} FROM {table} "
        "WHERE id IN (SELECT value FROM json_each(?))"
    )
    select_columns = [*columns, resolved]
    select_sql = (
        f"SELECT {', '.join(select_columns)} FROM {table} "
        "WHERE id IN (SELECT value FROM json_each(?))"
    )
    touch_set = "last_seen_at = ?, last_seen_sync_id = ?" if seen_times else "last_seen_sync_id = ?"
    touch_sql = f"UPDATE {table} SET {touch_set} WHERE id IN (SELECT value FROM json_each(?))"
    kinds = {spec.name: spec.kind for spec in FIELDS[resource]}
    tracked = tuple(
        (columns.index(name), name, kinds[name] in _JSON_KINDS)
        for name in tracked_columns(resource)
    )
    indexes = [index for index, _, _ in tracked]
    tracked_values = cast(
        Callable[[Sequence[Any]], tuple[Any, ...]],
        itemgetter(*indexes) if len(indexes) > 1 else lambda values: (values[indexes[0]],),
    )
    return _Plan(
        resource=resource,
        table=table,
        columns=columns,
        get=cast(Callable[[Mapping[str, Any]], tuple[Any, ...]], itemgetter(*columns)),
        converters=converters,
        raw_index=columns.index(RAW_COLUMN),
        tracked=tracked,
        tracked_values=tracked_values,
        tracks_history=tracks_history,
        seen_times=seen_times,
        deactivated_index=columns.index("is_deactivated") if tracks_history else None,
        peek_sql=peek_sql,
        select_sql=select_sql,
        upsert_sql=upsert_sql,
        touch_sql=touch_sql,
    )


_PLANS: dict[Resource, _Plan] = {resource: _build_plan(resource) for resource in Resource}
_VULN_COLUMNS = column_names(Resource.VULNERABILITIES)
_NAME = _VULN_COLUMNS.index("name")
_SEVERITY = _VULN_COLUMNS.index("severity")
_DEACTIVATED_ON = _VULN_COLUMNS.index("deactivated_on_date")

_HISTORY_DISCOVERED = (
    f"INSERT INTO {HISTORY_TABLE} (vuln_id, name, severity, is_deactivated, deactivation_date, "
    "snapshot_date, change_type, raw_data, sync_id, changed_fields) "
    "SELECT id, name, severity, is_deactivated, deactivated_on_date, ?, 'discovered', raw_data, "
    "?, NULL FROM vulnerabilities WHERE id IN (SELECT value FROM json_each(?))"
)
_HISTORY_INSERT = (
    f"INSERT INTO {HISTORY_TABLE} (vuln_id, name, severity, is_deactivated, deactivation_date, "
    "snapshot_date, change_type, raw_data, sync_id, changed_fields) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _utc_ms(value: datetime) -> datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return parse_timestamp(timestamp_to_iso(value))


def _parse_time(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return parse_timestamp(text)
    except ValueError:
        return None


def _same_json(old: object, new: object) -> bool:
    if old is None or new is None:
        return False
    try:
        return bool(json.loads(cast(str, old)) == json.loads(cast(str, new)))
    except (TypeError, ValueError):
        return False


def _changed_columns(plan: _Plan, old: Sequence[Any], new: Sequence[Any]) -> list[str]:
    """The tracked columns whose values differ, in column order (JSON text by value)."""
    return [
        name
        for index, name, as_json in plan.tracked
        if old[index] != new[index] and not (as_json and _same_json(old[index], new[index]))
    ]


class SQLiteStorage(StorageBackend):
    """The SQLite store at ``path`` (created when missing; ``":memory:"`` for a throwaway one).

    Opening a database written by the earlier tool upgrades it in place after copying it to
    ``<name>.pre-upgrade-<YYYYmmddTHHMMSS>.bak`` beside it; ``notices`` says so (it is logged
    too) and ``backup_path`` names the copy. A file that is not SQLite, cannot be read, belongs
    to another program or was written by a newer version raises StoreError.
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 10.0) -> None:
        self.path = path if path == _MEMORY else Path(path)
        self.notices: list[str] = []
        self.backup_path: Path | None = None
        self._indexes_deferred = False
        self._conn = self._open(timeout)

    # ----------------------------------------------------------------------------------------
    # Opening and upgrading

    def _open(self, timeout: float) -> sqlite3.Connection:
        path = self.path
        if isinstance(path, Path):
            if path.is_dir():
                raise StoreError(f"The database {path} is a folder, not a file.")
            if not path.parent.is_dir():
                raise StoreError(
                    f"Cannot create the database {path}: the folder {path.parent} does not exist."
                )
            if path.exists() and not os.access(path, os.R_OK | os.W_OK):
                raise StoreError(f"The database {path} cannot be read and written (permissions).")
        try:
            # A sync may write from one worker thread while another fetches; only one thread
            # uses the connection at a time (the pipeline hands batches over a queue).
            conn = sqlite3.connect(
                str(path), timeout=timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise StoreError(f"Cannot open the database {path}: {exc}.") from None
        try:
            self._check(conn)
            if is_legacy(conn):
                self._back_up(conn)
            elif not table_names(conn):
                # A new file: pages large enough that a record with its raw JSON rarely spills
                # into overflow pages (only possible before the first table exists).
                conn.execute(f"PRAGMA page_size = {_PAGE_SIZE}")
            for pragma in (
                "journal_mode = WAL",
                "synchronous = NORMAL",
                "foreign_keys = OFF",
                "temp_store = MEMORY",
                "cache_size = -32768",
            ):
                conn.execute(f"PRAGMA {pragma}")
            changes = migrate(conn)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise StoreError(self._describe_error(exc)) from None
        except BaseException:
            conn.close()
            raise
        if changes and self.backup_path is not None:
            self._notice(
                f"Upgraded {path}, a database of the earlier vanta_vuln_stats.py, to schema "
                f"{SCHEMA_VERSION}; the original is kept as {self.backup_path}."
            )
        elif changes:
            log.debug("schema of %s: %s", path, "; ".join(changes))
        return conn

    def _check(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"The database {self.path} was written by a newer version of vanta-vuln-stats "
                f"(schema {version}; this version knows up to {SCHEMA_VERSION}). Upgrade "
                "vanta-vuln-stats or choose another database."
            )
        if is_foreign(conn):
            raise StoreError(
                f"The database {self.path} belongs to another program (it has none of the "
                "vanta-vuln-stats tables); choose another database file."
            )

    def _describe_error(self, exc: sqlite3.DatabaseError) -> str:
        text = str(exc)
        if "not a database" in text or "encrypted" in text:
            return f"The file {self.path} is not a SQLite database."
        if "readonly" in text or "read-only" in text:
            return f"The database {self.path} is read-only; vanta-vuln-stats needs to write it."
        if "locked" in text or "busy" in text:
            return f"The database {self.path} is locked by another process; try again later."
        return f"Cannot use the database {self.path}: {text}."

    def _back_up(self, conn: sqlite3.Connection) -> None:
        path = self.path
        if not isinstance(path, Path):
            return
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        target = path.with_name(f"{path.name}.pre-upgrade-{stamp}.bak")
        counter = 2
        while target.exists():
            target = path.with_name(f"{path.name}.pre-upgrade-{stamp}-{counter}.bak")
            counter += 1
        copy = sqlite3.connect(str(target))
        try:
            conn.backup(copy)
        finally:
            copy.close()
        self.backup_path = target

    def _notice(self, text: str) -> None:
        self.notices.append(text)
        log.warning("%s", text)

    # ----------------------------------------------------------------------------------------
    # Runs

    def begin_sync(
        self, *, started_at: datetime | None = None, run_date: date | None = None
    ) -> SyncRun:
        started, day = run_times(started_at, run_date)
        stamp = timestamp_to_iso(run_stamp(started, day))
        with self._transaction():
            stale = [
                row[0]
                for row in self._conn.execute(
                    f"SELECT id FROM {SYNC_TABLE} WHERE status = 'running' ORDER BY id"
                )
            ]
            for run_id in stale:
                self._close_run(
                    run_id,
                    status="interrupted",
                    message="the process ended before the sync finished",
                    finished_at=None,
                    fetched=None,
                )
                log.warning("sync %s never finished; recorded as interrupted", run_id)
            cursor = self._conn.execute(
                f"INSERT INTO {SYNC_TABLE} (sync_date, started_at, status, vulnerabilities_count, "
                "new_count, updated_count, remediated_count, reactivated_count, resolved_count, "
                "remediations_count, assets_count, rejected_count) "
                "VALUES (?, ?, 'running', 0, 0, 0, 0, 0, 0, 0, 0, 0)",
                (stamp, timestamp_to_iso(started)),
            )
            run_id = cursor.lastrowid
            if not self.has_data():
                # A first load: building the secondary indexes once at the end (from sorted
                # rows) is about twice as fast as maintaining them row by row. Should the
                # process die before, the next open recreates them (schema reconcile).
                schema.drop_indexes(self._conn)
                self._indexes_deferred = True
        assert run_id is not None
        return SyncRun(id=run_id, started_at=started, run_date=day)

    def _restore_indexes(self) -> None:
        if self._indexes_deferred:
            with self._transaction():
                schema.create_indexes(self._conn)
            self._indexes_deferred = False

    def store_batch(
        self, run: SyncRun, resource: Resource, rows: Sequence[Mapping[str, Any]]
    ) -> ChangeCounts:
        if not rows:
            return ChangeCounts()
        plan = _PLANS[Resource(resource)]
        # Keyed by id: a record listed twice in one batch is stored once, the last copy winning.
        incoming: dict[str, Mapping[str, Any]] = {}
        for row in rows:
            record_id = row.get("id")
            if not record_id or record_id.__class__ is not str:
                raise ValueError(f"a {plan.resource.value} row has no id: {record_id!r}")
            incoming[record_id] = row
        stamp = timestamp_to_iso(run.stamp)
        with self._transaction():
            self._require_running(run)
            counts = self._write_batch(plan, run, stamp, incoming)
            self._add_counts(run.id, plan.resource, counts, stored=len(rows))
        return counts

    def _prepare(
        self, plan: _Plan, rows: Iterable[Mapping[str, Any]]
    ) -> dict[str, tuple[Any, ...]]:
        get = plan.get
        converters = plan.converters
        batch: dict[str, tuple[Any, ...]] = {}
        for row in rows:
            try:
                values = list(get(row))
            except KeyError as exc:
                raise ValueError(
                    f"a {plan.resource.value} row lacks the column {exc.args[0]!r}; rows must be "
                    "keyed by column_names(resource)"
                ) from None
            for index, convert in converters:
                value = values[index]
                if value is not None:
                    values[index] = convert(value)
            batch[values[0]] = tuple(values)
        return batch

    def _write_batch(
        self, plan: _Plan, run: SyncRun, stamp: str, incoming: dict[str, Mapping[str, Any]]
    ) -> ChangeCounts:
        conn = self._conn
        # First pass on (id, raw_data, resolved_at) only: in a routine sync nearly every record
        # is unchanged, and the same raw text means the same row (normalisation is a function
        # of the record), so those rows are neither converted nor read in full.
        stored = {
            record_id: (raw, resolved)
            for record_id, raw, resolved in conn.execute(
                plan.peek_sql, (json.dumps(list(incoming)),)
            )
        }
        touched: list[str] = []
        candidates: list[Mapping[str, Any]] = []
        for record_id, row in incoming.items():
            old = stored.get(record_id)
            if old is not None and old[1] is None and old[0] == row.get(RAW_COLUMN):
                touched.append(record_id)
            else:
                candidates.append(row)
        if touched:
            touch_params = (stamp, run.id) if plan.seen_times else (run.id,)
            conn.execute(plan.touch_sql, (*touch_params, json.dumps(touched)))
        if not candidates:
            return ChangeCounts()
        batch = self._prepare(plan, candidates)
        present = [record_id for record_id in batch if record_id in stored]
        existing = (
            {
                row[0]: row
                for row in conn.execute(plan.select_sql, (json.dumps(present),)).fetchall()
            }
            if present
            else {}
        )
        width = len(plan.columns)
        # last_updated [, first_seen_at, last_seen_at], last_seen_sync_id
        seen_extra = (stamp, stamp, stamp, run.id) if plan.seen_times else (stamp, run.id)
        upserts: list[tuple[Any, ...]] = []
        history: list[tuple[Any, ...]] = []
        discovered: list[str] = []
        counts = dict.fromkeys(_COUNT_FIELDS, 0)
        deactivated = plan.deactivated_index
        raw_index = plan.raw_index
        tracked_values = plan.tracked_values
        for record_id, values in batch.items():
            old = existing.get(record_id)
            if old is None:
                change: str | None = "discovered"
                changed: str | None = None
            else:
                differ = (
                    _changed_columns(plan, old, values)
                    if tracked_values(old) != tracked_values(values)
                    else []
                )
                change = None
                if deactivated is not None:
                    was, now = bool(old[deactivated]), bool(values[deactivated])
                    if now and not was:
                        change = "remediated"
                    elif was and not now:
                        change = "reactivated"
                if change is None:
                    if old[width] is not None:  # resolved, and reported again
                        change = "reactivated"
                    elif differ:
                        change = "updated"
                changed = _dumps(differ) if change else None
            upserts.append((*values, *seen_extra))
            if change is None:
                continue  # seen again, or changed outside the tracked columns: no event
            counts[change] += 1
            if not plan.tracks_history:
                continue
            if change == "discovered":
                discovered.append(record_id)
            else:
                history.append(
                    (
                        record_id,
                        values[_NAME],
                        values[_SEVERITY],
                        values[deactivated] if deactivated is not None else None,
                        values[_DEACTIVATED_ON],
                        stamp,
                        change,
                        values[raw_index],
                        run.id,
                        changed,
                    )
                )
        conn.executemany(plan.upsert_sql, upserts)
        if discovered:
            # Copied from the rows just written, inside SQLite: a first sync is mostly this.
            conn.execute(_HISTORY_DISCOVERED, (stamp, run.id, json.dumps(discovered)))
        if history:
            conn.executemany(_HISTORY_INSERT, history)
        return ChangeCounts(**counts)

    def store_rejections(self, run: SyncRun, rejections: Sequence[RejectedRecord]) -> None:
        if not rejections:
            return
        stamp = timestamp_to_iso(_utc_ms(datetime.now(UTC)))
        rows = []
        per_resource: dict[Resource, int] = {}
        seen_ids: dict[Resource, list[str]] = {}
        for rejection in rejections:
            resource = Resource(rejection.resource)
            per_resource[resource] = per_resource.get(resource, 0) + 1
            if rejection.record_id:
                seen_ids.setdefault(resource, []).append(rejection.record_id)
            try:
                raw = _dumps(rejection.raw)
            except (TypeError, ValueError):
                raw = json.dumps(repr(rejection.raw))  # not JSON-encodable: kept as its repr
            rows.append(
                (
                    run.id,
                    resource.value,
                    rejection.record_id,
                    json.dumps(list(rejection.reasons)),
                    raw,
                    stamp,
                )
            )
        with self._transaction():
            self._require_running(run)
            self._conn.executemany(
                f"INSERT INTO {REJECTED_TABLE} (sync_id, resource, record_id, reasons, raw_data, "
                "rejected_at) VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            for resource, count in per_resource.items():
                self._upsert_resource(run.id, resource, {"rejected": count})
            # A stored record the API still lists, though in a shape that was rejected, is still
            # reported: marked seen so that the end of the walk does not call it resolved.
            stamp_run = timestamp_to_iso(run.stamp)
            for resource, ids in seen_ids.items():
                plan = _PLANS[resource]
                params = (stamp_run, run.id) if plan.seen_times else (run.id,)
                self._conn.execute(plan.touch_sql, (*params, json.dumps(ids)))
            self._conn.execute(
                f"UPDATE {SYNC_TABLE} SET rejected_count = coalesce(rejected_count, 0) + ? "
                "WHERE id = ?",
                (len(rows), run.id),
            )

    def finish_sync(
        self,
        run: SyncRun,
        *,
        complete: Collection[Resource],
        fetched: Mapping[Resource, int],
        finished_at: datetime | None = None,
    ) -> SyncSummary:
        complete_set = {Resource(r) for r in complete}
        stamp = timestamp_to_iso(run.stamp)
        self._restore_indexes()
        with self._transaction():
            self._require_running(run)
            for resource in complete_set:
                self._upsert_resource(run.id, resource, {"complete": 1}, replace=True)
            if Resource.VULNERABILITIES in complete_set:
                resolved = self._resolve_vulnerabilities(run, stamp)
                self._upsert_resource(run.id, Resource.VULNERABILITIES, {"resolved": resolved})
                self._conn.execute(
                    f"UPDATE {SYNC_TABLE} SET resolved_count = resolved_count + ? WHERE id = ?",
                    (resolved, run.id),
                )
            if Resource.VULNERABLE_ASSETS in complete_set:
                resolved = self._conn.execute(
                    "UPDATE vulnerable_assets SET resolved_at = ? "
                    "WHERE resolved_at IS NULL AND last_seen_sync_id IS NOT ?",
                    (stamp, run.id),
                ).rowcount
                self._upsert_resource(run.id, Resource.VULNERABLE_ASSETS, {"resolved": resolved})
            touched = set(self._resources_of(run.id)) | {Resource(r) for r in fetched}
            incomplete = sorted(r.value for r in touched - complete_set)
            status: SyncStatus = "interrupted" if incomplete else "complete"
            message = f"walk not completed for {', '.join(incomplete)}" if incomplete else None
            self._close_run(
                run.id,
                status=status,
                message=message,
                finished_at=timestamp_to_iso(_utc_ms(finished_at or datetime.now(UTC))),
                fetched=fetched,
            )
        return self._summary(run.id)

    def _resolve_vulnerabilities(self, run: SyncRun, stamp: str) -> int:
        # Rows this run did not see (never-seen rows of an upgraded database included).
        where = "resolved_at IS NULL AND last_seen_sync_id IS NOT ?"
        self._conn.execute(
            f"INSERT INTO {HISTORY_TABLE} (vuln_id, name, severity, is_deactivated, "
            "deactivation_date, snapshot_date, change_type, raw_data, sync_id, changed_fields) "
            "SELECT id, name, severity, is_deactivated, deactivated_on_date, ?, 'resolved', "
            f"raw_data, ?, NULL FROM vulnerabilities WHERE {where}",
            (stamp, run.id, run.id),
        )
        return self._conn.execute(
            f"UPDATE vulnerabilities SET resolved_at = ? WHERE {where}", (stamp, run.id)
        ).rowcount

    def abort_sync(
        self,
        run: SyncRun,
        *,
        reason: str,
        status: Literal["interrupted", "failed"] = "interrupted",
        fetched: Mapping[Resource, int] | None = None,
    ) -> SyncSummary:
        self._restore_indexes()
        with self._transaction():
            self._require_running(run)
            self._close_run(
                run.id,
                status=status,
                message=reason,
                finished_at=timestamp_to_iso(_utc_ms(datetime.now(UTC))),
                fetched=fetched,
            )
        return self._summary(run.id)

    def _require_running(self, run: SyncRun) -> None:
        row = self._conn.execute(
            f"SELECT status FROM {SYNC_TABLE} WHERE id = ?", (run.id,)
        ).fetchone()
        if row is None:
            raise ValueError(f"sync run {run.id} does not exist in {self.path}")
        if row[0] != "running":
            raise StoreError(
                f"Sync run {run.id} in {self.path} is already {row[0]}: another sync took over "
                "the database (one sync at a time)."
            )

    def _add_counts(
        self, run_id: int, resource: Resource, counts: ChangeCounts, *, stored: int
    ) -> None:
        values = {"stored": stored, **{name: getattr(counts, name) for name in _COUNT_FIELDS}}
        self._upsert_resource(run_id, resource, values)
        if resource is Resource.VULNERABILITIES:
            self._conn.execute(
                f"UPDATE {SYNC_TABLE} SET new_count = new_count + ?, "
                "updated_count = updated_count + ?, remediated_count = remediated_count + ?, "
                "reactivated_count = reactivated_count + ? WHERE id = ?",
                (counts.discovered, counts.updated, counts.remediated, counts.reactivated, run_id),
            )

    def _upsert_resource(
        self, run_id: int, resource: Resource, values: Mapping[str, int], *, replace: bool = False
    ) -> None:
        names = list(values)
        op = "excluded.{0}" if replace else "{0} + excluded.{0}"
        updates = ", ".join(f"{name} = {op.format(name)}" for name in names)
        self._conn.execute(
            f"INSERT INTO {SYNC_RESOURCES_TABLE} (sync_id, resource, {', '.join(names)}) "
            f"VALUES (?, ?, {', '.join('?' * len(names))}) "
            f"ON CONFLICT(sync_id, resource) DO UPDATE SET {updates}",
            (run_id, resource.value, *values.values()),
        )

    def _resources_of(self, run_id: int) -> list[Resource]:
        rows = self._conn.execute(
            f"SELECT resource FROM {SYNC_RESOURCES_TABLE} WHERE sync_id = ?", (run_id,)
        ).fetchall()
        return [Resource(row[0]) for row in rows if row[0] in _RESOURCE_VALUES]

    def _close_run(
        self,
        run_id: int,
        *,
        status: SyncStatus,
        message: str | None,
        finished_at: str | None,
        fetched: Mapping[Resource, int] | None,
    ) -> None:
        # Fetched counts the caller did not give are taken as stored + rejected (every fetched
        # record is one or the other), so an interrupted run still reports what it got.
        for resource, count in (fetched or {}).items():
            self._upsert_resource(run_id, Resource(resource), {"fetched": count}, replace=True)
        given = {Resource(r) for r in fetched or {}}
        for resource in self._resources_of(run_id):
            if resource not in given:
                self._conn.execute(
                    f"UPDATE {SYNC_RESOURCES_TABLE} SET fetched = stored + rejected "
                    "WHERE sync_id = ? AND resource = ?",
                    (run_id, resource.value),
                )
        totals = {
            row[0]: (row[1], row[2])
            for row in self._conn.execute(
                f"SELECT resource, fetched, rejected FROM {SYNC_RESOURCES_TABLE} WHERE sync_id = ?",
                (run_id,),
            )
        }
        self._conn.execute(
            f"UPDATE {SYNC_TABLE} SET status = ?, message = ?, finished_at = ?, "
            "vulnerabilities_count = ?, remediations_count = ?, assets_count = ?, "
            "rejected_count = ? WHERE id = ?",
            (
                status,
                message,
                finished_at,
                totals.get(Resource.VULNERABILITIES.value, (0, 0))[0],
                totals.get(Resource.VULNERABILITY_REMEDIATIONS.value, (0, 0))[0],
                totals.get(Resource.VULNERABLE_ASSETS.value, (0, 0))[0],
                sum(rejected for _, rejected in totals.values()),
                run_id,
            ),
        )

    # ----------------------------------------------------------------------------------------
    # Reading

    def has_data(self) -> bool:
        return any(
            self._conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is not None
            for table in RESOURCE_TABLES.values()
        )

    def last_sync(self, *, complete_only: bool = False) -> SyncSummary | None:
        where = "WHERE status = 'complete'" if complete_only else ""
        row = self._conn.execute(
            f"SELECT id FROM {SYNC_TABLE} {where} ORDER BY id DESC LIMIT 1"
        ).fetchone()
        return None if row is None else self._summary(row[0])

    def sync_history(self) -> list[SyncSummary]:
        return self._summaries(None)

    def _summary(self, run_id: int) -> SyncSummary:
        return self._summaries(run_id)[0]

    def _summaries(self, run_id: int | None) -> list[SyncSummary]:
        where, params = ("WHERE id = ?", (run_id,)) if run_id is not None else ("", ())
        runs = self._conn.execute(
            "SELECT id, sync_date, vulnerabilities_count, new_count, updated_count, "
            "remediated_count, status, started_at, finished_at, reactivated_count, "
            f"resolved_count, message FROM {SYNC_TABLE} {where} ORDER BY id",
            params,
        ).fetchall()
        where = "WHERE sync_id = ?" if run_id is not None else ""
        per_run: dict[int, dict[Resource, ResourceCounts]] = {}
        for row in self._conn.execute(
            "SELECT sync_id, resource, fetched, stored, rejected, complete, discovered, "
            f"updated, remediated, reactivated, resolved FROM {SYNC_RESOURCES_TABLE} {where}",
            params,
        ):
            if row[1] not in _RESOURCE_VALUES:
                continue
            per_run.setdefault(row[0], {})[Resource(row[1])] = ResourceCounts(
                fetched=row[2],
                stored=row[3],
                rejected=row[4],
                complete=bool(row[5]),
                changes=ChangeCounts(*row[6:11]),
            )
        summaries = []
        for (
            sync_id,
            sync_date,
            vulnerabilities,
            new,
            updated,
            remediated,
            status,
            started_at,
            finished_at,
            reactivated,
            resolved,
            message,
        ) in runs:
            status = status or "complete"
            resources = per_run.get(sync_id)
            if resources is None:
                # A run of the earlier tool: only its vulnerability numbers exist.
                count = vulnerabilities or 0
                resources = {
                    Resource.VULNERABILITIES: ResourceCounts(
                        fetched=count,
                        stored=count,
                        complete=status == "complete",
                        changes=ChangeCounts(
                            new or 0, updated or 0, remediated or 0, reactivated or 0, resolved or 0
                        ),
                    )
                }
            started = _parse_time(started_at) or _parse_time(sync_date)
            summaries.append(
                SyncSummary(
                    id=sync_id,
                    status=cast(SyncStatus, status),
                    started_at=started or datetime.fromtimestamp(0, UTC),
                    finished_at=_parse_time(finished_at),
                    resources=resources,
                    message=message,
                )
            )
        return summaries

    def iter_vulnerabilities(
        self, filters: VulnerabilityFilter | None = None
    ) -> Iterator[dict[str, Any]]:
        condition, params = where_sql(filters, "v")
        cursor = self._conn.execute(
            f"SELECT v.id, v.raw_data FROM vulnerabilities v WHERE {condition} ORDER BY v.id",
            params,
        )
        try:
            while chunk := cursor.fetchmany(1000):
                for record_id, raw in chunk:
                    try:
                        yield json.loads(raw)
                    except (TypeError, ValueError):
                        log.warning("vulnerability %s has no readable raw_data; skipped", record_id)
        finally:
            cursor.close()

    def change_history(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        vuln_id: str | None = None,
        change_types: Collection[ChangeType] | None = None,
        limit: int | None = None,
    ) -> list[ChangeEvent]:
        clauses: list[str] = []
        params: list[Any] = []
        if since is not None:
            clauses.append("snapshot_date >= ?")
            params.append(timestamp_to_iso(_utc_ms(since)))
        if until is not None:
            clauses.append("snapshot_date <= ?")
            params.append(timestamp_to_iso(_utc_ms(until)))
        if vuln_id is not None:
            clauses.append("vuln_id = ?")
            params.append(vuln_id)
        if change_types is not None:
            types = list(change_types)
            clauses.append(f"change_type IN ({', '.join('?' * len(types))})")
            params.extend(types)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        tail = ""
        if limit is not None:
            tail = "LIMIT ?"
            params.append(limit)
        rows = self._conn.execute(
            "SELECT id, sync_id, vuln_id, change_type, snapshot_date, name, severity, "
            f"is_deactivated, deactivation_date, changed_fields FROM {HISTORY_TABLE} {where} "
            f"ORDER BY snapshot_date, id {tail}",
            params,
        ).fetchall()
        events = []
        for row in rows:
            fields: tuple[str, ...] = ()
            if row[9]:
                try:
                    fields = tuple(json.loads(row[9]))
                except ValueError:
                    fields = ()
            events.append(
                ChangeEvent(
                    id=row[0],
                    sync_id=row[1],
                    vuln_id=row[2],
                    change_type=cast(ChangeType, row[3]),
                    snapshot_date=_parse_time(row[4]) or datetime.fromtimestamp(0, UTC),
                    name=row[5],
                    severity=row[6],
                    is_deactivated=None if row[7] is None else bool(row[7]),
                    deactivation_date=_parse_time(row[8]),
                    changed_fields=fields,
                )
            )
        return events

    # ----------------------------------------------------------------------------------------
    # Plumbing

    @property
    def connection(self) -> sqlite3.Connection:
        """The open connection, for read-only SQL over the schema (the statistics)."""
        return self._conn

    @contextmanager
    def query_connection(self) -> Iterator[sqlite3.Connection]:
        """The store's own connection (its tables are the ones the statistics read)."""
        yield self._conn

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        # A lock held by another process or a file turned read-only is the user's to fix, and
        # says so; other SQLite errors are failures of the store and propagate as they are.
        try:
            with transaction(self._conn):
                yield
        except sqlite3.OperationalError as exc:
            text = str(exc)
            if any(word in text for word in ("locked", "busy", "readonly", "read-only")):
                raise StoreError(self._describe_error(exc)) from exc
            raise

    def close(self) -> None:
        conn = self._conn
        with suppress(sqlite3.Error):  # closed already: nothing to optimise
            conn.execute("PRAGMA optimize")
        conn.close()


_RESOURCE_VALUES = frozenset(resource.value for resource in Resource)
