"""The Vanta API simulator: a real HTTP/1.1 server on loopback that behaves like the Vanta API.

It follows the documented Vanta API (developer.vanta.com and Vanta's Postman collection, folders
Manage Vanta > vulnerabilities / vulnerability-remediations / vulnerable-assets): the OAuth
client-credentials token endpoint at the host root, the three vulnerability listings under
``/v1`` with the ``{"results": {"pageInfo", "data"}}`` envelope and opaque cursors, the two
single-item GETs, bearer tokens that expire and are revoked when a newer one is minted, rate
limits answered with 429 + Retry-After, and injectable faults (faults.py).

Decisions where the API's behaviour is not documented:

- Error bodies are JSON ``{"error": code, "message": text}``; the token endpoint follows
  RFC 6749 (``{"error": ..., "error_description": ...}``): 400 ``invalid_request`` (not JSON),
  400 ``unsupported_grant_type``, 401 ``invalid_client``, 400 ``invalid_scope``.
- Rate limits are kept per client id over a sliding window; a 429 does not use up budget.
  Data requests with a bad token are answered 401 before any rate limiting.
- ``pageSize`` outside 1..100 or not a plain integer, a malformed cursor, or a cursor from
  another listing or filter set: 400. Unknown query parameters are ignored.
- Cursors are urlsafe base64 of a small JSON (position, resource, filter hash, page number);
  they never expire and stay valid when the clock moves (the rest of the walk then shows the
  new day). ``hasPreviousPage`` is true on every page requested with a cursor.
- The request log keeps the last ``REQUEST_LOG_LIMIT`` requests.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import math
import random
import secrets
import socket
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from hashlib import blake2b
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

from vanta_vuln_stats.devstack.simulator.faults import FaultConfig
from vanta_vuln_stats.devstack.simulator.tenant import (
    BASE_DATE,
    Filters,
    InvalidParameter,
    SeverityCase,
    Tenant,
)
from vanta_vuln_stats.errors import ConfigError
from vanta_vuln_stats.model.fields import API_PATHS, Resource

READ_SCOPE = "vanta-api.all:read"
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 10
REQUEST_LOG_LIMIT = 200_000
_MAX_BODY = 64 * 1024
_LIST_ROUTES: dict[str, Resource] = {path: resource for resource, path in API_PATHS.items()}
# Only these two have a documented single-item GET.
_ITEM_ROUTES: dict[str, Resource] = {
    API_PATHS[Resource.VULNERABILITIES] + "/": Resource.VULNERABILITIES,
    API_PATHS[Resource.VULNERABLE_ASSETS] + "/": Resource.VULNERABLE_ASSETS,
}
_CURSOR_CODES = {
    Resource.VULNERABILITIES: "v",
    Resource.VULNERABILITY_REMEDIATIONS: "r",
    Resource.VULNERABLE_ASSETS: "a",
}


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request as the simulator saw it.

    status is 0 when the connection was dropped without a response; fault names the injected
    faults, comma-separated (``slow``, ``drop``, ``burst``, ``error``, ``malformed``), or None.
    params holds the query parameters (for the token endpoint: the body without the secret).
    """

    time: float  # time.time() when the request arrived
    method: str
    path: str
    params: dict[str, str]
    status: int
    client_id: str | None
    fault: str | None


