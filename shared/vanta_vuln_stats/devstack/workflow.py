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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from vanta_vuln_stats.cloud.execution import TERMINAL, ExecutionReport, follow

__all__ = ["TERMINAL", "ExecutionReport", "SlackReceiver", "TopicInbox", "follow", "run_execution"]


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
