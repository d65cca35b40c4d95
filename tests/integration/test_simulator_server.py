"""The Vanta API simulator over real HTTP on 127.0.0.1: OAuth, pagination, limits and faults."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from vanta_vuln_stats.devstack.simulator import (
    BASE_DATE,
    FaultConfig,
    SimulatorConfig,
    VantaSimulator,
)
from vanta_vuln_stats.model.fields import Resource

CLIENT_ID = "vci_test"
CLIENT_SECRET = "vcs_test"
SCOPE = "vanta-api.all:read"
VULNS = "/v1/vulnerabilities"
REMEDIATIONS = "/v1/vulnerability-remediations"
ASSETS = "/v1/vulnerable-assets"
ALL = {"includeVulnerabilitiesWithoutSlas": "true"}


def _config(**overrides: Any) -> SimulatorConfig:
    settings: dict[str, Any] = {
        "records": 250,
        "seed": 7,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "rate_limit": 0,
        "token_rate_limit": 0,
    }
    settings.update(overrides)
    return SimulatorConfig(**settings)


@pytest.fixture
def sim() -> Iterator[VantaSimulator]:
    with VantaSimulator(_config()) as simulator:
        yield simulator


@pytest.fixture
def client(sim: VantaSimulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.url, timeout=10) as http:
        yield http


def _token_response(
    http: httpx.Client,
    *,
    client_id: str = CLIENT_ID,
    client_secret: str = CLIENT_SECRET,
    scope: str = SCOPE,
    grant_type: str = "client_credentials",
) -> httpx.Response:
    return http.post(
        "/oauth/token",
        json={
            "client_id": client_id,
            "client_secret": client_secret,
            "scope": scope,
            "grant_type": grant_type,
        },
    )


def _token(http: httpx.Client, **kwargs: str) -> str:
    response = _token_response(http, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _walk(
    http: httpx.Client, token: str, path: str, params: dict[str, str] | None = None, size: int = 37
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(every record, every pageInfo) of a listing, following endCursor."""
    records: list[dict[str, Any]] = []
    infos: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**(params or {}), "pageSize": str(size)}
        if cursor:
            query["pageCursor"] = cursor
        response = http.get(path, params=query, headers=_auth(token))
        assert response.status_code == 200, response.text
        results = response.json()["results"]
        records.extend(results["data"])
        infos.append(results["pageInfo"])
        if not results["pageInfo"]["hasNextPage"]:
            return records, infos
        cursor = results["pageInfo"]["endCursor"]


# -- OAuth --------------------------------------------------------------------------------------


def test_token_endpoint_issues_a_bearer_token(client: httpx.Client) -> None:
    response = _token_response(client, scope="vanta-api.all:read vanta-api.all:write")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"access_token", "expires_in", "token_type"}
    assert body["access_token"].startswith("vat_")
    assert body["expires_in"] == 3599
    assert body["token_type"] == "Bearer"
    assert client.get(VULNS, headers=_auth(body["access_token"])).status_code == 200


@pytest.mark.parametrize(
    ("overrides", "status", "error"),
    [
        ({"client_secret": "wrong"}, 401, "invalid_client"),
        ({"client_id": "vci_other"}, 401, "invalid_client"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"scope": "connectors.self:read-resource"}, 400, "invalid_scope"),
        ({"scope": ""}, 400, "invalid_scope"),
    ],
)
def test_token_endpoint_refuses_bad_requests(
    client: httpx.Client, overrides: dict[str, str], status: int, error: str
) -> None:
    response = _token_response(client, **overrides)
    assert response.status_code == status
    assert response.json()["error"] == error


def test_token_endpoint_requires_a_json_body(client: httpx.Client) -> None:
    form = client.post(
        "/oauth/token",
        data={
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "scope": SCOPE,
            "grant_type": "client_credentials",
        },
    )
    assert form.status_code == 400
    assert form.json()["error"] == "invalid_request"
    not_an_object = client.post("/oauth/token", json=["client_credentials"])
    assert not_an_object.status_code == 400


