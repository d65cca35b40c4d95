"""The simulator's seeded tenant: determinism, realism, filters, the clock, malformed records."""

from __future__ import annotations

import tracemalloc
from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from vanta_vuln_stats.devstack.simulator.tenant import (
    BASE_DATE,
    CVSS_BANDS,
    MALFORMED_KINDS,
    SLA_DAYS,
    InvalidParameter,
    Tenant,
)
from vanta_vuln_stats.model.fields import ASSET_TYPES, SEVERITIES, Resource

VULNS = Resource.VULNERABILITIES
REMEDIATIONS = Resource.VULNERABILITY_REMEDIATIONS
ASSETS = Resource.VULNERABLE_ASSETS
ALL = {"includeVulnerabilitiesWithoutSlas": "true"}


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


@pytest.fixture(scope="module")
def tenant() -> Tenant:
    return Tenant(2000, seed=7)


@pytest.fixture(scope="module")
def vulns(tenant: Tenant) -> list[dict[str, Any]]:
    return list(tenant.iter_records(VULNS, params=ALL))


@pytest.fixture(scope="module")
def remediations(tenant: Tenant) -> list[dict[str, Any]]:
    return list(tenant.iter_records(REMEDIATIONS))


@pytest.fixture(scope="module")
def assets(tenant: Tenant) -> list[dict[str, Any]]:
    return list(tenant.iter_records(ASSETS))


# -- determinism --------------------------------------------------------------------------------


def test_same_seed_yields_identical_records_in_every_listing() -> None:
    first, second = Tenant(300, seed=11), Tenant(300, seed=11)
    for resource in Resource:
        assert list(first.iter_records(resource, params=None)) == list(
            second.iter_records(resource, params=None)
        )


def test_different_seeds_yield_different_tenants() -> None:
    ids_a = {r["id"] for r in Tenant(300, seed=1).iter_records(VULNS, params=ALL)}
    ids_b = {r["id"] for r in Tenant(300, seed=2).iter_records(VULNS, params=ALL)}
    assert len(ids_a) == len(ids_b) == 300
    assert not ids_a & ids_b


def test_get_by_id_returns_the_listed_record(
    tenant: Tenant, vulns: list[dict[str, Any]], assets: list[dict[str, Any]]
) -> None:
    for record in vulns[:50]:
        assert tenant.get(VULNS, record["id"]) == record
    for record in assets[:20]:
        assert tenant.get(ASSETS, record["id"]) == record


def test_get_rejects_unknown_ids_and_ids_of_another_resource(
    tenant: Tenant, vulns: list[dict[str, Any]], remediations: list[dict[str, Any]]
) -> None:
    assert tenant.get(VULNS, "0" * 24) is None
    assert tenant.get(VULNS, "not-an-id") is None
    assert tenant.get(VULNS, remediations[0]["id"]) is None
    assert tenant.get(ASSETS, vulns[0]["id"]) is None
    # Same index, other tenant: the id does not decode to a record here.
    assert tenant.get(VULNS, next(Tenant(2000, seed=8).iter_records(VULNS))["id"]) is None


def test_ids_are_24_hex_and_unique(
    vulns: list[dict[str, Any]], remediations: list[dict[str, Any]], assets: list[dict[str, Any]]
) -> None:
    ids = [r["id"] for r in (*vulns, *remediations, *assets)]
    assert len(ids) == len(set(ids))
    assert all(len(i) == 24 and set(i) <= set("0123456789abcdef") for i in ids)


def test_a_million_record_tenant_is_served_without_materialising_it() -> None:
    tracemalloc.start()
    try:
        big = Tenant(1_000_000, seed=7)
        page = [r for _, r in zip(range(500), big.iter_records(VULNS), strict=False)]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(page) == 500
    assert big.asset_count == 50_000
    assert peak < 20 * 1024 * 1024


# -- realism ------------------------------------------------------------------------------------


def test_the_feed_holds_exactly_records_findings_at_the_base_date(
    tenant: Tenant, vulns: list[dict[str, Any]]
) -> None:
    assert len(vulns) == tenant.records == 2000


