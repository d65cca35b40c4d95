"""FetchPages: pages of one resource from the cursor to raw chunks, within a page and time
budget; returns only the cursor and counts. The Vanta token stays in the token store."""

from vanta_vuln_stats.pipeline.handler import (
    MetricUnit,
    lambda_step,
    metrics,
    step_settings,
    vanta_client,
)
from vanta_vuln_stats.pipeline.steps import FetchBudget, Run, fetch_pages


@lambda_step("fetch_pages")
def handler(event: dict, context: object) -> dict:
    run = Run.from_payload(event["run"])
    with vanta_client() as client:
        budget = FetchBudget(
            pages=step_settings().fetch_page_budget,
            remaining_ms=context.get_remaining_time_in_millis,  # type: ignore[attr-defined]
            requests_per_minute=client.requests_per_minute,
        )
        state = fetch_pages(run, event["fetch"], client, budget)
        stats = client.stats
    metrics.add_metric("Pages", MetricUnit.Count, stats.pages)
    metrics.add_metric("RecordsFetched", MetricUnit.Count, stats.records)
    metrics.add_metric("Retries", MetricUnit.Count, stats.retries)
    metrics.add_metric("RateLimited", MetricUnit.Count, stats.rate_limited)
    return state
