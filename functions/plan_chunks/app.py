"""PlanChunks: the fetched chunks as a manifest of ready-made WriteParquet batches in S3."""

from vanta_vuln_stats.pipeline.handler import lambda_step, step_settings
from vanta_vuln_stats.pipeline.steps import Run, plan_chunks


@lambda_step("plan_chunks")
def handler(event: dict, context: object) -> dict:
    run = Run.from_payload(event["run"])
    return plan_chunks(run, event["fetch"], batch_records=step_settings().write_batch_records)