def test_severities_and_cvss_scores_agree(vulns: list[dict[str, Any]]) -> None:
    counts = Counter(r["severity"] for r in vulns)
    assert set(counts) == set(SEVERITIES)
    assert 0.02 < counts["CRITICAL"] / len(vulns) < 0.09
    assert 0.35 < counts["MEDIUM"] / len(vulns) < 0.55
    scored = [r for r in vulns if r["cvssSeverityScore"] is not None]
    assert 0.9 * len(vulns) < len(scored) < len(vulns)
    for record in scored:
        low, high = CVSS_BANDS[record["severity"]]
        assert low / 10 <= record["cvssSeverityScore"] <= high / 10


def test_remediate_by_date_is_detection_plus_the_sla_of_the_severity(
    vulns: list[dict[str, Any]],
) -> None:
    without_sla = [r for r in vulns if r["remediateByDate"] is None]
    assert 0.02 < len(without_sla) / len(vulns) < 0.09
    for record in vulns:
        if record["remediateByDate"] is not None:
            delta = _instant(record["remediateByDate"]) - _instant(record["firstDetectedDate"])
            assert delta == timedelta(days=SLA_DAYS[record["severity"]])


def test_findings_without_sla_are_left_out_unless_asked_for(
    tenant: Tenant, vulns: list[dict[str, Any]]
) -> None:
    default = [r["id"] for r in tenant.iter_records(VULNS)]
    explicit_false = [
        r["id"]
        for r in tenant.iter_records(VULNS, params={"includeVulnerabilitiesWithoutSlas": "FALSE"})
    ]
    with_sla = [r["id"] for r in vulns if r["remediateByDate"] is not None]
    assert default == explicit_false == with_sla
    assert len(default) < len(vulns)


def test_field_shapes_follow_the_api(vulns: list[dict[str, Any]]) -> None:
    types = Counter(r["vulnerabilityType"] for r in vulns)
    assert set(types) == {"COMMON", "GROUPED", "CONFIGURATION"}
    for record in vulns:
        assert record["scanSource"] == "Not provided"
        assert record["externalURL"].startswith("https://")
        assert record["firstDetectedDate"].endswith("Z") and len(record["firstDetectedDate"]) == 24
        if record["vulnerabilityType"] == "GROUPED":
            assert len(record["relatedVulns"]) >= 1
            assert record["name"].split(" - ")[0] == record["relatedVulns"][0]
        else:
            assert record["relatedVulns"] == []
        if record["vulnerabilityType"] == "CONFIGURATION":
            assert record["packageIdentifier"] is None
        else:
            assert record["name"].startswith("CVE-")
            assert record["packageIdentifier"]
            assert record["relatedUrls"][0].startswith("https://nvd.nist.gov/vuln/detail/CVE-")
        if "fixedVersion" in record:
            assert record["isFixable"] is True
    fixable = sum(r["isFixable"] for r in vulns) / len(vulns)
    assert 0.5 < fixable < 0.7
    assert any("fixedVersion" in r for r in vulns)
    assert any(" - " in r["name"] for r in vulns)
    assert sum(r["sourceDetectedDate"] is None for r in vulns) > len(vulns) / 3
    assert sum(r["scannerScore"] is None for r in vulns) > len(vulns) / 2


def test_cves_come_from_a_pool_much_smaller_than_the_findings(
    vulns: list[dict[str, Any]],
) -> None:
    cves = {r["name"].split(" - ")[0] for r in vulns if r["name"].startswith("CVE-")}
    assert 20 < len(cves) <= len(vulns) // 8


def test_about_a_tenth_of_findings_are_deactivated_with_full_metadata(
    vulns: list[dict[str, Any]],
) -> None:
    deactivated = [r for r in vulns if r["deactivateMetadata"] is not None]
    assert 0.06 < len(deactivated) / len(vulns) < 0.14
    for record in deactivated:
        meta = record["deactivateMetadata"]
        assert set(meta) == {
            "deactivatedBy",
            "deactivatedOnDate",
            "deactivationReason",
            "deactivatedUntilDate",
            "isVulnDeactivatedIndefinitely",
        }
        assert len(meta["deactivatedBy"]) == 24
        assert meta["deactivatedOnDate"] < "2026-11-02"
        assert (meta["deactivatedUntilDate"] is None) == meta["isVulnDeactivatedIndefinitely"]


