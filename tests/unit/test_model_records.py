"""Normalisation and validation of raw API records (vanta_vuln_stats.model.records)."""

from __future__ import annotations

import copy
import json
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from vanta_vuln_stats.model import (
    FIELDS,
    RAW_COLUMN,
    NormalizedBatch,
    Rejection,
    Resource,
    column_names,
    normalize,
    normalize_batch,
    parse_timestamp,
    timestamp_to_iso,
)

# --------------------------------------------------------------------------------------------
# Test data: the documented examples (Postman collection, "Manage Vanta" folder), with the
# sanitised real-data quirks from VANTA_API.md where noted.

VULNERABILITY_EXAMPLE: dict[str, Any] = {
    "id": "a2f7e1b9d0c3f4e5a6c7b8d9",
    "name": "CVE-2021-12345",
    "description": (
        "MariaDB before 10.6.2 allows an application crash because of mishandling of a "
        "pushdown from a HAVING clause to a WHERE clause."
    ),
    "integrationId": "Inspector",
    "packageIdentifier": "package",
    "vulnerabilityType": "COMMON",
    "targetId": "targetId",
    "firstDetectedDate": "2021-01-01T00:00:00.000Z",
    "sourceDetectedDate": "2021-01-01T00:00:00.000Z",
    "lastDetectedDate": "2021-01-01T00:00:00.000Z",
    "severity": "CRITICAL",
    "cvssSeverityScore": 9.8,
    "scannerScore": 100,
    "isFixable": True,
    "remediateByDate": "2021-01-01T00:00:00.000Z",
    "relatedVulns": ["CVE-2021-12345"],
    "relatedUrls": ["https://cve.mitre.org/cgi-bin/cvename.cgi?name=CVE-2021-12345"],
    "externalURL": "https://cve.mitre.org/cgi-bin/cvename.cgi?name=CVE-2021-12345",
    "scanSource": "Not provided",
    "deactivateMetadata": {
        "deactivatedBy": "b2f7e1b9d0c3f4e5a6c7b123",
        "deactivatedOnDate": "2021-01-01T00:00:00.000Z",
        "deactivationReason": "fix is too hard to carry out",
        "deactivatedUntilDate": None,
        "isVulnDeactivatedIndefinitely": True,
    },
}

REMEDIATION_EXAMPLE: dict[str, Any] = {
    "id": "a2f7e1b9d0c3f4e5a6c7b8d9",
    "vulnerabilityId": "a2f7e1b9d0c3f4e5a6c7b8d8",
    "vulnerableAssetId": "a2f7e1b9d0c3f4e5a6c7b8d7",
    "severity": "critical",  # lower case in the docs, upper case in real data
    "detectedDate": "2021-01-01T00:00:00.000Z",
    "slaDeadlineDate": "2021-03-01T00:00:00.000Z",
    "remediationDate": "2021-02-01T00:00:00.000Z",
}

ASSET_EXAMPLE: dict[str, Any] = {
    "id": "a2f7e1b9d0c3f4e5a6c7b8d9",
    "name": "test-org/dolos",
    "assetType": "SERVER",
    "hasBeenScanned": True,
    "imageScanTag": "apac-production:latest",
    "scanners": [
        {
            "resourceId": "6733c25f852819d3b8d97a86",
            "integrationId": "qualys",
            "imageDigest": "sha256:123456",
            "imagePushedAtDate": "2021-01-01T00:00:00.000Z",
            "imageTags": ["candidate-1234567890"],
            "assetTags": [{"key": "company-name", "value": "vanta-llama"}],
            "parentAccountOrOrganization": "12345678-abcd-cdef-ab12-abcd1234bbbb",
            "biosUuid": "123456",
            "ipv4s": ["12.12.123.123"],
            "ipv6s": None,
            "macAddresses": ["1234AB987FED"],
            "hostnames": ["purple-llama"],
            "fqdns": ["purple-llama"],
            "operatingSystems": ["Windows11"],
            "targetId": "12345678-abcd-cdef-ab12-abcd1234bbbc",
        }
    ],
}

DELETE = object()  # pass as a value to drop the key from the example


