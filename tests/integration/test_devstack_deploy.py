"""``devstack deploy``: template.yaml's stack in emulated AWS, with stand-in function code and a
small workflow (the real handlers and ASL are tested where they live)."""

from __future__ import annotations

import ast
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
from tests.unit.sam_template import FUNCTIONS, transformed_template
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
    assert set(out["functions"]) == set(FUNCTIONS)
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
    results = api_env["VANTA_ATHENA_OUTPUT_LOCATION"]  # a bucket of their own
    assert results.startswith("s3://") and results.endswith("/results/") and bucket not in results
    boto3.client("s3").head_bucket(Bucket=results.split("/")[2])
    assert api_env["VANTA_ATHENA_WORKGROUP"] == "vvs-test"
    groups = {
        group["logGroupName"]: group.get("retentionInDays")
        for group in boto3.client("logs").describe_log_groups()["logGroups"]
    }
    for name in out["functions"].values():
        assert groups[f"/aws/lambda/{name}"] == 30, name
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


def _allowed_actions(document: dict) -> list[str]:
    statements = document["Statement"]
    statements = statements if isinstance(statements, list) else [statements]
    actions: list[str] = []
    for statement in statements:
        if statement["Effect"] == "Allow":
            listed = statement.get("Action", [])
            actions += listed if isinstance(listed, list) else [listed]
    return actions


def test_the_deployed_stack_is_safe_by_default(aws: EmulatedAws, tmp_path: Path) -> None:
    """What a deploy of template.yaml creates, read back from the emulated services: encrypted,
    private, TLS-only buckets; encrypted topic and queue; the query API behind a key; no role
    allowed a wildcard action."""
    out = _deploy(aws, stand_in_project(tmp_path))
    s3 = boto3.client("s3")
    cfn = boto3.client("cloudformation")
    resources = cfn.describe_stack_resources(StackName=out["stack_name"])["StackResources"]
    buckets = [r["PhysicalResourceId"] for r in resources if r["ResourceType"] == "AWS::S3::Bucket"]
    assert out["bucket"] in buckets and len(buckets) == 2  # the lake and Athena's results
    for bucket in buckets:
        (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"][
            "Rules"
        ]
        assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert block == dict.fromkeys(
            ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"),
            True,
        ), bucket
    assert s3.get_bucket_versioning(Bucket=out["bucket"])["Status"] == "Enabled"
    # TLS only: each bucket's policy as the deploy transformed it (the emulated deploy leaves it
    # out: moto would enforce it against its own plain-http endpoint)
    transformed = transformed_template()["Resources"]
    policies = {
        item["Properties"]["Bucket"]["Ref"]: item["Properties"]["PolicyDocument"]["Statement"]
        for item in transformed.values()
        if item["Type"] == "AWS::S3::BucketPolicy"
    }
    assert set(policies) == {"DataBucket", "AthenaResultsBucket"}
    for statements in policies.values():
        assert any(
            statement["Effect"] == "Deny"
            and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for statement in statements
        )

    topic = boto3.client("sns").get_topic_attributes(TopicArn=out["topic_arn"])["Attributes"]
    assert topic["KmsMasterKeyId"] == "alias/aws/sns"
    sqs = boto3.client("sqs")
    for resource in resources:
        if resource["ResourceType"] == "AWS::SQS::Queue":
            attributes = sqs.get_queue_attributes(
                QueueUrl=resource["PhysicalResourceId"], AttributeNames=["KmsMasterKeyId"]
            )["Attributes"]
            assert attributes["KmsMasterKeyId"] == "alias/aws/sqs"

    # The query API: every method but the CORS preflight needs the key (in the API's body, as
    # the deploy transformed it; moto keeps no methods), and the key is in the usage plan.
    body = transformed["QueryApi"]["Properties"]["Body"]
    methods = [
        (path, verb, operation)
        for path, item in body["paths"].items()
        for verb, operation in item.items()
    ]
    assert len([m for m in methods if m[1] != "options"]) == 5
    for path, verb, operation in methods:
        needs_key = any("api_key" in entry for entry in operation.get("security", []))
        assert needs_key == (verb != "options"), (path, verb)
    (plan_id,) = out["usage_plans"].values()
    gateway = boto3.client("apigateway")
    assert gateway.get_usage_plan_keys(usagePlanId=plan_id)["items"]

    iam = boto3.client("iam")
    roles = [r["PhysicalResourceId"] for r in resources if r["ResourceType"] == "AWS::IAM::Role"]
    assert len(roles) >= 11  # one per function and the state machine's
    for role in roles:
        for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
            document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
            if isinstance(document, str):  # moto's CloudFormation stores Python's repr of it
                document = ast.literal_eval(document)
            for action in _allowed_actions(document):
                assert action != "*" and not action.endswith(":*"), (role, name, action)


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


