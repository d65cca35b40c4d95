"""template.yaml's safety and completeness, checked on the SAM-transformed template (what a deploy
creates, SAM's policy templates expanded): what moto's CloudFormation skips (bucket policies,
alarms, workgroups, Glue tables) can only be checked here."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.unit.sam_template import FUNCTIONS, TEMPLATE, of_type, transformed_template
from vanta_vuln_stats.catalog import lake as catalog_lake
from vanta_vuln_stats.catalog import template as catalog_template
from vanta_vuln_stats.catalog.tables import (
    CATALOG_TABLES,
    CURRENT_TABLES,
    PARTITION_KEYS,
    SERDE,
    current_table_input,
    table_input,
)
from vanta_vuln_stats.devstack.deploy import load_template
from vanta_vuln_stats.storage.lake import layout


@pytest.fixture(scope="module")
def transformed() -> dict[str, Any]:
    return transformed_template()


@pytest.fixture(scope="module")
def resources(transformed) -> dict[str, Any]:
    return transformed["Resources"]


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(resources: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every IAM statement of every role and managed/inline policy: (resource name, statement)."""
    found = []
    for name, resource in resources.items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Role":
            for policy in properties.get("Policies", []):
                found += [(name, s) for s in _listed(policy["PolicyDocument"]["Statement"])]
        elif resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            found += [(name, s) for s in _listed(properties["PolicyDocument"]["Statement"])]
    return found


def _references(value: Any, name: str) -> bool:
    text = json.dumps(value)
    return any(
        form in text for form in (f'"Ref": "{name}"', f'["{name}", ', f'"{name}.', "${" + name)
    )


# --------------------------------------------------------------------------------------------
# Storage


