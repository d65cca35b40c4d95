"""The lake's layout and the Arrow schema of every file in it: one place, so the writer, the
readers, the migration and (later) the Glue tables cannot disagree.

Under the lake's root (a directory or ``s3://bucket/prefix``), for a run date ``D``:

    vulnerabilities/year=YYYY/month=MM/day=DD/vulnerabilities-YYYYMMDD-NNNNN.parquet
                                                the day's snapshot: every record fetched, in parts
    vulnerabilities/current/vulnerabilities_latest.parquet
                                                the latest state: every finding ever seen, with
                                                first_seen_at, last_seen_at and resolved_at
    vulnerability_remediations/...              the same two for remediation records
    vulnerable_assets/...                       and for vulnerable assets
    vulnerability_history/year=YYYY/month=MM/day=DD/vulnerability_history-YYYYMMDD-00000.parquet
                                                the day's change events
    sync_history/year=YYYY/month=MM/day=DD/sync_history-RUNID.parquet
                                                one row per run (kept for every run, failed and
                                                superseded ones included)
    rejects/year=YYYY/month=MM/day=DD/rejects-RESOURCE-YYYYMMDD-NNNNN.parquet
                                                records that could not be normalised, with reasons
    raw_json/backups/sync_YYYYMMDD_HHMMSS.json.gz
                                                every record of a run as the API sent it (NDJSON:
                                                {"resource": ..., "record": {...}} per line)
    _state/RESOURCE/YYYY-MM-DD.parquet          the state as of each committed day (a re-run of a
                                                day diffs against the day before it)
    _commits/YYYY-MM-DD.json                    the commit manifest of a day: its run, every file
                                                with its size, the counts. Present = committed.
    _migrations/RUNID.json                      a migration from a SQLite store: its source, the
                                                source's checksums per table, every key it wrote
    raw/run=RUNID/...                           a pipeline run's working files (pipeline/steps.py)

Part names depend only on (resource, run date, chunk number), so writing a chunk again replaces
it and a re-run of a day leaves the same names. Partition directories use Hive's ``key=value``
form with string values, as Glue and Athena expect (year/month/day partition keys).

The snapshot files carry the record model's columns without ``raw_data`` (the raw records are in
the run's backup; leaving the JSON text out makes the Parquet ten times smaller than the JSON)
plus ``run_date``. Timestamps are ``timestamp[ms, tz=UTC]``, scores doubles, lists
``list<string>``: Athena-safe types, never inferred.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from functools import cache
from typing import TYPE_CHECKING

from vanta_vuln_stats.model.fields import RAW_COLUMN, Resource

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "COMMITS_PREFIX",
    "COUNT_NAMES",
    "HISTORY_TABLE",
    "MIGRATIONS_PREFIX",
    "REJECTS_TABLE",
    "SYNC_HISTORY_TABLE",
    "TABLES",
    "backup_key",
    "commit_key",
    "current_key",
    "history_schema",
    "is_run_id",
    "migration_key",
    "ordered_part",
    "part_key",
    "partition_day",
    "partition_prefix",
    "rejects_key",
    "rejects_schema",
    "run_id_of",
    "snapshot_part",
    "snapshot_schema",
    "state_key",
    "state_schema",
    "sync_history_key",
    "sync_history_schema",
]

HISTORY_TABLE = "vulnerability_history"
SYNC_HISTORY_TABLE = "sync_history"
REJECTS_TABLE = "rejects"
COMMITS_PREFIX = "_commits"
MIGRATIONS_PREFIX = "_migrations"
STATE_PREFIX = "_state"
BACKUP_PREFIX = "raw_json/backups"
# Every date-partitioned table (the three resources, then the derived ones).
TABLES: tuple[str, ...] = (
    *(resource.value for resource in Resource),
    HISTORY_TABLE,
    SYNC_HISTORY_TABLE,
    REJECTS_TABLE,
)
SEEN_COLUMNS = ("first_seen_at", "last_seen_at", "resolved_at")


def partition_prefix(table: str, run_date: date) -> str:
    return f"{table}/year={run_date:%Y}/month={run_date:%m}/day={run_date:%d}"


_PARTITION = re.compile(r"(?:^|/)year=(\d{4})/month=(\d{2})/day=(\d{2})/")


def partition_day(key: str) -> date | None:
    """The day of the date partition ``key`` lies in (``partition_prefix`` read back); None for
    a key outside the date partitions."""
    match = _PARTITION.search(key)
    if match is None:
        return None
    try:
        return date(*(int(value) for value in match.groups()))
    except ValueError:
        return None


def part_key(table: str, run_date: date, chunk: int) -> str:
    """A snapshot or history part: the same (table, run date, chunk) always gives this name."""
    return f"{partition_prefix(table, run_date)}/{table}-{run_date:%Y%m%d}-{chunk:05d}.parquet"


def rejects_key(resource: Resource, run_date: date, chunk: int) -> str:
    return (
        f"{partition_prefix(REJECTS_TABLE, run_date)}/"
        f"rejects-{resource.value}-{run_date:%Y%m%d}-{chunk:05d}.parquet"
    )


def sync_history_key(run_date: date, run_id: str) -> str:
    return f"{partition_prefix(SYNC_HISTORY_TABLE, run_date)}/{SYNC_HISTORY_TABLE}-{run_id}.parquet"


def current_key(resource: Resource) -> str:
    return f"{resource.value}/current/{resource.value}_latest.parquet"


def state_key(resource: Resource, run_date: date) -> str:
    return f"{STATE_PREFIX}/{resource.value}/{run_date.isoformat()}.parquet"


def commit_key(run_date: date) -> str:
    return f"{COMMITS_PREFIX}/{run_date.isoformat()}.json"


def migration_key(run_id: str) -> str:
    return f"{MIGRATIONS_PREFIX}/{run_id}.json"


def backup_key(run_date: date, started_at: datetime) -> str:
    return f"{BACKUP_PREFIX}/sync_{run_date:%Y%m%d}_{started_at:%H%M%S}.json.gz"


def run_id_of(started_at: datetime) -> str:
    """A run's id: its start, to the millisecond (``20261129T081502123Z``); sorts by time."""
    return f"{started_at:%Y%m%dT%H%M%S}{started_at.microsecond // 1000:03d}Z"