def test_every_target_is_a_served_asset_scanned_by_the_finding_integration(
    vulns: list[dict[str, Any]], assets: list[dict[str, Any]]
) -> None:
    by_id = {a["id"]: a for a in assets}
    for record in vulns:
        asset = by_id[record["targetId"]]
        assert record["integrationId"] in {s["integrationId"] for s in asset["scanners"]}


def test_assets_cover_every_type_with_full_scanner_entries(
    tenant: Tenant, assets: list[dict[str, Any]]
) -> None:
    assert len(assets) == tenant.asset_count == 100
    assert {a["assetType"] for a in assets} == set(ASSET_TYPES)
    assert [a["id"] for a in assets] == tenant.asset_ids()
    for asset in assets:
        assert asset["scanners"]
        for scanner in asset["scanners"]:
            assert {"integrationId", "assetTags", "parentAccountOrOrganization", "ipv4s"} <= set(
                scanner
            )
            if asset["assetType"] in ("SERVER", "WORKSTATION"):
                assert scanner["ipv4s"] and scanner["hostnames"]
            if asset["assetType"].startswith("CONTAINER"):
                assert scanner["imageDigest"].startswith("sha256:")
    scanners = [s for a in assets for s in a["scanners"]]
    assert any("resourceId" not in s for s in scanners)
    assert {type(s["assetTags"]) for s in scanners} == {list, type(None)}


def test_remediations_match_their_vulnerabilities(
    tenant: Tenant, vulns: list[dict[str, Any]], remediations: list[dict[str, Any]]
) -> None:
    by_vuln = {r["vulnerabilityId"]: r for r in remediations}
    assert len(by_vuln) == len(remediations) == tenant.records + tenant.history_count
    for vuln in vulns:
        remediation = by_vuln[vuln["id"]]
        assert remediation["vulnerableAssetId"] == vuln["targetId"]
        assert remediation["severity"] == vuln["severity"]
        assert remediation["detectedDate"] == vuln["firstDetectedDate"]
        assert remediation["slaDeadlineDate"] == vuln["remediateByDate"]
        assert remediation["remediationDate"] is None
    history = [r for r in remediations if r["vulnerabilityId"] not in {v["id"] for v in vulns}]
    assert len(history) == tenant.history_count
    on_time = late = 0
    for record in history:
        assert record["detectedDate"] < record["remediationDate"] < "2026-11-01"
        if record["slaDeadlineDate"] is not None:
            if record["remediationDate"] <= record["slaDeadlineDate"]:
                on_time += 1
            else:
                late += 1
    assert on_time > late > len(history) / 5


def test_remediation_severity_casing_is_configurable() -> None:
    lower = Tenant(100, seed=7, remediation_severity_case="lower")
    severities = {r["severity"] for r in lower.iter_records(REMEDIATIONS)}
    assert severities == {s.lower() for s in SEVERITIES}
    with pytest.raises(ValueError, match="remediation_severity_case"):
        Tenant(10, remediation_severity_case="title")  # type: ignore[arg-type]


def test_an_empty_tenant_serves_nothing() -> None:
    empty = Tenant(0)
    later = BASE_DATE + timedelta(days=30)
    for resource in Resource:
        assert list(empty.iter_records(resource, as_of=later)) == []


# -- filters ------------------------------------------------------------------------------------


def _ids(tenant: Tenant, resource: Resource, **params: str) -> list[str]:
    return [r["id"] for r in tenant.iter_records(resource, params=params)]


