"""``/api/v1/sync/...``: the sync workflow as its state machine's executions tell it. Executions
are named ``sync-YYYY-MM-DD`` (pipeline/start.py), so the name gives the run date; a succeeded
execution's output holds the committed day's counts (``result``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from vanta_vuln_stats.api.errors import BadRequest, Conflict
from vanta_vuln_stats.pipeline.start import start_sync

__all__ = ["MAX_HISTORY", "SyncService"]

MAX_HISTORY = 100
DEFAULT_HISTORY = 10
_RUN_DATE = re.compile(r"sync-(\d{4}-\d{2}-\d{2})")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


class SyncService:
    """The executions of the state machine ``state_machine_arn``, through ``sfn`` (a boto3
    Step Functions client)."""

    def __init__(self, sfn: Any, state_machine_arn: str) -> None:
        self.sfn = sfn
        self.state_machine_arn = state_machine_arn

    def status(self) -> dict[str, Any]:
        """The last execution (with its counts when it succeeded) and whether one is running."""
        latest = self._list(1)
        running = self._list(1, status="RUNNING")
        last = None
        if latest:
            described = self.sfn.describe_execution(executionArn=latest[0]["executionArn"])
            last = _execution(described)
            if described.get("status") == "SUCCEEDED":
                last["result"] = _result(described.get("output"))
        return {
            "running": bool(running),
            "running_execution": running[0]["name"] if running else None,
            "last_execution": last,
        }

    def history(self, limit: str | None) -> dict[str, Any]:
        count = _limit(limit)
        return {"executions": [_execution(item) for item in self._list(count)]}

    def trigger(self, body: Any) -> dict[str, Any]:
        """Start the day's execution; Conflict when one is running or the day's name is taken."""
        run_date = _run_date(body)
        running = self._list(1, status="RUNNING")
        if running:
            raise Conflict(
                f"The execution {running[0]['name']} is running; wait for it to end.",
                code="already_running",
            )
        started = start_sync(self.state_machine_arn, run_date=run_date, sfn=self.sfn)
        if not started["started"]:
            raise Conflict(
                f"An execution named {started['execution']} exists already: "
                f"{started['run_date']} has been synced (or is syncing) once.",
                code="already_exists",
            )
        return {
            "execution": started["execution"],
            "execution_arn": started["execution_arn"],
            "run_date": started["run_date"],
        }

    def _list(self, count: int, *, status: str | None = None) -> list[dict[str, Any]]:
        request: dict[str, Any] = {"stateMachineArn": self.state_machine_arn, "maxResults": count}
        if status:
            request["statusFilter"] = status
        executions = self.sfn.list_executions(**request)["executions"]
        # Newest first, as Step Functions lists them; sorted again to not depend on it.
        executions.sort(key=lambda item: item["startDate"], reverse=True)
        return executions[:count]


def _limit(text: str | None) -> int:
    if text is None or text == "":
        return DEFAULT_HISTORY
    if not re.fullmatch(r"\d{1,3}", text) or not 1 <= int(text) <= MAX_HISTORY:
        raise BadRequest(f"limit must be a whole number from 1 to {MAX_HISTORY}, not {text!r}.")
    return int(text)


def _run_date(body: Any) -> str | None:
    if body is None:
        return None
    if not isinstance(body, Mapping):
        raise BadRequest('The body must be a JSON object: {"run_date": "YYYY-MM-DD"} or {}.')
    unknown = sorted(set(body) - {"run_date"})
    if unknown:
        raise BadRequest(f"Unknown field(s) {', '.join(map(repr, unknown))}; only run_date.")
    value = body.get("run_date")
    if value is None:
        return None
    if not isinstance(value, str) or not _DAY.fullmatch(value):
        raise BadRequest(f"run_date must be a date YYYY-MM-DD, not {value!r}.")
    try:
        date.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"run_date {value!r} is not a calendar date.") from None
    return value


def _execution(item: Mapping[str, Any]) -> dict[str, Any]:
    started, stopped = item.get("startDate"), item.get("stopDate")
    return {
        "name": item["name"],
        "execution_arn": item["executionArn"],
        "status": item["status"],
        "run_date": _date_of(item),
        "start_date": _time(started),
        "stop_date": _time(stopped),
        "duration_seconds": (
            round((stopped - started).total_seconds(), 3) if started and stopped else None
        ),
    }


def _date_of(item: Mapping[str, Any]) -> str | None:
    """The run date: from the name (sync-YYYY-MM-DD[...]), else from the input when described."""
    match = _RUN_DATE.match(item.get("name") or "")
    if match:
        return match.group(1)
    payload = _json(item.get("input"))
    value = payload.get("run_date") if isinstance(payload, dict) else None
    return value if isinstance(value, str) else None


def _result(output: str | None) -> dict[str, Any] | None:
    """The committed day's figures from a succeeded execution's output."""
    payload = _json(output)
    result = payload.get("result") if isinstance(payload, dict) else None
    if not isinstance(result, dict):
        return None
    return {key: result[key] for key in ("run_date", "counts", "bytes_written") if key in result}


def _json(text: str | None) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