# A small SAM template with each type moto's CloudFormation skips, some under Conditions and
# with Fn::If in their properties, in the shapes template.yaml uses.
SKIPPED_TYPES_TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  ScheduleState: {Type: String, Default: ENABLED, AllowedValues: [ENABLED, DISABLED]}
  AlarmEmail: {Type: String, Default: ""}
  OpsEmail: {Type: String, Default: ops@example.com}
  FailureThreshold: {Type: Number, Default: 3}
  ApiRateLimit: {Type: Number, Default: 5}
Conditions:
  HasAlarmEmail: !Not [!Equals [!Ref AlarmEmail, ""]]
  HasOpsEmail: !Not [!Equals [!Ref OpsEmail, ""]]
  ScheduleOn: !Equals [!Ref ScheduleState, ENABLED]
  AnyEmail: !Or [!Condition HasAlarmEmail, !Condition HasOpsEmail]
Resources:
  DataBucket:
    Type: AWS::S3::Bucket
  Topic:
    Type: AWS::SNS::Topic
  DeadLetterQueue:
    Type: AWS::SQS::Queue
  GlueDatabase:
    Type: AWS::Glue::Database
    Properties:
      CatalogId: !Ref AWS::AccountId
      DatabaseInput: {Name: skipped_types_db}
  FindingsTable:
    Type: AWS::Glue::Table
    Properties:
      CatalogId: !Ref AWS::AccountId
      DatabaseName: !Ref GlueDatabase
      TableInput:
        Name: vanta_findings
        TableType: EXTERNAL_TABLE
        Parameters: {classification: parquet}
        PartitionKeys: [{Name: run_date, Type: string}]
        StorageDescriptor:
          Columns: [{Name: id, Type: string}, {Name: severity, Type: string}]
          Location: !Sub s3://${DataBucket}/vulnerabilities/
          InputFormat: org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat
          OutputFormat: org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat
          SerdeInfo:
            SerializationLibrary: org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe
  WorkGroup:
    Type: AWS::Athena::WorkGroup
    Properties:
      Name: !Sub ${AWS::StackName}-queries
      Description: The stack's queries
      State: ENABLED
      RecursiveDeleteOption: true
      WorkGroupConfiguration:
        EnforceWorkGroupConfiguration: true
        PublishCloudWatchMetricsEnabled: true
        BytesScannedCutoffPerQuery: 1073741824
        ResultConfiguration:
          OutputLocation: !Sub s3://${DataBucket}/athena-results/
  SyncFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/start_sync/
      Handler: app.handler
      Runtime: python3.12
      Environment:
        Variables:
          ATHENA_WORKGROUP: !Ref WorkGroup
          ALARM_EMAIL: !If [HasAlarmEmail, !Ref AlarmEmail, !Ref AWS::NoValue]
          SCHEDULE: !If [ScheduleOn, "on", "off"]
      Events:
        Daily:
          Type: ScheduleV2
          Properties:
            Name: !Sub ${AWS::StackName}-daily-sync
            ScheduleExpression: cron(15 5 * * ? *)
            ScheduleExpressionTimezone: UTC
            State: !If [ScheduleOn, ENABLED, DISABLED]
            Input: '{"source": "schedule"}'
            RetryPolicy: {MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 3600}
            DeadLetterConfig: {Arn: !GetAtt DeadLetterQueue.Arn}
  SyncStateMachine:
    Type: AWS::Serverless::StateMachine
    Properties:
      Name: !Sub ${AWS::StackName}-sync
      DefinitionUri: workflows/sync.asl.json
      Policies: []
  SyncFailedAlarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      AlarmName: !Sub ${AWS::StackName}-sync-failed
      AlarmDescription: A sync failed
      Namespace: AWS/Lambda
      MetricName: Errors
      Dimensions: [{Name: FunctionName, Value: !Ref SyncFunction}]
      Statistic: Sum
      Period: 300
      EvaluationPeriods: 1
      Threshold: !Ref FailureThreshold
      ComparisonOperator: GreaterThanOrEqualToThreshold
      TreatMissingData: notBreaching
      AlarmActions: [!Ref Topic]
      OKActions: !If [AnyEmail, [!Ref Topic], !Ref AWS::NoValue]
  DeadLettersAlarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      AlarmName: !Sub ${AWS::StackName}-dead-letters
      Namespace: AWS/SQS
      MetricName: ApproximateNumberOfMessagesVisible
      Dimensions: [{Name: QueueName, Value: !GetAtt DeadLetterQueue.QueueName}]
      Statistic: Maximum
      Period: 300
      EvaluationPeriods: 1
      Threshold: 0
      ComparisonOperator: GreaterThanThreshold
      AlarmActions: [!Ref Topic]
  ErrorRateAlarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      AlarmName: !Sub ${AWS::StackName}-error-rate
      EvaluationPeriods: 1
      Threshold: 0.5
      ComparisonOperator: GreaterThanThreshold
      AlarmActions: [!Ref Topic]
      Metrics:
        - Id: errors
          ReturnData: false
          MetricStat:
            Metric:
              Namespace: AWS/Lambda
              MetricName: Errors
              Dimensions: [{Name: FunctionName, Value: !Ref SyncFunction}]
            Period: 300
            Stat: Sum
        - Id: invocations
          ReturnData: false
          MetricStat:
            Metric: {Namespace: AWS/Lambda, MetricName: Invocations}
            Period: 300
            Stat: Sum
        - Id: rate
          Expression: errors / invocations
          Label: Error rate
          ReturnData: true
  Dashboard:
    Type: AWS::CloudWatch::Dashboard
    Properties:
      DashboardName: !Sub ${AWS::StackName}-sync
      DashboardBody: !Sub >-
        {"widgets": [{"type": "text", "properties": {"markdown": "${AWS::StackName}"}}]}
  OpsSubscription:
    Type: AWS::SNS::Subscription
    Condition: HasOpsEmail
    Properties:
      TopicArn: !Ref Topic
      Protocol: email
      Endpoint: !Ref OpsEmail
  AlarmSubscription:
    Type: AWS::SNS::Subscription
    Condition: HasAlarmEmail
    Properties:
      TopicArn: !Ref Topic
      Protocol: email
      Endpoint: !Ref AlarmEmail
  ApiKey:
    Type: AWS::ApiGateway::ApiKey
    Properties:
      Name: !Sub ${AWS::StackName}-key
      Enabled: true
  UsagePlan:
    Type: AWS::ApiGateway::UsagePlan
    Properties:
      UsagePlanName: !Sub ${AWS::StackName}-plan
      Throttle: {RateLimit: !Ref ApiRateLimit, BurstLimit: 10}
      Quota: {Limit: 1000, Period: DAY}
  UsagePlanKey:
    Type: AWS::ApiGateway::UsagePlanKey
    Properties:
      KeyId: !Ref ApiKey
      KeyType: API_KEY
      UsagePlanId: !Ref UsagePlan
