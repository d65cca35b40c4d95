"""Statistics over a real SQLite store, checked against independent Python computations.

The store is filled through its public API (begin_sync / store_batch / finish_sync) with records
from a seeded factory, over two syncs a day apart, so that every kind of change is present. Each
expectation is computed here from the raw API records, the way the earlier tool computed its
statistics, without SQL.
"""

from __future__ import annotations

import json
import math
import random
import sqlite3
import statistics
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from vanta_vuln_stats.config.credentials import Credentials
from vanta_vuln_stats.devstack.simulator import SimulatorConfig, VantaSimulator
from vanta_vuln_stats.model import Resource, normalize_batch, parse_timestamp, timestamp_to_iso
from vanta_vuln_stats.pipeline.sync import run_sync
from vanta_vuln_stats.stats import LEGACY_KEYS, build_synthetic_database, compute_statistics
from vanta_vuln_stats.stats.render import to_csv, to_json
from vanta_vuln_stats.stats.synthetic import SYNTHETIC_AS_OF
from vanta_vuln_stats.storage.filters import VulnerabilityFilter
from vanta_vuln_stats.storage.sqlite import SQLiteStorage
from vanta_vuln_stats.vanta import VantaClient

from .legacy_reference import assert_legacy_equal, legacy_statistics

V = Resource.VULNERABILITIES
R = Resource.VULNERABILITY_REMEDIATIONS
A = Resource.VULNERABLE_ASSETS

DAY1 = datetime(2025, 6, 1, 6, 0, tzinfo=UTC)
DAY2 = DAY1 + timedelta(days=1)
NOW = DAY2 + timedelta(hours=1)
SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW")
INTEGRATIONS = ("snyk", "aws-inspector", "github")
SLA_DAYS = {"CRITICAL": 15, "HIGH": 30, "MEDIUM": 90, "LOW": 180}


def iso(dt: datetime) -> str:
    return timestamp_to_iso(dt)


# --------------------------------------------------------------------------------------------
# Factory


def make_vulnerability(rng: random.Random, n: int) -> dict[str, Any]:
    severity = rng.choice(SEVERITIES)
    detected = NOW - timedelta(days=rng.uniform(0, 500))
    score_pick = rng.random()
    score = None if score_pick < 0.1 else 0.0 if score_pick < 0.18 else round(rng.uniform(1, 10), 1)
    return {
        "id": f"vuln-{n:04d}",
        "name": f"CVE-2024-{rng.randrange(40):04d}",
        "description": "a flaw",
        "integrationId": rng.choice(INTEGRATIONS),
        "packageIdentifier": rng.choice([None, *(f"pkg-{i}" for i in range(8))]),
        "vulnerabilityType": "COMMON",
        "targetId": f"asset-{rng.randrange(30):03d}",
        "firstDetectedDate": iso(detected),
        "sourceDetectedDate": None,
        "lastDetectedDate": None,
        "severity": severity,
        "cvssSeverityScore": score,
        "scannerScore": None,
        "isFixable": rng.random() < 0.55,
        "remediateByDate": (
            None if rng.random() < 0.1 else iso(detected + timedelta(days=SLA_DAYS[severity]))
        ),
        "externalURL": None,
        "scanSource": None,
        "fixedVersion": None,
        "relatedVulns": [f"GHSA-{n % 7}"] if rng.random() < 0.5 else [],
        "relatedUrls": [],
        "deactivateMetadata": deactivation(detected + timedelta(days=3))
        if rng.random() < 0.12
        else None,
    }


def deactivation(on: datetime) -> dict[str, Any]:
    return {
        "deactivatedOnDate": iso(on),
        "deactivatedUntilDate": None,
        "deactivationReason": "accepted risk",
        "deactivatedBy": "someone@example.com",
    }


def make_remediation(rng: random.Random, vuln: dict[str, Any], n: int) -> dict[str, Any]:
    detected = parse_timestamp(vuln["firstDetectedDate"])
    deadline = None if rng.random() < 0.1 else detected + timedelta(days=SLA_DAYS[vuln["severity"]])
    remediated = (
        detected + timedelta(days=rng.uniform(0, 200), hours=rng.randrange(24))
        if rng.random() < 0.6
        else None
    )
    return {
        "id": f"rem-{n:04d}",
        "vulnerabilityId": vuln["id"] if rng.random() < 0.9 else f"gone-{n}",
        "vulnerableAssetId": vuln["targetId"],
        "severity": vuln["severity"],
        "detectedDate": iso(detected),
        "slaDeadlineDate": None if deadline is None else iso(deadline),
        "remediationDate": None if remediated is None else iso(min(remediated, NOW)),
    }


