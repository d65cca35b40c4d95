"""The workflow's steps run in this process, in the workflow's order: the same functions the
Lambdas call, with a thread pool standing in for the Map. ``vanta-vuln-stats --sync`` into a
lake (``--storage-backend lake|s3``) runs this, so a sync by hand and the scheduled one write the
lake through one code path. A run that fails or is interrupted commits nothing; its sync history
row says so, as the local store's own runs do."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from typing import Any

from vanta_vuln_stats.model.fields import Resource
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
    on_page: Callable[[Resource, int], None] | None = None,
) -> dict[str, Any]:
    """Prepare, fetch until done, plan, write every batch, finalize. Returns the final state
    (``run``, ``fetch``, ``plan``, ``result``). The client paces itself (no Wait state here)."""
    started = started_at or datetime.now(UTC)
    body = dict(request or {})
    if run_date is not None:
        body["run_date"] = run_date.isoformat()
    name = f"local-{(run_date or started.date()).isoformat()}"
    state: dict[str, Any] = steps.prepare(body, execution=name, started_at=started, lake=lake)
    report = on_step or (lambda step, payload: None)
    report("prepare", state["run"])
    run = steps.Run.from_payload(state["run"])
    try:
        budget = steps.FetchBudget(pages=page_budget)
        while not state["fetch"]["done"]:
            state["fetch"] = steps.fetch_pages(run, state["fetch"], client, budget, on_page=on_page)
            report("fetch_pages", state["fetch"])
        state["plan"] = steps.plan_chunks(run, state["fetch"], batch_records=batch_records)
        report("plan_chunks", state["plan"])
        plan_key = f"{steps.run_prefix(run.run_id)}/plan.json"
        batches = json.loads(run.store().read_bytes(plan_key))
        with ThreadPoolExecutor(max(1, workers)) as pool:
            for part in pool.map(lambda batch: steps.write_batch(run, batch), batches):
                report("write_parquet", part)
        state["result"] = steps.finalize(run, state["fetch"], state["plan"])
        report("finalize", state["result"])
    except BaseException as exc:
        # The run's row says why; the summary goes with the exception to whoever reports it.
        fetch = getattr(exc, "fetch_state", None) or state.get("fetch")
        exc.sync_summary = record_failure(run, fetch, exc)  # type: ignore[attr-defined]
        raise
    return state


def record_failure(run: steps.Run, fetch: Mapping[str, Any] | None, exc: BaseException) -> Any:
    """The run's sync history row as failed (or interrupted, for Ctrl-C), with what was
    fetched; returns its summary. Nothing of the run is committed."""
    from vanta_vuln_stats.storage.lake.store import LakeStorage

    fetched = {
        Resource(name): int(counts.get("fetched", 0))
        for name, counts in ((fetch or {}).get("counts") or {}).items()
    }
    interrupted = isinstance(exc, KeyboardInterrupt)
    with LakeStorage(run.lake) as lake:
        lake.resume_sync(run.sync, previous=None, files={}, stored={}, rejected={}, backup_key=None)
        return lake.abort_sync(
            run.sync,
            reason="interrupted by the user" if interrupted else f"{type(exc).__name__}: {exc}",
            status="interrupted" if interrupted else "failed",
            fetched=fetched,
        )


def sync_lake(
    client: Any,
    lake: str,
    *,
    run_date: date | None = None,
    progress: Any = None,
    expected: Callable[[Resource], int | None] | None = None,
) -> Any:
    """``--sync`` into a lake: ``run_workflow`` with the CLI's progress display, returning the
    ``SyncResult`` the CLI prints; SyncFailed / SyncInterrupted as the local sync raises them."""
    import time

    from vanta_vuln_stats.pipeline.sync import (
        ResourceTally,
        SyncFailed,
        SyncInterrupted,
        SyncResult,
    )

    tallies: dict[Resource, ResourceTally] = {}
    current: list[Resource] = []

    def on_page(resource: Resource, records: int) -> None:
        if not current or current[-1] is not resource:
            if current and progress:
                progress.resource_finished(current[-1], tallies[current[-1]].fetched)
            current.append(resource)
            tallies[resource] = ResourceTally()
            if progress:
                progress.resource_started(resource, expected(resource) if expected else None)
        tally = tallies[resource]
        tally.fetched += records
        tally.pages += 1
        if progress:
            progress.page_stored(resource, records, tally.fetched)

    started = time.perf_counter()
    try:
        state = run_workflow(client, lake, run_date=run_date, on_page=on_page)
    except KeyboardInterrupt as exc:
        raise SyncInterrupted(_failure_summary(exc)) from None
    except Exception as exc:
        raise SyncFailed(exc, _failure_summary(exc)) from exc
    if current and progress:
        progress.resource_finished(current[-1], tallies[current[-1]].fetched)
    from vanta_vuln_stats.storage.lake.store import LakeStorage

    with LakeStorage(lake) as store:
        summary = store.last_sync()
    for name, counts in state["result"]["counts"].items():
        tally = tallies.setdefault(Resource(name), ResourceTally())
        tally.stored, tally.rejected = counts["written"], counts["rejected"]
    return SyncResult(summary=summary, tallies=tallies, seconds=time.perf_counter() - started)


def _failure_summary(exc: BaseException) -> Any:
    return getattr(exc, "sync_summary", None)