def test_vulnerability_filters_match_the_record_fields(
    tenant: Tenant, vulns: list[dict[str, Any]]
) -> None:
    def expect(predicate: Any) -> list[str]:
        return [r["id"] for r in vulns if predicate(r)]

    sample = next(r for r in vulns if r["vulnerabilityType"] == "GROUPED")
    cases: list[tuple[dict[str, str], Any]] = [
        ({"severity": "HIGH"}, lambda r: r["severity"] == "HIGH"),
        ({"severity": "critical"}, lambda r: r["severity"] == "CRITICAL"),
        ({"integrationId": "github"}, lambda r: r["integrationId"] == "github"),
        ({"isFixAvailable": "true"}, lambda r: r["isFixable"]),
        ({"isFixAvailable": "False"}, lambda r: not r["isFixable"]),
        ({"isDeactivated": "true"}, lambda r: r["deactivateMetadata"] is not None),
        ({"isDeactivated": "false"}, lambda r: r["deactivateMetadata"] is None),
        (
            {"packageIdentifier": sample["packageIdentifier"]},
            lambda r: r["packageIdentifier"] == sample["packageIdentifier"],
        ),
        (
            {"externalVulnerabilityId": sample["relatedVulns"][-1]},
            lambda r: sample["relatedVulns"][-1] in (r["name"].split(" - ")[0], *r["relatedVulns"]),
        ),
        ({"vulnerableAssetId": sample["targetId"]}, lambda r: r["targetId"] == sample["targetId"]),
        (
            {"slaDeadlineAfterDate": "2026-12-01T00:00:00Z"},
            lambda r: (
                r["remediateByDate"] is None or r["remediateByDate"] > "2026-12-01T00:00:00.000Z"
            ),
        ),
        (
            {"slaDeadlineBeforeDate": "2026-10-01"},
            lambda r: r["remediateByDate"] is None or r["remediateByDate"] < "2026-10-01",
        ),
        (
            {"q": "cve-" + sample["relatedVulns"][0][4:]},
            lambda r: sample["relatedVulns"][0] in r["name"] + r["description"],
        ),
    ]
    for params, predicate in cases:
        expected = expect(predicate)
        assert expected, params
        assert _ids(tenant, VULNS, **params, **ALL) == expected, params


def test_remediation_filters_match_the_record_fields(
    tenant: Tenant, vulns: list[dict[str, Any]], remediations: list[dict[str, Any]]
) -> None:
    integration = {v["id"]: v["integrationId"] for v in vulns}

    def expect(predicate: Any) -> list[str]:
        return [r["id"] for r in remediations if predicate(r)]

    def on_time(r: dict[str, Any]) -> bool | None:
        if r["remediationDate"] is None or r["slaDeadlineDate"] is None:
            return None
        return r["remediationDate"] <= r["slaDeadlineDate"]

    assert _ids(tenant, REMEDIATIONS, severity="low") == expect(lambda r: r["severity"] == "LOW")
    assert _ids(tenant, REMEDIATIONS, isRemediatedOnTime="TRUE") == expect(
        lambda r: on_time(r) is True
    )
    assert _ids(tenant, REMEDIATIONS, isRemediatedOnTime="false") == expect(
        lambda r: on_time(r) is False
    )
    window = expect(
        lambda r: (
            r["remediationDate"] is not None
            and "2026-01-01T00:00:00.000Z" < r["remediationDate"] < "2026-03-01"
        )
    )
    assert window
    assert (
        _ids(
            tenant,
            REMEDIATIONS,
            remediatedAfterDate="2026-01-01T00:00:00.000Z",
            remediatedBeforeDate="2026-03-01T00:00:00Z",
        )
        == window
    )
    # The integration of a remediation is its finding's (open findings are in the feed).
    open_github = [
        r["id"]
        for r in remediations
        if r["vulnerabilityId"] in integration and integration[r["vulnerabilityId"]] == "github"
    ]
    github = _ids(tenant, REMEDIATIONS, integrationId="github")
    assert open_github and set(open_github) <= set(github)


def test_asset_filters_match_the_record_fields(
    tenant: Tenant, assets: list[dict[str, Any]]
) -> None:
    aws = next(
        s["parentAccountOrOrganization"]
        for a in assets
        for s in a["scanners"]
        if s["integrationId"] == "aws"
    )
    account = aws.split(":")[0]
    assert _ids(tenant, ASSETS, assetType="server") == [
        a["id"] for a in assets if a["assetType"] == "SERVER"
    ]
    assert _ids(tenant, ASSETS, integrationId="snyk") == [
        a["id"] for a in assets if any(s["integrationId"] == "snyk" for s in a["scanners"])
    ]
    assert _ids(tenant, ASSETS, q="LAPTOP") == [
        a["id"] for a in assets if "laptop" in a["name"].lower()
    ]
    by_account = _ids(tenant, ASSETS, assetExternalAccountId=account)
    assert by_account == [
        a["id"]
        for a in assets
        if any(
            (s["parentAccountOrOrganization"] or "").split(":")[0] == account for s in a["scanners"]
        )
    ]
    assert by_account