def _build(example: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    record = copy.deepcopy(example)
    for key, value in changes.items():
        if value is DELETE:
            record.pop(key, None)
        else:
            record[key] = value
    return record


def vulnerability(**changes: Any) -> dict[str, Any]:
    """The documented vulnerability example with some keys changed (DELETE drops a key)."""
    return _build(VULNERABILITY_EXAMPLE, changes)


def remediation(**changes: Any) -> dict[str, Any]:
    return _build(REMEDIATION_EXAMPLE, changes)


def asset(**changes: Any) -> dict[str, Any]:
    return _build(ASSET_EXAMPLE, changes)


def compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def row_of(resource: Resource | str, raw: object) -> dict[str, Any]:
    result = normalize(resource, raw)
    assert isinstance(result, dict), f"expected a row, got {result!r}"
    return result


def rejection_of(resource: Resource | str, raw: object) -> Rejection:
    result = normalize(resource, raw)
    assert isinstance(result, Rejection), f"expected a rejection, got {result!r}"
    return result


# --------------------------------------------------------------------------------------------
# Valid records


def test_documented_vulnerability_becomes_a_complete_typed_row() -> None:
    row = row_of(Resource.VULNERABILITIES, vulnerability())

    assert list(row) == list(column_names(Resource.VULNERABILITIES))
    assert row == {
        "id": "a2f7e1b9d0c3f4e5a6c7b8d9",
        "name": "CVE-2021-12345",
        "description": VULNERABILITY_EXAMPLE["description"],
        "integration_id": "Inspector",
        "package_identifier": "package",
        "vulnerability_type": "COMMON",
        "target_id": "targetId",
        "first_detected_date": utc(2021, 1, 1),
        "source_detected_date": utc(2021, 1, 1),
        "last_detected_date": utc(2021, 1, 1),
        "severity": "CRITICAL",
        "cvss_severity_score": 9.8,
        "scanner_score": 100.0,
        "is_fixable": True,
        "remediate_by_date": utc(2021, 1, 1),
        "external_url": "https://cve.mitre.org/cgi-bin/cvename.cgi?name=CVE-2021-12345",
        "scan_source": "Not provided",
        "fixed_version": None,
        "related_vulns": ["CVE-2021-12345"],
        "related_urls": ["https://cve.mitre.org/cgi-bin/cvename.cgi?name=CVE-2021-12345"],
        "deactivate_metadata": (
            '{"deactivatedBy":"b2f7e1b9d0c3f4e5a6c7b123",'
            '"deactivatedOnDate":"2021-01-01T00:00:00.000Z",'
            '"deactivatedUntilDate":null,'
            '"deactivationReason":"fix is too hard to carry out",'
            '"isVulnDeactivatedIndefinitely":true}'
        ),
        "is_deactivated": True,
        "deactivated_on_date": utc(2021, 1, 1),
        "deactivated_until_date": None,
        "deactivation_reason": "fix is too hard to carry out",
        "deactivated_by": "b2f7e1b9d0c3f4e5a6c7b123",
        "raw_data": compact(VULNERABILITY_EXAMPLE),
    }
    assert type(row["scanner_score"]) is float  # an int in the API, a double in every store
    assert row["first_detected_date"].tzinfo is UTC


def test_documented_remediation_becomes_a_row_with_upper_case_severity() -> None:
    row = row_of("vulnerability_remediations", remediation())

    assert row == {
        "id": "a2f7e1b9d0c3f4e5a6c7b8d9",
        "vulnerability_id": "a2f7e1b9d0c3f4e5a6c7b8d8",
        "vulnerable_asset_id": "a2f7e1b9d0c3f4e5a6c7b8d7",
        "severity": "CRITICAL",
        "detected_date": utc(2021, 1, 1),
        "sla_deadline_date": utc(2021, 3, 1),
        "remediation_date": utc(2021, 2, 1),
        "is_remediated_on_time": True,
        "status": "REMEDIATED",
        "raw_data": compact(REMEDIATION_EXAMPLE),
    }
    assert list(row) == list(column_names(Resource.VULNERABILITY_REMEDIATIONS))


@pytest.mark.parametrize("spelling", ["critical", "CRITICAL", "Critical", "cRiTiCaL"])
def test_severity_is_compared_case_insensitively_and_stored_upper_case(spelling: str) -> None:
    assert row_of("vulnerability_remediations", remediation(severity=spelling))["severity"] == (
        "CRITICAL"
    )
    assert row_of("vulnerabilities", vulnerability(severity=spelling.lower()))["severity"] == (
        "CRITICAL"
    )


def test_documented_asset_becomes_a_row_with_scanners_as_json() -> None:
    row = row_of("vulnerable_assets", asset())

    assert row == {
        "id": "a2f7e1b9d0c3f4e5a6c7b8d9",
        "name": "test-org/dolos",
        "asset_type": "SERVER",
        "has_been_scanned": True,
        "image_scan_tag": "apac-production:latest",
        "scanners": compact(ASSET_EXAMPLE["scanners"]),
        "integration_ids": ["qualys"],
        "raw_data": compact(ASSET_EXAMPLE),
    }
    assert json.loads(row["scanners"])[0]["assetTags"] == [
        {"key": "company-name", "value": "vanta-llama"}
    ]


def test_optional_fields_may_be_missing_or_null() -> None:
    raw = vulnerability(
        description=DELETE,
        packageIdentifier=None,
        vulnerabilityType=DELETE,
        sourceDetectedDate=None,
        lastDetectedDate=DELETE,
        cvssSeverityScore=None,
        scannerScore=DELETE,
        remediateByDate=None,
        externalURL=DELETE,
        scanSource=DELETE,
        relatedVulns=None,
        relatedUrls=DELETE,
        deactivateMetadata=None,
    )
    row = row_of("vulnerabilities", raw)

    for column in (
        "description",
        "package_identifier",
        "vulnerability_type",
        "source_detected_date",
        "last_detected_date",
        "cvss_severity_score",
        "scanner_score",
        "remediate_by_date",
        "external_url",
        "scan_source",
        "deactivate_metadata",
        "deactivated_on_date",
        "deactivation_reason",
    ):
        assert row[column] is None, column
    assert row["related_vulns"] == []
    assert row["related_urls"] == []
    assert row["id"] == "a2f7e1b9d0c3f4e5a6c7b8d9"


def test_row_values_have_the_type_of_their_field_kind() -> None:
    kinds = {
        "string": str,
        "timestamp": datetime,
        "float": float,
        "bool": bool,
        "strings": list,
        "json": str,
    }
    examples = {
        Resource.VULNERABILITIES: vulnerability(fixedVersion="10.6.2"),
        Resource.VULNERABILITY_REMEDIATIONS: remediation(),
        Resource.VULNERABLE_ASSETS: asset(),
    }
    for resource, raw in examples.items():
        row = row_of(resource, raw)
        for spec in FIELDS[resource]:
            value = row[spec.name]
            if value is not None:
                assert type(value) is kinds[spec.kind], (resource, spec.name, value)
        assert type(row[RAW_COLUMN]) is str


def test_numbers_accept_ints_and_floats() -> None:
    row = row_of("vulnerabilities", vulnerability(cvssSeverityScore=7, scannerScore=55.5))
    assert (row["cvss_severity_score"], row["scanner_score"]) == (7.0, 55.5)
    assert type(row["cvss_severity_score"]) is float


def test_non_ascii_text_is_kept() -> None:
    row = row_of(
        "vulnerabilities",
        vulnerability(name="CVE-2024-0001 – libxml2 ‘fix’", relatedUrls=["https://ex.am/ple/ü"]),
    )
    assert row["name"] == "CVE-2024-0001 – libxml2 ‘fix’"
    assert row["related_urls"] == ["https://ex.am/ple/ü"]
    assert json.loads(row["raw_data"])["name"] == "CVE-2024-0001 – libxml2 ‘fix’"


def test_rows_do_not_share_lists_with_the_raw_record() -> None:
    raw = vulnerability()
    row = row_of("vulnerabilities", raw)
    row["related_urls"].append("https://changed.example")
    assert raw["relatedUrls"] == VULNERABILITY_EXAMPLE["relatedUrls"]


# --------------------------------------------------------------------------------------------
# Unknown fields and the raw column


def test_unknown_extra_fields_are_tolerated_and_kept_in_raw_data() -> None:
    raw = vulnerability(
        fixedVersion="10.6.2",
        brandNewField={"added": ["later"], "count": 3},
        anotherOne=None,
    )
    row = row_of("vulnerabilities", raw)

    assert row["fixed_version"] == "10.6.2"
    assert "brand_new_field" not in row and "brandNewField" not in row
    kept = json.loads(row[RAW_COLUMN])
    assert kept["brandNewField"] == {"added": ["later"], "count": 3}
    assert kept == raw


def test_raw_data_is_compact_key_sorted_and_independent_of_key_order() -> None:
    raw = vulnerability()
    reordered = dict(reversed(list(raw.items())))
    reordered["deactivateMetadata"] = dict(reversed(list(raw["deactivateMetadata"].items())))

    first = row_of("vulnerabilities", raw)[RAW_COLUMN]
    second = row_of("vulnerabilities", reordered)[RAW_COLUMN]

    assert first == second == json.dumps(raw, separators=(",", ":"), sort_keys=True)
    assert first.startswith('{"cvssSeverityScore":9.8,"deactivateMetadata":{"deactivatedBy":')


def test_raw_data_changes_when_any_value_changes() -> None:
    base = row_of("vulnerabilities", vulnerability())[RAW_COLUMN]
    changed = row_of("vulnerabilities", vulnerability(scanSource="Trivy"))[RAW_COLUMN]
    assert base != changed


# --------------------------------------------------------------------------------------------
# Derived columns


def test_active_vulnerability_is_not_deactivated_whether_metadata_is_null_or_absent() -> None:
    for raw in (vulnerability(deactivateMetadata=None), vulnerability(deactivateMetadata=DELETE)):
        row = row_of("vulnerabilities", raw)
        assert row["is_deactivated"] is False
        assert row["deactivate_metadata"] is None
        assert row["deactivated_on_date"] is None
        assert row["deactivated_by"] is None


def test_deactivated_until_a_date_reads_the_nested_values() -> None:
    metadata = {
        "deactivatedBy": "657191308e0674a0e8e62468",
        "deactivatedOnDate": "2024-01-19T00:57:50.033Z",
        "deactivationReason": "Not applicable",
        "deactivatedUntilDate": "2024-04-19T00:00:00Z",
        "isVulnDeactivatedIndefinitely": False,
    }
    row = row_of("vulnerabilities", vulnerability(deactivateMetadata=metadata))

    assert row["is_deactivated"] is True
    assert row["deactivated_on_date"] == utc(2024, 1, 19, 0, 57, 50, 33000)
    assert row["deactivated_until_date"] == utc(2024, 4, 19)
    assert row["deactivation_reason"] == "Not applicable"
    assert row["deactivated_by"] == "657191308e0674a0e8e62468"


@pytest.mark.parametrize(
    ("sla", "remediated", "on_time", "status"),
    [
        ("2021-03-01T00:00:00.000Z", "2021-02-01T00:00:00.000Z", True, "REMEDIATED"),
        ("2021-03-01T00:00:00.000Z", "2021-03-01T00:00:00.000Z", True, "REMEDIATED"),
        ("2021-03-01T00:00:00.000Z", "2021-03-01T00:00:00.001Z", False, "REMEDIATED"),
        ("2021-03-01T00:00:00.000Z", None, None, "OPEN"),
        (None, "2021-02-01T00:00:00.000Z", None, "REMEDIATED"),
        (None, None, None, "OPEN"),
    ],
)
def test_remediation_status_and_on_time(
    sla: str | None, remediated: str | None, on_time: bool | None, status: str
) -> None:
    row = row_of(
        "vulnerability_remediations",
        remediation(slaDeadlineDate=sla, remediationDate=remediated),
    )
    assert row["is_remediated_on_time"] is on_time
    assert row["status"] == status


def test_asset_integration_ids_are_sorted_and_unique() -> None:
    scanners = [
        {"integrationId": "qualys"},
        {"integrationId": "aws", "assetTags": None},
        {"integrationId": "qualys", "biosUuid": None},
        {"integrationId": None},
        {"resourceId": "6733c25f852819d3b8d97a86"},
    ]
    row = row_of("vulnerable_assets", asset(scanners=scanners))
    assert row["integration_ids"] == ["aws", "qualys"]


@pytest.mark.parametrize("scanners", [[], None, DELETE])
def test_asset_without_scanners_has_no_integration_ids(scanners: object) -> None:
    row = row_of("vulnerable_assets", asset(scanners=scanners))
    assert row["integration_ids"] == []


# --------------------------------------------------------------------------------------------
# Rejections


def test_missing_id_is_rejected_without_a_record_id() -> None:
    raw = vulnerability(id=DELETE)
    rejection = rejection_of("vulnerabilities", raw)

    assert rejection.resource is Resource.VULNERABILITIES
    assert rejection.record_id is None
    assert rejection.reasons == ("missing required field 'id'",)
    assert rejection.raw is raw


def test_empty_id_is_rejected() -> None:
    rejection = rejection_of("vulnerable_assets", asset(id=""))
    assert rejection.reasons == ("field 'id' is empty",)


def test_null_required_field_is_rejected_with_the_record_id() -> None:
    rejection = rejection_of("vulnerabilities", vulnerability(targetId=None))
    assert rejection.record_id == "a2f7e1b9d0c3f4e5a6c7b8d9"
    assert rejection.reasons == ("field 'targetId' is null",)


def test_number_given_as_text_is_rejected() -> None:
    rejection = rejection_of("vulnerabilities", vulnerability(cvssSeverityScore="high"))
    assert rejection.reasons == ("field 'cvssSeverityScore': expected a number, got str 'high'",)


def test_unknown_severity_is_rejected_naming_the_allowed_values() -> None:
    rejection = rejection_of("vulnerabilities", vulnerability(severity="SEVERE"))
    assert rejection.reasons == (
        "field 'severity': unknown value 'SEVERE' (expected one of CRITICAL, HIGH, MEDIUM, LOW)",
    )


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        (
            {"cvssSeverityScore": True},
            "field 'cvssSeverityScore': expected a number, got bool True",
        ),
        (
            {"scannerScore": math.nan},
            "field 'scannerScore': expected a finite number, got float nan",
        ),
        ({"isFixable": 1}, "field 'isFixable': expected a boolean, got int 1"),
        ({"isFixable": "true"}, "field 'isFixable': expected a boolean, got str 'true'"),
        ({"name": 42}, "field 'name': expected a string, got int 42"),
        ({"severity": 3}, "field 'severity': expected a string, got int 3"),
        (
            {"vulnerabilityType": "WEIRD"},
            "field 'vulnerabilityType': unknown value 'WEIRD' "
            "(expected one of CONFIGURATION, COMMON, GROUPED)",
        ),
        (
            {"firstDetectedDate": "yesterday"},
            "field 'firstDetectedDate': invalid ISO-8601 timestamp 'yesterday'",
        ),
        (
            {"lastDetectedDate": 1700000000},
            "field 'lastDetectedDate': expected an ISO-8601 timestamp string, got int 1700000000",
        ),
        (
            {"relatedUrls": "https://x.example"},
            "field 'relatedUrls': expected a list of strings, got str 'https://x.example'",
        ),
        (
            {"relatedVulns": ["CVE-1", 5]},
            "field 'relatedVulns': item 1 is int 5, expected a string",
        ),
        (
            {"deactivateMetadata": "yes"},
            "field 'deactivateMetadata': expected an object, got str 'yes'",
        ),
        (
            {
                "deactivateMetadata": {
                    **VULNERABILITY_EXAMPLE["deactivateMetadata"],
                    "deactivatedOnDate": 123,
                }
            },
            "field 'deactivateMetadata.deactivatedOnDate': "
            "expected an ISO-8601 timestamp string, got int 123",
        ),
        ({"name": "bad \ud800 text"}, "field 'name': invalid Unicode text 'bad \\ud800 text'"),
    ],
)
def test_wrong_types_are_rejected_with_a_reason_naming_the_field(
    changes: dict[str, Any], reason: str
) -> None:
    rejection = rejection_of("vulnerabilities", vulnerability(**changes))
    assert len(rejection.reasons) == 1
    assert rejection.reasons[0].startswith(reason), rejection.reasons
    assert rejection.record_id == "a2f7e1b9d0c3f4e5a6c7b8d9"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"scanners": "qualys"}, "field 'scanners': expected a list, got str 'qualys'"),
        ({"scanners": [{"integrationId": "aws"}, 7]}, "field 'scanners[1]': expected an object"),
        (
            {"scanners": [{"integrationId": ["aws"]}]},
            "field 'scanners[0].integrationId': expected a string, got list ['aws']",
        ),
        (
            {"assetType": "PRINTER"},
            "field 'assetType': unknown value 'PRINTER' (expected one of CODE_REPOSITORY,",
        ),
        ({"hasBeenScanned": "yes"}, "field 'hasBeenScanned': expected a boolean, got str 'yes'"),
    ],
)
def test_bad_assets_are_rejected(changes: dict[str, Any], reason: str) -> None:
    rejection = rejection_of("vulnerable_assets", asset(**changes))
    assert len(rejection.reasons) == 1
    assert rejection.reasons[0].startswith(reason), rejection.reasons


