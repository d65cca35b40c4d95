"""The two engines that run named queries, behind one interface.

- ``DuckDBEngine``: the lake on a local directory or S3, read by DuckDB (query/lake.py), with an
  estimate of what Athena would scan for the same query.
- ``AthenaEngine``: Athena over the Glue catalog (query/athena.py's ``AthenaClient``), which
  reports what it scanned and what that cost.

``run_named_query`` resolves the user's values against the template (``latest`` through the
engine, ``now`` once for the whole run) and runs it: the template's SQL and the placeholder
values, never SQL with values formatted into it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from vanta_vuln_stats.errors import StoreError, UserInputError
from vanta_vuln_stats.query.named import NamedQuery, QueryContext, ResolvedQuery

if TYPE_CHECKING:
    from vanta_vuln_stats.query.athena import AthenaClient
    from vanta_vuln_stats.query.lake import LakeTables
    from vanta_vuln_stats.storage.lake.store import LakeStorage

__all__ = [
    "AthenaEngine",
    "DuckDBEngine",
    "QueryEngine",
    "QueryOutput",
    "committed_days",
    "run_named_query",
]


@dataclass(frozen=True)
class QueryOutput:
    """A query's rows (tuples in column order) and what it scanned.

    ``bytes_scanned`` and ``cost_usd`` are Athena's own figures on Athena; on DuckDB they are
    the estimate of what Athena would scan and charge for the same query (``estimated``), or
    None when there is none.
    """

    columns: list[str]
    rows: list[tuple[Any, ...]]
    bytes_scanned: int | None = None
    cost_usd: float | None = None
    estimated: bool = False
    notices: list[str] = field(default_factory=list)

    def as_dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


class QueryEngine(ABC):
    """Runs resolved named queries. ``latest_day`` is the latest committed day, which the
    ``latest`` default of a date parameter means."""

    name: str

    @abstractmethod
    def latest_day(self) -> date | None: ...

    @abstractmethod
    def execute(self, resolved: ResolvedQuery) -> QueryOutput: ...

    def close(self) -> None:  # noqa: B027 (engines without resources need nothing)
        """Release what the engine holds."""

    def __enter__(self) -> QueryEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_named_query(
    engine: QueryEngine,
    query: NamedQuery,
    given: Mapping[str, str],
    *,
    now: datetime | None = None,
) -> tuple[ResolvedQuery, QueryOutput]:
    """``query`` with the user's ``given`` values (name -> text) on ``engine``."""
    context = QueryContext(engine.latest_day, now=now)
    resolved = query.resolve(given, context)
    return resolved, engine.execute(resolved)


# --------------------------------------------------------------------------------------------
# DuckDB over the lake


class DuckDBEngine(QueryEngine):
    """The lake at ``lake`` (a directory or ``s3://bucket/prefix``), read by DuckDB."""

    name = "duckdb"

    def __init__(self, lake: str | LakeStorage) -> None:
        from vanta_vuln_stats.query.lake import LakeTables
        from vanta_vuln_stats.storage.lake import LakeStorage

        self._own_store = not isinstance(lake, LakeStorage)
        self.store = LakeStorage(lake, workers=1) if isinstance(lake, str) else lake
        try:
            _check_readable(self.store)
            self.tables: LakeTables = LakeTables(self.store)
        except BaseException:
            self._close_store()
            raise

    def latest_day(self) -> date | None:
        return self.tables.latest_day

    def execute(self, resolved: ResolvedQuery) -> QueryOutput:
        from vanta_vuln_stats.query.athena import athena_query_cost

        sql, parameters = resolved.query.sql, resolved.parameters
        columns, rows = self.tables.execute(sql, parameters)
        scanned = self.tables.scanned_bytes(sql, parameters)
        return QueryOutput(
            columns=columns,
            rows=rows,
            bytes_scanned=scanned,
            cost_usd=athena_query_cost(scanned),
            estimated=True,
        )

    def close(self) -> None:
        try:
            self.tables.close()
        finally:
            self._close_store()

    def _close_store(self) -> None:
        if self._own_store:
            self.store.close()


def _check_readable(store: LakeStorage) -> None:
    import os

    location = store.location
    if not location.is_s3 and not os.path.isdir(location.root):
        raise StoreError(f"The lake {location.uri} does not exist.")
    try:
        next(iter(location.list("_commits")), None)
    except OSError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StoreError(f"Cannot read the lake {location.uri}: {reason}") from None


def committed_days(store: LakeStorage) -> list[date]:
    """The lake's committed days, from the names of its commit manifests (one listing)."""
    from vanta_vuln_stats.storage.lake import layout

    days = []
    for key, _ in store.location.list(layout.COMMITS_PREFIX):
        name = key.rsplit("/", 1)[-1]
        if name.endswith(".json"):
            try:
                days.append(date.fromisoformat(name.removesuffix(".json")))
            except ValueError:
                continue
    return sorted(days)


# --------------------------------------------------------------------------------------------
# Athena


class AthenaEngine(QueryEngine):
    """Athena, through ``client`` (its workgroup, output location and Glue database).

    ``latest`` finds the latest committed day: from the lake's commit manifests when the lake is
    known (``lake_latest``), otherwise from the partitions Glue has registered
    (``glue_latest``).
    """

    name = "athena"

    def __init__(self, client: AthenaClient, latest: Callable[[], date | None]) -> None:
        self.client = client
        self._latest = latest

    def latest_day(self) -> date | None:
        return self._latest()

    def execute(self, resolved: ResolvedQuery) -> QueryOutput:
        result = self.client.query(resolved.query.sql, resolved.parameters)
        notices = []
        if result.reused:
            notices.append(f"Athena reused the result of an earlier run ({result.query_id}).")
        return QueryOutput(
            columns=result.column_names,
            rows=result.rows,
            bytes_scanned=result.bytes_scanned,
            cost_usd=result.cost_usd,
            notices=notices,
        )


def lake_latest(lake: str) -> Callable[[], date | None]:
    """The latest committed day of the lake at ``lake``, read when asked."""

    def latest() -> date | None:
        from vanta_vuln_stats.storage.lake import LakeStorage

        with LakeStorage(lake, workers=1) as store:
            _check_readable(store)
            days = committed_days(store)
        return days[-1] if days else None

    return latest


def glue_latest(
    database: str, *, region: str | None = None, table: str = "vanta_sync_history"
) -> Callable[[], date | None]:
    """The latest day with a partition of ``table`` registered in Glue, read when asked. A
    table with partition projection registers none: then the day must come from the lake."""

    def latest() -> date | None:
        from vanta_vuln_stats.catalog.glue import GlueCatalog
        from vanta_vuln_stats.catalog.tables import partition_date

        catalog = GlueCatalog(region=region)
        days = [
            day
            for values in catalog.partition_values(database, table)
            if (day := partition_date(values)) is not None
        ]
        if not days:
            raise UserInputError(
                f"Glue has no partitions of {database}.{table} (none registered, or the table "
                "uses partition projection), so 'latest' cannot be resolved: give --lake, or "
                "the day (e.g. --param as_of=2026-11-05)."
            )
        return max(days)

    return latest
