"""The earlier vanta_vuln_stats.py's storage and statistics, re-implemented as a stand-in: the
benchmarks compare against it on the same data, and the tests use it to write databases exactly
as the earlier tool did.

Store: for every record a SELECT of the previous row, an INSERT OR REPLACE, a history row when it
changed, and its flattened element rows (record_type, record_id, element_path, element_value),
appended (deleting a record's earlier element rows would make every write scan that table).
Statistics: load every raw_data JSON row and loop over the records in Python.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

LEGACY_DDL = """
CREATE TABLE IF NOT EXISTS vulnerabilities (
    id TEXT PRIMARY KEY, name TEXT, description TEXT, integration_id TEXT,
    package_identifier TEXT, vulnerability_type TEXT, target_id TEXT, first_detected_date TEXT,
    source_detected_date TEXT, last_detected_date TEXT, severity TEXT, cvss_severity_score REAL,
    scanner_score REAL, is_fixable BOOLEAN, remediate_by_date TEXT, external_url TEXT,
    scan_source TEXT, deactivate_metadata TEXT, related_vulns TEXT, related_urls TEXT,
    last_updated TEXT, raw_data TEXT);
CREATE TABLE IF NOT EXISTS vulnerability_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT, vuln_id TEXT NOT NULL, name TEXT, severity TEXT,
    is_deactivated BOOLEAN, deactivation_date TEXT, snapshot_date TEXT NOT NULL,
    change_type TEXT, raw_data TEXT);
CREATE TABLE IF NOT EXISTS sync_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT, sync_date TEXT NOT NULL, vulnerabilities_count INTEGER,
    new_count INTEGER, updated_count INTEGER, remediated_count INTEGER);
CREATE TABLE IF NOT EXISTS data_elements (
    record_type TEXT, record_id TEXT, element_path TEXT, element_value TEXT, last_updated TEXT);
"""


def _flatten(value: Any, path: str = "") -> Iterable[tuple[str, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _flatten(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _flatten(item, f"{path}[{index}]")
    else:
        yield path, json.dumps(value)


def legacy_vulnerability_row(vuln: dict[str, Any], last_updated: str) -> tuple[Any, ...]:
    """A vulnerabilities row exactly as the earlier tool wrote it (its 22 columns, in order)."""
    metadata = vuln.get("deactivateMetadata")
    return (
        vuln["id"],
        vuln.get("name"),
        vuln.get("description"),
        vuln.get("integrationId"),
        vuln.get("packageIdentifier"),
        vuln.get("vulnerabilityType"),
        vuln.get("targetId"),
        vuln.get("firstDetectedDate"),
        vuln.get("sourceDetectedDate"),
        vuln.get("lastDetectedDate"),
        vuln.get("severity"),
        vuln.get("cvssSeverityScore"),
        vuln.get("scannerScore"),
        vuln.get("isFixable"),
        vuln.get("remediateByDate"),
        vuln.get("externalURL"),
        vuln.get("scanSource"),
        json.dumps(metadata) if metadata else None,
        json.dumps(vuln.get("relatedVulns", [])),
        json.dumps(vuln.get("relatedUrls", [])),
        last_updated,
        json.dumps(vuln),
    )


def legacy_store(conn: sqlite3.Connection, vulnerabilities: list[dict]) -> dict[str, int]:
    conn.executescript(LEGACY_DDL)
    now = datetime.utcnow().isoformat()  # naive UTC, exactly as the earlier tool wrote it
    counts = {"new": 0, "updated": 0, "remediated": 0}
    cur = conn.cursor()
    for vuln in vulnerabilities:
        vuln_id = vuln.get("id")
        if not vuln_id:
            continue
        cur.execute(
            "SELECT raw_data, deactivate_metadata FROM vulnerabilities WHERE id = ?", (vuln_id,)
        )
        existing = cur.fetchone()
        change = None
        if existing is None:
            change, counts["new"] = "discovered", counts["new"] + 1
        else:
            was, now_deactivated = existing[1] is not None, bool(vuln.get("deactivateMetadata"))
            if not was and now_deactivated:
                change, counts["remediated"] = "remediated", counts["remediated"] + 1
            elif was and not now_deactivated:
                change = "reactivated"
            elif json.dumps(json.loads(existing[0]), sort_keys=True) != json.dumps(
                vuln, sort_keys=True
            ):
                change, counts["updated"] = "updated", counts["updated"] + 1
        metadata = vuln.get("deactivateMetadata")
        cur.execute(
            "INSERT OR REPLACE INTO vulnerabilities VALUES "
            "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            legacy_vulnerability_row(vuln, now),
        )
        if change:
            cur.execute(
                "INSERT INTO vulnerability_history (vuln_id, name, severity, is_deactivated, "
                "deactivation_date, snapshot_date, change_type, raw_data) VALUES (?,?,?,?,?,?,?,?)",
                (
                    vuln_id,
                    vuln.get("name"),
                    vuln.get("severity"),
                    metadata is not None,
                    (metadata or {}).get("deactivatedOnDate"),
                    now,
                    change,
                    json.dumps(vuln),
                ),
            )
        cur.executemany(
            "INSERT INTO data_elements VALUES ('vulnerability', ?, ?, ?, ?)",
            [(vuln_id, path, value, now) for path, value in _flatten(vuln)],
        )
    cur.execute(
        "INSERT INTO sync_history (sync_date, vulnerabilities_count, new_count, updated_count, "
        "remediated_count) VALUES (?,?,?,?,?)",
        (now, len(vulnerabilities), counts["new"], counts["updated"], counts["remediated"]),
    )
    conn.commit()
    return counts


def legacy_statistics(conn: sqlite3.Connection) -> dict[str, Any]:
    """The earlier tool's statistics of a database: load every raw_data row, then loop."""
    rows = conn.execute("SELECT raw_data FROM vulnerabilities")
    return legacy_statistics_of([json.loads(row[0]) for row in rows])


def legacy_statistics_of(vulnerabilities: list[dict[str, Any]]) -> dict[str, Any]:
    """The earlier tool's statistics of raw records, computed as it did (a Python loop). The
    tests use it as the independent reference for the SQL statistics."""
    by_severity: dict[str, int] = defaultdict(int)
    by_integration: dict[str, int] = defaultdict(int)
    scores: dict[str, list[float]] = defaultdict(list)
    assets, cves = set(), set()
    fixable = deactivated = 0
    for vuln in vulnerabilities:
        severity = vuln.get("severity", "UNKNOWN")
        by_severity[severity] += 1
        by_integration[vuln.get("integrationId", "UNKNOWN")] += 1
        fixable += bool(vuln.get("isFixable"))
        deactivated += bool(vuln.get("deactivateMetadata"))
        if vuln.get("targetId"):
            assets.add(vuln["targetId"])
        if vuln.get("name"):
            cves.add(vuln["name"])
        if vuln.get("cvssSeverityScore") and severity:
            scores[severity.lower()].append(vuln["cvssSeverityScore"])
    return {
        "total_count": len(vulnerabilities),
        "by_severity": dict(by_severity),
        "by_integration": dict(by_integration),
        "fixable": fixable,
        "not_fixable": len(vulnerabilities) - fixable,
        "deactivated": deactivated,
        "active": len(vulnerabilities) - deactivated,
        "unique_assets_count": len(assets),
        "unique_cves_count": len(cves),
        "average_cvss_by_severity": {k: sum(v) / len(v) for k, v in scores.items() if v},
    }
