"""The cloud commands' pure parts: ages, function names, the execution summary, AWS errors."""

from __future__ import annotations

from datetime import timedelta

import pytest
from botocore.exceptions import ClientError, NoCredentialsError

from vanta_vuln_stats.cloud.command import _duration, _summary, parse_since
from vanta_vuln_stats.cloud.execution import ExecutionReport
from vanta_vuln_stats.cloud.stack import (
    CloudError,
    Stack,
    aws_errors,
    function_label,
    select_functions,
)
from vanta_vuln_stats.errors import UserInputError


@pytest.mark.parametrize(
    ("text", "age"),
    [
        ("30m", timedelta(minutes=30)),
        ("1h", timedelta(hours=1)),
        ("2d", timedelta(days=2)),
        ("45s", timedelta(seconds=45)),
    ],
)
def test_since(text: str, age: timedelta) -> None:
    assert parse_since(text) == age


@pytest.mark.parametrize("text", ["", "1", "h", "1w", "-1h", "1.5h"])
def test_since_refuses(text: str) -> None:
    with pytest.raises(UserInputError, match="--since"):
        parse_since(text)


def test_function_labels_are_the_folder_names() -> None:
    assert function_label("FetchPagesFunction") == "fetch_pages"
    assert function_label("CatalogOnS3EventFunction") == "catalog_on_s3_event"
    assert function_label("UpdatePartitionsFunction") == "update_partitions"


def test_select_functions() -> None:
    stack = Stack(
        name="vvs",
        status="CREATE_COMPLETE",
        outputs={},
        functions={"FetchPagesFunction": "vvs-FetchPages-1", "PrepareFunction": "vvs-Prepare-2"},
    )
    assert select_functions(stack, None) == {
        "fetch_pages": "vvs-FetchPages-1",
        "prepare": "vvs-Prepare-2",
    }
    assert select_functions(stack, "fetch_pages") == {"fetch_pages": "vvs-FetchPages-1"}
    assert select_functions(stack, "FetchPagesFunction") == {"fetch_pages": "vvs-FetchPages-1"}
    with pytest.raises(UserInputError, match=r"no function 'nope' \(it has: fetch_pages, prepare"):
        select_functions(stack, "nope")


def test_summary_of_a_failure_names_error_and_cause() -> None:
    report = ExecutionReport(
        arn="arn",
        name="sync-2026-11-29",
        status="FAILED",
        output=None,
        error="ReconcileFailed",
        cause="2 batches missing",
        seconds=75.2,
        transitions=9,
    )
    assert _summary(report).splitlines() == [
        "sync-2026-11-29: FAILED in 1 min 15 s",
        "  error: ReconcileFailed",
        "  cause: 2 batches missing",
    ]


def test_summary_counts_lead_with_fetched_written_rejected() -> None:
    counts = {"discovered": 3, "fetched": 3, "rejected": 0, "resolved": 0, "written": 3}
    report = ExecutionReport(
        arn="arn",
        name="sync-2026-11-29",
        status="SUCCEEDED",
        output={"result": {"run_date": "2026-11-29", "counts": {"vulnerabilities": counts}}},
        error=None,
        cause=None,
        seconds=3.04,
        transitions=9,
    )
    assert _summary(report).splitlines() == [
        "sync-2026-11-29: SUCCEEDED in 3.0 s",
        "  run date: 2026-11-29",
        "  vulnerabilities: 3 fetched, 3 written, 0 rejected, 3 discovered",
    ]


def test_durations() -> None:
    assert _duration(None) == "-"
    assert _duration(4.26) == "4.3 s"
    assert _duration(3725) == "1 h 2 min"


def _client_error(code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "DescribeStacks")


def test_aws_errors() -> None:
    with pytest.raises(UserInputError, match="No AWS credentials"), aws_errors("vvs"):
        raise NoCredentialsError()
    missing = _client_error("ValidationError", "Stack with id vvs does not exist")
    with pytest.raises(UserInputError, match="No stack named 'vvs'"), aws_errors("vvs"):
        raise missing
    denied = _client_error("AccessDenied", "not allowed")
    expected = "DescribeStacks failed: AccessDenied: not allowed"
    with pytest.raises(CloudError, match=expected), aws_errors("vvs"):
        raise denied


def test_the_region_comes_from_the_flag_then_aws_region(monkeypatch: pytest.MonkeyPatch) -> None:
    from vanta_vuln_stats.cloud.stack import clients

    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    assert clients(None)("stepfunctions").meta.region_name == "eu-west-1"
    assert clients("eu-central-1")("stepfunctions").meta.region_name == "eu-central-1"
    monkeypatch.delenv("AWS_REGION")
    assert clients(None)("stepfunctions").meta.region_name == "us-east-1"  # AWS_DEFAULT_REGION


class _Scheduler:
    def get_schedule(self, Name: str) -> dict:
        if Name == "gone":
            raise ClientError({"Error": {"Code": "ResourceNotFoundException"}}, "GetSchedule")
        return {"State": "ENABLED", "ScheduleExpression": "cron(0 6 * * ? *)"}


def test_schedules_found_and_missing_ones_skipped() -> None:
    from vanta_vuln_stats.cloud.command import _schedules

    stack = Stack(
        name="vvs",
        status="CREATE_COMPLETE",
        outputs={},
        schedules={"Daily": "vvs-daily", "Old": "gone"},
        client=lambda service: _Scheduler(),
    )
    assert _schedules(stack) == [
        {
            "name": "vvs-daily",
            "state": "ENABLED",
            "expression": "cron(0 6 * * ? *)",
            "timezone": None,
        }
    ]
