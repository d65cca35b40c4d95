"""The columnar normaliser (model.columnar): the row path's table and rejections, faster.

Every test compares ``normalize_to_table`` with what the row path gives for the same input,
``rows_to_table(resource, normalize_batch(resource, raws).rows)`` and the batch's rejections, with
and without the raw column; some also check that valid records did not need the row path.
"""

from __future__ import annotations

import copy
import json
import math
import random
import subprocess
import sys
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa
import pytest

from tests.unit.test_model_records import (
    ASSET_EXAMPLE,
    DELETE,
    REMEDIATION_EXAMPLE,
    VULNERABILITY_EXAMPLE,
    asset,
    remediation,
    vulnerability,
)
from vanta_vuln_stats.devstack.simulator import Tenant
from vanta_vuln_stats.model import (
    RAW_COLUMN,
    Rejection,
    Resource,
    arrow_schema,
    columnar,
    normalize_batch,
    rows_to_table,
)
from vanta_vuln_stats.model.columnar import normalize_to_table

VULNS = Resource.VULNERABILITIES
REMEDIATIONS = Resource.VULNERABILITY_REMEDIATIONS
ASSETS = Resource.VULNERABLE_ASSETS
EXAMPLES: dict[Resource, dict[str, Any]] = {
    VULNS: VULNERABILITY_EXAMPLE,
    REMEDIATIONS: REMEDIATION_EXAMPLE,
    ASSETS: ASSET_EXAMPLE,
}


class Text(str):
    """A str subclass: the row path refuses it where it wants text, and as a key."""


def expected(
    resource: Resource, raws: Sequence[object], include_raw: bool
) -> tuple[pa.Table, list[Rejection]]:
    batch = normalize_batch(resource, raws)
    table = rows_to_table(resource, batch.rows)
    if not include_raw:
        table = table.drop_columns([RAW_COLUMN])
    return table, batch.rejections


def assert_same_as_row_path(resource: Resource, raws: Sequence[object]) -> pa.Table:
    """Both paths agree, with and without raw_data; returns the table with raw_data."""
    tables = []
    for include_raw in (True, False):
        table, rejections = normalize_to_table(resource, raws, include_raw=include_raw)
        want_table, want_rejections = expected(resource, raws, include_raw)

        schema = arrow_schema(resource)
        if not include_raw:
            schema = schema.remove(schema.get_field_index(RAW_COLUMN))
        assert table.schema.equals(schema, check_metadata=True)
        assert table.schema.equals(want_table.schema, check_metadata=True)
        if not table.equals(want_table):  # a readable difference first
            assert table.to_pylist() == want_table.to_pylist()
        assert table.equals(want_table)
        assert rejections == want_rejections
        tables.append(table)
    return tables[0]


