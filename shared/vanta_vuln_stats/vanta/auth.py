"""Where the bearer token comes from.

Vanta allows one active token per application: minting a new one revokes the previous one, and
the token endpoint takes only 5 requests a minute. So every worker of a run must share one token
and refresh it from one place. ``TokenSource`` is the seam for that: ``OAuthTokenSource`` mints
with client credentials (single-flight, thread safe); ``StaticTokenSource`` serves a token
obtained elsewhere. A source backed by a shared secret store (so parallel Lambdas share a token)
plugs in with the same two methods.

Neither the token nor the client secret is ever logged or put into an exception message.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import httpx

from ..errors import AuthenticationError, RateLimitedError, VantaApiError
from .pacing import RequestPacer
from .retry import RetryPolicy, describe_error

logger = logging.getLogger("vanta_vuln_stats.vanta")

DEFAULT_SCOPE = "vanta-api.all:read"
TOKEN_PATH = "/oauth/token"
# Vanta documents 3600 s (3599 observed); assumed when a response leaves expires_in out.
DEFAULT_TOKEN_LIFETIME = 3600.0
# The token endpoint's documented limit: 5 requests a minute, shared across all APIs.
TOKEN_REQUESTS_PER_WINDOW = 5
TOKEN_WINDOW = 60.0


class ClientCredentials(Protocol):
    """What a token source needs from the credentials object (``config.credentials``)."""

    @property
    def client_id(self) -> str: ...

    @property
    def client_secret(self) -> str: ...


@runtime_checkable
class TokenSource(Protocol):
    """Supplies the bearer token for data calls."""

    def get_token(self) -> str:
        """A token believed valid: cached, or fetched/minted now."""
        ...

    def invalidate(self, token: str) -> None:
        """The API rejected ``token`` with 401; the next ``get_token`` must not return it."""
        ...


class StaticTokenSource:
    """A token supplied from elsewhere. It cannot be refreshed, so a 401 is final."""

    def __init__(self, token: str) -> None:
        if not token:
            raise AuthenticationError("an empty Vanta access token was supplied")
        self._token = token

    @property
    def mint_count(self) -> int:
        return 0

    def get_token(self) -> str:
        return self._token

    def invalidate(self, token: str) -> None:
        raise AuthenticationError(
            "Vanta rejected the supplied access token (401) and it cannot be refreshed here: "
            "it has expired, or was revoked because another token was minted for the same "
            "application",
            status=401,
        )

    def __repr__(self) -> str:
        return "StaticTokenSource(token=***)"


class OAuthTokenSource:
    """Client-credentials tokens from ``{base_url}/oauth/token``, cached and shared.

    The token is refreshed ``refresh_margin`` seconds before it expires (at most half its lifetime
    early, for short-lived tokens). One mint at a time: concurrent callers wait for it and share
    the result. ``invalidate(token)`` drops the cache only if ``token`` is still the cached one, so
    many workers failing with the same revoked token cause one mint, not one each.
    """

    def __init__(
        self,
        credentials: ClientCredentials,
        *,
        base_url: str,
        http: httpx.Client,
        scope: str = DEFAULT_SCOPE,
        refresh_margin: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        retry: RetryPolicy | None = None,
        max_attempts: int = 4,
        mints_per_window: int | None = TOKEN_REQUESTS_PER_WINDOW,
        mint_window: float = TOKEN_WINDOW,
    ) -> None:
        self._credentials = credentials
        source = str(getattr(credentials, "source", "") or "the configured credentials")
        self._source = self._scrub(source)
        self._url = base_url.rstrip("/") + TOKEN_PATH
        self._http = http
        self._scope = scope
        self._refresh_margin = max(float(refresh_margin), 0.0)
        self._clock = clock
        self._retry = retry or RetryPolicy()
        self._max_attempts = max(int(max_attempts), 1)
        # Pace our own mints under the endpoint's limit so a burst of refreshes waits here instead
        # of drawing 429s (which would also count against the shared limit).
        self._pacer = RequestPacer(
            mints_per_window, mint_window, clock=clock, sleep=self._retry.sleep
        )
        self._lock = threading.Lock()
        # (token, refresh_at) swapped as one tuple so the lock-free read below is consistent.
        self._cached: tuple[str, float] | None = None
        self._mint_count = 0

    @property
    def mint_count(self) -> int:
        """Tokens minted so far (successful token responses)."""
        return self._mint_count

    def get_token(self) -> str:
        cached = self._cached
        if cached is not None and self._clock() < cached[1]:
            return cached[0]
        with self._lock:
            # Another caller may have minted while this one waited for the lock.
            cached = self._cached
            if cached is not None and self._clock() < cached[1]:
                return cached[0]
            self._cached = None
            token, refresh_at = self._mint()
            self._cached = (token, refresh_at)
            return token

    def token_with_lifetime(self) -> tuple[str, float]:
        """A token (as ``get_token``) and the seconds it is still good for, for a store that
        shares it with other processes."""
        token = self.get_token()
        cached = self._cached
        left = cached[1] - self._clock() if cached is not None and cached[0] == token else 0.0
        return token, max(left, 0.0)

    def invalidate(self, token: str) -> None:
        with self._lock:
            if self._cached is not None and self._cached[0] == token:
                self._cached = None
                logger.info("Vanta access token rejected by the API; a new one will be minted")

    def _mint(self) -> tuple[str, float]:
        body = {
            "client_id": self._credentials.client_id,
            "client_secret": self._credentials.client_secret,
            "scope": self._scope,
            "grant_type": "client_credentials",
        }
        failures = 0
        rate_limited = 0
        while True:
            try:
                with self._pacer:
                    # Lifetime counts from just before the request leaves, so the local expiry
                    # can only be early, never late.
                    started = self._clock()
                    response = self._http.post(
                        self._url,
                        json=body,
                        headers={"Content-Type": "application/json"},
                    )
            except httpx.TransportError as exc:
                if not RetryPolicy.is_retryable_error(exc):
                    raise VantaApiError(
                        f"could not reach the Vanta token endpoint {self._url}: "
                        f"{describe_error(exc)}"
                    ) from exc
                failures += 1
                cause = describe_error(exc)
                if failures >= self._max_attempts:
                    raise VantaApiError(
                        f"the Vanta token endpoint {self._url} failed {failures} times; "
                        f"last cause: {cause}"
                    ) from exc
                self._wait(self._retry.backoff(failures - 1), cause)
                continue

            status = response.status_code
            if status == 200:
                return self._accept(response, started)
            if status == 429:
                rate_limited += 1
                if rate_limited > self._max_attempts:
                    raise RateLimitedError(
                        f"the Vanta token endpoint kept answering 429 (too many requests) after "
                        f"{rate_limited} tries; it allows 5 token requests a minute per "
                        f"application, so another client may be minting with the same credentials",
                        status=429,
                    )
                delay = self._retry.retry_after(response, rate_limited - 1)
                # Everyone minting through this source waits, not only this attempt.
                self._pacer.penalize(delay)
                logger.warning(
                    "Vanta token endpoint rate-limited the request (429); retrying in %.1f s",
                    delay,
                )
                continue
            if RetryPolicy.is_retryable_status(status):
                failures += 1
                cause = f"HTTP {status}"
                if failures >= self._max_attempts:
                    raise VantaApiError(
                        f"the Vanta token endpoint {self._url} failed {failures} times; "
                        f"last cause: {cause}",
                        status=status,
                    )
                self._wait(self._retry.backoff(failures - 1), cause)
                continue
            raise self._rejection(response)

    def _accept(self, response: httpx.Response, started: float) -> tuple[str, float]:
        try:
            payload = response.json()
        except ValueError:
            payload = None
        token = payload.get("access_token") if isinstance(payload, dict) else None
        if not isinstance(token, str) or not token:
            raise VantaApiError(
                f"the Vanta token endpoint {self._url} answered 200 without an access_token",
                status=200,
            )
        lifetime = _lifetime(payload.get("expires_in"))
        margin = min(self._refresh_margin, lifetime / 2)
        self._mint_count += 1
        logger.info("minted a Vanta access token (expires in %.0f s)", lifetime)
        return token, started + lifetime - margin

    def _rejection(self, response: httpx.Response) -> VantaApiError:
        status = response.status_code
        error, description = _oauth_error(response)
        description = self._scrub(description)
        error = self._scrub(error)
        detail = f": {description}" if description else ""
        code = error or f"HTTP {status}"
        if error == "invalid_scope":
            return AuthenticationError(
                f"Vanta refused the scope {self._scope!r} (invalid_scope) for the application "
                f"from {self._source}; a Manage Vanta application with read access is needed"
                f"{detail}",
                status=status,
            )
        if status in (400, 401, 403):
            return AuthenticationError(
                f"Vanta rejected the client credentials ({code}) from {self._source}; check the "
                f"client id and secret{detail}",
                status=status,
            )
        return VantaApiError(
            f"the Vanta token endpoint {self._url} answered HTTP {status} ({code}); check the "
            f"API base URL{detail}",
            status=status,
        )

    def _scrub(self, text: str) -> str:
        """Remove the secret from server-supplied text before it reaches a message."""
        secret = self._credentials.client_secret
        if secret and secret in text:
            text = text.replace(secret, "***")
        return text[:300]

    def _wait(self, delay: float, cause: str) -> None:
        logger.warning("Vanta token request failed (%s); retrying in %.1f s", cause, delay)
        self._retry.sleep(delay)

    def __repr__(self) -> str:
        return (
            f"OAuthTokenSource(url={self._url!r}, scope={self._scope!r}, source={self._source!r})"
        )


def _lifetime(value: Any) -> float:
    try:
        lifetime = float(value)
    except (TypeError, ValueError):
        return DEFAULT_TOKEN_LIFETIME
    if lifetime != lifetime or lifetime <= 0:  # NaN or non-positive
        return DEFAULT_TOKEN_LIFETIME
    return lifetime


def _oauth_error(response: httpx.Response) -> tuple[str, str]:
    """The RFC 6749 ``error`` and ``error_description`` of a refusal, read defensively."""
    try:
        payload = response.json()
    except ValueError:
        return "", ""
    if not isinstance(payload, dict):
        return "", ""
    error = payload.get("error")
    description = payload.get("error_description") or payload.get("message")
    return (
        error if isinstance(error, str) else "",
        description if isinstance(description, str) else "",
    )
