"""The pure parts of the SQLite -> lake migration: checksums, value conversion, fills, the
sync_history mapping."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, date, datetime

import pyarrow as pa
import pytest

from vanta_vuln_stats.errors import StoreError
from vanta_vuln_stats.model.fields import Resource
from vanta_vuln_stats.storage import schema
from vanta_vuln_stats.storage.base import ChangeCounts, ResourceCounts, SyncSummary
from vanta_vuln_stats.storage.lake import layout
from vanta_vuln_stats.storage.lake.migration.checksum import TableChecksum
from vanta_vuln_stats.storage.lake.migration.tables import UNKNOWN, state_sql, to_arrow
from vanta_vuln_stats.storage.lake.migration.writer import sync_history_row

TS = pa.timestamp("ms", tz="UTC")


def _table() -> pa.Table:
    return pa.table(
        {
            "id": ["a", "b", "c"],
            "seen": pa.array([datetime(2026, 1, 1, tzinfo=UTC)] * 3, TS),
            "score": [1.5, None, 7.25],
            "tags": [["x"], [], None],
        }
    )


def _checksum(*tables: pa.Table) -> TableChecksum:
    return TableChecksum(("id", "seen", "score", "tags")).add_all(tables)


# -- Checksums -----------------------------------------------------------------------------------


def test_checksum_ignores_row_order_and_file_boundaries() -> None:
    table = _table()
    whole = _checksum(table)
    reordered = _checksum(table.take([2, 0, 1]))
    split = _checksum(table.slice(0, 1), table.slice(1))
    assert whole.hexdigest == reordered.hexdigest == split.hexdigest
    assert whole.rows == 3


def test_checksum_sees_a_changed_missing_or_duplicated_row() -> None:
    table = _table()
    whole = _checksum(table).hexdigest
    changed = table.set_column(2, "score", pa.array([1.5, None, 7.5]))
    assert _checksum(changed).hexdigest != whole
    assert _checksum(table.slice(0, 2)).hexdigest != whole
    assert _checksum(table, table.slice(0, 1)).hexdigest != whole
    # Columns outside the checksum do not count.
    extra = table.append_column("run_id", pa.array(["r1", "r2", "r3"]))
    assert _checksum(extra).hexdigest == whole


# -- SQLite values -> Arrow ----------------------------------------------------------------------


def _convert(rows, names, schema_):
    return to_arrow(rows, names, schema_, table="vulnerabilities", source="test.db")


def test_timestamps_in_any_iso_form_become_utc_milliseconds() -> None:
    schema_ = pa.schema([pa.field("id", pa.string()), pa.field("t", TS)])
    rows = [
        ("a", "2026-01-02T03:04:05.678Z"),
        ("b", "2026-01-02"),
        ("c", "2026-01-02T04:04:05.678901+01:00"),
        ("d", None),
    ]
    values = _convert(rows, ["id", "t"], schema_)["t"].to_pylist()
    assert values == [
        datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
        datetime(2026, 1, 2, tzinfo=UTC),
        datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
        None,
    ]


def test_lists_booleans_and_json_take_the_lakes_forms() -> None:
    schema_ = layout.snapshot_schema(Resource.VULNERABILITIES)
    names = ["id", "related_vulns", "is_fixable", "deactivate_metadata"]
    rows = [
        ("a", '["CVE-1", "CVE-2"]', 1, '{"reason": "x", "at": "2026-01-01"}'),
        ("b", "[]", 0, None),
    ]
    arrays = _convert(rows, names, schema_)
    assert arrays["related_vulns"].to_pylist() == [["CVE-1", "CVE-2"], []]
    assert arrays["is_fixable"].to_pylist() == [True, False]
    # Compact with sorted keys: what the normaliser writes, so the next sync sees no change.
    assert arrays["deactivate_metadata"].to_pylist() == ['{"at":"2026-01-01","reason":"x"}', None]


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("first_detected_date", "last tuesday", "an ISO-8601 timestamp"),
        ("cvss_severity_score", "n/a", "a number"),
        ("is_fixable", "maybe", "a boolean (0 or 1)"),
        ("related_vulns", '"CVE-1"', "a JSON array of strings"),
    ],
)
def test_an_unreadable_value_names_the_row_and_column(column, value, expected) -> None:
    schema_ = layout.snapshot_schema(Resource.VULNERABILITIES)
    with pytest.raises(StoreError) as caught:
        _convert([("ok", None), ("bad-id", value)], ["id", column], schema_)
    assert str(caught.value) == (
        f"The database test.db cannot be migrated: vulnerabilities row 'bad-id' has {value!r} "
        f"in {column}, which is not {expected}."
    )


def test_a_null_the_lake_does_not_allow_is_refused() -> None:
    schema_ = layout.history_schema()
    with pytest.raises(StoreError, match="row 'x' has no value in snapshot_date"):
        to_arrow([("x", None)], ["vuln_id", "snapshot_date"], schema_, table="h", source="s")


# -- Fills for values the lake requires ----------------------------------------------------------


def test_state_rows_fill_what_the_source_lacks() -> None:
    with closing(sqlite3.connect(":memory:", isolation_level=None)) as conn:
        schema.migrate(conn)
        conn.execute(
            "INSERT INTO vulnerabilities (id, name, integration_id, target_id, "
            "first_detected_date, severity, is_fixable, related_vulns, raw_data, last_updated) "
            "VALUES ('v1', NULL, NULL, 't1', NULL, NULL, NULL, NULL, '{}', "
            "'2026-01-03T00:00:00.000Z')"
        )
        cursor = conn.execute(
            state_sql(Resource.VULNERABILITIES), {"stamp": "2026-01-05T00:00:00.000Z"}
        )
        names = [d[0] for d in cursor.description]
        row = dict(zip(names, cursor.fetchone(), strict=True))
    assert row["name"] == row["integration_id"] == row["severity"] == UNKNOWN
    assert row["is_fixable"] == 0
    assert row["related_vulns"] == "[]"
    # No first/last sighting recorded: the last write is the best time known.
    assert row["first_seen_at"] == row["last_seen_at"] == "2026-01-03T00:00:00.000Z"
    assert row["first_detected_date"] == row["first_seen_at"]
    assert row["resolved_at"] is None


# -- sync_history rows ---------------------------------------------------------------------------


def test_a_run_of_the_earlier_tool_and_a_cut_off_run_map_to_sync_history() -> None:
    started = datetime(2026, 1, 2, 7, 0, tzinfo=UTC)
    earlier = SyncSummary(
        id=1,
        status="complete",
        started_at=started,
        finished_at=None,
        resources={
            Resource.VULNERABILITIES: ResourceCounts(
                fetched=10, stored=10, complete=True, changes=ChangeCounts(discovered=10)
            )
        },
    )
    row = sync_history_row(earlier, started)
    table = pa.Table.from_pylist([row], schema=layout.sync_history_schema())
    assert table.num_rows == 1
    assert row["run_id"] == layout.run_id_of(started)
    assert row["run_date"] == date(2026, 1, 2)
    assert (row["vulnerabilities_fetched"], row["vulnerabilities_discovered"]) == (10, 10)
    assert row["vulnerable_assets_fetched"] == 0 and row["vulnerable_assets_complete"] is False
    assert row["duration_seconds"] is None

    # A back-fill: started on the 5th for the 2nd; its day is the one it counted for.
    backfill = datetime(2026, 1, 5, 7, 0, tzinfo=UTC)
    cut_off = SyncSummary(id=2, status="running", started_at=backfill, finished_at=None)
    row = sync_history_row(cut_off, started)
    assert row["status"] == "interrupted"
    assert row["message"] == "the process ended before the sync finished"
    assert (row["run_date"], row["sync_date"], row["started_at"]) == (
        date(2026, 1, 2),
        started,
        backfill,
    )
    assert row["run_id"] == layout.run_id_of(backfill)


def test_run_ids_are_recognised() -> None:
    assert layout.is_run_id("20261129T081502123Z")
    for text in ("", "20261129T081502123", "../20261129T081502123Z", "2026-11-29"):
        assert not layout.is_run_id(text)


def test_the_day_of_a_partitioned_key_is_read_back() -> None:
    day = date(2026, 2, 28)
    assert layout.partition_day(layout.part_key(layout.HISTORY_TABLE, day, 3)) == day
    assert layout.partition_day(layout.sync_history_key(day, "20260301T000000000Z")) == day
    assert layout.partition_day(layout.rejects_key(Resource.VULNERABLE_ASSETS, day, 0)) == day
    assert layout.partition_day(layout.state_key(Resource.VULNERABILITIES, day)) is None
    assert layout.partition_day(layout.current_key(Resource.VULNERABILITIES)) is None
    assert layout.partition_day("vulnerabilities/year=2026/month=02/day=30/x.parquet") is None
