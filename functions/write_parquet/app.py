"""WriteParquet: one batch of raw chunks to its deterministic Parquet part; bad records to the
rejects table with their reasons."""

from vanta_vuln_stats.pipeline.handler import MetricUnit, lambda_step, metrics
from vanta_vuln_stats.pipeline.steps import Run, write_batch


@lambda_step("write_parquet")
def handler(event: dict, context: object) -> dict:
    result = write_batch(Run.from_payload(event["run"]), event["batch"])
    metrics.add_dimension(name="resource", value=result["resource"])
    metrics.add_metric("RecordsWritten", MetricUnit.Count, result["rows"])
    metrics.add_metric("Rejects", MetricUnit.Count, result["rejected"])
    metrics.add_metric("BytesWritten", MetricUnit.Bytes, result["bytes"])
    return result
