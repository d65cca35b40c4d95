"""An in-process Lambda runtime for emulated AWS (moto).

moto runs Lambda code in Docker, which the devstack does not use. ``install()`` replaces moto's
private ``LambdaFunction._invoke_lambda(self, event) -> (payload_json, errored, logs)`` so that
every invocation, from ``lambda.invoke`` and from a Step Functions task alike, runs the deployed
function's own code in this process:

- the code is the function's zip as moto stores it (``code_bytes``), extracted once per code hash;
  the module named by ``Handler`` (``app.handler`` -> ``app.py``) is imported under a name unique
  to the function and its code hash (every function has a module called ``app``) and cached, so
  later invocations are warm starts;
- the package ``vanta_vuln_stats`` is importable already: it plays the part of the layers;
- the function's configured environment variables are applied to ``os.environ`` first. One
  process has one environment and invocations run at once in threads, so every function must
  agree on the value of every variable they share (a stack's ``Globals``); a conflict fails the
  invocation with an error that names the variable;
- the handler gets a Lambda-like context (``LambdaContext``) whose remaining time counts down from
  the function's configured ``Timeout``;
- an exception becomes the payload the Python runtime returns (``errorMessage``, ``errorType``,
  ``requestId``, ``stackTrace``) with ``errored=True``, so a state machine's Retry and Catch match
  on ``errorType``;
- what the handler logs or prints on its thread goes to CloudWatch Logs through moto's own
  ``save_logs`` (log group ``/aws/lambda/<name>``), framed by START/END/REPORT lines.

``FAULTS`` makes the next invocations of a function fail with a chosen error without running
the handler (an emulated Lambda service error), for tests of Retry and Catch.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import logging
import math
import os
import shutil
import sys
import tempfile
import threading
import time
import traceback
import uuid
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

__all__ = [
    "FAULTS",
    "EnvironmentConflictError",
    "Fault",
    "FaultInjector",
    "LambdaContext",
    "error_payload",
    "install",
    "installed",
    "uninstall",
]

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# The context object


class LambdaContext:
    """What the Python Lambda runtime passes as ``context``: names, limits and the clock."""

    def __init__(
        self,
        *,
        function_name: str,
        function_version: str = "$LATEST",
        invoked_function_arn: str = "",
        memory_limit_in_mb: int = 128,
        timeout_seconds: float = 3,
        aws_request_id: str | None = None,
    ) -> None:
        self.function_name = function_name
        self.function_version = str(function_version)
        self.invoked_function_arn = invoked_function_arn
        self.memory_limit_in_mb = int(memory_limit_in_mb)
        self.aws_request_id = aws_request_id or str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        day = time.strftime("%Y/%m/%d", time.gmtime())
        self.log_stream_name = f"{day}/[{self.function_version}]{uuid.uuid4().hex}"
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + float(timeout_seconds)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))

    def __repr__(self) -> str:
        return f"LambdaContext(function_name={self.function_name!r}, id={self.aws_request_id})"


def error_payload(exc: BaseException, request_id: str) -> dict[str, Any]:
    """The Python runtime's error response for an exception raised by a handler."""
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "requestId": request_id,
        "stackTrace": traceback.format_list(
            [
                frame
                for frame in traceback.extract_tb(exc.__traceback__)
                if frame.filename != __file__
            ]
        ),
    }


# ---------------------------------------------------------------------------------------------
# Faults


@dataclass
class Fault:
    """The next ``times`` invocations (-1: all) of ``function`` fail with ``error``."""

    function: str
    times: int = 1
    error: str = "Lambda.ServiceException"
    message: str = "Injected fault: the Lambda service failed"
    hits: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "times": self.times,
            "error": self.error,
            "message": self.message,
            "hits": self.hits,
        }


