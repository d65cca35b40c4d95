"""Statistics over a store, computed in SQL: SQLite, or DuckDB over the Parquet lake.

``compute_statistics`` runs the named queries of ``queries.py`` and shapes their (small, already
aggregated) results into one JSON-ready dict. No record is ever loaded into Python: every count,
distinct count, average and median is computed by the database. The queries are written once,
for SQLite; on a DuckDB connection (``StorageBackend.query_connection`` of the lake) they run
translated (``storage.lake.engine.duckdb_sql``), and both engines give equal results for equal
data.

The earlier tool's keys come first, with its shapes and meanings:

    total_count               findings in scope
    by_severity               {"CRITICAL": n, ...}: upper-case, only severities present
    by_integration            {integration_id or "UNKNOWN": n}
    fixable / not_fixable     is_fixable true / everything else (false or missing)
    deactivated / active      deactivateMetadata present / absent
    unique_assets_count       distinct non-empty targetId
    unique_cves_count         distinct non-empty name
    average_cvss_by_severity  {"critical": mean, ...}: lower-case, only severities with scores.
                              Null AND 0.0 scores are ignored, exactly as the earlier tool did
                              (``if cvss_score``): Vanta reports 0.0 for "no score", and counting
                              it would pull the averages of existing reports down.

New statistics (new keys only; the legacy ones never change):

    open_findings      reported by the API and not deactivated, total and by severity
    overdue            open findings whose remediate_by_date is before ``now``
    open_age_buckets   open findings by whole days since first_detected_date: 0-30, 31-90,
                       91-180, 181-365, >365 (and "unknown" without a detection date)
    top_packages, top_assets, top_cves
                       the ``top_n`` most frequent, with counts (assets with their name when
                       the vulnerable_assets table knows it); ties ordered by value
    remediation_sla    remediation records remediated on time (remediation_date <=
                       sla_deadline_date) or late, by severity and by month of remediation, with
                       compliance % = on time / (on time + late); records without a deadline
                       are counted apart (without_deadline) and left out of the percentage
    time_to_remediate  mean and median days from detected_date to remediation_date by
                       severity and over all severities ("overall"), with the number of
                       remediations measured
    trends             per synced day: discovered / updated / remediated / reactivated /
                       resolved change events and the open findings per severity at the end of
                       the day, plus the number of complete syncs and what the day's last one
                       reported. The event counts are exact. The open counts (open_by_severity,
                       open_total) are derived from the change history and approximate, and
                       say so: ``trends.approximate`` lists them and ``trends.note`` says why
                       (see "Why the open counts are approximate" below)
    filters            the filters applied (JSON-friendly), generated_at, data_as_of (the end of
                       the last complete sync)

How the filters apply:

* Finding statistics (every legacy key, open_findings, overdue, open_age_buckets, tops) apply
  the filter exactly as the store does, through ``storage.filters.where_sql``, including its
  default scope (active + deactivated: what the API reports now).
* Remediation statistics (remediation_sla, time_to_remediate) filter the remediation records:
  severity on the record's severity, asset on vulnerable_asset_id, identified dates on
  detected_date, remediated dates on remediation_date; CVE, integration, fixability and an
  explicit status apply to the remediated finding through a join on vulnerability_id (a record
  whose finding is not stored does not match those criteria). The default status scope does not
  apply: remediated findings usually have left the API feed (resolved), and leaving them out
  would empty these statistics.
* Trends apply every criterion to the finding of each change event (by vuln_id), again
  without the default status scope, so resolutions stay visible.

Why the open counts of the trends are approximate:

Each change event adds to or takes from the open count of its own severity, by its type:
discovered and reactivated open a finding unless it is deactivated, remediated closes it,
resolved closes it unless it was deactivated already. Two cases need the finding's state before
the event, which the event row does not carry: an open finding whose severity changed (updated)
stays counted under the old severity (and is later subtracted from the new one), and a finding
that left the feed open and came back deactivated (recorded as remediated) is subtracted twice.
Only the second affects open_total.

Following each finding through its previous event is exact, and was measured over the
synthetic store of a million findings (1.28 million events) on a shared two-core machine: LAG
windows over the events take 3.3 to 7 s of CPU even on a covering index in (vuln_id, id)
order, more than the 2 s budget of the whole report; looking up the previous event of just the
remediated and updated events takes 0.35 to 0.7 s for its 80,000 remediated events (twice the
trend query itself), and grows with the number of updated events, which can be most of a
history (every re-detection that changes a record writes one). Exact counts at the cost of one
grouped scan need the store to record the state before each event (severity, open); until then
the figures are marked as approximate in every output.

Timestamps are ISO-8601 text in the SQLite store (and compared with ISO text parameters on
both engines); ``now`` defaults to the current UTC time and a naive ``now`` is taken as UTC.
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from vanta_vuln_stats.model.fields import SEVERITIES
from vanta_vuln_stats.model.records import timestamp_to_iso
from vanta_vuln_stats.stats import queries
from vanta_vuln_stats.storage.filters import (
    STATUSES,
    VulnerabilityFilter,
    iso_bound,
    where_sql,
)

if TYPE_CHECKING:
    import duckdb

    from vanta_vuln_stats.stats.athena import AthenaStatistics

__all__ = ["LEGACY_KEYS", "TREND_APPROXIMATE", "TREND_NOTE", "compute_statistics"]

LEGACY_KEYS: tuple[str, ...] = (
    "total_count",
    "by_severity",
    "by_integration",
    "fixable",
    "not_fixable",
    "deactivated",
    "active",
    "unique_assets_count",
    "unique_cves_count",
    "average_cvss_by_severity",
)
"""The earlier tool's statistics keys, in its order. Their shapes and meanings never change."""