def make_asset(target: str) -> dict[str, Any]:
    return {
        "id": target,
        "name": f"host {target}",
        "assetType": "SERVER",
        "hasBeenScanned": True,
        "imageScanTag": None,
        "scanners": [{"integrationId": "snyk", "resourceId": target}],
    }


@dataclass
class Tenant:
    path: Path
    reported: list[dict[str, Any]]  # what the second (last) sync returned
    all_vulns: dict[str, dict[str, Any]]  # latest version of every finding ever stored
    resolved_ids: set[str]
    remediations: list[dict[str, Any]]
    day1: list[dict[str, Any]]
    newly_deactivated: set[str]
    reactivated: set[str]
    discovered_day2: set[str]


def sync(store: SQLiteStorage, at: datetime, data: dict[Resource, list[dict[str, Any]]]) -> None:
    run = store.begin_sync(started_at=at)
    for resource, raws in data.items():
        batch = normalize_batch(resource, raws)
        assert not batch.rejections, batch.rejections
        store.store_batch(run, resource, batch.rows)
    store.finish_sync(run, complete=list(data), fetched={r: len(x) for r, x in data.items()})


@pytest.fixture(scope="module")
def tenant(tmp_path_factory: pytest.TempPathFactory) -> Tenant:
    rng = random.Random(20250601)
    day1 = [make_vulnerability(rng, n) for n in range(200)]
    remediations = [make_remediation(rng, vuln, n) for n, vuln in enumerate(day1)]
    assets = [make_asset(t) for t in sorted({v["targetId"] for v in day1})[:25]]

    # Day 2: 15 findings leave the feed, 10 become deactivated, the deactivated ones among the
    # first 40 come back active, a few change severity-free fields, and 6 are new.
    day2 = [dict(v) for v in day1]
    resolved_ids = {v["id"] for v in day2[-15:]}
    day2 = day2[:-15]
    active_ids = [v["id"] for v in day2 if v["deactivateMetadata"] is None]
    newly_deactivated = set(active_ids[40:50])
    reactivated = {v["id"] for v in day2[:40] if v["deactivateMetadata"] is not None}
    for v in day2:
        if v["id"] in newly_deactivated:
            v["deactivateMetadata"] = deactivation(DAY2 - timedelta(hours=2))
        elif v["id"] in reactivated:
            v["deactivateMetadata"] = None
        elif v["id"].endswith("7"):
            v["description"] = "a flaw, re-described"
    new = [make_vulnerability(rng, n) for n in range(200, 206)]
    day2.extend(new)

    path = tmp_path_factory.mktemp("stats") / "vanta.db"
    with SQLiteStorage(path) as store:
        sync(store, DAY1, {V: day1, R: remediations, A: assets})
        sync(store, DAY2, {V: day2, R: remediations, A: assets})
    all_vulns = {v["id"]: v for v in day1} | {v["id"]: v for v in day2}
    return Tenant(
        path=path,
        reported=day2,
        all_vulns=all_vulns,
        resolved_ids=resolved_ids,
        remediations=remediations,
        day1=day1,
        newly_deactivated=newly_deactivated,
        reactivated=reactivated,
        discovered_day2={v["id"] for v in new},
    )


@pytest.fixture
def conn(tenant: Tenant) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(f"file:{tenant.path}?mode=ro", uri=True)
    try:
        yield connection
    finally:
        connection.close()


# --------------------------------------------------------------------------------------------
# The earlier tool's statistics, exactly as it computed them from raw records


# --------------------------------------------------------------------------------------------
# Legacy statistics


def test_legacy_statistics_equal_the_earlier_tools_computation(
    tenant: Tenant, conn: sqlite3.Connection
) -> None:
    stats = compute_statistics(conn, now=NOW)

    assert_legacy_equal(stats, legacy_statistics(tenant.reported))
    assert stats["total_count"] == 191  # 200 - 15 resolved + 6 new
    assert list(stats)[: len(LEGACY_KEYS)] == list(LEGACY_KEYS)
    assert json.loads(to_json(stats)) == stats