Outputs:
  StateMachineArn:
    Value: !Ref SyncStateMachine
  SyncScheduleName:
    Value: !Sub ${AWS::StackName}-daily-sync
  AthenaWorkGroupName:
    Value: !Ref WorkGroup
  DashboardName:
    Value: !Ref Dashboard
  ScheduleState:
    Value: !If [ScheduleOn, "on", "off"]
"""


def skipped_types_project(root: Path) -> Path:
    write_function(root, "start_sync")
    (root / "workflows").mkdir()
    asl = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
    (root / "workflows" / "sync.asl.json").write_text(json.dumps(asl))
    (root / "template.yaml").write_text(SKIPPED_TYPES_TEMPLATE)
    return root / "template.yaml"


def test_deploy_creates_what_moto_cloudformation_skips(aws: EmulatedAws, tmp_path: Path) -> None:
    from vanta_vuln_stats.cloud.command import collect_status
    from vanta_vuln_stats.cloud.stack import load_stack

    template = skipped_types_project(tmp_path)
    out = _deploy(aws, template, stack_name="vvs-skip", parameters={"ScheduleState": "DISABLED"})
    bucket = out["bucket"]
    assert out["notes"] == [], out["notes"]

    table = boto3.client("glue").get_table(DatabaseName="skipped_types_db", Name="vanta_findings")
    assert out["glue_tables"] == {"FindingsTable": "skipped_types_db.vanta_findings"}
    storage = table["Table"]["StorageDescriptor"]
    assert storage["Location"] == f"s3://{bucket}/vulnerabilities/"
    assert [key["Name"] for key in table["Table"]["PartitionKeys"]] == ["run_date"]

    assert out["workgroup"] == "vvs-skip-queries"
    workgroup = boto3.client("athena").get_work_group(WorkGroup="vvs-skip-queries")["WorkGroup"]
    configuration = workgroup["Configuration"]
    assert configuration["ResultConfiguration"]["OutputLocation"] == (
        f"s3://{bucket}/athena-results/"
    )
    assert configuration["BytesScannedCutoffPerQuery"] == 1073741824

    env = boto3.client("lambda").get_function_configuration(
        FunctionName=out["functions"]["SyncFunction"]
    )["Environment"]["Variables"]
    assert env == {"ATHENA_WORKGROUP": "vvs-skip-queries", "SCHEDULE": "off"}

    assert out["schedules"] == {
        "SyncFunctionDaily": {"name": "vvs-skip-daily-sync", "state": "DISABLED"}
    }
    schedule = boto3.client("scheduler").get_schedule(Name="vvs-skip-daily-sync")
    assert schedule["Target"]["Arn"].endswith(":function:" + out["functions"]["SyncFunction"])
    assert schedule["Target"]["Input"] == '{"source": "schedule"}'
    assert schedule["Target"]["RetryPolicy"] == {
        "MaximumRetryAttempts": 2,
        "MaximumEventAgeInSeconds": 3600,
    }
    assert schedule["Target"]["DeadLetterConfig"]["Arn"].startswith("arn:aws:sqs:us-east-1:")

    cloudwatch = boto3.client("cloudwatch")
    assert out["alarms"] == {
        "SyncFailedAlarm": "vvs-skip-sync-failed",
        "DeadLettersAlarm": "vvs-skip-dead-letters",
        "ErrorRateAlarm": "vvs-skip-error-rate",
    }
    alarms = {
        alarm["AlarmName"]: alarm
        for alarm in cloudwatch.describe_alarms(AlarmNamePrefix="vvs-skip")["MetricAlarms"]
    }
    failed = alarms["vvs-skip-sync-failed"]
    assert failed["AlarmActions"] == failed["OKActions"] == [out["topic_arn"]]
    assert failed["Threshold"] == 3.0
    assert failed["Dimensions"] == [
        {"Name": "FunctionName", "Value": out["functions"]["SyncFunction"]}
    ]
    queue_name = schedule["Target"]["DeadLetterConfig"]["Arn"].rsplit(":", 1)[-1]
    boto3.client("sqs").get_queue_url(QueueName=queue_name)
    dimensions = alarms["vvs-skip-dead-letters"]["Dimensions"]
    assert dimensions == [{"Name": "QueueName", "Value": queue_name}]
    rate = alarms["vvs-skip-error-rate"]
    assert [metric["Id"] for metric in rate["Metrics"]] == ["errors", "invocations", "rate"]
    assert rate["Metrics"][2]["Expression"] == "errors / invocations"
    assert cloudwatch.get_dashboard(DashboardName="vvs-skip-sync")["DashboardBody"]

    # Only the subscription whose condition holds.
    assert list(out["subscriptions"]) == ["OpsSubscription"]
    subscriptions = boto3.client("sns").list_subscriptions_by_topic(TopicArn=out["topic_arn"])
    assert [item["Endpoint"] for item in subscriptions["Subscriptions"]] == ["ops@example.com"]

    gateway = boto3.client("apigateway")
    (plan_id,) = out["usage_plans"].values()
    assert gateway.get_usage_plan(usagePlanId=plan_id)["throttle"] == {
        "rateLimit": 5.0,
        "burstLimit": 10,
    }
    keys = gateway.get_usage_plan_keys(usagePlanId=plan_id)["items"]
    assert [key["id"] for key in keys] == list(out["api_keys"].values())
    assert not [note for note in out["notes"] if "moto's CloudFormation did not" in note]

    # The cloud commands find the schedule by the stack's output, the alarms by its name.
    status = collect_status(load_stack("vvs-skip", "us-east-1"))
    assert status["outputs"]["ScheduleState"] == "off"
    assert status["schedules"] == [
        {
            "name": "vvs-skip-daily-sync",
            "state": "DISABLED",
            "expression": "cron(15 5 * * ? *)",
            "timezone": "UTC",
        }
    ]
    assert status["alarms"] == []
    cloudwatch.set_alarm_state(
        AlarmName="vvs-skip-sync-failed", StateValue="ALARM", StateReason="a sync failed"
    )
    status = collect_status(load_stack("vvs-skip", "us-east-1"))
    assert [(alarm["name"], alarm["reason"]) for alarm in status["alarms"]] == [
        ("vvs-skip-sync-failed", "a sync failed")
    ]

    # Deployed again: updated in place, nothing twice.
    again = _deploy(aws, template, stack_name="vvs-skip", parameters={"ScheduleState": "ENABLED"})
    assert again["schedules"]["SyncFunctionDaily"]["state"] == "ENABLED"
    assert again["workgroup"] == "vvs-skip-queries"
    names = [key["name"] for key in gateway.get_api_keys()["items"]]
    assert names == ["vvs-skip-key"]
    plans = [plan["name"] for plan in gateway.get_usage_plans()["items"]]
    assert plans == ["vvs-skip-plan"]
    alarms = cloudwatch.describe_alarms(AlarmNamePrefix="vvs-skip")["MetricAlarms"]
    assert sorted(alarm["AlarmName"] for alarm in alarms) == [
        "vvs-skip-dead-letters",
        "vvs-skip-error-rate",
        "vvs-skip-sync-failed",
    ]
    assert [alarm["AlarmActions"] for alarm in alarms] == [[again["topic_arn"]]] * 3


def test_snapstart_is_refused_in_one_line(aws: EmulatedAws, tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="EnableSnapStart=false"):
        _deploy(aws, stand_in_project(tmp_path), parameters={"EnableSnapStart": "true"})


def test_a_given_credentials_secret_is_used_and_none_created(
    aws: EmulatedAws, tmp_path: Path
) -> None:
    given = boto3.client("secretsmanager").create_secret(
        Name="org/vanta", SecretString='{"client_id": "a", "client_secret": "b"}'
    )["ARN"]
    out = _deploy(aws, stand_in_project(tmp_path), parameters={"VantaCredentialsSecretArn": given})
    assert "VantaCredentialsSecret" not in out["secrets"]
    env = boto3.client("lambda").get_function_configuration(
        FunctionName=out["functions"]["FetchPagesFunction"]
    )["Environment"]["Variables"]
    assert env["VANTA_SECRET_ID"] == given
