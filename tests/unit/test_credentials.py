from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from vanta_vuln_stats.config.credentials import Credentials, resolve_credentials
from vanta_vuln_stats.config.redact import RedactingFilter
from vanta_vuln_stats.errors import CredentialsError

SECRET = "vcs_s3cr3t_value_that_must_not_leak"


class FakeSecrets:
    """Secrets Manager as a dict of secret id -> JSON object; records every read."""

    def __init__(self, secrets: dict[str, dict[str, Any]]) -> None:
        self.secrets = secrets
        self.reads: list[tuple[str, str | None]] = []

    def __call__(self, secret_id: str, region: str | None) -> dict[str, Any]:
        self.reads.append((secret_id, region))
        return dict(self.secrets[secret_id])


def write_json(path: Path, **values: str) -> Path:
    path.write_text(json.dumps(values))
    return path


def test_explicit_values_win_over_everything(tmp_path):
    creds_file = write_json(tmp_path / "creds.env", client_id="file_id", client_secret="file_s")
    env = {"VANTA_CLIENT_ID": "env_id", "VANTA_CLIENT_SECRET": "env_secret"}
    creds = resolve_credentials("flag_id", SECRET, credentials_file=creds_file, env=env)
    assert (creds.client_id, creds.client_secret, creds.source) == (
        "flag_id",
        SECRET,
        "client id from --client-id, client secret from --client-secret",
    )


def test_environment_before_file(tmp_path):
    creds_file = write_json(tmp_path / "creds.env", client_id="file_id", client_secret="file_s")
    env = {"VANTA_CLIENT_ID": "env_id", "VANTA_CLIENT_SECRET": SECRET}
    creds = resolve_credentials(credentials_file=creds_file, env=env)
    assert (creds.client_id, creds.client_secret) == ("env_id", SECRET)
    assert creds.source == "client id from VANTA_CLIENT_ID, client secret from VANTA_CLIENT_SECRET"


def test_legacy_json_file(tmp_path):
    creds_file = write_json(
        tmp_path / "VANTA_API_CREDENTIALS.env", client_id="vci_abc", client_secret=SECRET
    )
    creds = resolve_credentials(credentials_file=creds_file, env={})
    assert (creds.client_id, creds.client_secret) == ("vci_abc", SECRET)
    assert creds.source == f"client id and client secret from credentials file {creds_file}"


def test_dotenv_style_file_is_accepted(tmp_path):
    creds_file = tmp_path / "creds.env"
    creds_file.write_text(f"# Vanta\nVANTA_CLIENT_ID=vci_abc\nVANTA_CLIENT_SECRET='{SECRET}'\n")
    creds = resolve_credentials(credentials_file=creds_file, env={})
    assert (creds.client_id, creds.client_secret) == ("vci_abc", SECRET)


# -- Each value on its own, from every combination of places ------------------------------------

PLACES = ("flag", "environment", "file", "secret")
PLACE_NAMES = {
    "flag": ("--client-id", "--client-secret"),
    "environment": ("VANTA_CLIENT_ID", "VANTA_CLIENT_SECRET"),
    "file": ("credentials file {file}", "credentials file {file}"),
    "secret": ("AWS Secrets Manager secret vanta/app", "AWS Secrets Manager secret vanta/app"),
}


@pytest.mark.parametrize("secret_place", PLACES)
@pytest.mark.parametrize("id_place", PLACES)
def test_each_value_comes_from_the_first_place_that_has_it(tmp_path, id_place, secret_place):
    # Given the id in one place and the secret in another (or the same), nothing else anywhere
    holding = {place: {} for place in PLACES}
    holding[id_place]["client_id"] = f"vci_from_{id_place}"
    holding[secret_place]["client_secret"] = SECRET
    creds_file = write_json(tmp_path / "creds.env", **holding["file"])
    env = {}
    if "client_id" in holding["environment"]:
        env["VANTA_CLIENT_ID"] = holding["environment"]["client_id"]
    if "client_secret" in holding["environment"]:
        env["VANTA_CLIENT_SECRET"] = SECRET
    secrets = FakeSecrets({"vanta/app": holding["secret"]})

    # When
    creds = resolve_credentials(
        holding["flag"].get("client_id"),
        holding["flag"].get("client_secret"),
        credentials_file=creds_file,
        secret_id="vanta/app",
        aws_region="eu-west-1",
        env=env,
        secret_reader=secrets,
    )

    # Then each value is the one its place held, and the source names both places
    assert (creds.client_id, creds.client_secret) == (f"vci_from_{id_place}", SECRET)
    id_name = PLACE_NAMES[id_place][0].format(file=creds_file)
    secret_name = PLACE_NAMES[secret_place][1].format(file=creds_file)
    if id_name == secret_name:
        assert creds.source == f"client id and client secret from {id_name}"
    else:
        assert creds.source == f"client id from {id_name}, client secret from {secret_name}"
    assert SECRET not in repr(creds) + creds.source
    # Secrets Manager is read only when a value is still missing after the file.
    assert bool(secrets.reads) == ("secret" in (id_place, secret_place))