@dataclass(frozen=True)
class SimulatorConfig:
    """Settings of one simulator. Rates of 0 mean unlimited; times are in seconds."""

    records: int = 1000
    seed: int = 7
    client_id: str = "vci_simulator"
    client_secret: str = field(default="test-secret-simulator", repr=False)
    rate_limit: int = 50
    rate_window: float = 60.0
    token_rate_limit: int = 5
    token_rate_window: float = 60.0
    token_lifetime: float = 3600
    as_of: date | None = None
    faults: FaultConfig = field(default_factory=FaultConfig)
    remediation_severity_case: SeverityCase = "upper"
    base_date: date = BASE_DATE
    # Keep every rendered page and serve it again from memory (the same request gets the same
    # bytes). For benchmarks: after one warm-up walk the server costs almost nothing, so the
    # client's own throughput is measured, as against a remote API. Memory grows with the pages
    # served (about 1 KB a record).
    cache_pages: bool = False

    def __post_init__(self) -> None:
        _require_int("records", self.records, minimum=0)
        _require_int("seed", self.seed)
        for name in ("client_id", "client_secret"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ConfigError(f"simulator {name} must be a non-empty string")
        _require_int("rate_limit", self.rate_limit, minimum=0)
        _require_int("token_rate_limit", self.token_rate_limit, minimum=0)
        for name in ("rate_window", "token_rate_window", "token_lifetime"):
            value = getattr(self, name)
            if not _is_positive(value):
                raise ConfigError(f"simulator {name} must be a number > 0, got {value!r}")
        for name, optional in (("as_of", True), ("base_date", False)):
            value = getattr(self, name)
            if value is None and optional:
                continue
            if not isinstance(value, date) or isinstance(value, datetime):
                raise ConfigError(f"simulator {name} must be a date, got {value!r}")
        if not isinstance(self.faults, FaultConfig):
            raise ConfigError(f"simulator faults must be a FaultConfig, got {self.faults!r}")
        if self.remediation_severity_case not in ("upper", "lower"):
            raise ConfigError(
                "simulator remediation_severity_case must be 'upper' or 'lower', "
                f"got {self.remediation_severity_case!r}"
            )


class _HttpError(Exception):
    """Ends a request with a JSON error response."""

    def __init__(
        self,
        status: int,
        body: dict[str, Any],
        headers: Iterable[tuple[str, str]] = (),
        *,
        client_id: str | None = None,
    ) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = tuple(headers)
        self.client_id = client_id


class _Token:
    __slots__ = ("client_id", "expires_at", "revoked")

    def __init__(self, client_id: str, expires_at: float) -> None:
        self.client_id = client_id
        self.expires_at = expires_at
        self.revoked = False


class _SlidingWindow:
    """At most ``limit`` events per ``window`` seconds; refused events are not counted."""

    __slots__ = ("events", "limit", "window")

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self.events: deque[float] = deque()

    def take(self, now: float) -> int | None:
        """None when the event is allowed (and counted), else the seconds to wait (>= 1)."""
        if self.limit <= 0:
            return None
        events = self.events
        horizon = now - self.window
        while events and events[0] <= horizon:
            events.popleft()
        if len(events) >= self.limit:
            return max(1, math.ceil(events[0] + self.window - now))
        events.append(now)
        return None


class VantaSimulator:
    """The simulator server. Use as a context manager, or call start() and stop()."""

    def __init__(
        self, config: SimulatorConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.config = config or SimulatorConfig()
        self.host = host
        self.port = port
        self.tenant = Tenant(
            self.config.records,
            self.config.seed,
            base_date=self.config.base_date,
            remediation_severity_case=self.config.remediation_severity_case,
        )
        self._lock = threading.Lock()
        self._as_of = self.config.as_of or self.config.base_date
        self._faults = self.config.faults
        self._rng = random.Random(self._faults.seed)
        self._page_cache: dict[tuple[Any, ...], _Page] = {}
        self._bursts: dict[tuple[Resource, str, int], list[int]] = {}
        self._tokens: dict[str, _Token] = {}
        self._active: dict[str, str] = {}
        self._rate: dict[str, _SlidingWindow] = {}
        self._token_rate: dict[str, _SlidingWindow] = {}
        self._log: deque[RequestRecord] = deque(maxlen=REQUEST_LOG_LIMIT)
        self._connections: set[socket.socket] = set()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> VantaSimulator:
        if self._server is not None:
            return self
        handler = type("SimulatorHandler", (_Handler,), {"simulator": self})
        server = _Server((self.host, self.port), handler)
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"vanta-simulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        # Idle keep-alive connections would hold their handler threads until the client
        # hangs up: close them so a stopped simulator leaves nothing behind.
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> VantaSimulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The host root, e.g. ``http://127.0.0.1:PORT`` (token at /oauth/token, data at /v1)."""
        if self._server is None:
            raise RuntimeError("the simulator is not running; call start() first")
        return f"http://{self.host}:{self.port}"

    # -- runtime controls --------------------------------------------------------------------

    @property
    def as_of(self) -> date:
        return self._as_of

    def set_as_of(self, as_of: date) -> None:
        """Move the tenant's clock: listings then show the state at the end of ``as_of``."""
        if not isinstance(as_of, date) or isinstance(as_of, datetime):
            raise ConfigError(f"as_of must be a date, got {as_of!r}")
        self._as_of = as_of

    @property
    def faults(self) -> FaultConfig:
        return self._faults

    def set_faults(self, faults: FaultConfig) -> None:
        """Replace the faults; burst counts and the random draws start again."""
        if not isinstance(faults, FaultConfig):
            raise ConfigError(f"faults must be a FaultConfig, got {faults!r}")
        with self._lock:
            self._faults = faults
            self._rng = random.Random(faults.seed)
            self._bursts.clear()

    @property
    def request_log(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._log)

    def clear_request_log(self) -> None:
        with self._lock:
            self._log.clear()

    def expire_tokens(self) -> None:
        """Every token issued so far is expired from now on."""
        now = time.monotonic()
        with self._lock:
            for token in self._tokens.values():
                token.expires_at = min(token.expires_at, now)

    def revoke_tokens(self) -> None:
        """Every token issued so far is revoked (as when a newer one is minted)."""
        with self._lock:
            for token in self._tokens.values():
                token.revoked = True
            self._active.clear()

    # -- request handling (called from handler threads) --------------------------------------

    def _log_request(self, record: RequestRecord) -> None:
        with self._lock:
            self._log.append(record)

    def _mint_token(self, body: dict[str, Any]) -> dict[str, Any]:
        client_id = body.get("client_id")
        if not isinstance(client_id, str) or not client_id:
            raise _HttpError(400, _oauth_error("invalid_request", "client_id is required"))
        now = time.monotonic()
        cfg = self.config
        with self._lock:
            window = self._token_rate.get(client_id)
            if window is None:
                window = self._token_rate[client_id] = _SlidingWindow(
                    cfg.token_rate_limit, cfg.token_rate_window
                )
            wait = window.take(now)
        if wait is not None:
            raise _rate_limited(wait, client_id)
        grant_type = body.get("grant_type")
        if grant_type != "client_credentials":
            raise _HttpError(
                400,
                _oauth_error("unsupported_grant_type", "grant_type must be client_credentials"),
                client_id=client_id,
            )
        secret = body.get("client_secret")
        if not (
            secrets.compare_digest(client_id.encode(), cfg.client_id.encode())
            and isinstance(secret, str)
            and secrets.compare_digest(secret.encode(), cfg.client_secret.encode())
        ):
            raise _HttpError(
                401,
                _oauth_error("invalid_client", "client authentication failed"),
                client_id=client_id,
            )
        scope = body.get("scope")
        if not isinstance(scope, str) or READ_SCOPE not in scope.split():
            raise _HttpError(
                400,
                _oauth_error("invalid_scope", f"scope must include {READ_SCOPE}"),
                client_id=client_id,
            )
        access_token = f"vat_{secrets.token_hex(8)}_{secrets.token_urlsafe(24)}"
        with self._lock:
            # One active token per application: minting revokes the previous one at once.
            previous = self._active.get(client_id)
            if previous is not None and previous in self._tokens:
                self._tokens[previous].revoked = True
            self._tokens[access_token] = _Token(client_id, now + cfg.token_lifetime)
            self._active[client_id] = access_token
            _trim_tokens(self._tokens, self._active)
        lifetime = max(int(cfg.token_lifetime) - 1, 0)  # the live API answers 3599 for 1 h
        return {"access_token": access_token, "expires_in": lifetime, "token_type": "Bearer"}

    def _authenticate(self, authorization: str | None) -> str:
        """The client id owning the bearer token, or a 401."""
        if not authorization:
            raise _unauthorized("missing_token", "Authorization: Bearer <token> is required")
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise _unauthorized("invalid_token", "the Authorization header must be a Bearer token")
        with self._lock:
            token = self._tokens.get(value.strip())
            if token is None:
                raise _unauthorized("invalid_token", "the access token is not valid")
            if token.revoked:
                raise _unauthorized(
                    "invalid_token",
                    "the access token was revoked (a newer token was issued for this client)",
                )
            if token.expires_at <= time.monotonic():
                raise _unauthorized("invalid_token", "the access token has expired")
            return token.client_id

    def _take_budget(self, client_id: str) -> None:
        cfg = self.config
        with self._lock:
            window = self._rate.get(client_id)
            if window is None:
                window = self._rate[client_id] = _SlidingWindow(cfg.rate_limit, cfg.rate_window)
            wait = window.take(time.monotonic())
        if wait is not None:
            raise _rate_limited(wait, client_id)

    def _burst_fails(self, key: tuple[Resource, str, int], page_size: int, count: int) -> bool:
        """Whether this request of a burst page fails (see faults.py for the rule)."""
        with self._lock:
            state = self._bursts.get(key)
            if state is None:
                state = self._bursts[key] = [page_size, 0]
            if page_size < state[0] or state[1] >= count:
                return False
            state[1] += 1
            return True

    def _chance(self, rate: float) -> bool:
        return rate > 0.0 and self._rng.random() < rate


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class _Response:
    """A response ready to write; ``body`` is None for a dropped connection."""

    __slots__ = ("body", "headers", "status")

    def __init__(
        self, status: int, body: bytes | None, headers: tuple[tuple[str, str], ...] = ()
    ) -> None:
        self.status = status
        self.body = body
        self.headers = headers


_DROP = _Response(0, None)


class _Page:
    """One rendered listing page, and where the next one starts (None on the last page)."""

    __slots__ = ("body", "key", "malformed", "next_start")

    def __init__(
        self, key: tuple[Any, ...], body: bytes, next_start: int | None, malformed: bool
    ) -> None:
        self.key = key
        self.body = body
        self.next_start = next_start
        self.malformed = malformed


class _Handler(BaseHTTPRequestHandler):
    """One instance per connection; keep-alive requests are handled in turn."""

    protocol_version = "HTTP/1.1"
    server_version = "VantaSimulator/1"
    # Idle keep-alive connections end after this many seconds.
    timeout = 120
    simulator: ClassVar[VantaSimulator]

    def setup(self) -> None:
        super().setup()
        # The next request of a client must not wait for a delayed ACK.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._prefetched: _Page | None = None
        self._after: Callable[[], None] | None = None
        with self.simulator._lock:
            self.simulator._connections.add(self.connection)

    def finish(self) -> None:
        with self.simulator._lock:
            self.simulator._connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: a line per request on stderr would cost more than serving it."""

    # -- dispatch ----------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._dispatch(self._get)

    def do_POST(self) -> None:
        self._dispatch(self._post)

    def do_PUT(self) -> None:
        self._dispatch(self._not_allowed)

    do_DELETE = do_PATCH = do_PUT

    def _dispatch(self, route: Callable[[str, dict[str, str], bytes], _Response]) -> None:
        arrival = time.time()
        split = urlsplit(self.path)
        params = dict(parse_qsl(split.query, keep_blank_values=True))
        self._record_params = params
        self._client_id: str | None = None
        self._fault: list[str] = []
        try:
            response = route(split.path, params, self._read_body())
        except _HttpError as exc:
            if exc.client_id is not None:
                self._client_id = exc.client_id
            response = _Response(exc.status, _json(exc.body), exc.headers)
        except Exception:
            # A bug in the simulator: answer 500 and show it, rather than hang the client.
            traceback.print_exc(file=sys.stderr)
            response = _Response(
                500, _json({"error": "simulator_error", "message": "unexpected server error"})
            )
        # Logged before the client can see the answer, so a test reading the log right after
        # a response always finds the request in it.
        self.simulator._log_request(
            RequestRecord(
                time=arrival,
                method=self.command,
                path=split.path,
                params=self._record_params,
                status=response.status,
                client_id=self._client_id,
                fault=",".join(self._fault) or None,
            )
        )
        if response.body is None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._write(response)
        after, self._after = self._after, None
        if after is not None:
            after()

    def _read_body(self) -> bytes:
        length_header = self.headers.get("Content-Length")
        if not length_header:
            return b""
        try:
            length = int(length_header)
        except ValueError:
            self.close_connection = True
            raise _HttpError(
                400, {"error": "invalid_request", "message": "bad Content-Length"}
            ) from None
        if length < 0 or length > _MAX_BODY:
            self.close_connection = True
            raise _HttpError(413, {"error": "payload_too_large", "message": "body too large"})
        return self.rfile.read(length) if length else b""

    def _write(self, response: _Response) -> None:
        body = response.body or b""
        lines = [
            f"HTTP/1.1 {response.status} {HTTPStatus(response.status).phrase}",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
        ]
        lines.extend(f"{name}: {value}" for name, value in response.headers)
        if self.close_connection:
            lines.append("Connection: close")
        lines.append("\r\n")
        # Headers and body in one write: one segment for small answers, no Nagle stall.
        self.wfile.write("\r\n".join(lines).encode("latin-1") + body)

    def _not_allowed(self, path: str, params: dict[str, str], body: bytes) -> _Response:
        raise _HttpError(
            405, {"error": "method_not_allowed", "message": f"{self.command} is not supported"}
        )

    # -- routes ------------------------------------------------------------------------------

    def _post(self, path: str, params: dict[str, str], body: bytes) -> _Response:
        if path != "/oauth/token":
            return self._not_allowed(path, params, body)
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise _HttpError(
                400, _oauth_error("invalid_request", "the body must be JSON (application/json)")
            )
        try:
            fields = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            fields = None
        if not isinstance(fields, dict):
            raise _HttpError(400, _oauth_error("invalid_request", "the body must be a JSON object"))
        # Logged without the secret.
        self._record_params = {
            key: str(value) for key, value in fields.items() if key != "client_secret"
        }
        if isinstance(fields.get("client_id"), str):
            self._client_id = fields["client_id"]
        payload = self.simulator._mint_token(fields)
        return _Response(200, _json(payload), (("Cache-Control", "no-store"),))

    def _get(self, path: str, params: dict[str, str], body: bytes) -> _Response:
        if not path.startswith("/v1/"):
            raise _not_found(path)
        resource = _LIST_ROUTES.get(path)
        record_id: str | None = None
        if resource is None:
            for prefix, item_resource in _ITEM_ROUTES.items():
                rest = path[len(prefix) :]
                if path.startswith(prefix) and rest and "/" not in rest:
                    resource, record_id = item_resource, rest
                    break
        sim = self.simulator
        client_id = sim._authenticate(self.headers.get("Authorization"))
        self._client_id = client_id
        sim._take_budget(client_id)
        if resource is None:
            raise _not_found(path)
        if record_id is not None:
            return self._get_item(resource, record_id)
        return self._list(resource, params)

    def _get_item(self, resource: Resource, record_id: str) -> _Response:
        sim = self.simulator
        fault = self._inject_faults(None, 1)
        if fault is not None:
            return fault
        found = sim.tenant.locate(resource, record_id, sim.as_of)
        if found is None:
            raise _HttpError(
                404, {"error": "not_found", "message": f"no {resource.value} with id {record_id}"}
            )
        index, record = found
        served, kind = sim.tenant.serve(resource, index, record, sim.faults.malformed_rate)
        if kind is not None:
            self._fault.append("malformed")
        return _Response(200, _json(served))

    def _list(self, resource: Resource, params: dict[str, str]) -> _Response:
        sim = self.simulator
        page_size = _page_size(params.get("pageSize"))
        try:
            filters = sim.tenant.parse_filters(resource, params)
        except InvalidParameter as exc:
            raise _bad_request(str(exc)) from None
        filter_hash = blake2b(repr(filters).encode(), digest_size=6).hexdigest()
        cursor = params.get("pageCursor")
        start, page_number = 0, 1
        if cursor:
            start, page_number = _decode_cursor(cursor, resource, filter_hash)
        fault = self._inject_faults((resource, filter_hash, page_number), page_size)
        if fault is not None:
            return fault

        key = (
            resource,
            filter_hash,
            start,
            page_size,
            page_number,
            bool(cursor),
            sim.as_of,
            sim.faults.malformed_rate,
        )
        page = self._prefetched
        self._prefetched = None
        if sim.config.cache_pages and (cached := sim._page_cache.get(key)) is not None:
            page = cached
        elif page is None or page.key != key:
            page = _render_page(sim, key, filters)
        if sim.config.cache_pages:
            sim._page_cache[key] = page
        if page.malformed:
            self._fault.append("malformed")
        if page.next_start is not None:
            # Clients walk a listing page after page: render the next one while this one is
            # on its way and being parsed (same connection, same filters and page size).
            next_key = (*key[:2], page.next_start, page_size, page_number + 1, True, *key[6:])

            def prefetch() -> None:
                self._prefetched = _render_page(sim, next_key, filters)

            self._after = prefetch
        return _Response(200, page.body)

    # -- faults ------------------------------------------------------------------------------

    def _inject_faults(
        self, burst_key: tuple[Resource, str, int] | None, page_size: int
    ) -> _Response | None:
        """The request-level faults in their documented order (faults.py), or None."""
        sim = self.simulator
        faults = sim.faults
        if not faults.enabled:
            return None
        if sim._chance(faults.slow_rate):
            self._fault.append("slow")
            time.sleep(faults.slow_seconds)
        if sim._chance(faults.drop_rate):
            self._fault.append("drop")
            return _DROP
        if (
            burst_key is not None
            and burst_key[2] in faults.error_burst_pages
            and sim._burst_fails(burst_key, page_size, faults.error_burst_count)
        ):
            self._fault.append("burst")
        elif sim._chance(faults.error_rate):
            self._fault.append("error")
        else:
            return None
        return _server_error(sim._rng.choice(faults.error_statuses), sim._rng.random())


# ---------------------------------------------------------------------------------------------
# Helpers


def _json(payload: object) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def _render_page(sim: VantaSimulator, key: tuple[Any, ...], filters: Filters) -> _Page:
    """The page body for ``key`` (see _Handler._list), looking one record ahead."""
    resource, filter_hash, start, page_size, page_number, after_cursor, as_of, malformed_rate = key
    tenant = sim.tenant
    data: list[dict[str, Any]] = []
    first = last = -1
    has_next = malformed = False
    for index, record in tenant.scan(resource, as_of, filters, start):
        if len(data) == page_size:
            has_next = True
            break
        if first < 0:
            first = index
        last = index
        if malformed_rate:
            record, kind = tenant.serve(resource, index, record, malformed_rate)
            malformed = malformed or kind is not None
        data.append(record)
    code = _CURSOR_CODES[resource]
    page_info = {
        "startCursor": _encode_cursor(code, first, filter_hash, page_number) if data else None,
        "endCursor": _encode_cursor(code, last, filter_hash, page_number) if data else None,
        "hasNextPage": has_next,
        "hasPreviousPage": after_cursor,
    }
    body = _json({"results": {"pageInfo": page_info, "data": data}})
    return _Page(key, body, last + 1 if has_next else None, malformed)


def _server_error(status: int, draw: float) -> _Response:
    if status == 500 and draw < 0.5:
        # The real API sometimes wraps an empty "last page" in a 500: never data.
        payload: dict[str, Any] = {
            "results": {
                "pageInfo": {
                    "startCursor": None,
                    "endCursor": None,
                    "hasNextPage": False,
                    "hasPreviousPage": False,
                },
                "data": [],
            }
        }
    else:
        phrase = HTTPStatus(status).phrase
        payload = {
            "error": phrase.lower().replace(" ", "_"),
            "message": f"{phrase} (injected fault)",
        }
    return _Response(status, _json(payload))


def _encode_cursor(code: str, index: int, filter_hash: str, page: int) -> str:
    raw = json.dumps({"r": code, "i": index, "f": filter_hash, "p": page}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode()


def _decode_cursor(cursor: str, resource: Resource, filter_hash: str) -> tuple[int, int]:
    """(first index to scan, page number) from a cursor of this listing, or a 400."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded = json.loads(base64.b64decode(padded, altchars=b"-_", validate=True))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise _bad_request("pageCursor is not a valid cursor") from None
    if not (
        isinstance(decoded, dict)
        and isinstance(decoded.get("i"), int)
        and isinstance(decoded.get("p"), int)
        and decoded["i"] >= 0
        and decoded["p"] >= 1
    ):
        raise _bad_request("pageCursor is not a valid cursor")
    if decoded.get("r") != _CURSOR_CODES[resource] or decoded.get("f") != filter_hash:
        raise _bad_request(
            "pageCursor belongs to another listing: keep the same filters for every page"
        )
    return decoded["i"] + 1, decoded["p"] + 1


def _page_size(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_PAGE_SIZE
    if raw.isascii() and raw.isdigit() and 1 <= int(raw) <= MAX_PAGE_SIZE:
        return int(raw)
    raise _bad_request(f"pageSize must be an integer from 1 to {MAX_PAGE_SIZE}, got {raw!r}")


def _bad_request(message: str) -> _HttpError:
    return _HttpError(400, {"error": "invalid_request", "message": message})


def _not_found(path: str) -> _HttpError:
    return _HttpError(404, {"error": "not_found", "message": f"no route for {path}"})


def _unauthorized(error: str, message: str) -> _HttpError:
    return _HttpError(
        401,
        {"error": error, "message": message},
        (("WWW-Authenticate", f'Bearer error="{error}"'),),
    )


def _rate_limited(wait: int, client_id: str) -> _HttpError:
    return _HttpError(
        429,
        {"error": "rate_limited", "message": f"too many requests; retry after {wait} s"},
        (("Retry-After", str(wait)),),
        client_id=client_id,
    )


def _oauth_error(error: str, description: str) -> dict[str, str]:
    return {"error": error, "error_description": description}


def _trim_tokens(tokens: dict[str, _Token], active: dict[str, str], keep: int = 10_000) -> None:
    """Forget the oldest inactive tokens beyond ``keep`` (they then read as invalid)."""
    if len(tokens) <= keep:
        return
    live = set(active.values())
    for value in list(tokens)[: len(tokens) - keep]:
        if value not in live:
            del tokens[value]


def _require_int(name: str, value: object, *, minimum: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"simulator {name} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"simulator {name} must be >= {minimum}, got {value}")


def _is_positive(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )
