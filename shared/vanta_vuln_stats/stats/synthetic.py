"""A large, realistic store made in seconds, for benchmarks of the statistics.

``build_synthetic_database(path, rows, seed)`` creates a store with the real schema (the store's
own migrations) and fills it with SQL alone: a recursive sequence drives ``INSERT ... SELECT``,
so a million findings take seconds instead of the minutes a sync over HTTP would. The same
``(rows, seed, as_of)`` always gives the same data: values come from an integer hash of the row
number and the seed, never from ``random()``.

What it holds, relative to ``as_of`` (default 2026-01-01T00:00:00Z):

* ``rows`` vulnerabilities over 30 daily syncs: most discovered by the first sync, the rest on
  later days; severities 5% CRITICAL, 20% HIGH, 40% MEDIUM, 35% LOW with CVSS scores in their
  band (10% without a score, 2% scored 0.0); 60% fixable; 8% deactivated; about 20% resolved
  (no longer reported) on a later sync; first detection up to two years back; a remediate-by
  date per severity SLA (15/30/90/180 days); raw_data the record's JSON (about 1 KB, as from
  the API).
* one remediation record per vulnerability: remediated on the day its finding was resolved,
  open otherwise.
* one vulnerable asset per distinct target (about rows / 25), one CVE per ~20 findings.
* change history: discovered, remediated (deactivated) and resolved events on sync days, and
  one complete sync_history row per day with that day's counts.

The generator is SQLite-only by design (it writes the SQLite store); the statistics it feeds
are the portable part.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from vanta_vuln_stats.model.records import timestamp_to_iso
from vanta_vuln_stats.storage import schema

__all__ = ["SYNC_DAYS", "SYNTHETIC_AS_OF", "build_synthetic_database", "synthetic_now"]

SYNTHETIC_AS_OF = datetime(2026, 1, 1, tzinfo=UTC)
SYNC_DAYS = 30

_INTEGRATIONS = ("aws-inspector", "snyk", "github", "qualys", "crowdstrike", "wiz")
_SLA_DAYS = {"CRITICAL": 15, "HIGH": 30, "MEDIUM": 90, "LOW": 180}
_DESCRIPTION_FILLER = (
    "A flaw in the affected package allows an attacker to cause unexpected behaviour when "
    "processing crafted input. Upgrading to the fixed version removes the issue. "
)


def build_synthetic_database(
    path: str | Path, rows: int, seed: int = 0, *, as_of: datetime = SYNTHETIC_AS_OF
) -> Path:
    """Create (replacing any file there) a store at ``path`` holding ``rows`` synthetic
    vulnerabilities with their remediations, assets, history and sync runs; returns the path.
    """
    if rows < 1:
        raise ValueError("rows must be at least 1")
    path = Path(path)
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        schema.migrate(conn)
        # A throwaway build: no journal, no fsync. The file is complete once this returns.
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -262144")
        first_sync = as_of - timedelta(days=SYNC_DAYS - 1)
        with schema.transaction(conn):
            _drop_indexes(conn)
            conn.execute(_vulnerabilities_sql(rows, seed, first_sync))
            conn.execute(_REMEDIATIONS_SQL)
            conn.execute(_ASSETS_SQL)
            conn.execute(_HISTORY_SQL)
            conn.execute(_SYNC_HISTORY_SQL.format(rows=rows))
            _create_indexes(conn)
        conn.execute("ANALYZE")
    finally:
        conn.close()
    return path


# --------------------------------------------------------------------------------------------
# SQL


def _rand(salt: int, seed: int) -> str:
    """SQL: a pseudo-random integer in [0, 65536) from the row number ``i``, seed and salt.

    A multiplicative hash with one squaring (so columns are not linear in each other), kept in
    63-bit range at every step so SQLite never falls back to floating point.
    """
    offset = (seed * 7_919 + salt * 104_729) % 2_147_483_648
    x = f"((i * 1103515245 + {offset}) % 2147483648)"
    return f"((({x} * ({x} | 1) + {salt}) % 2147483648) / 32768)"


def _iso(epoch_sql: str) -> str:
    return f"(strftime('%Y-%m-%dT%H:%M:%f', {epoch_sql}, 'unixepoch') || 'Z')"


def _vulnerabilities_sql(rows: int, seed: int, first_sync: datetime) -> str:
    r = [_rand(salt, seed) for salt in range(12)]
    day0 = int(first_sync.timestamp())
    assets = max(rows // 25, 1)
    cves = max(rows // 20, 1)
    integrations = ", ".join(f"'{name}'" for name in _INTEGRATIONS)
    sla = " ".join(f"WHEN '{sev}' THEN {days}" for sev, days in _SLA_DAYS.items())
    filler = _DESCRIPTION_FILLER
    return f"""
WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < {rows}),
drawn AS (
    SELECT
        i,
        CASE WHEN {r[0]} % 100 < 70 THEN 0 ELSE 1 + {r[0]} % {SYNC_DAYS - 1} END AS seen_day,
        CASE WHEN {r[1]} % 100 < 5 THEN 'CRITICAL' WHEN {r[1]} % 100 < 25 THEN 'HIGH'
             WHEN {r[1]} % 100 < 65 THEN 'MEDIUM' ELSE 'LOW' END AS severity,
        {r[2]} AS score_draw,
        ({r[3]} * 65536 + {r[4]}) % {assets} AS asset,
        ({r[5]} * 65536 + {r[6]}) % {cves} AS cve,
        {r[7]} AS age_draw,
        {r[8]} % 100 AS state_draw,
        {r[9]} AS misc,
        {r[10]} AS later_draw,
        {r[11]} AS pkg
    FROM seq
),
shaped AS (
    SELECT
        d.*,
        printf('vuln-%08d', i) AS id,
        printf('CVE-%d-%05d', 2015 + cve % 10, cve) AS name,
        json_array({integrations}) ->> (misc % {len(_INTEGRATIONS)}) AS integration_id,
        printf('pkg:npm/package-%d@1.%d.0', pkg % 2000, pkg % 17) AS package_identifier,
        printf('asset-%07d', asset) AS target_id,
        {day0} + seen_day * 86400 AS seen_epoch,
        CASE WHEN seen_day = 0
             THEN {day0} - (age_draw * 65536 + misc) % (730 * 86400)
             ELSE {day0} + seen_day * 86400 - (age_draw % 5) * 86400 - misc % 86400
        END AS detected_epoch,
        CASE WHEN score_draw % 100 < 10 THEN NULL WHEN score_draw % 100 < 12 THEN 0.0
             ELSE CASE severity
                 WHEN 'CRITICAL' THEN 9.0 + (score_draw % 11) / 10.0
                 WHEN 'HIGH' THEN 7.0 + (score_draw % 20) / 10.0
                 WHEN 'MEDIUM' THEN 4.0 + (score_draw % 30) / 10.0
                 ELSE 0.1 + (score_draw % 39) / 10.0 END
        END AS cvss,
        state_draw < 8 AS deactivated,
        CASE WHEN state_draw >= 8 AND state_draw < 28 AND seen_day < {SYNC_DAYS - 1}
             THEN seen_day + 1 + later_draw % ({SYNC_DAYS - 1} - seen_day) END AS resolved_day,
        CASE severity {sla} END AS sla_days
    FROM drawn d
),
timed AS (
    SELECT
        s.*,
        {_iso("seen_epoch")} AS first_seen_at,
        {_iso("detected_epoch")} AS first_detected_date,
        {_iso("detected_epoch + sla_days * 86400")} AS remediate_by_date,
        CASE WHEN deactivated THEN {_iso("seen_epoch + 3600")} END AS deactivated_on_date,
        CASE WHEN resolved_day IS NOT NULL
             THEN {_iso(f"{day0} + resolved_day * 86400 + 60")} END AS resolved_at,
        CASE WHEN resolved_day IS NULL THEN {SYNC_DAYS} ELSE resolved_day END AS last_seen_day
    FROM shaped s
)
INSERT INTO vulnerabilities (
    id, name, description, integration_id, package_identifier, vulnerability_type, target_id,
    first_detected_date, source_detected_date, last_detected_date, severity,
    cvss_severity_score, scanner_score, is_fixable, remediate_by_date, external_url,
    scan_source, fixed_version, related_vulns, related_urls, deactivate_metadata,
    is_deactivated, deactivated_on_date, deactivated_until_date, deactivation_reason,
    deactivated_by, raw_data, last_updated, first_seen_at, last_seen_at, last_seen_sync_id,
    resolved_at
)
SELECT
    id, name, '{filler}' || name, integration_id, package_identifier, 'COMMON', target_id,
    first_detected_date, first_detected_date, NULL, severity,
    cvss, NULL, misc % 100 < 60, remediate_by_date, 'https://nvd.nist.gov/vuln/detail/' || name,
    integration_id, CASE WHEN misc % 100 < 60 THEN '1.' || (pkg % 17 + 1) || '.0' END,
    json_array('GHSA-' || lower(hex(cve))), '[]',
    CASE WHEN deactivated THEN json_object(
        'deactivatedOnDate', deactivated_on_date, 'deactivatedUntilDate', NULL,
        'deactivationReason', 'Accepted risk', 'deactivatedBy', 'security@example.com') END,
    deactivated, deactivated_on_date, NULL,
    CASE WHEN deactivated THEN 'Accepted risk' END,
    CASE WHEN deactivated THEN 'security@example.com' END,
    json_object(
        'id', id, 'name', name, 'description', '{filler}' || name,
        'integrationId', integration_id, 'packageIdentifier', package_identifier,
        'vulnerabilityType', 'COMMON', 'targetId', target_id,
        'firstDetectedDate', first_detected_date, 'sourceDetectedDate', first_detected_date,
        'lastDetectedDate', NULL, 'severity', severity, 'cvssSeverityScore', cvss,
        'scannerScore', NULL, 'isFixable', json(CASE WHEN misc % 100 < 60 THEN 'true'
                                                     ELSE 'false' END),
        'remediateByDate', remediate_by_date,
        'externalURL', 'https://nvd.nist.gov/vuln/detail/' || name,
        'scanSource', integration_id, 'relatedVulns', json_array('GHSA-' || lower(hex(cve))),
        'relatedUrls', json_array(),
        'deactivateMetadata', CASE WHEN deactivated THEN json_object(
            'deactivatedOnDate', deactivated_on_date, 'deactivationReason', 'Accepted risk',
            'deactivatedBy', 'security@example.com') END
    ),
    {_iso(f"{day0} + (last_seen_day - 1) * 86400")},
    first_seen_at,
    {_iso(f"{day0} + (last_seen_day - 1) * 86400")},
    last_seen_day,
    resolved_at