def test_minting_a_new_token_revokes_the_previous_one(client: httpx.Client) -> None:
    first = _token(client)
    assert client.get(VULNS, headers=_auth(first)).status_code == 200
    second = _token(client)
    assert second != first
    refused = client.get(VULNS, headers=_auth(first))
    assert refused.status_code == 401
    assert "revoked" in refused.json()["message"]
    assert refused.headers["www-authenticate"].startswith("Bearer")
    assert client.get(VULNS, headers=_auth(second)).status_code == 200


def test_missing_invalid_expired_and_revoked_tokens_get_distinct_401s(
    sim: VantaSimulator, client: httpx.Client
) -> None:
    missing = client.get(VULNS)
    assert missing.status_code == 401 and missing.json()["error"] == "missing_token"
    invalid = client.get(VULNS, headers=_auth("vat_made_up"))
    assert invalid.status_code == 401 and "not valid" in invalid.json()["message"]
    basic = client.get(VULNS, headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert basic.status_code == 401

    token = _token(client)
    sim.expire_tokens()
    expired = client.get(VULNS, headers=_auth(token))
    assert expired.status_code == 401 and "expired" in expired.json()["message"]

    token = _token(client)
    sim.revoke_tokens()
    revoked = client.get(VULNS, headers=_auth(token))
    assert revoked.status_code == 401 and "revoked" in revoked.json()["message"]
    assert client.get(VULNS, headers=_auth(_token(client))).status_code == 200


def test_tokens_expire_after_their_lifetime() -> None:
    with (
        VantaSimulator(_config(token_lifetime=1)) as short,
        httpx.Client(base_url=short.url) as http,
    ):
        response = _token_response(http)
        assert response.json()["expires_in"] == 0
        token = response.json()["access_token"]
        assert http.get(VULNS, headers=_auth(token)).status_code == 200
        time.sleep(1.1)
        expired = http.get(VULNS, headers=_auth(token))
        assert expired.status_code == 401
        assert "expired" in expired.json()["message"]


def test_token_endpoint_rate_limit_answers_429_with_retry_after() -> None:
    with (
        VantaSimulator(_config(token_rate_limit=2, token_rate_window=60.0)) as limited,
        httpx.Client(base_url=limited.url) as http,
    ):
        assert _token_response(http).status_code == 200
        assert _token_response(http, client_secret="wrong").status_code == 401  # counts too
        refused = _token_response(http)
        assert refused.status_code == 429
        assert 58 <= int(refused.headers["retry-after"]) <= 60
        # Another client id has its own budget.
        assert _token_response(http, client_id="vci_other").status_code == 401


# -- pagination ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "resource", "params"),
    [
        (VULNS, Resource.VULNERABILITIES, ALL),
        (VULNS, Resource.VULNERABILITIES, {}),
        (VULNS, Resource.VULNERABILITIES, {"severity": "HIGH", "isFixAvailable": "true"}),
        (REMEDIATIONS, Resource.VULNERABILITY_REMEDIATIONS, {}),
        (REMEDIATIONS, Resource.VULNERABILITY_REMEDIATIONS, {"isRemediatedOnTime": "false"}),
        (ASSETS, Resource.VULNERABLE_ASSETS, {}),
    ],
)
def test_a_cursor_walk_returns_exactly_the_tenant_records(
    sim: VantaSimulator,
    client: httpx.Client,
    path: str,
    resource: Resource,
    params: dict[str, str],
) -> None:
    records, infos = _walk(client, _token(client), path, params)
    expected = list(sim.tenant.iter_records(resource, params=params))
    assert expected
    assert records == expected
    assert len(infos) == -(-len(expected) // 37)
    assert infos[0]["hasPreviousPage"] is False
    assert all(info["hasPreviousPage"] for info in infos[1:])
    assert [info["hasNextPage"] for info in infos] == [True] * (len(infos) - 1) + [False]


def test_page_info_cursors_point_at_the_first_and_last_items(client: httpx.Client) -> None:
    token = _token(client)
    page = client.get(VULNS, params={"pageSize": "5"}, headers=_auth(token)).json()["results"]
    info = page["pageInfo"]
    assert set(info) == {"startCursor", "endCursor", "hasNextPage", "hasPreviousPage"}
    assert info["startCursor"] != info["endCursor"]
    # Resuming from startCursor skips exactly the first item.
    after_first = client.get(
        VULNS,
        params={"pageSize": "4", "pageCursor": info["startCursor"]},
        headers=_auth(token),
    ).json()["results"]["data"]
    assert after_first == page["data"][1:]


def test_default_page_size_is_ten_and_bounds_are_enforced(client: httpx.Client) -> None:
    token = _token(client)
    default = client.get(VULNS, headers=_auth(token))
    assert len(default.json()["results"]["data"]) == 10
    assert (
        len(
            client.get(ASSETS, params={"pageSize": "1"}, headers=_auth(token)).json()["results"][
                "data"
            ]
        )
        == 1
    )
    full = client.get(REMEDIATIONS, params={"pageSize": "100"}, headers=_auth(token))
    assert len(full.json()["results"]["data"]) == 100
    for bad in ("0", "101", "500", "abc", "-1", "5.0", "", " 7"):
        refused = client.get(VULNS, params={"pageSize": bad}, headers=_auth(token))
        assert refused.status_code == 400, bad
        assert "pageSize" in refused.json()["message"]


def test_bad_or_foreign_cursors_are_refused(client: httpx.Client) -> None:
    token = _token(client)
    page = client.get(VULNS, params={"pageSize": "5"}, headers=_auth(token)).json()["results"]
    cursor = page["pageInfo"]["endCursor"]
    for params in (
        {"pageCursor": "not a cursor!"},
        {"pageCursor": base64.urlsafe_b64encode(b'{"x": 1}').decode()},
        {"pageCursor": cursor, "severity": "LOW"},  # another filter set
    ):
        assert client.get(VULNS, params=params, headers=_auth(token)).status_code == 400
    assert (
        client.get(REMEDIATIONS, params={"pageCursor": cursor}, headers=_auth(token))
        .json()["message"]
        .startswith("pageCursor belongs to another listing")
    )
    # Unknown parameters do not change the listing, so the cursor still fits.
    resumed = client.get(
        VULNS, params={"pageCursor": cursor, "pageSize": "5", "sort": "x"}, headers=_auth(token)
    )
    assert resumed.status_code == 200


def test_an_empty_listing_has_null_cursors(client: httpx.Client) -> None:
    token = _token(client)
    empty = client.get(VULNS, params={"q": "no-such-text-anywhere"}, headers=_auth(token))
    assert empty.json() == {
        "results": {
            "pageInfo": {
                "startCursor": None,
                "endCursor": None,
                "hasNextPage": False,
                "hasPreviousPage": False,
            },
            "data": [],
        }
    }


def test_boolean_parameters_accept_any_case(sim: VantaSimulator, client: httpx.Client) -> None:
    token = _token(client)
    expected = [
        r["id"]
        for r in sim.tenant.iter_records(Resource.VULNERABILITIES, params={"isDeactivated": "true"})
    ]
    assert expected
    for value in ("true", "True", "TRUE"):
        records, _ = _walk(client, token, VULNS, {"isDeactivated": value}, size=100)
        assert [r["id"] for r in records] == expected
    for value in ("yes", "1", ""):
        refused = client.get(VULNS, params={"isDeactivated": value}, headers=_auth(token))
        assert refused.status_code == 400
        assert "isDeactivated" in refused.json()["message"]
    bad_date = client.get(VULNS, params={"slaDeadlineAfterDate": "soon"}, headers=_auth(token))
    assert bad_date.status_code == 400


def test_single_item_gets_return_bare_objects(sim: VantaSimulator, client: httpx.Client) -> None:
    token = _token(client)
    vuln = next(sim.tenant.iter_records(Resource.VULNERABILITIES))
    asset = next(sim.tenant.iter_records(Resource.VULNERABLE_ASSETS))
    assert client.get(f"{VULNS}/{vuln['id']}", headers=_auth(token)).json() == vuln
    assert client.get(f"{ASSETS}/{asset['id']}", headers=_auth(token)).json() == asset
    missing = client.get(f"{VULNS}/{'a' * 24}", headers=_auth(token))
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    assert client.get(f"{ASSETS}/{vuln['id']}", headers=_auth(token)).status_code == 404
    assert client.get("/v1/assets", headers=_auth(token)).status_code == 404


def test_moving_the_clock_changes_the_listing(sim: VantaSimulator, client: httpx.Client) -> None:
    token = _token(client)
    before, _ = _walk(client, token, VULNS, ALL, size=100)
    later = BASE_DATE + timedelta(days=3)
    sim.set_as_of(later)
    assert sim.as_of == later
    after, _ = _walk(client, token, VULNS, ALL, size=100)
    assert after == list(sim.tenant.iter_records(Resource.VULNERABILITIES, as_of=later, params=ALL))
    assert {r["id"] for r in after} - {r["id"] for r in before}


# -- rate limiting ------------------------------------------------------------------------------


def test_rate_limit_answers_429_with_retry_after_and_refusals_are_free() -> None:
    with (
        VantaSimulator(_config(rate_limit=5, rate_window=1.0)) as limited,
        httpx.Client(base_url=limited.url) as http,
    ):
        token = _token(http)
        statuses = [http.get(ASSETS, headers=_auth(token)).status_code for _ in range(5)]
        assert statuses == [200] * 5
        refused = http.get(ASSETS, headers=_auth(token))
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["error"] == "rate_limited"
        for _ in range(3):  # refusals do not push the window further out
            assert http.get(ASSETS, headers=_auth(token)).status_code == 429
        time.sleep(1.05)
        statuses = [http.get(ASSETS, headers=_auth(token)).status_code for _ in range(6)]
        assert statuses == [200] * 5 + [429]
        log = limited.request_log
        assert [r.status for r in log if r.path == ASSETS].count(429) == 5


# -- faults -------------------------------------------------------------------------------------


def test_dropped_connections_are_seen_by_the_client_and_logged(
    sim: VantaSimulator, client: httpx.Client
) -> None:
    token = _token(client)
    sim.set_faults(FaultConfig(drop_rate=1.0))
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectError)):
        client.get(VULNS, headers=_auth(token))
    last = sim.request_log[-1]
    assert (last.status, last.fault, last.path) == (0, "drop", VULNS)
    sim.set_faults(FaultConfig())
    assert client.get(VULNS, headers=_auth(token)).status_code == 200


