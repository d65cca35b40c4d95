"""VantaClient against a small in-memory fake of the Vanta API (httpx.MockTransport, no sockets)."""

from __future__ import annotations

import bisect
import json
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from vanta_vuln_stats.errors import (
    AuthenticationError,
    ConfigError,
    RateLimitedError,
    VantaApiError,
)
from vanta_vuln_stats.model.fields import Resource
from vanta_vuln_stats.vanta import (
    ClientStats,
    Page,
    RetryPolicy,
    StaticTokenSource,
    VantaClient,
    format_param,
    normalise_base_url,
)

SECRET = "vcs_secret_for_client_tests"
BASE_URL = "https://api.test"


@dataclass(frozen=True)
class Creds:
    client_id: str
    client_secret: str = field(repr=False)
    source: str = "a test credentials file"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


Fault = Callable[[httpx.Request, int], "httpx.Response | Exception | None"]


class FakeVantaApi:
    """The three list endpoints and the token endpoint, with one active token per application.

    Cursors are the index of the last record served. ``fault(request, n)`` (n = 1-based number of
    the data request) may return a response or an exception to serve instead.
    """

    def __init__(self, clock: FakeClock, counts: dict[Resource, int] | None = None) -> None:
        counts = counts or {r: 250 for r in Resource}
        self.clock = clock
        self.records = {
            r.api_path: [{"id": f"{r.value[:4]}-{i:05d}", "n": i} for i in range(counts.get(r, 0))]
            for r in Resource
        }
        self.lock = threading.Lock()
        self.token: str | None = None
        self.mints = 0
        self.requests: list[httpx.Request] = []
        self.sent_at: list[float] = []
        self.fault: Fault | None = None
        self.always_401 = False

    def ids(self, resource: Resource, start: int = 0) -> list[str]:
        return [r["id"] for r in self.records[resource.api_path][start:]]

    def revoke(self) -> None:
        """What happens when someone else mints a token for the same application."""
        self.token = None

    def params(self) -> list[dict[str, str]]:
        return [dict(r.url.params) for r in self.requests]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            with self.lock:
                self.mints += 1
                self.token = f"vat_fake_token_{self.mints}"
            return httpx.Response(200, json={"access_token": self.token, "expires_in": 3600})
        with self.lock:
            self.requests.append(request)
            self.sent_at.append(self.clock.now)
            number = len(self.requests)
        if self.fault is not None:
            reply = self.fault(request, number)
            if isinstance(reply, Exception):
                raise reply
            if reply is not None:
                return reply
        if self.always_401 or request.headers.get("Authorization") != f"Bearer {self.token}":
            return httpx.Response(401, json={"message": "Unauthorized"})
        records = self.records.get(request.url.path)
        if records is None:
            return httpx.Response(404, json={"message": "Not Found"})
        size = int(request.url.params.get("pageSize", "10"))
        if not 1 <= size <= 100:
            return httpx.Response(400, json={"message": "pageSize must be between 1 and 100"})
        cursor = request.url.params.get("pageCursor")
        start = int(cursor) + 1 if cursor is not None else 0
        chunk = records[start : start + size]
        end = start + len(chunk) - 1
        body = {
            "results": {
                "pageInfo": {
                    "startCursor": str(start) if chunk else None,
                    "endCursor": str(end) if chunk else None,
                    "hasNextPage": start + size < len(records),
                    "hasPreviousPage": start > 0,
                },
                "data": chunk,
            }
        }
        return httpx.Response(200, json=body)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def api(clock: FakeClock) -> FakeVantaApi:
    return FakeVantaApi(clock)


