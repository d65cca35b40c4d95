"""The named queries on DuckDB over a lake of two committed days of a simulated tenant: every
template runs with no parameter and with some, only committed files are read, values cannot
change the SQL, the partition predicates prune, and every figure a template shares with the
statistics report equals the report's (compute_statistics over the same lake)."""

from __future__ import annotations

import shutil
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from vanta_vuln_stats.catalog.tables import CATALOG_TABLES
from vanta_vuln_stats.query.engines import DuckDBEngine, QueryOutput, run_named_query
from vanta_vuln_stats.query.named import QueryContext, load_queries
from vanta_vuln_stats.stats import compute_statistics
from vanta_vuln_stats.storage import VulnerabilityFilter
from vanta_vuln_stats.storage.lake import LakeStorage
from vanta_vuln_stats.storage.lake.engine import duckdb_type

from .lake_tenant import DAY1, DAY2, DAY3, NOW, V, build_lake, build_sqlite, records, sync_day


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = build_lake(tmp_path_factory.mktemp("named-queries") / "lake")
    with LakeStorage(str(path)) as store:
        changes = store.last_sync()
    assert changes is not None and changes.discovered and changes.remediated
    return path


@pytest.fixture(scope="module")
def engine(lake: Path) -> Iterator[DuckDBEngine]:
    with DuckDBEngine(str(lake)) as opened:
        yield opened


@pytest.fixture(scope="module")
def stats(lake: Path) -> dict[str, Any]:
    """The report's statistics over the same lake, as `vanta-vuln-stats --storage-backend lake`
    computes them."""
    return statistics(lake)


def statistics(lake: Path, filters: VulnerabilityFilter | None = None, **options: Any):
    with LakeStorage(str(lake)) as store, store.query_connection() as conn:
        return compute_statistics(conn, filters, now=NOW, **options)


def run(engine: DuckDBEngine, name: str, **params: Any) -> list[dict[str, Any]]:
    return output(engine, name, **params).as_dicts()


def output(engine: DuckDBEngine, name: str, **params: Any) -> QueryOutput:
    query = load_queries()[name]
    _, result = run_named_query(
        engine, query, {key: str(value) for key, value in params.items()}, now=NOW
    )
    return result


def ranked(counts: Counter[str] | dict[str, int], n: int) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:n]


# --------------------------------------------------------------------------------------------
# Every template runs

GIVEN: dict[str, dict[str, Any]] = {
    "open_critical_high": {"as_of": DAY1, "min_severity": "critical", "limit": 5},
    "overdue_findings": {"as_of": DAY2, "severity": "HIGH", "limit": 7},
    "sla_due_soon": {"now": "2026-11-06T00:00:00Z", "days": 30, "severity": "ALL"},
    "open_trend": {"since": DAY2, "until": DAY2},
    "sla_compliance": {"as_of": DAY1, "since": "2026-01-01"},
    "time_to_remediate": {"since": "2025-06-01"},
    "top_assets": {"scope": "reported", "top": 3},
    "top_packages": {"as_of": "latest-1", "top": 4},
    "top_cves": {"scope": "reported", "top": 5},
    "new_vs_remediated": {"since": DAY2, "severity": "MEDIUM"},
    "sync_history": {"since": "latest-1", "status": "complete"},
}


def test_every_template_is_exercised() -> None:
    assert set(GIVEN) == set(load_queries())


@pytest.mark.parametrize("name", sorted(GIVEN))
def test_every_template_runs_with_no_parameter_and_with_some(
    engine: DuckDBEngine, name: str
) -> None:
    defaults = output(engine, name)
    assert defaults.columns
    assert defaults.rows or name == "sla_due_soon"  # due soon after the real "now": maybe none
    given = run(engine, name, **GIVEN[name])
    assert given, name
    limit = GIVEN[name].get("limit") or GIVEN[name].get("top")
    if limit:
        assert len(given) <= limit


