"""template.yaml's optional Cognito authorizer (ApiCognitoUserPoolArn) and SnapStart
(EnableSnapStart), checked on the SAM-transformed template after the language extensions:
off by default, and when on, on every route and every function, with every caller on the alias."""

from __future__ import annotations

import fnmatch
import json
import re
from typing import Any

import pytest

from tests.unit.sam_template import TEMPLATE, WORKFLOW_FUNCTIONS, of_type, transformed_template
from tests.unit.test_query_api_template import ROUTES
from tests.unit.test_template import FUNCTIONS
from vanta_vuln_stats.devstack.deploy import load_template

POOL = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_abc"


def _paths(transformed: dict[str, Any]) -> dict[str, Any]:
    (api,) = of_type(transformed["Resources"], "AWS::ApiGateway::RestApi").values()
    return api["Properties"]["Body"]["paths"]


def _security_definitions(transformed: dict[str, Any]) -> dict[str, Any]:
    (api,) = of_type(transformed["Resources"], "AWS::ApiGateway::RestApi").values()
    return api["Properties"]["Body"]["securityDefinitions"]


def _preflight_headers(paths: dict[str, Any], path: str) -> str:
    integration = paths[path]["options"]["x-amazon-apigateway-integration"]
    response = integration["responses"]["default"]["responseParameters"]
    return response["method.response.header.Access-Control-Allow-Headers"]


# --------------------------------------------------------------------------------------------
# Defaults: neither


def test_by_default_no_authorizer_alias_version_or_snapstart() -> None:
    transformed = transformed_template()
    resources = transformed["Resources"]
    assert set(_security_definitions(transformed)) == {"api_key"}
    for path, method in ROUTES:
        assert _paths(transformed)[path][method]["security"] == [{"api_key": []}]
    assert not of_type(resources, "AWS::ApiGateway::Authorizer")
    assert not of_type(resources, "AWS::Lambda::Alias")
    assert not of_type(resources, "AWS::Lambda::Version")
    for name in FUNCTIONS:
        assert "SnapStart" not in resources[name]["Properties"], name
    substitutions = resources["SyncStateMachine"]["Properties"]["DefinitionSubstitutions"]
    for name in WORKFLOW_FUNCTIONS:
        assert substitutions[f"{name}Arn"] == {"Fn::GetAtt": [name, "Arn"]}
    # the options' conditions are resolved away, but CloudFormation keeps the section
    text = json.dumps(resources)
    assert "UseCognito" not in text and "UseSnapStart" not in text
    assert {"UseCognito", "UseSnapStart"} <= set(transformed["Conditions"])


# --------------------------------------------------------------------------------------------
# Cognito


@pytest.fixture(scope="module")
def with_cognito() -> dict[str, Any]:
    return transformed_template(ApiCognitoUserPoolArn=POOL)


def test_a_user_pool_is_a_cognito_authorizer(with_cognito) -> None:
    definitions = _security_definitions(with_cognito)
    assert set(definitions) == {"api_key", "CognitoAuthorizer"}
    cognito = definitions["CognitoAuthorizer"]
    assert cognito["x-amazon-apigateway-authtype"] == "cognito_user_pools"
    assert cognito["x-amazon-apigateway-authorizer"] == {
        "type": "cognito_user_pools",
        "providerARNs": [POOL],
    }
    assert (cognito["in"], cognito["name"]) == ("header", "Authorization")


def test_every_route_but_the_preflight_needs_the_token_and_the_key(with_cognito) -> None:
    paths = _paths(with_cognito)
    routes = {(path, m) for path, methods in paths.items() for m in methods if m != "options"}
    assert routes == ROUTES
    for path, method in ROUTES:
        security = paths[path][method]["security"]
        assert {"CognitoAuthorizer": []} in security, (path, method)
        assert {"api_key": []} in security, (path, method)
    for path in {path for path, _ in ROUTES}:
        assert "security" not in paths[path]["options"], path
        assert "Authorization" in _preflight_headers(paths, path).strip("'").split(","), path


def test_the_usage_plan_and_key_stay_with_cognito(with_cognito) -> None:
    resources = with_cognito["Resources"]
    for kind in ("AWS::ApiGateway::UsagePlan", "AWS::ApiGateway::ApiKey"):
        assert len(of_type(resources, kind)) == 1, kind


