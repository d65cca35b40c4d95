"""Emulated AWS: moto in server mode, with Step Functions execution and in-process Lambdas.

``EmulatedAws(port=0)`` starts moto's threaded server on loopback and prepares this process the
way the emulation needs it:

- Step Functions runs state machines for real (moto's ``execute_state_machine``);
- ``MOTO_PORT`` is the server's real port (moto's ASL interpreter calls the other services at
  ``http://localhost:$MOTO_PORT``);
- ``AWS_ENDPOINT_URL`` is the server's URL, so handlers running here call the emulated AWS over
  HTTP, and dummy credentials and ``us-east-1`` are set when none are;
- every Lambda invocation runs the deployed function's code in this process
  (``lambda_runtime``);
- ``<url>/devstack/faults`` configures injected Lambda faults: POST
  ``{"function": "write_parquet", "times": 1, "error": "Lambda.ServiceException",
  "message": "..."}`` adds one (``times`` -1 = always), GET lists them, DELETE clears them.

The environment variables it sets are restored by ``stop()``.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any

from vanta_vuln_stats.devstack import lambda_runtime

__all__ = ["FAULTS_PATH", "EmulatedAws", "FaultsMiddleware"]

FAULTS_PATH = "/devstack/faults"

DUMMY_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


class FaultsMiddleware:
    """WSGI middleware in front of moto's application: answers ``/devstack/faults`` itself."""

    def __init__(self, app: Callable[..., Iterable[bytes]], faults: lambda_runtime.FaultInjector):
        self.app = app
        self.faults = faults

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]):
        if environ.get("PATH_INFO", "").rstrip("/") != FAULTS_PATH:
            return self.app(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET")
        status, body = "200 OK", None
        if method == "POST":
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
                spec = json.loads(environ["wsgi.input"].read(length) or b"{}")
                items = spec if isinstance(spec, list) else [spec]
                for item in items:
                    self.faults.add(
                        lambda_runtime.Fault(
                            function=str(item["function"]),
                            times=int(item.get("times", 1)),
                            error=str(item.get("error", "Lambda.ServiceException")),
                            message=str(
                                item.get("message", "Injected fault: the Lambda service failed")
                            ),
                        )
                    )
                status = "201 Created"
            except (KeyError, TypeError, ValueError) as exc:
                status, body = "400 Bad Request", {"error": f"bad fault: {exc}"}
        elif method == "DELETE":
            self.faults.clear()
        elif method != "GET":
            status, body = "405 Method Not Allowed", {"error": f"{method} not allowed"}
        data = json.dumps(body if body is not None else {"faults": self.faults.list()}).encode()
        start_response(
            status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
        )
        return [data]


def _server_class() -> type:
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from moto.server import ThreadedMotoServer
    from werkzeug.serving import make_server

    class _Server(ThreadedMotoServer):
        """moto's threaded server with the faults route in front of its application."""

        def _server_entry(self) -> None:
            app = FaultsMiddleware(
                DomainDispatcherApplication(create_backend_app), lambda_runtime.FAULTS
            )
            self._server = make_server(
                self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
            )
            self._server_ready_event.set()
            self._server.serve_forever()

    return _Server


class EmulatedAws:
    """moto server + Step Functions execution + the in-process Lambda runtime (see module doc)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.url = ""
        self._server: Any = None
        self._saved_env: dict[str, str | None] = {}
        self._saved_sfn_config: Any = None
        self._lock = threading.Lock()

    def start(self) -> EmulatedAws:
        with self._lock:
            if self._server is not None:
                return self
            from moto.core.config import default_user_config

            # moto keeps its backends per process: an emulator starts empty, as a new account
            # would, whatever an earlier one in this process left behind.
            from moto.moto_api import _internal

            _internal.moto_api_backend.reset()
            server = _server_class()(ip_address=self.host, port=self.port, verbose=False)
            server.start()
            host, port = server.get_host_and_port()
            self._server = server
            self.port = port
            shown = f"[{host}]" if ":" in host else host
            self.url = f"http://{shown}:{port}"
            self._saved_sfn_config = default_user_config.get("stepfunctions")
            default_user_config["stepfunctions"] = {"execute_state_machine": True}
            self._set_env("MOTO_PORT", str(port))
            self._set_env("AWS_ENDPOINT_URL", self.url)
            for key, value in DUMMY_ENVIRONMENT.items():
                if not os.environ.get(key):
                    self._set_env(key, value)
            lambda_runtime.install()
        return self

    def _set_env(self, key: str, value: str) -> None:
        self._saved_env.setdefault(key, os.environ.get(key))
        os.environ[key] = value

    def stop(self) -> None:
        with self._lock:
            if self._server is None:
                return
            server, self._server = self._server, None
            try:
                server.stop()
            finally:
                lambda_runtime.uninstall()
                from moto.core.config import default_user_config

                if self._saved_sfn_config is not None:
                    default_user_config["stepfunctions"] = self._saved_sfn_config
                for key, value in self._saved_env.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value
                self._saved_env.clear()

    def __enter__(self) -> EmulatedAws:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
