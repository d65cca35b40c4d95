"""Token sources: the OAuth mint, caching and early refresh, single flight, failures, secrecy."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from vanta_vuln_stats.errors import AuthenticationError, RateLimitedError, VantaApiError
from vanta_vuln_stats.vanta.auth import OAuthTokenSource, StaticTokenSource, TokenSource
from vanta_vuln_stats.vanta.retry import RetryPolicy

SECRET = "vcs_super_secret_value_123"
CLIENT_ID = "vci_client_abc"
BASE_URL = "https://api.test"


@dataclass(frozen=True)
class Creds:
    client_id: str
    client_secret: str = field(repr=False)
    source: str = "env VANTA_CLIENT_ID/VANTA_CLIENT_SECRET"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


Reply = httpx.Response | Exception


class TokenEndpoint:
    """A fake /oauth/token: scripted replies first, then fresh tokens."""

    def __init__(self, *, expires_in: object = 3600, delay: float = 0.0) -> None:
        self.expires_in = expires_in
        self.delay = delay
        self.script: list[Reply] = []
        self.requests: list[httpx.Request] = []
        self.issued: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests.append(request)
            reply = self.script.pop(0) if self.script else None
        if self.delay:
            time.sleep(self.delay)
        if isinstance(reply, Exception):
            raise reply
        if reply is not None:
            return reply
        with self._lock:
            token = f"vat_token_{len(self.issued) + 1}"
            self.issued.append(token)
        body: dict[str, object] = {"access_token": token, "token_type": "Bearer"}
        if self.expires_in is not None:
            body["expires_in"] = self.expires_in
        return httpx.Response(200, json=body)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def endpoint() -> TokenEndpoint:
    return TokenEndpoint()


@pytest.fixture
def make_source(
    clock: FakeClock, endpoint: TokenEndpoint
) -> Iterator[Callable[..., OAuthTokenSource]]:
    clients: list[httpx.Client] = []

    def make(**kwargs: object) -> OAuthTokenSource:
        http = httpx.Client(transport=httpx.MockTransport(endpoint))
        clients.append(http)
        options: dict[str, object] = {
            "base_url": BASE_URL,
            "http": http,
            "clock": clock.monotonic,
            "retry": RetryPolicy(sleep=clock.sleep, random=lambda low, high: high),
        }
        options.update(kwargs)
        return OAuthTokenSource(Creds(CLIENT_ID, SECRET), **options)  # type: ignore[arg-type]

    yield make
    for http in clients:
        http.close()


def test_mint_posts_json_client_credentials(
    make_source: Callable[..., OAuthTokenSource], endpoint: TokenEndpoint
) -> None:
    source = make_source()
    assert source.get_token() == "vat_token_1"
    (request,) = endpoint.requests
    assert request.method == "POST"
    assert str(request.url) == "https://api.test/oauth/token"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == {
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "scope": "vanta-api.all:read",
        "grant_type": "client_credentials",
    }
    assert source.mint_count == 1


def test_token_is_cached(make_source: Callable[..., OAuthTokenSource]) -> None:
    source = make_source()
    tokens = {source.get_token() for _ in range(50)}
    assert tokens == {"vat_token_1"}
    assert source.mint_count == 1


def test_token_refreshed_margin_seconds_before_expiry(
    make_source: Callable[..., OAuthTokenSource], clock: FakeClock
) -> None:
    # Given a token that lives 3600 s and a 60 s refresh margin
    source = make_source(refresh_margin=60.0)
    minted_at = clock.now
    assert source.get_token() == "vat_token_1"
    # When the clock nears expiry, the cached token is used until the margin...
    clock.now = minted_at + 3539.0
    assert source.get_token() == "vat_token_1"
    # ...and replaced once inside it, before the server would reject it
    clock.now = minted_at + 3541.0
    assert source.get_token() == "vat_token_2"
    assert source.mint_count == 2


def test_short_lived_token_margin_is_capped_at_half_its_lifetime(
    make_source: Callable[..., OAuthTokenSource], endpoint: TokenEndpoint, clock: FakeClock
) -> None:
    endpoint.expires_in = 10
    source = make_source(refresh_margin=60.0)
    start = clock.now
    assert source.get_token() == "vat_token_1"
    clock.now = start + 4.9
    assert source.get_token() == "vat_token_1"
    clock.now = start + 5.1
    assert source.get_token() == "vat_token_2"


def test_missing_expires_in_assumes_an_hour(
    make_source: Callable[..., OAuthTokenSource], endpoint: TokenEndpoint, clock: FakeClock
) -> None:
    endpoint.expires_in = None
    source = make_source()
    start = clock.now
    source.get_token()
    clock.now = start + 3500
    assert source.get_token() == "vat_token_1"
    clock.now = start + 3545
    assert source.get_token() == "vat_token_2"


def test_invalidate_only_drops_the_token_it_names(
    make_source: Callable[..., OAuthTokenSource],
) -> None:
    source = make_source()
    first = source.get_token()
    source.invalidate("some-older-token")
    assert source.get_token() == first
    source.invalidate(first)
    second = source.get_token()
    assert second == "vat_token_2"
    # A late 401 for the first token must not throw away the second.
    source.invalidate(first)
    assert source.get_token() == second
    assert source.mint_count == 2


def test_concurrent_callers_share_one_mint(endpoint: TokenEndpoint) -> None:
    # Real clock and threads; the endpoint is slow so that callers pile up behind the mint.
    endpoint.delay = 0.05
    with httpx.Client(transport=httpx.MockTransport(endpoint)) as http:
        source = OAuthTokenSource(Creds(CLIENT_ID, SECRET), base_url=BASE_URL, http=http)
        barrier = threading.Barrier(8)
        results: list[str] = []

        def worker() -> None:
            barrier.wait()
            results.append(source.get_token())

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=5)
    assert results == ["vat_token_1"] * 8
    assert source.mint_count == 1
    assert len(endpoint.requests) == 1


def test_concurrent_invalidate_of_the_same_token_mints_once(endpoint: TokenEndpoint) -> None:
    # Given 8 workers that all got 401 with the same (revoked) token
    endpoint.delay = 0.05
    with httpx.Client(transport=httpx.MockTransport(endpoint)) as http:
        source = OAuthTokenSource(Creds(CLIENT_ID, SECRET), base_url=BASE_URL, http=http)
        revoked = source.get_token()
        barrier = threading.Barrier(8)
        results: list[str] = []

        def worker() -> None:
            barrier.wait()
            source.invalidate(revoked)
            results.append(source.get_token())

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=5)
    # Then exactly one new token was minted and every worker uses it
    assert source.mint_count == 2
    assert len(endpoint.requests) == 2
    assert results == ["vat_token_2"] * 8


def test_token_endpoint_429_waits_for_retry_after(
    make_source: Callable[..., OAuthTokenSource], endpoint: TokenEndpoint, clock: FakeClock
) -> None:
    endpoint.script = [httpx.Response(429, headers={"Retry-After": "12"})]
    source = make_source()
    assert source.get_token() == "vat_token_1"
    assert clock.sleeps == [pytest.approx(12.0)]
    assert len(endpoint.requests) == 2
    assert source.mint_count == 1


def test_token_endpoint_429_is_bounded(
    make_source: Callable[..., OAuthTokenSource], endpoint: TokenEndpoint
) -> None:
    endpoint.script = [httpx.Response(429, headers={"Retry-After": "1"}) for _ in range(10)]
    source = make_source(max_attempts=3)
    with pytest.raises(RateLimitedError) as info:
        source.get_token()
    assert info.value.status == 429
    assert len(endpoint.requests) == 4
    assert source.mint_count == 0


def test_token_endpoint_5xx_and_transport_errors_are_retried(
    make_source: Callable[..., OAuthTokenSource], endpoint: TokenEndpoint, clock: FakeClock
) -> None:
    endpoint.script = [httpx.Response(503), httpx.ConnectError("connection refused")]
    source = make_source()
    assert source.get_token() == "vat_token_1"
    # Full-jitter ceilings of the first two retries (the fake random returns the ceiling).
    assert clock.sleeps == [0.5, 1.0]


def test_token_endpoint_failing_beyond_the_budget(
    make_source: Callable[..., OAuthTokenSource], endpoint: TokenEndpoint
) -> None:
    endpoint.script = [httpx.Response(502) for _ in range(10)]
    source = make_source(max_attempts=4)
    with pytest.raises(VantaApiError) as info:
        source.get_token()
    assert not isinstance(info.value, AuthenticationError)
    assert "failed 4 times" in str(info.value)
    assert "HTTP 502" in str(info.value)
    assert len(endpoint.requests) == 4


def test_bad_credentials_give_a_clear_error_without_the_secret(
    make_source: Callable[..., OAuthTokenSource], endpoint: TokenEndpoint
) -> None:
    endpoint.script = [
        httpx.Response(
            401,
            json={
                "error": "invalid_client",
                "error_description": f"unknown client secret {SECRET}",
            },
        )
    ]
    source = make_source()
    with pytest.raises(AuthenticationError) as info:
        source.get_token()
    message = str(info.value)
    assert "Vanta rejected the client credentials (invalid_client)" in message
    assert "env VANTA_CLIENT_ID/VANTA_CLIENT_SECRET" in message
    assert SECRET not in message
    assert info.value.status == 401
    assert info.value.exit_code == 2
    # No retry: a wrong secret does not get better.
    assert len(endpoint.requests) == 1


def test_bad_request_from_token_endpoint_is_an_authentication_error(
    make_source: Callable[..., OAuthTokenSource], endpoint: TokenEndpoint
) -> None:
    endpoint.script = [httpx.Response(400, json={"error": "invalid_client"})]
    with pytest.raises(AuthenticationError, match="invalid_client"):
        make_source().get_token()


def test_invalid_scope_names_the_scope(
    make_source: Callable[..., OAuthTokenSource], endpoint: TokenEndpoint
) -> None:
    endpoint.script = [httpx.Response(400, json={"error": "invalid_scope"})]
    with pytest.raises(AuthenticationError, match=r"'vanta-api\.all:read' \(invalid_scope\)"):
        make_source().get_token()


def test_token_endpoint_not_found_points_at_the_base_url(
    make_source: Callable[..., OAuthTokenSource], endpoint: TokenEndpoint
) -> None:
    endpoint.script = [httpx.Response(404, text="Not Found")]
    with pytest.raises(VantaApiError, match="base URL") as info:
        make_source().get_token()
    assert not isinstance(info.value, AuthenticationError)
    assert info.value.status == 404


def test_200_without_a_token_is_an_error(
    make_source: Callable[..., OAuthTokenSource], endpoint: TokenEndpoint
) -> None:
    endpoint.script = [httpx.Response(200, json={"token_type": "Bearer"})]
    with pytest.raises(VantaApiError, match="without an access_token"):
        make_source().get_token()


def test_mints_are_paced_under_five_a_minute(
    make_source: Callable[..., OAuthTokenSource], clock: FakeClock
) -> None:
    source = make_source()
    started = clock.now
    minted_at = []
    for _ in range(6):
        token = source.get_token()
        minted_at.append(clock.now)
        source.invalidate(token)
    assert source.mint_count == 6
    assert all(t == started for t in minted_at[:5])
    assert minted_at[5] >= started + 60.0


def test_secrets_are_absent_from_repr_and_logs(
    make_source: Callable[..., OAuthTokenSource],
    endpoint: TokenEndpoint,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    endpoint.script = [httpx.Response(429, headers={"Retry-After": "1"}), httpx.Response(500)]
    source = make_source()
    token = source.get_token()
    source.invalidate(token)
    token2 = source.get_token()
    text = caplog.text + repr(source)
    assert "minted a Vanta access token" in caplog.text
    for secret in (SECRET, token, token2):
        assert secret not in text


def test_static_token_source() -> None:
    source = StaticTokenSource("vat_static_token")
    assert source.get_token() == "vat_static_token"
    assert source.mint_count == 0
    assert "vat_static_token" not in repr(source)
    with pytest.raises(AuthenticationError) as info:
        source.invalidate("vat_static_token")
    assert "vat_static_token" not in str(info.value)
    assert info.value.status == 401
    with pytest.raises(AuthenticationError):
        StaticTokenSource("")


def test_both_sources_satisfy_the_protocol(
    make_source: Callable[..., OAuthTokenSource],
) -> None:
    assert isinstance(StaticTokenSource("x"), TokenSource)
    assert isinstance(make_source(), TokenSource)