TREND_APPROXIMATE: tuple[str, ...] = ("open_by_severity", "open_total")
"""The fields of each trend day that are approximate (see the module docstring)."""
TREND_NOTE = (
    "Open counts per day are derived from the change history and approximate: an open finding "
    "whose severity changed is not moved to its new severity, and a finding that left the feed "
    "open and came back deactivated is subtracted twice (the only case that changes a day's "
    "total)."
)

_TRUE = "1 = 1"
_MAX_QUERY_THREADS = 4
# Runs written by the earlier tool have no status; each of them was a whole, finished sync.
_COMPLETE_OR_LEGACY_SYNC = "(s.status = 'complete' OR s.status IS NULL)"


def compute_statistics(
    conn: sqlite3.Connection | duckdb.DuckDBPyConnection | AthenaStatistics,
    filters: VulnerabilityFilter | None = None,
    *,
    now: datetime | None = None,
    top_n: int = 10,
) -> dict[str, Any]:
    """Every statistic of the store behind ``conn``, as a JSON-serialisable dict.

    ``conn`` is the SQLite store's connection or a DuckDB connection with the same tables (the
    lake's, from ``StorageBackend.query_connection``); both give the same statistics for the
    same data. An ``AthenaStatistics`` runs the same SQL on Athena over the Glue tables
    (stats/athena.py), again with the same results. ``filters`` selects the findings (None:
    the default scope, what the API reports now); ``now`` anchors "overdue" and the age
    buckets; ``top_n`` is the length of the top lists. See the module docstring for every
    key's meaning and how filters apply.
    """
    if top_n < 0:
        raise ValueError("top_n must be zero or more")
    now = _as_utc(now) if now is not None else datetime.now(UTC)
    database = _database(conn)
    shape = database.shape()
    vuln_where, vuln_params = where_sql(filters, "v")
    vuln_where = f"({vuln_where})"

    remediation_where, remediation_params = _remediation_condition(filters)
    # Independent queries, slowest first (on two cores the slowest one runs alone while the
    # others share the second); see _Database.run_all.
    tasks: dict[str, Callable[[_Database], Any]] = {
        "summary": lambda c: _findings_summary(c, shape, vuln_where, vuln_params, now)
    }
    if shape.has_remediations:
        tasks["time_to_remediate"] = lambda c: _time_to_remediate(
            c, remediation_where, remediation_params
        )
    tasks["trends"] = lambda c: _trends(c, shape, filters)
    tasks["top_packages"] = lambda c: _top_values(
        c, queries.TOP_PACKAGES, "package", vuln_where, vuln_params, top_n
    )
    tasks["top_cves"] = lambda c: _top_values(
        c, queries.TOP_CVES, "cve", vuln_where, vuln_params, top_n
    )
    tasks["top_assets"] = lambda c: _top_assets(c, shape, vuln_where, vuln_params, top_n)
    if shape.has_remediations:
        tasks["remediation_sla"] = lambda c: _remediation_sla(
            c, remediation_where, remediation_params
        )
    tasks["data_as_of"] = lambda c: _data_as_of(c, shape)
    results = database.run_all(tasks)

    summary_rows = results["summary"]
    severity_rows = _sum_groups(summary_rows, "severity", key=_severity_rank)
    # Largest first, as the earlier tool printed them.
    by_integration = sorted(
        _sum_groups(summary_rows, "integration", key=str),
        key=lambda row: (-row["total"], row["integration"]),
    )
    top_assets, unique_assets = results["top_assets"]
    top_cves, unique_cves = results["top_cves"]
    top_packages, _ = results["top_packages"]

    stats: dict[str, Any] = {}
    total = sum(row["total"] for row in severity_rows)
    fixable = sum(row["fixable"] for row in severity_rows)
    deactivated = sum(row["deactivated"] for row in severity_rows)
    stats["total_count"] = total
    stats["by_severity"] = {row["severity"]: row["total"] for row in severity_rows}
    stats["by_integration"] = {row["integration"]: row["total"] for row in by_integration}
    stats["fixable"] = fixable
    stats["not_fixable"] = total - fixable
    stats["deactivated"] = deactivated
    stats["active"] = total - deactivated
    stats["unique_assets_count"] = unique_assets
    stats["unique_cves_count"] = unique_cves
    stats["average_cvss_by_severity"] = {
        row["severity"].lower(): row["cvss_scaled_sum"] / (row["cvss_count"] * queries.SCORE_SCALE)
        for row in severity_rows
        if row["cvss_count"] and row["severity"] != "UNKNOWN"
    }

    stats["open_findings"] = {
        "total": sum(row["open"] for row in severity_rows),
        "by_severity": {row["severity"]: row["open"] for row in severity_rows if row["open"]},
    }
    stats["overdue"] = {
        "total": sum(row["overdue"] for row in severity_rows),
        "by_severity": {row["severity"]: row["overdue"] for row in severity_rows if row["overdue"]},
    }
    stats["open_age_buckets"] = _age_buckets(severity_rows)
    stats["top_packages"] = top_packages
    stats["top_assets"] = top_assets
    stats["top_cves"] = top_cves

    if shape.has_remediations:
        stats["remediation_sla"] = results["remediation_sla"]
        stats["time_to_remediate"] = results["time_to_remediate"]
    else:
        stats["remediation_sla"] = _sla_entry(0, 0, 0) | {"by_severity": {}, "by_month": {}}
        stats["time_to_remediate"] = {"overall": _ttr_entry(0, None, None), "by_severity": {}}
    stats["trends"] = results["trends"]
    stats["filters"] = _filters_as_json(filters)
    stats["generated_at"] = timestamp_to_iso(now)
    stats["data_as_of"] = results["data_as_of"]
    return stats


