"""Arrow schemas generated from the fields, and tables built from normalised rows."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.unit.test_model_records import DELETE, asset, remediation, vulnerability
from vanta_vuln_stats.model import (
    FIELDS,
    RAW_COLUMN,
    Resource,
    arrow_schema,
    column_names,
    normalize_batch,
    rows_to_table,
)

EXPECTED_TYPES = {
    "string": pa.string(),
    "timestamp": pa.timestamp("ms", tz="UTC"),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "strings": pa.list_(pa.string()),
    "json": pa.string(),
}


def _rows(resource: Resource) -> list[dict[str, Any]]:
    """Normalised rows with both set and null optional values."""
    if resource is Resource.VULNERABILITIES:
        raws = [
            vulnerability(id="v1", fixedVersion="10.6.2"),
            vulnerability(
                id="v2",
                firstDetectedDate="2024-10-26T07:26:33.483Z",
                deactivateMetadata=None,
                cvssSeverityScore=None,
                relatedVulns=[],
                description=DELETE,
                vulnerabilityType="grouped",
            ),
            vulnerability(id="v3", name="naïve – “quoted”", severity="low"),
        ]
    elif resource is Resource.VULNERABILITY_REMEDIATIONS:
        raws = [
            remediation(id="r1"),
            remediation(id="r2", remediationDate=None, slaDeadlineDate=None, severity="HIGH"),
        ]
    else:
        raws = [
            asset(id="a1"),
            asset(id="a2", scanners=None, imageScanTag=None, assetType="workstation"),
        ]
    batch = normalize_batch(resource, raws)
    assert not batch.rejections
    return batch.rows


@pytest.mark.parametrize("resource", list(Resource))
def test_schema_matches_the_fields_one_to_one(resource: Resource) -> None:
    schema = arrow_schema(resource)

    assert tuple(schema.names) == column_names(resource)
    for spec, arrow_field in zip(FIELDS[resource], schema, strict=False):
        assert arrow_field.name == spec.name
        assert arrow_field.type == EXPECTED_TYPES[spec.kind], spec.name
        assert arrow_field.nullable is (not spec.required), spec.name
        metadata = arrow_field.metadata
        if spec.source is None:
            assert metadata[b"derived"] == b"true"
            assert b"source" not in metadata
        else:
            assert metadata[b"source"] == spec.source.encode()
        assert (metadata.get(b"format") == b"json") is (spec.kind == "json"), spec.name
    raw = schema.field(RAW_COLUMN)
    assert schema.names[-1] == RAW_COLUMN
    assert (raw.type, raw.nullable, raw.metadata[b"format"]) == (pa.string(), False, b"json")
    assert schema.metadata[b"vanta_vuln_stats.resource"] == resource.value.encode()


def test_schema_spot_checks() -> None:
    schema = arrow_schema("vulnerabilities")
    assert schema.field("first_detected_date").type == pa.timestamp("ms", tz="UTC")
    assert not schema.field("first_detected_date").nullable
    assert schema.field("last_detected_date").nullable
    assert schema.field("related_urls").type == pa.list_(pa.string())
    assert schema.field("deactivated_on_date").metadata[b"source"] == (
        b"deactivateMetadata.deactivatedOnDate"
    )
    assert arrow_schema(Resource.VULNERABLE_ASSETS).field("integration_ids").type == pa.list_(
        pa.string()
    )


def test_unknown_resource_has_no_schema() -> None:
    with pytest.raises(ValueError, match="unknown resource"):
        arrow_schema("vulns")
    with pytest.raises(ValueError, match="unknown resource"):
        rows_to_table("vulns", [])


@pytest.mark.parametrize("resource", list(Resource))
def test_table_from_rows_round_trips_through_parquet(resource: Resource, tmp_path: Path) -> None:
    rows = _rows(resource)
    table = rows_to_table(resource, rows)

    assert table.schema.equals(arrow_schema(resource), check_metadata=True)
    assert table.num_rows == len(rows)
    assert table.column("id").to_pylist() == [row["id"] for row in rows]

    path = tmp_path / f"{resource.value}.parquet"
    pq.write_table(table, path)
    back = pq.read_table(path)

    assert back.schema.equals(arrow_schema(resource))
    assert back.to_pylist() == rows
    parquet_schema = pq.ParquetFile(path).schema
    for spec in FIELDS[resource]:
        if spec.kind == "timestamp":
            assert back.schema.field(spec.name).type == pa.timestamp("ms", tz="UTC")
            column = parquet_schema.column(back.schema.get_field_index(spec.name))
            # Athena-safe: INT64 millis adjusted to UTC, never INT96.
            assert column.physical_type == "INT64"
            assert "isAdjustedToUTC=true" in str(column.logical_type)
            assert "milliseconds" in str(column.logical_type)


def test_timestamp_values_survive_exactly() -> None:
    rows = _rows(Resource.VULNERABILITIES)
    table = rows_to_table(Resource.VULNERABILITIES, rows)
    values = table.column("first_detected_date").to_pylist()
    assert values[1] == datetime(2024, 10, 26, 7, 26, 33, 483000, tzinfo=UTC)
    assert table.column("first_detected_date").cast(pa.int64()).to_pylist()[1] == 1729927593483
    assert table.column("cvss_severity_score").to_pylist() == [9.8, None, 9.8]
    assert table.column("severity").to_pylist() == ["CRITICAL", "CRITICAL", "LOW"]
    assert table.column("related_vulns").to_pylist()[1] == []


def test_empty_rows_give_an_empty_table_with_the_schema() -> None:
    table = rows_to_table("vulnerable_assets", [])
    assert table.num_rows == 0
    assert table.schema.equals(arrow_schema("vulnerable_assets"))


def test_rows_from_a_generator_are_accepted() -> None:
    rows = _rows(Resource.VULNERABLE_ASSETS)
    table = rows_to_table("vulnerable_assets", (row for row in rows))
    assert table.column("integration_ids").to_pylist() == [["qualys"], []]


def test_rows_not_from_normalize_are_refused() -> None:
    rows = _rows(Resource.VULNERABILITY_REMEDIATIONS)
    missing = [dict(rows[0])]
    del missing[0]["status"]
    with pytest.raises(ValueError, match="no column 'status'"):
        rows_to_table("vulnerability_remediations", missing)

    null_required = [dict(rows[0], severity=None)]
    with pytest.raises(ValueError, match="'severity' is required"):
        rows_to_table("vulnerability_remediations", null_required)

    wrong_type = [dict(rows[0], detected_date="2021-01-01T00:00:00.000Z")]
    with pytest.raises(ValueError, match="'detected_date' does not fit"):
        rows_to_table("vulnerability_remediations", wrong_type)


def test_importing_the_model_does_not_import_pyarrow() -> None:
    # The fetch and notify Lambdas ship without the Parquet layer.
    code = (
        "import sys, vanta_vuln_stats.model as m; "
        "m.normalize_batch('vulnerabilities', []); "
        "sys.exit(1 if 'pyarrow' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
