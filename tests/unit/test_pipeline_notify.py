"""The notification a person receives: subject, readable body, attributes to filter on."""

from __future__ import annotations

import json

from vanta_vuln_stats.pipeline.notify import failure_notification, success_notification

SUMMARY = {
    "run_date": "2026-11-02",
    "lake": "s3://lake-bucket",
    "manifest": "_commits/2026-11-02.json",
    "backup": "raw_json/backups/sync_20261102_060000.json.gz",
    "execution": "sync-2026-11-02",
    "started_at": "2026-11-02T06:00:00.000Z",
    "finished_at": "2026-11-02T06:03:07.000Z",
    "counts": {
        "vulnerabilities": {
            "fetched": 20000,
            "written": 19990,
            "rejected": 10,
            "discovered": 41,
            "updated": 7,
            "remediated": 12,
            "reactivated": 1,
            "resolved": 3,
        },
        "vulnerability_remediations": {
            "fetched": 900,
            "written": 900,
            "rejected": 0,
            "discovered": 12,
        },
        "vulnerable_assets": {"fetched": 300, "written": 300, "rejected": 0},
    },
    "new_criticals": [{"id": "vuln-1", "name": "CVE-2026-0001 in openssl"}],
    "new_criticals_total": 3,
    "sla_breaches": 17,
}


def test_the_success_message_says_what_changed_and_where_the_data_is() -> None:
    message = success_notification(SUMMARY, {"database": "vanta_vulns", "partitions_created": 5})
    assert (
        message.subject == "Vanta sync 2026-11-02: 20,000 vulnerabilities, 41 new, 3 new critical"
    )
    body = message.body
    assert "Vulnerabilities: 20,000 / 19,990 / 10; 41 discovered, 7 updated, 12 remediated" in body
    assert "Remediations: 900 / 900 / 0; 12 discovered" in body
    assert "Vulnerable assets: 300 / 300 / 0; no changes" in body
    assert "  - vuln-1: CVE-2026-0001 in openssl" in body and "... and 2 more" in body
    assert "Open findings past their SLA deadline on 2026-11-02: 17" in body
    assert "Rejected records: 10 (kept" in body
    assert "Duration: 3 min 7 s" in body
    assert "s3://lake-bucket" in body and "vanta_vulns" in body
    assert message.attributes == {
        "status": "SUCCEEDED",
        "run_date": "2026-11-02",
        "new_criticals": 3,
        "sla_breaches": 17,
        "rejected": 10,
    }
    assert message.slack["text"].startswith(":white_check_mark: *Vanta sync 2026-11-02*")


def test_the_failure_message_names_the_step_and_the_cause() -> None:
    cause = json.dumps(
        {"errorType": "ReconcileFailed", "errorMessage": "1 of 4 batches were not written"}
    )
    state = {"run": {"run_date": "2026-11-02", "lake": "s3://b", "run_id": "20261102T060000000Z"}}
    message = failure_notification(
        "sync-2026-11-02", "Finalize", {"Error": "ReconcileFailed", "Cause": cause}, state
    )
    assert message.subject == "Vanta sync 2026-11-02 FAILED at Finalize: ReconcileFailed"
    assert "Cause: ReconcileFailed: 1 of 4 batches were not written" in message.body
    assert "Nothing of this run was committed" in message.body
    assert message.attributes["failed_step"] == "Finalize"
    assert len(failure_notification("x", "Prepare" * 30, {"Error": "E" * 200}, {}).subject) == 100
