"""VantaClient against the real Vanta API simulator on 127.0.0.1 (real HTTP, real sockets)."""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from vanta_vuln_stats.config.credentials import Credentials
from vanta_vuln_stats.devstack.simulator import FaultConfig, SimulatorConfig, VantaSimulator
from vanta_vuln_stats.errors import AuthenticationError
from vanta_vuln_stats.model.fields import Resource
from vanta_vuln_stats.vanta import OAuthTokenSource, Page, RetryPolicy, VantaClient

CLIENT_ID = "vci_integration"
CLIENT_SECRET = "test-secret-integration_secret"
# What the client sends for vulnerabilities by default: the complete feed, with no-SLA findings.
COMPLETE = {"includeVulnerabilitiesWithoutSlas": True}
# Fast retries keep the fault tests short; the backoff shape itself is unit-tested.
FAST_RETRY = RetryPolicy(base=0.01, cap=0.1)


def credentials() -> Credentials:
    return Credentials(CLIENT_ID, CLIENT_SECRET, source="integration test")


def simulator(**settings: Any) -> VantaSimulator:
    options: dict[str, Any] = {
        "records": 10_000,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "rate_limit": 0,
        # Many tests mint a token each; the token endpoint's 5/min is exercised on its own below.
        "token_rate_limit": 0,
    }
    options.update(settings)
    return VantaSimulator(SimulatorConfig(**options))


@pytest.fixture(scope="module")
def sim() -> Iterator[VantaSimulator]:
    """A 10,000-finding tenant without rate limits; tests that change faults reset them."""
    with simulator() as server:
        yield server


@pytest.fixture(scope="module")
def expected(sim: VantaSimulator) -> dict[Resource, list[str]]:
    return tenant_ids(sim)


def tenant_ids(server: VantaSimulator) -> dict[Resource, list[str]]:
    """The tenant's ids in feed order: the ground truth every sync is compared against."""
    return {
        r: [
            rec["id"]
            for rec in server.tenant.iter_records(
                r, params=COMPLETE if r is Resource.VULNERABILITIES else None
            )
        ]
        for r in Resource
    }


def sync_ids(client: VantaClient) -> dict[Resource, list[str]]:
    """A full sync through the public per-resource methods, with their defaults."""
    return {
        Resource.VULNERABILITIES: [r["id"] for r in client.iter_vulnerabilities()],
        Resource.VULNERABILITY_REMEDIATIONS: [r["id"] for r in client.iter_remediations()],
        Resource.VULNERABLE_ASSETS: [r["id"] for r in client.iter_assets()],
    }


def max_in_any_window(stamps: list[float], window: float) -> int:
    stamps = sorted(stamps)
    return max(
        (bisect.bisect_left(stamps, s + window) - i for i, s in enumerate(stamps)), default=0
    )


def test_full_sync_returns_exactly_the_tenants_records(
    sim: VantaSimulator, expected: dict[Resource, list[str]]
) -> None:
    sim.clear_request_log()
    with VantaClient(credentials(), base_url=sim.url, requests_per_minute=None) as client:
        got = sync_ids(client)
        remediations = list(client.iter_remediations())

    for resource in Resource:
        assert got[resource] == expected[resource]
        assert len(set(got[resource])) == len(expected[resource])
    assert len(expected[Resource.VULNERABILITIES]) > 9_000
    # Records arrive exactly as the tenant serves them, not only their ids.
    assert remediations == list(sim.tenant.iter_records(Resource.VULNERABILITY_REMEDIATIONS))
    gets = [r for r in sim.request_log if r.method == "GET"]
    assert {r.params["pageSize"] for r in gets} == {"100"}
    assert all(r.status == 200 for r in gets)
    vulnerability_params = [r.params for r in gets if r.path == "/v1/vulnerabilities"]
    assert all(p["includeVulnerabilitiesWithoutSlas"] == "true" for p in vulnerability_params)
    assert not any("isDeactivated" in p for p in vulnerability_params)


def test_sync_survives_5xx_bursts_error_rate_and_dropped_connections(
    sim: VantaSimulator, expected: dict[Resource, list[str]]
) -> None:
    sim.set_faults(
        FaultConfig(
            error_rate=0.05,
            error_burst_pages=frozenset({2, 5}),
            error_burst_count=3,
            drop_rate=0.03,
            seed=11,
        )
    )
    try:
        with VantaClient(
            credentials(), base_url=sim.url, requests_per_minute=None, retry=FAST_RETRY
        ) as client:
            got = sync_ids(client)
            stats = client.stats
    finally:
        sim.set_faults(FaultConfig())

    assert got == expected
    assert stats.server_errors > 0
    assert stats.transport_errors > 0
    # Pages 2 and 5 of each listing failed twice at full size, then got through at half size.
    assert stats.page_shrinks >= 6
    assert stats.records == sum(len(ids) for ids in expected.values())


def test_resume_from_a_mid_run_cursor_yields_the_remainder(
    sim: VantaSimulator, expected: dict[Resource, list[str]]
) -> None:
    with VantaClient(credentials(), base_url=sim.url, requests_per_minute=None) as client:
        walk = client.iter_pages(
            Resource.VULNERABILITIES, {"includeVulnerabilitiesWithoutSlas": True}
        )
        first_pages = [next(walk) for _ in range(4)]
        walk.close()
    head = [r["id"] for p in first_pages for r in p.records]
    checkpoint = first_pages[-1].end_cursor

    # A new client (new token, new connection pool), as after a restart
    with VantaClient(credentials(), base_url=sim.url, requests_per_minute=None) as client:
        tail = [r["id"] for r in client.iter_vulnerabilities(cursor=checkpoint)]

    assert head == expected[Resource.VULNERABILITIES][:400]
    assert tail == expected[Resource.VULNERABILITIES][400:]


