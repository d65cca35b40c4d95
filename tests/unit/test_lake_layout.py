"""The lake's layout and schemas: names that re-runs rely on, types Athena can read, and a guide
that says what the files hold."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from vanta_vuln_stats.model.fields import RAW_COLUMN, Resource
from vanta_vuln_stats.storage.lake import layout

from .lake_doc_tables import sections

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "S3_ATHENA_GUIDE.md"
DAY = date(2026, 3, 7)


def test_part_names_depend_only_on_table_day_and_chunk() -> None:
    assert layout.part_key("vulnerabilities", DAY, 3) == (
        "vulnerabilities/year=2026/month=03/day=07/vulnerabilities-20260307-00003.parquet"
    )
    assert layout.current_key(Resource.VULNERABILITIES) == (
        "vulnerabilities/current/vulnerabilities_latest.parquet"
    )
    started = datetime(2026, 3, 8, 1, 2, 3, 456000, tzinfo=UTC)
    assert layout.backup_key(DAY, started) == "raw_json/backups/sync_20260307_010203.json.gz"
    assert layout.run_id_of(started) == "20260308T010203456Z"
    assert layout.commit_key(DAY) == "_commits/2026-03-07.json"


@pytest.mark.parametrize(
    "schema",
    [
        *(layout.snapshot_schema(r) for r in Resource),
        *(layout.state_schema(r) for r in Resource),
        layout.history_schema(),
        layout.sync_history_schema(),
        layout.rejects_schema(),
    ],
)
def test_every_type_is_athena_safe(schema: pa.Schema) -> None:
    for field in schema:
        kind = field.type
        if pa.types.is_timestamp(kind):
            assert kind.unit == "ms" and kind.tz == "UTC", field.name
        assert not pa.types.is_large_string(kind) and not pa.types.is_float32(kind)
        if pa.types.is_list(kind):
            assert kind.value_type == pa.string(), field.name


def test_snapshots_leave_the_raw_json_to_the_backup() -> None:
    for resource in Resource:
        assert RAW_COLUMN not in layout.snapshot_schema(resource).names
        assert RAW_COLUMN not in layout.state_schema(resource).names


def test_the_guide_lists_every_column_with_its_type() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    for name, table in sections().items():
        assert f"### {name}\n\n{table}\n" in text, (
            f"docs/S3_ATHENA_GUIDE.md is out of date for {name}: "
            "regenerate with python -m tests.unit.lake_doc_tables"
        )