@dataclass
class FaultInjector:
    """Faults by function. A fault's ``function`` matches the function's name, its code folder
    (the zip's key stem as the devstack deploy writes it), or its CloudFormation logical id."""

    _faults: list[Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, fault: Fault) -> None:
        if not fault.function:
            raise ValueError("a fault needs a 'function'")
        if fault.times == 0 or fault.times < -1:
            raise ValueError("'times' must be a positive count or -1 (always)")
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [fault.to_dict() for fault in self._faults]

    def take(self, names: set[str]) -> Fault | None:
        """The first live fault for any of ``names``, counted as used; None if there is none."""
        with self._lock:
            for fault in self._faults:
                if fault.function in names:
                    fault.hits += 1
                    if fault.times != -1 and fault.hits >= fault.times:
                        self._faults.remove(fault)
                    return fault
        return None


FAULTS = FaultInjector()


# ---------------------------------------------------------------------------------------------
# Output capture: what a handler logs or prints on its own thread


class _ThreadCapture:
    """Per-thread buffers that a stream proxy and a logging handler write into."""

    def __init__(self) -> None:
        self._local = threading.local()

    def begin(self) -> None:
        self._local.buffer = io.StringIO()

    def end(self) -> str:
        buffer = getattr(self._local, "buffer", None)
        self._local.buffer = None
        return buffer.getvalue() if buffer is not None else ""

    def buffer(self) -> io.StringIO | None:
        return getattr(self._local, "buffer", None)


_CAPTURE = _ThreadCapture()


class _StreamProxy(io.TextIOBase):
    """sys.stdout / sys.stderr: writes from an invocation's thread go to its log buffer."""

    def __init__(self, target: TextIO) -> None:
        self._target = target

    @property
    def target(self) -> TextIO:
        return self._target

    def write(self, text: str) -> int:
        buffer = _CAPTURE.buffer()
        if buffer is not None:
            return buffer.write(text)
        return self._target.write(text)

    def flush(self) -> None:
        if _CAPTURE.buffer() is None:
            self._target.flush()

    def isatty(self) -> bool:
        return self._target.isatty()

    def fileno(self) -> int:
        return self._target.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._target, "encoding", "utf-8")


