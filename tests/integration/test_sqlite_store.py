"""The SQLite store on real files: writes, change classification, runs, filters, errors."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from vanta_vuln_stats.devstack.simulator import BASE_DATE, Tenant
from vanta_vuln_stats.errors import StoreError, UserInputError
from vanta_vuln_stats.model.fields import SEVERITIES, Resource, column_names
from vanta_vuln_stats.model.records import Rejection, normalize, normalize_batch
from vanta_vuln_stats.storage import (
    SQLiteStorage,
    SyncRun,
    VulnerabilityFilter,
    where_sql,
)

V = Resource.VULNERABILITIES
R = Resource.VULNERABILITY_REMEDIATIONS
A = Resource.VULNERABLE_ASSETS

T0 = datetime(2024, 11, 1, 6, 0, tzinfo=UTC)


# --------------------------------------------------------------------------------------------
# Factories: records shaped as the API sends them


def vuln_id(n: int) -> str:
    return f"{0x657191308E0674A0E8E60000 + n:024x}"


def asset_id(n: int) -> str:
    return f"{0x6733C25F852819D3B8D90000 + n:024x}"


def deactivation(on: str = "2024-02-10T08:15:00.250Z") -> dict[str, Any]:
    return {
        "isVulnDeactivatedIndefinitely": True,
        "deactivatedUntilDate": None,
        "deactivationReason": "Not applicable",
        "deactivatedOnDate": on,
        "deactivatedBy": "64b7f0c1a2b3c4d5e6f70819",
    }


def raw_vulnerability(n: int, **overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": vuln_id(n),
        "name": f"CVE-2024-{1000 + n} - openssl:3.0.{n % 10}",
        "description": f"Advisory text for finding {n}.",
        "integrationId": ("github", "aws", "qualys")[n % 3],
        "packageIdentifier": f"openssl:3.0.{n % 10}",
        "vulnerabilityType": "COMMON",
        "targetId": asset_id(n % 7),
        "firstDetectedDate": f"2024-01-{1 + n % 28:02d}T10:{n % 60:02d}:00.{n % 1000:03d}Z",
        "sourceDetectedDate": None,
        "lastDetectedDate": None,
        "severity": SEVERITIES[n % 4],
        "cvssSeverityScore": round(4.0 + (n % 60) / 10, 1),
        "scannerScore": None,
        "isFixable": n % 2 == 0,
        "remediateByDate": "2024-03-01T00:00:00.000Z",
        "relatedVulns": [f"GHSA-{n:04d}-abcd-efgh"] if n % 5 == 0 else [],
        "relatedUrls": [f"https://nvd.nist.gov/vuln/detail/CVE-2024-{1000 + n}"],
        "externalURL": f"https://github.com/acme/app/security/dependabot/{n}",
        "scanSource": "Not provided",
        "deactivateMetadata": None,
    }
    record.update(overrides)
    return record


def raw_remediation(n: int, **overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": f"{0x671C99A98F205F26605C0000 + n:024x}",
        "vulnerabilityId": vuln_id(n),
        "vulnerableAssetId": asset_id(n % 7),
        "severity": SEVERITIES[n % 4].lower(),
        "detectedDate": "2024-10-26T07:26:33.483Z",
        "slaDeadlineDate": "2024-12-25T07:26:33.416Z",
        "remediationDate": "2024-10-29T17:00:44.826Z" if n % 2 else None,
    }
    record.update(overrides)
    return record


def raw_asset(n: int, **overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": asset_id(n),
        "name": f"acme/service-{n}",
        "assetType": "CODE_REPOSITORY",
        "hasBeenScanned": True,
        "imageScanTag": None,
        "scanners": [{"integrationId": "github", "resourceId": f"res-{n}", "assetTags": []}],
    }
    record.update(overrides)
    return record


def rows(resource: Resource, raws: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    batch = normalize_batch(resource, list(raws))
    assert not batch.rejections, batch.rejections
    return batch.rows


def full_sync(
    store: SQLiteStorage,
    vulns: list[dict[str, Any]],
    *,
    at: datetime,
    batch: int = 1000,
    remediations: list[dict[str, Any]] | None = None,
    assets: list[dict[str, Any]] | None = None,
):
    run = store.begin_sync(started_at=at)
    data = {V: vulns, R: remediations or [], A: assets or []}
    for resource, raws in data.items():
        for start in range(0, len(raws), batch):
            store.store_batch(run, resource, rows(resource, raws[start : start + batch]))
    return store.finish_sync(run, complete=list(data), fetched={r: len(x) for r, x in data.items()})


def query(store: SQLiteStorage, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    return store.connection.execute(sql, params).fetchall()


def history(store: SQLiteStorage) -> list[tuple[str, str]]:
    return query(store, "SELECT vuln_id, change_type FROM vulnerability_history ORDER BY id")


@pytest.fixture
def store(tmp_path: Path):
    with SQLiteStorage(tmp_path / "vanta.db") as opened:
        yield opened


# --------------------------------------------------------------------------------------------
# Writing


def test_first_sync_stores_every_row_in_the_store_forms(store: SQLiteStorage) -> None:
    vulns = [raw_vulnerability(n) for n in range(12)]
    vulns[3]["deactivateMetadata"] = deactivation()
    remediations = [raw_remediation(n) for n in range(5)]
    assets = [raw_asset(n) for n in range(7)]

    summary = full_sync(store, vulns, at=T0, remediations=remediations, assets=assets)

    assert summary.status == "complete"
    assert (summary.discovered, summary.updated, summary.remediated, summary.resolved) == (
        12,
        0,
        0,
        0,
    )
    assert summary.counts(V).fetched == 12 and summary.counts(V).stored == 12
    assert summary.counts(R).changes.discovered == 5
    assert summary.counts(A).changes.discovered == 7
    assert all(summary.counts(r).complete and summary.counts(r).reconciled for r in (V, R, A))
    # Every column holds what the normaliser produced, in the store's forms.
    cols = column_names(V)
    stored = {
        row[0]: dict(zip(cols, row, strict=True))
        for row in query(store, f"SELECT {', '.join(cols)} FROM vulnerabilities")
    }
    assert set(stored) == {v["id"] for v in vulns}
    fourth = stored[vuln_id(3)]
    assert fourth["is_deactivated"] == 1
    assert fourth["deactivated_on_date"] == "2024-02-10T08:15:00.250Z"
    assert fourth["deactivation_reason"] == "Not applicable"
    assert stored[vuln_id(2)]["is_deactivated"] == 0
    assert stored[vuln_id(2)]["is_fixable"] == 1
    assert stored[vuln_id(5)]["related_vulns"] == '["GHSA-0005-abcd-efgh"]'
    assert stored[vuln_id(7)]["first_detected_date"] == "2024-01-08T10:07:00.007Z"
    assert stored[vuln_id(7)]["cvss_severity_score"] == pytest.approx(4.7)
    assert json.loads(stored[vuln_id(9)]["raw_data"]) == vulns[9]
    seen = query(
        store,
        "SELECT DISTINCT first_seen_at, last_seen_at, last_seen_sync_id, resolved_at "
        "FROM vulnerabilities",
    )
    assert seen == [("2024-11-01T06:00:00.000Z", "2024-11-01T06:00:00.000Z", summary.id, None)]
    remediation_status = dict(
        query(store, "SELECT id, status FROM vulnerability_remediations ORDER BY id")
    )
    assert sorted(Counter(remediation_status.values()).items()) == [("OPEN", 3), ("REMEDIATED", 2)]
    assert query(store, "SELECT DISTINCT severity FROM vulnerability_remediations ORDER BY 1") == [
        ("CRITICAL",),
        ("HIGH",),
        ("LOW",),
        ("MEDIUM",),
    ]
    assert query(store, "SELECT integration_ids FROM vulnerable_assets LIMIT 1") == [
        ('["github"]',)
    ]
    assert sorted(history(store)) == sorted((v["id"], "discovered") for v in vulns)
    legacy = query(
        store,
        "SELECT vulnerabilities_count, new_count, updated_count, remediated_count, status, "
        "remediations_count, assets_count, rejected_count FROM sync_history",
    )
    assert legacy == [(12, 12, 0, 0, "complete", 5, 7, 0)]


def test_second_sync_classifies_every_kind_of_change(store: SQLiteStorage) -> None:
    first = [raw_vulnerability(n) for n in range(10)]
    first[1]["deactivateMetadata"] = deactivation()
    full_sync(store, first, at=T0)

    second = [raw_vulnerability(n) for n in range(10) if n != 9] + [raw_vulnerability(10)]
    second[0]["deactivateMetadata"] = deactivation("2024-11-01T07:00:00.000Z")  # remediated
    second[1]["deactivateMetadata"] = None  # reactivated
    second[2]["cvssSeverityScore"] = 9.9  # updated
    second[3]["scanSource"] = "Inspector"  # updated
    second[4]["someNewApiField"] = "x"  # not a change: only outside the model
    second[6]["lastDetectedDate"] = "2024-11-01T05:00:00.000Z"  # not a change: seen again
    at = T0 + timedelta(days=1)
    summary = full_sync(store, second, at=at, batch=4)

    assert summary.status == "complete"
    assert (
        summary.discovered,
        summary.updated,
        summary.remediated,
        summary.reactivated,
        summary.resolved,
    ) == (1, 2, 1, 1, 1)
    events = store.change_history(since=at)
    by_id = {e.vuln_id: e for e in events}
    assert {(e.vuln_id, e.change_type) for e in events} == {
        (vuln_id(0), "remediated"),
        (vuln_id(1), "reactivated"),
        (vuln_id(2), "updated"),
        (vuln_id(3), "updated"),
        (vuln_id(9), "resolved"),
        (vuln_id(10), "discovered"),
    }
    assert by_id[vuln_id(2)].changed_fields == ("cvss_severity_score",)
    assert by_id[vuln_id(3)].changed_fields == ("scan_source",)
    assert by_id[vuln_id(0)].changed_fields == (
        "deactivate_metadata",
        "is_deactivated",
        "deactivated_on_date",
        "deactivation_reason",
        "deactivated_by",
    )
    assert by_id[vuln_id(0)].is_deactivated is True
    assert by_id[vuln_id(0)].deactivation_date == datetime(2024, 11, 1, 7, tzinfo=UTC)
    assert all(e.snapshot_date == at and e.sync_id == summary.id for e in events)
    # Unchanged rows moved their last-seen marks only; first_seen_at is the first run's.
    unchanged = query(
        store,
        "SELECT first_seen_at, last_seen_at, last_seen_sync_id, last_updated FROM vulnerabilities "
        "WHERE id = ?",
        vuln_id(5),
    )
    assert unchanged == [
        (
            "2024-11-01T06:00:00.000Z",
            "2024-11-02T06:00:00.000Z",
            summary.id,
            "2024-11-01T06:00:00.000Z",
        )
    ]
    resolved = query(store, "SELECT resolved_at FROM vulnerabilities WHERE id = ?", vuln_id(9))
    assert resolved == [("2024-11-02T06:00:00.000Z",)]
    assert query(store, "SELECT count(*) FROM vulnerabilities")[0][0] == 11
    # Rows changed without an event still hold the record as last served.
    for n in (4, 6):
        assert query(store, "SELECT raw_data FROM vulnerabilities WHERE id = ?", vuln_id(n)) == [
            (json.dumps(second[n], separators=(",", ":"), sort_keys=True),)
        ]


def test_a_sighting_alone_is_not_a_change_but_the_row_has_it(store: SQLiteStorage) -> None:
    full_sync(store, [raw_vulnerability(n) for n in range(3)], at=T0)
    seen_again = raw_vulnerability(1, lastDetectedDate="2024-11-02T05:00:00.000Z")
    at = T0 + timedelta(days=1)

    summary = full_sync(store, [raw_vulnerability(0), seen_again, raw_vulnerability(2)], at=at)

    assert summary.changes.total == 0 and summary.counts(V).stored == 3
    assert store.change_history(since=at) == []
    assert query(store, "SELECT updated_count FROM sync_history WHERE id = ?", summary.id) == [(0,)]
    assert query(
        store,
        "SELECT last_detected_date, raw_data, last_seen_at, last_seen_sync_id, last_updated "
        "FROM vulnerabilities WHERE id = ?",
        vuln_id(1),
    ) == [
        (
            "2024-11-02T05:00:00.000Z",
            json.dumps(seen_again, separators=(",", ":"), sort_keys=True),
            "2024-11-02T06:00:00.000Z",
            summary.id,
            "2024-11-02T06:00:00.000Z",
        )
    ]


def test_a_tracked_change_names_only_that_field(store: SQLiteStorage) -> None:
    full_sync(store, [raw_vulnerability(n) for n in range(2)], at=T0)
    # Re-scored on a rescan: the sighting moves too, and is not named.
    rescored = raw_vulnerability(
        1, severity="CRITICAL", lastDetectedDate="2024-11-02T05:00:00.000Z"
    )
    at = T0 + timedelta(days=1)

    summary = full_sync(store, [raw_vulnerability(0), rescored], at=at)

    assert (summary.updated, summary.changes.total) == (1, 1)
    [event] = store.change_history(since=at)
    assert (event.vuln_id, event.change_type, event.changed_fields) == (
        vuln_id(1),
        "updated",
        ("severity",),
    )
    assert event.severity == "CRITICAL"
    assert query(store, "SELECT raw_data FROM vulnerability_history WHERE id = ?", event.id) == [
        (json.dumps(rescored, separators=(",", ":"), sort_keys=True),)
    ]


def test_a_change_outside_the_model_is_not_an_event(store: SQLiteStorage) -> None:
    vulns = [raw_vulnerability(n) for n in range(2)]
    remediations = [raw_remediation(n) for n in range(2)]
    assets = [raw_asset(n) for n in range(2)]
    full_sync(store, vulns, remediations=remediations, assets=assets, at=T0)
    vulns[0]["epssScore"] = 0.42
    remediations[0]["integrationType"] = "VULNERABILITY_SCANNER"
    assets[0]["riskScore"] = 3
    at = T0 + timedelta(days=1)

    summary = full_sync(store, vulns, remediations=remediations, assets=assets, at=at)

    assert [summary.counts(r).changes.total for r in (V, R, A)] == [0, 0, 0]
    assert store.change_history(since=at) == []
    stored = [
        json.loads(query(store, f"SELECT raw_data FROM {table} WHERE id = ?", raws[0]["id"])[0][0])
        for table, raws in (
            ("vulnerabilities", vulns),
            ("vulnerability_remediations", remediations),
            ("vulnerable_assets", assets),
        )
    ]
    assert stored == [vulns[0], remediations[0], assets[0]]


def test_a_finding_back_unchanged_after_resolution_names_no_field(store: SQLiteStorage) -> None:
    vulns = [raw_vulnerability(n) for n in range(2)]
    full_sync(store, vulns, at=T0)
    full_sync(store, vulns[:1], at=T0 + timedelta(days=1))
    at = T0 + timedelta(days=2)

    full_sync(store, vulns, at=at)

    [event] = store.change_history(since=at)
    assert (event.vuln_id, event.change_type, event.changed_fields) == (
        vuln_id(1),
        "reactivated",
        (),
    )


def test_consecutive_simulator_days_count_only_tracked_changes(store: SQLiteStorage) -> None:
    # A simulated tenant's next day: a third of the findings are only seen again, a few are
    # re-scored. Expected counts come from the served records alone.
    tenant = Tenant(1500, seed=7)
    every = {"includeVulnerabilitiesWithoutSlas": "true"}
    day1, day2 = BASE_DATE, BASE_DATE + timedelta(days=1)
    served = {
        (day, resource): list(
            tenant.iter_records(resource, as_of=day, params=every if resource is V else None)
        )
        for day in (day1, day2)
        for resource in (V, R, A)
    }

    def sync(day: date, at: datetime):
        return full_sync(
            store,
            served[day, V],
            remediations=served[day, R],
            assets=served[day, A],
            at=at,
        )

    sync(day1, T0)
    at = T0 + timedelta(days=1)
    summary = sync(day2, at)

    def by_id(day: date, resource: Resource) -> dict[str, dict[str, Any]]:
        return {r["id"]: r for r in served[day, resource]}

    def without_sighting(record: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in record.items() if k != "lastDetectedDate"}

    before, after = by_id(day1, V), by_id(day2, V)
    kept = [
        i
        for i in before.keys() & after.keys()
        if (before[i]["deactivateMetadata"] is None) == (after[i]["deactivateMetadata"] is None)
    ]
    updated = {i for i in kept if without_sighting(before[i]) != without_sighting(after[i])}
    seen_again = {i for i in kept if before[i] != after[i]} - updated
    assert updated, "the simulated day must re-score some findings"
    assert len(seen_again) > len(after) // 4
    assert summary.updated == len(updated)
    recorded = store.change_history(since=at, change_types=["updated"])
    assert {e.vuln_id for e in recorded} == updated
    assert all("last_detected_date" not in e.changed_fields for e in recorded)
    assert query(
        store,
        "SELECT count(*) FROM vulnerabilities v WHERE v.last_seen_sync_id = ? AND "
        "v.last_detected_date IS json_extract(v.raw_data, '$.lastDetectedDate')",
        summary.id,
    ) == [(len(after),)]
    remediations = (by_id(day1, R), by_id(day2, R))
    changed_remediations = [
        i
        for i in remediations[0].keys() & remediations[1].keys()
        if remediations[0][i] != remediations[1][i]
    ]
    assert summary.counts(R).changes.updated == len(changed_remediations) > 0
    assert summary.counts(A).changes.total == 0


def test_a_resolved_finding_that_comes_back_is_reactivated(store: SQLiteStorage) -> None:
    vulns = [raw_vulnerability(n) for n in range(4)]
    full_sync(store, vulns, at=T0)
    full_sync(store, vulns[:3], at=T0 + timedelta(days=1))
    back_deactivated = raw_vulnerability(3, deactivateMetadata=deactivation())

    third = full_sync(store, [*vulns[:3], back_deactivated], at=T0 + timedelta(days=2))
    fourth = full_sync(store, vulns, at=T0 + timedelta(days=3))

    # Back and deactivated: remediated (it was active when it went away); then reactivated.
    assert (third.remediated, third.reactivated, third.resolved) == (1, 0, 0)
    assert (fourth.remediated, fourth.reactivated, fourth.resolved) == (0, 1, 0)
    assert [t for i, t in history(store) if i == vuln_id(3)] == [
        "discovered",
        "resolved",
        "remediated",
        "reactivated",
    ]
    assert query(store, "SELECT resolved_at FROM vulnerabilities WHERE id = ?", vuln_id(3)) == [
        (None,)
    ]
    full_sync(store, vulns[:3], at=T0 + timedelta(days=4))
    fifth = full_sync(store, vulns, at=T0 + timedelta(days=5))
    assert (fifth.reactivated, fifth.updated, fifth.discovered) == (1, 0, 0)


def test_a_run_for_another_day_stamps_everything_on_that_day(store: SQLiteStorage) -> None:
    full_sync(store, [raw_vulnerability(n) for n in range(3)], at=T0 - timedelta(days=5))
    missed = (T0 - timedelta(days=2)).date()
    started = T0 + timedelta(minutes=7, seconds=3, microseconds=456_789)
    stamp = "2024-10-30T06:07:03.456Z"

    run = store.begin_sync(started_at=started, run_date=missed)
    store.store_batch(run, V, rows(V, [raw_vulnerability(0), raw_vulnerability(1, severity="LOW")]))
    store.store_batch(run, V, rows(V, [raw_vulnerability(3)]))
    store.store_rejections(run, [normalize(V, raw_vulnerability(2, severity="SEVERE"))])
    summary = store.finish_sync(run, complete=[V], fetched={V: 4})

    assert run.run_date == missed
    assert run.started_at == datetime(2024, 11, 1, 6, 7, 3, 456_000, tzinfo=UTC)
    assert run.stamp == datetime(2024, 10, 30, 6, 7, 3, 456_000, tzinfo=UTC)
    assert summary.started_at == run.started_at  # the real start
    assert query(store, "SELECT sync_date, started_at FROM sync_history WHERE id = ?", run.id) == [
        (stamp, "2024-11-01T06:07:03.456Z")
    ]
    assert {
        (e.vuln_id, e.change_type, e.snapshot_date)
        for e in store.change_history(since=T0 - timedelta(days=3))
    } == {
        (vuln_id(1), "updated", run.stamp),
        (vuln_id(3), "discovered", run.stamp),
    }
    marks = query(
        store,
        "SELECT id, first_seen_at, last_seen_at, last_updated, resolved_at FROM vulnerabilities "
        "ORDER BY id",
    )
    first = "2024-10-27T06:00:00.000Z"
    assert marks == [
        (vuln_id(0), first, stamp, first, None),  # unchanged: seen marks only
        (vuln_id(1), first, stamp, stamp, None),
        (vuln_id(2), first, stamp, first, None),  # rejected, still reported: seen
        (vuln_id(3), stamp, stamp, stamp, None),
    ]


def test_a_run_for_its_own_day_is_stamped_with_its_start(store: SQLiteStorage) -> None:
    run = store.begin_sync(started_at=T0 + timedelta(hours=17))
    explicit = store.begin_sync(started_at=T0 + timedelta(hours=17, minutes=59), run_date=T0.date())

    assert run.run_date == T0.date() and run.stamp == run.started_at
    assert explicit.stamp == explicit.started_at
    assert query(store, "SELECT sync_date = started_at FROM sync_history ORDER BY id") == [
        (1,),
        (1,),
    ]


def test_an_incomplete_walk_never_resolves(store: SQLiteStorage) -> None:
    full_sync(store, [raw_vulnerability(n) for n in range(6)], assets=[raw_asset(1)], at=T0)

    run = store.begin_sync(started_at=T0 + timedelta(days=1))
    store.store_batch(run, V, rows(V, [raw_vulnerability(n) for n in range(3)]))
    summary = store.finish_sync(run, complete=[R], fetched={V: 3, R: 0, A: 0})

    assert summary.status == "interrupted"
    assert summary.message == "walk not completed for vulnerabilities, vulnerable_assets"
    assert summary.resolved == 0
    assert query(store, "SELECT count(*) FROM vulnerabilities WHERE resolved_at IS NOT NULL") == [
        (0,)
    ]
    assert query(store, "SELECT count(*) FROM vulnerable_assets WHERE resolved_at IS NULL") == [
        (1,)
    ]


def test_assets_resolve_and_remediations_count_changes(store: SQLiteStorage) -> None:
    assets = [raw_asset(n) for n in range(4)]
    remediations = [raw_remediation(n) for n in range(4)]
    full_sync(store, [], remediations=remediations, assets=assets, at=T0)

    remediations[0]["remediationDate"] = "2024-11-01T05:00:00.000Z"
    summary = full_sync(
        store, [], remediations=remediations, assets=assets[1:], at=T0 + timedelta(days=1)
    )

    assert summary.counts(R).changes.updated == 1
    assert summary.counts(R).changes.discovered == 0
    assert summary.counts(A).changes.resolved == 1
    assert query(store, "SELECT id FROM vulnerable_assets WHERE resolved_at IS NOT NULL") == [
        (asset_id(0),)
    ]
    assert query(
        store,
        "SELECT status, is_remediated_on_time FROM vulnerability_remediations WHERE id = ?",
        remediations[0]["id"],
    ) == [("REMEDIATED", 1)]
    again = full_sync(
        store, [], remediations=remediations, assets=assets, at=T0 + timedelta(days=2)
    )
    assert again.counts(A).changes.reactivated == 1


def test_a_record_twice_in_one_batch_is_stored_once(store: SQLiteStorage) -> None:
    run = store.begin_sync(started_at=T0)
    first, again = raw_vulnerability(1), raw_vulnerability(1, cvssSeverityScore=1.5)

    counts = store.store_batch(run, V, rows(V, [first, again, raw_vulnerability(2)]))

    assert counts.discovered == 2
    assert query(
        store, "SELECT cvss_severity_score FROM vulnerabilities WHERE id = ?", vuln_id(1)
    ) == [(1.5,)]
    assert len(history(store)) == 2


def test_a_batch_beyond_sqlites_variable_limit(store: SQLiteStorage) -> None:
    # 33,000 ids exceed SQLite's default limit of 32,766 bound variables in one statement.
    raws = [raw_vulnerability(n) for n in range(33_000)]
    run = store.begin_sync(started_at=T0)
    counts = store.store_batch(run, V, rows(V, raws))
    again = store.store_batch(run, V, rows(V, raws))

    assert counts.discovered == 33_000
    assert again.total == 0
    assert query(store, "SELECT count(*) FROM vulnerabilities") == [(33_000,)]


def test_a_failing_batch_writes_nothing(store: SQLiteStorage) -> None:
    run = store.begin_sync(started_at=T0)
    store.store_batch(run, V, rows(V, [raw_vulnerability(1)]))
    good = rows(V, [raw_vulnerability(2), raw_vulnerability(3)])
    bad = dict(good[1], description=object())  # not a type SQLite can bind

    with pytest.raises(sqlite3.Error):
        store.store_batch(run, V, [good[0], bad])
    with pytest.raises(ValueError, match="lacks the column 'severity'"):
        store.store_batch(run, V, [{k: v for k, v in good[0].items() if k != "severity"}])

    assert query(store, "SELECT id FROM vulnerabilities") == [(vuln_id(1),)]
    assert history(store) == [(vuln_id(1), "discovered")]
    summary = store.finish_sync(run, complete=[V], fetched={V: 1})
    assert (summary.discovered, summary.counts(V).stored) == (1, 1)


class _InterruptingRow(dict):  # type: ignore[type-arg]
    """A row whose reading is cut short by Ctrl-C, half-way through a batch's writes."""

    def __getitem__(self, key: str) -> Any:
        if key == "severity":
            raise KeyboardInterrupt
        return super().__getitem__(key)


