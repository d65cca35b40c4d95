"""Starting the sync workflow for a day: the execution is named ``sync-YYYY-MM-DD``, so Step
Functions itself refuses a second concurrent (or repeated, within 90 days) start of the same name.
A deliberate re-run of a day uses another name (``sync-YYYY-MM-DD-rerun-HHMMSS``)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

__all__ = ["execution_name", "start_sync"]


def execution_name(run_date: date, *, rerun: bool = False, now: datetime | None = None) -> str:
    name = f"sync-{run_date.isoformat()}"
    if rerun:
        name += f"-rerun-{(now or datetime.now(UTC)):%H%M%S}"
    return name


def start_sync(
    state_machine_arn: str,
    *,
    run_date: str | date | None = None,
    rerun: bool = False,
    request: dict[str, Any] | None = None,
    sfn: Any = None,
) -> dict[str, Any]:
    """Start the day's execution (today, UTC, by default). Returns its name and ARN, and
    ``started`` False when an execution of that name exists already."""
    if sfn is None:
        import boto3

        sfn = boto3.client("stepfunctions")
    day = date.fromisoformat(run_date) if isinstance(run_date, str) else run_date
    day = day or datetime.now(UTC).date()
    name = execution_name(day, rerun=rerun)
    payload = {**(request or {}), "run_date": day.isoformat()}
    try:
        response = sfn.start_execution(
            stateMachineArn=state_machine_arn, name=name, input=json.dumps(payload)
        )
    except sfn.exceptions.ExecutionAlreadyExists:
        return {"execution": name, "execution_arn": None, "started": False, "run_date": str(day)}
    return {
        "execution": name,
        "execution_arn": response["executionArn"],
        "started": True,
        "run_date": day.isoformat(),
    }
