"""The cloud flags of the main command, against a deployed stack (``--stack-name``):

- ``--trigger-lambda-sync``: start the day's execution (``sync-YYYY-MM-DD``; a re-run name when
  the day has one already), follow its steps, print a summary; exit 0 when it SUCCEEDED;
- ``--lambda-status``: outputs, schedule, the last executions, alarms in ALARM;
- ``--lambda-logs``: the functions' CloudWatch Logs, ``--follow`` until Ctrl-C;
- ``--deploy-lambda``: deploy the stack of an environment of samconfig.toml (``--environment``,
  dev by default) with the SAM CLI, or into the emulated AWS when ``AWS_ENDPOINT_URL`` is a
  loopback URL, then smoke-check it (cloud/deploy.py); exit 0 when the check passes.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from vanta_vuln_stats.cloud.execution import ExecutionReport, follow
from vanta_vuln_stats.cloud.stack import Stack, aws_errors, load_stack, select_functions
from vanta_vuln_stats.errors import UserInputError

__all__ = ["add_arguments", "requested", "run"]

POLL_SECONDS = 1.0  # between reads of a running execution's history
LOG_POLL_SECONDS = 2.0  # between reads of the logs with --follow
FOLLOW_TIMEOUT = 6 * 3600.0  # the state machine's own limit is far below
RECENT_EXECUTIONS = 5
FIRST_COUNTS = ("fetched", "written", "rejected")  # then the other counts that are not zero


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "deployed stack",
        "commands against the stack of template.yaml deployed to AWS (its outputs, executions "
        "and logs are found from the stack's name)",
    )
    group.add_argument(
        "--stack-name",
        metavar="NAME",
        help="the deployed stack (env VANTA_STACK_NAME); its region is --aws-region or AWS_REGION",
    )
    actions = group.add_mutually_exclusive_group()
    actions.add_argument(
        "--trigger-lambda-sync",
        action="store_true",
        help="start the day's sync on the stack (sync-YYYY-MM-DD of --run-date, a re-run if the "
        "day ran already), print its steps as they happen and a summary; exit 1 unless it "
        "SUCCEEDED",
    )
    actions.add_argument(
        "--lambda-status",
        action="store_true",
        help="the stack's outputs, schedule, last executions and alarms (--format json: one "
        "JSON object)",
    )
    actions.add_argument(
        "--lambda-logs",
        action="store_true",
        help="CloudWatch Logs of the stack's functions, as '<time> <function> <message>'",
    )
    actions.add_argument(
        "--deploy-lambda",
        action="store_true",
        help="deploy the stack of --environment (samconfig.toml; --stack-name overrides its "
        "name): sam build + sam deploy, or into emulated AWS when AWS_ENDPOINT_URL is a "
        "loopback URL; then a smoke check of its outputs; exit 1 unless it passes",
    )
    group.add_argument(
        "--environment",
        metavar="ENV",
        choices=("dev", "staging", "production"),
        help="with --deploy-lambda: dev (default), staging or production, as in samconfig.toml",
    )
    group.add_argument(
        "--no-wait",
        action="store_true",
        help="with --trigger-lambda-sync: print the execution ARN and return at once",
    )
    group.add_argument(
        "--function",
        metavar="NAME",
        help="with --lambda-logs: one function, by folder name (fetch_pages) or logical id",
    )
    group.add_argument(
        "--since",
        metavar="AGE",
        default="1h",
        help="with --lambda-logs: how far back, e.g. 30m, 1h, 2d (default 1h)",
    )
    group.add_argument(
        "--follow",
        action="store_true",
        help="with --lambda-logs: keep printing new lines until Ctrl-C",
    )


def requested(args: argparse.Namespace) -> bool:
    return bool(
        args.trigger_lambda_sync or args.lambda_status or args.lambda_logs or args.deploy_lambda
    )


def run(args: argparse.Namespace) -> int:
    if args.deploy_lambda:
        return deploy(args)
    stack = load_stack(args.stack_name, args.aws_region)
    with aws_errors(stack.name):
        if args.trigger_lambda_sync:
            return trigger(stack, run_date=args.run_date, wait=not args.no_wait)
        if args.lambda_status:
            return status(stack, as_json=args.format == "json")
        return logs(stack, function=args.function, since=args.since, keep_following=args.follow)


# ---------------------------------------------------------------------------------------------
# --deploy-lambda


def deploy(args: argparse.Namespace) -> int:
    """The environment's stack, deployed and smoke-checked (cloud/deploy.py)."""
    import os

    from vanta_vuln_stats.cloud import deploy as deployment

    root = deployment.project_root()
    config = deployment.environment_config(args.environment or deployment.DEFAULT_ENVIRONMENT, root)
    name = args.stack_name or config.stack_name
    region = args.aws_region or config.region
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        from vanta_vuln_stats.devstack.deploy import REGION

        _deploy_emulated(args, endpoint, name, config.parameters, root)
        region = REGION  # the region the devstack deploys into, whatever the profile says
    else:
        if name != config.stack_name:
            raise UserInputError(
                f"--stack-name {name} differs from {config.name}'s stack {config.stack_name} in "
                "samconfig.toml: sam deploys the environment's stack (change samconfig.toml)."
            )
        print(f"Deploying {config.name} ({name}, {region or 'the default region'}) with SAM.")
        deployment.deploy_with_sam(config, root, out=lambda line: print(line, flush=True))
    stack = load_stack(name, region)
    with aws_errors(name):
        problems = deployment.smoke_check(stack, probe_api=not endpoint)
    return deployment.report_smoke(stack, problems)