def test_token_expiry_mid_run_with_a_short_token_lifetime(
    expected: dict[Resource, list[str]],
) -> None:
    # Tokens live 2 s (expires_in 1, so the client refreshes every 0.5 s), and every request is
    # slowed by 10 ms so the run (255 requests) outlives several tokens whatever the machine.
    slow = FaultConfig(slow_rate=1.0, slow_seconds=0.01)
    with (
        simulator(token_lifetime=2, faults=slow) as server,
        httpx.Client(base_url=server.url) as http,
    ):
        # The simulator's token endpoint is unlimited here, so local mint pacing is off too.
        tokens = OAuthTokenSource(
            credentials(), base_url=server.url, http=http, mints_per_window=None
        )
        with VantaClient(
            token_source=tokens, base_url=server.url, requests_per_minute=None
        ) as client:
            got = sync_ids(client)
            stats = client.stats
        posts = [r for r in server.request_log if r.method == "POST"]
        gets = [r for r in server.request_log if r.method == "GET"]

    assert got == expected
    assert stats.token_mints == len(posts) >= 4
    # Refreshed ahead of expiry: at most a stray 401 at a refresh boundary, never a failure.
    assert sum(r.status == 401 for r in gets) == stats.auth_refreshes <= 1


def test_expired_token_on_the_server_is_replaced_once(
    sim: VantaSimulator, expected: dict[Resource, list[str]]
) -> None:
    def expire_after_page_3(page: Page) -> None:
        if page.number == 3:
            sim.expire_tokens()

    with VantaClient(
        credentials(), base_url=sim.url, requests_per_minute=None, on_page=expire_after_page_3
    ) as client:
        got = [r["id"] for r in client.iter_remediations()]
        stats = client.stats
    assert got == expected[Resource.VULNERABILITY_REMEDIATIONS]
    assert (stats.auth_refreshes, stats.token_mints) == (1, 2)


def test_revocation_by_a_second_minting_mid_run(expected: dict[Resource, list[str]]) -> None:
    # The token endpoint keeps its documented 5 requests a minute here.
    with simulator(token_rate_limit=5) as server:

        def mint_elsewhere(page: Page) -> None:
            # Another process with the same application mints a token: ours is revoked.
            if page.resource is Resource.VULNERABILITY_REMEDIATIONS and page.number == 5:
                response = httpx.post(
                    f"{server.url}/oauth/token",
                    json={
                        "client_id": CLIENT_ID,
                        "client_secret": CLIENT_SECRET,
                        "scope": "vanta-api.all:read",
                        "grant_type": "client_credentials",
                    },
                )
                assert response.status_code == 200

        with VantaClient(
            credentials(), base_url=server.url, requests_per_minute=None, on_page=mint_elsewhere
        ) as client:
            got = sync_ids(client)
            stats = client.stats
        statuses = [r.status for r in server.request_log if r.method == "GET"]

    assert got == expected
    # One revocation, one 401, one fresh token; the walk went on from the same page.
    assert (stats.auth_refreshes, stats.token_mints) == (1, 2)
    assert statuses.count(401) == 1


def test_429s_under_a_small_window_are_waited_out() -> None:
    with simulator(records=1_000, rate_limit=20, rate_window=1.0) as server:
        expected = tenant_ids(server)
        with VantaClient(
            credentials(), base_url=server.url, requests_per_minute=None, page_size=50
        ) as client:
            got = sync_ids(client)
            stats = client.stats
        statuses = [r.status for r in server.request_log if r.method == "GET"]
    assert got == expected
    assert stats.rate_limited >= 1
    assert statuses.count(429) == stats.rate_limited
    assert stats.paced_seconds >= 1.0


def test_configured_limit_is_never_exceeded_and_no_429() -> None:
    limit, window = 20, 1.0
    with simulator(records=1_000, rate_limit=limit, rate_window=window) as server:
        expected = tenant_ids(server)
        with VantaClient(
            credentials(),
            base_url=server.url,
            requests_per_minute=limit,
            rate_window=window,
            page_size=40,
        ) as client:
            got = sync_ids(client)
            stats = client.stats
        gets = [r for r in server.request_log if r.method == "GET"]

    assert got == expected
    assert len(gets) > 2 * limit
    assert stats.rate_limited == 0
    assert all(r.status == 200 for r in gets)
    assert max_in_any_window([r.time for r in gets], window) <= limit


def test_wrong_secret_is_an_authentication_error(sim: VantaSimulator) -> None:
    wrong = Credentials(CLIENT_ID, "vcs_wrong_secret", source="integration test")
    with (
        VantaClient(wrong, base_url=sim.url, requests_per_minute=None) as client,
        pytest.raises(AuthenticationError) as info,
    ):
        list(client.iter_assets())
    assert "invalid_client" in str(info.value)
    assert "integration test" in str(info.value)
    assert "vcs_wrong_secret" not in str(info.value)


def test_base_url_with_v1_suffix_works(
    sim: VantaSimulator, expected: dict[Resource, list[str]]
) -> None:
    with VantaClient(credentials(), base_url=f"{sim.url}/v1/", requests_per_minute=None) as client:
        got = [r["id"] for r in client.iter_assets()]
    assert got == expected[Resource.VULNERABLE_ASSETS]
