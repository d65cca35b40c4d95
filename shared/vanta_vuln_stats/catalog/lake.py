"""The Glue catalog of a lake: what it should hold, making it so, and what differs.

What the catalog should hold comes from the lake alone: the five tables from the lake's schemas
(tables.py), and one partition per table and *committed* day, read from the commit manifests
(``LakeStorage.manifests()``): a day's partition is registered only when its manifest lists
files of that table (sync_history: the run's row). Days being written, re-run or abandoned have
no manifest, so the catalog never points Athena at a half-written day that it did not already
show (see the guide's note on re-runs).

- ``sync_catalog``: create or update the database and tables, register every committed
  partition that is missing (also days that landed outside the workflow, e.g. a migration) and,
  when asked, remove registered partitions that no committed day backs. Idempotent: a second
  run changes nothing and reports ``changed == False``.
- ``register_day``: the partitions of one committed day (the pipeline's catalog step).
- ``unregister_day``: remove a day's partitions (a rolled-back day).
- ``catalog_status``: tables, column drift, partitions registered vs committed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

from vanta_vuln_stats.catalog.glue import BatchResult, EntityNotFound, GlueCatalog
from vanta_vuln_stats.catalog.tables import (
    CATALOG_TABLES,
    CURRENT_TABLES,
    CatalogTable,
    current_table_input,
    has_projection,
    is_projection_parameter,
    partition_date,
    partition_input,
    partition_values,
    table_input,
)
from vanta_vuln_stats.errors import CatalogError, UserInputError
from vanta_vuln_stats.storage.lake import LakeLocation, LakeStorage, Manifest, layout

__all__ = [
    "CatalogStatus",
    "CatalogSync",
    "ColumnDrift",
    "TableStatus",
    "TableSync",
    "catalog_status",
    "committed_partitions",
    "open_lake",
    "partition_days",
    "register_day",
    "sync_catalog",
    "unregister_day",
]

DATABASE_DESCRIPTION = "Vanta vulnerability data: the vanta-vuln-stats Parquet lake"


def open_lake(uri: str) -> LakeStorage:
    """The lake at ``uri`` for cataloguing: it must be on S3 and its bucket must exist."""
    location = LakeLocation.parse(uri)
    if not location.is_s3:
        raise UserInputError(
            f"The Glue catalog needs a lake on S3 (s3://bucket/prefix); {uri} is a local "
            "directory, which Athena cannot read."
        )
    location.check_writable()  # on S3: the bucket exists and this identity can see it
    return LakeStorage(location, workers=1)


def lake_url(lake: LakeStorage) -> str:
    return lake.location.uri


def _manifests(lake: LakeStorage) -> dict[date, Manifest]:
    try:
        return lake.manifests()
    except OSError as exc:  # S3 refused or failed (access denied, throttled beyond retries)
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CatalogError(
            f"Reading the commit manifests of the lake {lake.location.uri} failed: {reason}"
        ) from exc


# --------------------------------------------------------------------------------------------
# What the lake says the catalog should hold


def partition_days(table: CatalogTable, manifest: Manifest) -> set[date]:
    """The days whose partitions of ``table`` a commit has files in: a sync's commit, its own
    day; a migration's, also every earlier day of the history and sync_history it wrote."""
    keys = manifest.keys(table.lake_table)
    if table.lake_table == layout.SYNC_HISTORY_TABLE and not keys and manifest.sync_history:
        keys = [manifest.sync_history]  # a sync's commit names its one row's file
    # A key outside the date partitions counts for the commit's own day.
    return {layout.partition_day(key) or manifest.run_date for key in keys}


def committed_partitions(manifests: Mapping[date, Manifest]) -> dict[str, set[date]]:
    """Per Glue table, the days that committed files of it are under."""
    return {
        table.name: {
            day for manifest in manifests.values() for day in partition_days(table, manifest)
        }
        for table in CATALOG_TABLES
    }


def _first_year(manifests: Mapping[date, Manifest]) -> int:
    return min(manifests).year if manifests else datetime.now(UTC).year


def _label(values: Iterable[str]) -> str:
    values = tuple(values)
    day = partition_date(values)
    return day.isoformat() if day is not None else "/".join(values)


