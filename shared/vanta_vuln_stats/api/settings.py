"""What the query API reads from its environment (template.yaml), and the services built from
it once per Lambda container."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass

from vanta_vuln_stats.errors import ConfigError

__all__ = ["ApiSettings", "Services", "api_settings", "services"]

DEFAULT_WAIT_SECONDS = 5.0


@dataclass(frozen=True)
class ApiSettings:
    lake: str
    glue_database: str
    state_machine_arn: str
    athena_workgroup: str
    athena_output_location: str | None
    query_wait_seconds: float
    cors_origin: str


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name) or ""
    if not value:
        raise ConfigError(f"{name} is not set.")
    return value


def api_settings(env: Mapping[str, str] | None = None) -> ApiSettings:
    env = os.environ if env is None else env
    wait_text = env.get("QUERY_WAIT_SECONDS") or ""
    try:
        wait = float(wait_text) if wait_text else DEFAULT_WAIT_SECONDS
    except ValueError:
        raise ConfigError(f"QUERY_WAIT_SECONDS must be a number, not {wait_text!r}.") from None
    if not 0 <= wait <= 25:
        raise ConfigError("QUERY_WAIT_SECONDS must be between 0 and 25 (API Gateway waits 29).")
    return ApiSettings(
        lake=_required(env, "VANTA_LAKE"),
        glue_database=_required(env, "GLUE_DATABASE"),
        state_machine_arn=_required(env, "STATE_MACHINE_ARN"),
        athena_workgroup=env.get("VANTA_ATHENA_WORKGROUP") or "primary",
        athena_output_location=env.get("VANTA_ATHENA_OUTPUT_LOCATION") or None,
        query_wait_seconds=wait,
        cors_origin=env.get("API_CORS_ORIGIN") or "*",
    )


@dataclass(frozen=True)
class Services:
    queries: object
    sync: object


@functools.cache
def services() -> Services:
    """The query and sync services of this container (boto3 clients are made once)."""
    import boto3

    from vanta_vuln_stats.api.queries import QueryService, s3_latest_day
    from vanta_vuln_stats.api.sync import SyncService
    from vanta_vuln_stats.query.athena import AthenaClient, EmfMetrics

    settings = api_settings()
    client = AthenaClient(
        settings.athena_workgroup,
        settings.athena_output_location,
        database=settings.glue_database,
        cache=False,
        emit_metric=EmfMetrics(),  # scan, cost and seconds per query, for the dashboard
    )
    return Services(
        queries=QueryService(
            client, s3_latest_day(settings.lake), wait_seconds=settings.query_wait_seconds
        ),
        sync=SyncService(boto3.client("stepfunctions"), settings.state_machine_arn),
    )
