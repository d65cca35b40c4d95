"""The query API's part of template.yaml, checked on the SAM-transformed template: what moto's
CloudFormation skips (keys, usage plans, stages) can only be checked here."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.unit.sam_template import ROOT, of_type, transformed_template
from vanta_vuln_stats.api.errors import BadRequest, Conflict, NotFound, error_response
from vanta_vuln_stats.errors import AthenaError, AthenaQueryFailed, ConfigError
from vanta_vuln_stats.query.named import NamedQueryError

ROUTES = {
    ("/api/v1/query", "post"),
    ("/api/v1/query/{query_id}", "get"),
    ("/api/v1/sync/status", "get"),
    ("/api/v1/sync/history", "get"),
    ("/api/v1/sync/trigger", "post"),
}


@pytest.fixture(scope="module")
def transformed() -> dict:
    return transformed_template(
        ApiThrottleRateLimit=7, ApiThrottleBurstLimit=11, ApiQuotaPerDay=123
    )


def test_every_route_needs_the_api_key_but_the_preflight(transformed) -> None:
    (api,) = of_type(transformed["Resources"], "AWS::ApiGateway::RestApi").values()
    paths = api["Properties"]["Body"]["paths"]
    routes = {(path, m) for path, methods in paths.items() for m in methods if m != "options"}
    assert routes == ROUTES
    for path, method in ROUTES:
        assert {"api_key": []} in paths[path][method]["security"], (path, method)
        assert "security" not in paths[path].get("options", {})


def test_the_usage_plan_throttles_and_limits_from_parameters(transformed) -> None:
    (plan,) = of_type(transformed["Resources"], "AWS::ApiGateway::UsagePlan").values()
    properties = plan["Properties"]
    assert properties["Throttle"] == {"RateLimit": "7", "BurstLimit": "11"}
    assert properties["Quota"] == {"Limit": "123", "Period": "DAY"}
    assert of_type(transformed["Resources"], "AWS::ApiGateway::ApiKey")
    assert of_type(transformed["Resources"], "AWS::ApiGateway::UsagePlanKey")
    (stage,) = of_type(transformed["Resources"], "AWS::ApiGateway::Stage").values()
    assert stage["Properties"]["StageName"] == "v1"


def test_the_function_is_least_privileged_and_light(transformed) -> None:
    resources = transformed["Resources"]
    function = resources["QueryApiFunction"]["Properties"]
    (layer,) = function["Layers"]  # the core layer only: no pyarrow
    assert layer["Ref"].startswith("CoreLayer")
    role = resources["QueryApiFunctionRole"]["Properties"]
    statements = [
        statement
        for policy in role["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
    ]
    actions = {
        action
        for statement in statements
        for action in (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
    }
    assert not any(action.endswith("*") for action in actions if not action.startswith("s3:"))
    assert {"states:StartExecution", "states:ListExecutions", "states:DescribeExecution"} <= (
        actions
    )
    assert not any(a.startswith(("glue:Create", "glue:Update", "glue:Batch")) for a in actions)
    for statement in statements:
        assert statement["Resource"] != "*", statement
    text = json.dumps(statements)
    assert "${AthenaResultsBucket.Arn}/results/*" in text
    assert "workgroup/${AWS::StackName}" in text
    assert "stateMachine:${AWS::StackName}-sync" in text


def test_outputs_keep_their_names_and_add_the_url(transformed) -> None:
    assert {
        "DataBucketName",
        "Lake",
        "StateMachineArn",
        "NotificationTopicArn",
        "GlueDatabaseName",
        "VantaCredentialsSecretArn",
        "VantaTokenSecretArn",
        "QueryApiUrl",
        "SyncScheduleName",
        "AthenaWorkGroupName",
        "AthenaResultsLocation",
        "DashboardName",
    } == set(transformed["Outputs"])


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (BadRequest("x"), 400, "bad_request"),
        (NamedQueryError("x"), 400, "bad_request"),
        (NotFound("x", code="unknown_query"), 404, "unknown_query"),
        (Conflict("x", code="already_running"), 409, "already_running"),
        (ConfigError("STATE_MACHINE_ARN is not set."), 500, "misconfigured"),
        (AthenaQueryFailed("x", query_id="q", reason="SYNTAX"), 500, "query_failed"),
        (AthenaError("denied"), 500, "athena_error"),
        (KeyError("internal"), 500, "internal_error"),
    ],
)
def test_errors_map_to_statuses_in_one_place(error, status, code) -> None:
    answer_status, body = error_response(error)
    assert (answer_status, body["error"]) == (status, code)
    assert set(body) == {"error", "message"}
    if status == 500 and code != "query_failed":
        assert "internal" not in body["message"] and "denied" not in body["message"]


def test_the_handler_never_imports_pyarrow() -> None:
    app = str(ROOT / "functions" / "query_api" / "app.py")
    code = (
        "import sys, importlib.util\n"
        "sys.modules['pyarrow'] = None\n"
        f"spec = importlib.util.spec_from_file_location('app', {app!r})\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        "import vanta_vuln_stats.api.queries, vanta_vuln_stats.api.sync\n"
        "assert 'pyarrow' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(ROOT / "shared"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