def test_ctrl_c_inside_a_batch_leaves_nothing_of_it(store: SQLiteStorage) -> None:
    first = rows(V, [raw_vulnerability(n) for n in range(3)])
    run = store.begin_sync(started_at=T0)
    store.store_batch(run, V, first)
    second = store.begin_sync(started_at=T0 + timedelta(days=1))  # run 1 becomes interrupted
    batch = [*first[:2], _InterruptingRow(rows(V, [raw_vulnerability(9)])[0])]

    with pytest.raises(KeyboardInterrupt):
        store.store_batch(second, V, batch)
    summary = store.abort_sync(second, reason="interrupted by the user")

    # The two unchanged rows were marked seen before the interruption: rolled back with it.
    assert query(store, "SELECT DISTINCT last_seen_sync_id FROM vulnerabilities") == [(run.id,)]
    assert query(store, "SELECT count(*) FROM vulnerabilities") == [(3,)]
    assert len(history(store)) == 3
    assert (summary.status, summary.counts(V).stored, summary.discovered) == ("interrupted", 0, 0)


def test_rejections_are_kept_and_counted(store: SQLiteStorage) -> None:
    raws = [raw_vulnerability(1), raw_vulnerability(2, severity="SEVERE"), {"id": 7}]
    batch = normalize_batch(V, raws)
    assert len(batch.rejections) == 2
    run = store.begin_sync(started_at=T0)

    store.store_batch(run, V, batch.rows)
    store.store_rejections(run, batch.rejections)
    summary = store.finish_sync(run, complete=[V], fetched={V: 3})

    assert (summary.counts(V).fetched, summary.counts(V).stored, summary.counts(V).rejected) == (
        3,
        1,
        2,
    )
    assert summary.counts(V).reconciled
    kept = query(
        store,
        "SELECT sync_id, resource, record_id, reasons, raw_data FROM rejected_records ORDER BY id",
    )
    assert [(k[0], k[1], k[2]) for k in kept] == [
        (run.id, "vulnerabilities", vuln_id(2)),
        (run.id, "vulnerabilities", None),
    ]
    assert any("SEVERE" in reason for reason in json.loads(kept[0][3]))
    assert json.loads(kept[0][4]) == raws[1]
    assert json.loads(kept[1][4]) == {"id": 7}
    assert query(store, "SELECT rejected_count FROM sync_history") == [(2,)]


