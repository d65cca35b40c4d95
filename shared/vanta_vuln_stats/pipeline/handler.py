"""What every function of the workflow shares: its settings from the environment, the JSON
Schemas of its payloads, and Powertools (JSON logs with the execution name as correlation id,
EMF metrics, X-Ray tracing). A handler is then one decorated call into ``pipeline.steps``.

A payload that does not match its schema raises ``InvalidPayload`` naming the function, the
place in the payload and what is wrong; the workflow's Catch reports it as the error
``InvalidPayload``.
"""

from __future__ import annotations

import functools
import json
import os
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from vanta_vuln_stats.errors import ConfigError, VantaVulnStatsError

__all__ = [
    "InvalidPayload",
    "MetricUnit",
    "StepSettings",
    "lambda_step",
    "logger",
    "metrics",
    "schema",
    "step_settings",
    "tracer",
    "validate",
    "vanta_client",
]

SCHEMA_DIR = Path(__file__).with_name("schemas")

# Most steps publish no metric of their own (Lambda's cover them); that is not worth a warning.
warnings.filterwarnings("ignore", message="No application metrics to publish")

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "vanta-vuln-stats"))
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "VantaVulnStats"))


def tracing_enabled(env: Mapping[str, str] | None = None) -> bool:
    """X-Ray tracing runs in Lambda only (where the function has Tracing: Active), unless
    POWERTOOLS_TRACE_DISABLED says otherwise. Elsewhere (the CLI, make invoke, the emulated
    runtime) there is no daemon to send to, so the X-Ray SDK is not even imported."""
    env = os.environ if env is None else env
    disabled = env.get("POWERTOOLS_TRACE_DISABLED", "").lower() in {"1", "true"}
    return bool(env.get("AWS_LAMBDA_FUNCTION_NAME")) and not disabled


def _tracer() -> Any:
    from aws_lambda_powertools import Tracer

    return Tracer(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "vanta-vuln-stats"))


tracer = _tracer() if tracing_enabled() else None


class InvalidPayload(VantaVulnStatsError):
    """A state payload does not match its JSON Schema."""


@functools.cache
def schema(step: str, kind: str) -> dict[str, Any]:
    path = SCHEMA_DIR / f"{step}.{kind}.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"No {kind} schema for {step} ({path.name} is missing).") from None


@functools.cache
def _validator(step: str, kind: str) -> Any:
    from jsonschema import Draft202012Validator, FormatChecker

    return Draft202012Validator(schema(step, kind), format_checker=FormatChecker())


def validate(step: str, kind: str, payload: Any) -> None:
    """Raise ``InvalidPayload`` for the first problem of ``payload`` against the step's
    ``kind`` ("input" or "output") schema."""
    errors = sorted(_validator(step, kind).iter_errors(payload), key=lambda e: list(e.path))
    if errors:
        first = errors[0]
        where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first.path)
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        raise InvalidPayload(f"{step} {kind} is invalid at {where}: {first.message}{more}")


def _execution(event: Mapping[str, Any]) -> str | None:
    if not isinstance(event, Mapping):
        return None
    for holder in (
        event,
        event.get("run"),
        event.get("state", {}).get("run") if isinstance(event.get("state"), Mapping) else None,
    ):
        if isinstance(holder, Mapping) and isinstance(holder.get("execution"), str):
            return holder["execution"]
    return None


def lambda_step(
    step: str,
) -> Callable[[Callable[[dict[str, Any], Any], dict[str, Any]]], Callable[..., dict[str, Any]]]:
    """Wrap ``function(event, context)`` as the Lambda handler of ``step``: validate the input,
    run, validate the output; logs carry the execution name, metrics are flushed at the end."""

    def decorate(
        function: Callable[[dict[str, Any], Any], dict[str, Any]],
    ) -> Callable[..., dict[str, Any]]:
        @functools.wraps(function)
        def run(event: dict[str, Any], context: Any) -> dict[str, Any]:
            logger.append_keys(step=step)
            logger.set_correlation_id(_execution(event))
            validate(step, "input", event)
            result = function(event, context)
            validate(step, "output", result)
            return result

        traced = tracer.capture_lambda_handler(run, capture_response=False) if tracer else run
        # Lambda's own metrics count invocations, errors and durations per function; these
        # are the sync's (each custom metric is billed, docs/COST.md).
        measured = metrics.log_metrics(traced)
        handler = logger.inject_lambda_context(measured, clear_state=True)
        _route_library_logs()
        return handler

    return decorate


@functools.cache
def _route_library_logs() -> None:
    """The package's own log records (stdlib logging) go out through Powertools' JSON
    formatter, with the same keys and correlation id."""
    from aws_lambda_powertools.logging import utils

    utils.copy_config_to_registered_loggers(source_logger=logger, include={"vanta_vuln_stats"})


@dataclass(frozen=True)
class StepSettings:
    """What the functions read from their environment (template.yaml, Globals)."""

    lake: str
    topic_arn: str | None
    slack_secret_id: str | None
    glue_database: str | None
    fetch_page_budget: int
    write_batch_records: int


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name) or ""
    try:
        value = int(text) if text else default
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {text!r}.") from None
    if value < 1:
        raise ConfigError(f"{name} must be at least 1, not {value}.")
    return value


def step_settings(env: Mapping[str, str] | None = None) -> StepSettings:
    env = os.environ if env is None else env
    lake = env.get("VANTA_LAKE") or ""
    if not lake:
        raise ConfigError("VANTA_LAKE is not set: the function does not know where the lake is.")
    from vanta_vuln_stats.pipeline.steps import DEFAULT_BATCH_RECORDS, DEFAULT_PAGE_BUDGET

    return StepSettings(
        lake=lake,
        topic_arn=env.get("NOTIFICATION_TOPIC_ARN") or None,
        slack_secret_id=env.get("SLACK_WEBHOOK_SECRET_ID") or None,
        glue_database=env.get("GLUE_DATABASE") or None,
        fetch_page_budget=_int(env, "FETCH_PAGE_BUDGET", DEFAULT_PAGE_BUDGET),
        write_batch_records=_int(env, "WRITE_BATCH_RECORDS", DEFAULT_BATCH_RECORDS),
    )


def vanta_client(env: Mapping[str, str] | None = None) -> Any:
    """The Vanta client of a fetch: settings and credentials as the CLI resolves them (API URL,
    pacing, retries; credentials from VANTA_SECRET_ID), with the token kept in the token store
    (VANTA_TOKEN_STORE) when one is set."""
    from vanta_vuln_stats.config.credentials import resolve_credentials
    from vanta_vuln_stats.config.settings import load_settings
    from vanta_vuln_stats.vanta.factory import client_from_settings

    settings = load_settings(env=os.environ if env is None else env)
    credentials = resolve_credentials(secret_id=settings.secret_id, aws_region=settings.aws_region)
    return client_from_settings(settings, credentials)
