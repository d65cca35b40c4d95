"""The statistics' Athena SQL gives the DuckDB engine's statistics, key for key.

Athena cannot run here, so the Athena SQL the engine produces (``stats.athena.athena_sql``) is
translated back to DuckDB by sqlglot (as the named queries are, query/lake.py) and run over the
lake's committed files under the Glue table names: the same text and the same bound values an
Athena run would get. Every filter of the SQLite-against-lake comparison is checked.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vanta_vuln_stats.query.lake import LakeTables
from vanta_vuln_stats.stats import compute_statistics, queries
from vanta_vuln_stats.stats.athena import AthenaStatistics, athena_sql
from vanta_vuln_stats.storage import VulnerabilityFilter
from vanta_vuln_stats.storage.lake import LakeStorage

from .lake_tenant import DAY2, NOW, build_lake
from .test_lake_statistics import FILTERS, Stores, records, without_generated_at


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_lake(tmp_path_factory.mktemp("athena-statistics") / "lake")


@pytest.fixture(scope="module")
def tables(lake: Path) -> Iterator[tuple[LakeStorage, LakeTables]]:
    with LakeStorage(str(lake)) as store, LakeTables(store) as tables:
        yield store, tables


def both(
    tables: tuple[LakeStorage, LakeTables],
    filters: VulnerabilityFilter | None,
    **options: Any,
) -> tuple[dict[str, Any], dict[str, Any], list[tuple[str, list[Any]]]]:
    store, lake_tables = tables
    sent: list[tuple[str, list[Any]]] = []

    def run(sql: str, values: Any) -> Any:
        sent.append((sql, list(values)))
        return lake_tables.execute(sql, values)

    with store.query_connection() as conn:
        expected = compute_statistics(conn, filters, now=NOW, **options)
    actual = compute_statistics(AthenaStatistics(run), filters, now=NOW, **options)
    return without_generated_at(expected), without_generated_at(actual), sent


@pytest.mark.parametrize("case", list(FILTERS))
def test_athena_statistics_equal_duckdb_statistics(
    lake: Path, tables: tuple[LakeStorage, LakeTables], case: str
) -> None:
    stores = Stores(sqlite=lake, lake=lake, day2=records(DAY2))
    expected, actual, sent = both(tables, FILTERS[case](stores))
    assert actual == expected
    assert len(sent) >= len(queries.QUERIES) - 1  # each statistic ran through the runner


def test_the_comparison_covers_every_statistic(tables: tuple[LakeStorage, LakeTables]) -> None:
    expected, actual, _ = both(tables, VulnerabilityFilter(statuses=["all"]), top_n=3)
    assert actual == expected
    assert actual["total_count"] > 500 and actual["by_severity"]
    assert actual["average_cvss_by_severity"] and actual["open_age_buckets"]["buckets"]
    assert actual["remediation_sla"]["on_time"] and actual["remediation_sla"]["late"]
    assert actual["time_to_remediate"]["overall"]["median_days"] is not None
    assert len(actual["trends"]["days"]) == 2 and actual["data_as_of"]
    assert len(actual["top_assets"]) == 3 and actual["top_assets"][0]["name"]


def test_values_travel_only_as_parameters(tables: tuple[LakeStorage, LakeTables]) -> None:
    filters = VulnerabilityFilter(cve="o'brien", asset_id="asset-x", identified_start="2026-01-01")
    _, _, sent = both(tables, filters)
    for sql, values in sent:
        assert "o'brien" not in sql and "o''brien" not in sql and "asset-x" not in sql
        assert "2026-01-01" not in sql
        assert sql.count("?") == len(values)
    assert any("o'brien" in values for _, values in sent)


def test_the_sql_reads_the_glue_tables_only() -> None:
    sql = athena_sql(
        queries.FINDINGS_SUMMARY.render(
            where="1 = 1", deactivated="v.is_deactivated = 1", reported="v.resolved_at IS NULL"
        )
    )
    assert "FROM vanta_vulnerabilities_current" in sql
    assert "from_iso8601_timestamp(?)" in sql.lower()
    trends = athena_sql(queries.TRENDS.render(history_filter="1 = 1"))
    assert "FROM vanta_vulnerability_history" in trends