@pytest.fixture
def make_client(api: FakeVantaApi, clock: FakeClock) -> Iterator[Callable[..., VantaClient]]:
    clients: list[VantaClient] = []

    def make(**kwargs: Any) -> VantaClient:
        options: dict[str, Any] = {
            "base_url": BASE_URL,
            "transport": httpx.MockTransport(api),
            "requests_per_minute": None,
            "retry": RetryPolicy(sleep=clock.sleep, random=lambda low, high: high),
            "clock": clock.monotonic,
        }
        options.update(kwargs)
        client = VantaClient(Creds("vci_client", SECRET), **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def ids_of(records: Iterator[dict[str, Any]]) -> list[str]:
    return [r["id"] for r in records]


# -- pagination ---------------------------------------------------------------------------------


def test_walk_returns_every_record_once_in_order(
    api: FakeVantaApi, make_client: Callable[..., VantaClient]
) -> None:
    client = make_client()
    pages = list(client.iter_pages(Resource.VULNERABLE_ASSETS, {"assetType": "SERVER"}))

    assert [p.number for p in pages] == [1, 2, 3]
    assert [len(p.records) for p in pages] == [100, 100, 50]
    assert [p.request_cursor for p in pages] == [None, "99", "199"]
    assert [p.end_cursor for p in pages] == ["99", "199", "249"]
    assert [p.has_next for p in pages] == [True, True, False]
    assert [r["id"] for p in pages for r in p.records] == api.ids(Resource.VULNERABLE_ASSETS)
    # Every request carries pageSize=100 and the same filters; only the cursor moves.
    assert api.params() == [
        {"assetType": "SERVER", "pageSize": "100"},
        {"assetType": "SERVER", "pageSize": "100", "pageCursor": "99"},
        {"assetType": "SERVER", "pageSize": "100", "pageCursor": "199"},
    ]
    assert all(r.url.path == "/v1/vulnerable-assets" for r in api.requests)


def test_exact_multiple_of_the_page_size(
    clock: FakeClock, make_client: Callable[..., VantaClient]
) -> None:
    api = FakeVantaApi(clock, {Resource.VULNERABILITY_REMEDIATIONS: 200})
    client = make_client(transport=httpx.MockTransport(api))
    pages = list(client.iter_pages("vulnerability_remediations"))
    assert [len(p.records) for p in pages] == [100, 100]
    assert ids_of(client.iter_remediations()) == api.ids(Resource.VULNERABILITY_REMEDIATIONS)


def test_empty_listing_is_one_empty_page(
    clock: FakeClock, make_client: Callable[..., VantaClient]
) -> None:
    api = FakeVantaApi(clock, {Resource.VULNERABLE_ASSETS: 0})
    client = make_client(transport=httpx.MockTransport(api))
    pages = list(client.iter_pages(Resource.VULNERABLE_ASSETS))
    assert [(p.records, p.has_next, p.end_cursor) for p in pages] == [([], False, None)]


def test_resume_from_a_cursor_yields_exactly_the_remainder(
    api: FakeVantaApi, make_client: Callable[..., VantaClient]
) -> None:
    client = make_client(page_size=40)
    walk = client.iter_pages(Resource.VULNERABILITIES)
    first, second = next(walk), next(walk)
    walk.close()

    resumed = list(client.iter_pages(Resource.VULNERABILITIES, cursor=second.end_cursor))

    assert resumed[0].request_cursor == second.end_cursor
    assert resumed[0].number == 1
    seen = [r["id"] for p in (first, second, *resumed) for r in p.records]
    assert seen == api.ids(Resource.VULNERABILITIES)
    assert [r["id"] for p in resumed for r in p.records] == api.ids(Resource.VULNERABILITIES, 80)


def test_iter_records_with_a_cursor(
    api: FakeVantaApi, make_client: Callable[..., VantaClient]
) -> None:
    client = make_client()
    assert ids_of(client.iter_assets(cursor="149")) == api.ids(Resource.VULNERABLE_ASSETS, 150)


def test_configured_page_size_is_sent(
    api: FakeVantaApi, make_client: Callable[..., VantaClient]
) -> None:
    client = make_client(page_size=7)
    assert ids_of(client.iter_remediations()) == api.ids(Resource.VULNERABILITY_REMEDIATIONS)
    assert {p["pageSize"] for p in api.params()} == {"7"}
    assert len(api.requests) == 36  # ceil(250 / 7)


def test_on_page_hook_sees_every_page_before_it_is_yielded(
    api: FakeVantaApi, make_client: Callable[..., VantaClient]
) -> None:
    seen: list[tuple[int, int]] = []
    client = make_client(on_page=lambda page: seen.append((page.number, len(page.records))))
    walk = client.iter_pages(Resource.VULNERABILITIES)
    next(walk)
    assert seen == [(1, 100)]
    list(walk)
    assert seen == [(1, 100), (2, 100), (3, 50)]


def test_stats_count_requests_pages_records_and_mints(
    api: FakeVantaApi, make_client: Callable[..., VantaClient]
) -> None:
    client = make_client()
    list(client.iter_vulnerabilities())
    list(client.iter_assets())
    stats = client.stats
    assert isinstance(stats, ClientStats)
    assert (stats.requests, stats.pages, stats.records, stats.token_mints) == (6, 6, 500, 1)
    assert (stats.retries, stats.rate_limited, stats.server_errors, stats.transport_errors) == (
        0,
        0,
        0,
        0,
    )


# -- parameters ---------------------------------------------------------------------------------


def test_params_pass_through_with_api_formatting(
    api: FakeVantaApi, make_client: Callable[..., VantaClient]
) -> None:
    client = make_client()
    cest = timezone(timedelta(hours=2))
    params = {
        "q": "nginx web",
        "isFixAvailable": True,
        "isDeactivated": False,
        "slaDeadlineAfterDate": datetime(2024, 1, 2, 5, 4, 5, tzinfo=cest),
        "slaDeadlineBeforeDate": datetime(2024, 3, 1, 12, 0, 0, 250000),
        "remediatedAfterDate": date(2024, 1, 1),
        "severity": "CRITICAL",
        "someFutureFilter": 42,
        "integrationId": None,
    }
    list(client.iter_pages(Resource.VULNERABILITIES, params))
    expected = {
        "q": "nginx web",
        "isFixAvailable": "true",
        "isDeactivated": "false",
        "slaDeadlineAfterDate": "2024-01-02T03:04:05Z",
        "slaDeadlineBeforeDate": "2024-03-01T12:00:00.250Z",
        "remediatedAfterDate": "2024-01-01T00:00:00Z",
        "severity": "CRITICAL",
        "someFutureFilter": "42",
        "pageSize": "100",
    }
    assert api.params()[0] == expected
    assert api.params()[2] == {**expected, "pageCursor": "199"}


def test_format_param() -> None:
    assert format_param(True) == "true"
    assert format_param(False) == "false"
    assert format_param(Resource.VULNERABILITIES) == "vulnerabilities"
    assert format_param(datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)) == "2024-05-06T07:08:09Z"
    assert format_param(["HIGH", "LOW"]) == ["HIGH", "LOW"]
    assert format_param(2.5) == "2.5"