def test_given_values_change_the_result(engine: DuckDBEngine) -> None:
    critical = run(engine, "open_critical_high", min_severity="CRITICAL", limit=100000)
    both = run(engine, "open_critical_high", limit=100000)
    assert {row["severity"] for row in critical} == {"CRITICAL"}
    assert {row["severity"] for row in both} == {"CRITICAL", "HIGH"}
    # Nearest deadline first, findings without one last.
    deadlines = [row["remediate_by_date"] for row in both]
    dated = [d for d in deadlines if d is not None]
    assert dated == sorted(dated) and deadlines[: len(dated)] == dated
    assert [row["run_date"] for row in run(engine, "open_trend", since=DAY2)] == [DAY2] * 4
    due = run(engine, "sla_due_soon", now=NOW.isoformat(), days=3)
    assert due and all(NOW <= row["remediate_by_date"] < NOW + timedelta(days=3) for row in due)
    assert all(0 <= row["hours_left"] <= 72 for row in due)


# --------------------------------------------------------------------------------------------
# The views: Athena's table shapes, committed files only


def test_views_have_the_glue_tables_columns_typed_as_the_files(engine: DuckDBEngine) -> None:
    conn = engine.tables.conn

    def spelled(kind: str) -> str:  # as DESCRIBE spells it (TIMESTAMPTZ is an alias)
        return conn.execute(f"SELECT typeof(CAST(NULL AS {kind}))").fetchone()[0]

    for table in CATALOG_TABLES:
        described = conn.execute(f"DESCRIBE {table.name}").fetchall()
        expected = [(field.name, spelled(duckdb_type(field.type))) for field in table.schema()]
        expected += [("year", "VARCHAR"), ("month", "VARCHAR"), ("day", "VARCHAR")]
        assert [(name, kind) for name, kind, *_ in described] == expected, table.name
        keys = conn.execute(
            f"SELECT DISTINCT year, month, day FROM {table.name} ORDER BY ALL"
        ).fetchall()
        assert keys == [("2026", "11", "05"), ("2026", "11", "06")]


def test_days_that_did_not_commit_are_invisible(lake: Path, tmp_path: Path) -> None:
    root = tmp_path / "lake"
    shutil.copytree(lake, root)
    with LakeStorage(str(root)) as store:
        sync_day(store, DAY3, commit=False)
    # Day 3's parts, state, history and run row are all on disk, but no manifest commits them.
    assert (root / "vulnerabilities" / "year=2026" / "month=11" / "day=07").is_dir()
    with DuckDBEngine(str(root)) as uncommitted:
        assert uncommitted.latest_day() == DAY2
        assert run(uncommitted, "top_packages", as_of=DAY3) == []
        assert run(uncommitted, "open_trend", until=DAY3) == run(uncommitted, "open_trend")
        assert [r["run_date"] for r in run(uncommitted, "sync_history", until=DAY3)] == [
            DAY1,
            DAY2,
        ]


