"""When to retry a Vanta call, and how long to wait first.

Exponential backoff with full jitter: the n-th retry (n from 0) sleeps a uniform random time in
``[0, min(cap, base * 2**n)]``, which spreads competing clients out instead of retrying in lock
step. What counts toward which budget:

- 5xx responses and transport failures (timeouts, dropped or reset connections) are retried up to
  ``max_attempts`` tries in all. A 5xx body is never read as data: the real API has sent a 500
  whose body claimed ``hasNextPage: false``.
- 429 waits for Retry-After (capped at ``max_retry_after``; the backoff when the header is absent)
  and does not spend the 5xx budget, but is bounded by ``max_rate_limited`` on its own.
- 401 is the caller's business (refresh the token once); other 4xx are never retried.
"""

from __future__ import annotations

import random as _random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from ..errors import ConfigError

# Transport errors that say nothing about the server and only get worse when repeated: a URL the
# client cannot speak, a request the client itself built wrongly, a misconfigured proxy.
_NOT_RETRYABLE_TRANSPORT = (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.ProxyError)


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff settings and retry decisions. ``random`` and ``sleep`` are injectable for tests.

    max_attempts      tries per request, first one included, for 5xx and transport failures
    base, cap         backoff: the n-th retry sleeps uniform(0, min(cap, base * 2**n)) seconds
    max_retry_after   ceiling on a server-requested wait (Retry-After), in seconds
    max_rate_limited  429s tolerated for one request before giving up
    shrink_after      consecutive 5xx on one page after which its page size is halved
    """

    max_attempts: int = 8
    base: float = 0.5
    cap: float = 30.0
    max_retry_after: float = 120.0
    max_rate_limited: int = 20
    shrink_after: int = 2
    random: Callable[[float, float], float] = field(default=_random.uniform, repr=False)
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigError(f"max_attempts must be at least 1, not {self.max_attempts}")
        if self.base < 0 or self.cap < 0 or self.max_retry_after < 0:
            raise ConfigError("backoff base, cap and max_retry_after must not be negative")
        if self.max_rate_limited < 0:
            raise ConfigError(f"max_rate_limited must not be negative, not {self.max_rate_limited}")
        if self.shrink_after < 1:
            raise ConfigError(f"shrink_after must be at least 1, not {self.shrink_after}")

    def backoff_ceiling(self, retry: int) -> float:
        """Upper bound of the sleep before retry number ``retry`` (0-based)."""
        # Cap the exponent so a large retry count cannot overflow the float.
        return min(self.cap, self.base * 2 ** min(retry, 62))

    def backoff(self, retry: int) -> float:
        """Full-jitter sleep before retry number ``retry`` (0-based)."""
        return self.random(0.0, self.backoff_ceiling(retry))

    def retry_after(self, response: httpx.Response, retry: int) -> float:
        """Seconds to wait after a 429: its Retry-After (capped), else the backoff."""
        seconds = parse_retry_after(response.headers.get("Retry-After"))
        if seconds is None:
            seconds = self.backoff(retry)
        return min(max(seconds, 0.0), self.max_retry_after)

    @staticmethod
    def is_retryable_status(status: int) -> bool:
        return status >= 500

    @staticmethod
    def is_retryable_error(exc: BaseException) -> bool:
        """Timeouts and dropped, reset or garbled connections; not client-side mistakes."""
        return isinstance(exc, httpx.TransportError) and not isinstance(
            exc, _NOT_RETRYABLE_TRANSPORT
        )


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None if unusable."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds or seconds in (float("inf"), float("-inf")):  # NaN or infinite
        return None
    return max(seconds, 0.0)


def describe_error(exc: BaseException) -> str:
    """A short cause for logs and error messages: the exception type and its text."""
    text = str(exc).strip()
    name = type(exc).__name__
    return f"{name}: {text}" if text else name