def is_run_id(text: str) -> bool:
    """Whether ``text`` has the form of a run id (and so is safe inside a key)."""
    return re.fullmatch(r"\d{8}T\d{9}Z", text) is not None


# --------------------------------------------------------------------------------------------
# Schemas


def _ts() -> pa.DataType:
    import pyarrow as pa

    return pa.timestamp("ms", tz="UTC")


@cache
def snapshot_schema(resource: Resource) -> pa.Schema:
    """A day's snapshot part: the model's columns without raw_data, then run_date."""
    import pyarrow as pa

    from vanta_vuln_stats.model.arrow import arrow_schema

    base = arrow_schema(resource)
    fields = [field for field in base if field.name != RAW_COLUMN]
    fields.append(pa.field("run_date", pa.date32(), nullable=False))
    return pa.schema(fields, metadata=base.metadata)


# Rows of a snapshot part are ordered by these columns (those the resource has): few-valued
# columns first give long runs that compress well (6% smaller parts, written faster) and row
# groups whose min/max statistics let a severity filter skip them.
PART_ORDER: tuple[str, ...] = ("severity", "integration_id", "asset_type", "name", "id")


def snapshot_part(resource: Resource | str, run_date: date, table: pa.Table) -> pa.Table:
    """A snapshot part of ``table`` (model columns, with or without raw_data): the snapshot
    schema's columns with ``run_date`` filled in, rows in ``PART_ORDER``."""
    schema = snapshot_schema(Resource(resource))
    return ordered_part(schema, run_date, [table[name] for name in schema.names[:-1]])


