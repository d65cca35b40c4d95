"""What the catalog should hold, from commit manifests alone, and how differences are named."""

from __future__ import annotations

from datetime import UTC, date, datetime

from vanta_vuln_stats.catalog.lake import (
    ColumnDrift,
    column_drift,
    committed_partitions,
    definition_differences,
)
from vanta_vuln_stats.catalog.tables import table_by_name, table_input
from vanta_vuln_stats.storage.lake import Manifest

LAKE = "s3://bucket/lake"
NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def manifest(day: date, tables: list[str]) -> Manifest:
    return Manifest(
        run_date=day,
        run_id="20261102T080000000Z",
        stamp=NOW,
        started_at=NOW,
        finished_at=NOW,
        base_run_date=None,
        files={t: [{"key": f"{t}/x.parquet", "rows": 1, "bytes": 1}] for t in tables},
        state={},
        backup=None,
        counts={},
        sync_history=f"sync_history/{day}.parquet",
    )


def test_a_table_gets_a_partition_for_each_committed_day_with_its_files() -> None:
    day1, day2 = date(2026, 11, 1), date(2026, 11, 2)
    manifests = {
        day1: manifest(day1, ["vulnerabilities", "vulnerable_assets", "rejects"]),
        day2: manifest(day2, ["vulnerabilities", "vulnerability_history"]),
    }
    assert committed_partitions(manifests) == {
        "vanta_vulnerabilities": {day1, day2},
        "vanta_vulnerability_remediations": set(),
        "vanta_vulnerable_assets": {day1},
        "vanta_vulnerability_history": {day2},
        "vanta_sync_history": {day1, day2},  # every committed run has its row
    }


def test_a_table_as_defined_has_no_differences() -> None:
    for name in ("vanta_vulnerabilities", "vanta_sync_history"):
        desired = table_input(table_by_name(name), LAKE)
        columns = desired["StorageDescriptor"]["Columns"]
        assert column_drift(columns, columns) == []
        assert definition_differences(desired, desired) == []


def test_differences_are_named() -> None:
    desired = table_input(table_by_name("vanta_vulnerabilities"), LAKE)
    current = table_input(table_by_name("vanta_vulnerabilities"), "s3://elsewhere/lake")
    current["Parameters"]["projection.enabled"] = "true"
    current["StorageDescriptor"]["Columns"] = [
        {"Name": "id", "Type": "string"},
        {"Name": "severity", "Type": "int"},
        {"Name": "extra", "Type": "string"},
    ]
    drift = column_drift(
        current["StorageDescriptor"]["Columns"], desired["StorageDescriptor"]["Columns"]
    )
    assert ColumnDrift("severity", "int", "string") in drift
    assert ColumnDrift("extra", "string", None) in drift
    assert ColumnDrift("name", None, "string") in drift
    assert ColumnDrift("id", "string", "string") not in drift
    assert definition_differences(current, desired) == [
        "location or storage format",
        "partition projection off",
    ]
