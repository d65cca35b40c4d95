"""Databases written by the earlier vanta_vuln_stats.py: upgraded in place, after a backup,
losing nothing, and usable by the next sync."""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from vanta_vuln_stats.devstack.legacy import legacy_vulnerability_row
from vanta_vuln_stats.model.fields import FIELDS, Resource, column_names
from vanta_vuln_stats.model.records import Rejection, normalize, timestamp_to_iso
from vanta_vuln_stats.storage import SQLiteStorage, VulnerabilityFilter, where_sql
from vanta_vuln_stats.storage.schema import SCHEMA_VERSION

from .test_sqlite_store import deactivation, full_sync, raw_remediation, raw_vulnerability

V = Resource.VULNERABILITIES
R = Resource.VULNERABILITY_REMEDIATIONS

# The earlier tool's schema, as its last version created it.
LEGACY_VULNERABILITIES = """
    CREATE TABLE IF NOT EXISTS vulnerabilities (
        id TEXT PRIMARY KEY, name TEXT, description TEXT, integration_id TEXT,
        package_identifier TEXT, vulnerability_type TEXT, target_id TEXT,
        first_detected_date TEXT, source_detected_date TEXT, last_detected_date TEXT,
        severity TEXT, cvss_severity_score REAL, scanner_score REAL, is_fixable BOOLEAN,
        remediate_by_date TEXT, external_url TEXT, scan_source TEXT, deactivate_metadata TEXT,
        related_vulns TEXT, related_urls TEXT, last_updated TEXT, raw_data TEXT
    )"""
LEGACY_HISTORY = """
    CREATE TABLE IF NOT EXISTS vulnerability_history (
        id INTEGER PRIMARY KEY AUTOINCREMENT, vuln_id TEXT NOT NULL, name TEXT, severity TEXT,
        is_deactivated BOOLEAN, deactivation_date TEXT, snapshot_date TEXT NOT NULL,
        change_type TEXT, raw_data TEXT,
        FOREIGN KEY (vuln_id) REFERENCES vulnerabilities(id)
    )"""
LEGACY_SYNC = """
    CREATE TABLE IF NOT EXISTS sync_history (
        id INTEGER PRIMARY KEY AUTOINCREMENT, sync_date TEXT NOT NULL,
        vulnerabilities_count INTEGER, new_count INTEGER, updated_count INTEGER,
        remediated_count INTEGER
    )"""
LEGACY_REMEDIATIONS = """
    CREATE TABLE IF NOT EXISTS vulnerability_remediations (
        id TEXT PRIMARY KEY, vulnerability_id TEXT, vulnerable_asset_id TEXT, severity TEXT,
        detected_date TEXT, sla_deadline_date TEXT, remediation_date TEXT,
        is_remediated_on_time BOOLEAN, integration_id TEXT, integration_type TEXT, status TEXT,
        last_updated TEXT, raw_data TEXT
    )"""
LEGACY_DATA_ELEMENTS = """
    CREATE TABLE IF NOT EXISTS data_elements (
        record_type TEXT NOT NULL, record_id TEXT NOT NULL, element_path TEXT NOT NULL,
        element_value TEXT, last_updated TEXT NOT NULL,
        PRIMARY KEY (record_type, record_id, element_path)
    )"""
LEGACY_INDEXES = (
    "CREATE INDEX IF NOT EXISTS idx_severity ON vulnerabilities(severity)",
    "CREATE INDEX IF NOT EXISTS idx_target_id ON vulnerabilities(target_id)",
    "CREATE INDEX IF NOT EXISTS idx_first_detected ON vulnerabilities(first_detected_date)",
    "CREATE INDEX IF NOT EXISTS idx_name ON vulnerabilities(name)",
    "CREATE INDEX IF NOT EXISTS idx_history_vuln_id ON vulnerability_history(vuln_id)",
    "CREATE INDEX IF NOT EXISTS idx_history_snapshot_date ON vulnerability_history(snapshot_date)",
)

# The earlier tool stamped rows with datetime.utcnow().isoformat(): no zone, microseconds.
FIRST_SYNC = "2024-10-26T07:26:33.483123"
SECOND_SYNC = "2024-10-27T07:30:01.000456"