def _deploy_emulated(
    args: argparse.Namespace,
    endpoint: str,
    name: str,
    parameters: dict[str, str],
    root: Path,
) -> None:
    """``devstack deploy`` of the stack into the emulated AWS at ``endpoint`` (loopback only),
    with the Vanta API and credentials of the main command's usual settings."""
    from vanta_vuln_stats.cli_options import credentials_from_args, settings_from_args
    from vanta_vuln_stats.devstack.deploy import check_endpoint, deploy_stack

    endpoint = check_endpoint(endpoint)
    settings = settings_from_args(args)
    credentials = credentials_from_args(args, settings)
    print(f"Deploying {name} into the emulated AWS at {endpoint}.", flush=True)
    result = deploy_stack(
        endpoint,
        stack_name=name,
        api_url=settings.api_url,
        client_id=credentials.client_id,
        client_secret=credentials.client_secret,
        template_path=root / "template.yaml",
        parameters=parameters,
    )
    for note in result.get("notes", []):
        print(f"  note: {note}")


# ---------------------------------------------------------------------------------------------
# --trigger-lambda-sync


def _run_date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UserInputError(f"--run-date {value!r} is not a date (YYYY-MM-DD).") from None


def trigger(stack: Stack, *, run_date: str | None = None, wait: bool = True) -> int:
    from vanta_vuln_stats.pipeline.start import start_sync

    sfn = stack.client("stepfunctions")
    arn = stack.state_machine_arn
    day = _run_date(run_date)
    started = start_sync(arn, run_date=day, sfn=sfn)
    if not started["started"]:
        first = started["execution"]
        started = start_sync(arn, run_date=day, rerun=True, sfn=sfn)
        if not started["started"]:
            raise UserInputError(
                f"{started['execution']} exists already: wait a second and trigger again."
            )
        if wait:
            print(f"{first} exists already: started the re-run {started['execution']}.")
    execution_arn = started["execution_arn"]
    if not wait:
        print(execution_arn)
        return 0
    print(f"Started {started['execution']} on {stack.name} ({execution_arn}).")
    try:
        report = follow(
            sfn,
            execution_arn,
            on_step=lambda line: print(line, flush=True),
            poll=POLL_SECONDS,
            timeout=FOLLOW_TIMEOUT,
        )
    except KeyboardInterrupt:
        print(f"Stopped following; the execution keeps running: {execution_arn}", file=sys.stderr)
        raise
    print(_summary(report))
    return 0 if report.status == "SUCCEEDED" else 1


def _summary(report: ExecutionReport) -> str:
    lines = [f"{report.name}: {report.status} in {_duration(report.seconds)}"]
    result = (report.output or {}).get("result") or {}
    if result.get("run_date"):
        lines.append(f"  run date: {result['run_date']}")
    for resource, counts in (result.get("counts") or {}).items():
        keys = [key for key in FIRST_COUNTS if key in counts]
        keys += sorted(key for key in counts if key not in FIRST_COUNTS and counts[key])
        parts = ", ".join(f"{counts[key]:,} {key}" for key in keys)
        lines.append(f"  {resource}: {parts}")
    if report.status != "SUCCEEDED":
        lines.append(f"  error: {report.error or 'unknown'}")
        if report.cause:
            lines.append(f"  cause: {report.cause}")
    return "\n".join(lines)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


# ---------------------------------------------------------------------------------------------
# --lambda-status


def collect_status(stack: Stack) -> dict[str, Any]:
    return {
        "stack": {"name": stack.name, "status": stack.status},
        "outputs": stack.outputs,
        "schedules": _schedules(stack),
        "executions": _executions(stack),
        "alarms": _alarms(stack),
    }


def _schedules(stack: Stack) -> list[dict[str, Any]]:
    """The stack's Scheduler schedules; none where the API or the resource is missing."""
    from botocore.exceptions import BotoCoreError, ClientError

    found = []
    for name in stack.schedules.values():
        try:
            described = stack.client("scheduler").get_schedule(Name=name)
        except (ClientError, BotoCoreError):
            continue
        found.append(
            {
                "name": name,
                "state": described.get("State"),
                "expression": described.get("ScheduleExpression"),
                "timezone": described.get("ScheduleExpressionTimezone"),
            }
        )
    return found