def test_unknown_parameters_are_ignored(tenant: Tenant) -> None:
    assert _ids(tenant, VULNS, slaDeadlineAfter="nonsense") == _ids(tenant, VULNS)


@pytest.mark.parametrize(
    ("resource", "params"),
    [
        (VULNS, {"isDeactivated": "yes"}),
        (VULNS, {"includeVulnerabilitiesWithoutSlas": "1"}),
        (VULNS, {"severity": "SEVERE"}),
        (VULNS, {"slaDeadlineAfterDate": "tomorrow"}),
        (VULNS, {"slaDeadlineBeforeDate": "2026-11-01T00:00:00"}),  # no zone
        (REMEDIATIONS, {"isRemediatedOnTime": ""}),
        (REMEDIATIONS, {"remediatedAfterDate": "2026-13-01"}),
        (ASSETS, {"assetType": "MAINFRAME"}),
    ],
)
def test_invalid_parameter_values_are_rejected(
    tenant: Tenant, resource: Resource, params: dict[str, str]
) -> None:
    with pytest.raises(InvalidParameter, match=next(iter(params))):
        list(tenant.iter_records(resource, params=params))


# -- the clock ----------------------------------------------------------------------------------


def test_the_next_day_adds_about_one_percent_new_findings(
    tenant: Tenant, vulns: list[dict[str, Any]]
) -> None:
    next_day = BASE_DATE + timedelta(days=1)
    later = {r["id"]: r for r in tenant.iter_records(VULNS, as_of=next_day, params=ALL)}
    new = set(later) - {r["id"] for r in vulns}
    assert len(new) == tenant.daily_new == 20
    for record_id in new:
        assert later[record_id]["firstDetectedDate"].startswith("2026-11-02")


def test_days_later_some_findings_are_fixed_and_their_remediation_gains_a_date(
    tenant: Tenant, vulns: list[dict[str, Any]]
) -> None:
    day = BASE_DATE + timedelta(days=10)
    later = {r["id"]: r for r in tenant.iter_records(VULNS, as_of=day, params=ALL)}
    fixed = {r["id"] for r in vulns} - set(later)
    assert len(fixed) > 10
    remediation_of = {r["vulnerabilityId"]: r for r in tenant.iter_records(REMEDIATIONS, as_of=day)}
    for vuln_id in fixed:
        remediated = remediation_of[vuln_id]["remediationDate"]
        assert remediated is not None
        assert "2026-11-02" <= remediated < "2026-11-12"
    # New findings appear as open remediations on the day they are detected.
    new = set(later) - {r["id"] for r in vulns}
    assert all(remediation_of[v]["remediationDate"] is None for v in new)
    # and remediatedAfterDate finds exactly the fixes of these days among the base findings
    recent = {
        r["vulnerabilityId"]
        for r in tenant.iter_records(
            REMEDIATIONS, as_of=day, params={"remediatedAfterDate": "2026-11-02"}
        )
    }
    assert fixed <= recent


def test_days_later_findings_get_deactivated_reactivated_and_rescanned(
    tenant: Tenant, vulns: list[dict[str, Any]]
) -> None:
    day = BASE_DATE + timedelta(days=60)
    later = {r["id"]: r for r in tenant.iter_records(VULNS, as_of=day, params=ALL)}
    kept = [r for r in vulns if r["id"] in later]
    deactivated = [
        r for r in kept if r["deactivateMetadata"] is None and later[r["id"]]["deactivateMetadata"]
    ]
    reactivated = [
        r for r in kept if r["deactivateMetadata"] and later[r["id"]]["deactivateMetadata"] is None
    ]
    rescored = [r for r in kept if r["cvssSeverityScore"] != later[r["id"]]["cvssSeverityScore"]]
    rescanned = [r for r in kept if r["lastDetectedDate"] != later[r["id"]]["lastDetectedDate"]]
    assert deactivated and reactivated and rescored and rescanned
    for record in rescored:
        low, high = CVSS_BANDS[record["severity"]]
        assert low / 10 <= later[record["id"]]["cvssSeverityScore"] <= high / 10
    for record in rescanned:
        assert record["lastDetectedDate"] < later[record["id"]]["lastDetectedDate"] < "2027-01-01"