def test_zero_cvss_scores_are_ignored_as_the_earlier_tool_did(
    tenant: Tenant, conn: sqlite3.Connection
) -> None:
    zero_scored = [v for v in tenant.reported if v["cvssSeverityScore"] == 0.0]
    assert zero_scored, "the factory makes some 0.0 scores"
    stats = compute_statistics(conn, now=NOW)

    for severity in SEVERITIES:
        scored = [
            v["cvssSeverityScore"]
            for v in tenant.reported
            if v["severity"] == severity and v["cvssSeverityScore"] is not None
        ]
        with_zeros = sum(scored) / len(scored)
        without = [s for s in scored if s != 0.0]
        assert stats["average_cvss_by_severity"][severity.lower()] == pytest.approx(
            sum(without) / len(without)
        )
        if len(without) != len(scored):
            assert stats["average_cvss_by_severity"][severity.lower()] != pytest.approx(with_zeros)


def cve_matches(needle: str) -> Callable[[dict[str, Any]], bool]:
    def match(v: dict[str, Any]) -> bool:
        texts = [v["name"], *v["relatedVulns"]]
        return any(needle.lower() in t.lower() for t in texts)

    return match


FILTER_CASES: list[tuple[str, VulnerabilityFilter, Callable[[dict[str, Any]], bool], str]] = [
    (
        "severity",
        VulnerabilityFilter(severities=("CRITICAL", "high")),
        lambda v: v["severity"] in ("CRITICAL", "HIGH"),
        "reported",
    ),
    ("cve", VulnerabilityFilter(cve="ghsa-3"), cve_matches("ghsa-3"), "reported"),
    ("cve-name", VulnerabilityFilter(cve="2024-001"), cve_matches("2024-001"), "reported"),
    (
        "asset",
        VulnerabilityFilter(asset_id="asset-007"),
        lambda v: v["targetId"] == "asset-007",
        "reported",
    ),
    (
        "integration",
        VulnerabilityFilter(integration_ids=("snyk",)),
        lambda v: v["integrationId"] == "snyk",
        "reported",
    ),
    ("fixable", VulnerabilityFilter(fixable=True), lambda v: v["isFixable"], "reported"),
    (
        "identified",
        VulnerabilityFilter(identified_start="2025-01-01", identified_end="2025-03-31"),
        lambda v: "2025-01-01" <= v["firstDetectedDate"][:10] <= "2025-03-31",
        "reported",
    ),
    (
        "remediated",
        VulnerabilityFilter(remediated_start=DAY2 - timedelta(days=1)),
        lambda v: (
            v["deactivateMetadata"] is not None
            and v["deactivateMetadata"]["deactivatedOnDate"] >= iso(DAY2 - timedelta(days=1))
        ),
        "reported",
    ),
    (
        "status-active",
        VulnerabilityFilter(statuses=("active",)),
        lambda v: v["deactivateMetadata"] is None,
        "reported",
    ),
    ("status-resolved", VulnerabilityFilter(statuses=("resolved",)), lambda v: True, "resolved"),
    ("status-all", VulnerabilityFilter(statuses=("all",)), lambda v: True, "all"),
]


@pytest.mark.parametrize(
    ("criteria", "predicate", "scope"),
    [case[1:] for case in FILTER_CASES],
    ids=[case[0] for case in FILTER_CASES],
)
def test_each_filter_changes_the_legacy_statistics_as_predicted(
    tenant: Tenant,
    conn: sqlite3.Connection,
    criteria: VulnerabilityFilter,
    predicate: Callable[[dict[str, Any]], bool],
    scope: str,
) -> None:
    population = {
        "reported": tenant.reported,
        "resolved": [tenant.all_vulns[i] for i in sorted(tenant.resolved_ids)],
        "all": list(tenant.all_vulns.values()),
    }[scope]
    expected = [v for v in population if predicate(v)]
    assert expected and len(expected) != len(tenant.reported), "the case must change the scope"

    stats = compute_statistics(conn, criteria, now=NOW)

    assert_legacy_equal(stats, legacy_statistics(expected))


