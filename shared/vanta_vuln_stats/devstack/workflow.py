"""Running the deployed workflow and watching it, as an operator would with the AWS CLI: start an
execution, print its steps as the history grows, read what the topic sent (through an SQS
subscription) and what Slack received (a local webhook receiver). Used by ``make demo``,
``make run-workflow`` and the end-to-end tests; plain boto3, so it works against any endpoint."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

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


def run_execution(
    sfn: Any,
    state_machine_arn: str,
    name: str,
    request: dict[str, Any],
    *,
    on_step: Callable[[str], None] | None = print,
    timeout: float = 900.0,
) -> ExecutionReport:
    arn = sfn.start_execution(
        stateMachineArn=state_machine_arn, name=name, input=json.dumps(request)
    )["executionArn"]
    return follow(sfn, arn, on_step=on_step, timeout=timeout)


class TopicInbox:
    """An SQS queue subscribed to the topic: the notifications, as an email subscriber gets
    them (subject and text)."""

    def __init__(self, topic_arn: str, name: str = "notification-inbox") -> None:
        import boto3

        self.sqs = boto3.client("sqs")
        sns = boto3.client("sns")
        self.url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)

    def messages(self, *, wait: float = 5.0, expect: int = 1) -> list[dict[str, Any]]:
        """The SNS envelopes received (``Subject``, ``Message``, ``MessageAttributes``)."""
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and len(found) < expect:
            response = self.sqs.receive_message(
                QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            )
            for message in response.get("Messages", []):
                found.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
            if len(found) < expect:
                time.sleep(0.2)
        return found


class SlackReceiver:
    """A local stand-in for a Slack incoming webhook: keeps every JSON body posted to it."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                receiver.posts.append(json.loads(self.rfile.read(length) or b"{}"))
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/services/T000/B000/XXXX"

    def __enter__(self) -> SlackReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def environment(**values: str) -> Iterator[None]:
    """Environment variables set for the block (the endpoint and credentials of emulated
    AWS), restored after."""
    import os

    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