def test_before_the_base_date_the_feed_holds_only_findings_detected_by_then(
    tenant: Tenant,
) -> None:
    day = BASE_DATE - timedelta(days=90)
    earlier = list(tenant.iter_records(VULNS, as_of=day, params=ALL))
    assert 0 < len(earlier) < tenant.records
    assert all(r["firstDetectedDate"] < "2026-08-04" for r in earlier)
    remediations = list(tenant.iter_records(REMEDIATIONS, as_of=day))
    open_ids = {r["vulnerabilityId"] for r in remediations if r["remediationDate"] is None}
    assert open_ids == {r["id"] for r in earlier}
    assert all(
        r["remediationDate"] is None or r["remediationDate"] < "2026-08-04" for r in remediations
    )


def test_records_move_with_the_clock_but_stay_reproducible(tenant: Tenant) -> None:
    day = date(2026, 11, 20)
    assert list(tenant.iter_records(VULNS, as_of=day)) == list(
        Tenant(2000, seed=7).iter_records(VULNS, as_of=day)
    )


# -- malformed records --------------------------------------------------------------------------


def test_malformed_records_are_the_same_on_every_walk(tenant: Tenant) -> None:
    first = list(tenant.iter_served(VULNS, params=ALL, malformed_rate=0.05))
    second = list(tenant.iter_served(VULNS, params=ALL, malformed_rate=0.05))
    assert first == second
    kinds = Counter(kind for _, kind in first if kind is not None)
    assert set(kinds) == set(MALFORMED_KINDS)
    assert 0.03 < sum(kinds.values()) / len(first) < 0.07
    # A later day corrupts the same findings (by index, not by page).
    next_day = BASE_DATE + timedelta(days=1)
    later = {
        record["id"]: kind
        for record, kind in tenant.iter_served(
            VULNS, as_of=next_day, params=ALL, malformed_rate=0.05
        )
        if "id" in record
    }
    same = [(record["id"], kind) for record, kind in first if kind and record.get("id") in later]
    assert same and all(later[record_id] == kind for record_id, kind in same)


def test_without_a_rate_nothing_is_malformed(tenant: Tenant, vulns: list[dict[str, Any]]) -> None:
    served = list(tenant.iter_served(VULNS, params=ALL))
    assert [kind for _, kind in served] == [None] * len(vulns)
    assert [record for record, _ in served] == vulns


@pytest.mark.parametrize("resource", list(Resource))
def test_each_malformation_kind_breaks_the_record_as_named(
    tenant: Tenant, resource: Resource
) -> None:
    params = ALL if resource is VULNS else None
    clean = list(tenant.iter_records(resource, params=params))
    served = list(tenant.iter_served(resource, params=params, malformed_rate=0.5))
    required = {
        VULNS: ("targetId", "severity", "integrationId", "isFixable"),
        REMEDIATIONS: ("vulnerabilityId", "vulnerableAssetId"),
        ASSETS: ("name", "assetType"),
    }[resource]
    enum_field = "assetType" if resource is ASSETS else "severity"
    seen = set()
    for original, (record, kind) in zip(clean, served, strict=True):
        if kind is None:
            assert record == original
            continue
        seen.add(kind)
        if kind == "missing_id":
            assert "id" not in record
        elif kind == "unknown_severity":
            assert record[enum_field].upper() not in (*SEVERITIES, *ASSET_TYPES)
        elif kind == "null_required":
            assert any(record[key] is None for key in required)
        elif kind == "extra_field":
            assert set(record) > set(original)
            assert all(record[key] == value for key, value in original.items())
        else:
            changed = [key for key in original if record[key] != original[key]]
            assert len(changed) == 1
            assert type(record[changed[0]]) is not type(original[changed[0]])
    assert seen == set(MALFORMED_KINDS)