def test_a_stored_finding_rejected_later_is_not_resolved(store: SQLiteStorage) -> None:
    full_sync(store, [raw_vulnerability(n) for n in range(3)], at=T0)
    served = [raw_vulnerability(0), raw_vulnerability(1), raw_vulnerability(2, severity=None)]
    batch = normalize_batch(V, served)
    run = store.begin_sync(started_at=T0 + timedelta(days=1))

    store.store_batch(run, V, batch.rows)
    store.store_rejections(run, batch.rejections)
    summary = store.finish_sync(run, complete=[V], fetched={V: 3})

    # The API still lists it (in a shape the model refused): seen, not resolved, data kept.
    assert summary.resolved == 0 and summary.counts(V).rejected == 1
    assert query(
        store,
        "SELECT last_seen_sync_id, resolved_at, severity FROM vulnerabilities WHERE id = ?",
        vuln_id(2),
    ) == [(run.id, None, SEVERITIES[2])]


# --------------------------------------------------------------------------------------------
# Runs: interruption, crash, takeover


def _table_state(store: SQLiteStorage) -> list[tuple[Any, ...]]:
    cols = ", ".join(column_names(V))
    return query(store, f"SELECT {cols}, resolved_at FROM vulnerabilities ORDER BY id")


def test_interrupted_then_full_sync_equals_a_clean_run(tmp_path: Path) -> None:
    before = [raw_vulnerability(n) for n in range(40)]
    after = [raw_vulnerability(n) for n in range(2, 44)]
    after[5]["deactivateMetadata"] = deactivation()
    with SQLiteStorage(tmp_path / "clean.db") as clean:
        full_sync(clean, before, at=T0, batch=10)
        clean_summary = full_sync(clean, after, at=T0 + timedelta(days=1), batch=10)
        clean_state, clean_history = _table_state(clean), Counter(history(clean))

    with SQLiteStorage(tmp_path / "interrupted.db") as store:
        full_sync(store, before, at=T0, batch=10)
        run = store.begin_sync(started_at=T0 + timedelta(hours=12))
        for start in (0, 10):  # half of the batches, then Ctrl-C
            store.store_batch(run, V, rows(V, after[start : start + 10]))
        aborted = store.abort_sync(run, reason="interrupted by the user")
        final = full_sync(store, after, at=T0 + timedelta(days=1), batch=10)

        assert aborted.status == "interrupted"
        assert aborted.message == "interrupted by the user"
        assert aborted.resolved == 0 and aborted.counts(V).stored == 20
        assert aborted.counts(V).fetched == 20 and not aborted.counts(V).complete
        assert _table_state(store) == clean_state
        assert Counter(history(store)) == clean_history
        assert Counter(t for _, t in history(store))["discovered"] == 44
        assert final.resolved == clean_summary.resolved == 2
        assert aborted.discovered + final.discovered == clean_summary.discovered
        assert [s.status for s in store.sync_history()] == ["complete", "interrupted", "complete"]