def _executions(stack: Stack) -> list[dict[str, Any]]:
    sfn = stack.client("stepfunctions")
    listed = sfn.list_executions(stateMachineArn=stack.state_machine_arn, maxResults=100)
    recent = sorted(listed["executions"], key=lambda item: item["startDate"], reverse=True)
    rows = []
    now = datetime.now(UTC)
    for item in recent[:RECENT_EXECUTIONS]:
        described = sfn.describe_execution(executionArn=item["executionArn"])
        start, stop = described["startDate"], described.get("stopDate")
        try:
            output = json.loads(described.get("output") or "{}")
        except ValueError:
            output = {}
        counts = (((output or {}).get("result") or {}).get("counts") or {}).get(
            "vulnerabilities"
        ) or {}
        rows.append(
            {
                "name": described["name"],
                "status": described["status"],
                "start": start.astimezone(UTC).isoformat(timespec="seconds"),
                "seconds": round(((stop or now) - start).total_seconds(), 1),
                "vulnerabilities_fetched": counts.get("fetched"),
                "vulnerabilities_written": counts.get("written"),
                "error": described.get("error"),
                "arn": described["executionArn"],
            }
        )
    return rows


def _alarms(stack: Stack) -> list[dict[str, Any]]:
    cloudwatch = stack.client("cloudwatch")
    alarms = []
    for page in cloudwatch.get_paginator("describe_alarms").paginate(
        StateValue="ALARM", AlarmNamePrefix=stack.name
    ):
        for alarm in page.get("MetricAlarms", []) + page.get("CompositeAlarms", []):
            if alarm.get("StateValue") != "ALARM":  # moto ignores StateValue with a prefix
                continue
            updated = alarm.get("StateUpdatedTimestamp")
            alarms.append(
                {
                    "name": alarm["AlarmName"],
                    "reason": alarm.get("StateReason"),
                    "since": updated.astimezone(UTC).isoformat(timespec="seconds")
                    if updated
                    else None,
                }
            )
    return alarms


def status(stack: Stack, *, as_json: bool = False) -> int:
    data = collect_status(stack)
    if as_json:
        print(json.dumps(data, indent=2))
        return 0
    print(f"Stack {stack.name}: {stack.status}")
    for key, value in sorted(data["outputs"].items()):
        print(f"  {key}: {value}")
    print()
    if data["schedules"]:
        for schedule in data["schedules"]:
            print(
                f"Schedule {schedule['name']}: {schedule['state']} "
                f"({schedule['expression']} {schedule['timezone'] or ''})".rstrip()
            )
        print()
    executions = data["executions"]
    print(f"Last executions ({len(executions)}):" if executions else "No executions yet.")
    for row in executions:
        fetched, written = row["vulnerabilities_fetched"], row["vulnerabilities_written"]
        counts = (
            f"vulnerabilities {fetched:,} fetched, {written:,} written"
            if fetched is not None and written is not None
            else (row["error"] or "")
        )
        print(
            f"  {row['name']:<32} {row['status']:<10} {row['start']}  "
            f"{_duration(row['seconds']):>12}  {counts}".rstrip()
        )
    print()
    alarms = data["alarms"]
    print(f"Alarms in ALARM: {len(alarms)}" if alarms else "Alarms in ALARM: none")
    for alarm in alarms:
        print(f"  {alarm['name']} since {alarm['since']}: {alarm['reason']}")
    return 0


# ---------------------------------------------------------------------------------------------
# --lambda-logs

_AGE = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_since(value: str) -> timedelta:
    match = _AGE.match(value or "")
    if not match:
        raise UserInputError(f"--since {value!r} is not an age such as 30m, 1h or 2d.")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def logs(
    stack: Stack,
    *,
    function: str | None = None,
    since: str = "1h",
    keep_following: bool = False,
) -> int:
    selected = select_functions(stack, function)
    start = int((datetime.now(UTC) - parse_since(since)).timestamp() * 1000)
    client = stack.client("logs")
    seen: set[str] = set()
    try:
        while True:
            events = []
            for label, physical in selected.items():
                events.extend(_log_events(client, label, f"/aws/lambda/{physical}", start, seen))
            events.sort(key=lambda item: (item[0], item[1]))
            for timestamp, label, message in events:
                when = datetime.fromtimestamp(timestamp / 1000, UTC)
                print(f"{when:%Y-%m-%dT%H:%M:%S.%f}"[:-3] + f"Z {label} {message}", flush=True)
                start = max(start, timestamp)
            if not keep_following:
                return 0
            time.sleep(LOG_POLL_SECONDS)
    except KeyboardInterrupt:
        return 0


def _log_events(
    client: Any, label: str, group: str, start: int, seen: set[str]
) -> list[tuple[int, str, str]]:
    """The group's events from ``start`` (ms) not printed before; none when the group does not
    exist yet (a function that never ran)."""
    found = []
    kwargs: dict[str, Any] = {"logGroupName": group, "startTime": start}
    while True:
        try:
            page = client.filter_log_events(**kwargs)
        except client.exceptions.ResourceNotFoundException:
            return found
        for event in page.get("events", []):
            key = event.get("eventId") or f"{event['logStreamName']}:{event['timestamp']}"
            if key in seen:
                continue
            seen.add(key)
            found.append((event["timestamp"], label, event["message"].rstrip("\n")))
        token = page.get("nextToken")
        if not token or token == kwargs.get("nextToken"):
            return found
        kwargs["nextToken"] = token