def test_list_params_are_repeated(
    api: FakeVantaApi, make_client: Callable[..., VantaClient]
) -> None:
    client = make_client()
    list(client.iter_pages(Resource.VULNERABLE_ASSETS, {"assetType": ["SERVER", "WORKSTATION"]}))
    assert api.requests[0].url.params.get_list("assetType") == ["SERVER", "WORKSTATION"]


def test_vulnerabilities_default_to_one_complete_pass(
    api: FakeVantaApi, make_client: Callable[..., VantaClient]
) -> None:
    client = make_client()
    assert ids_of(client.iter_vulnerabilities()) == api.ids(Resource.VULNERABILITIES)
    for params in api.params():
        assert params["includeVulnerabilitiesWithoutSlas"] == "true"
        assert "isDeactivated" not in params


def test_default_params_match_the_per_resource_methods(
    api: FakeVantaApi, make_client: Callable[..., VantaClient]
) -> None:
    client = make_client()
    assert client.default_params(Resource.VULNERABILITIES) == {
        "includeVulnerabilitiesWithoutSlas": True
    }
    assert client.default_params("vulnerable_assets") == {}
    assert client.default_params(Resource.VULNERABILITY_REMEDIATIONS) == {}
    # A fresh dict every time: callers may add to it.
    client.default_params(Resource.VULNERABILITIES)["severity"] = "LOW"
    list(client.iter_pages(Resource.VULNERABILITIES, client.default_params("vulnerabilities")))
    list(client.iter_vulnerabilities())
    assert api.params()[0] == api.params()[3]


