"""``devstack deploy``: template.yaml's stack in emulated AWS, with stand-in function code and a
small workflow (the real handlers and ASL are tested where they live)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from tests.integration.devstack_helpers import wait_for_execution, write_function
from vanta_vuln_stats.devstack.aws import EmulatedAws
from vanta_vuln_stats.devstack.deploy import DeployError, deploy_stack, load_template
from vanta_vuln_stats.errors import UserInputError

PROJECT = Path(__file__).resolve().parents[2]
SHARED = PROJECT / "shared"

# Every substitution the template defines, so none is left unresolved.
STAND_IN_ASL = {
    "StartAt": "Prepare",
    "States": {
        "Prepare": {
            "Type": "Task",
            "Resource": "${PrepareFunctionArn}",
            "Parameters": {
                "env": ["VANTA_LAKE", "VANTA_SECRET_ID", "GLUE_DATABASE", "FETCH_PAGE_BUDGET"],
                "notify": "${NotifyFunctionArn}",
                "others": [
                    "${FetchPagesFunctionArn}",
                    "${PlanChunksFunctionArn}",
                    "${WriteParquetFunctionArn}",
                    "${FinalizeFunctionArn}",
                    "${UpdatePartitionsFunctionArn}",
                    "${NotifyFunctionArn}",
                ],
            },
            "End": True,
        }
    },
}


def stand_in_project(root: Path, asl: dict | None = STAND_IN_ASL) -> Path:
    """The project's template.yaml with stand-in code for each function (and the ASL)."""
    shutil.copy(PROJECT / "template.yaml", root / "template.yaml")
    template = load_template(root / "template.yaml")
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            write_function(root, Path(resource["Properties"]["CodeUri"]).name)
    if asl is not None:
        (root / "workflows").mkdir()
        (root / "workflows" / "sync.asl.json").write_text(json.dumps(asl, indent=2))
    return root / "template.yaml"


@pytest.fixture
def aws() -> Iterator[EmulatedAws]:
    with EmulatedAws(port=0) as emulated:
        yield emulated


def _deploy(aws: EmulatedAws, template: Path, **overrides) -> dict:
    arguments = {
        "stack_name": "vvs-test",
        "api_url": "http://127.0.0.1:9",
        "client_id": "vci_test",
        "client_secret": "vcs_test",
        "slack_webhook_url": "http://127.0.0.1:9/hook",
        "fetch_page_budget": 7,
        "write_batch_records": 2000,
        "template_path": template,
        **overrides,
    }
    return deploy_stack(aws.url, **arguments)


