"""The Glue tables over the lake, and the table and partition definitions Glue is given.

Every definition is generated: columns from the lake's Arrow schemas (types.py), locations from
the lake's layout (storage/lake/layout.py). Nothing here talks to AWS.

    vanta_vulnerabilities              vulnerabilities/year=YYYY/month=MM/day=DD/
    vanta_vulnerability_remediations   vulnerability_remediations/year=…/month=…/day=…/
    vanta_vulnerable_assets            vulnerable_assets/year=…/month=…/day=…/
    vanta_vulnerability_history        vulnerability_history/year=…/month=…/day=…/
    vanta_sync_history                 sync_history/year=…/month=…/day=…/

and, unpartitioned, one table per resource over its latest state (what the statistics read):

    vanta_vulnerabilities_current              vulnerabilities/current/
    vanta_vulnerability_remediations_current   vulnerability_remediations/current/
    vanta_vulnerable_assets_current            vulnerable_assets/current/

The five partitioned tables are external Parquet tables partitioned by the strings ``year``,
``month`` and ``day`` (the lake's Hive-style directories). With partition projection
(``projection_from=YEAR``) Athena computes the partitions from the table's properties instead of
reading registered ones.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from vanta_vuln_stats.catalog.types import glue_columns
from vanta_vuln_stats.errors import UserInputError
from vanta_vuln_stats.model.fields import Resource
from vanta_vuln_stats.storage.lake import layout

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "CATALOG_TABLES",
    "CURRENT_TABLES",
    "PARTITION_KEYS",
    "CatalogTable",
    "CurrentTable",
    "check_database_name",
    "current_table_input",
    "partition_date",
    "partition_input",
    "partition_values",
    "table_by_name",
    "table_input",
]

SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
INPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
PARTITION_KEYS: tuple[dict[str, str], ...] = (
    {"Name": "year", "Type": "string", "Comment": "run date year, YYYY"},
    {"Name": "month", "Type": "string", "Comment": "run date month, MM"},
    {"Name": "day", "Type": "string", "Comment": "run date day, DD"},
)
# Table parameters this package owns; others (set by Athena or by hand) are kept on update.
BASE_PARAMETERS = {"classification": "parquet", "EXTERNAL": "TRUE", "parquet.compression": "ZSTD"}
PROJECTION_ENABLED = "projection.enabled"
LOCATION_TEMPLATE = "storage.location.template"
# Athena and Glue: lower-case letters, digits and underscores (Glue folds names to lower case,
# Athena cannot query other characters without quoting), at most 255 characters.
DATABASE_NAME = re.compile(r"[a-z0-9_]{1,255}")


@dataclass(frozen=True)
class CatalogTable:
    """A Glue table over one date-partitioned table of the lake."""

    name: str  # the Glue table
    lake_table: str  # the lake's directory (layout.TABLES)
    description: str
    schema: Callable[[], pa.Schema]

    def location(self, lake_url: str) -> str:
        """``s3://bucket/prefix/<lake table>/`` for the lake at ``lake_url``."""
        return f"{lake_url.rstrip('/')}/{self.lake_table}/"

    def partition_location(self, lake_url: str, run_date: date) -> str:
        return f"{lake_url.rstrip('/')}/{layout.partition_prefix(self.lake_table, run_date)}/"

    def columns(self) -> list[dict[str, Any]]:
        return glue_columns(self.schema())


def _snapshot(resource: Resource) -> Callable[[], pa.Schema]:
    return lambda: layout.snapshot_schema(resource)


CATALOG_TABLES: tuple[CatalogTable, ...] = (
    CatalogTable(
        "vanta_vulnerabilities",
        Resource.VULNERABILITIES.value,
        "Vanta vulnerabilities: every finding the API reported, one snapshot per run date",
        _snapshot(Resource.VULNERABILITIES),
    ),
    CatalogTable(
        "vanta_vulnerability_remediations",
        Resource.VULNERABILITY_REMEDIATIONS.value,
        "Vanta vulnerability remediations, one snapshot per run date",
        _snapshot(Resource.VULNERABILITY_REMEDIATIONS),
    ),
    CatalogTable(
        "vanta_vulnerable_assets",
        Resource.VULNERABLE_ASSETS.value,
        "Vanta vulnerable assets, one snapshot per run date",
        _snapshot(Resource.VULNERABLE_ASSETS),
    ),
    CatalogTable(
        "vanta_vulnerability_history",
        layout.HISTORY_TABLE,
        "Changes of Vanta vulnerabilities (discovered, updated, remediated, reactivated, "
        "resolved), by the run date that saw them",
        layout.history_schema,
    ),
    CatalogTable(
        "vanta_sync_history",
        layout.SYNC_HISTORY_TABLE,
        "One row per sync run (failed and superseded runs included), by run date",
        layout.sync_history_schema,
    ),
)


def table_by_name(name: str) -> CatalogTable:
    for table in CATALOG_TABLES:
        if name in (table.name, table.lake_table):
            return table
    known = ", ".join(table.name for table in CATALOG_TABLES)
    raise ValueError(f"no catalog table {name!r} (known: {known})")


def check_database_name(name: str | None, *, source: str = "the database name") -> str:
    """A valid Glue/Athena database name, or UserInputError saying what is wrong with it."""
    if name is None or not str(name).strip():
        raise UserInputError(
            "No Glue database given: use --database NAME (or VANTA_GLUE_DATABASE)."
        )
    text = str(name).strip()
    if not DATABASE_NAME.fullmatch(text):
        raise UserInputError(
            f"The Glue database name {text!r} from {source} is invalid: use 1 to 255 lower-case "
            "letters, digits and underscores (what Athena can query without quoting)."
        )
    return text


