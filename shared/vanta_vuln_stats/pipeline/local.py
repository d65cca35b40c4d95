"""The workflow's steps run in this process, in the workflow's order: the same functions the
Lambdas call, with a thread pool standing in for the Map. Used by tests and by a lake sync that
wants the pipeline's exact path without AWS."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from typing import Any

from vanta_vuln_stats.pipeline import steps


def run_workflow(
    client: Any,
    lake: str,
    *,
    run_date: date | None = None,
    request: Mapping[str, Any] | None = None,
    page_budget: int = steps.DEFAULT_PAGE_BUDGET,
    batch_records: int = steps.DEFAULT_BATCH_RECORDS,
    workers: int = 4,
    started_at: datetime | None = None,
    on_step: Callable[[str, Mapping[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Prepare, fetch until done, plan, write every batch, finalize. Returns the final state
    (``run``, ``fetch``, ``plan``, ``result``)."""
    started = started_at or datetime.now(UTC)
    body = dict(request or {})
    if run_date is not None:
        body["run_date"] = run_date.isoformat()
    name = f"local-{(run_date or started.date()).isoformat()}"
    state: dict[str, Any] = steps.prepare(body, execution=name, started_at=started, lake=lake)
    report = on_step or (lambda step, payload: None)
    report("prepare", state["run"])
    run = steps.Run.from_payload(state["run"])
    budget = steps.FetchBudget(pages=page_budget)
    while not state["fetch"]["done"]:
        state["fetch"] = steps.fetch_pages(run, state["fetch"], client, budget)
        report("fetch_pages", state["fetch"])
    state["plan"] = steps.plan_chunks(run, state["fetch"], batch_records=batch_records)
    report("plan_chunks", state["plan"])
    batches = _batches(run, state["plan"])
    with ThreadPoolExecutor(max(1, workers)) as pool:
        for part in pool.map(lambda batch: steps.write_batch(run, batch), batches):
            report("write_parquet", part)
    state["result"] = steps.finalize(run, state["fetch"], state["plan"])
    report("finalize", state["result"])
    return state


def _batches(run: steps.Run, plan: Mapping[str, Any]) -> list[dict[str, Any]]:
    import json

    return json.loads(run.store().read_bytes(f"{steps.run_prefix(run.run_id)}/plan.json"))