def test_deploy_creates_every_resource(aws: EmulatedAws, tmp_path: Path) -> None:
    out = _deploy(aws, stand_in_project(tmp_path))
    bucket = out["bucket"]
    assert out["lake"] == f"s3://{bucket}"
    boto3.client("s3").head_bucket(Bucket=bucket)
    assert boto3.client("sns").get_topic_attributes(TopicArn=out["topic_arn"])
    assert (
        boto3.client("glue").get_database(Name="vanta_vulns")["Database"]["Name"]
        == (out["glue_database"])
    )

    sm = boto3.client("secretsmanager")
    value = {
        name: sm.get_secret_value(SecretId=arn)["SecretString"]
        for name, arn in out["secrets"].items()
    }
    assert json.loads(value["VantaCredentialsSecret"]) == {
        "client_id": "vci_test",
        "client_secret": "vcs_test",
    }
    assert json.loads(value["VantaTokenSecret"]) == {}
    assert json.loads(value["SlackWebhookSecret"]) == {"url": "http://127.0.0.1:9/hook"}

    lam = boto3.client("lambda")
    assert set(out["functions"]) == {
        "PrepareFunction",
        "FetchPagesFunction",
        "PlanChunksFunction",
        "WriteParquetFunction",
        "FinalizeFunction",
        "UpdatePartitionsFunction",
        "NotifyFunction",
        "CatalogOnS3EventFunction",
        "StartSyncFunction",
        "QueryApiFunction",
    }
    env = lam.get_function_configuration(FunctionName=out["functions"]["FetchPagesFunction"])[
        "Environment"
    ]["Variables"]
    assert env["VANTA_LAKE"] == f"s3://{bucket}"
    assert env["VANTA_API_URL"] == "http://127.0.0.1:9"
    assert env["VANTA_SECRET_ID"] == out["secrets"]["VantaCredentialsSecret"]
    assert env["VANTA_TOKEN_STORE"] == out["secrets"]["VantaTokenSecret"]
    assert env["SLACK_WEBHOOK_SECRET_ID"] == out["secrets"]["SlackWebhookSecret"]
    assert env["NOTIFICATION_TOPIC_ARN"] == out["topic_arn"]
    assert env["GLUE_DATABASE"] == "vanta_vulns"
    assert env["FETCH_PAGE_BUDGET"] == "7"
    assert env["WRITE_BATCH_RECORDS"] == "2000"
    assert env["STATE_MACHINE_NAME"] == "vvs-test-sync"
    assert all(isinstance(value, str) and "${" not in value for value in env.values())
    start_sync = lam.get_function_configuration(FunctionName=out["functions"]["StartSyncFunction"])
    assert start_sync["Environment"]["Variables"]["STATE_MACHINE_ARN"] == out["state_machine_arn"]
    api = lam.get_function_configuration(FunctionName=out["functions"]["QueryApiFunction"])
    api_env = api["Environment"]["Variables"]
    assert api_env["STATE_MACHINE_ARN"] == out["state_machine_arn"]
    assert api_env["VANTA_ATHENA_OUTPUT_LOCATION"] == f"s3://{bucket}/athena-results/"
    assert api_env["GLUE_DATABASE"] == "vanta_vulns"
    assert [api["name"] for api in boto3.client("apigateway").get_rest_apis()["items"]] == [
        "vvs-test-query-api"
    ]

    sfn = boto3.client("stepfunctions")
    definition = sfn.describe_state_machine(stateMachineArn=out["state_machine_arn"])["definition"]
    assert "${" not in definition
    notify = json.loads(definition)["States"]["Prepare"]["Parameters"]["notify"]
    assert notify.endswith(":function:" + out["functions"]["NotifyFunction"])
    run = sfn.start_execution(stateMachineArn=out["state_machine_arn"], name="d1", input="{}")
    execution = wait_for_execution(sfn, run["executionArn"])
    assert execution["status"] == "SUCCEEDED", execution
    output = json.loads(execution["output"])
    assert output["env"]["VANTA_LAKE"] == f"s3://{bucket}"
    assert output["env"]["GLUE_DATABASE"] == "vanta_vulns"
    assert output["context"]["function_name"] == out["functions"]["PrepareFunction"]

    # What moto's CloudFormation skips: created through the services' APIs, or named in notes.
    (schedule,) = out["schedules"].values()
    described = boto3.client("scheduler").get_schedule(Name=schedule["name"])
    assert described["State"] == schedule["state"] == "ENABLED"
    assert described["Target"]["Arn"].endswith(":function:" + out["functions"]["StartSyncFunction"])
    assert ":role/" in described["Target"]["RoleArn"]
    gateway = boto3.client("apigateway")
    (plan_id,) = out["usage_plans"].values()
    plan = gateway.get_usage_plan(usagePlanId=plan_id)
    assert plan["throttle"] == {"burstLimit": 10, "rateLimit": 5.0}
    (key_id,) = out["api_keys"].values()
    assert [key["id"] for key in gateway.get_usage_plan_keys(usagePlanId=plan_id)["items"]] == [
        key_id
    ]
    assert not any("AWS::Scheduler::Schedule" in note for note in out["notes"])
    assert any("AWS::S3::BucketPolicy" in note for note in out["notes"])
    assert any("AWS::ApiGateway::Deployment" in note for note in out["notes"])