def test_a_burst_page_fails_then_succeeds_and_a_smaller_page_gets_through(
    sim: VantaSimulator, client: httpx.Client
) -> None:
    token = _token(client)
    sim.set_faults(FaultConfig(error_burst_pages=frozenset({2, 3}), error_burst_count=2, seed=1))
    first = client.get(VULNS, params={"pageSize": "20"}, headers=_auth(token))
    assert first.status_code == 200
    cursor = first.json()["results"]["pageInfo"]["endCursor"]
    page_two = {"pageSize": "20", "pageCursor": cursor}
    statuses = [
        client.get(VULNS, params=page_two, headers=_auth(token)).status_code for _ in range(3)
    ]
    assert all(status >= 500 for status in statuses[:2]) and statuses[2] == 200
    second = client.get(VULNS, params=page_two, headers=_auth(token)).json()["results"]
    page_three = {"pageSize": "20", "pageCursor": second["pageInfo"]["endCursor"]}
    assert client.get(VULNS, params=page_three, headers=_auth(token)).status_code >= 500
    # Halving the page size gets page 3 through at once.
    smaller = client.get(VULNS, params={**page_three, "pageSize": "10"}, headers=_auth(token))
    assert smaller.status_code == 200
    faults = [r.fault for r in sim.request_log if r.path == VULNS]
    assert faults == [None, "burst", "burst", None, None, "burst", None]


