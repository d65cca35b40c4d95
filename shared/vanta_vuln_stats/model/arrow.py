"""Arrow schemas generated from the field definitions, and normalised rows -> Arrow tables.

The schema is the one the Parquet files are written with and, later, the one the Glue tables
are generated from, so files and catalog cannot drift apart. Types are Athena-safe:

    string     string
    timestamp  timestamp[ms, tz=UTC] (never ns, never INT96)
    float      double
    bool       bool
    strings    list<string>         (Athena array<string>)
    json       string, field metadata {"format": "json"}
    raw_data   string, field metadata {"format": "json"}

Required fields are not nullable. Every field's metadata names the API key it comes from
(``source``) or marks it ``derived``.

pyarrow is imported inside the functions: the fetch and notify Lambdas import this package
without the Parquet layer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from vanta_vuln_stats.model.fields import FIELDS, RAW_COLUMN, Field, Kind, Resource

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["arrow_schema", "rows_to_table"]

# Schema-level metadata key naming the resource, so a Parquet file says what it holds.
RESOURCE_METADATA_KEY = "vanta_vuln_stats.resource"


def _as_resource(resource: Resource | str) -> Resource:
    try:
        return Resource(resource)
    except ValueError:
        expected = ", ".join(r.value for r in Resource)
        raise ValueError(f"unknown resource {resource!r} (expected one of {expected})") from None


def _arrow_type(kind: Kind) -> pa.DataType:
    import pyarrow as pa

    if kind == "string" or kind == "json":
        return pa.string()
    if kind == "timestamp":
        return pa.timestamp("ms", tz="UTC")
    if kind == "float":
        return pa.float64()
    if kind == "bool":
        return pa.bool_()
    if kind == "strings":
        return pa.list_(pa.string())
    raise ValueError(f"no Arrow type for field kind {kind!r}")


def _arrow_field(spec: Field) -> pa.Field:
    import pyarrow as pa

    metadata = {"source": spec.source} if spec.source is not None else {"derived": "true"}
    if spec.kind == "json":
        metadata["format"] = "json"
    return pa.field(
        spec.name, _arrow_type(spec.kind), nullable=not spec.required, metadata=metadata
    )


@cache
def _schema(resource: Resource) -> pa.Schema:
    import pyarrow as pa

    fields = [_arrow_field(spec) for spec in FIELDS[resource]]
    fields.append(pa.field(RAW_COLUMN, pa.string(), nullable=False, metadata={"format": "json"}))
    return pa.schema(fields, metadata={RESOURCE_METADATA_KEY: resource.value})


def arrow_schema(resource: Resource | str) -> pa.Schema:
    """The Arrow schema of a resource's rows: one field per column, in column order."""
    return _schema(_as_resource(resource))


def rows_to_table(resource: Resource | str, rows: Iterable[Mapping[str, Any]]) -> pa.Table:
    """Build an Arrow table from normalised rows (as ``normalize`` returns them).

    Columnar: one Python list per column, converted by Arrow in one call each. Rows that do not
    come from ``normalize`` (a missing column, a wrong type, a null in a required column) are a
    programming error and raise ValueError naming the column.
    """
    import pyarrow as pa

    schema = _schema(_as_resource(resource))
    if not isinstance(rows, Sequence):
        rows = list(rows)
    arrays = []
    for spec in schema:
        name = spec.name
        try:
            values = [row[name] for row in rows]
        except KeyError:
            message = f"a row has no column {name!r}; rows must come from normalize()"
            raise ValueError(message) from None
        try:
            array = pa.array(values, type=spec.type)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise ValueError(f"column {name!r} does not fit {spec.type}: {exc}") from exc
        if not spec.nullable and array.null_count:
            raise ValueError(f"column {name!r} is required but has {array.null_count} null(s)")
        arrays.append(array)
    return pa.Table.from_arrays(arrays, schema=schema)
