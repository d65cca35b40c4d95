"""RetryPolicy: full-jitter backoff bounds, Retry-After parsing, what is worth retrying."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from vanta_vuln_stats.errors import ConfigError
from vanta_vuln_stats.vanta.retry import RetryPolicy, describe_error, parse_retry_after


class RecordingRandom:
    """Returns the upper bound it was asked for and remembers the bounds."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, float]] = []

    def __call__(self, low: float, high: float) -> float:
        self.calls.append((low, high))
        return high


def test_defaults_match_the_documented_policy() -> None:
    policy = RetryPolicy()
    assert (policy.base, policy.cap, policy.max_attempts, policy.max_retry_after) == (
        0.5,
        30.0,
        8,
        120.0,
    )


def test_backoff_ceiling_doubles_up_to_the_cap() -> None:
    policy = RetryPolicy()
    assert [policy.backoff_ceiling(n) for n in range(9)] == [
        0.5,
        1.0,
        2.0,
        4.0,
        8.0,
        16.0,
        30.0,
        30.0,
        30.0,
    ]
    # Huge retry numbers neither overflow nor exceed the cap.
    assert policy.backoff_ceiling(10_000) == 30.0


def test_backoff_draws_uniformly_between_zero_and_the_ceiling() -> None:
    rand = RecordingRandom()
    policy = RetryPolicy(random=rand, base=1.0, cap=5.0)
    assert [policy.backoff(n) for n in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert rand.calls == [(0.0, 1.0), (0.0, 2.0), (0.0, 4.0), (0.0, 5.0), (0.0, 5.0)]


def test_full_jitter_stays_within_bounds_and_spreads_out() -> None:
    rng = random.Random(42)
    policy = RetryPolicy(random=rng.uniform)
    for retry in range(12):
        ceiling = policy.backoff_ceiling(retry)
        samples = [policy.backoff(retry) for _ in range(300)]
        assert all(0.0 <= s <= ceiling for s in samples)
        # Full jitter: both halves of the range are used, not a fixed delay.
        assert min(samples) < ceiling / 4
        assert max(samples) > ceiling * 3 / 4


def response_with(retry_after: str | None) -> httpx.Response:
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    return httpx.Response(429, headers=headers)


@pytest.mark.parametrize(
    ("header", "expected"),
    [("7", 7.0), ("1.5", 1.5), ("0", 0.0), ("-3", 0.0), ("999", 120.0), (" 12 ", 12.0)],
)
def test_retry_after_seconds_are_honoured_and_capped(header: str, expected: float) -> None:
    policy = RetryPolicy(random=RecordingRandom())
    assert policy.retry_after(response_with(header), 0) == expected


@pytest.mark.parametrize("header", [None, "", "soon", "nan", "inf"])
def test_unusable_retry_after_falls_back_to_the_backoff(header: str | None) -> None:
    rand = RecordingRandom()
    policy = RetryPolicy(random=rand)
    assert policy.retry_after(response_with(header), 3) == 4.0
    assert rand.calls == [(0.0, 4.0)]


def test_retry_after_http_date() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=42), usegmt=True)
    assert parse_retry_after(later, now=now) == pytest.approx(42.0)
    earlier = format_datetime(now - timedelta(seconds=42), usegmt=True)
    assert parse_retry_after(earlier, now=now) == 0.0


@pytest.mark.parametrize("status", [500, 501, 502, 503, 504, 520, 599])
def test_every_5xx_is_retryable(status: int) -> None:
    assert RetryPolicy.is_retryable_status(status)


@pytest.mark.parametrize("status", [200, 301, 400, 401, 403, 404, 409, 422, 429])
def test_other_statuses_are_not_retried_as_server_errors(status: int) -> None:
    assert not RetryPolicy.is_retryable_status(status)


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("slow"),
        httpx.ReadTimeout("slow"),
        httpx.WriteTimeout("slow"),
        httpx.PoolTimeout("busy"),
        httpx.ReadError("reset by peer"),
        httpx.WriteError("broken pipe"),
        httpx.RemoteProtocolError("peer closed connection without sending complete message"),
    ],
)
def test_timeouts_and_dropped_connections_are_retryable(exc: Exception) -> None:
    assert RetryPolicy.is_retryable_error(exc)


@pytest.mark.parametrize(
    "exc",
    [
        httpx.UnsupportedProtocol("ftp"),
        httpx.LocalProtocolError("bad header"),
        httpx.ProxyError("proxy refused"),
        ValueError("not a transport error"),
    ],
)
def test_client_side_mistakes_are_not_retryable(exc: Exception) -> None:
    assert not RetryPolicy.is_retryable_error(exc)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"base": -1.0},
        {"cap": -1.0},
        {"max_retry_after": -1.0},
        {"max_rate_limited": -1},
        {"shrink_after": 0},
    ],
)
def test_invalid_policy_is_a_config_error(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_describe_error_names_the_type_and_message() -> None:
    assert describe_error(httpx.ReadTimeout("timed out")) == "ReadTimeout: timed out"
    assert describe_error(httpx.ReadTimeout("")) == "ReadTimeout"