def test_the_pool_parameter_takes_an_arn_or_nothing() -> None:
    parameter = load_template(TEMPLATE)["Parameters"]["ApiCognitoUserPoolArn"]
    assert parameter["Default"] == ""
    pattern = re.compile(parameter["AllowedPattern"])
    assert pattern.fullmatch("") and pattern.fullmatch(POOL)
    assert pattern.fullmatch("arn:aws-us-gov:cognito-idp:us-gov-west-1:123456789012:userpool/x_1")
    for wrong in ("us-east-1_abc", "arn:aws:iam::123456789012:role/x", f"{POOL} "):
        assert not pattern.fullmatch(wrong), wrong


# --------------------------------------------------------------------------------------------
# SnapStart


@pytest.fixture(scope="module")
def with_snapstart() -> dict[str, Any]:
    return transformed_template(EnableSnapStart="true")


def test_snapstart_publishes_each_function_behind_the_alias_live(with_snapstart) -> None:
    resources = with_snapstart["Resources"]
    functions = of_type(resources, "AWS::Lambda::Function")
    assert set(functions) == set(FUNCTIONS)
    aliases = of_type(resources, "AWS::Lambda::Alias")
    versions = of_type(resources, "AWS::Lambda::Version")
    assert set(aliases) == {f"{name}Aliaslive" for name in FUNCTIONS}
    assert len(versions) == len(FUNCTIONS)
    for name, function in functions.items():
        assert function["Properties"]["Runtime"].startswith("python"), name
        assert function["Properties"]["SnapStart"] == {"ApplyOn": "PublishedVersions"}, name
        alias = aliases[f"{name}Aliaslive"]["Properties"]
        assert alias["Name"] == "live"
        assert alias["FunctionName"] == {"Ref": name}
        (version,) = [
            v for v, r in versions.items() if r["Properties"]["FunctionName"] == {"Ref": name}
        ]
        assert alias["FunctionVersion"] == {"Fn::GetAtt": [version, "Version"]}


def test_the_workflow_invokes_the_aliases_and_may(with_snapstart) -> None:
    resources = with_snapstart["Resources"]
    substitutions = resources["SyncStateMachine"]["Properties"]["DefinitionSubstitutions"]
    assert set(substitutions) == {f"{name}Arn" for name in WORKFLOW_FUNCTIONS}
    for name in WORKFLOW_FUNCTIONS:
        assert substitutions[f"{name}Arn"] == {"Ref": f"{name}Aliaslive"}
    # LambdaInvokePolicy: function:<name>* covers the alias <name>:live
    allowed = set()
    for policy in resources["SyncStateMachineRole"]["Properties"]["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            if "lambda:InvokeFunction" in statement["Action"]:
                pattern, names = statement["Resource"]["Fn::Sub"]
                function = names["functionName"]["Ref"]
                arn = pattern.replace("${functionName}", function)
                if fnmatch.fnmatchcase(f"{arn.rstrip('*')}:live", arn):
                    allowed.add(function)
    assert allowed == set(WORKFLOW_FUNCTIONS)


def test_the_schedule_the_event_rule_and_the_api_invoke_the_aliases(with_snapstart) -> None:
    resources = with_snapstart["Resources"]
    (schedule,) = of_type(resources, "AWS::Scheduler::Schedule").values()
    assert schedule["Properties"]["Target"]["Arn"] == {"Ref": "StartSyncFunctionAliaslive"}
    role = schedule["Properties"]["Target"]["RoleArn"]["Fn::GetAtt"][0]
    (policy,) = resources[role]["Properties"]["Policies"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Resource"] == {"Ref": "StartSyncFunctionAliaslive"}

    (rule,) = of_type(resources, "AWS::Events::Rule").values()
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Ref": "CatalogOnS3EventFunctionAliaslive"}

    permissions = of_type(resources, "AWS::Lambda::Permission").values()
    assert permissions
    for permission in permissions:
        assert permission["Properties"]["FunctionName"]["Ref"].endswith("Aliaslive")

    paths = _paths(with_snapstart)
    for path, method in ROUTES:
        uri = paths[path][method]["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
        assert "${QueryApiFunctionAliaslive}" in uri, (path, method)


def test_both_options_together() -> None:
    transformed = transformed_template(ApiCognitoUserPoolArn=POOL, EnableSnapStart="true")
    assert "CognitoAuthorizer" in _security_definitions(transformed)
    assert len(of_type(transformed["Resources"], "AWS::Lambda::Alias")) == len(FUNCTIONS)


def test_snapstart_is_a_switch_off_by_default() -> None:
    parameter = load_template(TEMPLATE)["Parameters"]["EnableSnapStart"]
    assert parameter["Default"] == "false"
    assert parameter["AllowedValues"] == ["true", "false"]
