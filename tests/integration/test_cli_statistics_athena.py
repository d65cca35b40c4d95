"""``vanta-vuln-stats --engine athena``: every statistics query goes to Athena (moto) with its
values as ExecutionParameters, and the report is the one the same answers make.

moto runs no SQL: each query's answer is queued beforehand, in the order the statistics run
their queries (one at a time here), computed by running the same Athena SQL on DuckDB over a
lake with the same data (see test_lake_statistics_athena.py for that comparison).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from vanta_vuln_stats.query.athena import athena_query_cost, render_parameters
from vanta_vuln_stats.query.lake import LakeTables
from vanta_vuln_stats.stats import compute_statistics
from vanta_vuln_stats.stats.athena import AthenaStatistics
from vanta_vuln_stats.storage.lake import LakeStorage

from .lake_tenant import NOW, FrozenClock, build_lake
from .test_cli_query import REGION, athena, run_cli, set_athena_results

__all__ = ["athena"]  # the fixture, used by name


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_lake(tmp_path_factory.mktemp("cli-athena-statistics") / "lake")


def executions(workgroup: str) -> list[dict[str, Any]]:
    client = boto3.client("athena", region_name=REGION)
    ids = client.list_query_executions(WorkGroup=workgroup)["QueryExecutionIds"]
    return [client.get_query_execution(QueryExecutionId=i)["QueryExecution"] for i in ids]


def test_statistics_run_on_athena_with_values_as_parameters(
    lake: Path, athena: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint, workgroup = athena
    FrozenClock.current = NOW
    monkeypatch.setattr("vanta_vuln_stats.stats.generator.datetime", FrozenClock.datetime_class())
    monkeypatch.setattr("vanta_vuln_stats.report.ATHENA_STATISTICS_WORKERS", 1)
    sent: list[tuple[str, list[Any]]] = []
    with LakeStorage(str(lake)) as store, LakeTables(store) as tables:

        def run(sql: str, values: Any) -> Any:
            columns, rows = tables.execute(sql, values)
            sent.append((sql, list(values)))
            set_athena_results(endpoint, columns, rows)
            return columns, rows

        expected = compute_statistics(AthenaStatistics(run), None, now=NOW)
        with store.query_connection() as conn:
            assert compute_statistics(conn, None, now=NOW) == expected

    result = run_cli(
        "--use-cache", "--storage-backend", "s3", "--lake", "s3://vanta-lake/tenant",
        "--engine", "athena", "--database", "vanta_lake", "--workgroup", workgroup,
        "--format", "json",
    )  # fmt: skip

    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["total_count"] == expected["total_count"] > 0
    assert {k: v for k, v in report.items() if k != "generated_at"} == json.loads(
        json.dumps({k: v for k, v in expected.items() if k != "generated_at"})
    )
    ran = executions(workgroup)
    assert sorted((e["Query"], tuple(e.get("ExecutionParameters", []))) for e in ran) == sorted(
        (sql, render_parameters(values)) for sql, values in sent
    )
    assert all(e["QueryExecutionContext"]["Database"] == "vanta_lake" for e in ran)
    # moto scans nothing; each query is billed Athena's 10 MB minimum.
    cost = athena_query_cost(0) * len(sent)
    assert result.err.splitlines()[-1] == (
        f"Athena ran {len(sent)} statistics queries in vanta_lake: scanned 0 bytes (${cost:.6f})."
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--storage-backend", "s3", "--lake", "s3://vanta-lake/tenant"],
            "Error: No Glue database given: use --database NAME (or VANTA_GLUE_DATABASE).",
        ),
        (
            ["--storage-backend", "lake", "--lake", "lake-folder", "--database", "vanta"],
            "Error: --engine athena runs on the lake on S3 through its Glue catalog: give "
            "--storage-backend s3 --lake s3://bucket/prefix (or VANTA_LAKE).",
        ),
        (
            ["--storage-backend", "s3", "--lake", "s3://b/p", "--database", "vanta", "--sync"],
            "Error: --engine athena reads the catalogued lake: sync without it first, then run "
            "vanta-vuln-stats catalog sync.",
        ),
    ],
)
def test_user_mistakes_are_one_line_and_exit_2(
    args: list[str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VANTA_GLUE_DATABASE", raising=False)
    use_cache = [] if "--sync" in args else ["--use-cache"]
    result = run_cli(*use_cache, "--engine", "athena", *args)
    assert result.code == 2
    assert result.err == message + "\n"
