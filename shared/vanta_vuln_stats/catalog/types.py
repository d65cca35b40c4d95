"""Arrow types to Athena (Hive DDL) types: the one table the Glue columns are generated from.

The lake writes every file from an explicit Arrow schema (storage/lake/layout.py), and the Glue
tables are generated from the same schemas through ``ATHENA_TYPES``, so the catalog cannot
describe a column differently from the files. A type missing from the table is an error that
names the column, never a guess: a new Arrow type in a lake schema must be mapped here on
purpose (and be one Athena reads from Parquet correctly).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vanta_vuln_stats.errors import VantaVulnStatsError

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["ATHENA_TYPES", "UnmappedTypeError", "arrow_type_name", "athena_type", "glue_columns"]

# Arrow type, as pyarrow prints it (list items unnamed) -> Athena type. Timestamps must be
# milliseconds in UTC: Parquet TIMESTAMP(isAdjustedToUTC, MILLIS) is what Athena reads as
# timestamp; nanoseconds or INT96 would be misread, so they are not in the table.
ATHENA_TYPES: dict[str, str] = {
    "string": "string",
    "timestamp[ms, tz=UTC]": "timestamp",
    "double": "double",
    "bool": "boolean",
    "list<string>": "array<string>",
    "date32[day]": "date",
    "int64": "bigint",
}

# Glue refuses column comments longer than this.
MAX_COMMENT = 255


class UnmappedTypeError(VantaVulnStatsError):
    """A lake schema has a column whose Arrow type has no Athena type in ``ATHENA_TYPES``."""


def arrow_type_name(data_type: pa.DataType) -> str:
    """The key of ``data_type`` in ``ATHENA_TYPES``: pyarrow's spelling, with list items
    unnamed (a list read back from Parquet may call its item ``element`` instead of ``item``)."""
    import pyarrow as pa

    if pa.types.is_list(data_type):
        return f"list<{arrow_type_name(data_type.value_type)}>"
    return str(data_type)


def athena_type(field: pa.Field) -> str:
    """The Athena type of a column; UnmappedTypeError naming the column when there is none."""
    name = arrow_type_name(field.type)
    try:
        return ATHENA_TYPES[name]
    except KeyError:
        raise UnmappedTypeError(
            f"Column {field.name!r} has the Arrow type {field.type}, which has no Athena type "
            f"in the catalog's type map (mapped: {', '.join(ATHENA_TYPES)})."
        ) from None


def column_comment(field: pa.Field) -> str | None:
    """Where a column comes from, from its field metadata: ``API firstDetectedDate``,
    ``derived``, plus ``JSON text`` for JSON columns; None when the field says nothing."""
    metadata = {key.decode(): value.decode() for key, value in (field.metadata or {}).items()}
    parts = []
    if "source" in metadata:
        parts.append(f"API {metadata['source']}")
    elif metadata.get("derived") == "true":
        parts.append("derived")
    if metadata.get("format") == "json":
        parts.append("JSON text")
    return ", ".join(parts)[:MAX_COMMENT] if parts else None


def glue_columns(schema: pa.Schema) -> list[dict[str, Any]]:
    """Glue ``Column`` entries (Name, Type, Comment where known) for every field, in order."""
    columns = []
    for field in schema:
        column: dict[str, Any] = {"Name": field.name, "Type": athena_type(field)}
        comment = column_comment(field)
        if comment:
            column["Comment"] = comment
        columns.append(column)
    return columns
