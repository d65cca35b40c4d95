"""The in-process Lambda runtime on emulated AWS: boto3 invokes and state machines run our
handlers, with Lambda's environment, context, error payloads, logs and injected faults."""

from __future__ import annotations

import inspect
import json
import re
import uuid
from collections.abc import Iterator

import boto3
import httpx
import pytest

from tests.integration.devstack_helpers import ECHO_HANDLER, wait_for_execution, zip_source
from vanta_vuln_stats.devstack import lambda_runtime
from vanta_vuln_stats.devstack.aws import FAULTS_PATH, EmulatedAws


@pytest.fixture
def aws() -> Iterator[EmulatedAws]:
    with EmulatedAws(port=0) as emulated:
        yield emulated


def _role() -> str:
    iam = boto3.client("iam")
    name = f"role-{uuid.uuid4().hex[:8]}"
    return iam.create_role(RoleName=name, AssumeRolePolicyDocument="{}")["Role"]["Arn"]


def _function(env: dict[str, str] | None = None, source: str = ECHO_HANDLER, **extra) -> str:
    name = f"fn-{uuid.uuid4().hex[:8]}"
    boto3.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=_role(),
        Handler="app.handler",
        Code={"ZipFile": zip_source(source)},
        Environment={"Variables": env or {}},
        Timeout=extra.pop("Timeout", 45),
        MemorySize=extra.pop("MemorySize", 256),
        **extra,
    )
    return name


def _name() -> str:
    return uuid.uuid4().hex


def _invoke(name: str, event: dict) -> tuple[dict, str | None]:
    response = boto3.client("lambda").invoke(FunctionName=name, Payload=json.dumps(event))
    return json.loads(response["Payload"].read()), response.get("FunctionError")


def test_the_process_points_at_the_emulation(aws: EmulatedAws) -> None:
    import os

    assert aws.url.startswith("http://127.0.0.1:")
    assert os.environ["AWS_ENDPOINT_URL"] == aws.url
    assert os.environ["MOTO_PORT"] == str(aws.port)
    from moto.core.config import default_user_config  # GET /moto-api/config omits this key

    assert default_user_config["stepfunctions"] == {"execute_state_machine": True}


def test_boto3_invoke_runs_the_handler_with_env_and_context(aws: EmulatedAws) -> None:
    name = _function({"STANDIN_SETTING": "on"})
    result, error = _invoke(name, {"env": ["STANDIN_SETTING"], "note": "hi"})
    assert error is None
    assert result["event"]["note"] == "hi"
    assert result["env"] == {"STANDIN_SETTING": "on"}
    context = result["context"]
    assert context["function_name"] == name
    assert context["invoked_function_arn"].endswith(f":function:{name}")
    assert context["memory_limit_in_mb"] == 256
    assert context["log_group_name"] == f"/aws/lambda/{name}"
    assert uuid.UUID(context["aws_request_id"])
    assert 40_000 < context["remaining"] <= 45_000

    # a warm start: the same module, a new request id
    again, _ = _invoke(name, {})
    assert again["context"]["aws_request_id"] != context["aws_request_id"]


def test_a_handler_exception_is_the_python_runtime_error_payload(aws: EmulatedAws) -> None:
    name = _function()
    payload, error = _invoke(name, {"fail": True})
    assert error  # moto says "Handled"; AWS says "Unhandled"
    assert set(payload) == {"errorMessage", "errorType", "requestId", "stackTrace"}
    assert payload["errorType"] == "ValueError"
    assert payload["errorMessage"] == "asked to fail"
    assert any("raise ValueError" in line for line in payload["stackTrace"])
    assert not any("lambda_runtime" in line for line in payload["stackTrace"])


def test_logs_reach_cloudwatch_logs(aws: EmulatedAws) -> None:
    name = _function()
    _invoke(name, {"note": "traceable"})
    logs = boto3.client("logs")
    streams = logs.describe_log_streams(logGroupName=f"/aws/lambda/{name}")["logStreams"]
    assert len(streams) == 1
    events = logs.get_log_events(
        logGroupName=f"/aws/lambda/{name}", logStreamName=streams[0]["logStreamName"]
    )["events"]
    lines = [event["message"] for event in events]
    assert lines[0].startswith("START RequestId:")
    assert "print from the handler" in lines
    assert any("log record from the handler: traceable" in line for line in lines)
    assert lines[-1].startswith("REPORT RequestId:")
    # AWS's fields, which the workflow benchmark reads to bill GB-seconds.
    report = re.fullmatch(
        r"REPORT RequestId: \S+\tDuration: ([\d.]+) ms\tBilled Duration: (\d+) ms\t"
        r"Memory Size: (\d+) MB",
        lines[-1],
    )
    assert report is not None, lines[-1]
    assert 0 <= int(report[2]) - float(report[1]) < 1.01  # rounded up to the next ms


