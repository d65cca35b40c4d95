"""What a migration writes, known before it writes anything: every key (from the source's counts
per table and day, with layout.py's names), and the migration manifest that records it.

The plan is exact: a run writes precisely the planned keys (it checks so before it commits), so a
dry run's numbers are the run's, and a run that died can still be rolled back from its manifest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from vanta_vuln_stats.errors import StoreError
from vanta_vuln_stats.model.fields import Resource
from vanta_vuln_stats.model.records import parse_timestamp, timestamp_to_iso
from vanta_vuln_stats.storage.base import SyncSummary
from vanta_vuln_stats.storage.lake import layout
from vanta_vuln_stats.storage.lake.migration import tables
from vanta_vuln_stats.storage.lake.migration.source import SourceDatabase

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["Entry", "MigrationManifest", "Plan", "make_plan"]

MANIFEST_FORMAT = 1

# Columns every row of a file has the same migration-set value in; left out of the checksums.
STATE_EXCLUDED = ("last_seen_run_date",)
SNAPSHOT_EXCLUDED = ("run_date",)
RUN_ID_EXCLUDED = ("run_id",)


@dataclass
class Entry:
    """One table of the report: its files, rows and (for data files) what its checksum covers.

    ``schema`` is None for files that are not Parquet tables (the backup, the manifests)."""

    label: str
    keys: list[str]
    rows: int
    partitions: int | None = None
    schema: pa.Schema | None = None
    excluded: tuple[str, ...] = ()
    bytes: int = 0
    checksum: str | None = None

    @property
    def checked(self) -> bool:
        return self.schema is not None

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns its checksum covers (see checksum.py)."""
        assert self.schema is not None
        return tuple(name for name in self.schema.names if name not in self.excluded)


@dataclass
class Plan:
    run_id: str
    started_at: datetime
    run_date: date
    stamp: datetime
    last_sync: SyncSummary | None
    chunk_rows: int
    entries: dict[str, Entry] = field(default_factory=dict)
    snapshot_rows: dict[Resource, int] = field(default_factory=dict)
    history_days: dict[date, int] = field(default_factory=dict)
    run_stamps: dict[int, datetime] = field(default_factory=dict)
    sync_days: dict[date, list[SyncSummary]] = field(default_factory=dict)
    reject_groups: dict[tuple[date, str], int] = field(default_factory=dict)

    def stamp_of(self, run: SyncSummary) -> datetime:
        """A source run's stamp (its sync_date), or its start when it has none."""
        return self.run_stamps.get(run.id, run.started_at)

    @property
    def last_day(self) -> date:
        """The latest day the run writes a partition of: the lake's next sync must come after
        it (a sync replaces the parts of its own day)."""
        days = [self.run_date, *self.history_days, *(day for day, _ in self.reject_groups)]
        return max(days)

    @property
    def backup_key(self) -> str:
        return layout.backup_key(self.run_date, self.started_at)

    @property
    def commit_key(self) -> str:
        return layout.commit_key(self.run_date)

    @property
    def manifest_key(self) -> str:
        return layout.migration_key(self.run_id)

    def all_keys(self) -> list[str]:
        """Every key the run writes but its own manifest."""
        return [
            key for entry in self.entries.values() for key in entry.keys if key != self.manifest_key
        ]


