"""Finalize: reconcile fetched = written + rejected, compute the state and change history,
write the sync history row and the raw backup, and commit the day."""

from vanta_vuln_stats.pipeline.handler import MetricUnit, lambda_step, metrics
from vanta_vuln_stats.pipeline.steps import Run, finalize


@lambda_step("finalize")
def handler(event: dict, context: object) -> dict:
    result = finalize(Run.from_payload(event["run"]), event["fetch"], event["plan"])
    for resource, counts in result["counts"].items():
        name = "".join(part.title() for part in resource.split("_"))
        metrics.add_metric(f"{name}Written", MetricUnit.Count, counts.get("written", 0))
        metrics.add_metric(f"{name}Rejected", MetricUnit.Count, counts.get("rejected", 0))
    metrics.add_metric("BytesWritten", MetricUnit.Bytes, result["bytes_written"])
    return result
