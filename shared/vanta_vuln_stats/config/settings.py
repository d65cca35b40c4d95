"""Settings: one table of what can be set, resolved from four layers.

Order, later wins: built-in defaults < ``config.json`` < environment variables < CLI flags.
Every resolved value remembers where it came from, so an invalid one is reported as
"setting 'page_size' from environment variable VANTA_PAGE_SIZE: ...", naming both.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vanta_vuln_stats.config.environment import Environment, detect_environment
from vanta_vuln_stats.errors import ConfigError

DEFAULT_API_URL = "https://api.vanta.com"
DEFAULT_DATABASE = "vanta_vulnerabilities.db"
DEFAULT_CREDENTIALS_FILE = "VANTA_API_CREDENTIALS.env"
DEFAULT_CONFIG_FILE = "config.json"
CONFIG_FILE_ENV = "VANTA_VULN_STATS_CONFIG"
# sqlite: a local SQLite file. lake: the Parquet lake at the ``lake`` setting (a directory or an
# s3:// URI). s3: the same backend, named for where it lives (the lake must be an s3:// URI).
# hybrid: SQLite and the lake written by the same sync (statistics read SQLite).
STORAGE_BACKENDS = ("sqlite", "s3", "lake", "hybrid")


def _as_str(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected a non-empty string")
    return value.strip()


def _as_optional_str(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return _as_str(value)


def _as_int(minimum: int, maximum: int | None = None) -> Callable[[Any], int]:
    def convert(value: Any) -> int:
        if isinstance(value, bool):
            raise ValueError("expected an integer, got a boolean")
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ValueError(f"expected an integer, got {value!r}") from None
        if isinstance(value, float) and value != number:
            raise ValueError(f"expected an integer, got {value!r}")
        if number < minimum or (maximum is not None and number > maximum):
            bounds = f"{minimum}..{maximum}" if maximum is not None else f">= {minimum}"
            raise ValueError(f"{number} is out of range ({bounds})")
        return number

    return convert


def _as_float(minimum: float) -> Callable[[Any], float]:
    def convert(value: Any) -> float:
        if isinstance(value, bool):
            raise ValueError("expected a number, got a boolean")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"expected a number, got {value!r}") from None
        if number < minimum:
            raise ValueError(f"{number:g} is below the minimum {minimum:g}")
        return number

    return convert


def _as_choice(*choices: str) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        text = _as_str(value).lower()
        if text not in choices:
            raise ValueError(f"{value!r} is not one of {', '.join(choices)}")
        return text

    return convert


def _as_url(value: Any) -> str:
    text = _as_str(value).rstrip("/")
    if not text.startswith(("https://", "http://")):
        raise ValueError(f"{value!r} is not an http(s) URL")
    # Users paste the documented base URL with its /v1 suffix; the client adds paths itself.
    return text.removesuffix("/v1")


@dataclass(frozen=True, slots=True)
class SettingSpec:
    name: str
    default: Any
    convert: Callable[[Any], Any]
    env: str | None
    help: str


SPECS: tuple[SettingSpec, ...] = (
    SettingSpec(
        "api_url",
        DEFAULT_API_URL,
        _as_url,
        "VANTA_API_URL",
        "Vanta API host (regional hosts: https://api.vanta-gov.com, ...)",
    ),
    SettingSpec("database", DEFAULT_DATABASE, _as_str, "VANTA_DATABASE", "SQLite database file"),
    SettingSpec(
        "storage_backend",
        "sqlite",
        _as_choice(*STORAGE_BACKENDS),
        "VANTA_STORAGE_BACKEND",
        "where synced data is kept",
    ),
    SettingSpec(
        "lake",
        None,
        _as_optional_str,
        "VANTA_LAKE",
        "Parquet lake: a directory or s3://bucket/prefix (backends lake, s3, hybrid)",
    ),
    SettingSpec(
        "credentials_file",
        DEFAULT_CREDENTIALS_FILE,
        _as_str,
        "VANTA_CREDENTIALS_FILE",
        "JSON file with client_id and client_secret (the earlier tool's format)",
    ),
    SettingSpec(
        "secret_id",
        None,
        _as_optional_str,
        "VANTA_SECRET_ID",
        "AWS Secrets Manager secret (name or ARN) holding client_id and client_secret",
    ),
    SettingSpec(
        "token_store",
        None,
        _as_optional_str,
        "VANTA_TOKEN_STORE",
        "AWS Secrets Manager secret (name or ARN) that holds the Vanta access token shared with a "
        "deployed stack, so a sync here and the scheduled one do not revoke each other's token",
    ),
    SettingSpec(
        "aws_region",
        None,
        _as_optional_str,
        "AWS_REGION",
        "AWS region for Secrets Manager and the Glue catalog",
    ),
    SettingSpec(
        "glue_database",
        None,
        _as_optional_str,
        "VANTA_GLUE_DATABASE",
        "AWS Glue database of the lake's tables (vanta-vuln-stats catalog)",
    ),
    SettingSpec(
        "athena_workgroup",
        "primary",
        _as_str,
        "VANTA_ATHENA_WORKGROUP",
        "Athena workgroup that runs named queries (vanta-vuln-stats query run --engine athena)",
    ),
    SettingSpec(
        "athena_output_location",
        None,
        _as_optional_str,
        "VANTA_ATHENA_OUTPUT_LOCATION",
        "s3:// prefix for Athena's query results (default: the workgroup's own)",
    ),
    SettingSpec(
        "page_size",
        100,
        _as_int(1, 100),
        "VANTA_PAGE_SIZE",
        "records per API page (the API allows 1..100)",
    ),
    SettingSpec(
        "requests_per_minute",
        50,
        _as_int(0),
        "VANTA_REQUESTS_PER_MINUTE",
        "client-side request budget per minute; 0 = unlimited",
    ),
    SettingSpec("timeout", 30.0, _as_float(0.1), "VANTA_TIMEOUT", "HTTP read timeout in seconds"),
    SettingSpec(
        "max_retries",
        8,
        _as_int(0, 50),
        "VANTA_MAX_RETRIES",
        "attempts per request on 5xx, timeouts and dropped connections",
    ),
    SettingSpec(
        "batch_size",
        1000,
        _as_int(1, 100_000),
        "VANTA_BATCH_SIZE",
        "records written per storage transaction",
    ),
)
SPEC_BY_NAME: dict[str, SettingSpec] = {spec.name: spec for spec in SPECS}


@dataclass(frozen=True)
class Settings:
    """Resolved settings. Attribute access for values; ``source_of`` says where each came from."""

    values: Mapping[str, Any]
    sources: Mapping[str, str]
    environment: Environment = field(default_factory=detect_environment)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    def source_of(self, name: str) -> str:
        return self.sources[name]

    def describe(self) -> list[tuple[str, str, str]]:
        """(name, value, source) rows, e.g. for ``--verbose`` output. Holds no secrets."""
        return [(n, str(self.values[n]), self.sources[n]) for n in SPEC_BY_NAME]


def _load_config_file(path: Path, *, required: bool) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if required:
            raise ConfigError(f"Config file {path} does not exist.") from None
        return {}
    except OSError as exc:
        raise ConfigError(f"Config file {path} cannot be read: {exc.strerror}.") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"Config file {path} is not valid JSON (line {exc.lineno}, column {exc.colno})."
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"Config file {path} must hold a JSON object of settings.")
    unknown = sorted(set(data) - set(SPEC_BY_NAME))
    if unknown:
        raise ConfigError(
            f"Config file {path} has unknown setting(s) {', '.join(unknown)}; "
            f"known settings: {', '.join(SPEC_BY_NAME)}."
        )
    return data


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    *,
    config_file: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    flag_names: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve every setting from defaults, config file, environment and ``overrides`` (flags).

    ``overrides`` holds CLI values; None means "not given". ``flag_names`` maps a setting to the
    flag that set it, for messages. ``config_file`` defaults to $VANTA_VULN_STATS_CONFIG, else
    ./config.json if it exists.
    """
    env = os.environ if env is None else env
    overrides = overrides or {}
    flag_names = flag_names or {}

    if config_file is not None:
        path, required = Path(config_file), True
    elif env.get(CONFIG_FILE_ENV):
        path, required = Path(env[CONFIG_FILE_ENV]), True
    else:
        path, required = Path(DEFAULT_CONFIG_FILE), False
    file_values = _load_config_file(path, required=required)

    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for spec in SPECS:
        raw, source = spec.default, "default"
        if spec.name in file_values:
            raw, source = file_values[spec.name], f"config file {path}"
        if spec.env and env.get(spec.env) not in (None, ""):
            raw, source = env[spec.env], f"environment variable {spec.env}"
        if overrides.get(spec.name) is not None:
            raw = overrides[spec.name]
            source = f"flag {flag_names.get(spec.name, '--' + spec.name.replace('_', '-'))}"
        if raw is None:
            values[spec.name], sources[spec.name] = None, source
            continue
        try:
            values[spec.name] = spec.convert(raw)
        except ValueError as exc:
            raise ConfigError(f"Invalid setting '{spec.name}' from {source}: {exc}.") from None
        sources[spec.name] = source
    return Settings(values=values, sources=sources, environment=detect_environment(env))