def test_bad_remediations_are_rejected() -> None:
    rejection = rejection_of(
        "vulnerability_remediations",
        remediation(vulnerabilityId=DELETE, severity="urgent", remediationDate="soon"),
    )
    assert rejection.reasons == (
        "missing required field 'vulnerabilityId'",
        "field 'severity': unknown value 'urgent' (expected one of CRITICAL, HIGH, MEDIUM, LOW)",
        "field 'remediationDate': invalid ISO-8601 timestamp 'soon'",
    )


@pytest.mark.parametrize("raw", [["a", "list"], "text", None, 42, 4.2, True])
def test_a_record_that_is_not_an_object_is_rejected(raw: object) -> None:
    rejection = rejection_of("vulnerabilities", raw)
    assert rejection.record_id is None
    assert rejection.reasons == (f"record is not a JSON object (got {type(raw).__name__})",)
    assert rejection.raw is raw


def test_every_reason_of_a_record_is_collected_in_column_order() -> None:
    raw = vulnerability(
        id=DELETE,
        targetId=None,
        firstDetectedDate="not a date",
        severity="SEVERE",
        cvssSeverityScore="high",
        isFixable="no",
        relatedUrls=[1],
        deactivateMetadata=["not", "an", "object"],
    )
    rejection = rejection_of("vulnerabilities", raw)

    assert rejection.reasons == (
        "missing required field 'id'",
        "field 'targetId' is null",
        "field 'firstDetectedDate': invalid ISO-8601 timestamp 'not a date'",
        "field 'severity': unknown value 'SEVERE' (expected one of CRITICAL, HIGH, MEDIUM, LOW)",
        "field 'cvssSeverityScore': expected a number, got str 'high'",
        "field 'isFixable': expected a boolean, got str 'no'",
        "field 'relatedUrls': item 0 is int 1, expected a string",
        # Reported once although four columns read from the object.
        "field 'deactivateMetadata': expected an object, got list ['not', 'an', 'object']",
    )