# --------------------------------------------------------------------------------------------
# Differences between a Glue table and its definition


@dataclass(frozen=True)
class ColumnDrift:
    """A column the catalog and the lake's schema disagree on (None: absent on that side)."""

    name: str
    catalog: str | None
    schema: str | None

    def describe(self) -> str:
        if self.catalog is None:
            return f"column {self.name} ({self.schema}) is missing from the catalog"
        if self.schema is None:
            return f"column {self.name} ({self.catalog}) is in the catalog, not in the files"
        return f"column {self.name} is {self.catalog} in the catalog, {self.schema} in the files"


def column_drift(current: list[dict[str, Any]], desired: list[dict[str, Any]]) -> list[ColumnDrift]:
    have = {c["Name"]: c.get("Type") for c in current}
    want = {c["Name"]: c["Type"] for c in desired}
    drift = [
        ColumnDrift(name, have.get(name), want.get(name))
        for name in [*want, *(n for n in have if n not in want)]
        if have.get(name) != want.get(name)
    ]
    return drift


def _columns(table: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list((table.get("StorageDescriptor") or {}).get("Columns") or [])


def _storage(table: Mapping[str, Any]) -> tuple[Any, ...]:
    sd = table.get("StorageDescriptor") or {}
    serde = sd.get("SerdeInfo") or {}
    return (
        sd.get("Location"),
        sd.get("InputFormat"),
        sd.get("OutputFormat"),
        serde.get("SerializationLibrary"),
    )


def definition_differences(current: Mapping[str, Any], desired: Mapping[str, Any]) -> list[str]:
    """What differs between a Glue table and its desired ``TableInput``, column types aside
    (``column_drift``): names of the parts, empty when they agree."""
    reasons = []
    have_columns = [(c["Name"], c.get("Comment")) for c in _columns(current)]
    want_columns = [(c["Name"], c.get("Comment")) for c in _columns(desired)]
    same_names = {n for n, _ in have_columns} == {n for n, _ in want_columns}
    if same_names and have_columns != want_columns:
        reasons.append("column order or comments")
    keys = [(k["Name"], k.get("Type")) for k in current.get("PartitionKeys") or []]
    if keys != [(k["Name"], k["Type"]) for k in desired["PartitionKeys"]]:
        reasons.append("partition keys")
    if _storage(current) != _storage(desired):
        reasons.append("location or storage format")
    if current.get("TableType") != desired["TableType"]:
        reasons.append("table type")
    if (current.get("Description") or "") != desired["Description"]:
        reasons.append("description")
    have = current.get("Parameters") or {}
    want = desired["Parameters"]
    if has_projection(have) != has_projection(want):
        reasons.append("partition projection " + ("on" if has_projection(want) else "off"))
    elif any(have.get(k) != v for k, v in want.items()) or any(
        is_projection_parameter(k) and k not in want for k in have
    ):
        reasons.append("table parameters")
    return reasons


def _desired(
    table: CatalogTable,
    url: str,
    current: Mapping[str, Any] | None,
    projection: bool | None,
    first_year: int,
) -> dict[str, Any]:
    """The TableInput to hold; ``projection`` None keeps the table's current mode."""
    parameters = (current or {}).get("Parameters") or {}
    projected = has_projection(parameters) if projection is None else projection
    return table_input(
        table,
        url,
        projection_from=first_year if projected else None,
        keep_parameters=parameters,
    )


# --------------------------------------------------------------------------------------------
# Sync


@dataclass
class TableSync:
    """What ``sync_catalog`` did to one table."""

    name: str
    action: Literal["created", "updated", "unchanged"]
    reasons: list[str] = field(default_factory=list)
    projection: bool = False
    added: list[date] = field(default_factory=list)  # partitions registered now
    registered: int = 0  # committed partitions registered before
    extra: list[str] = field(default_factory=list)  # registered, not committed (kept)
    removed: list[str] = field(default_factory=list)  # registered, not committed (removed)
    unpartitioned: bool = False  # a latest-state table: no partitions

    @property
    def changed(self) -> bool:
        return self.action != "unchanged" or bool(self.added) or bool(self.removed)


@dataclass
class CatalogSync:
    """What ``sync_catalog`` did."""

    database: str
    lake: str
    database_created: bool
    committed_days: list[date]
    tables: list[TableSync]

    @property
    def changed(self) -> bool:
        return self.database_created or any(table.changed for table in self.tables)


def sync_catalog(
    catalog: GlueCatalog,
    lake: LakeStorage,
    database: str,
    *,
    projection: bool | None = None,
    prune: bool = False,
) -> CatalogSync:
    """Make the database hold the lake's five tables and every committed partition.

    ``projection``: True turns partition projection on for every table, False off, None keeps
    each table's mode (off for new tables). Projected tables get no partitions registered.
    ``prune``: remove registered partitions that no committed day backs (else only reported).
    """
    url = lake_url(lake)
    manifests = _manifests(lake)
    committed = committed_partitions(manifests)
    first_year = _first_year(manifests)
    created_db = False
    if catalog.get_database(database) is None:
        created_db = catalog.create_database(database, DATABASE_DESCRIPTION)
    results = []
    for table in CATALOG_TABLES:
        current = catalog.get_table(database, table.name)
        desired = _desired(table, url, current, projection, first_year)
        if current is None:
            catalog.create_table(database, desired)
            result = TableSync(table.name, "created")
        else:
            reasons = [d.describe() for d in column_drift(_columns(current), _columns(desired))]
            reasons += definition_differences(current, desired)
            if reasons:
                catalog.update_table(database, desired)
                result = TableSync(table.name, "updated", reasons)
            else:
                result = TableSync(table.name, "unchanged")
        result.projection = has_projection(desired["Parameters"])
        if not result.projection:
            registered = (
                set() if current is None else catalog.partition_values(database, table.name)
            )
            _sync_partitions(
                catalog,
                database,
                table,
                url,
                committed[table.name],
                registered,
                result,
                prune=prune,
            )
        results.append(result)
    for latest in CURRENT_TABLES:
        current = catalog.get_table(database, latest.name)
        parameters = (current or {}).get("Parameters") or {}
        desired = current_table_input(latest, url, keep_parameters=parameters)
        if current is None:
            catalog.create_table(database, desired)
            result = TableSync(latest.name, "created", unpartitioned=True)
        else:
            reasons = [d.describe() for d in column_drift(_columns(current), _columns(desired))]
            reasons += definition_differences(current, desired)
            if reasons:
                catalog.update_table(database, desired)
            action: Literal["updated", "unchanged"] = "updated" if reasons else "unchanged"
            result = TableSync(latest.name, action, reasons, unpartitioned=True)
        results.append(result)
    return CatalogSync(database, url, created_db, sorted(manifests), results)


def _sync_partitions(
    catalog: GlueCatalog,
    database: str,
    table: CatalogTable,
    url: str,
    committed: set[date],
    registered: set[tuple[str, ...]],
    result: TableSync,
    *,
    prune: bool,
) -> None:
    wanted = {tuple(partition_values(day)): day for day in committed}
    missing = sorted(day for values, day in wanted.items() if values not in registered)
    result.registered = len(committed) - len(missing)
    if missing:
        catalog.create_partitions(
            database, table.name, [partition_input(table, url, day) for day in missing]
        )
        result.added = missing
    extra = sorted(values for values in registered if values not in wanted)
    if extra and prune:
        catalog.delete_partitions(database, table.name, extra)
        result.removed = [_label(values) for values in extra]
    else:
        result.extra = [_label(values) for values in extra]


# --------------------------------------------------------------------------------------------
# One day


def register_day(
    catalog: GlueCatalog, lake: LakeStorage | str, database: str, manifest: Manifest
) -> dict[str, BatchResult]:
    """Register the partitions of one committed day in every table that has files for it
    (for a migration's commit, the partitions of every day it wrote).

    Safe to repeat: a partition already registered is left as it is. The tables must exist
    (``sync_catalog`` creates them)."""
    url = lake if isinstance(lake, str) else lake_url(lake)
    results = {}
    for table in CATALOG_TABLES:
        days = partition_days(table, manifest)
        if not days:
            continue
        try:
            results[table.name] = catalog.create_partitions(
                database, table.name, [partition_input(table, url, day) for day in sorted(days)]
            )
        except EntityNotFound as exc:
            raise CatalogError(
                f"{exc} Create the tables first: vanta-vuln-stats catalog sync."
            ) from None
    return results


def unregister_day(
    catalog: GlueCatalog,
    database: str,
    run_date: date,
    tables: Iterable[CatalogTable] = CATALOG_TABLES,
) -> dict[str, BatchResult]:
    """Remove the day's partition from every table (a rolled-back day); absent ones and
    absent tables are fine."""
    results = {}
    values = [partition_values(run_date)]
    for table in tables:
        try:
            results[table.name] = catalog.delete_partitions(database, table.name, values)
        except EntityNotFound:
            results[table.name] = BatchResult(0, 1)
    return results


# --------------------------------------------------------------------------------------------
# Status


@dataclass
class TableStatus:
    name: str
    lake_table: str
    exists: bool
    projection: bool = False
    columns: list[ColumnDrift] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)
    registered: int = 0
    committed: int = 0
    missing: list[date] = field(default_factory=list)  # committed, not registered
    extra: list[str] = field(default_factory=list)  # registered, not committed
    unpartitioned: bool = False  # a latest-state table: no partitions

    @property
    def in_sync(self) -> bool:
        return (
            self.exists
            and not self.columns
            and not self.differences
            and not self.missing
            and not self.extra
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "lake_table": self.lake_table,
            "exists": self.exists,
            "in_sync": self.in_sync,
            "projection": self.projection,
            "unpartitioned": self.unpartitioned,
            "column_drift": [
                {"name": d.name, "catalog": d.catalog, "schema": d.schema} for d in self.columns
            ],
            "differences": self.differences,
            "partitions": {
                "registered": self.registered,
                "committed": self.committed,
                "missing": [day.isoformat() for day in self.missing],
                "extra": self.extra,
            },
        }