def test_a_run_left_running_by_a_crash_is_recorded_as_interrupted(tmp_path: Path) -> None:
    path = tmp_path / "vanta.db"
    crashed = SQLiteStorage(path)
    run = crashed.begin_sync(started_at=T0)
    crashed.store_batch(run, V, rows(V, [raw_vulnerability(n) for n in range(5)]))
    crashed.close()  # the process died: no finish, no abort

    with SQLiteStorage(path) as store:
        assert store.last_sync() is not None and store.last_sync().status == "running"
        summary = full_sync(
            store, [raw_vulnerability(n) for n in range(6)], at=T0 + timedelta(days=1)
        )
        first, second = store.sync_history()

    assert (first.id, first.status, first.finished_at) == (run.id, "interrupted", None)
    assert first.message == "the process ended before the sync finished"
    assert (first.counts(V).stored, first.counts(V).fetched, first.discovered) == (5, 5, 5)
    assert (second.id, second.status, second.discovered, second.resolved) == (
        summary.id,
        "complete",
        1,
        0,
    )


def test_a_second_writer_takes_over_and_the_first_stops(tmp_path: Path) -> None:
    path = tmp_path / "vanta.db"
    with SQLiteStorage(path) as first, SQLiteStorage(path) as second:
        run = first.begin_sync(started_at=T0)
        second.begin_sync(started_at=T0 + timedelta(minutes=1))
        with pytest.raises(StoreError, match=f"Sync run {run.id} .* is already interrupted"):
            first.store_batch(run, V, rows(V, [raw_vulnerability(1)]))