def partition_values(run_date: date) -> list[str]:
    """The partition's values, as the lake's directories spell them: ["2026", "11", "01"]."""
    return [f"{run_date:%Y}", f"{run_date:%m}", f"{run_date:%d}"]


def partition_date(values: list[str] | tuple[str, ...]) -> date | None:
    """The run date of a partition's values; None when they are not a date (a partition
    registered by hand, say), so callers can report it instead of failing."""
    try:
        year, month, day = (int(value) for value in values)
        return date(year, month, day)
    except (TypeError, ValueError):
        return None


def projection_parameters(table: CatalogTable, lake_url: str, first_year: int) -> dict[str, str]:
    """Athena partition projection over the lake's year=/month=/day= directories.

    ``year`` is projected as a date with the format ``yyyy`` from ``first_year`` (the lake's
    first committed year) up to ``NOW``, so the table needs no yearly update; month and day are
    two-digit integers. Days that do not exist (02-31) are locations without files, which
    Athena reads as empty.
    """
    return {
        PROJECTION_ENABLED: "true",
        "projection.year.type": "date",
        "projection.year.format": "yyyy",
        "projection.year.range": f"{first_year},NOW",
        "projection.year.interval": "1",
        "projection.year.interval.unit": "YEARS",
        "projection.month.type": "integer",
        "projection.month.range": "1,12",
        "projection.month.digits": "2",
        "projection.day.type": "integer",
        "projection.day.range": "1,31",
        "projection.day.digits": "2",
        LOCATION_TEMPLATE: table.location(lake_url) + "year=${year}/month=${month}/day=${day}/",
    }


def is_projection_parameter(key: str) -> bool:
    return key.startswith("projection.") or key == LOCATION_TEMPLATE


def has_projection(parameters: Mapping[str, str] | None) -> bool:
    return str((parameters or {}).get(PROJECTION_ENABLED, "")).lower() == "true"


def storage_descriptor(table: CatalogTable | CurrentTable, location: str) -> dict[str, Any]:
    return {
        "Columns": table.columns(),
        "Location": location,
        "InputFormat": INPUT_FORMAT,
        "OutputFormat": OUTPUT_FORMAT,
        "Compressed": False,
        "SerdeInfo": {
            "SerializationLibrary": SERDE,
            "Parameters": {"serialization.format": "1"},
        },
        "StoredAsSubDirectories": False,
    }


def table_input(
    table: CatalogTable,
    lake_url: str,
    *,
    projection_from: int | None = None,
    keep_parameters: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The Glue ``TableInput`` of ``table`` over the lake at ``lake_url`` (``s3://…``).

    ``projection_from``: a year turns partition projection on, projecting years from it.
    ``keep_parameters``: the current table's parameters; those this package does not own (set
    by Athena or by hand) are carried over, projection ones are replaced as asked.
    """
    parameters = {
        key: value
        for key, value in (keep_parameters or {}).items()
        if not is_projection_parameter(key)
    }
    parameters.update(BASE_PARAMETERS)
    if projection_from is not None:
        parameters.update(projection_parameters(table, lake_url, projection_from))
    return {
        "Name": table.name,
        "Description": table.description,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": parameters,
        "PartitionKeys": [dict(key) for key in PARTITION_KEYS],
        "StorageDescriptor": storage_descriptor(table, table.location(lake_url)),
    }


def partition_input(table: CatalogTable, lake_url: str, run_date: date) -> dict[str, Any]:
    """The Glue ``PartitionInput`` of ``table`` for one run date."""
    return {
        "Values": partition_values(run_date),
        "StorageDescriptor": storage_descriptor(
            table, table.partition_location(lake_url, run_date)
        ),
        "Parameters": {"classification": "parquet"},
    }


# --------------------------------------------------------------------------------------------
# The latest state, unpartitioned


@dataclass(frozen=True)
class CurrentTable:
    """A Glue table over one resource's latest state (``RESOURCE/current/``): every record
    ever seen with first_seen_at, last_seen_at and resolved_at, one file, no partitions. The
    statistics read these, as the DuckDB engine reads the latest committed state."""

    name: str
    resource: Resource
    description: str

    @property
    def lake_table(self) -> str:
        return self.resource.value

    def schema(self) -> pa.Schema:
        return layout.state_schema(self.resource)

    def location(self, lake_url: str) -> str:
        """``s3://bucket/prefix/<resource>/current/``: the folder of ``layout.current_key``."""
        folder = layout.current_key(self.resource).rsplit("/", 1)[0]
        return f"{lake_url.rstrip('/')}/{folder}/"

    def columns(self) -> list[dict[str, Any]]:
        return glue_columns(self.schema())


CURRENT_TABLES: tuple[CurrentTable, ...] = tuple(
    CurrentTable(
        f"vanta_{resource.value}_current",
        resource,
        f"Vanta {resource.value.replace('_', ' ')}: the latest state (every record ever seen, "
        "with first_seen_at, last_seen_at and resolved_at)",
    )
    for resource in Resource
)


def current_table_input(
    table: CurrentTable, lake_url: str, *, keep_parameters: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The Glue ``TableInput`` of a latest-state table: no partition keys, no projection;
    parameters set by others are carried over as for the partitioned tables."""
    parameters = {
        key: value
        for key, value in (keep_parameters or {}).items()
        if not is_projection_parameter(key)
    }
    parameters.update(BASE_PARAMETERS)
    return {
        "Name": table.name,
        "Description": table.description,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": parameters,
        "PartitionKeys": [],
        "StorageDescriptor": storage_descriptor(table, table.location(lake_url)),
    }