def test_long_values_are_shortened_in_reasons() -> None:
    rejection = rejection_of("vulnerabilities", vulnerability(cvssSeverityScore="x" * 500))
    assert len(rejection.reasons[0]) < 120
    assert rejection.reasons[0].endswith("...")


def test_rejection_as_dict_is_json_ready() -> None:
    rejection = rejection_of("vulnerabilities", vulnerability(targetId=None))
    data = json.loads(json.dumps(rejection.as_dict()))
    assert data["resource"] == "vulnerabilities"
    assert data["record_id"] == "a2f7e1b9d0c3f4e5a6c7b8d9"
    assert data["reasons"] == ["field 'targetId' is null"]
    assert data["raw"]["name"] == "CVE-2021-12345"


# --------------------------------------------------------------------------------------------
# Batches and resources


def test_batch_keeps_every_good_record_when_bad_ones_are_mixed_in() -> None:
    raws: list[object] = []
    good_ids = []
    for index in range(12):
        record_id = f"{index:024x}"
        if index % 3 == 0:
            raws.append(vulnerability(id=record_id, severity="SEVERE"))
        else:
            raws.append(vulnerability(id=record_id))
            good_ids.append(record_id)
    raws.insert(5, "not an object")
    raws.append(vulnerability(id=DELETE))

    batch = normalize_batch("vulnerabilities", raws)

    assert isinstance(batch, NormalizedBatch)
    assert batch.resource is Resource.VULNERABILITIES
    assert [row["id"] for row in batch.rows] == good_ids
    assert [r.record_id for r in batch.rejections] == [
        f"{0:024x}",
        f"{3:024x}",
        None,
        f"{6:024x}",
        f"{9:024x}",
        None,
    ]
    assert len(batch.rows) == 8
    assert len(batch.rejections) == 6
    assert batch.received == len(raws) == 14