# --------------------------------------------------------------------------------------------
# The database: SQLite or DuckDB


class _Cursor(Protocol):
    """What the queries need of a cursor (sqlite3's and DuckDB's both fit)."""

    @property
    def description(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def fetchone(self) -> Any: ...


class _Database(ABC):
    """One engine's way to run the statistics' SQL: the tables present, execution, and how
    independent queries run at once. The SQL is written once, for SQLite (queries.py)."""

    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> _Cursor: ...

    @abstractmethod
    def columns(self) -> dict[str, frozenset[str]]:
        """Every table (or view) and its columns."""

    @abstractmethod
    def run_all(self, tasks: Mapping[str, Callable[[_Database], Any]]) -> dict[str, Any]:
        """Every task's result; independent read queries, at the same time where it helps."""

    def shape(self) -> _StoreShape:
        return _StoreShape.of(self.columns())


def _database(conn: Any) -> _Database:
    if isinstance(conn, sqlite3.Connection):
        return _SQLiteDatabase(conn)
    if type(conn).__module__.split(".")[0] in ("duckdb", "_duckdb"):
        return _DuckDBDatabase(conn)
    # Imported only here: the Athena module loads the catalog (about 40 ms), which the local
    # stores' statistics do not need.
    from vanta_vuln_stats.stats.athena import AthenaStatistics

    if isinstance(conn, AthenaStatistics):
        return _AthenaDatabase(conn)
    raise TypeError(f"statistics need a sqlite3 or DuckDB connection, not {type(conn).__name__}")


def _workers(tasks: Mapping[str, Any]) -> int:
    return min(len(tasks), os.cpu_count() or 1, _MAX_QUERY_THREADS)


class _SQLiteDatabase(_Database):
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _Cursor:
        return self.conn.execute(sql, list(params))

    def columns(self) -> dict[str, frozenset[str]]:
        tables = [
            row[0]
            for row in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        return {table: self._columns_of(table) for table in tables}

    def _columns_of(self, table: str) -> frozenset[str]:
        # A name from the file's own catalogue, quoted; never from input.
        quoted = '"' + table.replace('"', '""') + '"'
        return frozenset(row[1] for row in self.conn.execute(f"PRAGMA table_info({quoted})"))

    def run_all(self, tasks: Mapping[str, Callable[[_Database], Any]]) -> dict[str, Any]:
        """Each thread on its own read-only connection to the same file. SQLite executes
        without the interpreter lock, so on a multi-core machine the statistics take about as
        long as the slowest query instead of the sum of all. An in-memory database (one
        connection only) or a single core runs them in turn."""
        path = next(
            (file for _, name, file in self.conn.execute("PRAGMA database_list") if name == "main"),
            "",
        )
        workers = _workers(tasks)
        if not path or workers < 2:
            return {name: task(self) for name, task in tasks.items()}
        local = threading.local()
        opened: list[sqlite3.Connection] = []
        lock = threading.Lock()

        def database() -> _Database:
            reader = getattr(local, "database", None)
            if reader is None:
                uri = f"{Path(path).as_uri()}?mode=ro"
                conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
                reader = local.database = _SQLiteDatabase(conn)
                with lock:
                    opened.append(conn)
            return reader

        try:
            with ThreadPoolExecutor(workers, thread_name_prefix="statistics") as pool:
                futures = {
                    name: pool.submit(lambda t=task: t(database())) for name, task in tasks.items()
                }
                return {name: future.result() for name, future in futures.items()}
        finally:
            for conn in opened:
                conn.close()


class _DuckDBDatabase(_Database):
    """DuckDB (the lake's engine): the SQLite text translated once per distinct text
    (``duckdb_sql``), with SQLite's missing functions installed."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, *, prepared: bool = False) -> None:
        from vanta_vuln_stats.storage.lake.engine import install_sqlite_functions

        self.conn = conn
        if not prepared:
            install_sqlite_functions(conn)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _Cursor:
        from vanta_vuln_stats.storage.lake.engine import duckdb_sql

        return self.conn.execute(duckdb_sql(sql), list(params))

    def columns(self) -> dict[str, frozenset[str]]:
        found: dict[str, set[str]] = {}
        # duckdb_columns() rather than information_schema, which costs a tenth of a second more.
        for table, column in self.conn.execute(
            "SELECT table_name, column_name FROM duckdb_columns() "
            "WHERE database_name = current_database() AND schema_name = current_schema()"
        ).fetchall():
            found.setdefault(table, set()).add(column)
        return {table: frozenset(columns) for table, columns in found.items()}

    def run_all(self, tasks: Mapping[str, Callable[[_Database], Any]]) -> dict[str, Any]:
        """Each thread on its own cursor of the connection (a DuckDB connection is not to be
        shared between threads); DuckDB also parallelises each query over the cores."""
        workers = _workers(tasks)
        if workers < 2:
            return {name: task(self) for name, task in tasks.items()}

        def run(task: Callable[[_Database], Any]) -> Any:
            cursor = self.conn.cursor()
            try:
                return task(_DuckDBDatabase(cursor, prepared=True))
            finally:
                cursor.close()

        with ThreadPoolExecutor(workers, thread_name_prefix="statistics") as pool:
            futures = {name: pool.submit(run, task) for name, task in tasks.items()}
            return {name: future.result() for name, future in futures.items()}


class _Rows:
    """A finished Athena result as a cursor: column names and rows."""

    def __init__(self, columns: Sequence[str], rows: list[Any]) -> None:
        self.description = [(name,) for name in columns]
        self._rows = rows

    def fetchall(self) -> list[Any]:
        return list(self._rows)

    def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None


class _AthenaDatabase(_Database):
    """Athena over the Glue tables: the SQLite text translated once per distinct text
    (``stats.athena.athena_sql``), the values passed apart (ExecutionParameters)."""

    def __init__(self, source: AthenaStatistics) -> None:
        self.source = source

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _Cursor:
        from vanta_vuln_stats.stats.athena import athena_sql

        columns, rows = self.source.run(athena_sql(sql), list(params))
        return _Rows(columns, rows)

    def columns(self) -> dict[str, frozenset[str]]:
        from vanta_vuln_stats.stats.athena import relation_columns

        return dict(relation_columns())

    def run_all(self, tasks: Mapping[str, Callable[[_Database], Any]]) -> dict[str, Any]:
        """Independent statements, up to ``workers`` at a time (Athena runs them in parallel;
        the client waits for each)."""
        workers = min(len(tasks), self.source.workers)
        if workers < 2:
            return {name: task(self) for name, task in tasks.items()}
        with ThreadPoolExecutor(workers, thread_name_prefix="statistics") as pool:
            futures = {name: pool.submit(task, self) for name, task in tasks.items()}
            return {name: future.result() for name, future in futures.items()}


# --------------------------------------------------------------------------------------------
# What the database holds


@dataclasses.dataclass(frozen=True, slots=True)
class _StoreShape:
    """The tables and optional columns present. The store upgrades older databases to the
    current schema, but a file opened read-only may still be in an older shape."""

    tables: frozenset[str]
    vulnerability_columns: frozenset[str]
    sync_columns: frozenset[str]

    @classmethod
    def of(cls, columns: Mapping[str, frozenset[str]]) -> _StoreShape:
        return cls(
            tables=frozenset(columns),
            vulnerability_columns=columns.get("vulnerabilities", frozenset()),
            sync_columns=columns.get("sync_history", frozenset()),
        )

    @property
    def deactivated(self) -> str:
        # The same predicate as the filters' "deactivated" status (NULL is not deactivated);
        # before the is_deactivated column existed it was the presence of the metadata.
        if "is_deactivated" in self.vulnerability_columns:
            return "v.is_deactivated = 1"
        return "v.deactivate_metadata IS NOT NULL"

    @property
    def reported(self) -> str:
        return "v.resolved_at IS NULL" if "resolved_at" in self.vulnerability_columns else _TRUE

    @property
    def has_remediations(self) -> bool:
        return "vulnerability_remediations" in self.tables

    @property
    def has_assets(self) -> bool:
        return "vulnerable_assets" in self.tables

    @property
    def has_history(self) -> bool:
        return "vulnerability_history" in self.tables

    @property
    def completed_sync(self) -> str:
        return _COMPLETE_OR_LEGACY_SYNC if "status" in self.sync_columns else _TRUE


# --------------------------------------------------------------------------------------------
# Finding statistics


def _findings_summary(
    database: _Database,
    shape: _StoreShape,
    where: str,
    params: Sequence[Any],
    now: datetime,
) -> list[dict[str, Any]]:
    sql = queries.FINDINGS_SUMMARY.render(
        where=where, deactivated=shape.deactivated, reported=shape.reported
    )
    c31, c91, c181, c366 = (timestamp_to_iso(now - timedelta(days=d)) for d in (31, 91, 181, 366))
    bound = [timestamp_to_iso(now), c31, c31, c91, c91, c181, c181, c366, c366, *params]
    return _fetch_dicts(database, sql, bound)


_SUMMED = (
    "total",
    "fixable",
    "deactivated",
    "cvss_scaled_sum",
    "cvss_count",
    "open",
    "overdue",
    "age_0_30",
    "age_31_90",
    "age_91_180",
    "age_181_365",
    "age_over_365",
    "age_unknown",
)


def _sum_groups(
    rows: Sequence[Mapping[str, Any]], by: str, *, key: Callable[[Any], Any]
) -> list[dict[str, Any]]:
    """Add the (severity, integration) groups of the summary up by one of the two: a handful of
    aggregate rows, never records."""
    sums: dict[str, dict[str, Any]] = {}
    for row in rows:
        group = sums.setdefault(row[by], {by: row[by]} | dict.fromkeys(_SUMMED, 0))
        for name in _SUMMED:
            group[name] += row[name] or 0
    return [sums[name] for name in sorted(sums, key=key)]


def _top_assets(
    database: _Database,
    shape: _StoreShape,
    where: str,
    params: Sequence[Any],
    top_n: int,
) -> tuple[list[dict[str, Any]], int]:
    if shape.has_assets:
        name, join = "a.name", "LEFT JOIN vulnerable_assets a ON a.id = ranked.asset_id"
    else:
        name, join = "NULL", ""
    sql = queries.TOP_ASSETS.render(where=where, asset_name=name, asset_join=join)
    rows = _fetch_dicts(database, sql, [*params, max(top_n, 1)])
    distinct = rows[0]["distinct_count"] if rows else 0
    top = [
        {"asset_id": row["asset_id"], "name": row["asset_name"], "count": row["findings"]}
        for row in rows[:top_n]
    ]
    return top, distinct


def _top_values(
    database: _Database,
    query: queries.NamedQuery,
    label: str,
    where: str,
    params: Sequence[Any],
    top_n: int,
) -> tuple[list[dict[str, Any]], int]:
    # One row at least, so the distinct count arrives even when no list is wanted.
    rows = database.execute(query.render(where=where), [*params, max(top_n, 1)]).fetchall()
    distinct = rows[0][2] if rows else 0
    return [{label: value, "count": count} for value, count, _ in rows[:top_n]], distinct


_AGE_COLUMNS = ("age_0_30", "age_31_90", "age_91_180", "age_181_365", "age_over_365")


def _age_buckets(severity_rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    labels = [label for label, _, _ in queries.AGE_BUCKETS]

    def buckets(rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
        result = {
            label: sum(row[col] for row in rows)
            for label, col in zip(labels, _AGE_COLUMNS, strict=True)
        }
        result["unknown"] = sum(row["age_unknown"] for row in rows)
        return result

    return {
        "buckets": buckets(severity_rows),
        "by_severity": {row["severity"]: buckets([row]) for row in severity_rows if row["open"]},
    }


# --------------------------------------------------------------------------------------------
# Remediation statistics


def _remediation_condition(filters: VulnerabilityFilter | None) -> tuple[str, list[Any]]:
    """The filter as a condition over vulnerability_remediations r (see the module docstring)."""
    if filters is None:
        return f"({_TRUE})", []
    clauses: list[str] = []
    params: list[Any] = []
    if filters.severities is not None:
        clauses.append(f"UPPER(r.severity) IN ({', '.join('?' * len(filters.severities))})")
        params.extend(filters.severities)
    for column, start, end in (
        ("r.detected_date", filters.identified_start, filters.identified_end),
        ("r.remediation_date", filters.remediated_start, filters.remediated_end),
    ):
        if start is not None:
            clauses.append(f"{column} >= ?")
            params.append(iso_bound(start, end=False))
        if end is not None:
            clauses.append(f"{column} <= ?")
            params.append(iso_bound(end, end=True))
    if filters.asset_id is not None:
        clauses.append("r.vulnerable_asset_id = ?")
        params.append(filters.asset_id)
    finding = dataclasses.replace(
        filters,
        severities=None,
        identified_start=None,
        identified_end=None,
        remediated_start=None,
        remediated_end=None,
        asset_id=None,
    )
    finding_where, finding_params = _finding_condition(finding)
    if finding_where is not None:
        clauses.append(
            "EXISTS (SELECT 1 FROM vulnerabilities v "
            f"WHERE v.id = r.vulnerability_id AND ({finding_where}))"
        )
        params.extend(finding_params)
    return "(" + (" AND ".join(clauses) or _TRUE) + ")", params


def _finding_condition(filters: VulnerabilityFilter | None) -> tuple[str | None, list[Any]]:
    """``where_sql`` over vulnerabilities v without the default status scope; None when the
    filter has no criterion left (so no join is needed)."""
    if filters is None:
        return None, []
    if filters.statuses is None:
        filters = dataclasses.replace(filters, statuses=STATUSES)
    sql, params = where_sql(filters, "v")
    return (None, []) if sql == _TRUE else (sql, params)


def _remediation_sla(database: _Database, where: str, params: Sequence[Any]) -> dict[str, Any]:
    rows = _fetch_dicts(database, queries.REMEDIATION_SLA.render(where=where), params)
    by_severity: dict[str, list[int]] = {}
    by_month: dict[str, list[int]] = {}
    totals = [0, 0, 0]
    for row in rows:
        counts = (row["on_time"], row["late"], row["without_deadline"])
        severity = row["severity"] or "UNKNOWN"
        for bucket in (
            by_severity.setdefault(severity, [0, 0, 0]),
            by_month.setdefault(row["month"], [0, 0, 0]),
            totals,
        ):
            for i, count in enumerate(counts):
                bucket[i] += count
    return _sla_entry(*totals) | {
        "by_severity": {
            severity: _sla_entry(*by_severity[severity])
            for severity in sorted(by_severity, key=_severity_rank)
        },
        "by_month": {month: _sla_entry(*by_month[month]) for month in sorted(by_month)},
    }


def _sla_entry(on_time: int, late: int, without_deadline: int) -> dict[str, Any]:
    measured = on_time + late
    return {
        "on_time": on_time,
        "late": late,
        "without_deadline": without_deadline,
        "compliance_pct": round(100.0 * on_time / measured, 2) if measured else None,
    }


def _time_to_remediate(database: _Database, where: str, params: Sequence[Any]) -> dict[str, Any]:
    rows = _fetch_dicts(database, queries.TIME_TO_REMEDIATE.render(where=where), params)
    by_severity = {
        row["severity"] or "UNKNOWN": _ttr_entry(
            row["remediated"],
            _days(row["total_ms"], row["remediated"]),
            _days(row["middle_ms"], row["middle_count"]),
        )
        for row in rows
    }
    count = sum(row["remediated"] for row in rows)
    total_ms = sum(row["total_ms"] for row in rows)
    overall_middle_ms = sum(row["overall_middle_ms"] or 0 for row in rows)
    overall_middle_count = sum(row["overall_middle_count"] for row in rows)
    return {
        "overall": _ttr_entry(
            count, _days(total_ms, count), _days(overall_middle_ms, overall_middle_count)
        ),
        "by_severity": {s: by_severity[s] for s in sorted(by_severity, key=_severity_rank)},
    }


_MS_PER_DAY = 86_400_000


def _days(total_ms: int | None, count: int) -> float | None:
    """The mean of ``count`` durations summing to ``total_ms``, in days: one division of
    integers, so every engine gives the same float."""
    return None if not count or total_ms is None else total_ms / (count * _MS_PER_DAY)


def _ttr_entry(count: int, mean: float | None, median: float | None) -> dict[str, Any]:
    return {
        "count": count,
        "mean_days": None if mean is None else round(mean, 3),
        "median_days": None if median is None else round(median, 3),
    }


# --------------------------------------------------------------------------------------------
# Trends and freshness


def _trends(
    database: _Database, shape: _StoreShape, filters: VulnerabilityFilter | None
) -> dict[str, Any]:
    days: dict[str, dict[str, Any]] = {}

    def day_entry(day: str) -> dict[str, Any]:
        return days.setdefault(
            day,
            {
                "date": day,
                "syncs": 0,
                "reported": None,
                "discovered": 0,
                "updated": 0,
                "remediated": 0,
                "reactivated": 0,
                "resolved": 0,
                "open_by_severity": {},
                "open_total": None,
            },
        )

    if "sync_history" in shape.tables:
        sql = queries.SYNCS_BY_DAY.render(completed=shape.completed_sync)
        for day, syncs, reported in database.execute(sql).fetchall():
            entry = day_entry(day)
            entry["syncs"], entry["reported"] = syncs, reported

    if shape.has_history:
        finding_where, finding_params = _finding_condition(filters)
        history_filter = (
            _TRUE
            if finding_where is None
            else f"h.vuln_id IN (SELECT v.id FROM vulnerabilities v WHERE {finding_where})"
        )
        sql = queries.TRENDS.render(history_filter=history_filter)
        for row in _fetch_dicts(database, sql, finding_params):
            entry = day_entry(row["day"])
            for change in ("discovered", "updated", "remediated", "reactivated", "resolved"):
                entry[change] += row[change]
            entry["open_by_severity"][row["severity"]] = row["open_count"]

    ordered = [days[day] for day in sorted(days)]
    for entry in ordered:
        by_severity = entry["open_by_severity"]
        if by_severity:
            entry["open_by_severity"] = {
                s: by_severity[s] for s in sorted(by_severity, key=_severity_rank)
            }
            entry["open_total"] = sum(by_severity.values())
    return {"days": ordered, "approximate": list(TREND_APPROXIMATE), "note": TREND_NOTE}


def _data_as_of(database: _Database, shape: _StoreShape) -> str | None:
    if "sync_history" not in shape.tables:
        return None
    completed = shape.completed_sync
    if "finished_at" not in shape.sync_columns:
        sql = f"SELECT MAX(s.sync_date) FROM sync_history s WHERE {completed}"
    else:
        sql = queries.DATA_AS_OF.render(completed=completed)
    row = database.execute(sql).fetchone()
    return row[0] if row else None


# --------------------------------------------------------------------------------------------
# Helpers


def _fetch_dicts(database: _Database, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
    cursor = database.execute(sql, params)
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _severity_rank(severity: str | None) -> tuple[int, str]:
    # CRITICAL, HIGH, MEDIUM, LOW, then anything else alphabetically.
    if severity in SEVERITIES:
        return SEVERITIES.index(severity), ""
    return len(SEVERITIES), severity or ""


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _filters_as_json(filters: VulnerabilityFilter | None) -> dict[str, Any]:
    """The criteria that are set, in JSON-friendly form (dates as ISO text, tuples as lists).
    The default status scope is named, so a report says what it covers."""
    filters = filters if filters is not None else VulnerabilityFilter()
    result: dict[str, Any] = {}
    for spec in dataclasses.fields(filters):
        value = getattr(filters, spec.name)
        if value is not None:
            result[spec.name] = _jsonable(value)
    if "statuses" not in result:
        result["statuses"] = sorted(filters.effective_statuses, key=STATUSES.index)
    return result


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return timestamp_to_iso(_as_utc(value))
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list | set | frozenset):
        return [_jsonable(item) for item in value]
    return value