def test_vulnerability_flags(api: FakeVantaApi, make_client: Callable[..., VantaClient]) -> None:
    client = make_client()
    list(client.iter_vulnerabilities(include_deactivated=False, severity="HIGH"))
    assert api.params()[0] == {
        "includeVulnerabilitiesWithoutSlas": "true",
        "isDeactivated": "false",
        "severity": "HIGH",
        "pageSize": "100",
    }
    api.requests.clear()
    list(client.iter_vulnerabilities(include_without_sla=False, isDeactivated=True))
    assert api.params()[0] == {"isDeactivated": "true", "pageSize": "100"}
    with pytest.raises(ConfigError, match="contradicts"):
        client.iter_vulnerabilities(include_deactivated=False, isDeactivated=True)


@pytest.mark.parametrize("key", ["pageSize", "pageCursor"])
def test_pagination_params_belong_to_the_client(
    key: str, make_client: Callable[..., VantaClient]
) -> None:
    with pytest.raises(ConfigError, match=key):
        make_client().iter_pages(Resource.VULNERABILITIES, {key: "5"})


@pytest.mark.parametrize("size", [0, 101, 500, -1, True, 10.0, "100"])
def test_page_size_outside_1_to_100_is_a_config_error(
    size: object, make_client: Callable[..., VantaClient]
) -> None:
    with pytest.raises(ConfigError, match="page size"):
        make_client(page_size=size)


def test_resource_by_name(api: FakeVantaApi, make_client: Callable[..., VantaClient]) -> None:
    client = make_client()
    assert ids_of(client.iter_records("vulnerability-remediations")) == api.ids(
        Resource.VULNERABILITY_REMEDIATIONS
    )
    with pytest.raises(ConfigError, match="unknown Vanta resource"):
        client.iter_records("assets")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://api.vanta.com", "https://api.vanta.com"),
        ("https://api.vanta.com/", "https://api.vanta.com"),
        ("https://api.vanta-gov.com/v1", "https://api.vanta-gov.com"),
        ("https://api.eu.vanta.com/v1/", "https://api.eu.vanta.com"),
        (" http://127.0.0.1:8080/v1 ", "http://127.0.0.1:8080"),
    ],
)
def test_base_url_normalisation(given: str, expected: str) -> None:
    assert normalise_base_url(given) == expected


@pytest.mark.parametrize("given", ["", "api.vanta.com", "ftp://x", "https://"])
def test_bad_base_url_is_a_config_error(given: str) -> None:
    with pytest.raises(ConfigError):
        normalise_base_url(given)


def test_regional_host_serves_both_token_and_data(
    api: FakeVantaApi, make_client: Callable[..., VantaClient]
) -> None:
    seen: list[str] = []

    def recording(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.scheme}://{request.url.host}{request.url.path}")
        return api(request)

    client = make_client(
        base_url="https://api.vanta-gov.com/v1/", transport=httpx.MockTransport(recording)
    )
    list(client.iter_assets())
    assert seen[0] == "POST https://api.vanta-gov.com/oauth/token"
    assert set(seen[1:]) == {"GET https://api.vanta-gov.com/v1/vulnerable-assets"}