def test_filters_are_reported_in_json_form(conn: sqlite3.Connection) -> None:
    criteria = VulnerabilityFilter(
        severities=["HIGH"], identified_start=datetime(2025, 1, 1, tzinfo=UTC), cve="CVE"
    )
    stats = compute_statistics(conn, criteria, now=NOW)

    assert stats["filters"] == {
        "severities": ["HIGH"],
        "identified_start": "2025-01-01T00:00:00.000Z",
        "cve": "CVE",
        "statuses": ["active", "deactivated"],
    }
    assert stats["generated_at"] == iso(NOW)
    # The end of the second (last complete) sync.
    assert stats["data_as_of"] is not None and stats["data_as_of"] >= iso(DAY2)


# --------------------------------------------------------------------------------------------
# New statistics


def is_open(v: dict[str, Any]) -> bool:
    return v["deactivateMetadata"] is None


def age_bucket(v: dict[str, Any]) -> str:
    days = math.floor((NOW - parse_timestamp(v["firstDetectedDate"])).total_seconds() / 86400)
    if days <= 30:
        return "0-30"
    if days <= 90:
        return "31-90"
    if days <= 180:
        return "91-180"
    if days <= 365:
        return "181-365"
    return ">365"


def test_open_overdue_and_age_buckets(tenant: Tenant, conn: sqlite3.Connection) -> None:
    stats = compute_statistics(conn, now=NOW)

    open_findings = [v for v in tenant.reported if is_open(v)]
    assert stats["open_findings"]["total"] == len(open_findings)
    assert stats["open_findings"]["by_severity"] == dict(
        Counter(v["severity"] for v in open_findings)
    )
    overdue = [v for v in open_findings if v["remediateByDate"] and v["remediateByDate"] < iso(NOW)]
    assert 0 < len(overdue) < len(open_findings)
    assert stats["overdue"]["total"] == len(overdue)
    assert stats["overdue"]["by_severity"] == dict(Counter(v["severity"] for v in overdue))

    buckets = Counter(age_bucket(v) for v in open_findings)
    expected = {label: buckets.get(label, 0) for label in ("0-30", "31-90", "91-180")}
    expected |= {label: buckets.get(label, 0) for label in ("181-365", ">365")}
    expected["unknown"] = 0
    assert stats["open_age_buckets"]["buckets"] == expected
    critical = Counter(age_bucket(v) for v in open_findings if v["severity"] == "CRITICAL")
    assert stats["open_age_buckets"]["by_severity"]["CRITICAL"]["0-30"] == critical["0-30"]


def test_overdue_moves_with_now(tenant: Tenant, conn: sqlite3.Connection) -> None:
    later = NOW + timedelta(days=400)
    stats = compute_statistics(conn, now=later)

    expected = [
        v
        for v in tenant.reported
        if is_open(v) and v["remediateByDate"] and v["remediateByDate"] < iso(later)
    ]
    assert stats["overdue"]["total"] == len(expected)
    assert stats["generated_at"] == iso(later)


def top(counter: Counter[str], n: int) -> list[tuple[str, int]]:
    return sorted(counter.items(), key=lambda item: (-item[1], item[0]))[:n]


def test_top_lists(tenant: Tenant, conn: sqlite3.Connection) -> None:
    stats = compute_statistics(conn, now=NOW, top_n=5)

    packages = Counter(v["packageIdentifier"] for v in tenant.reported if v["packageIdentifier"])
    assets = Counter(v["targetId"] for v in tenant.reported)
    cves = Counter(v["name"] for v in tenant.reported)
    assert [(i["package"], i["count"]) for i in stats["top_packages"]] == top(packages, 5)
    assert [(i["cve"], i["count"]) for i in stats["top_cves"]] == top(cves, 5)
    assert [(i["asset_id"], i["count"]) for i in stats["top_assets"]] == top(assets, 5)
    # Names come from the vulnerable assets the tenant has (the first 25 targets only).
    known = set(sorted({v["targetId"] for v in tenant.day1})[:25])
    assert {item["asset_id"] for item in stats["top_assets"]} - known, "some have no asset row"
    for item in stats["top_assets"]:
        assert item["name"] == (f"host {item['asset_id']}" if item["asset_id"] in known else None)


