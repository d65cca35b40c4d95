"""The Vanta API client: OAuth client-credentials tokens, cursor pagination, pacing, retries."""

from .auth import (
    DEFAULT_SCOPE,
    ClientCredentials,
    OAuthTokenSource,
    StaticTokenSource,
    TokenSource,
)
from .client import (
    DEFAULT_BASE_URL,
    MAX_PAGE_SIZE,
    ClientStats,
    Page,
    VantaClient,
    format_param,
    normalise_base_url,
)
from .pacing import RequestPacer
from .retry import RetryPolicy, parse_retry_after

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_SCOPE",
    "MAX_PAGE_SIZE",
    "ClientCredentials",
    "ClientStats",
    "OAuthTokenSource",
    "Page",
    "RequestPacer",
    "RetryPolicy",
    "StaticTokenSource",
    "TokenSource",
    "VantaClient",
    "format_param",
    "normalise_base_url",
    "parse_retry_after",
]