def test_request_headers(api: FakeVantaApi, make_client: Callable[..., VantaClient]) -> None:
    list(make_client().iter_assets())
    headers = api.requests[0].headers
    assert headers["Accept"] == "application/json"
    assert headers["Authorization"] == "Bearer vat_fake_token_1"
    assert headers["User-Agent"].startswith("vanta-vuln-stats/")


def test_client_needs_credentials_or_a_token_source() -> None:
    with pytest.raises(ConfigError):
        VantaClient()


# -- authentication -----------------------------------------------------------------------------


def test_401_refreshes_the_token_once_and_retries(
    api: FakeVantaApi, make_client: Callable[..., VantaClient]
) -> None:
    # Given a token that gets revoked after the first page (someone minted a new one)
    client = make_client(on_page=lambda page: api.revoke() if page.number == 1 else None)
    # When the walk continues, the 401 leads to one new token and the same page is fetched again
    assert ids_of(client.iter_vulnerabilities()) == api.ids(Resource.VULNERABILITIES)
    assert api.mints == 2
    assert client.stats.auth_refreshes == 1
    assert client.stats.token_mints == 2
    assert [p.get("pageCursor") for p in api.params()] == [None, "99", "99", "199"]


def test_second_consecutive_401_is_an_authentication_error(
    api: FakeVantaApi, make_client: Callable[..., VantaClient]
) -> None:
    api.always_401 = True
    client = make_client()
    with pytest.raises(AuthenticationError) as info:
        list(client.iter_assets())
    assert info.value.status == 401
    assert "vat_fake_token" not in str(info.value)
    assert len(api.requests) == 2
    assert api.mints == 2


def test_static_token_cannot_recover_from_401(api: FakeVantaApi, clock: FakeClock) -> None:
    with (
        VantaClient(
            token_source=StaticTokenSource("vat_stale"),
            base_url=BASE_URL,
            transport=httpx.MockTransport(api),
            requests_per_minute=None,
        ) as client,
        pytest.raises(AuthenticationError),
    ):
        list(client.iter_assets())
    assert len(api.requests) == 1


def test_shared_token_source_across_threads_mints_once_after_revocation(
    api: FakeVantaApi, make_client: Callable[..., VantaClient]
) -> None:
    # Three threads walk the three resources with one client; the token is revoked mid-run.
    client = make_client(page_size=10)
    list(client.iter_assets(cursor="239"))
    api.revoke()
    results: dict[Resource, list[str]] = {}
    barrier = threading.Barrier(3)

    def walk(resource: Resource) -> None:
        barrier.wait()
        results[resource] = ids_of(client.iter_records(resource))

    threads = [threading.Thread(target=walk, args=(r,)) for r in Resource]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    for resource in Resource:
        assert results[resource] == api.ids(resource)
    assert api.mints == 2


# -- rate limiting ------------------------------------------------------------------------------


def test_429_waits_for_retry_after(
    api: FakeVantaApi, clock: FakeClock, make_client: Callable[..., VantaClient]
) -> None:
    api.fault = lambda request, n: (
        httpx.Response(429, headers={"Retry-After": "7"}) if n == 2 else None
    )
    client = make_client()
    assert ids_of(client.iter_assets()) == api.ids(Resource.VULNERABLE_ASSETS)
    assert clock.sleeps == [pytest.approx(7.0)]
    assert api.sent_at[2] - api.sent_at[1] == pytest.approx(7.0)
    stats = client.stats
    assert (stats.rate_limited, stats.retries, stats.server_errors) == (1, 1, 0)
    assert stats.paced_seconds == pytest.approx(7.0)


def test_429_without_retry_after_backs_off(
    api: FakeVantaApi, clock: FakeClock, make_client: Callable[..., VantaClient]
) -> None:
    api.fault = lambda request, n: httpx.Response(429) if n in (1, 2) else None
    client = make_client()
    assert ids_of(client.iter_assets()) == api.ids(Resource.VULNERABLE_ASSETS)
    assert clock.sleeps == [pytest.approx(0.5), pytest.approx(1.0)]