def test_top_n_zero_keeps_the_distinct_counts(tenant: Tenant, conn: sqlite3.Connection) -> None:
    stats = compute_statistics(conn, now=NOW, top_n=0)

    assert stats["top_assets"] == stats["top_cves"] == stats["top_packages"] == []
    assert stats["unique_assets_count"] == len({v["targetId"] for v in tenant.reported})
    assert stats["unique_cves_count"] == len({v["name"] for v in tenant.reported})


def remediated(rems: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rems if r["remediationDate"] is not None]


def sla_counts(rems: list[dict[str, Any]]) -> dict[str, Any]:
    on_time = sum(
        1 for r in rems if r["slaDeadlineDate"] and r["remediationDate"] <= r["slaDeadlineDate"]
    )
    late = sum(
        1 for r in rems if r["slaDeadlineDate"] and r["remediationDate"] > r["slaDeadlineDate"]
    )
    without = sum(1 for r in rems if not r["slaDeadlineDate"])
    return {
        "on_time": on_time,
        "late": late,
        "without_deadline": without,
        "compliance_pct": round(100 * on_time / (on_time + late), 2),
    }


def test_remediation_sla_compliance(tenant: Tenant, conn: sqlite3.Connection) -> None:
    stats = compute_statistics(conn, now=NOW)
    done = remediated(tenant.remediations)
    sla = stats["remediation_sla"]

    expected = sla_counts(done)
    assert expected["on_time"] and expected["late"] and expected["without_deadline"]
    assert {k: sla[k] for k in expected} == expected
    for severity in SEVERITIES:
        of_severity = [r for r in done if r["severity"] == severity]
        entry = sla["by_severity"][severity]
        assert {k: entry[k] for k in expected} == sla_counts(of_severity)
    months = Counter(r["remediationDate"][:7] for r in done)
    assert {
        m: sum(e[k] for k in ("on_time", "late", "without_deadline"))
        for m, e in sla["by_month"].items()
    } == dict(months)
    assert list(sla["by_month"]) == sorted(months)


def days_to_remediate(r: dict[str, Any]) -> float:
    delta = parse_timestamp(r["remediationDate"]) - parse_timestamp(r["detectedDate"])
    return delta.total_seconds() / 86400


def test_time_to_remediate_mean_and_median(tenant: Tenant, conn: sqlite3.Connection) -> None:
    stats = compute_statistics(conn, now=NOW)
    done = remediated(tenant.remediations)
    ttr = stats["time_to_remediate"]

    all_days = [days_to_remediate(r) for r in done]
    assert ttr["overall"]["count"] == len(done)
    assert ttr["overall"]["mean_days"] == pytest.approx(statistics.mean(all_days), abs=1e-3)
    assert ttr["overall"]["median_days"] == pytest.approx(statistics.median(all_days), abs=1e-3)
    counts = Counter(r["severity"] for r in done)
    assert {s for s in counts if counts[s] % 2 == 0} and {s for s in counts if counts[s] % 2}, (
        "both even and odd group sizes are exercised"
    )
    for severity in SEVERITIES:
        days = [days_to_remediate(r) for r in done if r["severity"] == severity]
        entry = ttr["by_severity"][severity]
        assert entry["count"] == len(days)
        assert entry["mean_days"] == pytest.approx(statistics.mean(days), abs=1e-3)
        assert entry["median_days"] == pytest.approx(statistics.median(days), abs=1e-3)


REMEDIATION_FILTER_CASES: list[tuple[str, VulnerabilityFilter, Callable[..., bool]]] = [
    (
        "severity",
        VulnerabilityFilter(severities=("LOW",)),
        lambda r, vulns: r["severity"] == "LOW",
    ),
    (
        "asset",
        VulnerabilityFilter(asset_id="asset-003"),
        lambda r, vulns: r["vulnerableAssetId"] == "asset-003",
    ),
    (
        "remediated-dates",
        VulnerabilityFilter(remediated_start="2025-01-01", remediated_end="2025-03-31"),
        lambda r, vulns: "2025-01-01" <= r["remediationDate"][:10] <= "2025-03-31",
    ),
    (
        "identified-dates",
        VulnerabilityFilter(identified_start="2024-12-01"),
        lambda r, vulns: r["detectedDate"] >= "2024-12-01",
    ),
    (
        # Through the finding: remediations whose finding is not stored do not match.
        "integration",
        VulnerabilityFilter(integration_ids=("github",)),
        lambda r, vulns: (
            r["vulnerabilityId"] in vulns
            and vulns[r["vulnerabilityId"]]["integrationId"] == "github"
        ),
    ),
    (
        "cve",
        VulnerabilityFilter(cve="CVE-2024-000"),
        lambda r, vulns: (
            r["vulnerabilityId"] in vulns and "CVE-2024-000" in vulns[r["vulnerabilityId"]]["name"]
        ),
    ),
]