@pytest.fixture
def row_path_calls(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Records handed to the row path (records.normalize) by normalize_to_table."""
    calls: list[object] = []
    original = columnar.normalize

    def counting(resource: Resource | str, raw: object) -> Any:
        calls.append(raw)
        return original(resource, raw)

    monkeypatch.setattr(columnar, "normalize", counting)
    return calls


def example(resource: Resource, **changes: Any) -> dict[str, Any]:
    builder: Callable[..., dict[str, Any]] = {
        VULNS: vulnerability,
        REMEDIATIONS: remediation,
        ASSETS: asset,
    }[resource]
    return builder(**changes)


def between_good_ones(resource: Resource, bad: object, count: int = 2) -> list[object]:
    """``bad`` between valid records, so that the merge order is checked too."""
    before = [example(resource, id=f"before-{i}") for i in range(count)]
    after = [example(resource, id=f"after-{i}") for i in range(count)]
    return [*before, bad, *after]


# --------------------------------------------------------------------------------------------
# Simulator data: every resource, several seeds, malformed records on


@pytest.mark.parametrize("seed", [1, 7, 42])
@pytest.mark.parametrize("resource", list(Resource))
def test_simulator_records_with_malformed_ones_give_the_row_path_table(
    resource: Resource, seed: int, row_path_calls: list[object]
) -> None:
    tenant = Tenant(3000, seed, remediation_severity_case="lower" if seed == 42 else "upper")
    served = list(
        tenant.iter_served(
            resource, params={"includeVulnerabilitiesWithoutSlas": "true"}, malformed_rate=0.05
        )
    )
    raws = [record for record, _kind in served]
    malformed = [kind for _record, kind in served if kind is not None]
    assert malformed  # the comparison covers malformed records

    table = assert_same_as_row_path(resource, raws)

    rejected = len(raws) - table.num_rows
    assert rejected == sum(1 for kind in malformed if kind != "extra_field")
    # Only the rejected records went to the row path (twice: with and without raw_data); the
    # lower-case severities and the unknown extra fields did not need it.
    assert len(row_path_calls) == 2 * rejected


@pytest.mark.parametrize("resource", list(Resource))
def test_valid_simulator_records_take_only_the_fast_path(
    resource: Resource, row_path_calls: list[object]
) -> None:
    raws = list(Tenant(500, 3).iter_records(resource))
    table, rejections = normalize_to_table(resource, raws)
    assert (table.num_rows, rejections, row_path_calls) == (len(raws), [], [])
    assert table.equals(expected(resource, raws, include_raw=True)[0])


def test_a_batch_of_many_slices_keeps_its_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(columnar, "_SLICE", 64)
    tenant = Tenant(1000, 5)
    raws = [
        record
        for record, _kind in tenant.iter_served(
            VULNS, params={"includeVulnerabilitiesWithoutSlas": "true"}, malformed_rate=0.05
        )
    ]
    raws[63] = vulnerability(id="at-the-end-of-a-slice", name="bad \ud800")
    raws[64] = vulnerability(id="at-the-start-of-a-slice", cvssSeverityScore=2**60)
    raws[65] = vulnerability(id="then", firstDetectedDate="2024-10-26")
    assert_same_as_row_path(VULNS, raws)


# --------------------------------------------------------------------------------------------
# Every rejection rule of records.py, among valid records


REJECTED: list[tuple[Resource, dict[str, Any]]] = [
    (VULNS, {"id": DELETE}),
    (VULNS, {"id": None}),
    (VULNS, {"id": ""}),
    (VULNS, {"id": 42}),
    (VULNS, {"targetId": None}),
    (VULNS, {"targetId": DELETE}),
    (VULNS, {"isFixable": None}),
    (VULNS, {"firstDetectedDate": DELETE}),
    (VULNS, {"cvssSeverityScore": "high"}),
    (VULNS, {"cvssSeverityScore": True}),
    (VULNS, {"scannerScore": math.nan}),
    (VULNS, {"scannerScore": math.inf}),
    (VULNS, {"scannerScore": -math.inf}),
    (VULNS, {"cvssSeverityScore": 10**400}),  # too large for a double
    (VULNS, {"cvssSeverityScore": 2**64}),  # a double, but not JSON orjson can write
    (VULNS, {"isFixable": 1}),
    (VULNS, {"isFixable": "true"}),
    (VULNS, {"name": 42}),
    (VULNS, {"name": b"bytes"}),
    (VULNS, {"name": Text("a str subclass")}),
    (VULNS, {"name": ["a"]}),
    (VULNS, {"name": "bad \ud800 text"}),
    (VULNS, {"severity": 3}),
    (VULNS, {"severity": "SEVERE"}),
    (VULNS, {"severity": ""}),
    (VULNS, {"severity": Text("HIGH")}),
    (VULNS, {"vulnerabilityType": "WEIRD"}),
    (VULNS, {"firstDetectedDate": "yesterday"}),
    (VULNS, {"lastDetectedDate": 1700000000}),
    (VULNS, {"lastDetectedDate": Text("2024-10-26T07:26:33.483Z")}),
    (VULNS, {"relatedUrls": "https://x.example"}),
    (VULNS, {"relatedUrls": ("https://x.example",)}),
    (VULNS, {"relatedVulns": ["CVE-1", 5]}),
    (VULNS, {"relatedVulns": ["CVE-1", None]}),
    (VULNS, {"relatedVulns": [b"CVE-1"]}),
    (VULNS, {"relatedVulns": [Text("CVE-1")]}),
    (VULNS, {"relatedVulns": ["bad \udfff"]}),
    (VULNS, {"deactivateMetadata": "yes"}),
    (VULNS, {"deactivateMetadata": ["not", "an", "object"]}),
    (VULNS, {"deactivateMetadata": {"deactivatedOnDate": 123}}),
    (VULNS, {"deactivateMetadata": {"deactivatedBy": ["x"]}}),
    (VULNS, {"deactivateMetadata": {"deactivatedBy": Text("x")}}),
    (VULNS, {"deactivateMetadata": {"deactivationReason": "bad \ud800"}}),
    (VULNS, {"deactivateMetadata": {"deactivatedUntilDate": "soon"}}),
    (VULNS, {"deactivateMetadata": {"other": {1, 2}}}),  # cannot be encoded as JSON
    (VULNS, {"deactivateMetadata": {5: "a key that is not text"}}),
    (VULNS, {"brandNewField": b"bytes"}),  # the record cannot be encoded as JSON
    (VULNS, {"brandNewField": {1, 2}}),
    (VULNS, {"brandNewField": 2**64}),
    (VULNS, {"brandNewField": "bad \ud800"}),
    (VULNS, {Text("brandNewField"): 1}),
    (VULNS, {"id": DELETE, "targetId": None, "severity": "SEVERE", "relatedUrls": [1]}),
    (ASSETS, {"scanners": "qualys"}),
    (ASSETS, {"scanners": ({"integrationId": "aws"},)}),
    (ASSETS, {"scanners": [{"integrationId": "aws"}, 7]}),
    (ASSETS, {"scanners": [("integrationId", "aws")]}),
    (ASSETS, {"scanners": [{"integrationId": ["aws"]}]}),
    (ASSETS, {"scanners": [{"integrationId": Text("aws")}]}),
    (ASSETS, {"scanners": [{"integrationId": "bad \ud800"}]}),
    (ASSETS, {"scanners": [{"integrationId": "aws", "tags": {1, 2}}]}),
    (ASSETS, {"assetType": "PRINTER"}),
    (ASSETS, {"assetType": None}),
    (ASSETS, {"hasBeenScanned": "yes"}),
    (ASSETS, {"name": 12345}),
    (REMEDIATIONS, {"vulnerabilityId": DELETE, "severity": "urgent", "remediationDate": "soon"}),
    (REMEDIATIONS, {"vulnerableAssetId": None}),
    (REMEDIATIONS, {"detectedDate": 1_700_000_000_000}),
    (REMEDIATIONS, {"slaDeadlineDate": 20_261_101}),
]


@pytest.mark.parametrize(("resource", "changes"), REJECTED)
def test_each_rejection_rule_gives_the_same_rejection(
    resource: Resource, changes: dict[str, Any]
) -> None:
    bad = example(resource)
    for key, value in changes.items():
        if value is DELETE:
            bad.pop(key, None)
        elif key == "deactivateMetadata" and isinstance(value, dict):
            bad[key] = {**VULNERABILITY_EXAMPLE[key], **value}
        else:
            bad[key] = value
    raws = between_good_ones(resource, bad)

    table = assert_same_as_row_path(resource, raws)

    assert table.num_rows == len(raws) - 1
    _table, rejections = normalize_to_table(resource, raws)
    assert len(rejections) == 1
    assert rejections[0].raw is bad


def _nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("depth", [250, 251, 252, 253, 254])
def test_values_nested_as_deep_as_json_allows_and_deeper_are_told_apart(depth: int) -> None:
    # orjson refuses values nested too deeply; a json-kind column is encoded at its depth in the
    # record, so both paths draw the line at the same place.
    metadata = {**VULNERABILITY_EXAMPLE["deactivateMetadata"], "note": _nested(depth)}
    assert_same_as_row_path(
        VULNS, between_good_ones(VULNS, vulnerability(deactivateMetadata=metadata))
    )
    assert_same_as_row_path(VULNS, between_good_ones(VULNS, vulnerability(note=_nested(depth))))
    scanners = [{"integrationId": "aws", "tags": _nested(depth - 1)}]
    assert_same_as_row_path(ASSETS, between_good_ones(ASSETS, asset(scanners=scanners)))


@pytest.mark.parametrize("key", ["name", "id", "deactivateMetadata", "relatedUrls"])
def test_a_modelled_key_that_is_a_str_subclass_is_rejected(key: str) -> None:
    # Found by its name, but orjson cannot encode the record: the row path rejects it, even
    # when the raw column is not wanted.
    bad = vulnerability()
    bad[Text(key)] = bad.pop(key)
    assert_same_as_row_path(VULNS, between_good_ones(VULNS, bad))
    assert len(normalize_to_table(VULNS, [bad], include_raw=False)[1]) == 1


@pytest.mark.parametrize("raw", [["a", "list"], "text", None, 42, 4.2, True, ("id", "x")])
def test_a_record_that_is_not_an_object_is_rejected_in_its_place(raw: object) -> None:
    assert_same_as_row_path(VULNS, between_good_ones(VULNS, raw))


# --------------------------------------------------------------------------------------------
# Records the row path accepts but the fast path is not sure of


ACCEPTED: list[tuple[Resource, Any]] = [
    (VULNS, OrderedDict(VULNERABILITY_EXAMPLE)),  # a dict subclass: the row path takes it
    (VULNS, vulnerability(severity="critical", vulnerabilityType="Grouped")),
    (VULNS, vulnerability(severity="hıgh")),  # dotless i: Python upper-cases it to HIGH
    (VULNS, vulnerability(vulnerabilityType="conﬁguration")),  # the ligature upper-cases to FI
    (VULNS, vulnerability(cvssSeverityScore=7, scannerScore=-0.0)),
    (VULNS, vulnerability(cvssSeverityScore=2**53 + 1)),  # rounded by float(), refused by Arrow
    (VULNS, vulnerability(cvssSeverityScore=-(2**63))),
    (VULNS, vulnerability(scannerScore=1e308)),
    (VULNS, vulnerability(brandNewField=math.inf, another={"nested": [1, None]})),
    (VULNS, vulnerability(relatedVulns=[], relatedUrls=None)),
    (VULNS, vulnerability(relatedVulns=["naïve – “quoted”", ""])),
    (VULNS, vulnerability(name="", description="")),
    (VULNS, vulnerability(name="NUL \x00 inside")),
    (VULNS, vulnerability(deactivateMetadata={})),
    (VULNS, vulnerability(deactivateMetadata=None)),
    (VULNS, vulnerability(deactivateMetadata=DELETE)),
    (VULNS, vulnerability(deactivateMetadata={"deactivatedOnDate": None, "extra": [1, {}]})),
    (VULNS, vulnerability(deactivateMetadata={"note": Text("x")}, other=Text("y"))),  # encoded
    (ASSETS, asset(scanners=[])),
    (ASSETS, asset(scanners=None)),
    (ASSETS, asset(scanners=DELETE)),
    (ASSETS, asset(scanners=[{"integrationId": None}, {}, {"integrationId": "b"}])),
    (ASSETS, asset(scanners=[{"integrationId": "b"}, {"integrationId": "a"}] * 3)),
    (ASSETS, asset(scanners=[{"integrationId": "ü"}, {"integrationId": "z"}])),
    (ASSETS, asset(assetType="server", hasBeenScanned=None, imageScanTag=DELETE)),
    (REMEDIATIONS, remediation(remediationDate=None, slaDeadlineDate=None)),
    (REMEDIATIONS, remediation(slaDeadlineDate=None)),
    (REMEDIATIONS, remediation(remediationDate="2021-03-01T00:00:00.001Z")),
    (REMEDIATIONS, remediation(remediationDate="2021-03-01T00:00:00.000Z")),
    (REMEDIATIONS, remediation(severity="Critical")),
    (REMEDIATIONS, remediation(severity="crıtical")),
]


@pytest.mark.parametrize(("resource", "raw"), ACCEPTED)
def test_unusual_but_valid_records_give_the_row_path_row(resource: Resource, raw: Any) -> None:
    table = assert_same_as_row_path(resource, between_good_ones(resource, raw))
    assert table.num_rows == 5


def test_optional_fields_may_be_missing_or_null() -> None:
    raws = [
        vulnerability(
            id=f"v{i}",
            description=DELETE if i % 2 else None,
            packageIdentifier=None if i % 2 else DELETE,
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
            deactivateMetadata=None if i % 2 else DELETE,
        )
        for i in range(4)
    ]
    table = assert_same_as_row_path(VULNS, raws)
    assert table.column("related_vulns").to_pylist() == [[]] * 4
    assert table.column("is_deactivated").to_pylist() == [False] * 4


def test_every_value_of_a_record_is_null_or_missing_where_it_may_be() -> None:
    raws = [
        {"id": "r1", "vulnerabilityId": "v", "vulnerableAssetId": "a", "severity": "LOW"},
        {"id": "a1", "name": "n", "assetType": "SERVER"},
    ]
    assert_same_as_row_path(REMEDIATIONS, raws[:1])
    assert_same_as_row_path(ASSETS, raws[1:])


# --------------------------------------------------------------------------------------------
# Timestamps: every accepted and rejected form


TIMESTAMP_TEXTS = [
    # The API's forms: the fast path parses these.
    "2024-10-26T07:26:33.483Z",
    "2024-10-26T07:26:33.000Z",
    "2024-10-26T07:26:33Z",
    "1999-12-31T23:59:59.999Z",
    "2024-02-29T12:00:00.000Z",
    "2000-02-29T00:00:00Z",
    "1000-01-01T00:00:00.000Z",
    "2999-12-31T23:59:59.999Z",
    # Accepted by parse_timestamp, left to the row path.
    "2024-10-26T09:26:33.483+02:00",
    "2024-10-25T23:26:33-08:00",
    "2024-10-26T07:26:33.483+00:00",
    "2024-10-26T07:26:33.483999Z",
    "2024-10-26T07:26:33.4Z",
    "2024-10-26T07:26:33.48Z",
    "2024-10-26T07:26:33.4839Z",
    "2024-10-26",
    "2024-10-26T07:26:33",
    "2024-10-26T07:26:33.483",
    "2024-10-26 07:26:33.483Z",
    "2024-10-26T07:26Z",
    "2024-10-26T07Z",
    "20241026T072633Z",
    "2024-W43-6",
    "0999-12-31T23:59:59.999Z",
    "0001-01-01T00:00:00.000Z",
    "9999-12-31T23:59:59.999Z",
    "9999-12-31T23:59:59.999-01:00",  # out of range once in UTC
    # Rejected.
    "",
    "yesterday",
    "2023-02-29T00:00:00.000Z",
    "1900-02-29T00:00:00.000Z",
    "2024-02-30T00:00:00.000Z",
    "2024-04-31T00:00:00Z",
    "2024-13-01T00:00:00.000Z",
    "2024-00-10T00:00:00.000Z",
    "2024-10-00T00:00:00.000Z",
    "2024-10-26T24:00:00.000Z",
    "2024-10-26T23:60:00.000Z",
    "2024-10-26T23:59:60.000Z",
    "0000-01-01T00:00:00.000Z",
    "2024-10-26T07:26:33.483Z\n",
    " 2024-10-26T07:26:33.483Z",
    "2024-10-26T07:26:33.483ZZ",
    "2024-10-26t07:26:33.483z",
    "２０２４-10-26T07:26:33.483Z",
    "2024-10-26T07:26:33.483+24:00",
]


@pytest.mark.parametrize("text", TIMESTAMP_TEXTS)
def test_each_timestamp_form_alone(text: str) -> None:
    raws = between_good_ones(VULNS, vulnerability(firstDetectedDate=text, lastDetectedDate=text))
    assert_same_as_row_path(VULNS, raws)


def test_every_timestamp_form_in_one_batch_and_in_every_timestamp_column() -> None:
    vulns = []
    remediations = []
    for i, text in enumerate(TIMESTAMP_TEXTS):
        metadata = {**VULNERABILITY_EXAMPLE["deactivateMetadata"], "deactivatedUntilDate": text}
        vulns.append(vulnerability(id=f"first-{i}", firstDetectedDate=text))
        vulns.append(vulnerability(id=f"nested-{i}", deactivateMetadata=metadata))
        vulns.append(vulnerability(id=f"remediate-{i}", remediateByDate=text))
        remediations.append(remediation(id=f"sla-{i}", slaDeadlineDate=text))
        remediations.append(remediation(id=f"fixed-{i}", remediationDate=text))
    assert_same_as_row_path(VULNS, vulns)
    assert_same_as_row_path(REMEDIATIONS, remediations)


def test_an_impossible_date_among_valid_ones_leaves_the_others_on_the_fast_path(
    row_path_calls: list[object],
) -> None:
    raws = [vulnerability(id=f"v{i}") for i in range(20)]
    raws[7] = vulnerability(id="v7", lastDetectedDate="2023-02-29T00:00:00.000Z")
    table, rejections = normalize_to_table(VULNS, raws)
    assert table.num_rows == 19
    assert [r.record_id for r in rejections] == ["v7"]
    assert row_path_calls == [raws[7]]


# --------------------------------------------------------------------------------------------
# Batches


@pytest.mark.parametrize("resource", list(Resource))
def test_an_empty_batch_gives_an_empty_table_with_the_schema(resource: Resource) -> None:
    for include_raw in (True, False):
        table, rejections = normalize_to_table(resource, [], include_raw=include_raw)
        assert (table.num_rows, rejections) == (0, [])
    assert_same_as_row_path(resource, [])


def test_a_batch_of_only_rejections_gives_an_empty_table() -> None:
    raws = [vulnerability(id=f"v{i}", severity="SEVERE") for i in range(5)] + [None, 3]
    table = assert_same_as_row_path(VULNS, raws)
    assert table.num_rows == 0


def test_a_batch_arrow_cannot_convert_as_a_whole_is_split_until_the_culprit_is_found() -> None:
    # Text that is not valid Unicode and integers a double cannot hold exactly make Arrow refuse
    # the whole batch; the screen lets them through, as their classes are right.
    raws = [vulnerability(id=f"v{i}", cvssSeverityScore=i) for i in range(40)]
    raws[3] = vulnerability(id="v3", name="bad \ud800 text")
    raws[17] = vulnerability(id="v17", cvssSeverityScore=2**53 + 1)  # accepted, rounded
    raws[18] = vulnerability(id="v18", relatedUrls=["ok", "bad \udc00"])
    raws[39] = vulnerability(id="v39", description="\udfff")
    table = assert_same_as_row_path(VULNS, raws)
    ids = table.column("id").to_pylist()
    assert ids == [f"v{i}" for i in range(40) if i not in (3, 18, 39)]
    assert table.column("cvss_severity_score").to_pylist()[ids.index("v17")] == float(2**53)


def test_a_slow_records_values_of_any_class_do_not_reach_arrow(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Values Arrow would refuse in a record already sent to the slow path by its classes are
    # masked: each column is read in one piece, no halving.
    bad = vulnerability(id="bad", name=3, description="\ud800", cvssSeverityScore="high")
    raws = [vulnerability(id=f"v{i}") for i in range(20)]
    raws[7] = bad
    assert assert_same_as_row_path(VULNS, raws).num_rows == 19
    calls: list[int] = []
    original = columnar._to_arrow

    def counting(values: Sequence[Any], *args: Any) -> list[Any]:
        calls.append(len(values))
        return original(values, *args)

    monkeypatch.setattr(columnar, "_to_arrow", counting)
    normalize_to_table(VULNS, raws, include_raw=False)
    assert calls == [20] * len(columnar._column_types(VULNS))


def test_a_value_arrow_refuses_in_a_late_column_leaves_the_records_earlier_columns_unused() -> None:
    # The record's earlier columns were read by Arrow before its description was refused: its
    # row is still the row path's.
    raws = [vulnerability(id=f"v{i}", name=f"name {i}") for i in range(9)]
    raws[4] = vulnerability(id="v4", name="name 4", fixedVersion="\udc00")
    raws[5] = "not a record"
    table = assert_same_as_row_path(VULNS, raws)
    assert table.column("id").to_pylist() == [f"v{i}" for i in range(9) if i not in (4, 5)]


@pytest.mark.parametrize("include_raw", [True, False])
@pytest.mark.parametrize("extra", [{"a"}, "text", {"nested": [1, 2.5, None]}])
def test_one_record_with_a_key_outside_the_model_among_many(
    extra: object, include_raw: bool
) -> None:
    # Only that record is encoded to prove it can be (a set cannot: the row path rejects it).
    raws: list[object] = [vulnerability(id=f"v{i}") for i in range(30)]
    odd = vulnerability(id="odd")
    odd["unmodelled"] = extra
    raws[12] = odd
    assert_same_as_row_path(VULNS, raws)
    table, rejections = normalize_to_table(VULNS, raws, include_raw=include_raw)
    assert (table.num_rows, len(rejections)) == ((29, 1) if isinstance(extra, set) else (30, 0))


@pytest.mark.parametrize("raws", [["text", 3, None], [OrderedDict(VULNERABILITY_EXAMPLE)] * 3])
def test_a_slice_without_any_exact_dict(raws: list[object]) -> None:
    assert_same_as_row_path(VULNS, raws)


def test_reading_a_single_key_gives_one_column() -> None:
    assert columnar._read([{"a": 1}, {}, {"a": None, "b": 2}], ("a",)) == [(1, None, None)]
    assert columnar._read([], ("a", "b")) == [(), ()]


def test_any_sequence_is_accepted_and_the_resource_may_be_its_name() -> None:
    raws = (vulnerability(id="a"), vulnerability(id="b", severity="x"))
    table, rejections = normalize_to_table("vulnerabilities", raws)
    assert table.column("id").to_pylist() == ["a"]
    assert [r.record_id for r in rejections] == ["b"]
    assert table.schema.equals(arrow_schema(VULNS), check_metadata=True)


@pytest.mark.parametrize("resource", ["vulns", "VULNERABILITIES", "", 3, None])
def test_unknown_resource_is_a_programming_error(resource: Any) -> None:
    with pytest.raises(ValueError, match="unknown resource"):
        normalize_to_table(resource, [vulnerability()])


def test_the_raw_column_is_the_row_paths_text() -> None:
    raw = vulnerability(brandNewField={"z": 1, "a": [True, None, 0.1]})
    table, _ = normalize_to_table(VULNS, [raw])
    assert table.column(RAW_COLUMN).to_pylist() == [
        json.dumps(raw, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    ]
    without, _ = normalize_to_table(VULNS, [raw], include_raw=False)
    assert RAW_COLUMN not in without.column_names


def test_importing_the_columnar_normaliser_does_not_import_pyarrow() -> None:
    code = (
        "import sys, vanta_vuln_stats.model.columnar; "
        "sys.exit(1 if 'pyarrow' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# --------------------------------------------------------------------------------------------
# Property-style: random mutations of valid records, compared with the row path


ODD_VALUES: list[Any] = [
    None,
    "",
    "text",
    "Critical",
    "high",
    "HIGH",
    "server",
    "Grouped",
    "ı",
    "ß",
    "bad \ud800",
    Text("sub"),
    b"bytes",
    0,
    1,
    -7,
    2**53 + 1,
    2**63,
    2**64,
    10**400,
    0.5,
    -0.0,
    math.nan,
    math.inf,
    True,
    False,
    [],
    ["a", "b"],
    ["a", 1],
    [None],
    ("a",),
    {"a"},
    {},
    {"deactivatedOnDate": "2024-01-01T00:00:00.000Z", "deactivatedBy": "u"},
    {"integrationId": "aws"},
    [{"integrationId": "aws"}, {"integrationId": None}],
    [{"integrationId": 5}],
    *TIMESTAMP_TEXTS[::3],
]


def _mutate(rng: random.Random, record: dict[str, Any]) -> object:
    choice = rng.random()
    if choice < 0.03:
        return rng.choice([None, "record", 5, [record]])
    mutated = copy.deepcopy(record)
    for _ in range(rng.randint(1, 3)):
        key = rng.choice([*mutated.keys(), "brandNew"])
        operation = rng.random()
        if operation < 0.05 and key in mutated:
            mutated[Text(key)] = mutated.pop(key)  # the same name, as a str subclass
        elif operation < 0.2:
            mutated.pop(key, None)
        elif operation < 0.3 and isinstance(mutated.get(key), str):
            value = mutated[key]
            mutated[key] = "".join(c.lower() if rng.random() < 0.5 else c.upper() for c in value)
        elif operation < 0.4 and isinstance(mutated.get(key), dict | list) and mutated[key]:
            inner = mutated[key]
            if isinstance(inner, dict):
                inner[rng.choice([*inner.keys(), "other"])] = rng.choice(ODD_VALUES)
            else:
                inner[rng.randrange(len(inner))] = rng.choice(ODD_VALUES)
        else:
            mutated[key] = rng.choice(ODD_VALUES)
    return mutated


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("resource", list(Resource))
def test_random_mutations_of_valid_records_give_the_row_path_result(
    resource: Resource, seed: int
) -> None:
    rng = random.Random(seed)
    valid = list(Tenant(200, seed).iter_records(resource)) or [EXAMPLES[resource]]
    raws: list[object] = []
    for _ in range(300):
        record = rng.choice(valid)
        raws.append(_mutate(rng, record) if rng.random() < 0.3 else record)
    assert_same_as_row_path(resource, raws)
