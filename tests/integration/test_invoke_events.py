"""``make invoke`` for every event in events/, in the workflow's order, against a stack deployed
into emulated AWS with the deployed functions' environment (STACK=...): each event finds what the
one before it wrote, as the events were captured from one run of the same sample tenant."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from vanta_vuln_stats.devstack import events
from vanta_vuln_stats.devstack.aws import EmulatedAws
from vanta_vuln_stats.devstack.deploy import deploy_stack
from vanta_vuln_stats.devstack.simulator import VantaSimulator

ROOT = Path(__file__).resolve().parents[2]
ORDER = [
    "prepare",
    "fetch_pages",
    "plan_chunks",
    "write_parquet",
    "finalize",
    "update_partitions",
    "notify",
    "catalog_on_s3_event",
    "start_sync",
    "query_api",
]


def test_the_order_covers_every_event() -> None:
    assert sorted(ORDER) == sorted(p.stem for p in (ROOT / "events").glob("*.json"))


def test_the_events_are_what_the_sample_run_gives() -> None:
    for name, event in events.capture().items():
        stored = json.loads((ROOT / "events" / f"{name}.json").read_text())
        assert stored == event, f"events/{name}.json is stale: python -m {events.__name__}"


@pytest.mark.slow
def test_make_invoke_runs_every_event(monkeypatch) -> None:
    with EmulatedAws() as aws, VantaSimulator(events.TENANT) as sim:
        stack = deploy_stack(
            aws.url,
            stack_name="vvs-invoke",
            api_url=sim.url,
            client_id=events.TENANT.client_id,
            client_secret=events.TENANT.client_secret,
            template_path=ROOT / "template.yaml",
            parameters={"RequestsPerMinute": 0},
        )
        env = {**os.environ, "AWS_ENDPOINT_URL": aws.url, "PYTHONPATH": str(ROOT / "shared")}
        monkeypatch.setenv("AWS_ENDPOINT_URL", aws.url)
        s3 = boto3.client("s3")
        results = {}
        committed: list[str] = []
        for name in ORDER:
            if name == "start_sync":  # its execution re-runs the day: look before it starts
                listed = s3.list_objects_v2(Bucket=stack["bucket"], Prefix="_commits/")
                committed = [o["Key"] for o in listed.get("Contents", [])]
            done = subprocess.run(
                [
                    "make",
                    "-s",
                    "invoke",
                    f"FN={name}",
                    f"STACK={stack['stack_name']}",
                    f"BIN={Path(sys.executable).parent}",
                ],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, f"{name}: {done.stdout}\n{done.stderr}"
            results[name] = json.loads(done.stdout)
        sfn = boto3.client("stepfunctions")
        executions = sfn.list_executions(stateMachineArn=stack["state_machine_arn"])["executions"]
    assert results["fetch_pages"]["done"] is True
    assert results["write_parquet"]["rows"] == events.TENANT.records
    assert results["finalize"]["counts"]["vulnerabilities"]["written"] == events.TENANT.records
    assert results["update_partitions"]["partitions_created"] > 0
    assert results["notify"]["status"] == "SUCCEEDED"
    assert results["catalog_on_s3_event"]["registered"][0]["run_date"] == "2026-11-01"
    assert results["start_sync"] == {
        "execution": "sync-2026-11-01",
        "execution_arn": executions[0]["executionArn"],
        "started": True,
        "run_date": "2026-11-01",
    }
    assert committed == ["_commits/2026-11-01.json"]
    assert results["query_api"]["statusCode"] == 200, results["query_api"]
    assert json.loads(results["query_api"]["body"])["query"] == "sync_history"
