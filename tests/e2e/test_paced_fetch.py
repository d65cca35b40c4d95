"""With the API's request budget set, FetchPages sends a minute's worth of requests per call and
the workflow's Wait state (SecondsPath) waits out the minute between calls: no Lambda is billed
for waiting. The minute is shortened to a second here (the functions run in this process)."""

from __future__ import annotations

import boto3
import pytest

from vanta_vuln_stats.devstack.aws import EmulatedAws
from vanta_vuln_stats.devstack.deploy import deploy_stack
from vanta_vuln_stats.devstack.simulator import BASE_DATE, SimulatorConfig, VantaSimulator
from vanta_vuln_stats.devstack.workflow import run_execution
from vanta_vuln_stats.pipeline import steps

pytestmark = pytest.mark.slow


def test_the_workflow_waits_between_paced_fetches(monkeypatch) -> None:
    monkeypatch.setattr(steps, "PACE_WINDOW_SECONDS", 1.0)
    monkeypatch.setattr(steps, "PACE_MARGIN_SECONDS", 0.0)
    config = SimulatorConfig(
        records=400,
        seed=5,
        client_id="vci_pace",
        client_secret="pace",
        rate_limit=0,
        as_of=BASE_DATE,
    )
    with EmulatedAws() as aws, VantaSimulator(config) as sim:
        monkeypatch.setenv("AWS_ENDPOINT_URL", aws.url)
        stack = deploy_stack(
            aws.url,
            stack_name="vvs-pace",
            api_url=sim.url,
            client_id=config.client_id,
            client_secret=config.client_secret,
            parameters={"RequestsPerMinute": 3},
        )
        report = run_execution(
            boto3.client("stepfunctions"),
            stack["state_machine_arn"],
            f"sync-{BASE_DATE}",
            {"run_date": BASE_DATE.isoformat(), "resources": ["vulnerabilities"]},
            on_step=None,
        )
    assert report.status == "SUCCEEDED", (report.error, report.cause)
    fetch = report.output["fetch"]
    assert fetch["counts"]["vulnerabilities"] == {"fetched": 400, "pages": 4, "chunks": 2}
    assert fetch["invocations"] == 2  # 3 pages, then the last one
    assert report.steps.count("-> PaceRequests") == 1
