"""The Parquet lake as a store: a sync writes a day's snapshot parts, then commits the day.

A run for run date ``D``:

1. ``begin_sync``: if ``D`` was committed before, its commit manifest is taken away first, so
   readers see the lake as it was before ``D`` while ``D`` is re-written (a day is complete or
   absent, never half old and half new).
2. ``store_batch``: rows are buffered per resource and written as deterministic parts of
   ``chunk_rows`` rows, several at a time in background threads (multipart uploads on S3); the
   raw records go to the run's gzip backup as they come.
3. ``finish_sync``: the last parts are written and every object is checked against the bytes
   handed over; the counts must reconcile (fetched = written + rejected per resource) or nothing
   is committed. Then the new state and the change history against the state of the last
   committed earlier day are computed (changes.py), written, stale parts of ``D`` from an
   earlier run deleted, the run's sync_history row written, and last the commit manifest
   ``_commits/D.json``: one atomic PUT that makes the day visible. The ``current/`` files are
   refreshed after it when ``D`` is the latest committed day, and an earlier run of ``D`` has its
   sync_history row marked superseded.
4. ``abort_sync``: the run's sync_history row says interrupted or failed; nothing is committed.

Readers (statistics, the query engine, the catalog, ``change_history``) see only committed days:
they start from the manifests. One writer at a time per lake.
"""

from __future__ import annotations

import gzip
import json
import logging
import time
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from vanta_vuln_stats.errors import StoreError
from vanta_vuln_stats.model.fields import RAW_COLUMN, Resource
from vanta_vuln_stats.model.records import parse_timestamp, timestamp_to_iso
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
    run_times,
)
from vanta_vuln_stats.storage.lake import layout
from vanta_vuln_stats.storage.lake.fs import LakeLocation

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    from vanta_vuln_stats.storage.filters import VulnerabilityFilter

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "PARQUET_OPTIONS",
    "LakeStorage",
    "Manifest",
    "ObjectLocation",
    "backup_lines",
    "open_day",
    "parquet_writer",
    "read_manifest",
    "read_manifests",
    "rejects_table",
    "write_parquet_bytes",
]

log = logging.getLogger(__name__)

# Rows per snapshot part (and per row group): a 100k-row part of findings is about 9 MB of
# zstd Parquet, large enough for Athena's scans and small enough for a Lambda's memory.
DEFAULT_CHUNK_ROWS = 100_000
COMPRESSION = "zstd"
MANIFEST_FORMAT = 1


def _ms(value: datetime) -> datetime:
    return value.replace(microsecond=value.microsecond - value.microsecond % 1000)


# How every Parquet file of the lake is written: the given schema (never inferred), zstd, column
# statistics on (min/max per row group for pruning), timestamps kept at milliseconds.
PARQUET_OPTIONS: dict[str, Any] = {
    "compression": COMPRESSION,
    "write_statistics": True,
    "coerce_timestamps": "ms",
    "allow_truncated_timestamps": False,
    "store_schema": True,
}


