"""Following a Step Functions execution of the sync workflow: each step as it appears in the
history (a state entered, what it did, every failure), then the execution's end as an
``ExecutionReport``. Plain boto3 calls on a client the caller gives, so the same code follows an
execution on a deployed stack (``--trigger-lambda-sync``) and on the devstack."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TERMINAL", "ExecutionReport", "follow"]

TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


@dataclass
class ExecutionReport:
    arn: str
    name: str
    status: str
    output: dict[str, Any] | None
    error: str | None
    cause: str | None
    seconds: float
    transitions: int
    steps: list[str] = field(default_factory=list)


def _describe(event: dict[str, Any]) -> str | None:
    """One line for the history events a person follows: a step's start, what it did (from
    its output), and every failure, retried or not. Choice and Pass states stay quiet."""
    kind = event["type"]
    details: dict[str, Any] = {}
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            details = value
    name = details.get("name")
    if kind in {"TaskStateEntered", "MapStateEntered"} and name:
        return f"-> {name}"
    if kind in {"TaskStateExited", "MapStateExited"} and name:
        return f"   {name}: {_outcome(name, details.get('output'))}"
    if kind in {"SucceedStateEntered", "FailStateEntered", "WaitStateEntered"} and name:
        return f"-> {name}"
    if kind in {"LambdaFunctionFailed", "TaskFailed", "MapRunFailed"}:
        return f"   ! {details.get('error', kind)}: {_short(details.get('cause'))}"
    if kind == "LambdaFunctionTimedOut":
        return f"   ! timed out: {_short(details.get('cause'))}"
    return None


def _outcome(step: str, output: str | None) -> str:
    try:
        state = json.loads(output or "{}")
    except ValueError:
        return "done"
    fetch, plan = state.get("fetch") or {}, state.get("plan") or {}
    if step == "FetchPages" and fetch:
        counts = ", ".join(f"{r} {c['fetched']:,}" for r, c in fetch.get("counts", {}).items())
        where = "all fetched" if fetch.get("done") else f"next: {fetch.get('resource')}"
        return f"call {fetch.get('invocations')}; fetched {counts}; {where}"
    if step == "PlanChunks" and plan:
        return f"{plan.get('batches')} batches from {plan.get('chunks')} raw chunks"
    if step == "WriteParquet" and plan:
        return f"{plan.get('batches')} batches written"
    if step == "Finalize" and state.get("result"):
        counts = state["result"]["counts"]
        parts = [
            f"{r} {c.get('written', 0):,} written, {c.get('rejected', 0):,} rejected"
            for r, c in counts.items()
            if c.get("fetched")
        ]
        return f"committed {state['result']['run_date']}: " + "; ".join(parts)
    if step == "UpdateCatalog" and state.get("catalog"):
        catalog = state["catalog"]
        return f"{catalog['partitions_created']} partitions registered in {catalog['database']}"
    if step in {"Notify", "NotifyFailure"} and state.get("notification"):
        note = state["notification"]
        return f'sent "{note.get("subject")}" (Slack: {note.get("slack")})'
    if step == "Prepare" and state.get("run"):
        run = state["run"]
        return f"run {run['run_id']} for {run['run_date']} ({run['mode']})"
    return "done"


def _short(cause: Any, limit: int = 160) -> str:
    text = str(cause or "")
    try:
        data = json.loads(text)
        if isinstance(data, dict) and "errorMessage" in data:
            text = f"{data.get('errorType', '')}: {data['errorMessage']}"
    except ValueError:
        pass
    return text if len(text) <= limit else text[:limit] + "..."


def follow(
    sfn: Any,
    execution_arn: str,
    *,
    on_step: Callable[[str], None] | None = print,
    poll: float = 0.2,
    timeout: float = 900.0,
) -> ExecutionReport:
    """Wait for the execution to end, reporting each state entered and left, and each failure
    (a retried one included) as it appears in the history."""
    started = time.monotonic()
    seen = 0
    steps: list[str] = []
    transitions = 0

    def read_history() -> None:
        nonlocal seen, transitions
        events = _history(sfn, execution_arn)
        for event in events[seen:]:
            if event["type"].endswith("StateEntered"):
                transitions += 1
            line = _describe(event)
            if line is not None:
                steps.append(line)
                if on_step is not None:
                    on_step(line)
        seen = len(events)

    while True:
        read_history()
        described = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] in TERMINAL:
            read_history()  # the events written between the two reads
            break
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{execution_arn} still running after {timeout:.0f} s")
        time.sleep(poll)
    output = described.get("output")
    return ExecutionReport(
        arn=execution_arn,
        name=described["name"],
        status=described["status"],
        output=json.loads(output) if output else None,
        error=described.get("error"),
        cause=described.get("cause"),
        seconds=round(time.monotonic() - started, 2),
        transitions=transitions,
        steps=steps,
    )


def _history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events.extend(page["events"])
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]
