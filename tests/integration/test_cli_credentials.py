"""Credentials from mixed places, through the command's real entry point.

The client id and the client secret are each taken from the first place that has it (flag,
environment, credentials file, Secrets Manager), so every mixed combination must sync against
the simulator, which accepts only the right pair. A sentinel secret must never appear in the
output, the error, a log record or the ``--verbose`` lines.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from vanta_vuln_stats import cli
from vanta_vuln_stats.config.credentials import clear_secret_cache
from vanta_vuln_stats.devstack.simulator import SimulatorConfig, VantaSimulator

CLIENT_ID = "vci_mixed_sources"
SENTINEL_SECRET = "sentinel-secret-never-printed-41d7"
REGION = "us-east-1"

PLACES = ("flag", "environment", "file", "secret")
MIXED = [pair for pair in itertools.product(PLACES, PLACES) if pair[0] != pair[1]]


@dataclass
class Run:
    code: int
    out: str
    err: str
    logs: str

    @property
    def everything(self) -> str:
        return self.out + self.err + self.logs


@pytest.fixture(scope="module")
def sim() -> Iterator[VantaSimulator]:
    config = SimulatorConfig(
        records=40,
        seed=3,
        client_id=CLIENT_ID,
        client_secret=SENTINEL_SECRET,
        rate_limit=0,
        token_rate_limit=0,
    )
    with VantaSimulator(config) as server:
        yield server


@pytest.fixture
def secrets_manager(moto_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    clear_secret_cache()
    yield boto3.client("secretsmanager", region_name=REGION, endpoint_url=moto_endpoint)
    clear_secret_cache()


@pytest.fixture
def run_cli(monkeypatch, caplog):
    """The command, with stdout and stderr captured and every record of its loggers kept as
    written (before its handler masks anything, so a secret formatted into a message is caught).

    Third-party DEBUG records are not kept: the command never shows them (botocore's would
    include the Secrets Manager response, which is why nothing may set them to DEBUG)."""
    configure = cli.configure_logging

    def configure_and_capture(verbose: bool) -> None:
        configure(verbose)
        logging.getLogger("vanta_vuln_stats").addHandler(caplog.handler)

    monkeypatch.setattr(cli, "configure_logging", configure_and_capture)
    caplog.set_level(logging.DEBUG, logger="vanta_vuln_stats")

    def run(*args: str) -> Run:
        caplog.clear()  # only what the command logs
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(list(args))
        logging.getLogger("vanta_vuln_stats").removeHandler(caplog.handler)
        return Run(code, out.getvalue(), err.getvalue(), caplog.text)

    return run


def place_values(
    place: str, values: dict[str, str], *, tmp_path: Path, monkeypatch, secrets_manager
) -> list[str]:
    """Put ``values`` (client_id and/or client_secret) in ``place``; the flags that point there."""
    if not values:
        return []
    if place == "flag":
        return [part for name, value in values.items() for part in (_flag(name), value)]
    if place == "environment":
        for name, value in values.items():
            monkeypatch.setenv(f"VANTA_{name.upper()}", value)
        return []
    if place == "file":
        path = tmp_path / "creds.env"
        path.write_text(json.dumps(values))
        return ["--credentials", str(path)]
    name = f"vanta/{tmp_path.name}"
    secrets_manager.create_secret(Name=name, SecretString=json.dumps(values))
    return ["--secret-id", name, "--aws-region", REGION]


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


SOURCE_NAMES = {
    "flag": ("--client-id", "--client-secret"),
    "environment": ("VANTA_CLIENT_ID", "VANTA_CLIENT_SECRET"),
    "file": ("credentials file {tmp}/creds.env",) * 2,
    "secret": ("AWS Secrets Manager secret vanta/{name}",) * 2,
}


@pytest.mark.parametrize(("id_place", "secret_place"), MIXED, ids=["-".join(p) for p in MIXED])
def test_mixed_places_sync_and_never_show_the_secret(
    sim, run_cli, secrets_manager, tmp_path, monkeypatch, id_place, secret_place
):
    # Given the client id in one place and the secret in another, nothing anywhere else
    holding = {place: {} for place in PLACES}
    holding[id_place]["client_id"] = CLIENT_ID
    holding[secret_place]["client_secret"] = SENTINEL_SECRET
    flags = []
    for place in PLACES:
        flags += place_values(
            place,
            holding[place],
            tmp_path=tmp_path,
            monkeypatch=monkeypatch,
            secrets_manager=secrets_manager,
        )
    if "file" not in (id_place, secret_place):
        flags += ["--credentials", str(tmp_path / "no-such-file.env")]

    # When the command syncs with --verbose
    result = run_cli(
        "--sync",
        "--database",
        str(tmp_path / "vulns.db"),
        "--api-url",
        sim.url,
        "--requests-per-minute",
        "0",
        "--no-progress",
        "--verbose",
        "--format",
        "json",
        *flags,
    )

    # Then it authenticated with the pair, says where each value came from, shows no secret
    assert result.code == 0, result.err
    assert json.loads(result.out)["total_count"] > 0
    names = {"tmp": tmp_path, "name": tmp_path.name}
    id_source = SOURCE_NAMES[id_place][0].format(**names)
    secret_source = SOURCE_NAMES[secret_place][1].format(**names)
    assert f"Using client id from {id_source}, client secret from {secret_source};" in result.err
    assert "setting credentials_file" in result.err  # the --verbose settings lines are there
    assert "minted a Vanta access token" in result.logs  # and the log records were kept
    assert SENTINEL_SECRET not in result.everything


def test_the_issue_example_id_by_flag_and_secret_from_the_environment(
    sim, run_cli, tmp_path, monkeypatch
):
    monkeypatch.setenv("VANTA_CLIENT_SECRET", SENTINEL_SECRET)
    result = run_cli(
        "--sync",
        "--database",
        str(tmp_path / "vulns.db"),
        "--api-url",
        sim.url,
        "--client-id",
        CLIENT_ID,
        "--format",
        "json",
    )
    assert result.code == 0, result.err
    assert SENTINEL_SECRET not in result.everything


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (
            "id-by-flag",
            "Error: No Vanta client secret found: looked at --client-secret, the "
            "VANTA_CLIENT_SECRET environment variable and the credentials file "
            "VANTA_API_CREDENTIALS.env (not found).",
        ),
        (
            "secret-in-file",
            "Error: No Vanta client id found: looked at --client-id, the VANTA_CLIENT_ID "
            "environment variable and the credentials file VANTA_API_CREDENTIALS.env "
            "(no client_id in it).",
        ),
        (
            "secret-in-environment",
            "Error: No Vanta client id found: looked at --client-id, the VANTA_CLIENT_ID "
            "environment variable and the credentials file VANTA_API_CREDENTIALS.env "
            "(not found).",
        ),
    ],
)
def test_a_missing_value_is_named_with_every_place_looked_at(
    run_cli, tmp_path, monkeypatch, given, expected
):
    # The default credentials file, in the current folder, is one of the places.
    flags = []
    if given == "id-by-flag":
        flags = ["--client-id", CLIENT_ID]
    elif given == "secret-in-file":
        Path("VANTA_API_CREDENTIALS.env").write_text(json.dumps({"client_secret": SENTINEL_SECRET}))
    else:
        monkeypatch.setenv("VANTA_CLIENT_SECRET", SENTINEL_SECRET)
    database = tmp_path / "new.db"
    result = run_cli("--sync", "--database", str(database), "--verbose", *flags)
    assert result.code == 2
    assert result.err.splitlines()[-1] == expected
    assert SENTINEL_SECRET not in result.everything
    assert not database.exists()


def test_a_sync_with_the_stacks_token_store_shares_its_token(
    sim, run_cli, secrets_manager, tmp_path, monkeypatch
):
    # Given a deployed stack's token store holding the token its scheduled fetch minted
    store = secrets_manager.create_secret(Name=f"token/{tmp_path.name}", SecretString="{}")["ARN"]
    monkeypatch.setenv("VANTA_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("VANTA_CLIENT_SECRET", SENTINEL_SECRET)
    common = ["--api-url", sim.url, "--requests-per-minute", "0", "--no-progress"]
    common += ["--token-store", store, "--aws-region", REGION, "--format", "json"]
    first = run_cli("--sync", "--database", str(tmp_path / "a.db"), *common)
    assert first.code == 0, first.err
    mints = [r for r in sim.request_log if r.path.endswith("/oauth/token")]

    # When a user syncs by hand with the same store
    second = run_cli("--sync", "--database", str(tmp_path / "b.db"), *common)

    # Then the second sync used the stored token: no new mint, nothing revoked
    assert second.code == 0, second.err
    assert [r for r in sim.request_log if r.path.endswith("/oauth/token")] == mints
    assert json.loads(second.out)["total_count"] == json.loads(first.out)["total_count"] > 0
    token = json.loads(secrets_manager.get_secret_value(SecretId=store)["SecretString"])
    assert token["access_token"] not in second.everything
    assert SENTINEL_SECRET not in second.everything
