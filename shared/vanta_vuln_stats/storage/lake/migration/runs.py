"""A migration run, and the two things done with one afterwards: validate it, roll it back.

migrate   the destination must be empty (a lake with commits is refused: its history is a chain
          of days, and a SQLite store's history cannot be spliced into it). The run writes its
          manifest first (status running, every planned key), then the data, checks every object
          against the bytes handed over, commits the day (``_commits/D.json``), copies the state
          to ``current/`` and rewrites its manifest (status complete, sizes and checksums). A run
          that fails removes what it wrote.
validate  re-reads what the latest run wrote: every key present with its size, the day still
          committed by that run, and each table's rows and checksum equal to the source's.
rollback  removes every key of one run, the commit first and the manifest last; refused when
          later days were committed on top of it.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from vanta_vuln_stats.errors import StoreError
from vanta_vuln_stats.model.fields import Resource
from vanta_vuln_stats.storage.lake import layout
from vanta_vuln_stats.storage.lake.fs import LakeLocation
from vanta_vuln_stats.storage.lake.migration.checksum import TableChecksum
from vanta_vuln_stats.storage.lake.migration.plan import MigrationManifest, Plan, make_plan
from vanta_vuln_stats.storage.lake.migration.source import (
    SourceInfo,
    file_sha256,
    inspect_source,
    open_source,
)
from vanta_vuln_stats.storage.lake.migration.writer import (
    MigrationProgress,
    Sink,
    write_tables,
)
from vanta_vuln_stats.storage.lake.store import DEFAULT_CHUNK_ROWS, Manifest

__all__ = [
    "MigrationResult",
    "RollbackResult",
    "TableCheck",
    "ValidationResult",
    "migrate",
    "rollback",
    "validate",
]

_CHANGE_NAMES = ("discovered", "updated", "remediated", "reactivated", "resolved")


def _now() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond - now.microsecond % 1000)


# --------------------------------------------------------------------------------------------
# The destination


def _objects(location: LakeLocation) -> Iterator[str]:
    import pyarrow.fs as pafs

    selector = pafs.FileSelector(location.root, recursive=True, allow_not_found=True)
    for info in location.filesystem.get_file_info(selector):
        if info.type == pafs.FileType.File:
            yield location.key_of(info.path)


def _require_empty(location: LakeLocation) -> None:
    """A migration writes only into an empty destination (see docs/MIGRATION.md: no merge)."""
    if location.is_s3:
        location.check_writable()  # a missing bucket or no access, said at once (a local
        # folder is made when the first object is written, so a dry run leaves none)
    days = sorted(key.rsplit("/", 1)[-1].removesuffix(".json") for key, _ in _commits(location))
    if days:
        span = days[0] if len(days) == 1 else f"{days[0]} .. {days[-1]}"
        raise StoreError(
            f"The destination {location.uri} is already a lake with {len(days)} committed "
            f"day(s) ({span}); migrate into an empty folder or prefix."
        )
    runs = _migration_runs(location)
    if runs:
        raise StoreError(
            f"The destination {location.uri} holds migration run {runs[-1]}, which did not "
            f"finish; remove it with --rollback {runs[-1]} or choose another destination."
        )
    first = next(_objects(location), None)
    if first is not None:
        raise StoreError(
            f"The destination {location.uri} is not empty (it holds {first}); migrate into an "
            "empty folder or prefix."
        )


def _commits(location: LakeLocation) -> list[tuple[str, int]]:
    return [(key, size) for key, size in location.list(layout.COMMITS_PREFIX)]


def _migration_runs(location: LakeLocation) -> list[str]:
    """Run ids of the migration manifests at the destination, oldest first."""
    runs = []
    for key, _ in location.list(layout.MIGRATIONS_PREFIX):
        name = key.rsplit("/", 1)[-1].removesuffix(".json")
        if layout.is_run_id(name):
            runs.append(name)
    return sorted(runs)


def _load_manifest(location: LakeLocation, run_id: str) -> MigrationManifest:
    return MigrationManifest.from_json(location.read_bytes(layout.migration_key(run_id)))


# --------------------------------------------------------------------------------------------
# migrate


@dataclass
class MigrationResult:
    plan: Plan
    source: SourceInfo
    destination: str
    dry_run: bool
    sizes: dict[str, int]

    @property
    def run_id(self) -> str:
        return self.plan.run_id

    def bytes_of(self, label: str) -> int:
        return sum(self.sizes.get(key, 0) for key in self.plan.entries[label].keys)

    @property
    def total_bytes(self) -> int:
        return sum(self.sizes.values())

    @property
    def total_files(self) -> int:
        return len(self.sizes)


def migrate(
    source: str | os.PathLike[str],
    destination: str,
    *,
    dry_run: bool = False,
    work_dir: str | os.PathLike[str] | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: MigrationProgress | None = None,
    clock: Callable[[], datetime] = _now,
) -> MigrationResult:
    """Migrate the SQLite store at ``source`` into the empty lake ``destination`` (a folder or
    ``s3://bucket/prefix``); with ``dry_run`` everything is read, converted and measured, and
    nothing is written to the destination."""
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be at least 1")
    inspect_source(source)  # a wrong file is reported before the destination is looked at
    location = LakeLocation.parse(destination)
    _require_empty(location)
    with open_source(source, work_dir=work_dir) as db:
        plan = make_plan(db, started_at=clock(), chunk_rows=chunk_rows)
        sink = Sink(None if dry_run else location)
        if not dry_run:
            running = _manifest(plan, db.info, location, sink, status="running", finished=None)
            location.write_bytes(plan.manifest_key, running.to_json())
        try:
            write_tables(db, plan, sink, progress)
            if not dry_run:
                _verify(location, sink)
            finished = clock()
            commit = _commit_manifest(plan, sink, finished)
            sink.put(plan.commit_key, commit.to_json())
            for resource in Resource:
                sink.copy(layout.state_key(resource, plan.run_date), layout.current_key(resource))
            manifest = _manifest(
                plan, db.info, location, sink, status="complete", finished=finished
            )
            data = manifest.to_json()
            if not dry_run:
                location.write_bytes(plan.manifest_key, data)
            sink.sizes[plan.manifest_key] = len(data)
        except BaseException:
            if not dry_run:
                _remove_quietly(location, [plan.commit_key, *reversed(sink.touched)])
                _remove_quietly(location, [plan.manifest_key])
            raise
        return MigrationResult(plan, db.info, location.uri, dry_run, dict(sink.sizes))


def _verify(location: LakeLocation, sink: Sink) -> None:
    """Every object exists with the size written, before anything is committed."""
    for key, size in sink.sizes.items():
        found = location.size(key)
        if found != size:
            raise StoreError(
                f"{key} in {location.uri} has {found if found is not None else 'no'} bytes after "
                f"writing {size}; the migration is not committed."
            )


def _commit_manifest(plan: Plan, sink: Sink, finished: datetime) -> Manifest:
    """The day's commit, as a sync's: every file of every date (history, sync_history and
    rejects of earlier days included), the state files, the backup and the counts."""
    files: dict[str, list[dict[str, Any]]] = {}
    tables = {
        **{resource.value: resource.value for resource in Resource},
        layout.HISTORY_TABLE: layout.HISTORY_TABLE,
        layout.SYNC_HISTORY_TABLE: layout.SYNC_HISTORY_TABLE,
        layout.REJECTS_TABLE: layout.REJECTS_TABLE,
    }
    for table, label in tables.items():
        files[table] = [
            {"key": key, "rows": sink.rows.get(key, 0), "bytes": sink.sizes[key]}
            for key in sorted(plan.entries[label].keys)
        ]
    counts: dict[str, dict[str, int]] = {}
    for resource in Resource:
        reported = plan.snapshot_rows[resource]
        last = plan.last_sync
        changes = last.counts(resource).changes if last is not None else None
        counts[resource.value] = {"fetched": reported, "written": reported, "rejected": 0} | {
            name: getattr(changes, name) if changes is not None else 0 for name in _CHANGE_NAMES
        }
    return Manifest(
        run_date=plan.run_date,
        run_id=plan.run_id,
        stamp=plan.stamp,
        started_at=plan.started_at,
        finished_at=finished,
        base_run_date=None,
        files=files,
        state={r.value: layout.state_key(r, plan.run_date) for r in Resource},
        backup=plan.backup_key,
        counts=counts,
        sync_history=layout.sync_history_key(plan.run_date, plan.run_id),
    )


def _manifest(
    plan: Plan,
    info: SourceInfo,
    location: LakeLocation,
    sink: Sink,
    *,
    status: str,
    finished: datetime | None,
) -> MigrationManifest:
    last = plan.last_sync
    return MigrationManifest(
        run_id=plan.run_id,
        status=status,
        started_at=plan.started_at,
        finished_at=finished,
        destination=location.uri,
        run_date=plan.run_date,
        commit=plan.commit_key,
        source=info.as_json(),
        last_complete_sync=(
            {"id": last.id, "started_at": last.started_at.isoformat()} if last else None
        ),
        tables={
            label: {
                "rows": entry.rows,
                "checksum": entry.checksum,
                "columns": list(entry.columns),
                "keys": entry.keys,
            }
            for label, entry in plan.entries.items()
            if entry.checked
        },
        files=[{"key": key, "bytes": sink.sizes.get(key)} for key in plan.all_keys()],
    )


def _remove_quietly(location: LakeLocation, keys: list[str]) -> None:
    for key in dict.fromkeys(keys):
        with contextlib.suppress(OSError):
            location.delete(key)
    _prune(location, keys)


def _prune(location: LakeLocation, keys: list[str]) -> None:
    """Remove the local folders the removed keys leave empty (S3 has no folders)."""
    if location.is_s3:
        return
    folders = {posixpath.dirname(key) for key in keys}
    for folder in sorted(folders, key=len, reverse=True):
        while folder:
            try:
                os.rmdir(location.path(folder))
            except OSError:
                break
            folder = posixpath.dirname(folder)


# --------------------------------------------------------------------------------------------
# validate


@dataclass
class TableCheck:
    label: str
    source_rows: int
    lake_rows: int
    source_checksum: str | None
    lake_checksum: str | None

    @property
    def ok(self) -> bool:
        return self.source_rows == self.lake_rows and self.source_checksum == self.lake_checksum


@dataclass
class ValidationResult:
    manifest: MigrationManifest
    destination: str
    files: int
    tables: list[TableCheck] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    source_note: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems and all(check.ok for check in self.tables)


def validate(destination: str, *, progress: MigrationProgress | None = None) -> ValidationResult:
    """Re-read what the latest migration to ``destination`` wrote and compare it with the
    source's rows and checksums recorded when it ran."""
    location = LakeLocation.parse(destination)
    runs = _migration_runs(location)
    if not runs:
        raise StoreError(f"No migration has been run to {location.uri}.")
    manifest = _load_manifest(location, runs[-1])
    result = ValidationResult(manifest, location.uri, len(manifest.files))
    if manifest.status != "complete":
        result.problems.append(
            f"run {manifest.run_id} did not complete (status {manifest.status}); roll it back "
            f"with --rollback {manifest.run_id}"
        )
    for entry in manifest.files:
        found = location.size(entry["key"])
        if found is None:
            result.problems.append(f"{entry['key']} is missing")
        elif entry["bytes"] is not None and found != entry["bytes"]:
            result.problems.append(
                f"{entry['key']} has {found} bytes; the run wrote {entry['bytes']}"
            )
    if location.exists(manifest.commit):
        committed = Manifest.from_json(location.read_bytes(manifest.commit))
        if committed.run_id != manifest.run_id:
            result.problems.append(
                f"{manifest.run_date} is now committed by run {committed.run_id}, not by the "
                "migration"
            )
    else:
        result.problems.append(f"{manifest.run_date} is not committed ({manifest.commit} missing)")
    for label, table in manifest.tables.items():
        result.tables.append(_check_table(location, label, table, result.problems, progress))
    result.source_note = _source_note(manifest)
    return result


def _check_table(
    location: LakeLocation,
    label: str,
    table: dict[str, Any],
    problems: list[str],
    progress: MigrationProgress | None,
) -> TableCheck:
    import pyarrow as pa
    import pyarrow.parquet as pq

    check = TableChecksum(tuple(table["columns"]))
    if progress:
        progress.table_started(label, table["rows"])
    for key in table["keys"]:
        if not location.exists(key):
            continue  # reported with the files
        try:
            with location.filesystem.open_input_file(location.path(key)) as stream:
                parquet = pq.ParquetFile(stream)
                missing = set(check.columns) - set(parquet.schema_arrow.names)
                if missing:
                    problems.append(f"{key} lacks the column(s) {', '.join(sorted(missing))}")
                    continue
                for batch in parquet.iter_batches(
                    batch_size=DEFAULT_CHUNK_ROWS, columns=list(check.columns)
                ):
                    check.add(batch)
                    if progress:
                        progress.rows_done(label, batch.num_rows)
        except (OSError, pa.ArrowException) as exc:
            problems.append(f"{key} cannot be read: {exc}")
    if progress:
        progress.table_finished(label)
    return TableCheck(label, table["rows"], check.rows, table["checksum"], check.hexdigest)


def _source_note(manifest: MigrationManifest) -> str:
    path = Path(manifest.source["path"])
    if not path.is_file():
        return f"The source {path} is no longer there; compared with it as it was migrated."
    try:
        same = file_sha256(path) == manifest.source["sha256"]
    except OSError:
        return f"The source {path} cannot be read; compared with it as it was migrated."
    if same:
        return f"The source {path} is unchanged since the migration."
    return (
        f"The source {path} has changed since the migration; compared with it as it was migrated."
    )


# --------------------------------------------------------------------------------------------
# rollback


@dataclass
class RollbackResult:
    run_id: str
    destination: str
    removed: int
    bytes: int
    run_date: date


def rollback(destination: str, run_id: str) -> RollbackResult:
    """Remove every key that migration run ``run_id`` wrote, and nothing else."""
    location = LakeLocation.parse(destination)
    key = layout.migration_key(run_id) if layout.is_run_id(run_id) else None
    if key is None or not location.exists(key):
        known = _migration_runs(location)
        hint = f" (runs there: {', '.join(known)})" if known else " (it has no migration runs)"
        raise StoreError(f"No migration run {run_id!r} at {location.uri}{hint}.")
    manifest = _load_manifest(location, run_id)
    later = []
    for commit_key, _ in _commits(location):
        committed = Manifest.from_json(location.read_bytes(commit_key))
        if committed.run_id != run_id:
            later.append(committed.run_date.isoformat())
    if later:
        raise StoreError(
            f"Cannot roll back run {run_id}: the lake at {location.uri} has day(s) committed by "
            f"other runs since ({', '.join(sorted(later))}), which start from what it wrote."
        )
    removed = size = 0
    # The commit first, so readers stop seeing the day before its files go.
    keys = [manifest.commit, *(k for k in manifest.file_keys() if k != manifest.commit), key]
    for name in keys:
        found = location.size(name)
        if found is not None:
            location.delete(name)
            removed += 1
            size += found
    _prune(location, keys)
    return RollbackResult(run_id, location.uri, removed, size, manifest.run_date)
