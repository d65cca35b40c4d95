"""Notify: the run's summary, or its failure (step and cause), to SNS and Slack."""

import json

from vanta_vuln_stats.pipeline.handler import MetricUnit, lambda_step, metrics, step_settings
from vanta_vuln_stats.pipeline.notify import (
    failure_notification,
    send,
    slack_webhook_url,
    success_notification,
    sync_seconds,
)
from vanta_vuln_stats.pipeline.objects import ObjectStore


@lambda_step("notify")
def handler(event: dict, context: object) -> dict:
    settings = step_settings()
    if event["status"] == "SUCCEEDED":
        store = ObjectStore(event["run"]["lake"])
        summary = json.loads(store.read_bytes(event["result"]["summary"]))
        message = success_notification(summary, event["catalog"])
        metrics.add_metric("SyncSeconds", MetricUnit.Seconds, sync_seconds(summary))
    else:
        message = failure_notification(
            event["execution"], event["failed_step"], event["error"], event["state"]
        )
        metrics.add_metric("SyncFailed", MetricUnit.Count, 1)
    slack = slack_webhook_url(settings.slack_secret_id)
    return send(message, topic_arn=settings.topic_arn, slack_url=slack)