def write_parquet_bytes(table: pa.Table) -> bytes:
    """A table as Parquet (``PARQUET_OPTIONS``), one row group per ``DEFAULT_CHUNK_ROWS`` rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, row_group_size=DEFAULT_CHUNK_ROWS, **PARQUET_OPTIONS)
    return sink.getvalue().to_pybytes()


def parquet_writer(sink: Any, schema: pa.Schema) -> pq.ParquetWriter:
    """A streaming writer with the same options, for files too large to hold in memory; the
    caller writes row groups of at most ``DEFAULT_CHUNK_ROWS`` rows and closes it."""
    import pyarrow.parquet as pq

    return pq.ParquetWriter(sink, schema, **PARQUET_OPTIONS)


def backup_lines(resource: Resource, raws: Iterable[str]) -> bytes:
    """NDJSON lines of a run's raw backup: ``{"resource":"...","record":<raw JSON>}`` per record
    (readers find a resource's lines by that fixed prefix)."""
    head = b'{"resource":"' + resource.value.encode() + b'","record":'
    return b"".join(head + raw.encode() + b"}\n" for raw in raws)


@dataclass
class Manifest:
    """A committed day: its run and every file it consists of."""

    run_date: date
    run_id: str
    stamp: datetime
    started_at: datetime
    finished_at: datetime
    base_run_date: date | None
    files: dict[str, list[dict[str, Any]]]
    state: dict[str, str]
    backup: str | None
    counts: dict[str, dict[str, int]]
    sync_history: str

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "format": MANIFEST_FORMAT,
                "run_date": self.run_date.isoformat(),
                "run_id": self.run_id,
                "stamp": timestamp_to_iso(self.stamp),
                "started_at": timestamp_to_iso(self.started_at),
                "finished_at": timestamp_to_iso(self.finished_at),
                "base_run_date": self.base_run_date.isoformat() if self.base_run_date else None,
                "files": self.files,
                "state": self.state,
                "backup": self.backup,
                "counts": self.counts,
                "sync_history": self.sync_history,
            },
            indent=1,
            sort_keys=True,
        ).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        doc = json.loads(data)
        if doc.get("format") != MANIFEST_FORMAT:
            raise StoreError(f"A commit manifest has format {doc.get('format')!r}; expected 1.")
        base = doc.get("base_run_date")
        return cls(
            run_date=date.fromisoformat(doc["run_date"]),
            run_id=doc["run_id"],
            stamp=parse_timestamp(doc["stamp"]),
            started_at=parse_timestamp(doc["started_at"]),
            finished_at=parse_timestamp(doc["finished_at"]),
            base_run_date=date.fromisoformat(base) if base else None,
            files=doc["files"],
            state=doc["state"],
            backup=doc.get("backup"),
            counts=doc["counts"],
            sync_history=doc["sync_history"],
        )

    def keys(self, table: str) -> list[str]:
        return [entry["key"] for entry in self.files.get(table, [])]


@dataclass
class _Run:
    """What an open run has written so far (in memory: an uncommitted run that dies is lost,
    and the next run of the day rewrites it)."""

    sync: SyncRun
    run_id: str
    previous: Manifest | None  # an earlier commit of the same day, now withdrawn
    pending: dict[Resource, list[dict[str, Any]]] = field(default_factory=dict)
    chunks: dict[str, int] = field(default_factory=dict)
    stored: dict[Resource, int] = field(default_factory=dict)
    rejected: dict[Resource, int] = field(default_factory=dict)
    rejections: list[RejectedRecord] = field(default_factory=list)
    uploads: list[tuple[str, Future[dict[str, Any]]]] = field(default_factory=list)
    backup_key: str | None = None
    backup: Any = None
    backup_stream: Any = None
    clock: float = field(default_factory=time.perf_counter)


class ObjectLocation(Protocol):
    """What the commit protocol needs of where the lake lives: ``LakeLocation`` (pyarrow's
    filesystems) and the pipeline's ``ObjectStore`` (boto3, for the functions without pyarrow)."""

    uri: str

    def read_bytes(self, key: str) -> bytes: ...
    def write_bytes(self, key: str, data: bytes) -> int: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...
    def list(self, prefix: str) -> Iterator[tuple[str, int]]: ...


def read_manifests(location: ObjectLocation) -> dict[date, Manifest]:
    """Every committed day of the lake at ``location``, oldest first."""
    found: dict[date, Manifest] = {}
    for key, _ in location.list(layout.COMMITS_PREFIX):
        name = key.rsplit("/", 1)[-1]
        if not name.endswith(".json"):
            continue
        try:
            day = date.fromisoformat(name.removesuffix(".json"))
        except ValueError:
            continue
        found[day] = Manifest.from_json(location.read_bytes(key))
    return dict(sorted(found.items()))


def read_manifest(location: ObjectLocation, run_date: date) -> Manifest | None:
    key = layout.commit_key(run_date)
    if not location.exists(key):
        return None
    return Manifest.from_json(location.read_bytes(key))


def open_day(location: ObjectLocation, run_date: date) -> Manifest | None:
    """Make ``run_date`` ready to be written: refuse a day a migration's history covers, and
    withdraw an earlier commit of the day (returned) before any of its parts is overwritten, so
    readers see the day as absent until the new run commits."""
    manifests = read_manifests(location)
    # A migrated day holds the history of every day before it, with no state of those days to
    # compare a new run against: a sync on or before it would rewrite that history as if every
    # finding were new. Syncs continue on the days after it.
    for day, manifest in manifests.items():
        if day >= run_date and location.exists(layout.migration_key(manifest.run_id)):
            raise StoreError(
                f"The lake {location.uri} holds a migration committed for {day} (run "
                f"{manifest.run_id}); a sync for {run_date} would rewrite its history. Sync "
                f"a later day (--run-date after {day})."
            )
    previous = manifests.get(run_date)
    if previous is not None:
        location.delete(layout.commit_key(run_date))
        log.info("re-running %s: commit %s withdrawn", run_date, previous.run_id)
    return previous


