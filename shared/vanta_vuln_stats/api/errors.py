"""The API's errors and the one place where an error becomes an HTTP status.

Every error response is ``{"error": CODE, "message": TEXT}``. Errors a caller can fix are 4xx
with a message saying what is accepted; anything unexpected is a 500 whose message says nothing
of the internals (the log has the traceback).
"""

from __future__ import annotations

import logging
from typing import Any

from vanta_vuln_stats.errors import (
    AthenaError,
    AthenaQueryEnded,
    ConfigError,
    UserInputError,
    VantaVulnStatsError,
)

__all__ = [
    "ApiError",
    "BadRequest",
    "Conflict",
    "NotFound",
    "error_response",
]

log = logging.getLogger(__name__)


class ApiError(VantaVulnStatsError):
    """An error with its HTTP status and a short machine-readable code."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code:
            self.code = code


class BadRequest(ApiError):
    status = 400
    code = "bad_request"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    status = 409
    code = "conflict"


def error_response(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """``exc`` as (status, body): the only mapping of errors to HTTP in the API."""
    if isinstance(exc, ApiError):
        return exc.status, _body(exc.code, str(exc))
    if isinstance(exc, ConfigError):
        # The function's own settings are wrong: not the caller's doing.
        log.error("The query API is misconfigured: %s", exc)
        return 500, _body("misconfigured", "The service is misconfigured; see its log.")
    if isinstance(exc, UserInputError):  # NamedQueryError, QueryParameterError, ...
        return 400, _body("bad_request", str(exc))
    if isinstance(exc, AthenaQueryEnded):
        return 500, _body(
            "query_failed", f"The query ended {exc.state}: {exc.reason or 'no reason given'}."
        )
    if isinstance(exc, AthenaError):
        log.error("Athena could not be called: %s", exc)
        return 500, _body("athena_error", "Athena could not run the query; see the log.")
    log.error("Unexpected error in the query API", exc_info=exc)
    return 500, _body("internal_error", "An unexpected error occurred; see the log.")


def _body(code: str, message: str) -> dict[str, Any]:
    return {"error": code, "message": message}
