from __future__ import annotations

import json
import logging

import pytest

from vanta_vuln_stats.config.credentials import Credentials, resolve_credentials
from vanta_vuln_stats.config.redact import RedactingFilter
from vanta_vuln_stats.errors import CredentialsError

SECRET = "vcs_s3cr3t_value_that_must_not_leak"


def test_explicit_values_win_over_everything(tmp_path):
    creds_file = tmp_path / "creds.env"
    creds_file.write_text(json.dumps({"client_id": "file_id", "client_secret": "file_secret"}))
    env = {"VANTA_CLIENT_ID": "env_id", "VANTA_CLIENT_SECRET": "env_secret"}
    creds = resolve_credentials("flag_id", SECRET, credentials_file=creds_file, env=env)
    assert (creds.client_id, creds.client_secret, creds.source) == (
        "flag_id",
        SECRET,
        "explicit values",
    )


def test_environment_before_file(tmp_path):
    creds_file = tmp_path / "creds.env"
    creds_file.write_text(json.dumps({"client_id": "file_id", "client_secret": "file_secret"}))
    env = {"VANTA_CLIENT_ID": "env_id", "VANTA_CLIENT_SECRET": SECRET}
    creds = resolve_credentials(credentials_file=creds_file, env=env)
    assert creds.client_id == "env_id"
    assert "environment" in creds.source


def test_legacy_json_file(tmp_path):
    creds_file = tmp_path / "VANTA_API_CREDENTIALS.env"
    creds_file.write_text(json.dumps({"client_id": "vci_abc", "client_secret": SECRET}))
    creds = resolve_credentials(credentials_file=creds_file, env={})
    assert (creds.client_id, creds.client_secret) == ("vci_abc", SECRET)
    assert creds.source == f"credentials file {creds_file}"


def test_dotenv_style_file_is_accepted(tmp_path):
    creds_file = tmp_path / "creds.env"
    creds_file.write_text(f"# Vanta\nVANTA_CLIENT_ID=vci_abc\nVANTA_CLIENT_SECRET='{SECRET}'\n")
    creds = resolve_credentials(credentials_file=creds_file, env={})
    assert (creds.client_id, creds.client_secret) == ("vci_abc", SECRET)


def test_nothing_found_lists_every_source(tmp_path):
    with pytest.raises(CredentialsError) as info:
        resolve_credentials(credentials_file=tmp_path / "absent.env", env={})
    message = str(info.value)
    assert message.startswith("No Vanta credentials found. Tried:")
    for part in (
        "--client-id",
        "VANTA_CLIENT_ID/VANTA_CLIENT_SECRET",
        "absent.env: not found",
        "AWS Secrets Manager",
    ):
        assert part in message
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (json.dumps({"client_id": "vci_abc"}), "has no client_secret"),
        (json.dumps({"client_secret": SECRET}), "has no client_id"),
        (json.dumps(["not", "an", "object"]), "must hold a JSON object"),
        ('{"client_id": "vci_abc", "client_secret": "' + SECRET, "invalid JSON at line 1"),
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


def test_half_set_environment_names_the_missing_variable():
    with pytest.raises(CredentialsError, match="VANTA_CLIENT_ID is set but VANTA_CLIENT_SECRET"):
        resolve_credentials(env={"VANTA_CLIENT_ID": "vci_abc"})
    with pytest.raises(CredentialsError, match="VANTA_CLIENT_SECRET is set but VANTA_CLIENT_ID"):
        resolve_credentials(env={"VANTA_CLIENT_SECRET": SECRET})


def test_half_given_explicit_values_are_an_error():
    with pytest.raises(CredentialsError, match="has no client_secret"):
        resolve_credentials("vci_abc", None, env={})


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