class _CaptureHandler(logging.Handler):
    """On the root logger: records emitted on an invocation's thread, in Lambda's format."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.setFormatter(
            logging.Formatter(
                "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(message)s", "%Y-%m-%dT%H:%M:%S"
            )
        )

    def emit(self, record: logging.LogRecord) -> None:
        buffer = _CAPTURE.buffer()
        if buffer is None:
            return
        try:
            buffer.write(self.format(record) + "\n")
        except Exception:  # a log line must never fail an invocation
            self.handleError(record)


# ---------------------------------------------------------------------------------------------
# Code: the function's zip, extracted and imported once per code hash


class _CodeCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._modules: dict[str, ModuleType] = {}
        self._root: Path | None = None

    def _directory(self) -> Path:
        if self._root is None:
            self._root = Path(tempfile.mkdtemp(prefix="vvs-devstack-lambda-"))
        return self._root

    def handler(self, function_name: str, handler: str, code: bytes) -> Callable[..., Any]:
        if not code:
            raise RuntimeError(f"function {function_name} has no code (an empty zip)")
        module_path, _, attribute = (handler or "").rpartition(".")
        if not module_path or not attribute:
            raise RuntimeError(f"function {function_name}: bad Handler {handler!r}")
        digest = hashlib.sha256(code).hexdigest()[:16]
        key = f"{function_name}:{digest}:{handler}"
        with self._lock:
            module = self._modules.get(key)
            if module is None:
                module = self._load(function_name, module_path, digest, code)
                self._modules[key] = module
        target = getattr(module, attribute, None)
        if not callable(target):
            raise RuntimeError(f"function {function_name}: {handler!r} is not a callable")
        return target

    def _load(self, function_name: str, module_path: str, digest: str, code: bytes) -> ModuleType:
        safe = "".join(c if c.isalnum() else "_" for c in function_name)
        folder = self._directory() / f"{safe}-{digest}"
        if not folder.exists():
            staging = Path(tempfile.mkdtemp(dir=self._directory()))
            with zipfile.ZipFile(io.BytesIO(code)) as archive:
                archive.extractall(staging)
            try:
                staging.rename(folder)
            except OSError:  # extracted by someone else meanwhile
                shutil.rmtree(staging, ignore_errors=True)
        source = folder.joinpath(*module_path.split(".")).with_suffix(".py")
        if not source.is_file():
            raise RuntimeError(
                f"function {function_name}: the handler module {module_path!r} is not in its code"
            )
        unique = f"_devstack_lambda_{safe}_{digest}_{module_path.replace('.', '_')}"
        spec = importlib.util.spec_from_file_location(unique, source)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[unique] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(unique, None)
            raise
        return module

    def clear(self) -> None:
        with self._lock:
            for module in self._modules.values():
                sys.modules.pop(module.__name__, None)
            self._modules.clear()
            if self._root is not None:
                shutil.rmtree(self._root, ignore_errors=True)
                self._root = None


_CODE = _CodeCache()


# ---------------------------------------------------------------------------------------------
# Environment: one process, one environment


class EnvironmentConflictError(RuntimeError):
    """Two live functions need different values of one environment variable."""


class _SharedEnvironment:
    """Applies functions' variables to os.environ, refusing a value another live function needs
    differently (invocations run at once; a variable cannot hold two values)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owners: dict[str, tuple[str, str]] = {}  # key -> (value, function arn)
        self._before: dict[str, str | None] = {}  # what each key held before a function set it

    def apply(self, function_arn: str, variables: Mapping[str, str], live: Callable[..., Any]):
        with self._lock:
            for key, value in variables.items():
                value = str(value)
                owner = self._owners.get(key)
                if owner and owner[0] != value and owner[1] != function_arn:
                    other = live(owner[1])
                    other_value = (getattr(other, "environment_vars", None) or {}).get(key)
                    if other is not None and str(other_value) == owner[0]:
                        raise EnvironmentConflictError(
                            f"environment variable {key} differs between {owner[1]} and "
                            f"{function_arn}: the in-process runtime shares one environment, so "
                            "every function must give it the same value"
                        )
            for key, value in variables.items():
                self._before.setdefault(key, os.environ.get(key))
                self._owners[key] = (str(value), function_arn)
                os.environ[key] = str(value)

    def clear(self) -> None:
        """Forget the functions and give the process its own environment back."""
        with self._lock:
            for key, value in self._before.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            self._before.clear()
            self._owners.clear()


_ENVIRONMENT = _SharedEnvironment()


# ---------------------------------------------------------------------------------------------
# The replacement of moto's _invoke_lambda


def _live_function(function: Any) -> Callable[[str], Any]:
    def lookup(arn: str) -> Any:
        from moto.awslambda.models import lambda_backends

        try:
            backend = lambda_backends[function.account_id][function.region]
            return backend.get_function(arn)
        except Exception:
            return None

    return lookup


def _fault_names(function: Any) -> set[str]:
    names = {function.function_name}
    tags = getattr(function, "tags", None) or {}
    if tags.get("aws:cloudformation:logical-id"):
        names.add(tags["aws:cloudformation:logical-id"])
    code = getattr(function, "code", None) or {}
    key = code.get("S3Key") if isinstance(code, dict) else None
    if key:  # the devstack deploy stores code as <folder>/<hash>.zip
        names.add(key.split("/")[0])
    if tags.get("devstack:code-folder"):
        names.add(tags["devstack:code-folder"])
    return names


