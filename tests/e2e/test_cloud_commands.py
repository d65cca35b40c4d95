"""The cloud flags of the main command (--trigger-lambda-sync, --lambda-status, --lambda-logs, and
--storage-backend s3 for statistics from the stack's lake) through ``cli.main``, against the
stack of template.yaml deployed into emulated AWS with a small simulated tenant. The commands
find everything from the stack's name, as on a real stack.

The tests share one stack per module (per worker, under xdist), on which the fixture has run
the first day's sync through the CLI; each test holds on its own in any order: the ones that
start executions use days of their own, or expect a re-run name."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import boto3
import pytest

from vanta_vuln_stats import cli
from vanta_vuln_stats.cloud import command as cloud
from vanta_vuln_stats.cloud.execution import follow
from vanta_vuln_stats.devstack.aws import EmulatedAws
from vanta_vuln_stats.devstack.deploy import deploy_stack
from vanta_vuln_stats.devstack.simulator import BASE_DATE, SimulatorConfig, VantaSimulator
from vanta_vuln_stats.model.fields import Resource

pytestmark = pytest.mark.slow

STACK = "vvs-cloud"
DAY = BASE_DATE.isoformat()
SIMULATOR = SimulatorConfig(records=300, rate_limit=0, as_of=BASE_DATE)


@dataclass
class Deployed:
    aws: EmulatedAws
    sim: VantaSimulator
    outputs: dict[str, Any]
    first: tuple[int, str, str]  # exit code, stdout, stderr of the first day's trigger


@pytest.fixture(scope="module")
def deployed() -> Iterator[Deployed]:
    with EmulatedAws() as aws, VantaSimulator(SIMULATOR) as sim:
        outputs = deploy_stack(
            aws.url,
            stack_name=STACK,
            api_url=sim.url,
            client_id=SIMULATOR.client_id,
            client_secret=SIMULATOR.client_secret,
            parameters={"RequestsPerMinute": 0},
        )
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err), pytest.MonkeyPatch.context() as patch:
            patch.setenv("AWS_ENDPOINT_URL", aws.url)
            patch.setattr(cloud, "POLL_SECONDS", 0.2)
            code = cli.main(["--stack-name", STACK, "--trigger-lambda-sync", "--run-date", DAY])
        yield Deployed(aws, sim, outputs, (code, out.getvalue(), err.getvalue()))


@pytest.fixture(autouse=True)
def _endpoint(deployed: Deployed, monkeypatch: pytest.MonkeyPatch) -> None:
    """AWS calls go to the emulated AWS (the suite's isolation removes the endpoint before each
    test); the follower polls often, the deployed functions run in this process."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", deployed.aws.url)
    monkeypatch.setattr(cloud, "POLL_SECONDS", 0.2)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def served_vulnerabilities(sim: VantaSimulator) -> int:
    params = {"includeVulnerabilitiesWithoutSlas": True}
    return sum(
        1 for _ in sim.tenant.iter_served(Resource.VULNERABILITIES, as_of=sim.as_of, params=params)
    )


def test_outputs_of_the_deployed_stack(deployed: Deployed) -> None:
    described = boto3.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]
    outputs = {item["OutputKey"]: item["OutputValue"] for item in described["Outputs"]}
    assert outputs["StateMachineArn"] == deployed.outputs["state_machine_arn"]
    assert outputs["DataBucketName"] == deployed.outputs["bucket"]
    assert outputs["Lake"] == deployed.outputs["lake"]
    assert outputs["GlueDatabaseName"] == deployed.outputs["glue_database"]
    assert outputs["NotificationTopicArn"] == deployed.outputs["topic_arn"]
    assert {"VantaCredentialsSecretArn", "VantaTokenSecretArn"} <= set(outputs)


def test_trigger_follows_the_execution_to_its_end(deployed: Deployed) -> None:
    code, out, err = deployed.first
    assert code == 0, err
    assert f"Started sync-{DAY} on {STACK}" in out
    for step in ("-> Prepare", "-> FetchPages", "-> WriteParquet", "-> Finalize"):
        assert step in out
    assert f"sync-{DAY}: SUCCEEDED in " in out
    total = served_vulnerabilities(deployed.sim)
    assert total == 300
    assert re.search(rf"^  vulnerabilities: {total:,} fetched, {total:,} written", out, re.M)
    assert err == ""


