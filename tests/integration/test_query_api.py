"""The query API's Lambda (functions/query_api) through API Gateway REST proxy events, against
moto in server mode: Athena with static results, Step Functions with small state machines."""

from __future__ import annotations

import importlib.util
import json
import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto.core.config import default_user_config

from vanta_vuln_stats.api.settings import services
from vanta_vuln_stats.query.named import get_query

from .test_athena_client import Moto

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
DATABASE = "vanta_vulns"
COUNTS = {"vulnerabilities": {"fetched": 3, "written": 3, "rejected": 0}}


def _load_app() -> Any:
    spec = importlib.util.spec_from_file_location(
        "function_query_api", ROOT / "functions" / "query_api" / "app.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


APP = _load_app()
CONTEXT = SimpleNamespace(
    function_name="query_api",
    function_version="$LATEST",
    memory_limit_in_mb=512,
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:query_api",
    aws_request_id="req-1",
    get_remaining_time_in_millis=lambda: 30_000,
)


def rest_event(
    method: str,
    path: str,
    body: Any = None,
    *,
    query: dict[str, str] | None = None,
    raw_body: str | None = None,
) -> dict[str, Any]:
    """An API Gateway REST API proxy event, as API Gateway sends it to the function."""
    text = raw_body if raw_body is not None else (None if body is None else json.dumps(body))
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": {"Content-Type": "application/json", "X-Api-Key": "test-key"},
        "multiValueHeaders": {"Content-Type": ["application/json"], "X-Api-Key": ["test-key"]},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": path,
            "httpMethod": method,
            "path": f"/v1{path}",
            "stage": "v1",
            "requestId": str(uuid.uuid4()),
            "identity": {"sourceIp": "127.0.0.1", "apiKey": "test-key", "apiKeyId": "key-id-1"},
            "accountId": "123456789012",
            "apiId": "abc123",
        },
        "body": text,
        "isBase64Encoded": False,
    }


