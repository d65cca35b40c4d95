"""``POST /api/v1/query`` and ``GET /api/v1/query/{id}``: a named query and its parameters in,
rows out. Never SQL: the body names a template (query/templates) and gives values, which are
checked against the template's declared parameters (query/named.py) and sent to Athena as
execution parameters, so a value cannot change the statement.

A query that does not finish within ``wait_seconds`` is left running: the caller gets its id and
asks for it again (``GET /api/v1/query/{id}``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from vanta_vuln_stats.api.errors import BadRequest, NotFound
from vanta_vuln_stats.errors import AthenaError
from vanta_vuln_stats.query.athena import AthenaClient, QueryResult
from vanta_vuln_stats.query.named import QueryContext, load_queries

__all__ = ["QueryService", "s3_latest_day"]

# Athena's query execution ids are UUIDs; accept nothing that could not be one.
QUERY_ID = re.compile(r"[0-9A-Za-z-]{1,128}")
BODY_KEYS = {"query", "parameters"}


@dataclass(frozen=True)
class Accepted:
    """A query still running after the wait: the caller polls with its id."""

    query_execution_id: str


class QueryService:
    """Runs named queries on Athena through ``client``. ``latest`` gives the latest committed
    day (what a date parameter's ``latest`` means), read only when a value needs it."""

    def __init__(
        self,
        client: AthenaClient,
        latest: Callable[[], date | None],
        *,
        wait_seconds: float = 5.0,
    ) -> None:
        self.client = client
        self.latest = latest
        self.wait_seconds = wait_seconds

    def catalog(self) -> list[dict[str, Any]]:
        """Every named query with its parameters (name, type, default, meaning)."""
        return [query.to_dict() for query in load_queries().values()]

    def run(self, body: Any) -> dict[str, Any] | Accepted:
        name, given = _request(body)
        query = load_queries().get(name)
        if query is None:
            raise NotFound(
                f"There is no named query {name!r}; choose from: {', '.join(load_queries())}.",
                code="unknown_query",
            )
        resolved = query.resolve(given, QueryContext(self.latest))
        query_id = self.client.start(query.sql, resolved.parameters)
        result = self.client.collect(query_id, wait=self.wait_seconds)
        if result is None:
            return Accepted(query_id)
        return {"query": name, "query_execution_id": query_id, **_rows(result)}

    def get(self, query_id: str) -> dict[str, Any]:
        """A started query: its rows once it has succeeded, else its state."""
        if not QUERY_ID.fullmatch(query_id or ""):
            raise BadRequest(f"{query_id!r} is not a query execution id.", code="bad_query_id")
        try:
            result = self.client.collect(query_id)
        except AthenaError as exc:
            if "InvalidRequestException" in str(exc) or "ResourceNotFound" in str(exc):
                raise NotFound(
                    f"There is no query execution {query_id}.", code="unknown_query_execution"
                ) from None
            raise
        if result is None:
            return {"query_execution_id": query_id, "state": "RUNNING"}
        return {"query_execution_id": query_id, "state": "SUCCEEDED", **_rows(result)}


def _request(body: Any) -> tuple[str, dict[str, str]]:
    """The body's query name and its parameters as text (what the templates' converters take)."""
    if not isinstance(body, Mapping):
        raise BadRequest('The body must be a JSON object: {"query": NAME, "parameters": {...}}.')
    unknown = sorted(set(body) - BODY_KEYS)
    if unknown:
        raise BadRequest(
            f"Unknown field(s) {', '.join(map(repr, unknown))}; the body takes query and "
            "parameters (SQL is never accepted)."
        )
    name = body.get("query")
    if not isinstance(name, str) or not name.strip():
        raise BadRequest('"query" must name a named query (GET the list from the docs).')
    parameters = body.get("parameters", {})
    if parameters is None:
        parameters = {}
    if not isinstance(parameters, Mapping):
        raise BadRequest('"parameters" must be a JSON object of name: value.')
    given: dict[str, str] = {}
    for key, value in parameters.items():
        if isinstance(value, bool):
            given[key] = "true" if value else "false"
        elif isinstance(value, int | str):
            given[key] = str(value)
        elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
            given[key] = str(int(value))
        else:
            raise BadRequest(
                f"Parameter {key!r}: give a string, a whole number or true/false, "
                f"not {type(value).__name__ if value is not None else 'null'}."
            )
    return name.strip(), given


def _rows(result: QueryResult) -> dict[str, Any]:
    return {
        "columns": result.column_names,
        "rows": [[_json_value(value) for value in row] for row in result.rows],
        "bytes_scanned": result.bytes_scanned,
        "cost_usd": result.cost_usd,
    }


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return [_json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _json_value(item) for key, item in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def s3_latest_day(lake: str, *, s3: Any = None) -> Callable[[], date | None]:
    """The latest committed day of the lake at ``lake`` (``s3://bucket[/prefix]``), from the
    names of its commit manifests (``_commits/YYYY-MM-DD.json``), listed with boto3 so that no
    Parquet library is needed."""

    def latest() -> date | None:
        nonlocal s3
        if s3 is None:
            import boto3

            s3 = boto3.client("s3")
        bucket, _, prefix = lake.removeprefix("s3://").partition("/")
        prefix = f"{prefix.strip('/')}/_commits/" if prefix.strip("/") else "_commits/"
        days = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                name = item["Key"].rsplit("/", 1)[-1].removesuffix(".json")
                try:
                    days.append(date.fromisoformat(name))
                except ValueError:
                    continue
        return max(days) if days else None

    return latest
