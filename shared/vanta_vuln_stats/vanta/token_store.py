"""A Vanta token shared through an AWS Secrets Manager secret.

Vanta allows one active token per application: every mint revokes the token before it. The
pipeline's fetch runs as many Lambda invocations in turn, and a user's CLI may sync with the same
application while the schedule runs; if each minted its own token they would revoke each other.
So they keep the token in one secret (the stack's ``VantaTokenSecret``): a process uses the token
found there while it is good, and mints (then stores) a new one only when there is none, it has
expired, or the API rejected exactly the stored one. The token never leaves the secret and the
process's memory: not in a state payload, a log line or an error.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from ..errors import CredentialsError

logger = logging.getLogger("vanta_vuln_stats.vanta")

# A stored token is used only while it has this long left (or a quarter of its lifetime, for
# short-lived tokens): a page never starts on a token about to expire.
MIN_LIFETIME = 120.0


def _margin(lifetime: float) -> float:
    return min(MIN_LIFETIME, lifetime / 4)


class Minter(Protocol):
    def token_with_lifetime(self) -> tuple[str, float]: ...
    def invalidate(self, token: str) -> None: ...


class SecretsManagerTokenSource:
    """``TokenSource`` over the secret ``secret_id``; ``minter`` (an ``OAuthTokenSource``) mints.

    The secret holds ``{"access_token": ..., "expires_at": <epoch seconds>, "lifetime": <s>}``.
    """

    def __init__(
        self,
        secret_id: str,
        minter: Minter,
        *,
        client: Any = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.secret_id = secret_id
        self._minter = minter
        self._client = client
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: tuple[str, float, float] | None = None
        self._rejected: str | None = None  # the token the API refused last; never used again
        self.mint_count = 0

    def __repr__(self) -> str:
        return f"SecretsManagerTokenSource({self.secret_id!r}, token=***)"

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("secretsmanager")
        return self._client

    def get_token(self) -> str:
        with self._lock:
            now = self._clock()
            cached = self._cached
            if cached is not None and cached[1] - now > _margin(cached[2]):
                return cached[0]
            stored = self._read()
            usable = stored is not None and stored[0] != self._rejected
            if usable and stored is not None and stored[1] - now > _margin(stored[2]):
                self._cached = stored
                return stored[0]
            return self._mint()

    def invalidate(self, token: str) -> None:
        with self._lock:
            if self._cached is not None and self._cached[0] == token:
                self._cached = None
            stored = self._read()
            if stored is not None and stored[0] != token:
                # Someone else minted since: theirs is the one that is valid now.
                self._cached = stored
                logger.info("the shared Vanta token was replaced elsewhere; using the new one")
                return
            self._rejected = token
            self._minter.invalidate(token)
            logger.info("the shared Vanta token was rejected; a new one will be minted")

    def _mint(self) -> str:
        token, lifetime = self._minter.token_with_lifetime()
        expires_at = self._clock() + lifetime
        self._write(token, expires_at, lifetime)
        self._cached = (token, expires_at, lifetime)
        self.mint_count += 1
        return token

    def _read(self) -> tuple[str, float, float] | None:
        try:
            response = self.client.get_secret_value(SecretId=self.secret_id)
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
            if code == "ResourceNotFoundException":
                raise CredentialsError(
                    f"The token store {self.secret_id} does not exist (check --token-store)."
                ) from None
            raise CredentialsError(
                f"The token store {self.secret_id} could not be read ({code})."
            ) from None
        try:
            data = json.loads(response.get("SecretString") or "{}")
            token, expires_at = data["access_token"], float(data["expires_at"])
            lifetime = float(data.get("lifetime", 4 * MIN_LIFETIME))
        except (ValueError, KeyError, TypeError):
            return None
        if not isinstance(token, str) or not token:
            return None
        return token, expires_at, lifetime

    def _write(self, token: str, expires_at: float, lifetime: float) -> None:
        value = json.dumps(
            {
                "access_token": token,
                "expires_at": round(expires_at, 3),
                "lifetime": round(lifetime, 3),
            }
        )
        try:
            self.client.put_secret_value(SecretId=self.secret_id, SecretString=value)
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
            raise CredentialsError(
                f"The token store {self.secret_id} could not be written ({code})."
            ) from None