FROM timed
"""


# A remediation per finding, dated when the finding left the feed.
_REMEDIATIONS_SQL = """
INSERT INTO vulnerability_remediations (
    id, vulnerability_id, vulnerable_asset_id, severity, detected_date, sla_deadline_date,
    remediation_date, is_remediated_on_time, status, raw_data, last_updated, last_seen_sync_id
)
SELECT
    'rem-' || substr(v.id, 6), v.id, v.target_id, v.severity, v.first_detected_date,
    v.remediate_by_date, v.resolved_at,
    CASE WHEN v.resolved_at IS NOT NULL THEN v.resolved_at <= v.remediate_by_date END,
    CASE WHEN v.resolved_at IS NULL THEN 'OPEN' ELSE 'REMEDIATED' END,
    json_object(
        'id', 'rem-' || substr(v.id, 6), 'vulnerabilityId', v.id,
        'vulnerableAssetId', v.target_id, 'severity', v.severity,
        'detectedDate', v.first_detected_date, 'slaDeadlineDate', v.remediate_by_date,
        'remediationDate', v.resolved_at),
    v.last_updated, v.last_seen_sync_id
FROM vulnerabilities v
"""

_ASSETS_SQL = """
INSERT INTO vulnerable_assets (
    id, name, asset_type, has_been_scanned, image_scan_tag, scanners, integration_ids,
    raw_data, last_updated, first_seen_at, last_seen_at, last_seen_sync_id, resolved_at
)
SELECT
    target_id, 'host-' || substr(target_id, 7), 'SERVER', 1, NULL,
    json_array(json_object('integrationId', MIN(integration_id))),
    json_array(MIN(integration_id)),
    json_object('id', target_id, 'name', 'host-' || substr(target_id, 7),
                'assetType', 'SERVER', 'hasBeenScanned', json('true')),
    MAX(last_updated), MIN(first_seen_at), MAX(last_seen_at), MAX(last_seen_sync_id), NULL