def test_deploy_again_recreates_the_stack(aws: EmulatedAws, tmp_path: Path) -> None:
    template = stand_in_project(tmp_path)
    first = _deploy(aws, template)
    second = _deploy(aws, template, client_secret="vcs_rotated", fetch_page_budget=9)
    assert second["state_machine_arn"] == first["state_machine_arn"]
    secret = boto3.client("secretsmanager").get_secret_value(
        SecretId=second["secrets"]["VantaCredentialsSecret"]
    )
    assert json.loads(secret["SecretString"])["client_secret"] == "vcs_rotated"
    env = boto3.client("lambda").get_function_configuration(
        FunctionName=second["functions"]["PrepareFunction"]
    )["Environment"]["Variables"]
    assert env["FETCH_PAGE_BUDGET"] == "9"
    assert env["VANTA_LAKE"] == second["lake"]
    sfn = boto3.client("stepfunctions")
    run = sfn.start_execution(stateMachineArn=second["state_machine_arn"], name="d2", input="{}")
    execution = wait_for_execution(sfn, run["executionArn"])
    assert execution["status"] == "SUCCEEDED", execution
    notify = json.loads(execution["output"])["event"]["notify"]
    assert notify.endswith(":function:" + second["functions"]["NotifyFunction"])


def test_deploy_without_the_workflow_says_so(aws: EmulatedAws, tmp_path: Path) -> None:
    with pytest.raises(DeployError, match=r"workflows/sync\.asl\.json is not there yet"):
        _deploy(aws, stand_in_project(tmp_path, asl=None))


def test_deploy_refuses_anything_but_loopback(tmp_path: Path) -> None:
    for endpoint in ("", "https://cloudformation.us-east-1.amazonaws.com", "http://10.0.0.1:5000"):
        with pytest.raises(UserInputError):
            deploy_stack(
                endpoint,
                stack_name="s",
                api_url="x",
                client_id="a",
                client_secret="b",
                template_path=tmp_path / "template.yaml",
            )


def _cli(*args: str, env: dict | None = None, **popen) -> subprocess.Popen:
    environment = {**os.environ, "PYTHONPATH": str(SHARED), **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "vanta_vuln_stats.cli", "devstack", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
        **popen,
    )


def test_cli_serves_then_deploys_and_stops_cleanly(tmp_path: Path) -> None:
    template = stand_in_project(tmp_path)
    server = _cli("aws", "--port", "0")
    try:
        first = server.stdout.readline().strip()
        assert first.startswith("Emulated AWS listening on http://127.0.0.1:")
        url = first.rsplit(" ", 1)[-1]
        deploy = _cli(
            *("deploy", "--stack-name", "vvs-cli", "--api-url", "http://127.0.0.1:9"),
            *("--client-id", "a", "--client-secret", "b", "--template", str(template)),
            env={"AWS_ENDPOINT_URL": url},
        )
        stdout, stderr = deploy.communicate(timeout=60)
        assert deploy.returncode == 0, stderr
        lines = stdout.strip().splitlines()
        assert len(lines) == 1
        result = json.loads(lines[0])
        for key in ("bucket", "lake", "state_machine_arn", "topic_arn", "glue_database"):
            assert result[key], key
        assert result["functions"] and isinstance(result["notes"], list)
    finally:
        server.send_signal(signal.SIGINT)
        _, stderr = server.communicate(timeout=15)
    assert server.returncode == 0
    assert "Traceback" not in stderr


def test_cli_deploy_refuses_without_an_endpoint(tmp_path: Path) -> None:
    deploy = _cli(
        *("deploy", "--stack-name", "s", "--api-url", "x", "--client-id", "a"),
        *("--client-secret", "b"),
        env={"AWS_ENDPOINT_URL": ""},
    )
    stdout, stderr = deploy.communicate(timeout=30)
    assert stdout == ""
    assert deploy.returncode == 2
    assert stderr.strip().count("\n") == 0 and "AWS_ENDPOINT_URL" in stderr
