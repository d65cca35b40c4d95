"""The Arrow -> Athena type map: every type a lake schema uses has an Athena type, anything
else is refused by name, and column comments come from the field metadata."""

from __future__ import annotations

import pyarrow as pa
import pytest

from vanta_vuln_stats.catalog.types import (
    ATHENA_TYPES,
    UnmappedTypeError,
    arrow_type_name,
    athena_type,
    glue_columns,
)
from vanta_vuln_stats.model.fields import Resource
from vanta_vuln_stats.storage.lake import layout


def every_lake_schema() -> list[pa.Schema]:
    schemas = [layout.snapshot_schema(r) for r in Resource]
    schemas += [layout.state_schema(r) for r in Resource]
    schemas += [layout.history_schema(), layout.sync_history_schema(), layout.rejects_schema()]
    return schemas


def test_every_arrow_type_of_every_lake_schema_has_an_athena_type() -> None:
    used = {arrow_type_name(field.type) for schema in every_lake_schema() for field in schema}
    assert used <= ATHENA_TYPES.keys()
    for schema in every_lake_schema():
        for field in schema:
            assert athena_type(field) == ATHENA_TYPES[arrow_type_name(field.type)]
    # ...and the map holds nothing the lake does not use (no type mapped "just in case").
    assert used == ATHENA_TYPES.keys()


@pytest.mark.parametrize(
    ("arrow", "athena"),
    [
        (pa.string(), "string"),
        (pa.timestamp("ms", tz="UTC"), "timestamp"),
        (pa.float64(), "double"),
        (pa.bool_(), "boolean"),
        (pa.list_(pa.string()), "array<string>"),
        # A list read back from Parquet may name its item "element": the same Athena type.
        (pa.list_(pa.field("element", pa.string())), "array<string>"),
        (pa.date32(), "date"),
        (pa.int64(), "bigint"),
    ],
)
def test_each_lake_type_maps_to_its_athena_type(arrow: pa.DataType, athena: str) -> None:
    assert athena_type(pa.field("c", arrow)) == athena


@pytest.mark.parametrize(
    "arrow",
    [
        pa.int32(),
        pa.float32(),
        pa.large_string(),
        pa.timestamp("ns", tz="UTC"),  # Athena misreads nanoseconds
        pa.timestamp("ms"),  # no time zone: not the lake's instant type
        pa.timestamp("us", tz="UTC"),
        pa.date64(),
        pa.list_(pa.int64()),
        pa.large_list(pa.string()),
        pa.struct([("a", pa.string())]),
        pa.decimal128(10, 2),
        pa.binary(),
    ],
)
def test_an_unmapped_type_is_an_error_naming_the_column(arrow: pa.DataType) -> None:
    with pytest.raises(UnmappedTypeError, match="'risk_score'") as caught:
        athena_type(pa.field("risk_score", arrow))
    assert str(arrow) in str(caught.value)
    schema = pa.schema([pa.field("id", pa.string()), pa.field("risk_score", arrow)])
    with pytest.raises(UnmappedTypeError, match="'risk_score'"):
        glue_columns(schema)


def test_glue_columns_keep_order_and_say_where_each_column_comes_from() -> None:
    schema = layout.snapshot_schema(Resource.VULNERABILITIES)
    columns = glue_columns(schema)
    assert [c["Name"] for c in columns] == schema.names
    by_name = {c["Name"]: c for c in columns}
    assert by_name["first_detected_date"] == {
        "Name": "first_detected_date",
        "Type": "timestamp",
        "Comment": "API firstDetectedDate",
    }
    assert by_name["deactivate_metadata"]["Comment"] == "API deactivateMetadata, JSON text"
    assert by_name["is_deactivated"]["Comment"] == "derived"
    assert by_name["related_vulns"]["Type"] == "array<string>"
    # Columns without metadata get no comment rather than an invented one.
    assert by_name["run_date"] == {"Name": "run_date", "Type": "date"}
    assert all(len(c.get("Comment", "")) <= 255 for c in columns)