@dataclass
class CatalogStatus:
    database: str
    lake: str
    database_exists: bool
    committed_days: list[date]
    tables: list[TableStatus]

    @property
    def in_sync(self) -> bool:
        return self.database_exists and all(table.in_sync for table in self.tables)

    def to_dict(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "lake": self.lake,
            "database_exists": self.database_exists,
            "in_sync": self.in_sync,
            "committed_days": [day.isoformat() for day in self.committed_days],
            "tables": [table.to_dict() for table in self.tables],
        }


def catalog_status(catalog: GlueCatalog, lake: LakeStorage, database: str) -> CatalogStatus:
    """Compare the database with the lake: tables, column drift, partitions registered vs
    committed. Reads only; projected tables need no registered partitions."""
    url = lake_url(lake)
    manifests = _manifests(lake)
    committed = committed_partitions(manifests)
    first_year = _first_year(manifests)
    exists = catalog.get_database(database) is not None
    tables = []
    for table in CATALOG_TABLES:
        days = committed[table.name]
        current = catalog.get_table(database, table.name) if exists else None
        if current is None:
            tables.append(
                TableStatus(
                    table.name, table.lake_table, False, committed=len(days), missing=sorted(days)
                )
            )
            continue
        desired = _desired(table, url, current, None, first_year)
        status = TableStatus(
            table.name,
            table.lake_table,
            True,
            projection=has_projection(desired["Parameters"]),
            columns=column_drift(_columns(current), _columns(desired)),
            differences=definition_differences(current, desired),
            committed=len(days),
        )
        registered = catalog.partition_values(database, table.name)
        wanted = {tuple(partition_values(day)): day for day in days}
        status.registered = len(registered)
        if not status.projection:
            status.missing = sorted(d for v, d in wanted.items() if v not in registered)
            status.extra = [_label(v) for v in sorted(registered) if v not in wanted]
        tables.append(status)
    for latest in CURRENT_TABLES:
        current = catalog.get_table(database, latest.name) if exists else None
        if current is None:
            tables.append(TableStatus(latest.name, latest.lake_table, False, unpartitioned=True))
            continue
        desired = current_table_input(latest, url, keep_parameters=current.get("Parameters"))
        tables.append(
            TableStatus(
                latest.name,
                latest.lake_table,
                True,
                columns=column_drift(_columns(current), _columns(desired)),
                differences=definition_differences(current, desired),
                unpartitioned=True,
            )
        )
    return CatalogStatus(database, url, exists, sorted(manifests), tables)