def rejects_table(
    resource: Resource, rejections: Sequence[RejectedRecord], run_id: str, run_date: date
) -> pa.Table:
    """The rejects rows of ``rejections`` (one resource): id, reasons and the raw record."""
    import pyarrow as pa

    from vanta_vuln_stats.model.records import _dumps

    schema = layout.rejects_schema()
    now = _ms(datetime.now(UTC))
    raws = []
    for item in rejections:
        try:
            raws.append(_dumps(item.raw))
        except (TypeError, ValueError):
            raws.append(json.dumps(repr(item.raw)))
    n = len(rejections)
    return pa.Table.from_arrays(
        [
            pa.array([resource.value] * n),
            pa.array([item.record_id for item in rejections], pa.string()),
            pa.array([list(item.reasons) for item in rejections], pa.list_(pa.string())),
            pa.array(raws, pa.string()),
            pa.array([run_id] * n),
            pa.array([run_date] * n, pa.date32()),
            pa.array([now] * n, schema.field("rejected_at").type),
        ],
        schema=schema,
    )


def _done(entry: dict[str, Any]) -> Future[dict[str, Any]]:
    future: Future[dict[str, Any]] = Future()
    future.set_result(entry)
    return future


class LakeStorage(StorageBackend):
    """The lake at ``location`` (a directory or ``s3://bucket/prefix``)."""

    def __init__(
        self,
        location: str | LakeLocation,
        *,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
        workers: int = 4,
    ) -> None:
        if chunk_rows < 1:
            raise ValueError("chunk_rows must be at least 1")
        self.location = (
            location if isinstance(location, LakeLocation) else LakeLocation.parse(location)
        )
        self.chunk_rows = chunk_rows
        self.notices: list[str] = []
        self._pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix="lake-write")
        self._run: _Run | None = None

    def __repr__(self) -> str:
        return f"LakeStorage({self.location.uri!r})"

    # ----------------------------------------------------------------------------------------
    # Commits

    def manifests(self) -> dict[date, Manifest]:
        """Every committed day, oldest first."""
        return read_manifests(self.location)

    def manifest(self, run_date: date) -> Manifest | None:
        return read_manifest(self.location, run_date)

    # ----------------------------------------------------------------------------------------
    # Writing

    def begin_sync(
        self, *, started_at: datetime | None = None, run_date: date | None = None
    ) -> SyncRun:
        if self._run is not None:
            raise StoreError(f"A sync is already open on the lake {self.location.uri}.")
        self.location.check_writable()
        started, day = run_times(started_at, run_date)
        sync = SyncRun(id=int(started.timestamp() * 1000), started_at=started, run_date=day)
        previous = open_day(self.location, sync.run_date)
        run = _Run(sync=sync, run_id=layout.run_id_of(started), previous=previous)
        run.backup_key = layout.backup_key(sync.run_date, started)
        run.backup = self.location.open_output(run.backup_key)
        # Level 1: the backup must keep up with the sync; JSON still shrinks about 8x.
        run.backup_stream = gzip.GzipFile(fileobj=run.backup, mode="wb", compresslevel=1)
        self._run = run
        return sync

    def resume_sync(
        self,
        sync: SyncRun,
        *,
        previous: Manifest | None,
        files: Mapping[str, Sequence[Mapping[str, Any]]],
        stored: Mapping[Resource, int],
        rejected: Mapping[Resource, int],
        backup_key: str | None,
    ) -> None:
        """Adopt a run whose parts were written elsewhere (the pipeline's WriteParquet
        invocations, each a batch): ``files`` are their objects by table (``key``, ``rows``,
        ``bytes``), ``stored``/``rejected`` their counts, ``previous`` the commit of the day that
        ``open_day`` withdrew. ``finish_sync`` then verifies, reconciles and commits it exactly as
        a run written here; ``abort_sync`` records it as failed."""
        if self._run is not None:
            raise StoreError(f"A sync is already open on the lake {self.location.uri}.")
        run = _Run(sync=sync, run_id=layout.run_id_of(sync.started_at), previous=previous)
        run.uploads = [
            (table, _done(dict(entry))) for table, entries in files.items() for entry in entries
        ]
        for table, entries in files.items():
            run.chunks[table] = len(entries)
        run.stored = {Resource(r): n for r, n in stored.items()}
        run.rejected = {Resource(r): n for r, n in rejected.items() if n}
        run.backup_key = backup_key
        self._run = run

    def _require(self, sync: SyncRun) -> _Run:
        run = self._run
        if run is None or run.sync.id != sync.id:
            raise StoreError(f"Sync run {sync.id} is not open on the lake {self.location.uri}.")
        return run

    def store_batch(
        self, run: SyncRun, resource: Resource, rows: Sequence[Mapping[str, Any]]
    ) -> ChangeCounts:
        """Buffer rows into parts; changes are classified when the run finishes (so the counts
        returned here are zero)."""
        state = self._require(run)
        resource = Resource(resource)
        if not rows:
            return ChangeCounts()
        self._backup(state, resource, (row[RAW_COLUMN] for row in rows))
        pending = state.pending.setdefault(resource, [])
        pending.extend(rows)
        state.stored[resource] = state.stored.get(resource, 0) + len(rows)
        while len(pending) >= self.chunk_rows:
            chunk, state.pending[resource] = pending[: self.chunk_rows], pending[self.chunk_rows :]
            pending = state.pending[resource]
            self._write_rows(state, resource, chunk)
        return ChangeCounts()

    def write_table(self, run: SyncRun, resource: Resource, table: pa.Table) -> None:
        """Write an already normalised Arrow table (snapshot or model columns) as the next
        part(s) of ``resource``; the columnar path of the pipeline and the migration."""
        state = self._require(run)
        resource = Resource(resource)
        state.stored[resource] = state.stored.get(resource, 0) + table.num_rows
        for offset in range(0, table.num_rows, self.chunk_rows):
            self._submit_part(state, resource, table.slice(offset, self.chunk_rows))

    def _write_rows(self, state: _Run, resource: Resource, rows: list[dict[str, Any]]) -> None:
        from vanta_vuln_stats.model.arrow import rows_to_table

        self._submit_part(state, resource, rows_to_table(resource, rows))

    def _submit_part(self, state: _Run, resource: Resource, table: pa.Table) -> None:

        part = layout.snapshot_part(resource, state.sync.run_date, table)
        chunk = state.chunks.get(resource.value, 0)
        state.chunks[resource.value] = chunk + 1
        key = layout.part_key(resource.value, state.sync.run_date, chunk)
        self._upload(state, resource.value, key, part)

    def _upload(self, state: _Run, table_name: str, key: str, table: pa.Table) -> None:
        rows = table.num_rows

        def work() -> dict[str, Any]:
            data = write_parquet_bytes(table)
            self.location.write_bytes(key, data)
            return {"key": key, "rows": rows, "bytes": len(data)}

        state.uploads.append((table_name, self._pool.submit(work)))

    @staticmethod
    def _files(state: _Run) -> dict[str, list[dict[str, Any]]]:
        """Every object the run wrote, by table (call after ``_drain``)."""
        files: dict[str, list[dict[str, Any]]] = {}
        for table_name, future in state.uploads:
            files.setdefault(table_name, []).append(future.result())
        return files

    def _backup(self, state: _Run, resource: Resource, raws: Iterable[str]) -> None:
        state.backup_stream.write(backup_lines(resource, raws))

    def store_rejections(self, run: SyncRun, rejections: Sequence[RejectedRecord]) -> None:
        state = self._require(run)
        if not rejections:
            return
        from vanta_vuln_stats.model.records import _dumps

        for rejection in rejections:
            resource = Resource(rejection.resource)
            state.rejected[resource] = state.rejected.get(resource, 0) + 1
            try:
                raw = _dumps(rejection.raw)
            except (TypeError, ValueError):
                raw = json.dumps(repr(rejection.raw))
            self._backup(state, resource, iter((raw,)))
        state.rejections.extend(rejections)

    def _drain(self, state: _Run) -> None:
        """Write what is buffered, wait for every upload, raise the first failure."""
        for resource, rows in list(state.pending.items()):
            if rows:
                state.pending[resource] = []
                self._write_rows(state, resource, rows)
        self._write_rejections(state)
        errors = [f.exception() for _, f in state.uploads if f.exception() is not None]
        if errors:
            raise StoreError(f"Writing the lake {self.location.uri} failed: {errors[0]}")

    def _write_rejections(self, state: _Run) -> None:
        if not state.rejections:
            return
        by_resource: dict[Resource, list[RejectedRecord]] = {}
        for rejection in state.rejections:
            by_resource.setdefault(Resource(rejection.resource), []).append(rejection)
        state.rejections = []
        for resource, items in by_resource.items():
            chunk = state.chunks.get(f"rejects-{resource.value}", 0)
            state.chunks[f"rejects-{resource.value}"] = chunk + 1
            key = layout.rejects_key(resource, state.sync.run_date, chunk)
            table = rejects_table(resource, items, state.run_id, state.sync.run_date)
            self._upload(state, layout.REJECTS_TABLE, key, table)

    def _close_backup(self, state: _Run) -> dict[str, Any] | None:
        if state.backup_stream is None:
            # A run the pipeline fetched wrote its backup itself (or has none yet).
            if state.backup_key and self.location.exists(state.backup_key):
                return {"key": state.backup_key, "bytes": self.location.size(state.backup_key)}
            return None
        state.backup_stream.close()
        state.backup.close()
        state.backup_stream = state.backup = None
        size = self.location.size(state.backup_key) if state.backup_key else None
        return {"key": state.backup_key, "bytes": size}

    def _verify(self, state: _Run) -> int:
        """Every part exists with the size written; returns the bytes written."""
        total = 0
        for entries in self._files(state).values():
            for entry in entries:
                size = self.location.size(entry["key"])
                if size != entry["bytes"]:
                    raise StoreError(
                        f"{entry['key']} in the lake {self.location.uri} has "
                        f"{size if size is not None else 'no'} bytes after writing "
                        f"{entry['bytes']}; the run is not committed."
                    )
                total += entry["bytes"]
        return total

    def finish_sync(
        self,
        run: SyncRun,
        *,
        complete: Collection[Resource],
        fetched: Mapping[Resource, int],
        finished_at: datetime | None = None,
    ) -> SyncSummary:
        from vanta_vuln_stats.storage.lake.changes import apply_snapshot

        state = self._require(run)
        complete_set = {Resource(r) for r in complete}
        try:
            self._drain(state)
            backup = self._close_backup(state)
            touched = set(state.stored) | set(state.rejected) | {Resource(r) for r in fetched}
            counts: dict[Resource, dict[str, int]] = {}
            unreconciled = []
            for resource in Resource:
                got = fetched.get(resource, 0)
                written = state.stored.get(resource, 0)
                rejected = state.rejected.get(resource, 0)
                counts[resource] = {"fetched": got, "written": written, "rejected": rejected}
                if got != written + rejected:
                    unreconciled.append(
                        f"{resource.value}: fetched {got}, written {written}, rejected {rejected}"
                    )
            if unreconciled:
                raise StoreError("The counts do not reconcile (" + "; ".join(unreconciled) + ").")
            incomplete = sorted(r.value for r in touched - complete_set)
            if incomplete:
                raise StoreError(f"The walk did not complete for {', '.join(incomplete)}.")

            base = self._base_manifest(state.sync.run_date)
            states: dict[str, str] = {}
            for resource in Resource:
                snapshot = self._read(self._files(state).get(resource.value, []), resource)
                previous = self._read_state(base, resource)
                change = apply_snapshot(
                    resource,
                    previous,
                    snapshot,
                    stamp=state.sync.stamp,
                    run_date=state.sync.run_date,
                    run_id=state.run_id,
                    complete=resource in complete_set,
                )
                for name in ("discovered", "updated", "remediated", "reactivated", "resolved"):
                    counts[resource][name] = getattr(change.counts, name)
                key = layout.state_key(resource, state.sync.run_date)
                self._upload(state, "_state", key, change.state)
                states[resource.value] = key
                if change.events is not None:
                    history_key = layout.part_key(layout.HISTORY_TABLE, state.sync.run_date, 0)
                    self._upload(state, layout.HISTORY_TABLE, history_key, change.events)
            self._drain(state)
            total = self._verify(state)
            self._delete_stale(state)
            finished = _ms((finished_at or datetime.now(UTC)).astimezone(UTC))
            history_key = layout.sync_history_key(state.sync.run_date, state.run_id)
            summary = self._sync_row(
                state,
                status="complete",
                message=None,
                finished=finished,
                counts=counts,
                complete=complete_set,
                base=base.run_date if base else None,
                bytes_written=total,
            )
            files = {
                name: sorted(entries, key=lambda e: e["key"])
                for name, entries in self._files(state).items()
                if name != "_state"
            }
            manifest = Manifest(
                run_date=state.sync.run_date,
                run_id=state.run_id,
                stamp=state.sync.stamp,
                started_at=state.sync.started_at,
                finished_at=finished,
                base_run_date=base.run_date if base else None,
                files=files,
                state=states,
                backup=backup["key"] if backup else None,
                counts={r.value: c for r, c in counts.items()},
                sync_history=history_key,
            )
            self.location.write_bytes(layout.commit_key(state.sync.run_date), manifest.to_json())
        except BaseException as exc:
            self._fail(state, exc)
            raise
        self._run = None
        self._after_commit(state, manifest)
        return summary

    def _base_manifest(self, run_date: date) -> Manifest | None:
        earlier = [m for day, m in self.manifests().items() if day < run_date]
        return earlier[-1] if earlier else None

    def _read(self, entries: list[dict[str, Any]], resource: Resource) -> pa.Table:
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = layout.snapshot_schema(resource)
        tables = [
            pq.read_table(
                self.location.path(entry["key"]),
                filesystem=self.location.filesystem,
                partitioning=None,
            )
            for entry in sorted(entries, key=lambda e: e["key"])
        ]
        return pa.concat_tables(tables) if tables else schema.empty_table()

    def _read_state(self, base: Manifest | None, resource: Resource) -> pa.Table | None:
        import pyarrow.parquet as pq

        if base is None or resource.value not in base.state:
            return None
        return pq.read_table(
            self.location.path(base.state[resource.value]), filesystem=self.location.filesystem
        )

    def _delete_stale(self, state: _Run) -> None:
        """Parts of this day that this run did not write (an earlier run had more chunks)."""
        written = {entry["key"] for entries in self._files(state).values() for entry in entries}
        for table in (*(r.value for r in Resource), layout.HISTORY_TABLE, layout.REJECTS_TABLE):
            prefix = layout.partition_prefix(table, state.sync.run_date)
            for key, _ in list(self.location.list(prefix)):
                if key not in written:
                    self.location.delete(key)
                    log.info("removed stale part %s", key)

    def _after_commit(self, state: _Run, manifest: Manifest) -> None:
        latest = max(self.manifests(), default=None)
        if latest == manifest.run_date:
            for resource in Resource:
                data = self.location.read_bytes(manifest.state[resource.value])
                self.location.write_bytes(layout.current_key(resource), data)
        previous = state.previous
        if previous is not None and previous.run_id != manifest.run_id:
            self._supersede(previous, manifest.run_id)

    def _supersede(self, previous: Manifest, by: str) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        key = previous.sync_history
        if not self.location.exists(key):
            return
        table = pq.read_table(
            self.location.path(key), filesystem=self.location.filesystem, partitioning=None
        )
        rows = table.num_rows
        status = pa.repeat(pa.scalar("superseded"), rows)
        table = table.set_column(table.schema.get_field_index("status"), "status", status)
        superseded_by = pc.cast(pa.repeat(pa.scalar(by), rows), pa.string())
        index = table.schema.get_field_index("superseded_by")
        table = table.set_column(index, "superseded_by", superseded_by)
        data = write_parquet_bytes(table.cast(layout.sync_history_schema()))
        self.location.write_bytes(key, data)

    def _sync_row(
        self,
        state: _Run,
        *,
        status: SyncStatus,
        message: str | None,
        finished: datetime,
        counts: Mapping[Resource, Mapping[str, int]],
        complete: Collection[Resource],
        base: date | None,
        bytes_written: int | None,
    ) -> SyncSummary:
        import pyarrow as pa

        schema = layout.sync_history_schema()
        sync = state.sync
        values: dict[str, Any] = {
            "run_id": state.run_id,
            "run_date": sync.run_date,
            "sync_date": sync.stamp,
            "started_at": sync.started_at,
            "finished_at": finished,
            "duration_seconds": round(time.perf_counter() - state.clock, 3),
            "status": status,
            "message": message,
            "reconciled": all(
                c.get("fetched", 0) == c.get("written", 0) + c.get("rejected", 0)
                for c in counts.values()
            ),
            "superseded_by": None,
            "base_run_date": base,
            "bytes_written": bytes_written,
        }
        for resource in Resource:
            for name in layout.COUNT_NAMES:
                values[f"{resource.value}_{name}"] = counts.get(resource, {}).get(name, 0)
            values[f"{resource.value}_complete"] = resource in complete
        table = pa.Table.from_pylist([values], schema=schema)
        key = layout.sync_history_key(sync.run_date, state.run_id)
        data = write_parquet_bytes(table)
        self.location.write_bytes(key, data)
        return _summary_of(values)

    def _fail(self, state: _Run, exc: BaseException) -> None:
        status: SyncStatus = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        self._abort(state, f"{type(exc).__name__}: {exc}", status, None)

    def _abort(
        self,
        state: _Run,
        reason: str,
        status: SyncStatus,
        fetched: Mapping[Resource, int] | None,
    ) -> SyncSummary:
        for _, future in state.uploads:
            future.cancel()
        for _, future in state.uploads:
            if not future.cancelled():
                future.exception()  # wait; a failed upload is secondary here
        try:
            self._close_backup(state)
        except Exception as exc:  # the run failed already; report the first cause
            log.warning("closing the raw backup failed: %s", exc)
        counts = {
            resource: {
                "fetched": (fetched or {}).get(
                    resource, state.stored.get(resource, 0) + state.rejected.get(resource, 0)
                ),
                "written": state.stored.get(resource, 0),
                "rejected": state.rejected.get(resource, 0),
            }
            for resource in Resource
        }
        self._run = None
        return self._sync_row(
            state,
            status=status,
            message=reason,
            finished=_ms(datetime.now(UTC)),
            counts=counts,
            complete=(),
            base=None,
            bytes_written=None,
        )

    def abort_sync(
        self,
        run: SyncRun,
        *,
        reason: str,
        status: Literal["interrupted", "failed"] = "interrupted",
        fetched: Mapping[Resource, int] | None = None,
    ) -> SyncSummary:
        return self._abort(self._require(run), reason, status, fetched)

    # ----------------------------------------------------------------------------------------
    # Reading

    def has_data(self) -> bool:
        return any(True for _ in self.location.list(layout.COMMITS_PREFIX))

    def sync_history(self) -> list[SyncSummary]:
        """Every run, oldest first: committed, failed, interrupted and superseded ones. A row
        that says complete but that no commit names (its process died between writing the row
        and the commit) is left out, as the query engine leaves it out."""
        import pyarrow.parquet as pq

        # A sync's commit names its run's row; a migration's also lists every day's run log.
        committed = {
            key
            for manifest in self.manifests().values()
            for key in (manifest.sync_history, *manifest.keys(layout.SYNC_HISTORY_TABLE))
        }
        rows: list[dict[str, Any]] = []
        for key, _ in self.location.list(layout.SYNC_HISTORY_TABLE):
            if key.endswith(".parquet"):
                table = pq.read_table(
                    self.location.path(key), filesystem=self.location.filesystem, partitioning=None
                )
                rows.extend(
                    row
                    for row in table.to_pylist()
                    if key in committed or row["status"] != "complete"
                )
        rows.sort(key=lambda row: (row["started_at"], row["run_id"]))
        return [_summary_of(row) for row in rows]

    def last_sync(self, *, complete_only: bool = False) -> SyncSummary | None:
        runs = self.sync_history()
        if complete_only:
            runs = [run for run in runs if run.status == "complete"]
        return runs[-1] if runs else None

    def iter_vulnerabilities(
        self, filters: VulnerabilityFilter | None = None
    ) -> Iterator[dict[str, Any]]:
        """The raw records of the matching findings, from the backup of the run that last saw
        each (the snapshot files do not keep the raw JSON), ordered by id."""
        from vanta_vuln_stats.storage.filters import where_sql
        from vanta_vuln_stats.storage.lake.engine import duckdb_sql, lake_connection

        manifests = self.manifests()
        if not manifests:
            return
        condition, params = where_sql(filters, "v")
        with lake_connection(self) as conn:
            rows = conn.execute(
                duckdb_sql(
                    "SELECT v.id, s.last_seen_run_date FROM vulnerabilities v "
                    "JOIN vulnerabilities_seen s ON s.id = v.id "
                    f"WHERE {condition} ORDER BY v.id"
                ),
                params,
            ).fetchall()
        wanted: dict[date, set[str]] = {}
        for record_id, seen in rows:
            wanted.setdefault(seen, set()).add(record_id)
        found: dict[str, dict[str, Any]] = {}
        for day, ids in wanted.items():
            manifest = manifests.get(day)
            if manifest is None or manifest.backup is None:
                continue
            found.update(self._records_from_backup(manifest.backup, ids))
        for record_id, _ in rows:
            record = found.get(record_id)
            if record is not None:
                yield record

    def _records_from_backup(self, key: str, ids: set[str]) -> dict[str, dict[str, Any]]:
        import orjson

        found: dict[str, dict[str, Any]] = {}
        data = gzip.decompress(self.location.read_bytes(key))
        for line in data.splitlines():
            if b'"resource":"vulnerabilities"' not in line[:40]:
                continue
            record = orjson.loads(line)["record"]
            if isinstance(record, dict) and record.get("id") in ids:
                found[record["id"]] = record
        return found

    def change_history(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        vuln_id: str | None = None,
        change_types: Collection[ChangeType] | None = None,
        limit: int | None = None,
    ) -> list[ChangeEvent]:
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        events: list[ChangeEvent] = []
        for manifest in self.manifests().values():
            for key in manifest.keys(layout.HISTORY_TABLE):
                table = pq.read_table(
                    self.location.path(key), filesystem=self.location.filesystem, partitioning=None
                )
                if vuln_id is not None:
                    table = table.filter(pc.equal(table["vuln_id"], vuln_id))
                for row in table.to_pylist():
                    when = row["snapshot_date"]
                    if since is not None and when < since:
                        continue
                    if until is not None and when > until:
                        continue
                    if change_types is not None and row["change_type"] not in change_types:
                        continue
                    events.append(
                        ChangeEvent(
                            id=len(events) + 1,
                            sync_id=None,
                            vuln_id=row["vuln_id"],
                            change_type=row["change_type"],
                            snapshot_date=when,
                            name=row["name"],
                            severity=row["severity"],
                            is_deactivated=row["is_deactivated"],
                            deactivation_date=row["deactivation_date"],
                            changed_fields=tuple(row["changed_fields"] or ()),
                        )
                    )
        events.sort(key=lambda e: (e.snapshot_date, e.vuln_id))
        return events[:limit] if limit is not None else events

    def query_connection(self) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
        """DuckDB over the committed files, with SQLite-shaped views (engine.py)."""
        from vanta_vuln_stats.storage.lake.engine import lake_connection

        return lake_connection(self)

    def close(self) -> None:
        run = self._run
        if run is not None:
            self._abort(run, "the store was closed before the sync finished", "interrupted", None)
        self._pool.shutdown(wait=True)


def _summary_of(row: Mapping[str, Any]) -> SyncSummary:
    resources = {}
    for resource in Resource:
        prefix = resource.value
        resources[resource] = ResourceCounts(
            fetched=row.get(f"{prefix}_fetched", 0),
            stored=row.get(f"{prefix}_written", 0),
            rejected=row.get(f"{prefix}_rejected", 0),
            complete=bool(row.get(f"{prefix}_complete")),
            changes=ChangeCounts(
                *(row.get(f"{prefix}_{name}", 0) for name in ChangeCounts.__slots__)
            ),
        )
    started = row["started_at"]
    return SyncSummary(
        id=int(started.timestamp() * 1000),
        status=row["status"],
        started_at=started,
        finished_at=row.get("finished_at"),
        resources=resources,
        message=row.get("message"),
    )