def test_statistics_from_the_stacks_lake(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    """--storage-backend s3: the statistics report from the lake the workflow wrote."""
    lake = deployed.outputs["lake"]
    code, out, err = run(
        capsys, "--use-cache", "--storage-backend", "s3", "--lake", lake, "--format", "json"
    )
    assert code == 0, err
    assert json.loads(out)["total_count"] == served_vulnerabilities(deployed.sim) == 300


def test_trigger_the_same_day_again_starts_a_rerun(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--stack-name", STACK, "--trigger-lambda-sync", "--run-date", DAY)
    assert code == 0, err
    assert f"sync-{DAY} exists already: started the re-run sync-{DAY}-rerun-" in out
    assert re.search(rf"^sync-{DAY}-rerun-\d{{6}}: SUCCEEDED", out, re.M)


def test_status_lists_outputs_and_executions(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "--stack-name", STACK, "--lambda-status")
    assert code == 0, err
    assert f"Stack {STACK}: CREATE_COMPLETE" in out
    assert f"StateMachineArn: {deployed.outputs['state_machine_arn']}" in out
    assert re.search(r"^Last executions \([1-5]\):", out, re.M)
    assert re.search(
        rf"^  sync-{DAY} +SUCCEEDED .*vulnerabilities 300 fetched, 300 written", out, re.M
    )
    assert "Alarms in ALARM: none" in out


def test_status_as_json(deployed: Deployed, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--stack-name", STACK, "--lambda-status", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["stack"] == {"name": STACK, "status": "CREATE_COMPLETE"}
    assert data["outputs"]["StateMachineArn"] == deployed.outputs["state_machine_arn"]
    # The deploy creates the schedule; the commands find it by the SyncScheduleName output.
    named = data["outputs"].get("SyncScheduleName")
    assert [schedule["name"] for schedule in data["schedules"]] == ([named] if named else [])
    starts = [row["start"] for row in data["executions"]]
    assert starts == sorted(starts, reverse=True)  # the newest first
    (first,) = [row for row in data["executions"] if row["name"] == f"sync-{DAY}"]
    assert first["status"] == "SUCCEEDED"
    assert first["vulnerabilities_fetched"] == first["vulnerabilities_written"] == 300
    assert first["seconds"] > 0
    assert data["alarms"] == []


def test_status_shows_the_stacks_alarms_in_alarm(capsys: pytest.CaptureFixture[str]) -> None:
    cloudwatch = boto3.client("cloudwatch")
    for name in (f"{STACK}-SyncFailed", "other-stack-SyncFailed"):
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            Namespace="VantaVulnStats",
            MetricName="SyncFailed",
            Statistic="Sum",
            Period=300,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
        )
        cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="a sync failed")
    try:
        code, out, _ = run(capsys, "--stack-name", STACK, "--lambda-status")
        assert code == 0
        assert "Alarms in ALARM: 1" in out
        assert re.search(rf"^  {STACK}-SyncFailed since \S+: a sync failed$", out, re.M)
        code, out, _ = run(capsys, "--stack-name", STACK, "--lambda-status", "--format", "json")
        assert [alarm["name"] for alarm in json.loads(out)["alarms"]] == [f"{STACK}-SyncFailed"]
    finally:
        cloudwatch.delete_alarms(AlarmNames=[f"{STACK}-SyncFailed", "other-stack-SyncFailed"])


def test_logs_of_one_function(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, "--stack-name", STACK, "--lambda-logs", "--function", "fetch_pages"
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines
    line = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z fetch_pages ")
    assert all(line.match(text) for text in lines), lines[:3]
    assert any("START RequestId" in text for text in lines)


def test_logs_of_every_function_by_logical_id_and_age(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "--stack-name", STACK, "--lambda-logs", "--since", "30m")
    assert code == 0
    labels = {text.split(" ", 2)[1] for text in out.splitlines()}
    assert {"prepare", "fetch_pages", "write_parquet", "finalize"} <= labels
    code, out, _ = run(
        capsys, "--stack-name", STACK, "--lambda-logs", "--function", "FinalizeFunction"
    )
    assert code == 0
    assert {text.split(" ", 2)[1] for text in out.splitlines()} == {"finalize"}


def test_logs_follow_ends_on_ctrl_c(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cloud.time, "sleep", interrupt)
    code, out, err = run(
        capsys, "--stack-name", STACK, "--lambda-logs", "--function", "prepare", "--follow"
    )
    assert code == 0
    assert " prepare " in out
    assert "Traceback" not in err


def test_a_failed_execution_exits_1_with_its_error_and_cause(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    import httpx

    day = (BASE_DATE + timedelta(days=2)).isoformat()
    faults = f"{deployed.aws.url}/devstack/faults"
    fault = {"function": "prepare", "times": -1, "error": "InvalidPayload", "message": "injected"}
    httpx.post(faults, json=fault).raise_for_status()
    try:
        code, out, _ = run(
            capsys, "--stack-name", STACK, "--trigger-lambda-sync", "--run-date", day
        )
    finally:
        httpx.delete(faults).raise_for_status()
    assert code == 1
    assert re.search(rf"^sync-{day}: FAILED in ", out, re.M)
    assert re.search(r"^  error: \S+", out, re.M)
    assert re.search(r"^  cause: .*injected", out, re.M)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--lambda-status"], "No stack: give --stack-name NAME (or set VANTA_STACK_NAME)"),
        (["--stack-name", "nope", "--lambda-status"], "No stack named 'nope'"),
        (["--stack-name", STACK, "--lambda-logs", "--function", "nope"], "has no function"),
        (["--stack-name", STACK, "--lambda-logs", "--since", "soon"], "--since 'soon'"),
        (["--stack-name", STACK, "--trigger-lambda-sync", "--run-date", "x"], "--run-date 'x'"),
        (["--stack-name", STACK, "--no-wait"], "--no-wait goes with --trigger-lambda-sync"),
    ],
)
def test_user_errors_are_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("Error: ") and message in err


def test_stack_name_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VANTA_STACK_NAME", STACK)
    code, out, _ = run(capsys, "--lambda-status", "--format", "json")
    assert code == 0
    assert json.loads(out)["stack"]["name"] == STACK


def test_no_credentials(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    code, _, err = run(capsys, "--stack-name", STACK, "--lambda-status")
    assert code == 2
    assert err.startswith("Error: No AWS credentials found") and err.count("\n") == 1


def test_trigger_without_waiting_prints_the_arn(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    day = (BASE_DATE + timedelta(days=1)).isoformat()
    code, out, err = run(
        capsys, "--stack-name", STACK, "--trigger-lambda-sync", "--run-date", day, "--no-wait"
    )
    assert code == 0, err
    arn = out.strip()
    assert re.fullmatch(rf"arn:aws:states:[^:]+:\d+:execution:{STACK}-sync:sync-{day}", arn)
    # let it end before the stack goes away
    report = follow(boto3.client("stepfunctions"), arn, on_step=None, timeout=120)
    assert report.status == "SUCCEEDED"
