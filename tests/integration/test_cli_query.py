"""``vanta-vuln-stats query list|show|run`` through the real entry point (``cli.main``): over a
lake on disk with DuckDB, and with ``--engine athena`` against moto in server mode (which runs
no SQL: the rows it answers with are set beforehand, here from DuckDB's answer to the same
query, so both engines' output can be compared)."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from vanta_vuln_stats import cli
from vanta_vuln_stats.query.athena import render_parameters
from vanta_vuln_stats.query.engines import DuckDBEngine, run_named_query
from vanta_vuln_stats.query.named import load_queries

from .lake_tenant import DAY1, DAY2, NOW, build_lake

TEMPLATES = Path(__file__).resolve().parents[2] / "shared/vanta_vuln_stats/query/templates"
REGION = "us-east-1"


@dataclass
class Run:
    code: int
    out: str
    err: str


def run_cli(*args: str) -> Run:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(args))
    return Run(code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_lake(tmp_path_factory.mktemp("cli-query") / "lake")


# --------------------------------------------------------------------------------------------
# list and show


def test_list_names_every_query_with_its_parameters() -> None:
    result = run_cli("query", "list")
    assert result.code == 0 and result.err == ""
    for name, query in load_queries().items():
        assert f"{name}: " in result.out
        for parameter in query.parameters:
            assert parameter.type_label in result.out


def test_list_as_json_is_an_array_of_name_description_parameters() -> None:
    result = run_cli("query", "list", "--format", "json")
    assert result.code == 0
    listed = json.loads(result.out)
    assert isinstance(listed, list)
    assert [entry["name"] for entry in listed] == list(load_queries())
    for entry in listed:
        assert {"name", "description", "parameters"} <= set(entry)
        assert entry["description"]
        for parameter in entry["parameters"]:
            assert {"name", "type", "default"} <= set(parameter)
    due = next(entry for entry in listed if entry["name"] == "sla_due_soon")
    days = next(p for p in due["parameters"] if p["name"] == "days")
    assert days == days | {"type": "int", "default": "7", "min": 1, "max": 365}
    severity = next(p for p in due["parameters"] if p["name"] == "severity")
    assert severity["choices"] == ["ALL", "CRITICAL", "HIGH", "MEDIUM", "LOW"]


@pytest.mark.parametrize("name", ["sla_due_soon", "top_cves", "sync_history"])
def test_show_prints_the_template_and_nothing_else(name: str) -> None:
    result = run_cli("query", "show", name)
    assert result.code == 0 and result.err == ""
    assert result.out == (TEMPLATES / f"{name}.sql").read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------------
# run on DuckDB


def test_run_as_json_is_only_an_array_of_row_objects(lake: Path) -> None:
    result = run_cli(
        "query", "run", "overdue_findings", "--lake", str(lake), "--format", "json",
        "--param", "severity=critical", f"now={NOW.isoformat()}", "--param", "limit=5",
    )  # fmt: skip
    assert result.code == 0, result.err
    rows = json.loads(result.out)
    assert isinstance(rows, list) and 0 < len(rows) <= 5
    assert set(rows[0]) == {
        "id", "severity", "name", "days_overdue", "remediate_by_date", "package_identifier",
        "fixed_version", "target_id", "asset_name", "asset_type", "integration_id",
    }  # fmt: skip
    assert {row["severity"] for row in rows} == {"CRITICAL"}
    # Times as ISO text in UTC.
    assert datetime.fromisoformat(rows[0]["remediate_by_date"]) < NOW
    assert rows[0]["remediate_by_date"].endswith("Z")
    # What it ran with, and what it would cost on Athena, on stderr.
    lines = result.err.splitlines()
    assert lines[0] == (
        f"overdue_findings: as_of={DAY2} (default latest), now=2026-11-07T09:30:00.000Z, "
        "severity=CRITICAL, integration='' (default), asset='' (default), limit=5"
    )
    assert lines[-1].startswith(f"5 row(s) from DuckDB over {lake}; on Athena this query would ")
    assert "scan about" in lines[-1] and "$0.0000" in lines[-1]


def test_run_as_csv_has_a_header_then_the_rows(lake: Path) -> None:
    result = run_cli(
        "query", "run", "sync_history", "--lake", str(lake), "--format", "csv",
        "--param", f"since={DAY1}", f"until={DAY2}",
    )  # fmt: skip
    assert result.code == 0, result.err
    rows = list(csv.reader(io.StringIO(result.out)))
    assert rows[0][:3] == ["run_date", "run_id", "status"]
    assert [row[:3] for row in rows[1:]] == [
        [str(DAY1), "20261105T060000000Z", "complete"],
        [str(DAY2), "20261106T060000000Z", "complete"],
    ]
    header = rows[0]
    assert rows[1][header.index("started_at")] == "2026-11-05T06:00:00.000Z"
    assert rows[1][header.index("reconciled")] == "true"
    assert rows[1][header.index("message")] == ""


def test_run_as_a_table(lake: Path) -> None:
    result = run_cli("query", "run", "time_to_remediate", "--lake", str(lake))
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split() == ["SEVERITY", "REMEDIATED", "MEAN_DAYS", "MEDIAN_DAYS"]
    assert [line.split()[0] for line in lines[1:]] == ["CRITICAL", "HIGH", "MEDIUM", "LOW", "ALL"]
    # Numbers are right-aligned under their header.
    assert all(len(line) == len(lines[0]) for line in lines)


def test_lake_can_come_from_the_environment(lake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VANTA_LAKE", str(lake))
    result = run_cli("query", "run", "top_packages", "--param", "top=2", "--format", "json")
    assert result.code == 0, result.err
    assert [row["rank"] for row in json.loads(result.out)] == [1, 2]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "overdue"], "There is no named query 'overdue'; choose from: new_vs_remediated"),
        (["show", "nope"], "There is no named query 'nope'; choose from: "),
        (
            ["run", "top_cves", "--param", "top=many"],
            "Query top_cves: top='many' is not accepted; give an integer from 1 to 10000.",
        ),
        (
            ["run", "top_cves", "--param", "limit=3"],
            "Query top_cves has no parameter 'limit'; it accepts: as_of, scope, top.",
        ),
        (
            ["run", "top_cves", "--param", "scope"],
            "Query top_cves: --param 'scope' is not key=value; keys: as_of, scope, top.",
        ),
        (
            ["run", "open_trend", "--param", "since=2026-02-30"],
            "Query open_trend: since='2026-02-30' is not accepted; give a date YYYY-MM-DD",
        ),
        (["run", "top_cves", "--engine", "presto"], "argument --engine: invalid choice"),
    ],
)
def test_bad_names_and_values_are_one_line_and_exit_2(
    lake: Path, args: list[str], message: str
) -> None:
    extra = ["--lake", str(lake)] if args[0] == "run" else []
    result = run_cli("query", *args, *extra)
    assert result.code == 2
    assert result.out == ""
    assert len(result.err.strip().splitlines()) == 1
    assert message in result.err


def test_a_missing_lake_is_exit_2(tmp_path: Path) -> None:
    result = run_cli("query", "run", "top_cves")
    assert (result.code, result.err) == (
        2,
        "Error: No lake given: use --lake DIR or s3://bucket/prefix (or VANTA_LAKE).\n",
    )
    result = run_cli("query", "run", "top_cves", "--lake", str(tmp_path / "nowhere"))
    assert result.code == 2 and "does not exist" in result.err


def test_latest_in_a_lake_without_a_committed_day_is_exit_2(tmp_path: Path) -> None:
    (tmp_path / "lake").mkdir()
    result = run_cli("query", "run", "top_cves", "--lake", str(tmp_path / "lake"))
    assert result.code == 2 and "no committed day yet" in result.err
    given = run_cli("query", "run", "top_cves", "--lake", str(tmp_path / "lake"), "--param",
                    "as_of=2026-11-05", "--format", "json")  # fmt: skip
    assert given.code == 0 and json.loads(given.out) == []


# --------------------------------------------------------------------------------------------
# run on Athena (moto)


def athena_type(values: Sequence[Any]) -> str:
    sample = next((value for value in values if value is not None), "")
    for kind, name in (
        (bool, "boolean"),
        (int, "bigint"),
        (float, "double"),
        (datetime, "timestamp"),
        (date, "date"),
        (list, "array"),
    ):
        if isinstance(sample, kind):
            return name
    return "varchar"


def athena_text(value: Any) -> str | None:
    """A value as Athena writes it in GetQueryResults."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}"
    if isinstance(value, list):
        return "[" + ", ".join(value) + "]"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def set_athena_results(endpoint: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    types = [athena_type([row[i] for row in rows]) for i in range(len(columns))]
    header = {"Data": [{"VarCharValue": name} for name in columns]}
    data = [
        {"Data": [{} if (text := athena_text(v)) is None else {"VarCharValue": text} for v in row]}
        for row in rows
    ]
    response = httpx.post(
        f"{endpoint}/moto-api/static/athena/query-results",
        json={
            "region": REGION,
            "results": [
                {
                    "rows": [header, *data],
                    "column_info": [
                        {"Name": name, "Label": name, "Type": kind, "Nullable": "UNKNOWN"}
                        for name, kind in zip(columns, types, strict=True)
                    ],
                }
            ],
        },
    )
    assert response.status_code == 201


@pytest.fixture
def athena(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_REGION", REGION)
    workgroup = f"vanta-{uuid.uuid4().hex[:8]}"
    boto3.client("athena", region_name=REGION).create_work_group(
        Name=workgroup,
        Configuration={"ResultConfiguration": {"OutputLocation": "s3://vanta-athena-results/"}},
    )
    return moto_endpoint, workgroup


def last_execution(workgroup: str) -> dict[str, Any]:
    client = boto3.client("athena", region_name=REGION)
    (query_id,) = client.list_query_executions(WorkGroup=workgroup)["QueryExecutionIds"]
    return client.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("sla_due_soon", [f"now={NOW.isoformat()}", "days=5", "asset=x' OR '1'='1"]),
        ("sync_history", ["since=latest-1"]),
        ("open_critical_high", ["limit=20"]),
    ],
)
def test_athena_runs_the_template_with_values_as_parameters(
    lake: Path, athena: tuple[str, str], name: str, params: list[str]
) -> None:
    endpoint, workgroup = athena
    # DuckDB's answer, as Athena would send it.
    given = dict(item.split("=", 1) for item in params)
    with DuckDBEngine(str(lake)) as local:
        resolved, expected = run_named_query(local, load_queries()[name], given, now=NOW)
    set_athena_results(endpoint, expected.columns, expected.rows)
    duckdb_json = run_cli("query", "run", name, "--lake", str(lake), "--format", "json",
                          "--param", *params)  # fmt: skip
    assert duckdb_json.code == 0, duckdb_json.err

    result = run_cli(
        "query", "run", name, "--engine", "athena", "--database", "vanta_lake",
        "--workgroup", workgroup, "--lake", str(lake), "--format", "json", "--param", *params,
    )  # fmt: skip

    assert result.code == 0, result.err
    # The same rows, typed and printed the same way by either engine.
    assert json.loads(result.out) == json.loads(duckdb_json.out)
    execution = last_execution(workgroup)
    assert execution["Query"] == (TEMPLATES / f"{name}.sql").read_text(encoding="utf-8")
    assert execution["ExecutionParameters"] == list(render_parameters(resolved.parameters))
    assert execution["QueryExecutionContext"]["Database"] == "vanta_lake"
    assert result.err.splitlines()[-1].startswith(f"{len(expected.rows)} row(s); Athena scanned")


