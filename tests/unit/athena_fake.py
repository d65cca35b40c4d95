"""An in-memory Athena at the boto3 boundary: the four client methods the Athena client calls,
with scripted states, Athena's paging of results and a record of every request."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError


def client_error(operation: str, code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


@dataclass
class Script:
    """What one query does: the states GetQueryExecution reports in turn (the last one repeats),
    and what it ends with."""

    states: Sequence[str] = ("SUCCEEDED",)
    columns: Sequence[tuple[str, str]] = (("n", "integer"),)
    rows: Sequence[Sequence[str | None]] = ()
    bytes_scanned: int = 0
    reused: bool = False
    reason: str | None = None
    athena_error: dict[str, Any] | None = None
    statement_type: str = "DML"
    # What the query had scanned when a stop request reached it.
    stopped_bytes: int = 0
    # The query ends by itself just before a stop request reaches it.
    finishes_before_stop: bool = False


@dataclass
class FakeClock:
    """Monotonic time that moves only when the client sleeps."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


class FakeAthena:
    """Answers like Athena. Each StartQueryExecution takes the next script (the last one repeats
    for any further query)."""

    def __init__(
        self, *scripts: Script, clock: FakeClock | None = None, poll_seconds: float = 0.0
    ) -> None:
        self._scripts = list(scripts) or [Script()]
        # Each GetQueryExecution takes this long on ``clock`` (a slow answer can cross a deadline).
        self._clock = clock
        self._poll_seconds = poll_seconds
        self.started: list[dict[str, Any]] = []
        self.result_requests: list[dict[str, Any]] = []
        self.stopped: list[str] = []
        self.fail_start: ClientError | None = None
        self.fail_stop: ClientError | None = None
        self._queries: dict[str, dict[str, Any]] = {}

    # -- the boto3 client's methods

    def start_query_execution(self, **request: Any) -> dict[str, Any]:
        if self.fail_start is not None:
            raise self.fail_start
        self.started.append(request)
        query_id = f"query-{len(self.started)}"
        script = self._scripts[min(len(self.started), len(self._scripts)) - 1]
        self._queries[query_id] = {"script": script, "polls": 0, "state": None}
        return {"QueryExecutionId": query_id}

    def get_query_execution(self, *, QueryExecutionId: str) -> dict[str, Any]:
        if self._clock is not None:
            self._clock.now += self._poll_seconds
        query = self._queries[QueryExecutionId]
        script: Script = query["script"]
        if query["state"] != "CANCELLED":
            index = min(query["polls"], len(script.states) - 1)
            query["state"] = script.states[index]
        query["polls"] += 1
        state = query["state"]
        status: dict[str, Any] = {"State": state}
        if script.reason and state in ("FAILED", "CANCELLED"):
            status["StateChangeReason"] = script.reason
        if script.athena_error and state == "FAILED":
            status["AthenaError"] = script.athena_error
        scanned = script.stopped_bytes if query.get("stopped") else script.bytes_scanned
        return {
            "QueryExecution": {
                "QueryExecutionId": QueryExecutionId,
                "StatementType": script.statement_type,
                "Status": status,
                "Statistics": {
                    "DataScannedInBytes": scanned if state != "QUEUED" else 0,
                    "ResultReuseInformation": {"ReusedPreviousResult": script.reused},
                },
            }
        }

    def get_query_results(
        self, *, QueryExecutionId: str, MaxResults: int = 1000, NextToken: str | None = None
    ) -> dict[str, Any]:
        self.result_requests.append(
            {"QueryExecutionId": QueryExecutionId, "MaxResults": MaxResults, "NextToken": NextToken}
        )
        query = self._queries[QueryExecutionId]
        if query["state"] != "SUCCEEDED":
            raise client_error(
                "GetQueryResults", "InvalidRequestException", "Query has not yet finished"
            )
        script: Script = query["script"]
        all_rows = list(_rows(script))
        start = int(NextToken or 0)
        page = all_rows[start : start + MaxResults]
        response: dict[str, Any] = {
            "ResultSet": {
                "Rows": page,
                "ResultSetMetadata": {
                    "ColumnInfo": [
                        {"Name": name, "Label": name, "Type": type_name}
                        for name, type_name in script.columns
                    ]
                },
            }
        }
        if start + MaxResults < len(all_rows):
            response["NextToken"] = str(start + MaxResults)
        return response

    def stop_query_execution(self, *, QueryExecutionId: str) -> dict[str, Any]:
        self.stopped.append(QueryExecutionId)
        if self.fail_stop is not None:
            raise self.fail_stop
        query = self._queries[QueryExecutionId]
        if query["script"].finishes_before_stop:
            return {}
        if query["state"] not in ("SUCCEEDED", "FAILED"):
            query["state"] = "CANCELLED"
            query["stopped"] = True
        return {}


def _rows(script: Script) -> Iterable[dict[str, Any]]:
    """Athena's rows: for a SELECT the header first, then the data; NULL is a datum without a
    value."""
    if script.statement_type == "DML":
        yield {"Data": [{"VarCharValue": name} for name, _ in script.columns]}
    for row in script.rows:
        yield {"Data": [{} if value is None else {"VarCharValue": value} for value in row]}
