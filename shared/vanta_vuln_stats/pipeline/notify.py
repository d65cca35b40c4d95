"""What people are told after a run: a summary (or the failure) as an SNS message for email, and
the same as a Slack message when a webhook is configured. No pyarrow here: the numbers come from
the summary finalize wrote (raw/run=RUNID/summary.json)."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from vanta_vuln_stats.model.records import parse_timestamp

log = logging.getLogger(__name__)

SUBJECT_LIMIT = 100  # SNS subjects: at most 100 characters
CAUSE_LIMIT = 1500
LABELS = {
    "vulnerabilities": "Vulnerabilities",
    "vulnerability_remediations": "Remediations",
    "vulnerable_assets": "Vulnerable assets",
}
CHANGES = ("discovered", "updated", "remediated", "reactivated", "resolved")


@dataclass
class Notification:
    subject: str
    body: str
    attributes: dict[str, Any]
    slack: dict[str, Any]
    status: str
    facts: dict[str, Any] = field(default_factory=dict)


def sync_seconds(summary: Mapping[str, Any]) -> float:
    """From the execution's start to the commit."""
    start = parse_timestamp(summary["started_at"])
    end = parse_timestamp(summary["finished_at"])
    return max(0.0, (end - start).total_seconds())


def _duration(started_at: str | None, finished_at: str | None = None) -> str:
    if not started_at:
        return "unknown"
    start = parse_timestamp(started_at)
    end = parse_timestamp(finished_at) if finished_at else datetime.now(UTC)
    seconds = max(0, int((end - start).total_seconds()))
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


def success_notification(
    summary: Mapping[str, Any], catalog: Mapping[str, Any] | None
) -> Notification:
    counts = summary["counts"]
    vulns = counts.get("vulnerabilities", {})
    run_date = summary["run_date"]
    new_criticals = int(summary.get("new_criticals_total", 0))
    breaches = int(summary.get("sla_breaches", 0))
    rejected = sum(int(c.get("rejected", 0)) for c in counts.values())
    remediations = counts.get("vulnerability_remediations", {})
    duration = _duration(summary.get("started_at"), summary.get("finished_at"))
    subject = (
        f"Vanta sync {run_date}: {vulns.get('fetched', 0):,} vulnerabilities, "
        f"{vulns.get('discovered', 0):,} new, {new_criticals:,} new critical"
    )[:SUBJECT_LIMIT]
    lines = [
        f"The Vanta vulnerability sync for {run_date} finished and was committed.",
        "",
        "Records by resource (fetched / written / rejected; then the changes):",
    ]
    for resource, label in LABELS.items():
        c = counts.get(resource)
        if not c:
            continue
        changes = ", ".join(f"{c.get(name, 0):,} {name}" for name in CHANGES if c.get(name))
        lines.append(
            f"  {label}: {c.get('fetched', 0):,} / {c.get('written', 0):,} / "
            f"{c.get('rejected', 0):,}" + (f"; {changes}" if changes else "; no changes")
        )
    lines += [
        "",
        f"New critical findings: {new_criticals:,}",
    ]
    for item in summary.get("new_criticals", []):
        lines.append(f"  - {item['id']}: {item.get('name') or ''}".rstrip(": "))
    if new_criticals > len(summary.get("new_criticals", [])):
        lines.append(f"  ... and {new_criticals - len(summary['new_criticals']):,} more")
    lines += [
        f"Remediation records this run: {remediations.get('fetched', 0):,} "
        f"({remediations.get('discovered', 0):,} new)",
        f"Open findings past their SLA deadline on {run_date}: {breaches:,}",
        f"Rejected records: {rejected:,}"
        + (" (kept with their reasons in the lake's rejects table)" if rejected else ""),
        f"Duration: {duration}",
        "",
        f"Data: {summary['lake']} (commit {summary.get('manifest')}, raw backup "
        f"{summary.get('backup')})",
    ]
    if catalog:
        lines.append(
            f"Athena: database {catalog.get('database')}, "
            f"{catalog.get('partitions_created', 0)} new partitions"
        )
    lines.append(f"Execution: {summary.get('execution')}")
    body = "\n".join(lines) + "\n"
    attributes = {
        "status": "SUCCEEDED",
        "run_date": run_date,
        "new_criticals": new_criticals,
        "sla_breaches": breaches,
        "rejected": rejected,
    }
    slack = _slack(
        f":white_check_mark: *Vanta sync {run_date}*: {vulns.get('fetched', 0):,} "
        f"vulnerabilities, {vulns.get('discovered', 0):,} new ({new_criticals:,} critical), "
        f"{vulns.get('remediated', 0):,} remediated, {vulns.get('resolved', 0):,} resolved",
        body,
    )
    return Notification(subject, body, attributes, slack, "SUCCEEDED", facts=attributes)


