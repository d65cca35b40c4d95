"""WriteParquet: one batch of raw chunks to its deterministic Parquet part; bad records to the
rejects table with their reasons."""

from vanta_vuln_stats.pipeline.handler import lambda_step
from vanta_vuln_stats.pipeline.steps import Run, write_batch


@lambda_step("write_parquet")
def handler(event: dict, context: object) -> dict:
    return write_batch(Run.from_payload(event["run"]), event["batch"])
