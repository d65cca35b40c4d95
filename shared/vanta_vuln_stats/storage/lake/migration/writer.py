"""The passes of a migration: each source table streamed in chunks, converted to the lake's Arrow
schema, checksummed, and written as the plan's keys (or, in a dry run, only measured).

Memory stays bounded whatever the source's size: rows are fetched ``FETCH_ROWS`` at a time, parts
hold at most ``chunk_rows`` rows, the state files are written as a stream of row groups and the
raw backup as a gzip stream; history and rejects arrive in day order, so one day is open at a
time.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol

from vanta_vuln_stats.errors import StoreError
from vanta_vuln_stats.model.fields import RAW_COLUMN, Resource
from vanta_vuln_stats.model.records import timestamp_to_iso
from vanta_vuln_stats.storage import schema
from vanta_vuln_stats.storage.base import SyncSummary
from vanta_vuln_stats.storage.lake import layout
from vanta_vuln_stats.storage.lake.fs import LakeLocation
from vanta_vuln_stats.storage.lake.migration import tables
from vanta_vuln_stats.storage.lake.migration.checksum import TableChecksum
from vanta_vuln_stats.storage.lake.migration.plan import Plan
from vanta_vuln_stats.storage.lake.migration.source import SourceDatabase
from vanta_vuln_stats.storage.lake.store import (
    DEFAULT_CHUNK_ROWS,
    backup_lines,
    parquet_writer,
    write_parquet_bytes,
)

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["FETCH_ROWS", "MigrationProgress", "Sink", "write_tables"]

# Rows per fetch from SQLite: with their raw JSON, about 15 MB of Python objects at a time.
FETCH_ROWS = 10_000
_COPY_BLOCK = 16 << 20


class MigrationProgress(Protocol):
    """What a progress display is told; rows are counted as they are read from the source."""

    def table_started(self, label: str, total: int) -> None: ...

    def rows_done(self, label: str, rows: int) -> None: ...

    def table_finished(self, label: str) -> None: ...


@dataclass
class Sink:
    """Where a run's objects go: the lake at ``location``, or nowhere (``None``: a dry run, which
    still encodes everything to measure it). ``sizes`` has every key written, in order."""

    location: LakeLocation | None
    sizes: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    touched: list[str] = field(default_factory=list)

    def put(self, key: str, data: bytes) -> None:
        self.touched.append(key)
        if self.location is not None:
            self.location.write_bytes(key, data)
        self.sizes[key] = len(data)

    @contextmanager
    def stream(self, key: str) -> Iterator[Any]:
        """A stream to write ``key`` (multipart on S3); the object is complete once closed."""
        import pyarrow as pa

        self.touched.append(key)
        out = self.location.open_output(key) if self.location is not None else None
        if out is None:
            out = pa.MockOutputStream()
        try:
            yield out
        finally:
            size = out.tell()
            out.close()
        self.sizes[key] = size

    def copy(self, source: str, target: str) -> None:
        """Copy an object written by this run (the state to ``current/``), as a stream."""
        self.touched.append(target)
        location = self.location
        if location is not None:
            fs = location.filesystem
            with (
                fs.open_input_stream(location.path(source), compression=None) as src,
                location.open_output(target) as out,
            ):
                while block := src.read(_COPY_BLOCK):
                    out.write(block)
        self.sizes[target] = self.sizes[source]


class _Rows:
    """Arrow tables waiting to be written, taken ``n`` rows at a time."""

    def __init__(self) -> None:
        self._tables: list[pa.Table] = []
        self.rows = 0

    def add(self, table: pa.Table) -> None:
        if table.num_rows:
            self._tables.append(table)
            self.rows += table.num_rows

    def take(self, n: int | None = None) -> pa.Table:
        import pyarrow as pa

        everything = pa.concat_tables(self._tables)
        n = everything.num_rows if n is None else n
        rest = everything.slice(n)
        self._tables = [rest] if rest.num_rows else []
        self.rows = rest.num_rows
        return everything.slice(0, n)


def _runs_of(keys: Sequence[Any]) -> Iterator[tuple[Any, int, int]]:
    """(key, start, length) of each run of equal consecutive keys."""
    start = 0
    for index in range(1, len(keys) + 1):
        if index == len(keys) or keys[index] != keys[start]:
            yield keys[start], start, index - start
            start = index


class _Writer:
    def __init__(
        self,
        db: SourceDatabase,
        plan: Plan,
        sink: Sink,
        progress: MigrationProgress | None,
    ) -> None:
        self.db = db
        self.plan = plan
        self.sink = sink
        self.progress = progress
        self.source = str(db.info.path)
        self.checksums: dict[str, TableChecksum] = {
            label: TableChecksum(entry.columns)
            for label, entry in plan.entries.items()
            if entry.checked
        }

    # -- helpers ---------------------------------------------------------------------------

    def _started(self, label: str, total: int) -> None:
        if self.progress:
            self.progress.table_started(label, total)

    def _done(self, label: str, rows: int) -> None:
        if self.progress:
            self.progress.rows_done(label, rows)

    def _finished(self, label: str) -> None:
        if self.progress:
            self.progress.table_finished(label)

    def _part(self, label: str, key: str, table: pa.Table) -> None:
        self.checksums[label].add(table)
        self.sink.put(key, write_parquet_bytes(table))
        self.sink.rows[key] = table.num_rows

    def _convert(
        self, rows: Sequence[tuple[Any, ...]], names: Sequence[str], schema_: pa.Schema, table: str
    ) -> dict[str, pa.Array]:
        return tables.to_arrow(rows, names, schema_, table=table, source=self.source)

    # -- passes ----------------------------------------------------------------------------

    def run(self) -> None:
        with self.sink.stream(self.plan.backup_key) as out:
            # Level 1, as the sync's own backups: fast, and JSON still shrinks about 8x.
            backup = gzip.GzipFile(fileobj=out, mode="wb", compresslevel=1)
            try:
                for resource in Resource:
                    self._resource(resource, backup)
            finally:
                backup.close()
        self._history()
        self._sync_history()
        self._rejects()
        planned = set(self.plan.all_keys()) - {self.plan.commit_key}
        planned -= {layout.current_key(resource) for resource in Resource}
        if set(self.sink.sizes) != planned:
            extra = sorted(set(self.sink.sizes) - planned)[:3]
            missing = sorted(planned - set(self.sink.sizes))[:3]
            raise StoreError(
                f"The migration wrote other keys than it planned (extra {extra}, missing "
                f"{missing}); the source changed while it was read? Nothing is committed."
            )

    def _resource(self, resource: Resource, backup: gzip.GzipFile) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        name = resource.value
        plan = self.plan
        state_schema = layout.state_schema(resource)
        snapshot_schema = layout.snapshot_schema(resource)
        names = [n for n in state_schema.names if n != "last_seen_run_date"]
        run_date = pa.scalar(plan.run_date, pa.date32())
        total = plan.entries[f"{name} state"].rows
        self._started(name, total)
        cursor = self.db.conn.execute(
            tables.state_sql(resource), {"stamp": timestamp_to_iso(plan.stamp)}
        )
        state_rows, snapshot_rows, chunk = _Rows(), _Rows(), 0
        state_key = layout.state_key(resource, plan.run_date)
        with self.sink.stream(state_key) as out:
            writer = parquet_writer(out, state_schema)
            try:
                while rows := cursor.fetchmany(FETCH_ROWS):
                    raw = [row[-1] for row in rows if row[-1] is not None]
                    backup.write(backup_lines(resource, raw))
                    arrays = self._convert(rows, names, state_schema, name)
                    arrays["last_seen_run_date"] = pa.repeat(run_date, len(rows))
                    state = pa.Table.from_arrays(
                        [arrays[n] for n in state_schema.names], schema=state_schema
                    )
                    self.checksums[f"{name} state"].add(state)
                    state_rows.add(state)
                    while state_rows.rows >= plan.chunk_rows:
                        writer.write_table(state_rows.take(plan.chunk_rows), DEFAULT_CHUNK_ROWS)
                    reported = state.filter(pc.is_null(state["resolved_at"]))
                    snapshot = pa.Table.from_arrays(
                        [reported[n] for n in snapshot_schema.names if n != "run_date"]
                        + [pa.repeat(run_date, reported.num_rows)],
                        schema=snapshot_schema,
                    )
                    snapshot_rows.add(snapshot)
                    while snapshot_rows.rows >= plan.chunk_rows:
                        key = layout.part_key(name, plan.run_date, chunk)
                        self._part(name, key, snapshot_rows.take(plan.chunk_rows))
                        chunk += 1
                    self._done(name, len(rows))
                if state_rows.rows:
                    writer.write_table(state_rows.take(), DEFAULT_CHUNK_ROWS)
            finally:
                writer.close()
        if snapshot_rows.rows:
            self._part(name, layout.part_key(name, plan.run_date, chunk), snapshot_rows.take())
        # current/ is a copy of the state file, made after the commit.
        self.checksums[f"{name} current"] = self.checksums[f"{name} state"]
        self._finished(name)

    def _history(self) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        label = layout.HISTORY_TABLE
        history_schema = layout.history_schema()
        names = [n for n in history_schema.names if n not in ("run_id", "run_date")]
        run_id = pa.scalar(self.plan.run_id)
        self._started(label, self.plan.entries[label].rows)
        cursor = self.db.conn.execute(tables.HISTORY_SQL)
        pending, day, chunk, finished_days = _Rows(), None, 0, set()
        while rows := cursor.fetchmany(FETCH_ROWS):
            arrays = self._convert(rows, names, history_schema, label)
            for text, start, length in _runs_of([row[-1] for row in rows]):
                segment_day = self._day(text, label)
                times = arrays["snapshot_date"].slice(start, length)
                if not pc.all(pc.equal(times.cast(pa.date32()), segment_day)).as_py():
                    raise StoreError(
                        f"The database {self.source} cannot be migrated: a {label} time of "
                        f"{segment_day} is not in the store's form."
                    )
                if segment_day != day:
                    if day is not None:
                        chunk = self._flush_day(label, pending, day, chunk, final=True)
                        finished_days.add(day)
                    if segment_day in finished_days:
                        raise StoreError(f"{label} of {self.source} is not in time order.")
                    day, chunk = segment_day, 0
                segment = pa.Table.from_arrays(
                    [arrays[n].slice(start, length) for n in names]
                    + [pa.repeat(run_id, length), pa.repeat(pa.scalar(day, pa.date32()), length)],
                    schema=history_schema,
                )
                pending.add(segment)
                chunk = self._flush_day(label, pending, day, chunk, final=False)
            self._done(label, len(rows))
        if day is not None:
            self._flush_day(label, pending, day, chunk, final=True)
        self._finished(label)

    def _flush_day(self, label: str, pending: _Rows, day: date, chunk: int, *, final: bool) -> int:
        """Write full parts of ``day`` (and, when ``final``, the rest); the next chunk number."""
        while pending.rows >= self.plan.chunk_rows or (final and pending.rows):
            part = pending.take(min(self.plan.chunk_rows, pending.rows))
            self._part(label, layout.part_key(label, day, chunk), part)
            chunk += 1
        return chunk

    def _day(self, text: str, table: str) -> date:
        try:
            return date.fromisoformat(text)
        except (TypeError, ValueError):
            raise StoreError(
                f"The database {self.source} cannot be migrated: {table} has a time {text!r} "
                "that is not an ISO-8601 timestamp."
            ) from None

    def _sync_history(self) -> None:
        import pyarrow as pa

        label = layout.SYNC_HISTORY_TABLE
        sync_schema = layout.sync_history_schema()
        self._started(label, self.plan.entries[label].rows)
        for day, runs in self.plan.sync_days.items():
            rows = [sync_history_row(run, self.plan.stamp_of(run)) for run in runs]
            table = pa.Table.from_pylist(rows, schema=sync_schema)
            self._part(label, layout.sync_history_key(day, self.plan.run_id), table)
            self._done(label, len(rows))
        self._finished(label)

    def _rejects(self) -> None:
        import pyarrow as pa

        label = layout.REJECTS_TABLE
        rejects_schema = layout.rejects_schema()
        names = ["resource", "record_id", "reasons", RAW_COLUMN, "rejected_at"]
        run_id = pa.scalar(self.plan.run_id)
        self._started(label, self.plan.entries[label].rows)
        cursor = self.db.conn.execute(tables.REJECTS_SQL)
        pending, group, chunk = _Rows(), None, 0
        while rows := cursor.fetchmany(FETCH_ROWS):
            arrays = self._convert(rows, names, rejects_schema, schema.REJECTED_TABLE)
            groups = [(row[-1], row[0]) for row in rows]
            for (text, resource_name), start, length in _runs_of(groups):
                segment_group = (self._day(text, schema.REJECTED_TABLE), resource_name)
                if segment_group != group:
                    if group is not None:
                        self._flush_rejects(pending, group, chunk, final=True)
                    group, chunk = segment_group, 0
                day = pa.scalar(segment_group[0], pa.date32())
                columns = {n: arrays[n].slice(start, length) for n in names}
                columns["run_id"] = pa.repeat(run_id, length)
                columns["run_date"] = pa.repeat(day, length)
                pending.add(
                    pa.Table.from_arrays(
                        [columns[n] for n in rejects_schema.names], schema=rejects_schema
                    )
                )
                chunk = self._flush_rejects(pending, group, chunk, final=False)
            self._done(label, len(rows))
        if group is not None:
            self._flush_rejects(pending, group, chunk, final=True)
        self._finished(label)

    def _flush_rejects(
        self, pending: _Rows, group: tuple[date, str], chunk: int, *, final: bool
    ) -> int:
        day, resource_name = group
        while pending.rows >= self.plan.chunk_rows or (final and pending.rows):
            part = pending.take(min(self.plan.chunk_rows, pending.rows))
            key = layout.rejects_key(Resource(resource_name), day, chunk)
            self._part(layout.REJECTS_TABLE, key, part)
            chunk += 1
        return chunk


def sync_history_row(run: SyncSummary, stamp: datetime) -> dict[str, Any]:
    """A run of the SQLite store as a row of the lake's sync_history (``sync_history_schema``).

    The store's reading of its runs is used as it is (an earlier tool's run has its
    vulnerability numbers only). ``stamp`` is the run's sync_date: its run date at its start's
    time of day, as in a lake run's row. A run still marked running was cut off: it becomes
    interrupted, as the SQLite store records it at its next sync. The lake's bookkeeping columns
    a SQLite run cannot have (superseded_by, base_run_date, bytes_written) are NULL."""
    status, message = run.status, run.message
    if status == "running":
        status = "interrupted"
        message = message or "the process ended before the sync finished"
    started, finished = run.started_at, run.finished_at
    row: dict[str, Any] = {
        "run_id": layout.run_id_of(started),
        "run_date": stamp.date(),
        "sync_date": stamp,
        "started_at": started,
        "finished_at": finished,
        "duration_seconds": (
            round((finished - started).total_seconds(), 3) if finished is not None else None
        ),
        "status": status,
        "message": message,
        "reconciled": all(counts.reconciled for counts in run.resources.values()),
        "superseded_by": None,
        "base_run_date": None,
        "bytes_written": None,
    }
    for resource in Resource:
        counts = run.counts(resource)
        prefix = resource.value
        row[f"{prefix}_fetched"] = counts.fetched
        row[f"{prefix}_written"] = counts.stored
        row[f"{prefix}_rejected"] = counts.rejected
        for name in ("discovered", "updated", "remediated", "reactivated", "resolved"):
            row[f"{prefix}_{name}"] = getattr(counts.changes, name)
        row[f"{prefix}_complete"] = counts.complete
    return row


def write_tables(
    db: SourceDatabase, plan: Plan, sink: Sink, progress: MigrationProgress | None = None
) -> dict[str, TableChecksum]:
    """Write (or measure) every data file of the plan and set each entry's checksum; returns
    the checksums by entry. The row counts must be the planned ones."""
    writer = _Writer(db, plan, sink, progress)
    writer.run()
    for label, entry in plan.entries.items():
        if label in writer.checksums:
            check = writer.checksums[label]
            entry.checksum = check.hexdigest
            if check.rows != entry.rows:
                raise StoreError(
                    f"The migration wrote {check.rows} rows of {label}, the source has "
                    f"{entry.rows}; the source changed while it was read? Nothing is committed."
                )
    return writer.checksums