def test_last_sync_and_complete_only(store: SQLiteStorage) -> None:
    assert store.last_sync() is None and not store.has_data()
    done = full_sync(store, [raw_vulnerability(1)], at=T0)
    run = store.begin_sync(started_at=T0 + timedelta(days=1))
    failed = store.abort_sync(run, reason="ConnectError: boom", status="failed")

    assert store.has_data()
    assert store.last_sync() == failed and failed.status == "failed"
    assert store.last_sync(complete_only=True) == done
    assert done.started_at == T0 and done.finished_at is not None and done.finished_at >= T0


# --------------------------------------------------------------------------------------------
# Reading: change history, export, filters


def test_change_history_filters(store: SQLiteStorage) -> None:
    vulns = [raw_vulnerability(n) for n in range(5)]
    full_sync(store, vulns, at=T0)
    vulns[0]["deactivateMetadata"] = deactivation()
    full_sync(store, vulns[:4], at=T0 + timedelta(days=1))

    assert len(store.change_history()) == 7
    assert len(store.change_history(until=T0)) == 5
    assert [e.change_type for e in store.change_history(since=T0 + timedelta(hours=1))] == [
        "remediated",
        "resolved",
    ]
    assert [e.change_type for e in store.change_history(vuln_id=vuln_id(0))] == [
        "discovered",
        "remediated",
    ]
    assert [e.vuln_id for e in store.change_history(change_types=["resolved"])] == [vuln_id(4)]
    assert len(store.change_history(limit=2)) == 2


