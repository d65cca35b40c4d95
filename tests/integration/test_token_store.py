"""The shared token store over emulated Secrets Manager and the simulator's real OAuth endpoint
(one active token per application, 5 mints a minute): two clients that share the store share
one token, where two clients that mint on their own revoke each other."""

from __future__ import annotations

import json

import boto3
import pytest

from vanta_vuln_stats.config.credentials import Credentials
from vanta_vuln_stats.devstack.simulator import SimulatorConfig, VantaSimulator
from vanta_vuln_stats.errors import CredentialsError
from vanta_vuln_stats.model.fields import Resource
from vanta_vuln_stats.vanta import VantaClient
from vanta_vuln_stats.vanta.auth import OAuthTokenSource
from vanta_vuln_stats.vanta.token_store import SecretsManagerTokenSource

CONFIG = SimulatorConfig(
    records=400,
    seed=3,
    client_id="vci_t",
    client_secret="test-secret-token-store",
    rate_limit=0,
    token_lifetime=3600,
)


@pytest.fixture
def aws(moto_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return boto3.client("secretsmanager")


def _store_client(
    sim: VantaSimulator, secret: str
) -> tuple[VantaClient, SecretsManagerTokenSource]:
    import httpx

    credentials = Credentials(CONFIG.client_id, CONFIG.client_secret)
    minter = OAuthTokenSource(credentials, base_url=sim.url, http=httpx.Client())
    source = SecretsManagerTokenSource(secret, minter)
    return VantaClient(token_source=source, base_url=sim.url, requests_per_minute=None), source


def _walk(client: VantaClient, pages: int) -> int:
    walked = 0
    for _ in zip(range(pages), client.iter_pages(Resource.VULNERABILITIES), strict=False):
        walked += 1
    return walked


def test_clients_sharing_the_store_share_one_token(aws) -> None:
    secret = aws.create_secret(Name="token-shared", SecretString="{}")["ARN"]
    with VantaSimulator(CONFIG) as sim:
        first, first_source = _store_client(sim, secret)
        second, second_source = _store_client(sim, secret)
        with first, second:
            # Interleaved, as a scheduled fetch and a user's CLI would be.
            for _ in range(3):
                assert _walk(first, 2) == 2
                assert _walk(second, 2) == 2
        assert first_source.mint_count + second_source.mint_count == 1
        assert first.stats.auth_refreshes == second.stats.auth_refreshes == 0
    stored = json.loads(aws.get_secret_value(SecretId=secret)["SecretString"])
    assert set(stored) == {"access_token", "expires_at", "lifetime"}


def test_a_token_revoked_elsewhere_is_replaced_once(aws) -> None:
    secret = aws.create_secret(Name="token-revoked", SecretString="{}")["ARN"]
    with VantaSimulator(CONFIG) as sim:
        client, source = _store_client(sim, secret)
        with client:
            assert _walk(client, 1) == 1
            sim.revoke_tokens()  # a mint by another application user, say
            assert _walk(client, 3) == 3
        assert source.mint_count == 2
        assert client.stats.auth_refreshes == 1


def test_a_missing_store_is_named(aws) -> None:
    with VantaSimulator(CONFIG) as sim:
        client, _ = _store_client(sim, "no-such-token-store")
        with client, pytest.raises(CredentialsError, match="no-such-token-store does not exist"):
            _walk(client, 1)


def test_the_token_is_not_in_the_sources_repr(aws) -> None:
    secret = aws.create_secret(Name="token-repr", SecretString="{}")["ARN"]
    with VantaSimulator(CONFIG) as sim:
        client, source = _store_client(sim, secret)
        with client:
            token = source.get_token()
    assert token not in repr(source) and "***" in repr(source)