@pytest.fixture
def s3_lake(lake: Path, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The module's lake copied object by object into a bucket of moto's S3 (server mode)."""
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    s3 = boto3.client("s3", region_name="us-east-1")
    bucket = "vanta-named-queries"
    s3.create_bucket(Bucket=bucket)
    for path in lake.rglob("*"):
        if path.is_file():
            key = f"tenant/{path.relative_to(lake).as_posix()}"
            s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
    return f"s3://{bucket}/tenant"


def test_a_lake_on_s3_answers_as_the_local_one(engine: DuckDBEngine, s3_lake: str) -> None:
    with DuckDBEngine(s3_lake) as remote:
        assert remote.store.location.is_s3 and remote.latest_day() == DAY2
        for name in ("overdue_findings", "sla_compliance", "top_cves", "sync_history"):
            local, other = output(engine, name), output(remote, name)
            assert other.as_dicts() == local.as_dicts(), name
            assert other.bytes_scanned == local.bytes_scanned, name


def test_a_migrated_lake_shows_every_day_of_its_history(tmp_path: Path) -> None:
    from vanta_vuln_stats.storage.lake.migration import migrate

    source = build_sqlite(tmp_path / "vanta.db")
    destination = tmp_path / "migrated"
    assert migrate(source, str(destination)).plan.run_date == DAY2
    expected = statistics(destination)
    with DuckDBEngine(str(destination)) as migrated:
        # One commit (the last synced day) holds the history and run log of both days.
        assert migrated.latest_day() == DAY2
        query = load_queries()["new_vs_remediated"]
        resolved = query.resolve({}, QueryContext(migrated.latest_day, now=NOW))
        read = migrated.tables.partitions_read(query.sql, resolved.parameters)
        assert read == {"vanta_vulnerability_history": [DAY1, DAY2]}
        changes = ("discovered", "remediated", "reactivated", "resolved", "updated")
        rows = run(migrated, "new_vs_remediated")
        assert [{"date": r["run_date"].isoformat()} | {c: r[c] for c in changes} for r in rows] == [
            {"date": day["date"]} | {c: day[c] for c in changes}
            for day in expected["trends"]["days"]
        ]
        runs = [r for r in run(migrated, "sync_history") if r["status"] == "complete"]
        assert [r["run_date"] for r in runs] == [DAY1, DAY2]


def test_an_empty_lake_answers_with_no_rows(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with DuckDBEngine(str(tmp_path / "empty")) as empty:
        assert empty.latest_day() is None
        assert run(empty, "top_cves", as_of=DAY1) == []
        assert run(empty, "sync_history", since=DAY1, until=DAY2) == []


# --------------------------------------------------------------------------------------------
# Values never change the SQL

HOSTILE = (
    "x' OR '1'='1",
    "' OR 1=1 --",
    "'; DROP VIEW vanta_vulnerabilities; --",
    "%",
    "?",
)


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("name", ["sla_due_soon", "overdue_findings"])
def test_hostile_values_match_nothing_as_a_harmless_one(
    engine: DuckDBEngine, name: str, value: str
) -> None:
    window = {"now": "2026-11-01T00:00:00Z", "days": 365} if name == "sla_due_soon" else {}
    assert run(engine, name, **window)  # there is something to leak
    harmless = run(engine, name, asset="no such asset", **window)
    assert harmless == []
    assert run(engine, name, asset=value, **window) == harmless
    assert run(engine, name, integration=value, **window) == harmless
    # The views are all still there.
    assert run(engine, name, **window)


def test_a_value_is_compared_as_text(engine: DuckDBEngine) -> None:
    rows = run(engine, "overdue_findings", limit=100000)
    asset = next(row["asset_name"] for row in rows if row["asset_name"])
    matching = run(engine, "overdue_findings", asset=asset.upper(), limit=100000)
    assert matching and all(asset.lower() in row["asset_name"].lower() for row in matching)
    integration = rows[0]["integration_id"]
    same = run(engine, "overdue_findings", integration=integration, limit=100000)
    assert len(same) == sum(row["integration_id"] == integration for row in rows)


# --------------------------------------------------------------------------------------------
# Partition pruning and the scan estimate


def test_each_template_reads_only_the_partitions_its_parameters_name(engine: DuckDBEngine):
    tables = engine.tables
    context = QueryContext(engine.latest_day, now=NOW)
    for name, query in load_queries().items():
        names = {parameter.name for parameter in query.parameters}
        # One day: the as_of of a snapshot query, or a range of one day.
        day = {"as_of": DAY1} if "as_of" in names else {"since": DAY1, "until": DAY1}
        resolved = query.resolve({key: str(value) for key, value in day.items()}, context)
        read = tables.partitions_read(query.sql, resolved.parameters)
        assert read and all(days == [DAY1] for days in read.values()), (name, read)
        scanned = tables.scanned_bytes(query.sql, resolved.parameters)
        assert 0 < scanned < _all_bytes(engine, read), name
        # With its defaults it reads the latest day, or the range up to it.
        defaults = query.resolve({}, context)
        expected = [DAY2] if "as_of" in names else [DAY1, DAY2]
        read = tables.partitions_read(query.sql, defaults.parameters)
        assert all(days == expected for days in read.values()), (name, read)


def _all_bytes(engine: DuckDBEngine, read: dict[str, list[date]]) -> int:
    """Every byte of every committed file of the tables read: what a query without pruning
    or column selection would scan."""
    files = [url for table in read for part in engine.tables.files[table] for url in part.urls]
    return sum(Path(url).stat().st_size for url in files)


def test_the_estimate_counts_the_columns_a_query_names(engine: DuckDBEngine) -> None:
    narrow = output(engine, "top_packages").bytes_scanned
    wide = output(engine, "open_critical_high").bytes_scanned
    assert narrow is not None and wide is not None and 0 < narrow < wide
    assert output(engine, "top_packages").cost_usd == pytest.approx(10 / 1024**2 * 5.0)


# --------------------------------------------------------------------------------------------
# The same figures as the statistics report


def test_open_counts_by_severity(engine: DuckDBEngine, stats: dict[str, Any]) -> None:
    trend = run(engine, "open_trend")
    latest = {row["severity"]: row["open_findings"] for row in trend if row["run_date"] == DAY2}
    assert {s: n for s, n in latest.items() if n} == stats["open_findings"]["by_severity"]
    reported = sum(row["reported_findings"] for row in trend if row["run_date"] == DAY2)
    assert reported == stats["total_count"]
    listed = Counter(row["severity"] for row in run(engine, "open_critical_high", limit=100000))
    expected = stats["open_findings"]["by_severity"]
    assert listed == {s: expected[s] for s in ("CRITICAL", "HIGH")}


def test_open_counts_per_day_follow_the_trend(engine: DuckDBEngine, stats: dict[str, Any]):
    per_day: dict[date, dict[str, int]] = defaultdict(dict)
    for row in run(engine, "open_trend"):
        if row["open_findings"]:
            per_day[row["run_date"]][row["severity"]] = row["open_findings"]
    days = {day["date"]: day["open_by_severity"] for day in stats["trends"]["days"]}
    assert {day.isoformat(): counts for day, counts in per_day.items()} == days


def test_overdue(engine: DuckDBEngine, stats: dict[str, Any]) -> None:
    rows = run(engine, "overdue_findings", now=NOW.isoformat(), limit=100000)
    assert Counter(row["severity"] for row in rows) == stats["overdue"]["by_severity"]
    assert len(rows) == stats["overdue"]["total"]
    assert all(row["remediate_by_date"] < NOW and row["days_overdue"] >= 0 for row in rows)
    # Longest overdue first.
    assert [r["remediate_by_date"] for r in rows] == sorted(r["remediate_by_date"] for r in rows)


def _sla_entry(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("on_time", "late", "without_deadline", "compliance_pct")
    return {key: row[key] for key in keys}


def test_sla_compliance(engine: DuckDBEngine, stats: dict[str, Any]) -> None:
    rows = run(engine, "sla_compliance")
    sla = stats["remediation_sla"]
    by_severity = {r["severity"]: _sla_entry(r) for r in rows if r["month"] == "ALL"}
    by_month = {r["month"]: _sla_entry(r) for r in rows if r["severity"] == "ALL"}
    assert by_severity.pop("ALL") == by_month.pop("ALL") == _sla_entry(sla)
    assert by_severity == sla["by_severity"]
    assert by_month == sla["by_month"]
    assert list(by_month) == sorted(by_month)
    # The month x severity cells add up to the month totals.
    cells = [r for r in rows if "ALL" not in (r["month"], r["severity"])]
    for month, entry in by_month.items():
        assert sum(r["late"] for r in cells if r["month"] == month) == entry["late"]


def test_time_to_remediate(engine: DuckDBEngine, stats: dict[str, Any]) -> None:
    rows = {row["severity"]: row for row in run(engine, "time_to_remediate")}
    ttr = stats["time_to_remediate"]
    overall = rows.pop("ALL")
    assert (overall["remediated"], overall["mean_days"]) == (
        ttr["overall"]["count"],
        ttr["overall"]["mean_days"],
    )
    assert overall["median_days"] is not None  # the report has none over all severities
    assert {
        severity: {
            "count": row["remediated"],
            "mean_days": row["mean_days"],
            "median_days": row["median_days"],
        }
        for severity, row in rows.items()
    } == ttr["by_severity"]


@pytest.mark.parametrize("scope", ["reported", "open"])
def test_top_assets_packages_and_cves(lake: Path, engine: DuckDBEngine, scope: str) -> None:
    # The report's scope is what the API reports (deactivated included); "open" is its active
    # status filter.
    filters = VulnerabilityFilter(statuses=["active"]) if scope == "open" else None
    expected = statistics(lake, filters, top_n=8)

    assets = run(engine, "top_assets", scope=scope, top=8)
    assert [(r["asset_id"], r["asset_name"], r["findings"]) for r in assets] == [
        (item["asset_id"], item["name"], item["count"]) for item in expected["top_assets"]
    ]
    assert {r["assets_with_findings"] for r in assets} == {expected["unique_assets_count"]}

    packages = run(engine, "top_packages", scope=scope, top=8)
    assert [(r["package"], r["findings"]) for r in packages] == [
        (item["package"], item["count"]) for item in expected["top_packages"]
    ]

    cves = run(engine, "top_cves", scope=scope, top=8)
    assert [r["rank"] for r in cves] == list(range(1, 9))  # the counts: the test below


def test_top_cves_are_cve_ids_counted_once_per_finding(engine: DuckDBEngine) -> None:
    import re

    counts: Counter[str] = Counter()
    for v in records(DAY2)[V]:
        if v["vulnerabilityType"] == "CONFIGURATION" or v["deactivateMetadata"]:
            continue
        words = [v["name"].strip().split(" ")[0], *v["relatedVulns"]]
        ids = {w.strip().upper() for w in words if re.fullmatch(r"CVE-\d{4}-\d{4,}", w.strip())}
        counts.update(ids)
    rows = run(engine, "top_cves", top=10000)
    assert [(r["cve_id"], r["findings"]) for r in rows] == ranked(counts, 10000)


def test_new_vs_remediated_per_day(engine: DuckDBEngine, stats: dict[str, Any]) -> None:
    rows = run(engine, "new_vs_remediated")
    changes = ("discovered", "remediated", "reactivated", "resolved", "updated")
    assert [{"date": r["run_date"].isoformat()} | {c: r[c] for c in changes} for r in rows] == [
        {"date": day["date"]} | {c: day[c] for c in changes} for day in stats["trends"]["days"]
    ]
    assert rows[-1]["discovered"] and rows[-1]["remediated"]


def test_sync_history(engine: DuckDBEngine, stats: dict[str, Any]) -> None:
    rows = run(engine, "sync_history")
    complete = [row for row in rows if row["status"] == "complete"]
    per_day = Counter(row["run_date"].isoformat() for row in complete)
    assert {day["date"]: day["syncs"] for day in stats["trends"]["days"]} == per_day
    last = {row["run_date"].isoformat(): row["vulnerabilities_fetched"] for row in complete}
    assert {day["date"]: day["reported"] for day in stats["trends"]["days"]} == last
    finished = max(row["finished_at"] for row in complete)
    assert finished.isoformat().replace("+00:00", ".000Z") == stats["data_as_of"]
    assert [row["run_id"] for row in rows] == ["20261105T060000000Z", "20261106T060000000Z"]