def test_export_returns_the_raw_records(store: SQLiteStorage) -> None:
    vulns = [raw_vulnerability(n) for n in range(6)]
    vulns[2]["deactivateMetadata"] = deactivation()
    full_sync(store, vulns, at=T0)
    full_sync(store, vulns[1:], at=T0 + timedelta(days=1))

    exported = list(store.iter_vulnerabilities())
    assert exported == sorted(vulns[1:], key=lambda v: v["id"])
    only_critical = list(store.iter_vulnerabilities(VulnerabilityFilter(severities=("critical",))))
    assert only_critical == [v for v in vulns[1:] if v["severity"] == "CRITICAL"]
    resolved = list(store.iter_vulnerabilities(VulnerabilityFilter(statuses=("resolved",))))
    assert resolved == [vulns[0]]


def _filter_population(store: SQLiteStorage) -> list[dict[str, Any]]:
    vulns = [raw_vulnerability(n) for n in range(60)]
    for n in range(0, 60, 4):
        vulns[n]["deactivateMetadata"] = deactivation(f"2024-03-{1 + n % 28:02d}T12:00:00.000Z")
    vulns[7]["relatedVulns"] = ["CVE-2023-44487", "GHSA-qppj-fm5r-hxr3"]
    vulns[8]["isFixable"] = None  # rejected by the model: not stored
    full_sync(store, [v for v in vulns if v["isFixable"] is not None], at=T0)
    full_sync(
        store, [v for v in vulns[:50] if v["isFixable"] is not None], at=T0 + timedelta(days=1)
    )
    cols = [*column_names(V), "resolved_at"]
    return [
        dict(zip(cols, row, strict=True))
        for row in query(store, f"SELECT {', '.join(cols)} FROM vulnerabilities")
    ]


