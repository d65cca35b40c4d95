"""Helpers for the emulated-AWS tests: stand-in function code and execution polling."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path
from typing import Any

# A stand-in handler: echoes what the runtime gives it, fails on request.
ECHO_HANDLER = """
import logging
import os

log = logging.getLogger("standin")


def handler(event, context):
    print("print from the handler")
    log.warning("log record from the handler: %s", event.get("note", ""))
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {
        "event": event,
        "env": {key: os.environ.get(key) for key in event.get("env", [])},
        "context": {
            "function_name": context.function_name,
            "function_version": context.function_version,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "aws_request_id": context.aws_request_id,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "remaining": context.get_remaining_time_in_millis(),
        },
    }
"""


def zip_source(source: str, name: str = "app.py") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, source)
    return buffer.getvalue()


def write_function(root: Path, folder: str, source: str = ECHO_HANDLER) -> Path:
    path = root / "functions" / folder
    path.mkdir(parents=True, exist_ok=True)
    (path / "app.py").write_text(source)
    return path


def wait_for_execution(sfn: Any, arn: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        execution = sfn.describe_execution(executionArn=arn)
        if execution["status"] != "RUNNING":
            return execution
        if time.monotonic() > deadline:
            raise AssertionError(f"execution {arn} still running after {timeout}s")
        time.sleep(0.05)