def test_429_does_not_spend_the_5xx_budget_but_is_bounded(
    api: FakeVantaApi, clock: FakeClock, make_client: Callable[..., VantaClient]
) -> None:
    # 7 server errors and 10 rate limits on one page still succeed with max_attempts=8...
    replies = [httpx.Response(503)] * 7 + [httpx.Response(429, headers={"Retry-After": "1"})] * 10
    api.fault = lambda request, n: replies[n - 1] if n <= len(replies) else None
    client = make_client(page_size=100)
    assert ids_of(client.iter_assets()) == api.ids(Resource.VULNERABLE_ASSETS)
    # ...but endless 429s give up with RateLimitedError.
    api.fault = lambda request, n: httpx.Response(429, headers={"Retry-After": "1"})
    api.requests.clear()
    limited = make_client(retry=RetryPolicy(max_rate_limited=5, sleep=clock.sleep))
    with pytest.raises(RateLimitedError) as info:
        list(limited.iter_assets())
    assert info.value.status == 429
    assert len(api.requests) == 6


def test_pacing_keeps_requests_under_the_limit(
    api: FakeVantaApi, clock: FakeClock, make_client: Callable[..., VantaClient]
) -> None:
    client = make_client(page_size=10, requests_per_minute=4, rate_window=60.0)
    assert ids_of(client.iter_assets()) == api.ids(Resource.VULNERABLE_ASSETS)
    stamps = api.sent_at
    assert len(stamps) == 25
    worst = max(bisect.bisect_left(stamps, s + 60.0) - i for i, s in enumerate(stamps))
    assert worst == 4
    # 25 requests at 4 a minute: six full windows of waiting, and no more.
    assert 6 * 60.0 <= clock.now <= 6 * 61.0


# -- server errors and transport failures -------------------------------------------------------


def test_5xx_is_retried_with_full_jitter_backoff(
    api: FakeVantaApi, clock: FakeClock, make_client: Callable[..., VantaClient]
) -> None:
    api.fault = lambda request, n: httpx.Response(503) if n <= 3 else None
    bounds: list[tuple[float, float]] = []

    def jitter(low: float, high: float) -> float:
        bounds.append((low, high))
        return high * 0.5

    client = make_client(retry=RetryPolicy(random=jitter, sleep=clock.sleep, shrink_after=100))
    assert ids_of(client.iter_assets()) == api.ids(Resource.VULNERABLE_ASSETS)
    assert bounds == [(0.0, 0.5), (0.0, 1.0), (0.0, 2.0)]
    assert clock.sleeps == [0.25, 0.5, 1.0]
    assert client.stats.server_errors == 3
    assert client.stats.retries == 3


def test_500_body_claiming_the_end_is_not_trusted(
    api: FakeVantaApi, make_client: Callable[..., VantaClient]
) -> None:
    lying = {
        "results": {
            "pageInfo": {
                "startCursor": None,
                "endCursor": None,
                "hasNextPage": False,
                "hasPreviousPage": True,
            },
            "data": [],
        }
    }
    api.fault = lambda request, n: httpx.Response(500, json=lying) if n == 2 else None
    client = make_client()
    assert ids_of(client.iter_assets()) == api.ids(Resource.VULNERABLE_ASSETS)


def test_repeated_5xx_shrinks_that_page_only(
    api: FakeVantaApi, make_client: Callable[..., VantaClient]
) -> None:
    # Given a server that fails twice on the second page (cursor "99")
    failures = {"left": 2}

    def fault(request: httpx.Request, n: int) -> httpx.Response | None:
        if request.url.params.get("pageCursor") == "99" and failures["left"]:
            failures["left"] -= 1
            return httpx.Response(500)
        return None

    api.fault = fault
    client = make_client()
    pages = list(client.iter_pages(Resource.VULNERABILITIES))

    # Then that page is retried at half size, and the next page is back at full size
    assert [(p.get("pageCursor"), p["pageSize"]) for p in api.params()] == [
        (None, "100"),
        ("99", "100"),
        ("99", "100"),
        ("99", "50"),
        ("149", "100"),
    ]
    assert [len(p.records) for p in pages] == [100, 50, 100]
    assert [p.page_size for p in pages] == [100, 50, 100]
    # And no record is lost or repeated
    assert [r["id"] for p in pages for r in p.records] == api.ids(Resource.VULNERABILITIES)
    assert client.stats.page_shrinks == 1