def test_functions_that_disagree_on_a_variable_fail_clearly(aws: EmulatedAws) -> None:
    first = _function({"SHARED_KEY": "one"})
    second = _function({"SHARED_KEY": "two"})
    assert _invoke(first, {})[1] is None
    payload, error = _invoke(second, {})
    assert error
    assert payload["errorType"] == "EnvironmentConflictError"
    assert "SHARED_KEY" in payload["errorMessage"]


def test_injected_faults_fail_without_running_the_handler(aws: EmulatedAws) -> None:
    name = _function()
    response = httpx.post(
        f"{aws.url}{FAULTS_PATH}",
        json={"function": name, "times": 2, "error": "Lambda.ServiceException"},
    )
    assert response.status_code == 201
    assert httpx.get(f"{aws.url}{FAULTS_PATH}").json()["faults"][0]["function"] == name
    for _ in range(2):
        payload, error = _invoke(name, {})
        assert error and payload["errorType"] == "Lambda.ServiceException"
    assert _invoke(name, {})[1] is None

    httpx.post(f"{aws.url}{FAULTS_PATH}", json={"function": name, "times": -1})
    assert _invoke(name, {})[1]
    assert httpx.delete(f"{aws.url}{FAULTS_PATH}").json() == {"faults": []}
    assert _invoke(name, {})[1] is None
    assert httpx.post(f"{aws.url}{FAULTS_PATH}", json={"times": 1}).status_code == 400


RETRY_CATCH_ASL = {
    "StartAt": "Work",
    "States": {
        "Work": {
            "Type": "Task",
            "Resource": "${FunctionArn}",
            "Retry": [
                {
                    "ErrorEquals": ["Lambda.ServiceException"],
                    "IntervalSeconds": 1,
                    "MaxAttempts": 1,
                    "BackoffRate": 1.0,
                }
            ],
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}],
            "End": True,
        },
        "Caught": {"Type": "Pass", "End": True},
    },
}


def test_a_state_machine_retries_and_catches_lambda_faults(aws: EmulatedAws) -> None:
    name = _function()
    arn = boto3.client("lambda").get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    sfn = boto3.client("stepfunctions")
    definition = json.dumps(RETRY_CATCH_ASL).replace("${FunctionArn}", arn)
    machine = sfn.create_state_machine(
        name=f"sm-{uuid.uuid4().hex[:8]}", definition=definition, roleArn=_role()
    )["stateMachineArn"]

    # one service error: retried, then the handler's result
    httpx.post(f"{aws.url}{FAULTS_PATH}", json={"function": name, "times": 1})
    run = sfn.start_execution(
        stateMachineArn=machine, name=_name(), input=json.dumps({"note": "retried"})
    )
    execution = wait_for_execution(sfn, run["executionArn"])
    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"])["event"]["note"] == "retried"

    # a permanent service error: retries spent, then the Catch path with the error's name
    httpx.post(f"{aws.url}{FAULTS_PATH}", json={"function": name, "times": -1})
    run = sfn.start_execution(
        stateMachineArn=machine, name=_name(), input=json.dumps({"note": "caught"})
    )
    execution = wait_for_execution(sfn, run["executionArn"])
    assert execution["status"] == "SUCCEEDED"
    output = json.loads(execution["output"])
    assert output["error"]["Error"] == "Lambda.ServiceException"
    assert output["note"] == "caught"

    # a handler exception is caught with its Python type as the error name
    httpx.delete(f"{aws.url}{FAULTS_PATH}")
    run = sfn.start_execution(
        stateMachineArn=machine, name=_name(), input=json.dumps({"fail": True})
    )
    output = json.loads(wait_for_execution(sfn, run["executionArn"])["output"])
    assert output["error"]["Error"] == "ValueError"


def test_moto_private_invoke_api_is_what_the_runtime_replaces() -> None:
    """moto's _invoke_lambda is private: this fails when its shape changes (re-check the pin)."""
    from moto.awslambda.models import LambdaFunction

    original = LambdaFunction.__dict__["_invoke_lambda"]
    assert not lambda_runtime.installed()
    assert original is not lambda_runtime._invoke_in_process
    assert list(inspect.signature(original).parameters) == ["self", "event"]
    assert inspect.signature(original).return_annotation in (
        "tuple[str, bool, str]",
        tuple[str, bool, str],
    )
    # moto's invoke unpacks (payload, errored, logs) and the runtime saves logs moto's way
    assert "res, errored, logs = self._invoke_lambda(event=body)" in inspect.getsource(
        LambdaFunction.invoke
    )
    assert list(inspect.signature(LambdaFunction.save_logs).parameters) == ["self", "output"]
    # the attributes the runtime reads from a function
    init = inspect.getsource(LambdaFunction.__init__)
    for attribute in ("environment_vars", "timeout", "memory_size", "handler", "code_bytes"):
        assert f"self.{attribute}" in init, attribute
    # and the server class whose entry the devstack wraps with its faults route
    from moto.server import ThreadedMotoServer

    entry = inspect.getsource(ThreadedMotoServer._server_entry)
    assert "DomainDispatcherApplication(create_backend_app)" in entry
    assert "request_handler=MotoRequestHandler" in entry