FILTERS = [
    VulnerabilityFilter(),
    VulnerabilityFilter(severities=("CRITICAL", "low")),
    VulnerabilityFilter(identified_start=date(2024, 1, 10), identified_end=date(2024, 1, 12)),
    VulnerabilityFilter(identified_end=datetime(2024, 1, 3, 10, 2, tzinfo=UTC)),
    VulnerabilityFilter(remediated_start="2024-03-05", remediated_end="2024-03-09"),
    VulnerabilityFilter(cve="cve-2023-44487"),
    VulnerabilityFilter(cve="CVE-2024-101"),
    VulnerabilityFilter(asset_id=asset_id(3)),
    VulnerabilityFilter(integration_ids=("aws", "qualys")),
    VulnerabilityFilter(statuses=("active",)),
    VulnerabilityFilter(statuses=("deactivated",)),
    VulnerabilityFilter(statuses=("resolved",)),
    VulnerabilityFilter(statuses=("active", "resolved")),
    VulnerabilityFilter(statuses=("all",)),
    VulnerabilityFilter(fixable=True),
    VulnerabilityFilter(fixable=False, severities=("HIGH",), statuses=("all",)),
]


def test_sql_filters_and_python_filters_agree(store: SQLiteStorage) -> None:
    population = _filter_population(store)
    for filters in FILTERS:
        sql, params = where_sql(filters, "v")
        from_sql = {
            row[0]
            for row in query(store, f"SELECT v.id FROM vulnerabilities v WHERE {sql}", *params)
        }
        from_python = {row["id"] for row in population if filters.matches(row)}
        assert from_sql == from_python, filters
        assert from_sql, f"{filters} selects nothing: the comparison would prove nothing"