def _parts(rows: int, chunk_rows: int) -> int:
    return -(-rows // chunk_rows)


def _day(text: str, table: str, source: str) -> date:
    try:
        return date.fromisoformat(text)
    except (TypeError, ValueError):
        raise StoreError(
            f"The database {source} cannot be migrated: {table} has a time {text!r} that is "
            "not an ISO-8601 timestamp."
        ) from None


def make_plan(db: SourceDatabase, *, started_at: datetime, chunk_rows: int) -> Plan:
    """The plan of a migration starting at ``started_at`` (UTC, milliseconds)."""
    from vanta_vuln_stats.storage import schema

    source = str(db.info.path)
    last = db.last_complete_sync()
    stamps = db.run_stamps()
    # The day the last complete sync counted for (its run date, in its stamp).
    stamp = stamps.get(last.id, last.started_at) if last is not None else started_at
    run_date = stamp.date()
    plan = Plan(
        run_id=layout.run_id_of(started_at),
        started_at=started_at,
        run_date=run_date,
        stamp=stamp,
        last_sync=last,
        chunk_rows=chunk_rows,
        run_stamps=stamps,
    )
    backup = 0
    for resource in Resource:
        table = schema.RESOURCE_TABLES[resource]
        rows = db.count(f"SELECT count(*) FROM {table}")
        backup += db.count(f"SELECT count(*) FROM {table} WHERE raw_data IS NOT NULL")
        reported = rows
        if resource is not Resource.VULNERABILITY_REMEDIATIONS:
            reported = db.count(f"SELECT count(*) FROM {table} WHERE resolved_at IS NULL")
        plan.snapshot_rows[resource] = reported
        name = resource.value
        parts = [layout.part_key(name, run_date, n) for n in range(_parts(reported, chunk_rows))]
        state_schema = layout.state_schema(resource)
        plan.entries[name] = Entry(
            name,
            parts,
            reported,
            partitions=1 if parts else 0,
            schema=layout.snapshot_schema(resource),
            excluded=SNAPSHOT_EXCLUDED,
        )
        plan.entries[f"{name} state"] = Entry(
            f"{name} state",
            [layout.state_key(resource, run_date)],
            rows,
            schema=state_schema,
            excluded=STATE_EXCLUDED,
        )
        plan.entries[f"{name} current"] = Entry(
            f"{name} current",
            [layout.current_key(resource)],
            rows,
            schema=state_schema,
            excluded=STATE_EXCLUDED,
        )

    history_keys: list[str] = []
    for text, rows in db.conn.execute(tables.HISTORY_DAYS_SQL):
        day = _day(text, schema.HISTORY_TABLE, source)
        plan.history_days[day] = rows
        history_keys += [
            layout.part_key(layout.HISTORY_TABLE, day, n) for n in range(_parts(rows, chunk_rows))
        ]
    plan.entries[layout.HISTORY_TABLE] = Entry(
        layout.HISTORY_TABLE,
        history_keys,
        sum(plan.history_days.values()),
        partitions=len(plan.history_days),
        schema=layout.history_schema(),
        excluded=RUN_ID_EXCLUDED,
    )

    runs = db.runs()
    plan.sync_days = {run_date: []}  # the committed day always has its file, maybe empty
    for run in runs:
        plan.sync_days.setdefault(plan.stamp_of(run).date(), []).append(run)
    plan.sync_days = dict(sorted(plan.sync_days.items()))
    plan.entries[layout.SYNC_HISTORY_TABLE] = Entry(
        layout.SYNC_HISTORY_TABLE,
        [layout.sync_history_key(day, plan.run_id) for day in plan.sync_days],
        len(runs),
        partitions=len(plan.sync_days),
        schema=layout.sync_history_schema(),
    )

    reject_keys: list[str] = []
    for text, resource_name, rows in db.conn.execute(tables.REJECTS_DAYS_SQL):
        day = _day(text, schema.REJECTED_TABLE, source)
        resource = _resource(resource_name, source)
        plan.reject_groups[(day, resource.value)] = rows
        reject_keys += [
            layout.rejects_key(resource, day, n) for n in range(_parts(rows, chunk_rows))
        ]
    plan.entries[layout.REJECTS_TABLE] = Entry(
        layout.REJECTS_TABLE,
        reject_keys,
        sum(plan.reject_groups.values()),
        partitions=len({day for day, _ in plan.reject_groups}),
        schema=layout.rejects_schema(),
        excluded=RUN_ID_EXCLUDED,
    )
    plan.entries["raw_json backup"] = Entry("raw_json backup", [plan.backup_key], backup)
    plan.entries["commit manifest"] = Entry("commit manifest", [plan.commit_key], 0)
    plan.entries["migration manifest"] = Entry("migration manifest", [plan.manifest_key], 0)
    return plan


def _resource(name: str, source: str) -> Resource:
    try:
        return Resource(name)
    except ValueError:
        raise StoreError(
            f"The database {source} cannot be migrated: rejected_records names an unknown "
            f"resource {name!r}."
        ) from None


# --------------------------------------------------------------------------------------------
# The migration manifest


@dataclass
class MigrationManifest:
    """``_migrations/RUN_ID.json``: what --validate compares and --rollback removes.

    ``files`` lists every key the run writes (all but this manifest) with its size once written;
    while the run is ``running`` the sizes are None. ``tables`` holds the source's row count and
    checksum for each checked table, and the keys that hold it."""

    run_id: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    destination: str
    run_date: date
    commit: str
    source: dict[str, Any]
    last_complete_sync: dict[str, Any] | None
    tables: dict[str, dict[str, Any]]
    files: list[dict[str, Any]]

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "format": MANIFEST_FORMAT,
                "run_id": self.run_id,
                "status": self.status,
                "started_at": timestamp_to_iso(self.started_at),
                "finished_at": timestamp_to_iso(self.finished_at) if self.finished_at else None,
                "destination": self.destination,
                "run_date": self.run_date.isoformat(),
                "commit": self.commit,
                "source": self.source,
                "last_complete_sync": self.last_complete_sync,
                "tables": self.tables,
                "files": self.files,
            },
            indent=1,
        ).encode()

    @classmethod
    def from_json(cls, data: bytes) -> MigrationManifest:
        doc = json.loads(data)
        if doc.get("format") != MANIFEST_FORMAT:
            raise StoreError(f"A migration manifest has format {doc.get('format')!r}; expected 1.")
        finished = doc.get("finished_at")
        return cls(
            run_id=doc["run_id"],
            status=doc["status"],
            started_at=parse_timestamp(doc["started_at"]),
            finished_at=parse_timestamp(finished) if finished else None,
            destination=doc["destination"],
            run_date=date.fromisoformat(doc["run_date"]),
            commit=doc["commit"],
            source=doc["source"],
            last_complete_sync=doc.get("last_complete_sync"),
            tables=doc["tables"],
            files=doc["files"],
        )

    def file_keys(self) -> list[str]:
        return [entry["key"] for entry in self.files]
