"""Vanta client credentials, from the first source that has them.

Order: explicit values (flags / arguments) > environment variables ``VANTA_CLIENT_ID`` and
``VANTA_CLIENT_SECRET`` > the earlier tool's credentials file (a JSON object with ``client_id`` and
``client_secret``, default ``VANTA_API_CREDENTIALS.env``) > an AWS Secrets Manager secret (a JSON
string with the same keys), by name or ARN. When no source has them, the error lists every source
tried and why it did not count. The secret never appears in repr, str, logs or error messages.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vanta_vuln_stats.config.redact import MASK, mask, register_secret
from vanta_vuln_stats.errors import CredentialsError

ENV_CLIENT_ID = "VANTA_CLIENT_ID"
ENV_CLIENT_SECRET = "VANTA_CLIENT_SECRET"
SECRET_CACHE_SECONDS = 300.0


@dataclass(frozen=True)
class Credentials:
    """A Vanta application's client id and secret, and where they were found."""

    client_id: str
    client_secret: str = field(repr=False)
    source: str = "explicit values"

    def __post_init__(self) -> None:
        register_secret(self.client_secret)

    def __repr__(self) -> str:
        return (
            f"Credentials(client_id={mask(self.client_id)!r}, client_secret={MASK!r}, "
            f"source={self.source!r})"
        )

    __str__ = __repr__


def _pair(client_id: Any, client_secret: Any, where: str) -> tuple[str, str] | str:
    """The usable (id, secret) pair, or the reason it is not usable."""
    missing = [
        name
        for name, value in (("client_id", client_id), ("client_secret", client_secret))
        if not isinstance(value, str) or not value.strip()
    ]
    if missing:
        return f"{where} has no {' and no '.join(missing)}"
    return client_id.strip(), client_secret.strip()


def _read_credentials_file(path: Path) -> tuple[str, str] | str:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return f"credentials file {path}: not found"
    except OSError as exc:
        raise CredentialsError(f"Credentials file {path} cannot be read: {exc.strerror}.") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        data = _parse_dotenv(text)
        if data is None:
            # Never echo the content: it may hold the secret.
            raise CredentialsError(
                f"Credentials file {path} is not a JSON object with client_id and client_secret "
                f"(invalid JSON at line {exc.lineno}, column {exc.colno})."
            ) from None
    if not isinstance(data, dict):
        raise CredentialsError(
            f"Credentials file {path} must hold a JSON object with client_id and client_secret."
        )
    result = _pair(data.get("client_id"), data.get("client_secret"), f"credentials file {path}")
    if isinstance(result, str):
        raise CredentialsError(result[0].upper() + result[1:] + ".")
    return result


def _parse_dotenv(text: str) -> dict[str, str] | None:
    """Accept KEY=VALUE lines too, since the file's .env name invites that format."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        if not sep:
            return None
        values[key.strip().lower()] = value.strip().strip("'\"")
    renamed = {
        "client_id": values.get("client_id") or values.get(ENV_CLIENT_ID.lower()),
        "client_secret": values.get("client_secret") or values.get(ENV_CLIENT_SECRET.lower()),
    }
    return renamed if any(renamed.values()) else None


# --- AWS Secrets Manager ------------------------------------------------------------------------

_secret_cache: dict[tuple[str, str | None], tuple[float, tuple[str, str]]] = {}
_secret_lock = threading.Lock()


def _fetch_secret(secret_id: str, region: str | None) -> tuple[str, str]:
    try:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # pragma: no cover - boto3 is a pinned dependency of the local install
        raise CredentialsError(
            "Reading credentials from AWS Secrets Manager needs boto3: "
            "pip install 'vanta-vuln-stats[aws]'."
        ) from None
    where = f"AWS Secrets Manager secret {secret_id}"
    try:
        client = boto3.client("secretsmanager", region_name=region)
        response = client.get_secret_value(SecretId=secret_id)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "Error")
        hint = {
            "ResourceNotFoundException": "does not exist (check the name and region)",
            "AccessDeniedException": "is not readable with the current AWS identity",
            "DecryptionFailure": "cannot be decrypted with the current AWS identity",
        }.get(code, f"could not be read ({code})")
        raise CredentialsError(f"{where} {hint}.") from None
    except BotoCoreError as exc:
        raise CredentialsError(f"{where} could not be read: {type(exc).__name__}.") from None
    text = response.get("SecretString")
    try:
        data = json.loads(text) if text else None
    except json.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        raise CredentialsError(f"{where} must hold a JSON object with client_id and client_secret.")
    result = _pair(data.get("client_id"), data.get("client_secret"), where)
    if isinstance(result, str):
        raise CredentialsError(result + ".")
    return result


def read_secret(
    secret_id: str, region: str | None = None, *, clock: Callable[[], float] = time.monotonic
) -> tuple[str, str]:
    """(client_id, client_secret) from a Secrets Manager secret, cached for a few minutes so
    warm Lambda invocations and repeated CLI calls do not re-read it."""
    key = (secret_id, region)
    with _secret_lock:
        cached = _secret_cache.get(key)
        if cached and clock() - cached[0] < SECRET_CACHE_SECONDS:
            return cached[1]
        value = _fetch_secret(secret_id, region)
        _secret_cache[key] = (clock(), value)
        return value


def clear_secret_cache() -> None:
    with _secret_lock:
        _secret_cache.clear()


# --- resolution ---------------------------------------------------------------------------------


def resolve_credentials(
    client_id: str | None = None,
    client_secret: str | None = None,
    *,
    credentials_file: str | os.PathLike[str] | None = None,
    secret_id: str | None = None,
    aws_region: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Credentials:
    """Credentials from the first source that has them; CredentialsError naming all sources."""
    env = os.environ if env is None else env
    tried: list[str] = []

    if client_id or client_secret:
        result = _pair(client_id, client_secret, "the explicit credentials")
        if isinstance(result, str):
            raise CredentialsError(result[0].upper() + result[1:] + ".")
        return Credentials(*result, source="explicit values")
    tried.append("explicit --client-id/--client-secret: not given")

    env_id, env_secret = env.get(ENV_CLIENT_ID), env.get(ENV_CLIENT_SECRET)
    if env_id or env_secret:
        if not (env_id and env_secret):
            present, missing = (
                (ENV_CLIENT_ID, ENV_CLIENT_SECRET) if env_id else (ENV_CLIENT_SECRET, ENV_CLIENT_ID)
            )
            raise CredentialsError(f"{present} is set but {missing} is not; set both.")
        return Credentials(
            env_id.strip(),
            env_secret.strip(),
            source=f"environment variables {ENV_CLIENT_ID}/{ENV_CLIENT_SECRET}",
        )
    tried.append(f"environment variables {ENV_CLIENT_ID}/{ENV_CLIENT_SECRET}: not set")

    if credentials_file is not None:
        path = Path(credentials_file)
        result = _read_credentials_file(path)
        if not isinstance(result, str):
            return Credentials(*result, source=f"credentials file {path}")
        tried.append(result)
    else:
        tried.append("credentials file: none configured")

    if secret_id:
        secret_pair = read_secret(secret_id, aws_region)
        return Credentials(*secret_pair, source=f"AWS Secrets Manager secret {secret_id}")
    tried.append("AWS Secrets Manager: no secret configured (VANTA_SECRET_ID / --secret-id)")

    raise CredentialsError("No Vanta credentials found. Tried: " + "; ".join(tried) + ".")