def legacy_records() -> list[dict[str, Any]]:
    """Realistic records as the earlier tool stored them (the API's own spelling)."""
    records = [raw_vulnerability(n) for n in range(8)]
    records[1]["deactivateMetadata"] = deactivation("2024-10-27T06:00:00.100Z")
    records[2]["severity"] = "high"  # stored as sent; the store keeps severities upper-case
    records[3]["firstDetectedDate"] = "2024-01-05T10:00:00Z"  # no milliseconds
    records[4]["fixedVersion"] = "3.0.15"
    records[5]["description"] = "Überlauf im Parser — “quoted”"
    records[6]["deactivateMetadata"] = deactivation("2024-10-20T11:11:11.111Z")
    records[6]["deactivateMetadata"]["deactivatedUntilDate"] = "2025-01-01T00:00:00.000Z"
    return records


def build_legacy_db(path: Path, *, first_version: bool = False) -> dict[str, Any]:
    records = legacy_records()
    remediations = [raw_remediation(n) for n in range(4)]
    with sqlite3.connect(path) as conn:
        conn.execute(LEGACY_VULNERABILITIES)
        if not first_version:
            conn.execute(LEGACY_REMEDIATIONS)
            conn.execute(LEGACY_DATA_ELEMENTS)
        conn.execute(LEGACY_HISTORY)
        conn.execute(LEGACY_SYNC)
        for statement in LEGACY_INDEXES:
            conn.execute(statement)
        # First sync: every record but the first deactivation was as now; record 1 was active.
        first = [dict(r, deactivateMetadata=None) if i == 1 else r for i, r in enumerate(records)]
        history = []
        for vuln in first:
            history.append((vuln, FIRST_SYNC, "discovered"))
        history.append((records[1], SECOND_SYNC, "remediated"))
        conn.executemany(
            f"INSERT OR REPLACE INTO vulnerabilities VALUES ({', '.join('?' * 22)})",
            [legacy_vulnerability_row(v, SECOND_SYNC) for v in records],
        )
        conn.executemany(
            "INSERT INTO vulnerability_history (vuln_id, name, severity, is_deactivated, "
            "deactivation_date, snapshot_date, change_type, raw_data) VALUES (?,?,?,?,?,?,?,?)",
            [
                (
                    v["id"],
                    v["name"],
                    v["severity"],
                    v.get("deactivateMetadata") is not None,
                    (v.get("deactivateMetadata") or {}).get("deactivatedOnDate"),
                    when,
                    change,
                    json.dumps(v),
                )
                for v, when, change in history
            ],
        )
        conn.executemany(
            "INSERT INTO sync_history (sync_date, vulnerabilities_count, new_count, "
            "updated_count, remediated_count) VALUES (?, ?, ?, ?, ?)",
            [(FIRST_SYNC, 8, 8, 0, 0), (SECOND_SYNC, 8, 0, 0, 1)],
        )
        if not first_version:
            conn.executemany(
                "INSERT INTO vulnerability_remediations VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (
                        r["id"],
                        r["vulnerabilityId"],
                        r["vulnerableAssetId"],
                        r["severity"],
                        r["detectedDate"],
                        r["slaDeadlineDate"],
                        r["remediationDate"],
                        None,
                        None,
                        None,
                        None,
                        SECOND_SYNC,
                        json.dumps(r),
                    )
                    for r in remediations
                ],
            )
            conn.executemany(
                "INSERT INTO data_elements VALUES (?, ?, ?, ?, ?)",
                [
                    ("vulnerability", v["id"], key, json.dumps(v[key], sort_keys=True), SECOND_SYNC)
                    for v in records
                    for key in ("name", "severity")
                ],
            )
    conn.close()
    return {"records": records, "remediations": remediations}