@pytest.mark.parametrize(
    ("criteria", "predicate"),
    [case[1:] for case in REMEDIATION_FILTER_CASES],
    ids=[case[0] for case in REMEDIATION_FILTER_CASES],
)
def test_filters_on_remediation_statistics(
    tenant: Tenant,
    conn: sqlite3.Connection,
    criteria: VulnerabilityFilter,
    predicate: Callable[..., bool],
) -> None:
    done = remediated(tenant.remediations)
    expected = [r for r in done if predicate(r, tenant.all_vulns)]
    assert 0 < len(expected) < len(done)

    stats = compute_statistics(conn, criteria, now=NOW)

    sla = stats["remediation_sla"]
    assert sla["on_time"] + sla["late"] + sla["without_deadline"] == len(expected)
    assert sla["on_time"] == sla_counts(expected)["on_time"]
    overall = stats["time_to_remediate"]["overall"]
    assert overall["count"] == len(expected)
    assert overall["median_days"] == pytest.approx(
        statistics.median(map(days_to_remediate, expected)), abs=1e-3
    )


def test_trends_per_synced_day(tenant: Tenant, conn: sqlite3.Connection) -> None:
    stats = compute_statistics(conn, now=NOW)
    days = stats["trends"]["days"]

    assert [d["date"] for d in days] == [DAY1.date().isoformat(), DAY2.date().isoformat()]
    first, second = days
    assert (first["syncs"], first["reported"], first["discovered"]) == (1, 200, 200)
    assert first["remediated"] == first["resolved"] == first["reactivated"] == 0
    open_day1 = [v for v in tenant.day1 if is_open(v)]
    assert first["open_total"] == len(open_day1)
    assert first["open_by_severity"] == dict(Counter(v["severity"] for v in open_day1))

    assert second["syncs"] == 1 and second["reported"] == len(tenant.reported)
    assert second["discovered"] == len(tenant.discovered_day2)
    assert second["remediated"] == len(tenant.newly_deactivated)
    assert second["reactivated"] == len(tenant.reactivated)
    assert second["resolved"] == len(tenant.resolved_ids)
    assert second["updated"] > 0
    # Open at the end of day 2 equals what the store holds as open now.
    assert second["open_total"] == stats["open_findings"]["total"]
    assert second["open_by_severity"] == stats["open_findings"]["by_severity"]
    # The open counts say they are approximate, and why; the event counts are not marked.
    assert stats["trends"]["approximate"] == ["open_by_severity", "open_total"]
    assert "approximate" in stats["trends"]["note"]


def test_trends_follow_the_filter(tenant: Tenant, conn: sqlite3.Connection) -> None:
    stats = compute_statistics(conn, VulnerabilityFilter(severities=("HIGH",)), now=NOW)
    first, second = stats["trends"]["days"]

    assert first["discovered"] == sum(1 for v in tenant.day1 if v["severity"] == "HIGH")
    resolved_high = sum(1 for i in tenant.resolved_ids if tenant.all_vulns[i]["severity"] == "HIGH")
    assert second["resolved"] == resolved_high
    assert set(second["open_by_severity"]) == {"HIGH"}


