"""Typed errors. Each carries one clear message and the exit code the CLI maps it to.

Errors a user can cause (bad settings, missing credentials, bad flags) exit with 2; failures of
the work itself (the API kept failing, the store is broken) exit with 1. The mapping happens in
one place, the CLI's entry point.
"""

from __future__ import annotations


class VantaVulnStatsError(Exception):
    """Base class of every error this package raises on purpose."""

    exit_code = 1


class UserInputError(VantaVulnStatsError):
    """Something the user supplied is missing or wrong; fixing the input fixes the run."""

    exit_code = 2


class ConfigError(UserInputError):
    """A setting has an invalid value. The message names the setting and where it came from."""


class CredentialsError(UserInputError):
    """No usable Vanta credentials were found, or a source of them is unreadable."""


class VantaApiError(VantaVulnStatsError):
    """The Vanta API answered with an error that retries did not cure."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AuthenticationError(VantaApiError):
    """The token endpoint refused the credentials (wrong client id or secret, wrong scope).

    A user mistake, so it exits with 2 like the other input errors.
    """

    exit_code = 2


class RateLimitedError(VantaApiError):
    """The API kept answering 429 beyond the retry budget."""


class StoreError(UserInputError):
    """The store given cannot be used: not a SQLite file, unreadable, written by a newer version,
    or held by another writer. The message names the file."""


class CatalogError(VantaVulnStatsError):
    """An AWS call of the catalog failed: a Glue call (access denied, throttled beyond the
    retries, unreachable, a partition refused) or reading the lake's commit manifests on S3.
    The message names the call and AWS's reason."""


class QueryParameterError(UserInputError):
    """A query parameter cannot be sent as a SQL literal (NaN, infinite, or too long for
    Athena's 1024-character limit on one execution parameter). The message names its position."""


class AthenaError(VantaVulnStatsError):
    """An Athena call failed (access, throttling beyond the retries, an unknown workgroup), or a
    query ended without results. ``query_id`` is set once Athena has accepted the query."""

    def __init__(self, message: str, *, query_id: str | None = None) -> None:
        super().__init__(message)
        self.query_id = query_id


class AthenaQueryEnded(AthenaError):
    """A query that Athena accepted ended in another state than SUCCEEDED. Carries the state,
    Athena's reason and what the query scanned before it ended (cancelled queries are billed)."""

    def __init__(
        self,
        message: str,
        *,
        query_id: str,
        state: str,
        reason: str | None = None,
        bytes_scanned: int = 0,
        cost_usd: float = 0.0,
    ) -> None:
        super().__init__(message, query_id=query_id)
        self.state = state
        self.reason = reason
        self.bytes_scanned = bytes_scanned
        self.cost_usd = cost_usd


class AthenaQueryFailed(AthenaQueryEnded):
    """State FAILED: the SQL or the data is wrong, or Athena failed. ``error_category`` (1 system,
    2 user, 3 other), ``error_type`` and ``retryable`` are Athena's ``AthenaError`` fields."""

    def __init__(
        self,
        message: str,
        *,
        query_id: str,
        reason: str | None = None,
        error_category: int | None = None,
        error_type: int | None = None,
        retryable: bool = False,
        bytes_scanned: int = 0,
    ) -> None:
        super().__init__(
            message, query_id=query_id, state="FAILED", reason=reason, bytes_scanned=bytes_scanned
        )
        self.error_category = error_category
        self.error_type = error_type
        self.retryable = retryable


class AthenaQueryCancelled(AthenaQueryEnded):
    """State CANCELLED: someone (a person, a workgroup's data limit) stopped the query."""


class AthenaQueryTimeout(AthenaQueryEnded):
    """The query did not finish within the client's timeout; the client asked Athena to stop it
    (``cancel_requested`` says whether that request was accepted)."""

    def __init__(
        self,
        message: str,
        *,
        query_id: str,
        state: str,
        cancel_requested: bool,
        bytes_scanned: int = 0,
        cost_usd: float = 0.0,
    ) -> None:
        super().__init__(
            message,
            query_id=query_id,
            state=state,
            bytes_scanned=bytes_scanned,
            cost_usd=cost_usd,
        )
        self.cancel_requested = cancel_requested