def test_page_size_keeps_halving_down_to_one(
    clock: FakeClock, make_client: Callable[..., VantaClient]
) -> None:
    api = FakeVantaApi(clock, {Resource.VULNERABILITIES: 30})

    def fault(request: httpx.Request, n: int) -> httpx.Response | None:
        # The first page fails until it is asked for a single record.
        size = int(request.url.params["pageSize"])
        return (
            httpx.Response(502)
            if request.url.params.get("pageCursor") is None and size > 1
            else None
        )

    api.fault = fault
    client = make_client(
        transport=httpx.MockTransport(api),
        page_size=8,
        retry=RetryPolicy(max_attempts=8, sleep=clock.sleep, random=lambda low, high: 0.0),
    )
    pages = list(client.iter_pages(Resource.VULNERABILITIES))
    sizes = [int(p["pageSize"]) for p in api.params()]
    assert sizes[:7] == [8, 8, 4, 4, 2, 2, 1]
    assert [p.page_size for p in pages] == [1, 8, 8, 8, 8]
    assert [r["id"] for p in pages for r in p.records] == api.ids(Resource.VULNERABILITIES)


def test_transport_errors_are_retried(
    api: FakeVantaApi, clock: FakeClock, make_client: Callable[..., VantaClient]
) -> None:
    errors: list[Exception] = [
        httpx.ConnectError("connection refused"),
        httpx.RemoteProtocolError("peer closed connection without sending complete message"),
        httpx.ReadTimeout("timed out"),
        httpx.ReadError("connection reset by peer"),
    ]
    api.fault = lambda request, n: errors[n - 2] if 2 <= n <= 5 else None
    client = make_client()
    assert ids_of(client.iter_assets()) == api.ids(Resource.VULNERABLE_ASSETS)
    assert client.stats.transport_errors == 4
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0]
    # Transport errors do not shrink the page.
    assert {p["pageSize"] for p in api.params()} == {"100"}


def test_non_json_200_is_retried(
    api: FakeVantaApi, make_client: Callable[..., VantaClient]
) -> None:
    api.fault = lambda request, n: (
        httpx.Response(200, text="<html>gateway</html>") if n == 1 else None
    )
    client = make_client()
    assert ids_of(client.iter_assets()) == api.ids(Resource.VULNERABLE_ASSETS)
    assert client.stats.retries == 1


def test_budget_exhaustion_names_endpoint_page_attempts_and_cause(
    api: FakeVantaApi, make_client: Callable[..., VantaClient]
) -> None:
    api.fault = lambda request, n: httpx.Response(503) if n >= 2 else None
    client = make_client()
    with pytest.raises(VantaApiError) as info:
        list(client.iter_pages(Resource.VULNERABILITY_REMEDIATIONS))
    message = str(info.value)
    assert "GET /v1/vulnerability-remediations page 2" in message
    assert "cursor 99" in message
    assert "after 8 attempts" in message
    assert "HTTP 503 Service Unavailable" in message
    assert info.value.status == 503
    assert len(api.requests) == 1 + 8


def test_budget_exhaustion_on_transport_errors(
    api: FakeVantaApi, clock: FakeClock, make_client: Callable[..., VantaClient]
) -> None:
    api.fault = lambda request, n: httpx.ConnectError("connection refused")
    client = make_client(retry=RetryPolicy(max_attempts=3, sleep=clock.sleep))
    with pytest.raises(VantaApiError, match="after 3 attempts; last cause: ConnectError"):
        list(client.iter_assets())
    assert len(api.requests) == 3