def test_a_back_filled_day_lands_on_its_own_date(tmp_path: Path) -> None:
    # A sync run today for the day before yesterday, then today's own sync.
    today = datetime.now(UTC).date()
    missed = today - timedelta(days=2)
    config = SimulatorConfig(
        records=300,
        seed=4,
        client_id="vci_backfill",
        client_secret="test-secret-backfill",
        rate_limit=0,
        token_rate_limit=0,
    )
    database = tmp_path / "backfill.db"
    with VantaSimulator(config) as sim:
        client = VantaClient(
            Credentials("vci_backfill", "test-secret-backfill"),
            base_url=sim.url,
            requests_per_minute=None,
        )
        with client, SQLiteStorage(database) as store:
            back_filled = run_sync(client, store, run_date=missed).summary
            routine = run_sync(client, store).summary

    with sqlite3.connect(database) as db:
        runs = db.execute(
            "SELECT id, sync_date, started_at FROM sync_history ORDER BY id"
        ).fetchall()
        snapshot_days = db.execute(
            "SELECT sync_id, substr(snapshot_date, 1, 10), count(*) FROM vulnerability_history "
            "GROUP BY 1, 2 ORDER BY 1"
        ).fetchall()
        stats = compute_statistics(db, now=datetime.now(UTC))

    def day(text: str) -> date:
        return date.fromisoformat(text[:10])

    (first_id, first_date, first_start), (_, second_date, second_start) = runs
    assert day(first_date) == missed
    # The real start is kept, and the stamp keeps its time of day; today's run is stamped with
    # its start, as every run was before run dates.
    assert day(first_start) >= today and first_date[10:] == first_start[10:]
    assert second_date == second_start and day(second_date) >= today
    assert snapshot_days == [(first_id, missed.isoformat(), back_filled.discovered)]
    assert back_filled.discovered > 0 and routine.changes.total == 0
    days = stats["trends"]["days"]
    assert [d["date"] for d in days] == [missed.isoformat(), second_date[:10]]
    assert (days[0]["syncs"], days[0]["discovered"]) == (1, back_filled.discovered)
    assert (days[1]["syncs"], days[1]["discovered"]) == (1, 0)
    assert days[0]["reported"] == days[1]["reported"] == back_filled.counts(V).fetched


def test_csv_holds_every_statistic(conn: sqlite3.Connection) -> None:
    stats = compute_statistics(conn, now=NOW)
    lines = to_csv(stats).splitlines()

    assert lines[0] == "section,key,value"
    assert f"summary,total_count,{stats['total_count']}" in lines
    assert f"overdue,total,{stats['overdue']['total']}" in lines
    assert f"by_severity,HIGH,{stats['by_severity']['HIGH']}" in lines


# --------------------------------------------------------------------------------------------
# Databases of the earlier tool, and a large synthetic store


LEGACY_DDL = """
CREATE TABLE vulnerabilities (
    id TEXT PRIMARY KEY, name TEXT, description TEXT, integration_id TEXT,
    package_identifier TEXT, vulnerability_type TEXT, target_id TEXT, first_detected_date TEXT,
    source_detected_date TEXT, last_detected_date TEXT, severity TEXT, cvss_severity_score REAL,
    scanner_score REAL, is_fixable BOOLEAN, remediate_by_date TEXT, external_url TEXT,
    scan_source TEXT, deactivate_metadata TEXT, related_vulns TEXT, related_urls TEXT,
    last_updated TEXT, raw_data TEXT);
CREATE TABLE vulnerability_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT, vuln_id TEXT NOT NULL, name TEXT, severity TEXT,
    is_deactivated BOOLEAN, deactivation_date TEXT, snapshot_date TEXT NOT NULL,
    change_type TEXT, raw_data TEXT);
CREATE TABLE sync_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT, sync_date TEXT NOT NULL, vulnerabilities_count INTEGER,
    new_count INTEGER, updated_count INTEGER, remediated_count INTEGER);
"""