def dump(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def store_form(resource: Resource, row: dict[str, Any]) -> dict[str, Any]:
    """A normalised row as the store keeps it (an oracle independent of the store's code)."""
    out: dict[str, Any] = {}
    kinds = {spec.name: spec.kind for spec in FIELDS[resource]}
    for name in column_names(resource):
        value, kind = row[name], kinds.get(name)
        if value is None:
            out[name] = None
        elif kind == "timestamp":
            out[name] = timestamp_to_iso(value)
        elif kind == "bool":
            out[name] = int(value)
        elif kind == "strings":
            out[name] = json.dumps(value, separators=(",", ":"))
        else:
            out[name] = value
    return out


def stored_rows(store: SQLiteStorage, resource: Resource) -> dict[str, dict[str, Any]]:
    cols = column_names(resource)
    rows = store.connection.execute(f"SELECT {', '.join(cols)} FROM {resource.value}").fetchall()
    return {row[0]: dict(zip(cols, row, strict=True)) for row in rows}


@pytest.fixture
def legacy(tmp_path: Path) -> tuple[Path, dict[str, Any], list[str]]:
    path = tmp_path / "vanta_vulnerabilities.db"
    data = build_legacy_db(path)
    return path, data, dump(path)


def test_opening_backs_up_first_and_says_so(legacy: tuple[Path, dict[str, Any], list[str]]) -> None:
    path, _, original = legacy

    with SQLiteStorage(path) as store:
        backup = store.backup_path
        notices = list(store.notices)
        version = store.connection.execute("PRAGMA user_version").fetchone()[0]

    assert backup is not None and backup.parent == path.parent
    assert re.fullmatch(r"vanta_vulnerabilities\.db\.pre-upgrade-\d{8}T\d{6}\.bak", backup.name)
    assert dump(backup) == original
    assert len(notices) == 1 and str(backup) in notices[0] and str(path) in notices[0]
    assert version == SCHEMA_VERSION
    with SQLiteStorage(path) as again:  # already upgraded: no second copy, nothing to say
        assert again.backup_path is None and again.notices == []
    assert list(path.parent.glob("*.bak")) == [backup]


def test_every_row_is_kept_and_derived_columns_are_right(
    legacy: tuple[Path, dict[str, Any], list[str]],
) -> None:
    path, data, original = legacy
    records = data["records"]

    with SQLiteStorage(path) as store:
        conn = store.connection
        vulns = stored_rows(store, V)
        # Every column equals what a fresh sync of the same record would write.
        for record in records:
            expected = normalize(V, record)
            assert not isinstance(expected, Rejection)
            want = store_form(V, expected)
            got = vulns[record["id"]]
            assert json.loads(got.pop("raw_data")) == json.loads(want.pop("raw_data")) == record
            assert json.loads(got.pop("deactivate_metadata") or "null") == json.loads(
                want.pop("deactivate_metadata") or "null"
            )
            assert got == want, record["id"]
        assert vulns[records[2]["id"]]["severity"] == "HIGH"
        assert vulns[records[3]["id"]]["first_detected_date"] == "2024-01-05T10:00:00.000Z"
        assert vulns[records[4]["id"]]["fixed_version"] == "3.0.15"
        assert vulns[records[1]["id"]]["is_deactivated"] == 1
        assert vulns[records[1]["id"]]["deactivated_on_date"] == "2024-10-27T06:00:00.100Z"
        assert vulns[records[6]["id"]]["deactivated_until_date"] == "2025-01-01T00:00:00.000Z"
        # The raw records themselves are untouched, byte for byte.
        raw = dict(conn.execute("SELECT id, raw_data FROM vulnerabilities").fetchall())
        assert raw == {r["id"]: json.dumps(r) for r in records}
        seen = conn.execute(
            "SELECT DISTINCT first_seen_at, last_seen_at, last_updated, resolved_at, "
            "last_seen_sync_id FROM vulnerabilities"
        ).fetchall()
        # First seen from the earlier tool's 'discovered' rows; last seen from its last write.
        assert seen == [
            ("2024-10-26T07:26:33.483Z",) + ("2024-10-27T07:30:01.000Z",) * 2 + (None, None)
        ]
        remediations = stored_rows(store, R)
        for record in data["remediations"]:
            expected = normalize(R, record)
            assert not isinstance(expected, Rejection)
            want = store_form(R, expected)
            got = remediations[record["id"]]
            assert json.loads(got.pop("raw_data")) == json.loads(want.pop("raw_data"))
            assert got == want
        assert conn.execute(
            "SELECT DISTINCT integration_id, integration_type, last_updated "
            "FROM vulnerability_remediations"
        ).fetchall() == [(None, None, "2024-10-27T07:30:01.000Z")]
        history = conn.execute(
            "SELECT id, vuln_id, change_type, snapshot_date, severity, is_deactivated, "
            "deactivation_date, sync_id FROM vulnerability_history ORDER BY id"
        ).fetchall()
        assert [h[0] for h in history] == list(range(1, 10))
        assert [(h[1], h[2]) for h in history] == [
            *((r["id"], "discovered") for r in records),
            (records[1]["id"], "remediated"),
        ]
        assert {h[3] for h in history} == {
            "2024-10-26T07:26:33.483Z",
            "2024-10-27T07:30:01.000Z",
        }
        assert history[2][4] == "HIGH"
        assert history[8][5:] == (1, "2024-10-27T06:00:00.100Z", None)
        elements = conn.execute("SELECT * FROM data_elements ORDER BY 1, 2, 3").fetchall()
        runs = store.sync_history()
        total = conn.execute(
            f"SELECT count(*) FROM vulnerabilities v WHERE {where_sql(None)[0]}"
        ).fetchone()
    # data_elements is left exactly as it was.
    original_elements = [
        line for line in original if line.startswith('INSERT INTO "data_elements"')
    ]
    assert len(elements) == len(original_elements) == 16
    assert [(s.id, s.status, s.discovered, s.remediated, s.counts(V).fetched) for s in runs] == [
        (1, "complete", 8, 0, 8),
        (2, "complete", 0, 1, 8),
    ]
    assert runs[0].started_at == datetime(2024, 10, 26, 7, 26, 33, 483000, tzinfo=UTC)
    assert total == (8,)


def test_the_next_sync_continues_where_the_earlier_tool_stopped(
    legacy: tuple[Path, dict[str, Any], list[str]],
) -> None:
    path, data, _ = legacy
    records = data["records"]
    served = [dict(r) for r in records[:7]] + [raw_vulnerability(20)]  # record 7 is gone
    served[0]["deactivateMetadata"] = deactivation("2024-11-01T05:00:00.000Z")
    at = datetime(2024, 11, 1, 6, 0, tzinfo=UTC)

    with SQLiteStorage(path) as store:
        summary = full_sync(store, served, at=at, remediations=data["remediations"])
        # The same data once more: nothing changes any more (the rows now have the store's
        # spelling of the same JSON).
        quiet = full_sync(
            store, served, at=at + timedelta(days=1), remediations=data["remediations"]
        )
        events = store.change_history(since=at)
        exported = list(store.iter_vulnerabilities(VulnerabilityFilter(statuses=("all",))))

    assert summary.id == 3 and summary.status == "complete"
    assert (
        summary.discovered,
        summary.updated,
        summary.remediated,
        summary.reactivated,
        summary.resolved,
    ) == (1, 0, 1, 0, 1)
    assert summary.counts(R).changes.discovered == 0 and summary.counts(R).changes.updated == 0
    assert quiet.changes.total == 0 and quiet.counts(R).changes.total == 0
    assert sorted((e.vuln_id, e.change_type) for e in events) == sorted(
        [
            (records[0]["id"], "remediated"),
            (records[7]["id"], "resolved"),
            (raw_vulnerability(20)["id"], "discovered"),
        ]
    )
    assert sorted(exported, key=lambda r: r["id"]) == sorted(
        [*served, records[7]], key=lambda r: r["id"]
    )


def test_the_first_version_of_the_earlier_tool(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    data = build_legacy_db(path, first_version=True)
    with sqlite3.connect(path) as conn:  # a row whose raw JSON is damaged still upgrades
        conn.execute(
            "UPDATE vulnerabilities SET raw_data = '{broken' WHERE id = ?",
            (data["records"][6]["id"],),
        )
    conn.close()

    with SQLiteStorage(path) as store:
        conn = store.connection
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        damaged = conn.execute(
            "SELECT is_deactivated, deactivated_on_date, severity FROM vulnerabilities "
            "WHERE id = ?",
            (data["records"][6]["id"],),
        ).fetchone()
        count = conn.execute("SELECT count(*) FROM vulnerabilities").fetchone()[0]
        summary = full_sync(
            store,
            data["records"][:6],
            at=datetime(2024, 11, 1, tzinfo=UTC),
            remediations=data["remediations"],
        )

    assert store.backup_path is not None and store.backup_path.exists()
    assert {"vulnerability_remediations", "vulnerable_assets", "rejected_records"} <= tables
    assert "data_elements" not in tables  # never created: it is no longer written
    assert count == 8
    # Deactivation is still known from the earlier tool's own column; the rest waits for a sync.
    assert damaged == (1, None, "MEDIUM")
    assert (summary.resolved, summary.discovered) == (2, 0)
    assert summary.counts(R).changes.discovered == 4


def test_a_column_the_model_gained_reaches_an_existing_database(tmp_path: Path) -> None:
    # A database from before fixed_version and deactivation_reason were model columns.
    path = tmp_path / "vanta.db"
    records = legacy_records()
    with SQLiteStorage(path) as store:
        full_sync(store, records, at=datetime(2024, 11, 1, tzinfo=UTC))
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE vulnerabilities DROP COLUMN fixed_version")
        conn.execute("ALTER TABLE vulnerabilities DROP COLUMN deactivation_reason")
    conn.close()

    with SQLiteStorage(path) as store:
        values = {
            row[0]: row[1:]
            for row in store.connection.execute(
                "SELECT id, fixed_version, deactivation_reason FROM vulnerabilities"
            )
        }
        assert store.backup_path is None

    assert values == {
        r["id"]: (r.get("fixedVersion"), (r["deactivateMetadata"] or {}).get("deactivationReason"))
        for r in records
    }
    assert values[records[4]["id"]] == ("3.0.15", None)
    assert values[records[1]["id"]] == (None, "Not applicable")