def call(event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = APP.handler(event, CONTEXT)
    return response["statusCode"], json.loads(response["body"])


class Athena(Moto):
    """moto's Athena with results set beforehand (test_athena_client's), and every
    StartQueryExecution request the API sent."""

    def __init__(self, endpoint: str) -> None:
        super().__init__(endpoint)
        self.sent: list[dict[str, Any]] = []

    def _record(self, params: dict[str, Any], **_: Any) -> None:
        self.sent.append(json.loads(params["body"]))


@pytest.fixture
def stack(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[SimpleNamespace]:
    """A bucket with one committed day, an Athena workgroup and an idle state machine; the
    function's environment pointing at them."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    session = boto3.Session(region_name=REGION)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", session)
    athena = Athena(moto_endpoint)
    session.events.register("before-call.athena.StartQueryExecution", athena._record)
    suffix = uuid.uuid4().hex[:8]
    bucket = f"lake-{suffix}"
    s3 = session.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="_commits/2026-11-05.json", Body=b"{}")
    s3.put_object(Bucket=bucket, Key="_commits/2026-11-06.json", Body=b"{}")
    workgroup = f"wg-{suffix}"
    session.client("athena").create_work_group(
        Name=workgroup,
        Configuration={"ResultConfiguration": {"OutputLocation": f"s3://{bucket}/athena/"}},
    )
    # moto runs the state machines (they must be created with this set, too).
    monkeypatch.setitem(default_user_config, "stepfunctions", {"execute_state_machine": True})
    sfn = session.client("stepfunctions")
    machine = sfn.create_state_machine(
        name=f"vvs-{suffix}-sync",
        definition=json.dumps(
            {
                "StartAt": "Done",
                "States": {
                    "Done": {
                        "Type": "Pass",
                        "Result": {"run_date": "2026-11-06", "counts": COUNTS, "committed": True},
                        "ResultPath": "$.result",
                        "End": True,
                    }
                },
            }
        ),
        roleArn="arn:aws:iam::123456789012:role/sfn",
    )["stateMachineArn"]
    for name, value in {
        "VANTA_LAKE": f"s3://{bucket}",
        "GLUE_DATABASE": DATABASE,
        "STATE_MACHINE_ARN": machine,
        "VANTA_ATHENA_WORKGROUP": workgroup,
        "VANTA_ATHENA_OUTPUT_LOCATION": f"s3://{bucket}/athena-results/",
        "QUERY_WAIT_SECONDS": "1",
    }.items():
        monkeypatch.setenv(name, value)
    services.cache_clear()
    try:
        yield SimpleNamespace(athena=athena, sfn=sfn, machine=machine, bucket=bucket)
    finally:
        athena.reset_progress()
        services.cache_clear()


def _wait(sfn: Any, arn: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        described = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING" or time.monotonic() > deadline:
            return described
        time.sleep(0.05)


# --------------------------------------------------------------------------------------------
# POST /api/v1/query, GET /api/v1/query/{id}


def test_a_named_query_returns_typed_rows_and_its_cost(stack) -> None:
    stack.athena.set_results(
        [("severity", "varchar"), ("findings", "bigint"), ("day", "date")],
        [["HIGH", "12", "2026-11-06"], ["CRITICAL", "3", "2026-11-06"]],
    )
    status, body = call(
        rest_event(
            "POST",
            "/api/v1/query",
            {"query": "top_cves", "parameters": {"as_of": "2026-11-06", "top": 5}},
        )
    )
    assert status == 200, body
    assert body["query"] == "top_cves"
    assert body["columns"] == ["severity", "findings", "day"]
    assert body["rows"] == [["HIGH", 12, "2026-11-06"], ["CRITICAL", 3, "2026-11-06"]]
    assert body["bytes_scanned"] == 0
    assert body["cost_usd"] > 0  # Athena's 10 MB minimum
    (sent,) = stack.athena.sent
    assert sent["QueryString"] == get_query("top_cves").sql
    assert sent["WorkGroup"].startswith("wg-")
    assert sent["QueryExecutionContext"] == {"Database": DATABASE}
    assert sent["ResultConfiguration"]["OutputLocation"].endswith("/athena-results/")
    assert "'2026'" in sent["ExecutionParameters"] and "5" in sent["ExecutionParameters"]


def test_latest_is_the_lakes_latest_committed_day(stack) -> None:
    stack.athena.set_results([("n", "bigint")], [["1"]])
    status, body = call(rest_event("POST", "/api/v1/query", {"query": "top_assets"}))
    assert status == 200, body
    (sent,) = stack.athena.sent
    assert sent["ExecutionParameters"][:3] == ["'2026'", "'11'", "'06'"]


def test_a_value_that_looks_like_sql_only_ever_travels_as_a_parameter(stack) -> None:
    stack.athena.set_results([("n", "bigint")], [])
    status, body = call(
        rest_event(
            "POST",
            "/api/v1/query",
            {
                "query": "overdue_findings",
                "parameters": {"as_of": "2026-11-06", "asset": "x' OR 1=1 --"},
            },
        )
    )
    assert status == 200, body
    (sent,) = stack.athena.sent
    assert sent["QueryString"] == get_query("overdue_findings").sql
    assert "'x'' OR 1=1 --'" in sent["ExecutionParameters"]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"query": "overdue_findings", "parameters": {"severity": "HIGH' OR 1=1 --"}}, "severity"),
        ({"query": "top_cves", "parameters": {"top": "10; DROP TABLE x"}}, "top"),
        ({"query": "top_cves", "parameters": {"as_of": "2026-02-30"}}, "as_of"),
        ({"query": "top_cves", "parameters": {"top": 0}}, "top"),
        ({"query": "top_cves", "parameters": {"nope": "1"}}, "no parameter 'nope'"),
        ({"query": "top_cves", "parameters": {"top": [1]}}, "top"),
        ({"query": "top_cves", "sql": "SELECT 1"}, "SQL is never accepted"),
        ({"parameters": {}}, "query"),
        (["top_cves"], "JSON object"),
    ],
)
def test_bad_input_is_a_400_that_says_what_is_accepted(stack, body, needle) -> None:
    status, answer = call(rest_event("POST", "/api/v1/query", body))
    assert status == 400
    assert answer["error"] == "bad_request"
    assert needle in answer["message"]
    assert stack.athena.sent == []


def test_a_body_that_is_not_json_is_a_400(stack) -> None:
    status, answer = call(rest_event("POST", "/api/v1/query", raw_body="{query: top_cves"))
    assert (status, answer["error"]) == (400, "bad_request")


def test_an_unknown_query_is_a_404(stack) -> None:
    status, answer = call(rest_event("POST", "/api/v1/query", {"query": "drop_tables"}))
    assert status == 404
    assert answer["error"] == "unknown_query"
    assert "top_cves" in answer["message"]


def test_a_slow_query_is_accepted_then_collected(stack) -> None:
    stack.athena.set_results([("n", "bigint")], [["7"]])
    stack.athena.progress_after(50)  # QUEUED, then RUNNING, for many polls
    status, body = call(
        rest_event(
            "POST", "/api/v1/query", {"query": "top_cves", "parameters": {"as_of": "2026-11-06"}}
        )
    )
    assert status == 202, body
    query_id = body["query_execution_id"]
    status, body = call(rest_event("GET", f"/api/v1/query/{query_id}"))
    assert (status, body) == (200, {"query_execution_id": query_id, "state": "RUNNING"})
    stack.athena.reset_progress()
    stack.athena.progress_after(1)
    for _ in range(5):
        status, body = call(rest_event("GET", f"/api/v1/query/{query_id}"))
        if body["state"] == "SUCCEEDED":
            break
    assert body["rows"] == [[7]]


def test_a_malformed_query_id_is_a_400(stack) -> None:
    status, answer = call(rest_event("GET", "/api/v1/query/'%20OR%201=1"))
    assert (status, answer["error"]) == (400, "bad_query_id")


# --------------------------------------------------------------------------------------------
# /api/v1/sync/...


def test_status_before_any_execution(stack) -> None:
    status, body = call(rest_event("GET", "/api/v1/sync/status"))
    assert status == 200
    assert body == {"running": False, "running_execution": None, "last_execution": None}


def test_trigger_then_status_and_history(stack) -> None:
    status, body = call(rest_event("POST", "/api/v1/sync/trigger", {"run_date": "2026-11-06"}))
    assert status == 202, body
    assert body["execution"] == "sync-2026-11-06"
    assert body["execution_arn"].endswith(":sync-2026-11-06")
    assert _wait(stack.sfn, body["execution_arn"])["status"] == "SUCCEEDED"

    status, body = call(rest_event("GET", "/api/v1/sync/status"))
    assert status == 200
    assert body["running"] is False
    last = body["last_execution"]
    assert (last["name"], last["status"], last["run_date"]) == (
        "sync-2026-11-06",
        "SUCCEEDED",
        "2026-11-06",
    )
    assert last["result"] == {"run_date": "2026-11-06", "counts": COUNTS}
    assert last["duration_seconds"] >= 0

    call(rest_event("POST", "/api/v1/sync/trigger", {"run_date": "2026-11-05"}))
    status, body = call(rest_event("GET", "/api/v1/sync/history", query={"limit": "1"}))
    assert status == 200
    assert [e["run_date"] for e in body["executions"]] == ["2026-11-05"]
    status, body = call(rest_event("GET", "/api/v1/sync/history"))
    assert {e["name"] for e in body["executions"]} == {"sync-2026-11-05", "sync-2026-11-06"}

    # The day's name exists: Step Functions refuses it, and the API says which.
    status, body = call(rest_event("POST", "/api/v1/sync/trigger", {"run_date": "2026-11-06"}))
    assert status == 409
    assert body["error"] == "already_exists"
    assert "sync-2026-11-06" in body["message"]


def test_trigger_while_an_execution_runs_is_a_409(stack, monkeypatch) -> None:
    slow = stack.sfn.create_state_machine(
        name=f"vvs-slow-{uuid.uuid4().hex[:8]}-sync",
        definition=json.dumps(
            {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 30, "End": True}}}
        ),
        roleArn="arn:aws:iam::123456789012:role/sfn",
    )["stateMachineArn"]
    monkeypatch.setenv("STATE_MACHINE_ARN", slow)
    services.cache_clear()
    status, body = call(rest_event("POST", "/api/v1/sync/trigger", {}))
    assert status == 202, body
    try:
        status, answer = call(
            rest_event("POST", "/api/v1/sync/trigger", {"run_date": "2026-01-02"})
        )
        assert status == 409
        assert answer["error"] == "already_running"
        assert body["execution"] in answer["message"]
        status, answer = call(rest_event("GET", "/api/v1/sync/status"))
        assert answer["running"] is True
        assert answer["running_execution"] == body["execution"]
        assert answer["last_execution"]["status"] == "RUNNING"
        assert answer["last_execution"]["stop_date"] is None
    finally:
        stack.sfn.stop_execution(executionArn=body["execution_arn"])


@pytest.mark.parametrize(
    "body",
    [{"run_date": "2026-13-01"}, {"run_date": "yesterday"}, {"run_date": 20261106}, {"day": "x"}],
)
def test_trigger_refuses_a_bad_date(stack, body) -> None:
    status, answer = call(rest_event("POST", "/api/v1/sync/trigger", body))
    assert (status, answer["error"]) == (400, "bad_request")


@pytest.mark.parametrize("limit", ["0", "101", "ten", "-1"])
def test_history_refuses_a_bad_limit(stack, limit) -> None:
    status, answer = call(rest_event("GET", "/api/v1/sync/history", query={"limit": limit}))
    assert (status, answer["error"]) == (400, "bad_request")


# --------------------------------------------------------------------------------------------
# Routing and failures


def test_an_unknown_route_is_a_404(stack) -> None:
    status, answer = call(rest_event("GET", "/api/v1/nothing"))
    assert status == 404
    assert answer == {"error": "not_found", "message": "No route GET /api/v1/nothing."}


def test_an_unexpected_failure_is_a_500_without_internals(stack, monkeypatch) -> None:
    monkeypatch.setenv("STATE_MACHINE_ARN", "")
    services.cache_clear()
    status, answer = call(rest_event("GET", "/api/v1/sync/status"))
    assert status == 500
    assert answer["error"] == "misconfigured"
    assert "Traceback" not in json.dumps(answer)

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setenv("STATE_MACHINE_ARN", stack.machine)
    services.cache_clear()
    monkeypatch.setattr(services().sync, "status", broken)
    status, answer = call(rest_event("GET", "/api/v1/sync/status"))
    assert status == 500
    assert answer["error"] == "internal_error"
    assert "secret" not in answer["message"]


def test_each_request_is_logged_with_the_keys_id_never_the_key(stack, caplog) -> None:
    with caplog.at_level(logging.INFO):
        status, _ = call(rest_event("GET", "/api/v1/sync/history", query={"limit": "0"}))
    (logged,) = [record for record in caplog.records if record.getMessage() == "request"]
    assert (logged.method, logged.path) == ("GET", "/api/v1/sync/history")
    assert logged.status == status == 400
    assert (logged.api_key_id, logged.source_ip) == ("key-id-1", "127.0.0.1")
    assert "test-key" not in repr(vars(logged))


def test_responses_carry_the_cors_origin(stack) -> None:
    event = rest_event("GET", "/api/v1/sync/status")
    event["headers"]["Origin"] = "https://dashboard.example.com"
    event["multiValueHeaders"]["Origin"] = ["https://dashboard.example.com"]
    response = APP.handler(event, CONTEXT)
    headers = {k.lower(): v for k, v in (response.get("multiValueHeaders") or {}).items()}
    headers.update({k.lower(): [v] for k, v in (response.get("headers") or {}).items()})
    assert "access-control-allow-origin" in headers
