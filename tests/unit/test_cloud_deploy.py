"""cloud/deploy.py without AWS: the smoke check's verdicts, the snapshots a deploy keeps and
what a rollback does in each state of the stack (fake clients at the boto3 boundary)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from vanta_vuln_stats.cloud import deploy
from vanta_vuln_stats.cloud.deploy import (
    EXPECTED_OUTPUTS,
    EnvironmentConfig,
    rollback,
    smoke_check,
    snapshots,
    take_snapshot,
)
from vanta_vuln_stats.cloud.stack import Stack
from vanta_vuln_stats.errors import UserInputError

ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:vvs-sync"
OUTPUTS = {key: f"value-{key}" for key in EXPECTED_OUTPUTS} | {
    "StateMachineArn": ARN,
    "QueryApiUrl": "https://abc.execute-api.us-east-1.amazonaws.com/v1/api/v1/",
}


def error(code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "Call")


class FakeStepFunctions:
    def __init__(self, status: str | None = "ACTIVE") -> None:
        self.status = status

    def describe_state_machine(self, stateMachineArn: str) -> dict[str, Any]:
        if self.status is None:
            raise error("StateMachineDoesNotExist", "no such state machine")
        return {"stateMachineArn": stateMachineArn, "status": self.status}


class FakeS3:
    def head_bucket(self, Bucket: str) -> dict[str, Any]:
        return {}


def stack(status: str = "UPDATE_COMPLETE", outputs=None, sfn=None) -> Stack:
    services = {"stepfunctions": sfn or FakeStepFunctions(), "s3": FakeS3()}
    return Stack(
        name="vvs",
        status=status,
        outputs=dict(OUTPUTS if outputs is None else outputs),
        client=services.__getitem__,
    )


def test_a_healthy_stack_passes() -> None:
    asked = []

    def http_status(url: str) -> int:
        asked.append(url)
        return 403

    assert smoke_check(stack(), http_status=http_status) == []
    assert asked == ["https://abc.execute-api.us-east-1.amazonaws.com/v1/api/v1/sync/status"]


def test_problems_are_named() -> None:
    outputs = {key: value for key, value in OUTPUTS.items() if key != "DataBucketName"}
    problems = smoke_check(
        stack("UPDATE_ROLLBACK_COMPLETE", outputs, FakeStepFunctions(None)),
        http_status=lambda url: 200,
    )
    assert (
        problems[0]
        == "stack vvs is UPDATE_ROLLBACK_COMPLETE, not CREATE_COMPLETE or UPDATE_COMPLETE"
    )
    assert problems[1] == "outputs missing: DataBucketName"
    assert problems[2].startswith(f"state machine {ARN} cannot be described")
    assert problems[3].endswith("answered 200 without a key, not 403")


def test_api_probe_can_be_skipped_and_unreachable_is_a_problem() -> None:
    def unreachable(url: str) -> int:
        raise OSError("connection refused")

    assert smoke_check(stack(), probe_api=False, http_status=unreachable) == []
    assert smoke_check(stack(), http_status=unreachable) == [
        "query API https://abc.execute-api.us-east-1.amazonaws.com/v1/api/v1/sync/status did "
        "not answer: connection refused"
    ]


class FakeCloudFormation:
    def __init__(self, status: str | None, body: Any = "Transform: AWS::Serverless-2016-10-31\n"):
        self.status = status
        self.body = body
        self.calls: list[str] = []

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        if self.status is None:
            raise error("ValidationError", f"Stack with id {StackName} does not exist")
        return {
            "Stacks": [
                {
                    "StackName": StackName,
                    "StackStatus": self.status,
                    "CreationTime": "2026-11-01T00:00:00Z",
                    "Parameters": [
                        {"ParameterKey": "LogRetentionDays", "ParameterValue": "14"},
                        {
                            "ParameterKey": "ScheduleExpression",
                            "ParameterValue": "cron(15 5 * * ? *)",
                        },
                    ],
                }
            ]
        }

    def get_template(self, StackName: str, TemplateStage: str) -> dict[str, Any]:
        assert TemplateStage == "Original"
        return {"TemplateBody": self.body}

    def continue_update_rollback(self, StackName: str) -> None:
        self.calls.append("continue_update_rollback")

    def get_waiter(self, name: str) -> Any:
        calls = self.calls

        class Waiter:
            def wait(self, **kwargs: Any) -> None:
                calls.append(f"wait {name}")

        return Waiter()


CONFIG = EnvironmentConfig(name="dev", stack_name="vvs-dev", region="us-east-1")


def use(monkeypatch: pytest.MonkeyPatch, cfn: FakeCloudFormation) -> None:
    monkeypatch.setattr(deploy, "find_sam", lambda root: Path(".venv-sam/bin/sam"))
    import vanta_vuln_stats.cloud.stack as stack_module

    monkeypatch.setattr(stack_module, "clients", lambda region: {"cloudformation": cfn}.__getitem__)


def test_snapshots_are_numbered_and_keep_template_and_parameters(tmp_path: Path) -> None:
    cfn = FakeCloudFormation("UPDATE_COMPLETE")
    client = {"cloudformation": cfn}.__getitem__
    first = take_snapshot(client, "vvs-dev", tmp_path, "dev")
    cfn.body = {"Resources": {}}  # a JSON template comes back as a dict
    second = take_snapshot(client, "vvs-dev", tmp_path, "dev")
    assert [folder.name for folder in snapshots(tmp_path, "dev")] == ["1", "2"]
    assert first and (first / "template.yaml").read_text().startswith("Transform:")
    assert second and json.loads((second / "template.json").read_text()) == {"Resources": {}}
    meta = json.loads((second / "snapshot.json").read_text())
    assert meta["parameters"] == {
        "LogRetentionDays": "14",
        "ScheduleExpression": "cron(15 5 * * ? *)",
    }


@pytest.mark.parametrize("status", [None, "ROLLBACK_COMPLETE", "UPDATE_IN_PROGRESS"])
def test_no_snapshot_of_a_missing_or_unsettled_stack(tmp_path: Path, status: str | None) -> None:
    client = {"cloudformation": FakeCloudFormation(status)}.__getitem__
    assert take_snapshot(client, "vvs-dev", tmp_path, "dev") is None
    assert snapshots(tmp_path, "dev") == []


def test_rollback_continues_a_failed_rollback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfn = FakeCloudFormation("UPDATE_ROLLBACK_FAILED")
    use(monkeypatch, cfn)
    lines: list[str] = []
    assert rollback(CONFIG, tmp_path, out=lines.append) == 0
    assert cfn.calls == ["continue_update_rollback", "wait stack_rollback_complete"]


def test_rollback_redeploys_the_newest_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfn = FakeCloudFormation("UPDATE_COMPLETE")
    use(monkeypatch, cfn)
    take_snapshot({"cloudformation": cfn}.__getitem__, "vvs-dev", tmp_path, "dev")
    take_snapshot({"cloudformation": cfn}.__getitem__, "vvs-dev", tmp_path, "dev")
    lines: list[str] = []
    assert rollback(CONFIG, tmp_path, dry_run=True, out=lines.append) == 0
    assert lines[-1] == (
        "+ .venv-sam/bin/sam deploy --config-env dev --template-file "
        ".aws-sam/rollback/dev/2/template.yaml --no-fail-on-empty-changeset "
        "--no-confirm-changeset --parameter-overrides "
        '\'LogRetentionDays="14" ScheduleExpression="cron(15 5 * * ? *)"\''
    )
    lines.clear()
    assert rollback(CONFIG, tmp_path, version=1, dry_run=True, out=lines.append) == 0
    assert ".aws-sam/rollback/dev/1/template.yaml" in lines[-1]
    with pytest.raises(UserInputError, match=r"No snapshot 7 of dev \(there are: 1, 2\)"):
        rollback(CONFIG, tmp_path, version=7, dry_run=True, out=lines.append)


def test_rollback_after_cloudformation_undid_the_update(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, FakeCloudFormation("UPDATE_ROLLBACK_COMPLETE"))
    lines: list[str] = []
    assert rollback(CONFIG, tmp_path, out=lines.append) == 0
    assert "rolled the last update back already" in lines[-1]


@pytest.mark.parametrize(
    ("status", "message"),
    [
        ("UPDATE_IN_PROGRESS", "wait until it settles"),
        ("ROLLBACK_COMPLETE", "a snapshot cannot be deployed over it"),
        ("UPDATE_COMPLETE", "No snapshot of dev"),
    ],
)
def test_rollback_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, status: str, message: str
) -> None:
    use(monkeypatch, FakeCloudFormation(status))
    with pytest.raises(UserInputError, match=message):
        rollback(CONFIG, tmp_path, out=lambda line: None)


def test_unknown_environment() -> None:
    with pytest.raises(UserInputError, match="choose one of dev, staging, production"):
        deploy.environment_config("prod")
