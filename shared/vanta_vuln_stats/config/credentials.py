"""Vanta client credentials: the client id and the client secret, each from the first place
that has it.

Order, for each of the two values on its own: explicit values (flags / arguments) > environment
variables ``VANTA_CLIENT_ID`` / ``VANTA_CLIENT_SECRET`` > the earlier tool's credentials file (a
JSON object with ``client_id`` and ``client_secret``, default ``VANTA_API_CREDENTIALS.env``) > an
AWS Secrets Manager secret (a JSON string with the same keys), by name or ARN, when one is
configured. So ``--client-id`` with ``VANTA_CLIENT_SECRET`` works (the secret stays out of the
process list), and a file or secret may hold only one of the two. A later place is read only
while a value is still missing.

``Credentials.source`` names where each value came from. When a value is found nowhere, the
error names the missing value and every place looked at. A place that cannot be read (a broken
file, an unreadable secret) is an error of its own. The secret never appears in repr, str, logs
or error messages: messages name places, never values.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
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


# The two values, as the credentials file and the secret name them, and as messages do.
CLIENT_ID, CLIENT_SECRET = "client_id", "client_secret"
_VALUE_NAMES = (CLIENT_ID, CLIENT_SECRET)
_WORDS = {CLIENT_ID: "client id", CLIENT_SECRET: "client secret"}
_FLAGS = {CLIENT_ID: "--client-id", CLIENT_SECRET: "--client-secret"}
_ENV_VARS = {CLIENT_ID: ENV_CLIENT_ID, CLIENT_SECRET: ENV_CLIENT_SECRET}

SecretReader = Callable[[str, str | None], Mapping[str, Any]]
"""Reads a Secrets Manager secret (id, region) into its JSON object; ``read_secret`` by default."""


def _text(value: Any, key: str, where: str) -> str | None:
    """A usable value: a non-blank string. Absent, null or blank is None (not there); any other
    type is an error naming the key and the place, never the value."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise CredentialsError(f"{where[0].upper()}{where[1:]}: {key} must be a string.")
    return value.strip() or None


def _read_credentials_file(path: Path) -> dict[str, Any] | None:
    """The file's values by the JSON keys (either may be absent); None when there is no file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
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
    return data


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

_secret_cache: dict[tuple[str, str | None], tuple[float, dict[str, Any]]] = {}
_secret_lock = threading.Lock()


def _fetch_secret(secret_id: str, region: str | None) -> dict[str, Any]:
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
    # Only the two keys are kept (and cached): anything else in the secret is not ours.
    return {name: data[name] for name in _VALUE_NAMES if name in data}


def read_secret(
    secret_id: str, region: str | None = None, *, clock: Callable[[], float] = time.monotonic
) -> Mapping[str, Any]:
    """The secret's ``client_id`` and ``client_secret`` (either may be absent), cached for a few
    minutes so warm Lambda invocations and repeated CLI calls do not re-read it."""
    key = (secret_id, region)
    with _secret_lock:
        cached = _secret_cache.get(key)
        if cached and clock() - cached[0] < SECRET_CACHE_SECONDS:
            return dict(cached[1])
        value = _fetch_secret(secret_id, region)
        _secret_cache[key] = (clock(), value)
        return dict(value)


def clear_secret_cache() -> None:
    with _secret_lock:
        _secret_cache.clear()


# --- resolution ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Place:
    """A place either value can come from, named for messages: ``label`` as a whole (errors
    about its content), ``names`` per value (``Credentials.source``), and ``looked_at`` for the
    missing-value error, given the values it did not have."""

    label: str
    names: Mapping[str, str]
    looked_at: Callable[[Sequence[str]], str]


def _environment_looked_at(missing: Sequence[str]) -> str:
    variables = " and ".join(_ENV_VARS[name] for name in missing)
    return f"the {variables} environment variable{'s' if len(missing) > 1 else ''}"


_FLAGS_PLACE = _Place(
    "the flags", _FLAGS, lambda missing: " and ".join(_FLAGS[name] for name in missing)
)
_ENVIRONMENT_PLACE = _Place("the environment", _ENV_VARS, _environment_looked_at)


def _document_place(label: str, *, exists: bool) -> _Place:
    """A credentials file or a secret: one place that may hold both values."""

    def looked_at(missing: Sequence[str]) -> str:
        why = f"no {' or '.join(missing)} in it" if exists else "not found"
        return f"the {label} ({why})"

    return _Place(label, dict.fromkeys(_VALUE_NAMES, label), looked_at)


def _join(items: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return " and ".join(items) if len(items) < 3 else ", ".join(items[:-1]) + " and " + items[-1]


def _describe_source(places: Mapping[str, str]) -> str:
    """'client id and client secret from X', or 'client id from X, client secret from Y'."""
    if places[CLIENT_ID] == places[CLIENT_SECRET]:
        return f"client id and client secret from {places[CLIENT_ID]}"
    return ", ".join(f"{_WORDS[name]} from {places[name]}" for name in _VALUE_NAMES)


def resolve_credentials(
    client_id: str | None = None,
    client_secret: str | None = None,
    *,
    credentials_file: str | os.PathLike[str] | None = None,
    secret_id: str | None = None,
    aws_region: str | None = None,
    env: Mapping[str, str] | None = None,
    secret_reader: SecretReader | None = None,
) -> Credentials:
    """The client id and the client secret, each from the first place that has it (see the
    module docstring); CredentialsError naming a missing value and every place looked at.

    ``client_id`` / ``client_secret`` are the explicit values (the CLI's flags, and named after
    them in messages); ``secret_reader`` reads a Secrets Manager secret (tests pass a fake).
    """
    env = os.environ if env is None else env
    found: dict[str, str] = {}
    found_in: dict[str, str] = {}
    looked: list[_Place] = []

    def consult(place: _Place, values: Mapping[str, Any]) -> None:
        looked.append(place)
        for name in _VALUE_NAMES:
            value = None if name in found else _text(values.get(name), name, place.label)
            if value is not None:
                found[name], found_in[name] = value, place.names[name]

    def complete() -> bool:
        return len(found) == len(_VALUE_NAMES)

    consult(_FLAGS_PLACE, {CLIENT_ID: client_id, CLIENT_SECRET: client_secret})
    consult(_ENVIRONMENT_PLACE, {name: env.get(var) for name, var in _ENV_VARS.items()})
    if not complete() and credentials_file is not None:
        path = Path(credentials_file)
        data = _read_credentials_file(path)
        consult(_document_place(f"credentials file {path}", exists=data is not None), data or {})
    if not complete() and secret_id:
        data = (secret_reader or read_secret)(secret_id, aws_region)
        consult(_document_place(f"AWS Secrets Manager secret {secret_id}", exists=True), data)

    missing = [name for name in _VALUE_NAMES if name not in found]
    if missing:
        what = "credentials" if len(missing) > 1 else _WORDS[missing[0]]
        places = _join([place.looked_at(missing) for place in looked])
        raise CredentialsError(f"No Vanta {what} found: looked at {places}.")
    return Credentials(found[CLIENT_ID], found[CLIENT_SECRET], source=_describe_source(found_in))