@pytest.mark.parametrize(
    ("status", "message"),
    [(400, "pageCursor is invalid"), (403, "Forbidden for this app"), (404, "Not Found")],
)
def test_other_4xx_fail_at_once_with_the_server_message(
    status: int, message: str, api: FakeVantaApi, make_client: Callable[..., VantaClient]
) -> None:
    api.fault = lambda request, n: httpx.Response(status, json={"message": message})
    client = make_client()
    with pytest.raises(VantaApiError) as info:
        list(client.iter_assets())
    assert not isinstance(info.value, AuthenticationError)
    assert info.value.status == status
    assert message in str(info.value)
    assert len(api.requests) == 1


def test_unsupported_protocol_is_not_retried(make_client: Callable[..., VantaClient]) -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "t", "expires_in": 3600})
        raise httpx.UnsupportedProtocol("unsupported")

    client = make_client(transport=httpx.MockTransport(broken))
    with pytest.raises(VantaApiError, match="could not be sent"):
        list(client.iter_assets())
    assert client.stats.requests == 1


def test_malformed_envelope_is_an_error(
    api: FakeVantaApi, make_client: Callable[..., VantaClient]
) -> None:
    api.fault = lambda request, n: httpx.Response(200, json={"data": []})
    with pytest.raises(VantaApiError, match=r"results\.data"):
        list(make_client().iter_assets())


@pytest.mark.parametrize("end_cursor", [None, "", "99"])
def test_has_next_without_a_new_cursor_is_an_error(
    end_cursor: str | None, api: FakeVantaApi, make_client: Callable[..., VantaClient]
) -> None:
    body = {
        "results": {
            "pageInfo": {"endCursor": end_cursor, "hasNextPage": True},
            "data": [{"id": "x"}],
        }
    }
    api.fault = lambda request, n: httpx.Response(200, json=body) if n == 2 else None
    with pytest.raises(VantaApiError, match="hasNextPage"):
        list(make_client().iter_assets())


# -- secrets ------------------------------------------------------------------------------------


def test_secrets_absent_from_repr_errors_and_logs(
    api: FakeVantaApi, make_client: Callable[..., VantaClient], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    replies = {
        2: httpx.Response(429, headers={"Retry-After": "1"}),
        3: httpx.Response(500),
        4: httpx.ConnectError("refused"),
    }

    def fault(request: httpx.Request, n: int) -> httpx.Response | Exception | None:
        if n == 5:
            api.revoke()
        if n == 9:
            # A server that echoes the request, token included, in its error message.
            echoed = request.headers["Authorization"]
            return httpx.Response(400, json={"message": f"bad request with {echoed}"})
        return replies.get(n)

    api.fault = fault
    client = make_client(page_size=30)
    with pytest.raises(VantaApiError) as info:
        list(client.iter_assets())
    tokens = [f"vat_fake_token_{i}" for i in range(1, api.mints + 1)]
    assert len(tokens) == 2
    text = "\n".join([caplog.text, repr(client), str(info.value), repr(client.token_source)])
    for secret in (SECRET, *tokens):
        assert secret not in text
    assert "bad request with Bearer ***" in str(info.value)
    assert repr(client) == (
        "VantaClient(base_url='https://api.test', page_size=30, requests_per_minute=None)"
    )


def test_page_is_immutable_and_carries_its_resource(
    api: FakeVantaApi, make_client: Callable[..., VantaClient]
) -> None:
    page = next(make_client().iter_pages("vulnerabilities"))
    assert isinstance(page, Page)
    assert page.resource is Resource.VULNERABILITIES
    with pytest.raises(AttributeError):
        page.number = 5  # type: ignore[misc]
    assert json.dumps(page.records[0]) == json.dumps(api.records["/v1/vulnerabilities"][0])