def failure_notification(
    execution: str,
    failed_step: str,
    error: Mapping[str, Any] | None,
    state: Mapping[str, Any] | None,
) -> Notification:
    error = error or {}
    name = str(error.get("Error") or "Unknown error")
    cause = _cause_text(error.get("Cause"))
    run = (state or {}).get("run") or {}
    run_date = run.get("run_date") or (state or {}).get("run_date") or "unknown day"
    subject = f"Vanta sync {run_date} FAILED at {failed_step}: {name}"[:SUBJECT_LIMIT]
    lines = [
        f"The Vanta vulnerability sync for {run_date} failed at the step {failed_step}.",
        "",
        f"Error: {name}",
        f"Cause: {cause}",
        "",
        "Nothing of this run was committed: readers see the lake as it was before it.",
        f"Execution: {execution}",
    ]
    if run.get("lake"):
        lines.append(f"Data: {run['lake']} (working files under raw/run={run.get('run_id')}/)")
    lines += [
        "",
        "To re-run the day: start the state machine again with "
        f'{{"run_date": "{run_date}"}} (see docs/TROUBLESHOOTING.md).',
    ]
    body = "\n".join(lines) + "\n"
    attributes = {"status": "FAILED", "run_date": run_date, "failed_step": failed_step}
    slack = _slack(f":x: *Vanta sync {run_date} failed* at `{failed_step}`: {name}", body)
    return Notification(subject, body, attributes, slack, "FAILED", facts=attributes)


def _cause_text(cause: Any) -> str:
    """A Lambda error's cause is the JSON of errorType/errorMessage: show the message."""
    text = str(cause or "no cause given")
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict) and data.get("errorMessage"):
        text = f"{data.get('errorType', 'Error')}: {data['errorMessage']}"
    return text if len(text) <= CAUSE_LIMIT else text[:CAUSE_LIMIT] + " ..."


def _slack(headline: str, body: str) -> dict[str, Any]:
    return {
        "text": headline,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": headline}},
            {"type": "section", "text": {"type": "mrkdwn", "text": f"```{body.strip()}```"}},
        ],
    }


def _message_attributes(values: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            out[key] = {"DataType": "String", "StringValue": str(value)}
        else:
            out[key] = {"DataType": "Number", "StringValue": str(value)}
    return out


def slack_webhook_url(secret_id: str | None, *, client: Any = None) -> str | None:
    """The webhook URL from its secret (``{"url": ...}``); None when none is configured."""
    if not secret_id:
        return None
    if client is None:
        import boto3

        client = boto3.client("secretsmanager")
    text = client.get_secret_value(SecretId=secret_id).get("SecretString") or ""
    try:
        data = json.loads(text)
    except ValueError:
        data = {"url": text}
    url = (data.get("url") if isinstance(data, dict) else None) or ""
    return url.strip() or None


def send(
    notification: Notification,
    *,
    topic_arn: str | None,
    slack_url: str | None,
    sns: Any = None,
    http: Any = None,
) -> dict[str, Any]:
    """Publish to SNS and post to Slack. A Slack failure is reported, not raised (the email
    went out); an SNS failure raises (the workflow retries the step)."""
    result: dict[str, Any] = {"status": notification.status, "subject": notification.subject}
    if topic_arn:
        if sns is None:
            import boto3

            sns = boto3.client("sns")
        response = sns.publish(
            TopicArn=topic_arn,
            Subject=notification.subject,
            Message=notification.body,
            MessageAttributes=_message_attributes(notification.attributes),
        )
        result["message_id"] = response["MessageId"]
    if slack_url:
        import httpx

        try:
            client = http or httpx
            response = client.post(slack_url, json=notification.slack, timeout=10.0)
            result["slack"] = (
                "sent" if response.status_code < 300 else f"HTTP {response.status_code}"
            )
        except httpx.HTTPError as exc:
            result["slack"] = f"failed: {type(exc).__name__}"
        if result["slack"] != "sent":
            # The webhook URL is a secret: never logged.
            log.warning("the Slack message was not delivered (%s)", result["slack"])
    else:
        result["slack"] = "not configured"
    return result