def test_batch_accepts_any_iterable_and_an_empty_one() -> None:
    batch = normalize_batch(Resource.VULNERABLE_ASSETS, (asset(id=f"a{i}") for i in range(3)))
    assert [row["id"] for row in batch.rows] == ["a0", "a1", "a2"]
    empty = normalize_batch("vulnerable_assets", [])
    assert (empty.rows, empty.rejections, empty.received) == ([], [], 0)


@pytest.mark.parametrize("resource", ["vulns", "VULNERABILITIES", "", 3, None, ["x"]])
def test_unknown_resource_is_a_programming_error(resource: Any) -> None:
    with pytest.raises(ValueError, match="unknown resource"):
        normalize(resource, vulnerability())
    with pytest.raises(ValueError, match="unknown resource"):
        normalize_batch(resource, [])


# --------------------------------------------------------------------------------------------
# Timestamps


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-10-26T07:26:33.483Z", utc(2024, 10, 26, 7, 26, 33, 483000)),
        ("2024-10-26T07:26:33Z", utc(2024, 10, 26, 7, 26, 33)),
        ("2024-10-26T09:26:33.483+02:00", utc(2024, 10, 26, 7, 26, 33, 483000)),
        ("2024-10-25T23:26:33-08:00", utc(2024, 10, 26, 7, 26, 33)),
        ("2024-10-26T07:26:33.483999Z", utc(2024, 10, 26, 7, 26, 33, 483000)),
        ("2024-10-26T07:26:33.4Z", utc(2024, 10, 26, 7, 26, 33, 400000)),
        ("2024-10-26", utc(2024, 10, 26)),
        ("2024-10-26T07:26:33", utc(2024, 10, 26, 7, 26, 33)),
    ],
)
def test_parse_timestamp(text: str, expected: datetime) -> None:
    parsed = parse_timestamp(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize("text", ["", "yesterday", "2024-13-01", "2024-10-26T25:00:00Z", 5, None])
def test_parse_timestamp_rejects_bad_input(text: Any) -> None:
    with pytest.raises(ValueError):
        parse_timestamp(text)


def test_timestamps_in_records_follow_parse_timestamp() -> None:
    row = row_of(
        "vulnerabilities",
        vulnerability(
            firstDetectedDate="2024-10-26T09:26:33.483+02:00",
            sourceDetectedDate="2024-10-26",
            lastDetectedDate="2024-10-26T07:26:33.483999Z",
        ),
    )
    assert row["first_detected_date"] == utc(2024, 10, 26, 7, 26, 33, 483000)
    assert row["first_detected_date"].tzinfo is UTC
    assert row["source_detected_date"] == utc(2024, 10, 26)
    assert row["last_detected_date"] == utc(2024, 10, 26, 7, 26, 33, 483000)


def test_timestamp_to_iso() -> None:
    assert timestamp_to_iso(utc(2024, 10, 26, 7, 26, 33, 483000)) == "2024-10-26T07:26:33.483Z"
    assert timestamp_to_iso(utc(2024, 10, 26, 7, 26, 33, 483999)) == "2024-10-26T07:26:33.483Z"
    assert timestamp_to_iso(utc(2024, 1, 2)) == "2024-01-02T00:00:00.000Z"
    plus_two = datetime(2024, 10, 26, 9, 26, 33, 483000, tzinfo=timezone(timedelta(hours=2)))
    assert timestamp_to_iso(plus_two) == "2024-10-26T07:26:33.483Z"
    assert timestamp_to_iso(utc(999, 1, 1)) == "0999-01-01T00:00:00.000Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        timestamp_to_iso(datetime(2024, 10, 26))


@pytest.mark.parametrize(
    "text",
    ["2024-10-26T07:26:33.483Z", "2021-01-01T00:00:00.000Z", "1999-12-31T23:59:59.999Z"],
)
def test_timestamp_text_round_trips(text: str) -> None:
    assert timestamp_to_iso(parse_timestamp(text)) == text


def test_timestamp_text_sorts_in_time_order() -> None:
    start = utc(2023, 12, 31, 23, 59, 59, 998000)
    instants = [start + timedelta(milliseconds=step * 997) for step in range(-50, 50)]
    instants += [utc(1999, 1, 1), utc(2024, 2, 29, 12), utc(2100, 1, 1)]
    texts = [timestamp_to_iso(instant) for instant in instants]
    assert sorted(texts) == [timestamp_to_iso(instant) for instant in sorted(instants)]
    assert [parse_timestamp(text) for text in texts] == instants


def test_a_non_finite_number_outside_the_model_is_kept_as_null() -> None:
    # NaN and Infinity are not JSON; in a field the model does not type they are written as
    # null (typed number fields reject them), so raw_data stays valid JSON for every reader.
    row = normalize(Resource.VULNERABILITIES, vulnerability(brandNewField=math.inf))
    assert isinstance(row, dict)
    assert json.loads(row[RAW_COLUMN])["brandNewField"] is None
