"""The Vanta client that settings describe, for the CLI's sync and the pipeline's fetch alike."""

from __future__ import annotations

from typing import Any

from vanta_vuln_stats.vanta.auth import ClientCredentials
from vanta_vuln_stats.vanta.client import VantaClient, normalise_base_url
from vanta_vuln_stats.vanta.retry import RetryPolicy


def client_from_settings(settings: Any, credentials: ClientCredentials) -> VantaClient:
    """A client with the settings' API URL, page size, pacing, timeout and retries. With
    ``settings.token_store`` (``--token-store``, ``VANTA_TOKEN_STORE``) its token comes from that
    Secrets Manager secret, shared with every other process that uses it."""
    retry = RetryPolicy(max_attempts=settings.max_retries)
    token_source = None
    if getattr(settings, "token_store", None):
        import httpx

        from vanta_vuln_stats.vanta.auth import OAuthTokenSource
        from vanta_vuln_stats.vanta.token_store import SecretsManagerTokenSource

        minter = OAuthTokenSource(
            credentials,
            base_url=normalise_base_url(settings.api_url),
            http=httpx.Client(timeout=settings.timeout),
            retry=retry,
        )
        token_source = SecretsManagerTokenSource(settings.token_store, minter)
    return VantaClient(
        None if token_source is not None else credentials,
        token_source=token_source,
        base_url=settings.api_url,
        page_size=settings.page_size,
        requests_per_minute=settings.requests_per_minute or None,
        timeout=settings.timeout,
        retry=retry,
    )
