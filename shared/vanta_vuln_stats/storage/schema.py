"""The SQLite schema: tables generated from ``model/fields.py``, indexes, and versioned migrations.

The file's ``PRAGMA user_version`` says which migrations it has had. ``migrate`` applies the
missing ones in order, each in its own transaction. Version 0 is either a new empty file or a
database written by the earlier single-file tool; migration 1 turns both into the current shape
without losing a row.

After the migrations, ``reconcile`` adds any column that ``model/fields.py`` declares and the
file lacks (a field added to the model reaches existing databases without a hand-written
migration), filling it from ``raw_data`` with SQLite's JSON functions. Changes that are not
additive (renames, type changes, data rewrites) are new entries in ``MIGRATIONS``.

Tables (the statistics read these names; they are a contract):

    vulnerabilities             model columns + raw_data, last_updated, first_seen_at,
                                last_seen_at, last_seen_sync_id, resolved_at
    vulnerability_remediations  model columns + raw_data, last_updated, last_seen_sync_id,
                                integration_id, integration_type (legacy, always NULL)
    vulnerable_assets           model columns + raw_data, last_updated, first_seen_at,
                                last_seen_at, last_seen_sync_id, resolved_at
    vulnerability_history       one row per change of a vulnerability
    sync_history                one row per sync run
    sync_resources              one row per run and resource: fetched/stored/rejected/changes
    rejected_records            records that could not be normalised, with the reasons
    data_elements               earlier tool only: left untouched, no longer written (raw_data
                                holds the same information)

Value forms: timestamps are ISO text ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (text order = time order),
booleans 0/1, string lists a JSON array, nested objects compact JSON text.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from vanta_vuln_stats.model.fields import FIELDS, RAW_COLUMN, Field, Kind, Resource
from vanta_vuln_stats.model.records import parse_timestamp, timestamp_to_iso

__all__ = [
    "HISTORY_TABLE",
    "INDEXES",
    "ISO_FUNCTION",
    "MIGRATIONS",
    "REJECTED_TABLE",
    "RESOURCE_TABLES",
    "SCHEMA_VERSION",
    "SYNC_RESOURCES_TABLE",
    "SYNC_TABLE",
    "TABLES",
    "Column",
    "Migration",
    "create_indexes",
    "create_table_sql",
    "drop_indexes",
    "is_foreign",
    "is_legacy",
    "migrate",
    "reconcile",
    "register_functions",
    "table_names",
    "transaction",
]

HISTORY_TABLE = "vulnerability_history"
SYNC_TABLE = "sync_history"
SYNC_RESOURCES_TABLE = "sync_resources"
REJECTED_TABLE = "rejected_records"
RESOURCE_TABLES: dict[Resource, str] = {resource: resource.value for resource in Resource}

# Tables whose presence marks a file as ours or the earlier tool's (its first version had these).
_LEGACY_MARKERS = frozenset({"vulnerabilities", HISTORY_TABLE, SYNC_TABLE})

_SQL_TYPES: dict[Kind, str] = {
    "string": "TEXT",
    "timestamp": "TEXT",
    "json": "TEXT",
    "strings": "TEXT",
    "float": "REAL",
    # Stored as 0/1; declared BOOLEAN as the earlier tool did (NUMERIC affinity either way).
    "bool": "BOOLEAN",
}

# ISO text in the store's one form; a value matching it is never rewritten.
_ISO_GLOB = (
    "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z"
)
ISO_FUNCTION = "vvs_iso"


@dataclass(frozen=True, slots=True)
class Column:
    """A table column. ``constraints`` apply when the table is created; a column added to an
    existing table gets only its type (SQLite cannot add key or NOT NULL columns)."""

    name: str
    type: str
    constraints: str = ""

    @property
    def definition(self) -> str:
        return f"{self.name} {self.type} {self.constraints}".rstrip()


def _field_column(spec: Field) -> Column:
    if spec.name == "id":
        return Column("id", "TEXT", "PRIMARY KEY")
    return Column(spec.name, _SQL_TYPES[spec.kind])


def _resource_columns(resource: Resource, *extra: Column) -> tuple[Column, ...]:
    return (*(_field_column(spec) for spec in FIELDS[resource]), Column(RAW_COLUMN, "TEXT"), *extra)


_LAST_UPDATED = Column("last_updated", "TEXT")
_FIRST_SEEN = Column("first_seen_at", "TEXT")
_LAST_SEEN = Column("last_seen_at", "TEXT")
_LAST_SEEN_SYNC = Column("last_seen_sync_id", "INTEGER")
_RESOLVED = Column("resolved_at", "TEXT")
_COUNTER = "INTEGER NOT NULL DEFAULT 0"

TABLES: dict[str, tuple[Column, ...]] = {
    "vulnerabilities": _resource_columns(
        Resource.VULNERABILITIES,
        _LAST_UPDATED,
        _FIRST_SEEN,
        _LAST_SEEN,
        _LAST_SEEN_SYNC,
        _RESOLVED,
    ),
    "vulnerability_remediations": _resource_columns(
        Resource.VULNERABILITY_REMEDIATIONS,
        _LAST_UPDATED,
        _LAST_SEEN_SYNC,
        # The earlier tool's columns; the API has no such fields, so they stay NULL.
        Column("integration_id", "TEXT"),
        Column("integration_type", "TEXT"),
    ),
    "vulnerable_assets": _resource_columns(
        Resource.VULNERABLE_ASSETS,
        _LAST_UPDATED,
        _FIRST_SEEN,
        _LAST_SEEN,
        _LAST_SEEN_SYNC,
        _RESOLVED,
    ),
    # The earlier tool's columns first, in its order.
    HISTORY_TABLE: (
        Column("id", "INTEGER", "PRIMARY KEY AUTOINCREMENT"),
        Column("vuln_id", "TEXT", "NOT NULL"),
        Column("name", "TEXT"),
        Column("severity", "TEXT"),
        Column("is_deactivated", "BOOLEAN"),
        Column("deactivation_date", "TEXT"),
        Column("snapshot_date", "TEXT", "NOT NULL"),
        Column("change_type", "TEXT"),
        Column("raw_data", "TEXT"),
        Column("sync_id", "INTEGER"),
        Column("changed_fields", "TEXT"),
    ),
    SYNC_TABLE: (
        Column("id", "INTEGER", "PRIMARY KEY AUTOINCREMENT"),
        Column("sync_date", "TEXT", "NOT NULL"),
        Column("vulnerabilities_count", "INTEGER"),
        Column("new_count", "INTEGER"),
        Column("updated_count", "INTEGER"),
        Column("remediated_count", "INTEGER"),
        Column("status", "TEXT"),
        Column("started_at", "TEXT"),
        Column("finished_at", "TEXT"),
        Column("reactivated_count", "INTEGER"),
        Column("resolved_count", "INTEGER"),
        Column("remediations_count", "INTEGER"),
        Column("assets_count", "INTEGER"),
        Column("rejected_count", "INTEGER"),
        Column("message", "TEXT"),
    ),
    SYNC_RESOURCES_TABLE: (
        Column("sync_id", "INTEGER", "NOT NULL"),
        Column("resource", "TEXT", "NOT NULL"),
        Column("fetched", _COUNTER),
        Column("stored", _COUNTER),
        Column("rejected", _COUNTER),
        Column("complete", _COUNTER),
        Column("discovered", _COUNTER),
        Column("updated", _COUNTER),
        Column("remediated", _COUNTER),
        Column("reactivated", _COUNTER),
        Column("resolved", _COUNTER),
    ),
    REJECTED_TABLE: (
        Column("id", "INTEGER", "PRIMARY KEY AUTOINCREMENT"),
        Column("sync_id", "INTEGER"),
        Column("resource", "TEXT", "NOT NULL"),
        Column("record_id", "TEXT"),
        Column("reasons", "TEXT", "NOT NULL"),
        Column("raw_data", "TEXT"),
        Column("rejected_at", "TEXT", "NOT NULL"),
    ),
}

_TABLE_CONSTRAINTS: dict[str, str] = {SYNC_RESOURCES_TABLE: "PRIMARY KEY (sync_id, resource)"}

# (name, table, columns). The earlier tool's index names are kept so an upgraded file does not
# end up with two indexes on one column.
INDEXES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    # The earlier tool's index names, with the status column added: the statistics group by
    # asset and by name within the default scope (resolved_at IS NULL).
    ("idx_target_id", "vulnerabilities", ("target_id", "resolved_at")),
    ("idx_first_detected", "vulnerabilities", ("first_detected_date",)),
    ("idx_name", "vulnerabilities", ("name", "resolved_at")),
    # The same for packages: the top packages group in this index's order instead of sorting
    # every finding (about 1 s -> 0.3 s over a million findings).
    ("idx_package_identifier", "vulnerabilities", ("package_identifier", "resolved_at")),
    # Covers every column the finding statistics read, so they scan this narrow index instead
    # of the table, whose rows carry the raw JSON (11.8 s -> 2 s over a million findings). It
    # also serves the severity, integration and fixability filters: single-column indexes on
    # those few-valued columns would only slow every write (and tempt the planner into a
    # lookup per row).
    (
        "idx_vulnerabilities_statistics",
        "vulnerabilities",
        (
            "resolved_at",
            "severity",
            "integration_id",
            "is_deactivated",
            "is_fixable",
            "cvss_severity_score",
            "remediate_by_date",
            "first_detected_date",
            "target_id",
            "package_identifier",
            "name",
            "id",
        ),
    ),
    ("idx_vulnerabilities_deactivated_on", "vulnerabilities", ("deactivated_on_date",)),
    ("idx_remediations_vulnerability", "vulnerability_remediations", ("vulnerability_id",)),
    ("idx_remediations_severity", "vulnerability_remediations", ("severity",)),
    ("idx_remediations_remediation_date", "vulnerability_remediations", ("remediation_date",)),
    ("idx_remediations_detected_date", "vulnerability_remediations", ("detected_date",)),
    (
        "idx_remediations_statistics",
        "vulnerability_remediations",
        ("remediation_date", "severity", "detected_date", "sla_deadline_date"),
    ),
    ("idx_assets_status", "vulnerable_assets", ("resolved_at",)),
    ("idx_history_vuln_id", HISTORY_TABLE, ("vuln_id",)),
    ("idx_history_snapshot_date", HISTORY_TABLE, ("snapshot_date",)),
    ("idx_history_change_type", HISTORY_TABLE, ("change_type",)),
    (
        "idx_history_statistics",
        HISTORY_TABLE,
        ("snapshot_date", "severity", "change_type", "is_deactivated", "vuln_id"),
    ),
    ("idx_rejected_sync", REJECTED_TABLE, ("sync_id",)),
)


def create_table_sql(table: str) -> str:
    parts = [column.definition for column in TABLES[table]]
    if table in _TABLE_CONSTRAINTS:
        parts.append(_TABLE_CONSTRAINTS[table])
    body = ",\n    ".join(parts)
    return f"CREATE TABLE IF NOT EXISTS {table} (\n    {body}\n)"


# --------------------------------------------------------------------------------------------
# SQL functions and expressions


def _canonical_iso(value: object) -> object:
    # The normaliser's own parse and format, so a backfilled timestamp is exactly what a fresh
    # sync would write (SQLite's strftime rounds sub-millisecond digits; the model truncates).
    if not isinstance(value, str):
        return value
    try:
        return timestamp_to_iso(parse_timestamp(value))
    except ValueError:
        return value


def register_functions(conn: sqlite3.Connection) -> None:
    """SQL functions the migrations use; registered on every connection that migrates."""
    conn.create_function(ISO_FUNCTION, 1, _canonical_iso, deterministic=True)


def _iso_sql(expr: str) -> str:
    return (
        f"CASE WHEN ({expr}) IS NULL OR ({expr}) GLOB '{_ISO_GLOB}' THEN ({expr}) "
        f"ELSE {ISO_FUNCTION}({expr}) END"
    )


def _json_path(source: str) -> str:
    return "$." + source


def _from_raw_sql(spec: Field) -> str:
    """SQL computing a sourced column from ``raw_data`` as the normaliser would."""
    assert spec.source is not None
    path = _json_path(spec.source)
    value = f"json_extract({RAW_COLUMN}, '{path}')"
    kind = f"json_type({RAW_COLUMN}, '{path}')"
    if spec.kind == "string":
        text = f"CASE WHEN {kind} = 'text' THEN {value} END"
        return f"upper({text})" if spec.enum else text
    if spec.kind == "timestamp":
        return _iso_sql(f"CASE WHEN {kind} = 'text' THEN {value} END")
    if spec.kind == "float":
        return f"CASE WHEN {kind} IN ('integer', 'real') THEN CAST({value} AS REAL) END"
    if spec.kind == "bool":
        return f"CASE {kind} WHEN 'true' THEN 1 WHEN 'false' THEN 0 END"
    if spec.kind == "strings":
        return f"CASE WHEN {kind} = 'array' THEN {value} ELSE '[]' END"
    # json: the value as JSON text; NULL for a missing or null value.
    return (
        f"CASE {kind} WHEN 'object' THEN {value} WHEN 'array' THEN {value} "
        f"WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' "
        f"WHEN 'text' THEN json_quote({value}) WHEN 'integer' THEN CAST({value} AS TEXT) "
        f"WHEN 'real' THEN CAST({value} AS TEXT) END"
    )


def _canonical_sql(spec: Field) -> str | None:
    """SQL rewriting an existing (earlier tool's) column into the store's form, or None."""
    name = spec.name
    if spec.kind == "string" and spec.enum:
        return f"upper({name})"
    if spec.kind == "timestamp":
        return _iso_sql(name)
    if spec.kind == "bool":
        return (
            f"CASE WHEN {name} IS NULL THEN NULL "
            f"WHEN lower(CAST({name} AS TEXT)) IN ('1', 'true', '1.0') THEN 1 "
            f"WHEN lower(CAST({name} AS TEXT)) IN ('0', 'false', '0.0') THEN 0 ELSE {name} END"
        )
    if spec.kind == "strings":
        # The earlier tool wrote json.dumps(value), "null" for a missing list; the model has [].
        return (
            f"CASE WHEN {name} IS NULL OR {name} = 'null' THEN '[]' "
            f"WHEN json_valid({name}) THEN json({name}) ELSE {name} END"
        )
    if spec.kind == "json":
        return (
            f"CASE WHEN {name} IS NULL OR {name} = 'null' THEN NULL "
            f"WHEN json_valid({name}) THEN json({name}) ELSE {name} END"
        )
    return None


# Derived columns (no API source), computed as the normaliser does. A derived column without a
# recipe here is filled on the next sync that writes the row.
_DERIVED_SQL: dict[tuple[str, str], str] = {
    ("vulnerabilities", "is_deactivated"): (
        f"CASE WHEN json_valid({RAW_COLUMN}) THEN "
        f"coalesce(json_type({RAW_COLUMN}, '$.deactivateMetadata') <> 'null', 0) "
        "ELSE deactivate_metadata IS NOT NULL AND deactivate_metadata <> 'null' END"
    ),
    ("vulnerability_remediations", "is_remediated_on_time"): (
        "CASE WHEN remediation_date IS NOT NULL AND sla_deadline_date IS NOT NULL "
        "THEN remediation_date <= sla_deadline_date END"
    ),
    ("vulnerability_remediations", "status"): (
        "CASE WHEN remediation_date IS NULL THEN 'OPEN' ELSE 'REMEDIATED' END"
    ),
}


# --------------------------------------------------------------------------------------------
# Introspection


def table_names(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {row[0] for row in rows}


def _columns_of(conn: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]


def is_legacy(conn: sqlite3.Connection) -> bool:
    """A file at version 0 that already holds tables: the earlier tool's database."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    return version == 0 and bool(table_names(conn) & _LEGACY_MARKERS)


def is_foreign(conn: sqlite3.Connection) -> bool:
    """A file at version 0 with tables, none of them ours: another program's database."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    tables = {t for t in table_names(conn) if not t.startswith("sqlite_")}
    return version == 0 and bool(tables) and not (tables & _LEGACY_MARKERS)


# --------------------------------------------------------------------------------------------
# Reconcile: create what is missing, add missing columns, fill them


def reconcile(conn: sqlite3.Connection, *, canonicalize: bool = False) -> list[str]:
    """Bring tables, columns and indexes to the current definition; returns what was changed.

    Runs inside the caller's transaction. With ``canonicalize`` the existing model columns are
    also rewritten into the store's value forms and every derived column is recomputed (done
    once, when the earlier tool's database is upgraded).
    """
    changes: list[str] = []
    existing_tables = table_names(conn)
    for table in TABLES:
        if table not in existing_tables:
            conn.execute(create_table_sql(table))
            changes.append(f"created table {table}")
            continue
        present = set(_columns_of(conn, table))
        added = [column for column in TABLES[table] if column.name not in present]
        for column in added:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column.name} {column.type}")
        if added:
            changes.append(f"added {', '.join(c.name for c in added)} to {table}")
        resource = _resource_of(table)
        if resource is not None:
            _fill_resource_columns(
                conn, table, resource, {c.name for c in added}, canonicalize=canonicalize
            )
    create_indexes(conn)
    return changes


def create_indexes(conn: sqlite3.Connection) -> None:
    """Create every secondary index that is missing (a no-op when all exist)."""
    for name, table, columns in INDEXES:
        conn.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({', '.join(columns)})")


def drop_indexes(conn: sqlite3.Connection) -> None:
    """Drop the secondary indexes (primary keys stay), before a bulk load into empty tables."""
    for name, _, _ in INDEXES:
        conn.execute(f"DROP INDEX IF EXISTS {name}")


def _resource_of(table: str) -> Resource | None:
    for resource, name in RESOURCE_TABLES.items():
        if name == table:
            return resource
    return None


def _fill_resource_columns(
    conn: sqlite3.Connection,
    table: str,
    resource: Resource,
    added: set[str],
    *,
    canonicalize: bool,
) -> None:
    fields = FIELDS[resource]
    # Canonical forms first (derived columns read the rewritten timestamps), then new sourced
    # columns from raw_data, then derived columns.
    if canonicalize:
        rewrites = [
            f"{spec.name} = {sql}"
            for spec in fields
            if spec.name not in added and (sql := _canonical_sql(spec)) is not None
        ]
        if rewrites:
            conn.execute(f"UPDATE {table} SET {', '.join(rewrites)}")
    sourced = [spec for spec in fields if spec.name in added and spec.source is not None]
    if sourced:
        assignments = ", ".join(f"{spec.name} = {_from_raw_sql(spec)}" for spec in sourced)
        conn.execute(f"UPDATE {table} SET {assignments} WHERE json_valid({RAW_COLUMN})")
    derived = [
        spec.name
        for spec in fields
        if spec.source is None
        and (canonicalize or spec.name in added)
        and (table, spec.name) in _DERIVED_SQL
    ]
    if derived:
        assignments = ", ".join(f"{name} = {_DERIVED_SQL[(table, name)]}" for name in derived)
        conn.execute(f"UPDATE {table} SET {assignments}")


# --------------------------------------------------------------------------------------------
# Migrations


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    apply: Callable[[sqlite3.Connection], list[str]]


def _migrate_v1(conn: sqlite3.Connection) -> list[str]:
    """Baseline: create every table in a new file, or upgrade the earlier tool's database."""
    legacy = bool(table_names(conn) & _LEGACY_MARKERS)
    changes = reconcile(conn, canonicalize=legacy)
    if not legacy:
        return changes
    # The earlier tool wrote datetime.utcnow().isoformat() (no zone, microseconds): rewritten to
    # the store's one form so that every time column sorts and compares the same way.
    for table in ("vulnerabilities", "vulnerability_remediations"):
        conn.execute(f"UPDATE {table} SET last_updated = {_iso_sql('last_updated')}")
    conn.execute(
        f"UPDATE {HISTORY_TABLE} SET snapshot_date = {_iso_sql('snapshot_date')}, "
        f"deactivation_date = {_iso_sql('deactivation_date')}, severity = upper(severity), "
        "is_deactivated = CASE WHEN is_deactivated IS NULL THEN NULL "
        "WHEN lower(CAST(is_deactivated AS TEXT)) IN ('1', 'true') THEN 1 ELSE 0 END"
    )
    # First seen: the finding's earliest history event when the earlier tool recorded one (it
    # wrote a 'discovered' row per new finding), else its last write; last seen: its last write.
    conn.execute(
        "UPDATE vulnerabilities SET first_seen_at = coalesce(first_seen_at, "
        f"(SELECT min(h.snapshot_date) FROM {HISTORY_TABLE} h "
        "WHERE h.vuln_id = vulnerabilities.id), last_updated), "
        "last_seen_at = coalesce(last_seen_at, last_updated)"
    )
    conn.execute(
        f"UPDATE {SYNC_TABLE} SET sync_date = {_iso_sql('sync_date')}, "
        "status = coalesce(status, 'complete')"
    )
    conn.execute(
        f"UPDATE {SYNC_TABLE} SET started_at = coalesce(started_at, sync_date), "
        "finished_at = coalesce(finished_at, sync_date)"
    )
    changes.append("rewrote the earlier tool's times and values into the store's forms")
    return changes


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "baseline schema; upgrade of the earlier tool's database", _migrate_v1),
)
SCHEMA_VERSION = MIGRATIONS[-1].version


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply the migrations the file lacks, each in its own transaction, then reconcile.

    The connection must be in autocommit mode (``isolation_level=None``). Returns a line per
    change made. A file newer than ``SCHEMA_VERSION`` is the caller's to refuse beforehand.
    """
    register_functions(conn)
    changes: list[str] = []
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    for migration in MIGRATIONS:
        if migration.version <= version:
            continue
        with transaction(conn):
            applied = migration.apply(conn)
            conn.execute(f"PRAGMA user_version = {migration.version}")
        changes.append(f"schema {migration.version}: {migration.description}")
        changes.extend(f"  {line}" for line in applied)
    if not changes and _needs_reconcile(conn):
        with transaction(conn):
            changes.extend(reconcile(conn))
    return changes


def _needs_reconcile(conn: sqlite3.Connection) -> bool:
    tables = table_names(conn)
    for table, columns in TABLES.items():
        if table not in tables:
            return True
        if {c.name for c in columns} - set(_columns_of(conn, table)):
            return True
    indexes = {
        row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
    }
    return any(name not in indexes for name, _, _ in INDEXES)


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT on an autocommit connection; rolled back on any exception
    (KeyboardInterrupt included, so Ctrl-C never leaves half a batch)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if conn.in_transaction:  # SQLite may already have rolled back (disk full, I/O error)
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
