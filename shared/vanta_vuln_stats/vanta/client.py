"""The Vanta REST API client for the three vulnerability list endpoints.

It walks cursor pagination page by page (never holding more than one page), paces requests
under the per-application limit, retries what is worth retrying, and shrinks the page size of a
page the server keeps failing on. See ``retry`` for what is retried and ``pacing`` for why the
pacer never lets the server count more requests than the limit.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum
from types import TracebackType
from typing import Any

import httpx
import orjson

from .. import __version__
from ..errors import AuthenticationError, ConfigError, RateLimitedError, VantaApiError
from ..model.fields import Resource
from .auth import ClientCredentials, OAuthTokenSource, TokenSource
from .pacing import RequestPacer
from .retry import RetryPolicy, describe_error

logger = logging.getLogger("vanta_vuln_stats.vanta")

DEFAULT_BASE_URL = "https://api.vanta.com"
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 100
DEFAULT_USER_AGENT = f"vanta-vuln-stats/{__version__}"
# Pagination parameters the client owns; a caller passes them as page_size= and cursor=.
_PAGINATION_PARAMS = {"pageSize": "page_size", "pageCursor": "cursor"}

QueryValue = str | list[str]


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a walk.

    number          1-based position within this walk
    request_cursor  the cursor this page was fetched with (None for the first page of a listing)
    end_cursor      resume with ``cursor=page.end_cursor`` to get exactly the pages after this one
    page_size       the pageSize sent; smaller than configured when the page was shrunk after 5xx
    """

    resource: Resource
    records: list[dict[str, Any]]
    end_cursor: str | None
    has_next: bool
    number: int
    request_cursor: str | None
    page_size: int | None = None


@dataclass(frozen=True, slots=True)
class ClientStats:
    """Counters of one client since it was created (a snapshot).

    requests          HTTP requests sent to the list endpoints (token requests not included)
    retries           requests repeated for any reason (5xx, transport, 429, 401)
    rate_limited      429 answers
    server_errors     5xx answers
    transport_errors  timeouts and dropped, reset or garbled connections
    token_mints       tokens minted by the token source
    pages, records    pages and records delivered
    auth_refreshes    401 answers that led to a fresh token
    page_shrinks      times a failing page was retried with half the page size
    paced_seconds     time spent waiting for the rate limit (pacing and Retry-After)
    """

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    server_errors: int = 0
    transport_errors: int = 0
    token_mints: int = 0
    pages: int = 0
    records: int = 0
    auth_refreshes: int = 0
    page_shrinks: int = 0
    paced_seconds: float = 0.0


class _Counters:
    """Mutable, thread-safe counters behind ``VantaClient.stats``."""

    __slots__ = (
        "_lock",
        "auth_refreshes",
        "page_shrinks",
        "pages",
        "rate_limited",
        "records",
        "requests",
        "retries",
        "server_errors",
        "transport_errors",
    )

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = self.retries = self.rate_limited = self.server_errors = 0
        self.transport_errors = self.pages = self.records = 0
        self.auth_refreshes = self.page_shrinks = 0

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + amount)

    def add_page(self, records: int) -> None:
        with self._lock:
            self.pages += 1
            self.records += records


def normalise_base_url(base_url: str) -> str:
    """``https://host`` from what a user may type: a trailing slash or ``/v1`` is dropped."""
    url = (base_url or "").strip().rstrip("/")
    if url.endswith("/v1"):
        url = url[: -len("/v1")].rstrip("/")
    if not url.startswith(("https://", "http://")) or len(url.split("://", 1)[1]) == 0:
        raise ConfigError(
            f"the Vanta API base URL must look like https://api.vanta.com, not {base_url!r}"
        )
    return url


