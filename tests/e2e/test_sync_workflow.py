"""The whole workflow on emulated AWS: the stack deployed from template.yaml into moto (Step
Functions executing the ASL, the in-process Lambda runtime running the functions' deployed
code), the Vanta simulator over HTTP with its faults on, an SQS queue subscribed to the topic and
a local Slack receiver. Each execution is started and watched with plain boto3.

The tests share one stack and one tenant and run in order: a faulty first day, the same day
again, the next day, then failures. ``make test`` hands whole files to its workers
(``--dist loadfile``), so they never run split over two."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import boto3
import pyarrow.parquet as pq
import pytest

from vanta_vuln_stats.devstack.aws import EmulatedAws
from vanta_vuln_stats.devstack.deploy import deploy_stack
from vanta_vuln_stats.devstack.simulator import (
    BASE_DATE,
    FaultConfig,
    SimulatorConfig,
    VantaSimulator,
)
from vanta_vuln_stats.devstack.workflow import (
    ExecutionReport,
    SlackReceiver,
    TopicInbox,
    run_execution,
)
from vanta_vuln_stats.model.fields import Resource
from vanta_vuln_stats.storage.lake import LakeStorage, layout

pytestmark = pytest.mark.slow

RECORDS = 20_000
MALFORMED = 0.002
PAGE_BUDGET = 40  # pages per FetchPages call: the walk takes a dozen calls
VALID_KINDS = {None, "extra_field"}
DAY1 = BASE_DATE
DAY2 = BASE_DATE + timedelta(days=1)
SIMULATOR = SimulatorConfig(
    records=RECORDS,
    seed=17,
    client_id="vci_e2e",
    client_secret="e2e-secret-never-logged-5d1c",
    rate_limit=40,  # requests a second; the fetch is not paced, so it meets 429s
    rate_window=1.0,
    token_lifetime=20,  # a token expires mid-run
    as_of=DAY1,
    faults=FaultConfig(
        error_rate=0.01,
        error_burst_pages=frozenset({3, 60, 150}),
        error_burst_count=3,
        drop_rate=0.01,
        malformed_rate=MALFORMED,
        seed=17,
    ),
)


@dataclass
class Stack:
    aws: EmulatedAws
    sim: VantaSimulator
    slack: SlackReceiver
    inbox: TopicInbox
    outputs: dict[str, Any]

    @property
    def sfn(self) -> Any:
        return boto3.client("stepfunctions")

    def run(self, name: str, request: dict[str, Any]) -> ExecutionReport:
        return run_execution(
            self.sfn, self.outputs["state_machine_arn"], name, request, on_step=None
        )

    def lake(self) -> LakeStorage:
        return LakeStorage(self.outputs["lake"])

    def fault(self, body: dict[str, Any] | None) -> None:
        import httpx

        url = f"{self.aws.url}/devstack/faults"
        response = httpx.post(url, json=body) if body else httpx.delete(url)
        response.raise_for_status()


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with EmulatedAws() as aws, VantaSimulator(SIMULATOR) as sim, SlackReceiver() as slack:
        outputs = deploy_stack(
            aws.url,
            stack_name="vvs-e2e",
            api_url=sim.url,
            client_id=SIMULATOR.client_id,
            client_secret=SIMULATOR.client_secret,
            slack_webhook_url=slack.url,
            fetch_page_budget=PAGE_BUDGET,
            write_batch_records=5_000,
            parameters={"RequestsPerMinute": 0},
        )
        inbox = TopicInbox(outputs["topic_arn"], name="vvs-e2e-inbox")
        yield Stack(aws, sim, slack, inbox, outputs)


@pytest.fixture(autouse=True)
def _endpoint(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every AWS call of a test (and of the functions running in this process) goes to the
    emulated AWS; the suite's isolation removes the endpoint before each test."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", stack.aws.url)


def _served(sim: VantaSimulator) -> dict[Resource, list[tuple[dict, str | None]]]:
    params = {Resource.VULNERABILITIES: {"includeVulnerabilitiesWithoutSlas": True}}
    return {
        r: list(
            sim.tenant.iter_served(
                r, as_of=sim.as_of, params=params.get(r), malformed_rate=MALFORMED
            )
        )
        for r in Resource
    }


def _snapshot_ids(lake: LakeStorage, resource: Resource, day: date) -> list[str]:
    manifest = lake.manifest(day)
    assert manifest is not None, f"{day} is not committed"
    ids: list[str] = []
    for key in manifest.keys(resource.value):
        table = pq.read_table(
            lake.location.path(key), filesystem=lake.location.filesystem, columns=["id"]
        )
        ids.extend(table["id"].to_pylist())
    return sorted(ids)


def _partitions(database: str, table: str) -> set[tuple[str, ...]]:
    glue = boto3.client("glue")
    pages = glue.get_paginator("get_partitions").paginate(DatabaseName=database, TableName=table)
    return {tuple(p["Values"]) for page in pages for p in page["Partitions"]}


def _values(day: date) -> tuple[str, str, str]:
    return (f"{day:%Y}", f"{day:%m}", f"{day:%d}")


def test_a_faulty_first_day_syncs_exactly(stack: Stack) -> None:
    # One WriteParquet invocation fails with a Lambda service error: the Map's retry recovers.
    stack.fault({"function": "write_parquet", "times": 1, "error": "Lambda.ServiceException"})

    report = stack.run(f"sync-{DAY1}", {"run_date": DAY1.isoformat()})

    assert report.status == "SUCCEEDED", (report.error, report.cause)
    assert report.output is not None
    fetch = report.output["fetch"]
    assert fetch["invocations"] > 10  # the page budget made FetchPages run many times
    assert len(json.dumps(report.output)) < 16_000  # payloads stay small: keys, not records
    served = _served(stack.sim)
    lake = stack.lake()
    counts = report.output["result"]["counts"]
    for resource in Resource:
        good = sorted(r["id"] for r, kind in served[resource] if kind in VALID_KINDS)
        bad = [r for r, kind in served[resource] if kind not in VALID_KINDS]
        assert _snapshot_ids(lake, resource, DAY1) == good, resource
        assert counts[resource.value]["fetched"] == len(served[resource])
        assert counts[resource.value]["written"] == len(good)
        assert counts[resource.value]["rejected"] == len(bad)
    # The faults happened, and were survived: 5xx, dropped connections, 429s, token refreshes.
    statuses = [r.status for r in stack.sim.request_log]
    assert 429 in statuses and any(status >= 500 for status in statuses)
    assert any(r.fault == "drop" for r in stack.sim.request_log)
    mints = [r for r in stack.sim.request_log if r.path.endswith("/oauth/token")]
    assert len(mints) >= 2
    # Rejects are kept with their reasons.
    rejects = lake.manifest(DAY1).files[layout.REJECTS_TABLE]
    assert sum(entry["rows"] for entry in rejects) == sum(c["rejected"] for c in counts.values())
    # Every table's partition for the day is registered.
    database = stack.outputs["glue_database"]
    for table in (
        "vanta_vulnerabilities",
        "vanta_vulnerability_remediations",
        "vanta_vulnerable_assets",
        "vanta_vulnerability_history",
        "vanta_sync_history",
    ):
        assert _values(DAY1) in _partitions(database, table), table
    # The email (through SQS) and the Slack message carry the counts.
    (message,) = stack.inbox.messages(expect=1)
    vulns = counts["vulnerabilities"]
    assert message["Subject"].startswith(
        f"Vanta sync {DAY1}: {vulns['fetched']:,} vulnerabilities, {vulns['discovered']:,} new"
    )
    assert f"Vulnerabilities: {vulns['fetched']:,} / {vulns['written']:,} / " in message["Message"]
    assert message["MessageAttributes"]["status"]["Value"] == "SUCCEEDED"
    post = stack.slack.posts[-1]
    assert f"*Vanta sync {DAY1}*" in post["text"]
    # The Vanta secret never reached a log.
    logs = boto3.client("logs")
    for group in logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/")["logGroups"]:
        events = logs.filter_log_events(logGroupName=group["logGroupName"])["events"]
        assert not any(SIMULATOR.client_secret in e["message"] for e in events)


def test_the_same_day_again_gives_the_same_lake(stack: Stack) -> None:
    lake = stack.lake()
    before = {r: _snapshot_ids(lake, r, DAY1) for r in Resource}
    first = lake.manifest(DAY1)

    # The scheduled name is taken: a re-run has a name of its own.
    report = stack.run(f"sync-{DAY1}-rerun", {"run_date": DAY1.isoformat()})

    assert report.status == "SUCCEEDED", (report.error, report.cause)
    lake = stack.lake()
    assert {r: _snapshot_ids(lake, r, DAY1) for r in Resource} == before
    second = lake.manifest(DAY1)
    assert second.run_id != first.run_id
    assert second.counts == first.counts
    # The pages split into other chunks (faults shrink pages), so the parts may differ; any
    # part of the first run that the second did not write is gone.
    for resource in Resource:
        prefix = layout.partition_prefix(resource.value, DAY1)
        listed = sorted(key for key, _ in lake.location.list(prefix))
        assert listed == sorted(second.keys(resource.value))
    assert [run.status for run in lake.sync_history()] == ["superseded", "complete"]
    stack.inbox.messages(expect=1)


def test_the_next_day_reports_the_changes(stack: Stack) -> None:
    stack.sim.set_as_of(DAY2)

    report = stack.run(f"sync-{DAY2}", {"run_date": DAY2.isoformat()})

    assert report.status == "SUCCEEDED", (report.error, report.cause)
    counts = report.output["result"]["counts"]["vulnerabilities"]
    assert counts["discovered"] > 0 and counts["remediated"] + counts["resolved"] > 0
    events = stack.lake().change_history(since=None)
    day2 = [e for e in events if e.snapshot_date.date() == DAY2]
    by_type: dict[str, int] = {}
    for event in day2:
        by_type[event.change_type] = by_type.get(event.change_type, 0) + 1
    for change in ("discovered", "remediated", "resolved", "reactivated", "updated"):
        assert by_type.get(change, 0) == counts[change], change
    # Day 2's new ids are exactly the ids served today and not yesterday.
    served_today = {
        r["id"] for r, kind in _served(stack.sim)[Resource.VULNERABILITIES] if kind in VALID_KINDS
    }
    yesterday = set(_snapshot_ids(stack.lake(), Resource.VULNERABILITIES, DAY1))
    discovered = {e.vuln_id for e in day2 if e.change_type == "discovered"}
    assert discovered == served_today - yesterday
    (message,) = stack.inbox.messages(expect=1)
    assert f"{counts['discovered']:,} discovered" in message["Message"]
    assert f"{counts['remediated']:,} remediated" in message["Message"]


def test_a_permanent_write_failure_notifies_and_commits_nothing(stack: Stack) -> None:
    day3 = DAY2 + timedelta(days=1)
    stack.sim.set_as_of(day3)
    stack.fault({"function": "write_parquet", "times": -1, "error": "Lambda.ServiceException"})
    try:
        report = stack.run(
            f"sync-{day3}", {"run_date": day3.isoformat(), "resources": ["vulnerable_assets"]}
        )
    finally:
        stack.fault(None)

    assert report.status == "FAILED"
    assert report.error  # the Fail state carries the cause of the failed step
    lake = stack.lake()
    assert lake.manifest(day3) is None  # readers never see the day
    assert sorted(lake.manifests()) == [DAY1, DAY2]
    database = stack.outputs["glue_database"]
    assert _values(day3) not in _partitions(database, "vanta_vulnerable_assets")
    (message,) = stack.inbox.messages(expect=1)
    assert message["Subject"].startswith(f"Vanta sync {day3} FAILED at ")
    assert message["MessageAttributes"]["status"]["Value"] == "FAILED"
    assert "Nothing of this run was committed" in message["Message"]
    assert stack.slack.posts[-1]["text"].startswith(f":x: *Vanta sync {day3} failed*")


def test_an_invalid_execution_input_fails_with_the_schema_error(stack: Stack) -> None:
    report = stack.run("sync-bad-input", {"run_date": "tomorrow"})

    assert report.status == "FAILED"
    assert report.error == "InvalidPayload"
    assert "$.request.run_date" in (report.cause or "")
    (message,) = stack.inbox.messages(expect=1)
    assert "FAILED at Prepare: InvalidPayload" in message["Subject"]