def ordered_part(schema: pa.Schema, run_date: date, columns: list[pa.ChunkedArray]) -> pa.Table:
    """The snapshot part (``schema``) of ``columns`` (its columns but run_date), rows in
    ``PART_ORDER``. The list is emptied as the columns are reordered: a column held nowhere
    else is freed as soon as its ordered copy is made, so ordering a part takes about one
    column more than the part instead of twice the part (chunks.normalize_part)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    names = schema.names[:-1]
    rows = len(columns[0]) if columns else 0
    keys = [(name, "ascending") for name in PART_ORDER if name in names]
    # The sort keys in one chunk each: sorting chunked columns took 2.5x as long.
    by = pa.table({name: columns[names.index(name)] for name, _ in keys}).combine_chunks()
    indices = pc.sort_indices(by, sort_keys=keys)
    del by
    ordered = []
    for position in range(len(columns)):
        column, columns[position] = columns[position], None
        ordered.append(column.take(indices))
        del column
    columns.clear()
    ordered.append(pa.repeat(pa.scalar(run_date, pa.date32()), rows))
    return pa.Table.from_arrays(ordered, schema=schema)


@cache
def state_schema(resource: Resource) -> pa.Schema:
    """The state as of a day: the model's columns without raw_data, then when each record was
    first and last seen and, for findings and assets no longer reported, when it was resolved."""
    import pyarrow as pa

    from vanta_vuln_stats.model.arrow import arrow_schema

    base = arrow_schema(resource)
    fields = [field for field in base if field.name != RAW_COLUMN]
    fields += [
        pa.field("first_seen_at", _ts(), nullable=False),
        pa.field("last_seen_at", _ts(), nullable=False),
        pa.field("resolved_at", _ts()),
        pa.field("last_seen_run_date", pa.date32(), nullable=False),
    ]
    return pa.schema(fields, metadata=base.metadata)


@cache
def history_schema() -> pa.Schema:
    """One change event of a vulnerability (the SQLite store's vulnerability_history rows)."""
    import pyarrow as pa

    return pa.schema(
        [
            pa.field("vuln_id", pa.string(), nullable=False),
            pa.field("change_type", pa.string(), nullable=False),
            pa.field("changed_fields", pa.list_(pa.string())),
            pa.field("snapshot_date", _ts(), nullable=False),
            pa.field("name", pa.string()),
            pa.field("severity", pa.string()),
            pa.field("is_deactivated", pa.bool_()),
            pa.field("deactivation_date", _ts()),
            pa.field("run_id", pa.string(), nullable=False),
            pa.field("run_date", pa.date32(), nullable=False),
        ]
    )


COUNT_NAMES = ("fetched", "written", "rejected", "discovered", "updated", "remediated")
COUNT_NAMES += ("reactivated", "resolved")


@cache
def sync_history_schema() -> pa.Schema:
    """One run: its times and status, and per resource what was fetched, written, rejected and
    how the records changed (``<resource>_<count>``)."""
    import pyarrow as pa

    fields = [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("run_date", pa.date32(), nullable=False),
        pa.field("sync_date", _ts(), nullable=False),
        pa.field("started_at", _ts(), nullable=False),
        pa.field("finished_at", _ts()),
        pa.field("duration_seconds", pa.float64()),
        pa.field("status", pa.string(), nullable=False),
        pa.field("message", pa.string()),
        pa.field("reconciled", pa.bool_()),
        pa.field("superseded_by", pa.string()),
        pa.field("base_run_date", pa.date32()),
        pa.field("bytes_written", pa.int64()),
    ]
    for resource in Resource:
        for name in COUNT_NAMES:
            fields.append(pa.field(f"{resource.value}_{name}", pa.int64(), nullable=False))
        fields.append(pa.field(f"{resource.value}_complete", pa.bool_(), nullable=False))
    return pa.schema(fields)


@cache
def rejects_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            pa.field("resource", pa.string(), nullable=False),
            pa.field("record_id", pa.string()),
            pa.field("reasons", pa.list_(pa.string()), nullable=False),
            pa.field("raw_data", pa.string(), metadata={"format": "json"}),
            pa.field("run_id", pa.string(), nullable=False),
            pa.field("run_date", pa.date32(), nullable=False),
            pa.field("rejected_at", _ts(), nullable=False),
        ]
    )