FROM vulnerabilities
GROUP BY target_id
"""

# Discovered when first seen; remediated (deactivated) an hour later; resolved when it left.
# Each event carries the record's JSON, as the store writes it.
_HISTORY_SQL = """
INSERT INTO vulnerability_history (
    vuln_id, name, severity, is_deactivated, deactivation_date, snapshot_date, change_type,
    raw_data, sync_id, changed_fields
)
SELECT vuln_id, name, severity, is_deactivated, deactivation_date, snapshot_date, change_type,
       raw_data, sync_id, changed_fields
FROM (
    SELECT id AS vuln_id, name, severity, 0 AS is_deactivated, NULL AS deactivation_date,
           first_seen_at AS snapshot_date, 'discovered' AS change_type, raw_data,
           CAST(1 + julianday(first_seen_at) - julianday((SELECT MIN(first_seen_at)
                                                          FROM vulnerabilities)) AS INTEGER)
               AS sync_id,
           NULL AS changed_fields
    FROM vulnerabilities
    UNION ALL
    SELECT id, name, severity, 1, deactivated_on_date, deactivated_on_date, 'remediated', raw_data,
           CAST(1 + julianday(first_seen_at) - julianday((SELECT MIN(first_seen_at)
                                                          FROM vulnerabilities)) AS INTEGER),
           '["deactivate_metadata"]'
    FROM vulnerabilities WHERE is_deactivated = 1
    UNION ALL
    SELECT id, name, severity, is_deactivated, deactivated_on_date, resolved_at, 'resolved',
           raw_data, last_seen_sync_id, NULL
    FROM vulnerabilities WHERE resolved_at IS NOT NULL
)
ORDER BY snapshot_date, vuln_id
"""

# What each day's sync reported: everything seen by then, less what had been resolved.
_SYNC_HISTORY_SQL = """
INSERT INTO sync_history (
    sync_date, vulnerabilities_count, new_count, updated_count, remediated_count, status,
    started_at, finished_at, reactivated_count, resolved_count, remediations_count,
    assets_count, rejected_count
)
SELECT
    day || 'T00:00:00.000Z',
    SUM(discovered - resolved) OVER (ORDER BY day ROWS UNBOUNDED PRECEDING),
    discovered, 0, remediated, 'complete',
    day || 'T00:00:00.000Z', day || 'T02:00:00.000Z',
    0, resolved, {rows}, 0, 0
FROM (
    SELECT
        substr(snapshot_date, 1, 10) AS day,
        SUM(change_type = 'discovered') AS discovered,
        SUM(change_type = 'remediated') AS remediated,
        SUM(change_type = 'resolved') AS resolved
    FROM vulnerability_history
    GROUP BY substr(snapshot_date, 1, 10)
)
ORDER BY day
"""


def _drop_indexes(conn: sqlite3.Connection) -> None:
    # Loading into unindexed tables and indexing once afterwards is several times faster.
    for name, _, _ in schema.INDEXES:
        conn.execute(f"DROP INDEX IF EXISTS {name}")


def _create_indexes(conn: sqlite3.Connection) -> None:
    for name, table, columns in schema.INDEXES:
        conn.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({', '.join(columns)})")


def synthetic_now(as_of: datetime = SYNTHETIC_AS_OF) -> str:
    """``as_of`` as the store's ISO text (the ``now`` a benchmark passes to the statistics)."""
    return timestamp_to_iso(as_of)
