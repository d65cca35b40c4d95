"""Credentials from AWS Secrets Manager, against moto in server mode on loopback."""

from __future__ import annotations

import json

import boto3
import pytest

from vanta_vuln_stats.config.credentials import clear_secret_cache, resolve_credentials
from vanta_vuln_stats.errors import CredentialsError

SECRET = "vcs_from_secrets_manager_0123456789"


@pytest.fixture
def secrets_manager(moto_endpoint, monkeypatch):
    # The production code reads the endpoint like any AWS SDK user would: from the environment.
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    clear_secret_cache()
    client = boto3.client("secretsmanager", region_name="us-east-1", endpoint_url=moto_endpoint)
    yield client
    clear_secret_cache()


def test_secret_by_name_and_arn(secrets_manager):
    created = secrets_manager.create_secret(
        Name="vanta/app", SecretString=json.dumps({"client_id": "vci_sm", "client_secret": SECRET})
    )
    by_name = resolve_credentials(secret_id="vanta/app", aws_region="us-east-1", env={})
    assert (by_name.client_id, by_name.client_secret) == ("vci_sm", SECRET)
    assert by_name.source == "client id and client secret from AWS Secrets Manager secret vanta/app"
    by_arn = resolve_credentials(secret_id=created["ARN"], aws_region="us-east-1", env={})
    assert by_arn.client_secret == SECRET
    assert SECRET not in repr(by_arn)


def test_secret_is_cached(secrets_manager):
    secrets_manager.create_secret(
        Name="vanta/cached",
        SecretString=json.dumps({"client_id": "vci_1", "client_secret": SECRET}),
    )
    first = resolve_credentials(secret_id="vanta/cached", aws_region="us-east-1", env={})
    secrets_manager.put_secret_value(
        SecretId="vanta/cached",
        SecretString=json.dumps({"client_id": "vci_2", "client_secret": SECRET}),
    )
    second = resolve_credentials(secret_id="vanta/cached", aws_region="us-east-1", env={})
    assert first.client_id == second.client_id == "vci_1"
    clear_secret_cache()
    third = resolve_credentials(secret_id="vanta/cached", aws_region="us-east-1", env={})
    assert third.client_id == "vci_2"


def test_missing_secret_is_a_clear_error(secrets_manager):
    with pytest.raises(CredentialsError, match="vanta/absent does not exist"):
        resolve_credentials(secret_id="vanta/absent", aws_region="us-east-1", env={})


def test_a_secret_may_hold_only_the_value_not_found_elsewhere(secrets_manager):
    secrets_manager.create_secret(
        Name="vanta/secret-only", SecretString=json.dumps({"client_secret": SECRET})
    )
    creds = resolve_credentials(
        secret_id="vanta/secret-only", aws_region="us-east-1", env={"VANTA_CLIENT_ID": "vci_env"}
    )
    assert (creds.client_id, creds.client_secret) == ("vci_env", SECRET)
    assert creds.source == (
        "client id from VANTA_CLIENT_ID, client secret from AWS Secrets Manager secret "
        "vanta/secret-only"
    )
    with pytest.raises(CredentialsError) as info:
        resolve_credentials(secret_id="vanta/secret-only", aws_region="us-east-1", env={})
    assert str(info.value) == (
        "No Vanta client id found: looked at --client-id, the VANTA_CLIENT_ID environment "
        "variable and the AWS Secrets Manager secret vanta/secret-only (no client_id in it)."
    )


def test_secret_without_json_object_is_a_clear_error(secrets_manager):
    secrets_manager.create_secret(Name="vanta/plain", SecretString=SECRET)
    with pytest.raises(CredentialsError) as info:
        resolve_credentials(secret_id="vanta/plain", aws_region="us-east-1", env={})
    assert "must hold a JSON object" in str(info.value)
    assert SECRET not in str(info.value)


def test_the_command_syncs_with_credentials_from_secrets_manager(secrets_manager, tmp_path):
    import contextlib
    import io

    from vanta_vuln_stats import cli
    from vanta_vuln_stats.devstack.simulator import SimulatorConfig, VantaSimulator

    secrets_manager.create_secret(
        Name="vanta/cli", SecretString=json.dumps({"client_id": "vci_sm", "client_secret": SECRET})
    )
    config = SimulatorConfig(
        records=200, client_id="vci_sm", client_secret=SECRET, rate_limit=0, token_rate_limit=0
    )
    with VantaSimulator(config) as sim:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(
                [
                    "--sync",
                    "--database",
                    str(tmp_path / "sm.db"),
                    "--api-url",
                    sim.url,
                    "--secret-id",
                    "vanta/cli",
                    "--aws-region",
                    "us-east-1",
                    "--format",
                    "json",
                    "--verbose",
                ]
            )
        served = sum(
            1
            for _ in sim.tenant.iter_records(
                "vulnerabilities", params={"includeVulnerabilitiesWithoutSlas": "true"}
            )
        )
    assert code == 0, err.getvalue()
    assert json.loads(out.getvalue())["total_count"] == served
    assert "client id and client secret from AWS Secrets Manager secret vanta/cli" in err.getvalue()
    assert SECRET not in err.getvalue() + out.getvalue()