def test_error_rate_answers_5xx_and_some_500s_carry_a_fake_last_page(
    sim: VantaSimulator, client: httpx.Client
) -> None:
    token = _token(client)
    sim.set_faults(FaultConfig(error_rate=1.0, error_statuses=(500,), seed=4))
    responses = [client.get(VULNS, headers=_auth(token)) for _ in range(12)]
    assert {r.status_code for r in responses} == {500}
    fake_pages = [r.json() for r in responses if "results" in r.json()]
    assert fake_pages and len(fake_pages) < len(responses)
    assert all(p["results"]["pageInfo"]["hasNextPage"] is False for p in fake_pages)
    assert all(r.fault == "error" for r in sim.request_log if r.path == VULNS)


def test_slow_responses_are_delayed(sim: VantaSimulator, client: httpx.Client) -> None:
    token = _token(client)
    sim.set_faults(FaultConfig(slow_rate=1.0, slow_seconds=0.3))
    started = time.perf_counter()
    assert client.get(ASSETS, headers=_auth(token)).status_code == 200
    assert time.perf_counter() - started >= 0.3
    assert sim.request_log[-1].fault == "slow"


def test_malformed_records_over_http_equal_the_tenant_ground_truth(
    sim: VantaSimulator, client: httpx.Client
) -> None:
    token = _token(client)
    sim.set_faults(FaultConfig(malformed_rate=0.2))
    records, _ = _walk(client, token, VULNS, ALL, size=50)
    served = list(sim.tenant.iter_served(Resource.VULNERABILITIES, params=ALL, malformed_rate=0.2))
    assert records == [record for record, _ in served]
    assert sum(kind is not None for _, kind in served) > 20
    assert any(r.fault == "malformed" for r in sim.request_log)
    # The same records come back corrupted on a second walk.
    again, _ = _walk(client, token, VULNS, ALL, size=100)
    assert again == records