def test_a_value_found_early_is_not_overridden_by_a_later_place(tmp_path):
    creds_file = write_json(tmp_path / "creds.env", client_id="file_id", client_secret=SECRET)
    creds = resolve_credentials("flag_id", None, credentials_file=creds_file, env={})
    assert (creds.client_id, creds.client_secret) == ("flag_id", SECRET)
    assert (
        creds.source
        == f"client id from --client-id, client secret from credentials file {creds_file}"
    )


def test_later_places_are_not_read_once_both_values_are_found(tmp_path):
    broken = tmp_path / "creds.env"
    broken.write_text("{not json")
    secrets = FakeSecrets({})
    creds = resolve_credentials(
        "flag_id",
        None,
        credentials_file=broken,
        secret_id="vanta/app",
        env={"VANTA_CLIENT_SECRET": SECRET},
        secret_reader=secrets,
    )
    assert creds.source == "client id from --client-id, client secret from VANTA_CLIENT_SECRET"
    assert secrets.reads == []


def test_blank_values_count_as_absent(tmp_path):
    creds_file = write_json(tmp_path / "creds.env", client_id="  ", client_secret=SECRET)
    creds = resolve_credentials(
        " ", "", credentials_file=creds_file, env={"VANTA_CLIENT_ID": " vci_env "}
    )
    assert (creds.client_id, creds.client_secret) == ("vci_env", SECRET)


# -- A value found nowhere: the error names it and every place looked at ------------------------


def test_missing_secret_names_every_place_looked_at(tmp_path):
    absent = tmp_path / "VANTA_API_CREDENTIALS.env"
    with pytest.raises(CredentialsError) as info:
        resolve_credentials("vci_abc", None, credentials_file=absent, env={})
    assert str(info.value) == (
        "No Vanta client secret found: looked at --client-secret, the VANTA_CLIENT_SECRET "
        f"environment variable and the credentials file {absent} (not found)."
    )
    assert info.value.exit_code == 2


def test_missing_id_names_the_file_that_lacks_it_and_the_secret(tmp_path):
    creds_file = write_json(tmp_path / "creds.env", client_secret=SECRET)
    secrets = FakeSecrets({"vanta/app": {"client_secret": SECRET}})
    with pytest.raises(CredentialsError) as info:
        resolve_credentials(
            credentials_file=creds_file, secret_id="vanta/app", env={}, secret_reader=secrets
        )
    assert str(info.value) == (
        "No Vanta client id found: looked at --client-id, the VANTA_CLIENT_ID environment "
        f"variable, the credentials file {creds_file} (no client_id in it) and the AWS Secrets "
        "Manager secret vanta/app (no client_id in it)."
    )
    assert SECRET not in str(info.value)


def test_nothing_found_names_both_values_and_only_the_places_looked_at(tmp_path):
    absent = tmp_path / "absent.env"
    with pytest.raises(CredentialsError) as info:
        resolve_credentials(credentials_file=absent, env={})
    assert str(info.value) == (
        "No Vanta credentials found: looked at --client-id and --client-secret, the "
        "VANTA_CLIENT_ID and VANTA_CLIENT_SECRET environment variables and the credentials "
        f"file {absent} (not found)."
    )
    # No file configured: not named either.
    with pytest.raises(CredentialsError) as info:
        resolve_credentials(env={"VANTA_CLIENT_ID": "vci_abc"})
    assert str(info.value) == (
        "No Vanta client secret found: looked at --client-secret and the VANTA_CLIENT_SECRET "
        "environment variable."
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (json.dumps(["not", "an", "object"]), "must hold a JSON object"),
        ('{"client_id": "vci_abc", "client_secret": "' + SECRET, "invalid JSON at line 1"),
        (json.dumps({"client_id": "vci_abc", "client_secret": [SECRET]}), "client_secret must"),
    ],
)
def test_broken_credentials_file_is_named_and_secret_free(tmp_path, content, expected):
    creds_file = tmp_path / "creds.env"
    creds_file.write_text(content)
    with pytest.raises(CredentialsError) as info:
        resolve_credentials(credentials_file=creds_file, env={})
    assert expected in str(info.value)
    assert str(creds_file) in str(info.value)
    assert SECRET not in str(info.value)


def test_secret_never_in_repr_or_str():
    creds = Credentials("vci_abcdef", SECRET, source="explicit values")
    for text in (repr(creds), str(creds), f"{creds}", repr([creds])):
        assert SECRET not in text
        assert "vci_abcdef" not in text  # the id is shortened too
    assert "***" in repr(creds)


def test_secret_masked_in_logs(caplog):
    Credentials("vci_abcdef", SECRET)  # registers the secret
    logger = logging.getLogger("vanta_vuln_stats.test")
    handler_records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            handler_records.append(self.format(record))

    handler = Collect()
    handler.addFilter(RedactingFilter())
    logger.addHandler(handler)
    try:
        logger.warning("token request failed for secret %s", SECRET)
        try:
            raise RuntimeError(f"boom {SECRET}")
        except RuntimeError:
            logger.exception("while calling")
    finally:
        logger.removeHandler(handler)
    joined = "\n".join(handler_records)
    assert "token request failed for secret ***" in joined
    assert "boom ***" in joined
    assert SECRET not in joined
