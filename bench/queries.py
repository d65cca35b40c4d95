"""The named queries on DuckDB: every template, with its default parameters, over a lake of 30
committed days and over a lake of one large day, with the bytes Athena would scan for each with
and without partition pruning.

``python -m bench queries`` writes its section of docs/PERFORMANCE.md. For a quick look at a few
templates, ``QUERIES_ONLY=overdue_findings,top_cves`` runs only those, and
``QUERIES_LARGE_ONLY=1`` skips the 30-day lake (the longest part to build); the section then
says so, and is not one to commit.

The lakes are built without HTTP: one day of simulator records (vulnerabilities,
remediations, assets) is generated and normalised once, then every day is derived from it with
vectorised changes (a few findings gone, a few new, some deactivated, a third seen again) and
committed through ``LakeStorage`` as a sync would commit it, so each day has its snapshot
parts, its change history and its run row. The large day is the same generated day repeated
under new ids (vulnerabilities and remediations; assets as generated).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

DAYS = 30


def selection() -> tuple[list[str], bool]:
    """The templates ``QUERIES_ONLY`` names (empty: every one) and whether ``QUERIES_LARGE_ONLY``
    skips the 30-day lake."""
    only = [name.strip() for name in os.environ.get("QUERIES_ONLY", "").split(",")]
    return [name for name in only if name], os.environ.get("QUERIES_LARGE_ONLY", "") not in (
        "",
        "0",
    )


QUERY_CHILD = """
import time
from datetime import datetime
started = time.perf_counter()
import duckdb, sqlglot  # the engine's libraries, timed apart
imported = time.perf_counter() - started
from vanta_vuln_stats.query.engines import DuckDBEngine
from vanta_vuln_stats.query.named import QueryContext, get_query
lake, name, now, given = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
query = get_query(name)
started = time.perf_counter()
engine = DuckDBEngine(lake)
opened = time.perf_counter() - started
context = QueryContext(engine.latest_day, now=datetime.fromisoformat(now))
resolved = query.resolve(given, context)
ran = time.perf_counter()
columns, rows = engine.tables.execute(resolved.query.sql, resolved.parameters)
finished = time.perf_counter()
engine.close()
out = {"seconds": finished - started, "opened": opened, "query": finished - ran,
       "imports": imported, "rows": len(rows)}
