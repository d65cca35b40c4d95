"""The lake's change detection on hand-made days: each change type, and a record listed twice."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from vanta_vuln_stats.devstack.simulator.tenant import Tenant
from vanta_vuln_stats.model.fields import Resource
from vanta_vuln_stats.storage.lake.changes import apply_snapshot
from vanta_vuln_stats.storage.lake.chunks import normalize_records

VULNS = Resource.VULNERABILITIES
DAY1 = datetime(2026, 11, 1, 6, tzinfo=UTC)
DEACTIVATED = {
    "deactivatedBy": "68d7290009f6e8e22ad5e8eb",
    "deactivatedOnDate": "2026-11-01T23:40:38.015Z",
    "deactivationReason": "Not applicable",
    "deactivatedUntilDate": None,
    "isVulnDeactivatedIndefinitely": True,
}


def _records(count: int) -> list[dict[str, Any]]:
    records = [
        r
        for r in Tenant(40, seed=3).iter_records("vulnerabilities")
        if r["deactivateMetadata"] is None
    ]
    assert len(records) >= count
    return records[:count]


def _day(records: list[dict[str, Any]], previous: Any, day: int) -> Any:
    table, rejections = normalize_records(VULNS, records)
    assert not rejections
    stamp = DAY1 + timedelta(days=day - 1)
    return apply_snapshot(
        VULNS, previous, table, stamp=stamp, run_date=stamp.date(), run_id=f"run-{day}"
    )


def _events(change: Any) -> dict[str, tuple[str, list[str] | None]]:
    rows = change.events.select(["vuln_id", "change_type", "changed_fields"]).to_pylist()
    return {row["vuln_id"]: (row["change_type"], row["changed_fields"]) for row in rows}


def test_each_change_type_and_a_record_listed_twice() -> None:
    base = _records(8)
    first = _day(base, None, 1)
    assert first.counts.discovered == 8
    ids = [r["id"] for r in base]

    day2 = copy.deepcopy(base)
    day2[1]["lastDetectedDate"] = "2026-11-02T05:00:00.000Z"  # seen again: no event
    day2[2]["severity"] = "CRITICAL" if base[2]["severity"] != "CRITICAL" else "LOW"
    day2[3]["deactivateMetadata"] = DEACTIVATED
    renamed = dict(day2[5], name="listed twice, first copy")
    new = dict(day2[0], id="new-finding", severity="LOW")
    new_again = dict(new, severity="HIGH")
    # 4 is gone; 5 is listed twice (the last copy, unchanged, wins); a new one is listed twice.
    snapshot = [day2[0], day2[1], day2[2], day2[3], renamed, day2[5], day2[6], day2[7]]
    snapshot += [new, new_again]
    second = _day(snapshot, first.state, 2)

    events = _events(second)
    assert events == {
        ids[2]: ("updated", ["severity"]),
        ids[3]: ("remediated", events[ids[3]][1]),
        ids[4]: ("resolved", None),
        "new-finding": ("discovered", None),
    }
    assert "is_deactivated" in events[ids[3]][1]
    counts = second.counts
    assert (counts.discovered, counts.updated, counts.remediated, counts.resolved) == (1, 1, 1, 1)
    state = {row["id"]: row for row in second.state.to_pylist()}
    assert sorted(state) == sorted([*ids, "new-finding"])
    assert state[ids[5]]["name"] == base[5]["name"]  # the last copy
    assert state["new-finding"]["severity"] == "HIGH"
    assert state[ids[4]]["resolved_at"] == DAY1 + timedelta(days=1)
    assert state[ids[1]]["first_seen_at"] == DAY1
    assert state["new-finding"]["first_seen_at"] == DAY1 + timedelta(days=1)
    assert state[ids[1]]["last_detected_date"] == datetime(2026, 11, 2, 5, tzinfo=UTC)

    # The resolved one is reported again: reactivated, and no longer resolved.
    third = _day([*snapshot[:4], base[4], *snapshot[5:]], second.state, 3)
    assert _events(third)[ids[4]][0] == "reactivated"
    assert {row["id"]: row for row in third.state.to_pylist()}[ids[4]]["resolved_at"] is None
    assert third.counts.reactivated == 1 and third.counts.discovered == 0


def test_a_known_id_listed_twice_keeps_its_last_copy() -> None:
    base = _records(4)
    first = _day(base, None, 1)
    changed = dict(base[0], severity="CRITICAL" if base[0]["severity"] != "CRITICAL" else "LOW")
    second = _day([changed, *base[1:], base[0]], first.state, 2)
    assert second.events.num_rows == 0
    assert second.state.num_rows == 4
    ids = second.state["id"].to_pylist()
    assert ids.count(base[0]["id"]) == 1