def test_every_bucket_is_encrypted_private_owned_and_tls_only(resources) -> None:
    buckets = of_type(resources, "AWS::S3::Bucket")
    assert set(buckets) == {"DataBucket", "AthenaResultsBucket"}
    policies = of_type(resources, "AWS::S3::BucketPolicy").values()
    for name, bucket in buckets.items():
        properties = bucket["Properties"]
        (rule,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
        assert properties["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }, name
        assert properties["OwnershipControls"]["Rules"] == [
            {"ObjectOwnership": "BucketOwnerEnforced"}
        ]
        (policy,) = [p for p in policies if p["Properties"]["Bucket"] == {"Ref": name}]
        denies = [
            s
            for s in policy["Properties"]["PolicyDocument"]["Statement"]
            if s["Effect"] == "Deny"
            and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        ]
        assert denies and denies[0]["Principal"] == "*" and denies[0]["Action"] == "s3:*", name
        covered = denies[0]["Resource"]
        assert {"Fn::GetAtt": [name, "Arn"]} in covered, name
        assert {"Fn::Sub": "${" + name + ".Arn}/*"} in covered, name
        rules = properties["LifecycleConfiguration"]["Rules"]
        assert any("AbortIncompleteMultipartUpload" in r for r in rules), name


def _rules(resources: dict[str, Any], bucket: str) -> dict[str, dict[str, Any]]:
    rules = resources[bucket]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert all(rule["Status"] == "Enabled" for rule in rules)
    return {rule.get("Prefix", ""): rule for rule in rules}


def test_the_data_bucket_lifecycle_follows_the_lake_layout(resources) -> None:
    rules = _rules(resources, "DataBucket")
    for table in layout.TABLES:
        if table in (layout.SYNC_HISTORY_TABLE, layout.REJECTS_TABLE):
            continue  # a row a run: tiering saves nothing on objects under 128 KB; rejects expire
        (transition,) = rules[f"{table}/"]["Transitions"]
        assert transition["StorageClass"] == "INTELLIGENT_TIERING"
    (backup,) = rules[f"{layout.BACKUP_PREFIX}/"]["Transitions"]
    assert backup == {"StorageClass": "GLACIER", "TransitionInDays": {"Ref": "BackupGlacierDays"}}
    for prefix in ("raw/", f"{layout.REJECTS_TABLE}/"):
        assert rules[prefix]["ExpirationInDays"] == {"Ref": "RawRetentionDays"}
    everything = resources["DataBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    (abort,) = [r for r in everything if "AbortIncompleteMultipartUpload" in r]
    assert "Prefix" not in abort and "Filter" not in abort  # the whole bucket
    assert abort["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] <= 7
    assert any("NoncurrentVersionExpiration" in rule for rule in everything)
    # the committed state and manifests are never expired or moved
    assert not any(p.startswith(("_commits", "_state", "sync_history")) for p in rules if p)


def test_athena_results_expire(resources) -> None:
    rules = resources["AthenaResultsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert {"Ref": "AthenaResultsRetentionDays"} in [r.get("ExpirationInDays") for r in rules]


def test_topic_and_queue_are_encrypted(resources) -> None:
    for topic in of_type(resources, "AWS::SNS::Topic").values():
        assert topic["Properties"]["KmsMasterKeyId"]
    for queue in of_type(resources, "AWS::SQS::Queue").values():
        properties = queue["Properties"]
        assert properties.get("KmsMasterKeyId") or properties.get("SqsManagedSseEnabled")


# --------------------------------------------------------------------------------------------
# Athena


def test_the_workgroup_enforces_encrypted_results_and_a_scan_cutoff(resources) -> None:
    (workgroup,) = of_type(resources, "AWS::Athena::WorkGroup").values()
    properties = workgroup["Properties"]
    assert properties["Name"] == {"Fn::Sub": "${AWS::StackName}"}
    configuration = properties["WorkGroupConfiguration"]
    assert configuration["EnforceWorkGroupConfiguration"] is True
    assert configuration["PublishCloudWatchMetricsEnabled"] is True
    assert configuration["BytesScannedCutoffPerQuery"] == {
        "Fn::Sub": "${AthenaBytesScannedCutoffMB}000000"
    }
    results = configuration["ResultConfiguration"]
    assert results["EncryptionConfiguration"] == {"EncryptionOption": "SSE_S3"}
    assert results["OutputLocation"] == {"Fn::Sub": "s3://${AthenaResultsBucket}/results/"}


def test_the_scan_cutoff_parameter_meets_athenas_minimum() -> None:
    parameter = load_template(TEMPLATE)["Parameters"]["AthenaBytesScannedCutoffMB"]
    assert parameter["MinValue"] * 10**6 >= 10 * 2**20  # Athena refuses less than 10 MiB


def test_the_query_api_uses_the_stacks_workgroup_and_results_bucket(resources) -> None:
    variables = resources["QueryApiFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["VANTA_ATHENA_WORKGROUP"] == {"Fn::Sub": "${AWS::StackName}"}
    assert variables["VANTA_ATHENA_OUTPUT_LOCATION"] == {
        "Fn::Sub": "s3://${AthenaResultsBucket}/results/"
    }
    statements = [s for name, s in _statements(resources) if name == "QueryApiFunctionRole"]
    on_results = {
        action
        for s in statements
        if _references(s["Resource"], "AthenaResultsBucket")
        for action in _listed(s["Action"])
    }
    assert on_results
    assert on_results == {
        "s3:GetBucketLocation",
        "s3:ListBucket",
        "s3:GetObject",
        "s3:PutObject",
        "s3:AbortMultipartUpload",
    }
    writes = [
        s
        for s in statements
        if any(a.startswith(("s3:Put", "s3:Delete")) for a in _listed(s["Action"]))
    ]
    assert not any(_references(s["Resource"], "DataBucket") for s in writes)


# --------------------------------------------------------------------------------------------
# IAM


def test_no_allow_statement_has_a_wildcard_action(resources) -> None:
    statements = _statements(resources)
    assert len({name for name, _ in statements}) >= len(FUNCTIONS) + 1
    for name, statement in statements:
        if statement["Effect"] != "Allow":
            continue
        for action in _listed(statement["Action"]):
            assert "*" not in action, (name, action)


def test_a_role_per_function_and_one_for_the_state_machine(resources) -> None:
    roles = of_type(resources, "AWS::IAM::Role")
    for function in FUNCTIONS:
        role = resources[function]["Properties"]["Role"]
        assert role == {"Fn::GetAtt": [f"{function}Role", "Arn"]}, function
    assert "SyncStateMachineRole" in roles
    assert len({json.dumps(resources[f]["Properties"]["Role"]) for f in FUNCTIONS}) == len(
        FUNCTIONS
    )


def test_only_log_delivery_takes_any_resource(resources) -> None:
    for name, statement in _statements(resources):
        if statement["Effect"] == "Allow" and "*" in _listed(statement["Resource"]):
            actions = _listed(statement["Action"])
            assert name in ("SyncStateMachineRole",) or all(
                a.startswith(("xray:", "logs:")) for a in actions
            ), (name, actions)
            if name == "SyncStateMachineRole":
                assert all(a.startswith(("logs:", "xray:")) for a in actions), actions


# --------------------------------------------------------------------------------------------
# Logs, alarms, dashboard


def test_every_function_logs_to_a_group_with_retention(resources) -> None:
    groups = of_type(resources, "AWS::Logs::LogGroup").values()
    names = {json.dumps(g["Properties"]["LogGroupName"]): g["Properties"] for g in groups}
    for function in FUNCTIONS:
        group = names[json.dumps({"Fn::Sub": "/aws/lambda/${" + function + "}"})]
        assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}, function
    for group in groups:
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_the_state_machine_logs_errors_without_payloads(resources) -> None:
    properties = resources["SyncStateMachine"]["Properties"]
    logging = properties["LoggingConfiguration"]
    assert logging["Level"] == "ERROR" and logging["IncludeExecutionData"] is False
    (destination,) = logging["Destinations"]
    group = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]
    assert group == {"Fn::GetAtt": ["SyncStateMachineLogGroup", "Arn"]}
    actions = {
        action
        for name, s in _statements(resources)
        if name == "SyncStateMachineRole"
        for action in _listed(s["Action"])
    }
    assert {
        "logs:CreateLogDelivery",
        "logs:GetLogDelivery",
        "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups",
    } <= actions


def test_every_alarm_notifies_the_topic_and_is_named_after_the_stack(resources) -> None:
    alarms = of_type(resources, "AWS::CloudWatch::Alarm")
    assert len(alarms) >= 8
    for name, alarm in alarms.items():
        properties = alarm["Properties"]
        assert properties["AlarmName"]["Fn::Sub"].startswith("${AWS::StackName}-"), name
        assert properties["AlarmActions"] == [{"Ref": "NotificationTopic"}], name
        assert properties["OKActions"] == [{"Ref": "NotificationTopic"}], name
        assert properties["TreatMissingData"] in ("breaching", "notBreaching"), name


def _metrics(alarm: dict[str, Any]) -> list[dict[str, Any]]:
    properties = alarm["Properties"]
    if "MetricName" in properties:
        return [properties]
    return [m["MetricStat"]["Metric"] for m in properties["Metrics"] if "MetricStat" in m]


def test_the_alarms_watch_what_can_go_wrong(resources) -> None:
    alarms = of_type(resources, "AWS::CloudWatch::Alarm")
    watched = {
        (metric["Namespace"], metric["MetricName"])
        for alarm in alarms.values()
        for metric in _metrics(alarm)
    }
    assert {
        ("AWS/States", "ExecutionsFailed"),
        ("AWS/States", "ExecutionsTimedOut"),
        ("AWS/States", "ExecutionsSucceeded"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Throttles"),
        ("AWS/Lambda", "Duration"),
        ("AWS/Athena", "ProcessedBytes"),
    } <= watched
    # the query API's errors and throttles: the others end in a failed execution or the DLQ
    api = [
        metric
        for alarm in alarms.values()
        for metric in _metrics(alarm)
        if metric["Namespace"] == "AWS/Lambda" and metric["MetricName"] != "Duration"
    ]
    assert {m["MetricName"] for m in api} == {"Errors", "Throttles"}
    for metric in api:
        assert metric["Dimensions"] == [
            {"Name": "FunctionName", "Value": {"Ref": "QueryApiFunction"}}
        ]
    alarm_metrics = sum(len(_metrics(alarm)) for alarm in alarms.values())
    assert alarm_metrics <= 12  # $0.10 each a month: docs/COST.md


def test_no_successful_sync_alarm_looks_back_26_hours() -> None:
    alarm = load_template(TEMPLATE)["Resources"]["NoSuccessfulSyncAlarm"]["Properties"]
    assert alarm["Period"] * alarm["EvaluationPeriods"] == 26 * 3600
    assert alarm["DatapointsToAlarm"] == alarm["EvaluationPeriods"]
    assert alarm["TreatMissingData"] == "breaching"
    assert alarm["Period"] * alarm["EvaluationPeriods"] <= 7 * 86400


@pytest.mark.parametrize("function", ["FetchPages", "WriteParquet", "Finalize"])
def test_duration_alarms_sit_at_80_percent_of_the_timeout(function) -> None:
    resources = load_template(TEMPLATE)["Resources"]
    timeout = resources[f"{function}Function"]["Properties"]["Timeout"]
    alarm = resources[f"{function}DurationAlarm"]["Properties"]
    assert alarm["Threshold"] == timeout * 1000 * 0.8
    assert alarm["Statistic"] == "Maximum"


def test_the_dashboard_shows_the_metrics_the_code_emits(resources) -> None:
    (dashboard,) = of_type(resources, "AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    widgets = json.loads(body)["widgets"]  # valid JSON once substituted
    metrics = {
        tuple(item for item in metric if isinstance(item, str))[:2]
        for widget in widgets
        for metric in widget["properties"]["metrics"]
    }
    for name in (
        "RecordsFetched",
        "Pages",
        "Retries",
        "RateLimited",
        "VulnerabilitiesWritten",
        "VulnerabilitiesRejected",
        "VulnerableAssetsRejected",
        "SyncSeconds",
        "SyncFailed",
        "AthenaQueryCostUSD",
    ):
        assert ("VantaVulnStats", name) in metrics, name
    assert ("AWS/States", "ExecutionsFailed") in metrics
    assert ("AWS/Athena", "ProcessedBytes") in metrics


# --------------------------------------------------------------------------------------------
# Parameters and conditions


def test_the_schedule_is_named_zoned_and_switchable(resources, transformed) -> None:
    (schedule,) = of_type(resources, "AWS::Scheduler::Schedule").values()
    properties = schedule["Properties"]
    assert properties["Name"] == {"Fn::Sub": "${AWS::StackName}-daily-sync"}
    assert properties["ScheduleExpressionTimezone"] == {"Ref": "ScheduleTimezone"}
    # the template's Fn::If on ScheduleOn, resolved by the language extensions before SAM
    assert properties["State"] == "ENABLED"
    (disabled,) = of_type(
        transformed_template(ScheduleEnabled="false")["Resources"], "AWS::Scheduler::Schedule"
    ).values()
    assert disabled["Properties"]["State"] == "DISABLED"
    assert transformed["Conditions"]["ScheduleOn"] == {
        "Fn::Equals": [{"Ref": "ScheduleEnabled"}, "true"]
    }
    assert transformed["Outputs"]["SyncScheduleName"]["Value"] == properties["Name"]


def test_an_email_subscription_only_when_an_address_is_given() -> None:
    for email in ("", "secops@example.com"):
        transformed = transformed_template(NotificationEmail=email)
        (subscription,) = of_type(transformed["Resources"], "AWS::SNS::Subscription").values()
        assert subscription["Condition"] == "HasNotificationEmail"
        assert subscription["Properties"]["Protocol"] == "email"
        assert subscription["Properties"]["TopicArn"] == {"Ref": "NotificationTopic"}
        assert transformed["Conditions"]["HasNotificationEmail"] == {
            "Fn::Not": [{"Fn::Equals": [{"Ref": "NotificationEmail"}, ""]}]
        }


def test_the_credentials_secret_is_made_only_without_an_arn() -> None:
    transformed = transformed_template(
        VantaCredentialsSecretArn="arn:aws:secretsmanager:us-east-1:123456789012:secret:v-AbCdEf"
    )
    resources = transformed["Resources"]
    assert resources["VantaCredentialsSecret"]["Condition"] == "CreateCredentialsSecret"
    given = {"Ref": "VantaCredentialsSecretArn"}
    chosen = {
        "Fn::If": [
            "CreateCredentialsSecret",
            {"Ref": "VantaCredentialsSecret"},
            {"Ref": "VantaCredentialsSecretArn"},
        ]
    }
    for function in FUNCTIONS:
        # from the Globals, whose Fn::If the language extensions leave to CloudFormation
        variables = resources[function]["Properties"]["Environment"]["Variables"]
        assert variables["VANTA_SECRET_ID"] == chosen, function
    # in Resources and Outputs, the language extensions resolve the Fn::If to the given ARN
    assert transformed["Outputs"]["VantaCredentialsSecretArn"]["Value"] == given
    fetch = [s for name, s in _statements(resources) if name == "FetchPagesFunctionRole"]
    assert any(s["Resource"] == {"Fn::Sub": ["${secretArn}", {"secretArn": given}]} for s in fetch)
    # no other reference to the secret that may not exist
    text = json.dumps({k: v for k, v in resources.items() if k != "VantaCredentialsSecret"})
    assert text.count('{"Ref": "VantaCredentialsSecret"}') == text.count(json.dumps(chosen))
    assert '{"Ref": "VantaCredentialsSecret"}' not in json.dumps(transformed["Outputs"])

    # without an ARN, the stack's own secret
    own = {"Ref": "VantaCredentialsSecret"}
    default = transformed_template()
    assert default["Outputs"]["VantaCredentialsSecretArn"]["Value"] == own
    fetch = [s for name, s in _statements(default["Resources"]) if name == "FetchPagesFunctionRole"]
    assert any(s["Resource"] == {"Fn::Sub": ["${secretArn}", {"secretArn": own}]} for s in fetch)


def test_every_parameter_is_described_and_has_a_default() -> None:
    for name, parameter in load_template(TEMPLATE)["Parameters"].items():
        assert parameter.get("Description"), name
        assert "Default" in parameter, name


# --------------------------------------------------------------------------------------------
# Glue tables: generated from the lake's schemas


def test_the_glue_tables_block_is_current() -> None:
    text = TEMPLATE.read_text()
    assert catalog_template.rewrite(text) == text, (
        "template.yaml's Glue tables are stale: run python -m vanta_vuln_stats.catalog.template"
    )


def _resolved(definition: dict[str, Any], bucket: str) -> dict[str, Any]:
    text = json.dumps(definition["StorageDescriptor"]["Location"])
    location = json.loads(text)["Fn::Sub"].replace("${DataBucket}", bucket)
    return {
        **definition,
        "StorageDescriptor": {**definition["StorageDescriptor"], "Location": location},
    }


def test_the_template_tables_are_the_catalogs_tables() -> None:
    resources = load_template(TEMPLATE)["Resources"]
    tables = {
        r["Properties"]["TableInput"]["Name"]: r["Properties"]
        for r in of_type(resources, "AWS::Glue::Table").values()
    }
    expected = [(t, table_input(t, "s3://bkt")) for t in CATALOG_TABLES]
    expected += [(t, current_table_input(t, "s3://bkt")) for t in CURRENT_TABLES]
    assert set(tables) == {definition["Name"] for _, definition in expected}
    for table, want in expected:
        properties = tables[want["Name"]]
        assert properties["DatabaseName"] == {"Ref": "GlueDatabase"}
        have = _resolved(properties["TableInput"], "bkt")
        columns = [(c["Name"], c["Type"]) for c in have["StorageDescriptor"]["Columns"]]
        assert columns == [(c["Name"], c["Type"]) for c in table.columns()], table.name
        assert have["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"] == SERDE
        assert have["StorageDescriptor"]["Location"] == table.location("s3://bkt")
        keys = [(k["Name"], k["Type"]) for k in have["PartitionKeys"]]
        partitioned = table in CATALOG_TABLES
        assert keys == ([(k["Name"], k["Type"]) for k in PARTITION_KEYS] if partitioned else [])
        # what the pipeline's catalog update compares: it finds nothing to change
        assert (
            catalog_lake.column_drift(
                have["StorageDescriptor"]["Columns"], want["StorageDescriptor"]["Columns"]
            )
            == []
        )
        assert catalog_lake.definition_differences(have, want) == [], table.name


def test_the_template_tables_exist_in_the_transformed_template(resources) -> None:
    tables = of_type(resources, "AWS::Glue::Table")
    assert len(tables) == len(CATALOG_TABLES) + len(CURRENT_TABLES)


def test_the_generator_checks_and_rewrites_a_stale_block(tmp_path, capsys) -> None:
    stale = tmp_path / "template.yaml"
    text = TEMPLATE.read_text()
    stale.write_text(text.replace("Type: timestamp", "Type: string", 1))
    assert catalog_template.main(["--check", str(stale)]) == 1
    assert "python -m vanta_vuln_stats.catalog.template" in capsys.readouterr().err
    assert catalog_template.main([str(stale)]) == 0
    assert stale.read_text() == text
    assert catalog_template.main(["--check", str(stale)]) == 0


def test_no_role_may_change_a_buckets_configuration(resources) -> None:
    for name, statement in _statements(resources):
        if statement["Effect"] == "Allow":
            for action in _listed(statement["Action"]):
                assert not action.startswith(
                    ("s3:PutLifecycle", "s3:PutBucket", "s3:DeleteBucket")
                ), (
                    name,
                    action,
                )
                assert action != "s3:PutObjectAcl", name


def test_every_checkov_skip_is_inline_with_its_reason() -> None:
    """checkov's skips live on the resources they concern, each with a reason; the config file
    skips nothing, so a new resource is checked in full."""
    import yaml

    config = yaml.safe_load((TEMPLATE.parent / ".checkov.yaml").read_text())
    assert not config.get("skip-check"), "skip checks inline in template.yaml, with a reason"
    skipped = {}
    for name, resource in load_template(TEMPLATE)["Resources"].items():
        for skip in ((resource.get("Metadata") or {}).get("checkov") or {}).get("skip", []):
            assert skip["id"].startswith("CKV_"), (name, skip)
            assert len(skip.get("comment", "").split()) >= 8, f"{name} {skip['id']}: no reason"
            skipped.setdefault(skip["id"], []).append(name)
    # Lambda in a VPC and reserved concurrency are skipped on every function, each with a reason
    assert sorted(skipped["CKV_AWS_117"]) == sorted(FUNCTIONS)
    assert sorted(skipped["CKV_AWS_115"]) == sorted(FUNCTIONS)
    # a dead-letter queue is skipped only where the invocation is synchronous
    assert not {"StartSyncFunction", "CatalogOnS3EventFunction"} & set(skipped["CKV_AWS_116"])