def test_filters_select_the_expected_findings(store: SQLiteStorage) -> None:
    _filter_population(store)

    def ids(filters: VulnerabilityFilter) -> set[int]:
        return {int(v["id"], 16) - int(vuln_id(0), 16) for v in store.iter_vulnerabilities(filters)}

    reported = set(range(50)) - {8}
    assert ids(VulnerabilityFilter()) == reported
    assert ids(VulnerabilityFilter(statuses=("resolved",))) == set(range(50, 60))
    assert ids(VulnerabilityFilter(statuses=("deactivated",))) == set(range(0, 50, 4)) - {8}
    assert ids(VulnerabilityFilter(cve="cve-2023-44487")) == {7}
    # A date-only end bound includes the whole day: finding 11 was first seen on the 12th.
    assert ids(
        VulnerabilityFilter(identified_start="2024-01-12", identified_end=date(2024, 1, 12))
    ) == {
        11,
        39,
    }
    # Deactivated on March 1 + n % 28 for n % 4 == 0; 8 was rejected, so never stored.
    assert ids(VulnerabilityFilter(remediated_start="2024-03-05", remediated_end="2024-03-09")) == {
        4,
        32,
        36,
    }
    assert ids(VulnerabilityFilter(identified_end=datetime(2024, 1, 3, 10, 2, tzinfo=UTC))) == {
        0,
        1,
        28,
        29,
    }
    assert ids(VulnerabilityFilter(severities=("CRITICAL",), fixable=True)) == {
        n for n in reported if n % 4 == 0 and n % 2 == 0
    }


def test_bad_filter_values_are_user_errors() -> None:
    with pytest.raises(UserInputError, match="Unknown severity 'SEVERE'"):
        VulnerabilityFilter(severities=("SEVERE",))
    with pytest.raises(UserInputError, match="Unknown status 'gone'"):
        VulnerabilityFilter(statuses=("gone",))  # type: ignore[arg-type]
    with pytest.raises(UserInputError, match="Invalid date"):
        VulnerabilityFilter(identified_end="2024-13-45")


# --------------------------------------------------------------------------------------------
# Opening: files that cannot be used


def test_a_file_that_is_not_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are not the pages you are looking for\n" * 100)
    with pytest.raises(StoreError, match=f"The file {path} is not a SQLite database"):
        SQLiteStorage(path)
    assert path.read_text().startswith("these are not")


def test_a_database_from_a_newer_version(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE vulnerabilities (id TEXT PRIMARY KEY)")
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match=rf"{path} was written by a newer version .*schema 99"):
        SQLiteStorage(path)


def test_another_programs_database_and_a_folder(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    with pytest.raises(StoreError, match="belongs to another program"):
        SQLiteStorage(path)
    with pytest.raises(StoreError, match="is a folder"):
        SQLiteStorage(tmp_path)
    with pytest.raises(StoreError, match="does not exist"):
        SQLiteStorage(tmp_path / "missing" / "vanta.db")


def test_reopening_keeps_everything_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "vanta.db"
    with SQLiteStorage(path) as store:
        summary = full_sync(store, [raw_vulnerability(n) for n in range(3)], at=T0)
        assert store.notices == []
    with SQLiteStorage(path) as store:
        assert store.sync_history() == [summary]
        assert store.backup_path is None
        assert query(store, "PRAGMA journal_mode") == [("wal",)]
        assert query(store, "PRAGMA user_version") == [(1,)]
        assert not list(tmp_path.glob("*.bak"))


def test_normalised_rows_are_used_as_given(store: SQLiteStorage) -> None:
    row = normalize(V, raw_vulnerability(1))
    assert not isinstance(row, Rejection)
    run: SyncRun = store.begin_sync(started_at=T0)
    store.store_batch(run, V, [row])
    stored = query(store, "SELECT first_detected_date, is_fixable FROM vulnerabilities")
    assert stored == [("2024-01-02T10:01:00.001Z", 0)]


def _index_names(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}


def test_a_first_load_builds_the_indexes_at_the_end(tmp_path: Path) -> None:
    from vanta_vuln_stats.storage.schema import INDEXES

    expected = {name for name, _, _ in INDEXES}
    path = tmp_path / "first.db"
    with SQLiteStorage(path) as first:
        assert expected <= _index_names(path)
        run = first.begin_sync()
        assert not expected & _index_names(path)  # deferred while the empty store loads
        first.store_batch(
            run,
            Resource.VULNERABILITIES,
            rows(Resource.VULNERABILITIES, [raw_vulnerability(n) for n in range(50)]),
        )
        first.finish_sync(
            run, complete=[Resource.VULNERABILITIES], fetched={Resource.VULNERABILITIES: 50}
        )
        assert expected <= _index_names(path)
        run = first.begin_sync()  # the store has data now: indexes stay
        assert expected <= _index_names(path)
        first.abort_sync(run, reason="test")


def test_indexes_come_back_after_a_first_load_that_died(tmp_path: Path) -> None:
    from vanta_vuln_stats.storage.schema import INDEXES

    path = tmp_path / "died.db"
    store = SQLiteStorage(path)
    run = store.begin_sync()
    store.store_batch(
        run,
        Resource.VULNERABILITIES,
        rows(Resource.VULNERABILITIES, [raw_vulnerability(n) for n in range(5)]),
    )
    store._conn.close()  # the process dies: neither finish_sync nor abort_sync runs
    with SQLiteStorage(path):
        assert {name for name, _, _ in INDEXES} <= _index_names(path)