def test_statistics_over_an_upgraded_database_of_the_earlier_tool(tmp_path: Path) -> None:
    rng = random.Random(7)
    vulns = [make_vulnerability(rng, n) for n in range(60)]
    path = tmp_path / "vanta_vulnerabilities.db"
    legacy = sqlite3.connect(path)
    legacy.executescript(LEGACY_DDL)
    synced = "2025-05-01T10:00:00.123456"
    for v in vulns:
        meta = json.dumps(v["deactivateMetadata"]) if v["deactivateMetadata"] else None
        legacy.execute(
            "INSERT INTO vulnerabilities VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                v["id"], v["name"], v["description"], v["integrationId"],
                v["packageIdentifier"], v["vulnerabilityType"], v["targetId"],
                v["firstDetectedDate"], None, None, v["severity"], v["cvssSeverityScore"], None,
                v["isFixable"], v["remediateByDate"], None, None, meta,
                json.dumps(v["relatedVulns"]), "[]", synced, json.dumps(v),
            ),
        )  # fmt: skip
        legacy.execute(
            "INSERT INTO vulnerability_history (vuln_id, name, severity, is_deactivated, "
            "deactivation_date, snapshot_date, change_type, raw_data) VALUES (?,?,?,?,?,?,?,?)",
            (v["id"], v["name"], v["severity"], meta is not None, None, synced, "discovered",
             json.dumps(v)),
        )  # fmt: skip
    legacy.execute(
        "INSERT INTO sync_history (sync_date, vulnerabilities_count, new_count, updated_count, "
        "remediated_count) VALUES (?, 60, 60, 0, 0)",
        (synced,),
    )
    legacy.commit()
    legacy.close()

    with SQLiteStorage(path) as store:  # upgrades in place
        stats = compute_statistics(store.connection, now=NOW)

    assert_legacy_equal(stats, legacy_statistics(vulns))
    # No remediation records in such a file: the new statistics are empty, not errors.
    assert stats["remediation_sla"]["on_time"] == stats["remediation_sla"]["late"] == 0
    assert stats["remediation_sla"]["compliance_pct"] is None
    assert stats["time_to_remediate"]["overall"] == {
        "count": 0,
        "mean_days": None,
        "median_days": None,
    }
    (day,) = stats["trends"]["days"]
    assert (day["date"], day["syncs"], day["reported"], day["discovered"]) == (
        "2025-05-01",
        1,
        60,
        60,
    )
    assert day["open_total"] == sum(1 for v in vulns if is_open(v))
    assert stats["data_as_of"] == "2025-05-01T10:00:00.123Z"


def test_synthetic_database_is_reproducible_and_consistent(tmp_path: Path) -> None:
    first = build_synthetic_database(tmp_path / "a.db", 3000, seed=5)
    second = build_synthetic_database(tmp_path / "b.db", 3000, seed=5)
    other = build_synthetic_database(tmp_path / "c.db", 3000, seed=6)

    def digest(path: Path) -> list[tuple[Any, ...]]:
        with sqlite3.connect(path) as c:
            return c.execute(
                "SELECT id, severity, target_id, first_detected_date, resolved_at "
                "FROM vulnerabilities ORDER BY id"
            ).fetchall()

    assert digest(first) == digest(second) != digest(other)
    conn = sqlite3.connect(first)
    try:
        stats = compute_statistics(conn, now=SYNTHETIC_AS_OF)
        reported = conn.execute(
            "SELECT COUNT(*) FROM vulnerabilities WHERE resolved_at IS NULL"
        ).fetchone()[0]
        remediated_rows = conn.execute(
            "SELECT detected_date, remediation_date FROM vulnerability_remediations "
            "WHERE remediation_date IS NOT NULL"
        ).fetchall()
    finally:
        conn.close()
    assert stats["total_count"] == reported
    assert set(stats["by_severity"]) == set(SEVERITIES)
    overall = stats["time_to_remediate"]["overall"]
    assert overall["count"] == len(remediated_rows) > 0
    days = [
        (parse_timestamp(done) - parse_timestamp(detected)).total_seconds() / 86400
        for detected, done in remediated_rows
    ]
    assert overall["median_days"] == pytest.approx(statistics.median(days), abs=1e-3)
    days = stats["trends"]["days"]
    assert len(days) == 30
    assert days[-1]["reported"] == reported
    assert days[-1]["open_total"] == stats["open_findings"]["total"]


def test_concurrent_queries_equal_queries_in_turn(conn: sqlite3.Connection) -> None:
    # A file database runs its queries on several connections at once; an in-memory copy has
    # only one and runs them in turn. Both must give the same statistics.
    memory = sqlite3.connect(":memory:")
    conn.backup(memory)
    now = datetime(2026, 11, 20, tzinfo=UTC)
    for filters in (None, VulnerabilityFilter(severities=["HIGH"], statuses=["all"])):
        assert compute_statistics(conn, filters, now=now) == compute_statistics(
            memory, filters, now=now
        )
    memory.close()