def test_athena_resolves_latest_from_glue_without_a_lake(athena: tuple[str, str]) -> None:
    endpoint, workgroup = athena
    glue = boto3.client("glue", region_name=REGION)
    database = f"vanta_{uuid.uuid4().hex[:8]}"
    glue.create_database(DatabaseInput={"Name": database})
    keys = [{"Name": key, "Type": "string"} for key in ("year", "month", "day")]
    glue.create_table(
        DatabaseName=database,
        TableInput={"Name": "vanta_sync_history", "PartitionKeys": keys},
    )
    for day in ("01", "03", "02"):
        glue.create_partition(
            DatabaseName=database,
            TableName="vanta_sync_history",
            PartitionInput={"Values": ["2026", "11", day]},
        )
    set_athena_results(endpoint, ["rank"], [])

    result = run_cli(
        "query", "run", "top_cves", "--engine", "athena", "--database", database,
        "--workgroup", workgroup, "--format", "csv",
    )  # fmt: skip

    assert result.code == 0, result.err
    assert result.out == "rank\n"
    assert last_execution(workgroup)["ExecutionParameters"][:3] == ["'2026'", "'11'", "'03'"]
    assert "as_of=2026-11-03 (default latest)" in result.err


def test_athena_needs_a_database(lake: Path, athena: tuple[str, str]) -> None:
    result = run_cli("query", "run", "top_cves", "--engine", "athena", "--lake", str(lake))
    assert result.code == 2
    assert result.err == (
        "Error: No Glue database given: use --database NAME (or VANTA_GLUE_DATABASE).\n"
    )
    result = run_cli(
        "query", "run", "top_cves", "--engine", "athena", "--database", "vanta",
        "--output-location", "results/", "--lake", str(lake),
    )  # fmt: skip
    assert result.code == 2 and "is not an s3:// URI" in result.err
