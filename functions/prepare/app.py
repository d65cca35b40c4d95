"""Prepare: open the run (id, run date, mode, watermarks) from the execution's input."""

from vanta_vuln_stats.pipeline.handler import lambda_step, step_settings
from vanta_vuln_stats.pipeline.steps import prepare


@lambda_step("prepare")
def handler(event: dict, context: object) -> dict:
    return prepare(
        event["request"],
        execution=event["execution"],
        started_at=event["started_at"],
        lake=step_settings().lake,
    )