def format_param(value: object) -> QueryValue:
    """A query value as the API expects it: lower-case booleans, ISO-8601 UTC instants with Z."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return format_param(value.value)
    if isinstance(value, datetime):
        return _iso_utc(value)
    if isinstance(value, date):
        return f"{value.isoformat()}T00:00:00Z"
    if isinstance(value, list | tuple | set | frozenset):
        items: list[str] = []
        for item in value:
            formatted = format_param(item)
            items.extend(formatted if isinstance(formatted, list) else [formatted])
        return items
    return str(value)


def _iso_utc(value: datetime) -> str:
    # A naive datetime is taken to be UTC already, like every instant the API sends.
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if value.microsecond:
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _resource(resource: Resource | str) -> Resource:
    if isinstance(resource, Resource):
        return resource
    key = str(resource).strip().lower().replace("-", "_")
    try:
        return Resource(key)
    except ValueError:
        choices = ", ".join(r.value for r in Resource)
        raise ConfigError(
            f"unknown Vanta resource {resource!r}; expected one of {choices}"
        ) from None


class VantaClient:
    """Reads the Vanta vulnerability list endpoints. Thread safe; use as a context manager.

    Give it ``credentials`` (client id and secret; an ``OAuthTokenSource`` is built on the same
    connection pool) or a ``token_source`` shared with other clients. ``requests_per_minute``
    paces requests per ``rate_window`` seconds (None or 0: no limit). ``on_page`` is called with
    every page before it is yielded. ``clock`` drives the pacer and token expiry (tests inject a
    fake one together with ``RetryPolicy(sleep=...)``).
    """

    def __init__(
        self,
        credentials: ClientCredentials | None = None,
        *,
        token_source: TokenSource | None = None,
        base_url: str = DEFAULT_BASE_URL,
        page_size: int = DEFAULT_PAGE_SIZE,
        requests_per_minute: int | None = 50,
        rate_window: float = 60.0,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        user_agent: str = DEFAULT_USER_AGENT,
        on_page: Callable[[Page], None] | None = None,
        max_connections: int = 10,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(page_size, bool) or not isinstance(page_size, int):
            raise ConfigError(f"page size must be a whole number from 1 to 100, not {page_size!r}")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ConfigError(
                f"page size must be from 1 to {MAX_PAGE_SIZE} (the API rejects larger pages), "
                f"not {page_size}"
            )
        if timeout <= 0 or connect_timeout <= 0:
            raise ConfigError("timeouts must be positive numbers of seconds")
        if credentials is None and token_source is None:
            raise ConfigError("VantaClient needs credentials or a token_source")
        self.base_url = normalise_base_url(base_url)
        self.page_size = page_size
        self.requests_per_minute = requests_per_minute or None
        self.retry = retry or RetryPolicy()
        self._on_page = on_page
        self._pacer = RequestPacer(
            requests_per_minute, rate_window, clock=clock, sleep=self.retry.sleep
        )
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Accept": "application/json", "User-Agent": user_agent},
            timeout=httpx.Timeout(
                connect=connect_timeout, read=timeout, write=timeout, pool=timeout
            ),
            limits=httpx.Limits(
                max_connections=max_connections,
                max_keepalive_connections=max_connections,
                keepalive_expiry=30.0,
            ),
            transport=transport,
            follow_redirects=False,
        )
        if token_source is None:
            assert credentials is not None
            token_source = OAuthTokenSource(
                credentials, base_url=self.base_url, http=self._http, clock=clock, retry=self.retry
            )
        self.token_source: TokenSource = token_source
        self._counters = _Counters()

    # -- public API ---------------------------------------------------------------------------

    @property
    def stats(self) -> ClientStats:
        c = self._counters
        with c._lock:
            return ClientStats(
                requests=c.requests,
                retries=c.retries,
                rate_limited=c.rate_limited,
                server_errors=c.server_errors,
                transport_errors=c.transport_errors,
                token_mints=int(getattr(self.token_source, "mint_count", 0)),
                pages=c.pages,
                records=c.records,
                auth_refreshes=c.auth_refreshes,
                page_shrinks=c.page_shrinks,
                paced_seconds=self._pacer.waited_seconds,
            )

    def iter_pages(
        self,
        resource: Resource | str,
        params: Mapping[str, object] | None = None,
        *,
        cursor: str | None = None,
    ) -> Iterator[Page]:
        """Pages of ``resource`` from ``cursor`` (the start when None) to the end.

        ``params`` are API query parameters passed as given (booleans become true/false, dates
        ISO-8601 UTC); None values are left out. Pagination is the client's: pageSize is always
        sent, and pageCursor follows endCursor while hasNextPage is true.
        """
        target = _resource(resource)
        query = self._query(params)
        return self._walk(target, query, cursor)

    def iter_records(
        self,
        resource: Resource | str,
        params: Mapping[str, object] | None = None,
        *,
        cursor: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """The records of ``iter_pages``, one by one, exactly as the API sent them."""
        pages = self.iter_pages(resource, params, cursor=cursor)
        return (record for page in pages for record in page.records)

    def iter_vulnerabilities(
        self,
        *,
        include_deactivated: bool = True,
        include_without_sla: bool = True,
        cursor: str | None = None,
        **filters: object,
    ) -> Iterator[dict[str, Any]]:
        """Vulnerabilities, active and deactivated alike unless told otherwise.

        One pass returns both kinds; the earlier tool made a second pass with
        isDeactivated=true. The API includes deactivated findings when ``isDeactivated`` is
        absent, so by default it is not sent; ``include_deactivated=False`` sends
        ``isDeactivated=false``. ``includeVulnerabilitiesWithoutSlas=true`` is sent by default
        because the API leaves findings without an SLA deadline out otherwise.

        ``filters`` are API query parameters (``severity="CRITICAL"``, ``isFixAvailable=True``,
        ``slaDeadlineAfterDate=datetime(...)``...). An explicit ``isDeactivated`` or
        ``includeVulnerabilitiesWithoutSlas`` filter wins over its flag's default;
        contradicting a flag the caller set raises ConfigError.
        """
        params: dict[str, object] = {}
        if include_without_sla:
            params.update(self.default_params(Resource.VULNERABILITIES))
        params.update(filters)
        if not include_deactivated:
            given = params.get("isDeactivated")
            if given is not None and format_param(given) != "false":
                raise ConfigError(
                    f"include_deactivated=False contradicts the filter "
                    f"isDeactivated={format_param(given)}"
                )
            params["isDeactivated"] = False
        return self.iter_records(Resource.VULNERABILITIES, params, cursor=cursor)

    def default_params(self, resource: Resource | str) -> dict[str, object]:
        """The query parameters the per-resource methods send by default (a new dict).

        For ``iter_pages`` callers that want the same complete walk: vulnerabilities get
        ``includeVulnerabilitiesWithoutSlas=true`` and no ``isDeactivated``; the other two
        listings need nothing.
        """
        if _resource(resource) is Resource.VULNERABILITIES:
            return {"includeVulnerabilitiesWithoutSlas": True}
        return {}

    def iter_remediations(
        self, *, cursor: str | None = None, **filters: object
    ) -> Iterator[dict[str, Any]]:
        """Vulnerability remediation records (``remediatedAfterDate=...`` and other filters)."""
        return self.iter_records(Resource.VULNERABILITY_REMEDIATIONS, filters, cursor=cursor)

    def iter_assets(
        self, *, cursor: str | None = None, **filters: object
    ) -> Iterator[dict[str, Any]]:
        """Vulnerable assets (``assetType=...``, ``integrationId=...`` and other filters)."""
        return self.iter_records(Resource.VULNERABLE_ASSETS, filters, cursor=cursor)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> VantaClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        limit = self.requests_per_minute
        return (
            f"VantaClient(base_url={self.base_url!r}, page_size={self.page_size}, "
            f"requests_per_minute={limit})"
        )

    # -- internals ----------------------------------------------------------------------------

    def _query(self, params: Mapping[str, object] | None) -> dict[str, QueryValue]:
        query: dict[str, QueryValue] = {}
        for key, value in (params or {}).items():
            if key in _PAGINATION_PARAMS:
                raise ConfigError(
                    f"{key} is managed by the client; pass {_PAGINATION_PARAMS[key]}= instead"
                )
            if value is not None:
                query[key] = format_param(value)
        return query

    def _walk(
        self, resource: Resource, query: dict[str, QueryValue], cursor: str | None
    ) -> Iterator[Page]:
        number = 0
        while True:
            number += 1
            page = self._fetch_page(resource, query, cursor, number)
            self._counters.add_page(len(page.records))
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug(
                    "%s page %d: %d records, has next %s",
                    resource.value,
                    number,
                    len(page.records),
                    page.has_next,
                )
            if self._on_page is not None:
                self._on_page(page)
            yield page
            if not page.has_next:
                return
            cursor = page.end_cursor
            # Let the consumer's page go before fetching the next one: one page in memory.
            del page

    def _fetch_page(
        self,
        resource: Resource,
        query: Mapping[str, QueryValue],
        cursor: str | None,
        number: int,
    ) -> Page:
        policy = self.retry
        counters = self._counters
        path = resource.api_path
        page_size = self.page_size
        attempts = failures = server_errors = rate_limited = 0
        refreshed_after_401 = False
        last_cause = ""

        while True:
            params: dict[str, QueryValue] = {**query, "pageSize": str(page_size)}
            if cursor is not None:
                params["pageCursor"] = cursor
            attempts += 1
            counters.add("requests")
            try:
                with self._pacer:
                    # Taken after any pacing wait, so a long pause cannot leave it expired.
                    token = self.token_source.get_token()
                    response = self._http.get(
                        path, params=params, headers={"Authorization": f"Bearer {token}"}
                    )
            except httpx.TransportError as exc:
                if not policy.is_retryable_error(exc):
                    raise VantaApiError(
                        f"GET {path} page {number} could not be sent to {self.base_url}: "
                        f"{describe_error(exc)}"
                    ) from exc
                counters.add("transport_errors")
                failures += 1
                last_cause = describe_error(exc)
                self._backoff_or_fail(path, number, cursor, attempts, failures, last_cause, None)
                continue

            status = response.status_code
            if status == 200:
                page = self._parse_page(resource, response, cursor, number, page_size)
                if page is not None:
                    return page
                failures += 1
                last_cause = "HTTP 200 with a body that is not JSON"
                self._backoff_or_fail(path, number, cursor, attempts, failures, last_cause, status)
                continue

            if status == 401:
                if refreshed_after_401:
                    raise AuthenticationError(
                        f"Vanta rejected a freshly issued access token (401) on GET {path} page "
                        f"{number}: the application may lack read access to this endpoint, or "
                        f"another client keeps minting tokens with the same credentials",
                        status=401,
                    )
                refreshed_after_401 = True
                counters.add("auth_refreshes")
                counters.add("retries")
                self.token_source.invalidate(token)
                continue
            refreshed_after_401 = False

            if status == 429:
                counters.add("rate_limited")
                rate_limited += 1
                if rate_limited > policy.max_rate_limited:
                    raise RateLimitedError(
                        f"GET {path} page {number}{_at(cursor)} was rate-limited (429) "
                        f"{rate_limited} times in {attempts} attempts; lower "
                        f"requests_per_minute or check for other clients using the same "
                        f"application",
                        status=429,
                    )
                delay = policy.retry_after(response, rate_limited - 1)
                # The pause applies to every request of this client, not only this one.
                self._pacer.penalize(delay)
                counters.add("retries")
                logger.info(
                    "GET %s page %d rate-limited (429); pausing requests for %.1f s",
                    path,
                    number,
                    delay,
                )
                continue

            if policy.is_retryable_status(status):
                counters.add("server_errors")
                failures += 1
                server_errors += 1
                last_cause = f"HTTP {status} {response.reason_phrase}".strip()
                if server_errors % policy.shrink_after == 0 and page_size > 1:
                    # A page the server keeps failing on is often one it cannot build in time;
                    # a smaller page from the same cursor gets past it without skipping records.
                    page_size = max(1, page_size // 2)
                    counters.add("page_shrinks")
                    logger.warning(
                        "GET %s page %d failed %d times; retrying with pageSize %d",
                        path,
                        number,
                        server_errors,
                        page_size,
                    )
                self._backoff_or_fail(path, number, cursor, attempts, failures, last_cause, status)
                continue

            raise VantaApiError(
                f"Vanta API answered HTTP {status} {response.reason_phrase} to GET {path} page "
                f"{number}{_at(cursor)}: {_server_message(response, token)}",
                status=status,
            )

    def _backoff_or_fail(
        self,
        path: str,
        number: int,
        cursor: str | None,
        attempts: int,
        failures: int,
        cause: str,
        status: int | None,
    ) -> None:
        policy = self.retry
        if failures >= policy.max_attempts:
            raise VantaApiError(
                f"GET {path} page {number}{_at(cursor)} failed after {attempts} attempts; "
                f"last cause: {cause}",
                status=status,
            )
        delay = policy.backoff(failures - 1)
        self._counters.add("retries")
        # Retries are expected on a long walk; they are counted in the client's stats and shown
        # with --verbose. Only giving up is an error.
        logger.info(
            "GET %s page %d failed (%s); retry %d of %d in %.2f s",
            path,
            number,
            cause,
            failures,
            policy.max_attempts - 1,
            delay,
        )
        policy.sleep(delay)

    def _parse_page(
        self,
        resource: Resource,
        response: httpx.Response,
        cursor: str | None,
        number: int,
        page_size: int,
    ) -> Page | None:
        """The page in a 200 response; None when the body is not JSON (worth a retry)."""
        try:
            payload = _loads(response.content)
        except ValueError:
            return None
        path = resource.api_path
        results = payload.get("results") if isinstance(payload, dict) else None
        data = results.get("data") if isinstance(results, dict) else None
        page_info = results.get("pageInfo") if isinstance(results, dict) else None
        if not isinstance(data, list) or not isinstance(page_info, dict):
            raise VantaApiError(
                f"GET {path} page {number}{_at(cursor)} answered 200 without the expected "
                f"results.data and results.pageInfo",
                status=200,
            )
        has_next = page_info.get("hasNextPage") is True
        end_cursor = page_info.get("endCursor")
        if end_cursor is not None and not isinstance(end_cursor, str):
            end_cursor = str(end_cursor)
        if has_next and (not end_cursor or end_cursor == cursor):
            # Following it would either stop early or loop forever on the same page.
            raise VantaApiError(
                f"GET {path} page {number}{_at(cursor)} says hasNextPage but gives "
                f"{'no new endCursor' if end_cursor else 'no endCursor'}",
                status=200,
            )
        return Page(
            resource=resource,
            records=data,
            end_cursor=end_cursor,
            has_next=has_next,
            number=number,
            request_cursor=cursor,
            page_size=page_size,
        )


def _at(cursor: str | None) -> str:
    if cursor is None:
        return ""
    shown = cursor if len(cursor) <= 80 else cursor[:77] + "..."
    return f" (cursor {shown})"


def _loads(content: bytes) -> Any:
    """orjson parses a page several times faster; the standard parser takes what orjson
    refuses but Python accepts (lone surrogates in a string), so one odd record is rejected by
    validation instead of failing its whole page."""
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return json.loads(content)


def _server_message(response: httpx.Response, token: str) -> str:
    """The server's own words about an error, read defensively (no error schema is documented).

    The token is masked in case the server echoes the request back.
    """
    message = ""
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        for key in ("message", "error_description", "error"):
            value = payload.get(key)
            if isinstance(value, str) and value:
                message = value
                break
    if not message:
        message = response.text.strip() or "(no message)"
    if token and token in message:
        message = message.replace(token, "***")
    return message[:300]