# -- request log --------------------------------------------------------------------------------


def test_the_request_log_records_every_request_without_the_secret(
    sim: VantaSimulator, client: httpx.Client
) -> None:
    started = time.time()
    token = _token(client)
    client.get(REMEDIATIONS, params={"pageSize": "3", "severity": "LOW"}, headers=_auth(token))
    client.get(VULNS, headers=_auth("vat_nope"))
    log = sim.request_log
    assert [(r.method, r.path, r.status) for r in log] == [
        ("POST", "/oauth/token", 200),
        ("GET", REMEDIATIONS, 200),
        ("GET", VULNS, 401),
    ]
    token_request, listing, refused = log
    assert token_request.client_id == CLIENT_ID
    assert "client_secret" not in token_request.params
    assert token_request.params["grant_type"] == "client_credentials"
    assert listing.params == {"pageSize": "3", "severity": "LOW"}
    assert listing.client_id == CLIENT_ID and listing.fault is None
    assert refused.client_id is None
    assert started <= token_request.time <= listing.time <= refused.time <= time.time()
    sim.clear_request_log()
    assert sim.request_log == []


# -- the command --------------------------------------------------------------------------------


def _command(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "vanta_vuln_stats.devstack.simulator.command", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def test_the_command_prints_its_address_serves_and_exits_cleanly_on_sigterm() -> None:
    process = _command(
        "--records",
        "50",
        "--port",
        "0",
        env={"VANTA_CLIENT_ID": "vci_cmd", "VANTA_CLIENT_SECRET": "vcs_hidden"},
    )
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline().rstrip("\n")
        prefix = "Vanta API simulator listening on http://127.0.0.1:"
        assert first_line.startswith(prefix)
        url = first_line.rsplit(" ", 1)[1]
        with httpx.Client(base_url=url) as http:
            token = _token(http, client_id="vci_cmd", client_secret="vcs_hidden")
            page = http.get(VULNS, headers=_auth(token)).json()["results"]
            assert len(page["data"]) == 10
        process.send_signal(signal.SIGTERM)
        rest, errors = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0
    assert "Traceback" not in errors
    assert "vcs_hidden" not in first_line + rest + errors


def test_the_command_without_credentials_exits_with_2() -> None:
    process = _command("--records", "10")
    out, errors = process.communicate(timeout=20)
    assert process.returncode == 2
    assert "--client-id" in errors and out == ""


def test_cursor_content_is_opaque_but_small(client: httpx.Client) -> None:
    token = _token(client)
    cursor = client.get(VULNS, headers=_auth(token)).json()["results"]["pageInfo"]["endCursor"]
    assert len(cursor) < 80
    assert json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