def _invoke_in_process(self: Any, event: Any = None) -> tuple[str, bool, str]:
    """moto's ``LambdaFunction._invoke_lambda``, run in this process (see the module doc)."""
    self.logs_backend.ensure_log_group(self.logs_group_name)
    if event is None:
        event = {}
    elif isinstance(event, str | bytes):
        event = json.loads(event or "{}")

    context = LambdaContext(
        function_name=self.function_name,
        function_version=str(self.version if self.version != 1 else "$LATEST"),
        invoked_function_arn=self.function_arn,
        memory_limit_in_mb=int(self.memory_size or 128),
        timeout_seconds=float(self.timeout or 3),
    )
    request_id = context.aws_request_id
    started = time.monotonic()
    _wrap_streams()
    _CAPTURE.begin()
    errored = False
    try:
        print(f"START RequestId: {request_id} Version: {context.function_version}")
        fault = FAULTS.take(_fault_names(self))
        if fault is not None:
            errored = True
            print(f"Injected fault {fault.error}: {fault.message}")
            result: Any = {
                "errorMessage": fault.message,
                "errorType": fault.error,
                "requestId": request_id,
                "stackTrace": [],
            }
        else:
            try:
                _ENVIRONMENT.apply(
                    self.function_arn, self.environment_vars or {}, _live_function(self)
                )
                handler = _CODE.handler(self.function_name, self.handler, self.code_bytes)
                result = handler(event, context)
            except Exception as exc:
                errored = True
                result = error_payload(exc, request_id)
                print(f"[ERROR] {result['errorType']}: {result['errorMessage']}")
                print("Traceback (most recent call last):\n" + "".join(result["stackTrace"]))
        try:
            payload = json.dumps(result)
        except (TypeError, ValueError) as exc:
            errored = True
            payload = json.dumps(
                {
                    "errorMessage": f"Unable to marshal response: {exc}",
                    "errorType": "Runtime.MarshalError",
                    "requestId": request_id,
                    "stackTrace": [],
                }
            )
        elapsed = (time.monotonic() - started) * 1000
        print(f"END RequestId: {request_id}")
        print(
            f"REPORT RequestId: {request_id}\tDuration: {elapsed:.2f} ms\t"
            f"Billed Duration: {max(1, math.ceil(elapsed))} ms\t"
            f"Memory Size: {context.memory_limit_in_mb} MB"
        )
    finally:
        logs = _CAPTURE.end()
    self.save_logs(logs)
    return payload, errored, logs


_state: dict[str, Any] = {}
_streams_lock = threading.Lock()


def _wrap_streams() -> None:
    """Proxy sys.stdout and sys.stderr (again, if something replaced them since: a test runner's
    capture does between phases)."""
    with _streams_lock:
        if not isinstance(sys.stdout, _StreamProxy):
            sys.stdout = _StreamProxy(sys.stdout)  # type: ignore[assignment]
        if not isinstance(sys.stderr, _StreamProxy):
            sys.stderr = _StreamProxy(sys.stderr)  # type: ignore[assignment]


def _unwrap_streams() -> None:
    with _streams_lock:
        if isinstance(sys.stdout, _StreamProxy):
            sys.stdout = sys.stdout.target  # type: ignore[assignment]
        if isinstance(sys.stderr, _StreamProxy):
            sys.stderr = sys.stderr.target  # type: ignore[assignment]


_install_lock = threading.Lock()


def installed() -> bool:
    return "original" in _state


def install() -> None:
    """Route every moto Lambda invocation in this process to the in-process runtime."""
    from moto.awslambda.models import LambdaFunction

    with _install_lock:
        if installed():
            return
        _state["original"] = LambdaFunction.__dict__["_invoke_lambda"]
        handler = _CaptureHandler()
        logging.getLogger().addHandler(handler)
        _state["handler"] = handler
        LambdaFunction._invoke_lambda = _invoke_in_process  # type: ignore[method-assign]


def uninstall() -> None:
    """Give moto its own ``_invoke_lambda`` back and forget cached code and faults."""
    from moto.awslambda.models import LambdaFunction

    with _install_lock:
        if not installed():
            return
        LambdaFunction._invoke_lambda = _state.pop("original")  # type: ignore[method-assign]
        _unwrap_streams()
        logging.getLogger().removeHandler(_state.pop("handler"))
        _CODE.clear()
        _ENVIRONMENT.clear()
        FAULTS.clear()