"""


def _one_day(count: int) -> dict[Any, pa.Table]:
    """One day of simulator records, normalised: a table per resource."""
    from vanta_vuln_stats.devstack.simulator import Tenant
    from vanta_vuln_stats.model.fields import Resource
    from vanta_vuln_stats.storage.lake.chunks import normalize_records

    tenant = Tenant(records=count, seed=7)
    params = {Resource.VULNERABILITIES: {"includeVulnerabilitiesWithoutSlas": "true"}}
    tables = {}
    for resource in Resource:
        records = list(tenant.iter_records(resource, params=params.get(resource)))
        tables[resource], _ = normalize_records(resource, records)
    return tables


def _renamed(table: pa.Table, suffix: str) -> pa.Table:
    import pyarrow.compute as pc

    index = table.schema.get_field_index("id")
    ids = pc.binary_join_element_wise(table["id"], suffix, "")
    field = table.schema.field("id")
    return table.set_column(index, field, ids.cast(field.type))


def _set(table: pa.Table, column: str, mask: Any, value: Any) -> pa.Table:
    import pyarrow as pa
    import pyarrow.compute as pc

    index = table.schema.get_field_index(column)
    field = table.schema.field(column)
    values = pc.if_else(mask, pa.scalar(value, field.type), table[column])
    return table.set_column(index, field, values)


def _days(base: pa.Table, first: date) -> Iterator[tuple[date, pa.Table]]:
    """The vulnerabilities of each of DAYS days: each day 0.2% of the first day's findings are
    gone for good, 0.5% new ones appear, 0.4% are deactivated, and a third are seen again."""
    import pyarrow as pa

    def mask(rows: int, test: Any) -> pa.Array:
        return pa.array([test(i) for i in range(rows)], pa.bool_())

    for k in range(DAYS):
        day = first + timedelta(days=k)
        kept = base.filter(mask(base.num_rows, lambda i, k=k: i % 500 >= k))
        rows = kept.num_rows
        kept = _set(kept, "is_deactivated", mask(rows, lambda i, k=k: i * 7 % 256 < k), True)
        seen = datetime(day.year, day.month, day.day, 5, tzinfo=UTC)
        kept = _set(kept, "last_detected_date", mask(rows, lambda i, k=k: i % 3 == k % 3), seen)
        new = [
            _renamed(base.filter(mask(base.num_rows, lambda i, j=j: i % 200 == j)), f"-new{j}")
            for j in range(k)
        ]
        yield day, pa.concat_tables([kept, *new])


def _commit(store: Any, day: date, tables: dict[Any, pa.Table]) -> None:
    from vanta_vuln_stats.model.fields import Resource

    run = store.begin_sync(started_at=datetime(day.year, day.month, day.day, 6, tzinfo=UTC))
    for resource, table in tables.items():
        store.write_table(run, resource, table)
    fetched = {resource: table.num_rows for resource, table in tables.items()}
    store.finish_sync(run, complete=list(Resource), fetched=fetched)


def build_lakes(
    small: int, large: int, workdir: Path, *, large_only: bool = False
) -> dict[str, Any]:
    """The 30-day lake of ``small`` findings a day (unless ``large_only``) and the one-day lake
    of ``large``."""
    import pyarrow as pa

    from vanta_vuln_stats.devstack.simulator.tenant import BASE_DATE
    from vanta_vuln_stats.model.fields import Resource
    from vanta_vuln_stats.storage.lake import LakeStorage

    started = time.perf_counter()
    generated = _one_day(small)
    made = time.perf_counter() - started
    vulns, remediations = Resource.VULNERABILITIES, Resource.VULNERABILITY_REMEDIATIONS
    first = BASE_DATE - timedelta(days=DAYS - 1)
    started = time.perf_counter()
    days_lake = workdir / "lake-days"
    if not large_only:
        with LakeStorage(str(days_lake), workers=2) as store:
            for day, table in _days(generated[vulns], first):
                _commit(store, day, {**generated, vulns: table})
    days_seconds = time.perf_counter() - started

    started = time.perf_counter()
    copies = max(1, large // generated[vulns].num_rows)
    big = dict(generated)
    for resource in (vulns, remediations):
        big[resource] = pa.concat_tables(
            [_renamed(generated[resource], f"-c{c}") for c in range(copies)]
        )
    day_lake = workdir / "lake-day"
    with LakeStorage(str(day_lake), workers=2) as store:
        _commit(store, BASE_DATE, big)
    day_seconds = time.perf_counter() - started
    return {
        "days_lake": None if large_only else str(days_lake),
        "day_lake": str(day_lake),
        "generated_seconds": made,
        "days_seconds": days_seconds,
        "day_seconds": day_seconds,
        "small": generated[vulns].num_rows,
        "large": big[vulns].num_rows,
        "first_day": first,
        "last_day": BASE_DATE,
    }


def scan_bytes(lake: str, now: datetime, runs: list[tuple[str, dict[str, str]]]) -> list[dict]:
    """Per run (template, given values): what Athena would scan with pruning (the DuckDB
    engine's estimate), without (the same columns of every committed file of each table read),
    the days each pruned table read keeps, and the days it needs (its ``as_of``, or the
    committed days from ``since`` to ``until``)."""
    from vanta_vuln_stats.query.lake import LakeTables, scan_plan
    from vanta_vuln_stats.query.named import QueryContext, get_query
    from vanta_vuln_stats.storage.lake import LakeStorage

    found = []
    with LakeStorage(lake, workers=1) as store, LakeTables(store) as tables:
        days = sorted(tables.manifests)
        for name, given in runs:
            query = get_query(name)
            resolved = query.resolve(given, QueryContext(lambda: tables.latest_day, now=now))
            sql, parameters = query.sql, resolved.parameters
            unpruned = 0
            for read in scan_plan(sql):
                urls = [url for part in tables.files[read.table] for url in part.urls]
                sizes = tables._sizes(urls)
                unpruned += sum(sizes[url].get(col, 0) for url in urls for col in read.columns)
            values = resolved.values
            if "as_of" in values:
                needed = [values["as_of"]]
            elif "since" in values and "until" in values:
                needed = [d for d in days if values["since"] <= d <= values["until"]]
            else:
                needed = None
            pruned_tables = {r.table for r in scan_plan(sql) if r.partition_filter is not None}
            read = tables.partitions_read(sql, parameters)
            found.append(
                {
                    "pruned": tables.scanned_bytes(sql, parameters),
                    "unpruned": unpruned,
                    "read": {t: read[t] for t in pruned_tables},
                    "needed": needed,
                    "days": len(days),
                }
            )
    return found


def measure(small: int, large: int, workdir: Path) -> dict[str, Any]:
    """Build both lakes, then run every template in a fresh process on each, and estimate."""
    from bench.__main__ import _child
    from vanta_vuln_stats.query.named import load_queries

    only, large_only = selection()
    built = build_lakes(small, large, workdir, large_only=large_only)
    last = built["last_day"]
    now = datetime(last.year, last.month, last.day, 12, tzinfo=UTC)
    unknown = sorted(set(only) - set(load_queries()))
    if unknown:
        raise SystemExit(f"QUERIES_ONLY names no template {', '.join(unknown)}")
    names = [name for name in load_queries() if not only or name in only]
    datasets = {}
    for label, lake, extra in (
        ("days", built["days_lake"], [("open_trend", {"since": "latest-6"})]),
        ("day", built["day_lake"], []),
    ):
        if lake is None:
            continue
        runs: list[tuple[str, dict[str, str]]] = [(name, {}) for name in names] + [
            (name, given) for name, given in extra if name in names
        ]
        scans = scan_bytes(lake, now, runs)
        timed = [
            _child(QUERY_CHILD, lake, name, now.isoformat(), json.dumps(given))
            for name, given in runs
        ]
        datasets[label] = [
            {"name": name, "given": given, **scan, **times}
            for (name, given), scan, times in zip(runs, scans, timed, strict=True)
        ]
    return {**built, "datasets": datasets}
