"""The Athena client over HTTP against moto in server mode: start with ExecutionParameters, poll
through QUEUED and RUNNING, page the results, type every column, price the query, and stop a
query that outlives its timeout.

moto runs no SQL: the rows a query returns are set beforehand through moto's API
(``/moto-api/static/athena/query-results``), and the next query started takes them. moto always
reports 0 bytes scanned, so the cost here is Athena's 10 MB minimum; the arithmetic itself is
tested in the unit tests. The client builds its own boto3 client, which finds moto through
``AWS_ENDPOINT_URL`` as it would find any endpoint.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import boto3
import httpx
import pytest

from vanta_vuln_stats.query.athena import (
    AthenaClient,
    AthenaError,
    AthenaQueryTimeout,
    Backoff,
    athena_query_cost,
)

REGION = "us-east-1"
DATABASE = "vanta_lake"
FINDINGS_BY_SEVERITY = (
    "SELECT severity, count(*) AS findings FROM vanta_vulnerabilities "
    "WHERE severity = ? AND first_detected_date >= ? GROUP BY severity ORDER BY severity"
)

# Every column type the client reads, as Athena names them, with a value and a NULL row.
TYPED_COLUMNS = [
    ("name", "varchar", "CVE-2026-0001", "CVE-2026-0001"),
    ("code", "char", "AB", "AB"),
    ("tiny", "tinyint", "-3", -3),
    ("small", "smallint", "300", 300),
    ("count", "integer", "42", 42),
    ("big", "bigint", "9007199254740993", 9007199254740993),
    ("score", "double", "7.5", 7.5),
    ("ratio", "float", "0.25", 0.25),
    ("approx", "real", "1.5", 1.5),
    ("total", "decimal", "1234.50", Decimal("1234.50")),
    ("fixable", "boolean", "true", True),
    ("day", "date", "2026-03-01", date(2026, 3, 1)),
    ("seen_at", "timestamp", "2026-03-01 12:30:05.123", datetime(2026, 3, 1, 12, 30, 5, 123000)),
    (
        "seen_at_tz",
        "timestamp with time zone",
        "2026-03-01 12:30:05.123 UTC",
        datetime(2026, 3, 1, 12, 30, 5, 123000, tzinfo=UTC),
    ),
    ("cves", "array", "[CVE-2026-1, CVE-2026-2]", ["CVE-2026-1", "CVE-2026-2"]),
    ("raw", "json", '{"id":"a"}', '{"id":"a"}'),
    ("labels", "map", "{team=red}", "{team=red}"),
    ("asset", "row", "{id=a1, name=web}", "{id=a1, name=web}"),
]


def column_info(name: str, type_name: str) -> dict[str, Any]:
    return {
        "CatalogName": "hive",
        "SchemaName": DATABASE,
        "TableName": "vanta_vulnerabilities",
        "Name": name,
        "Label": name,
        "Type": type_name,
        "Precision": 0,
        "Scale": 0,
        "Nullable": "UNKNOWN",
        "CaseSensitive": type_name == "varchar",
    }


def athena_rows(names: list[str], rows: list[list[str | None]]) -> list[dict[str, Any]]:
    """Rows as GetQueryResults has them: the header first, NULL as a datum without a value."""
    header = {"Data": [{"VarCharValue": name} for name in names]}
    return [header] + [
        {"Data": [{} if value is None else {"VarCharValue": value} for value in row]}
        for row in rows
    ]


class Moto:
    """The emulator's side: set results, set how queries progress, read what it received."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.admin = boto3.client("athena", region_name=REGION, endpoint_url=endpoint)

    def set_results(self, columns: list[tuple[str, str]], rows: list[list[str | None]]) -> None:
        response = httpx.post(
            f"{self.endpoint}/moto-api/static/athena/query-results",
            json={
                "region": REGION,
                "results": [
                    {
                        "rows": athena_rows([name for name, _ in columns], rows),
                        "column_info": [column_info(*column) for column in columns],
                    }
                ],
            },
        )
        assert response.status_code == 201

    def progress_after(self, polls: int) -> None:
        """Each state (QUEUED, RUNNING) lasts ``polls`` GetQueryExecution calls."""
        response = httpx.post(
            f"{self.endpoint}/moto-api/state-manager/set-transition",
            json={
                "model_name": "athena::execution",
                "transition": {"progression": "manual", "times": polls},
            },
        )
        assert response.status_code == 201

    def reset_progress(self) -> None:
        httpx.post(
            f"{self.endpoint}/moto-api/state-manager/unset-transition",
            json={"model_name": "athena::execution"},
        )

    def execution(self, query_id: str) -> dict[str, Any]:
        return self.admin.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]


class Wire:
    """What the client's own boto3 client sent and received, seen through botocore's events on
    the default session (which ``boto3.client`` uses)."""

    def __init__(self, session: boto3.Session) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.states: list[str] = []
        session.events.register("before-call.athena", self._before_call)
        session.events.register("after-call.athena.GetQueryExecution", self._after_execution)

    def _before_call(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.sent.append((model.name, json.loads(params["body"] or b"{}")))

    def _after_execution(self, parsed: dict[str, Any], **_: Any) -> None:
        self.states.append(parsed["QueryExecution"]["Status"]["State"])

    def requests(self, operation: str) -> list[dict[str, Any]]:
        return [body for name, body in self.sent if name == operation]


@pytest.fixture
def moto(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Moto]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    emulator = Moto(moto_endpoint)
    try:
        yield emulator
    finally:
        emulator.reset_progress()


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Wire:
    session = boto3.Session()
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", session)
    return Wire(session)


@pytest.fixture
def workgroup(moto: Moto) -> str:
    name = f"vanta-{uuid.uuid4().hex[:8]}"
    moto.admin.create_work_group(
        Name=name,
        Configuration={"ResultConfiguration": {"OutputLocation": "s3://vanta-athena-results/"}},
    )
    return name


def client(workgroup: str, **options: Any) -> AthenaClient:
    options.setdefault("poll", Backoff(first=0.01, factor=2.0, cap=0.05))
    return AthenaClient(workgroup, database=DATABASE, region=REGION, **options)


def test_the_whole_flow_over_http(moto: Moto, wire: Wire, workgroup: str):
    moto.set_results(
        [("severity", "varchar"), ("findings", "bigint")],
        [["HIGH", "12"]],
    )
    moto.progress_after(2)
    parameters = ["HIGH", date(2026, 1, 1)]

    result = client(workgroup, result_reuse_minutes=45).query(FINDINGS_BY_SEVERITY, parameters)

    # Polled through every state a query passes before it succeeds.
    assert wire.states == ["QUEUED", "RUNNING", "RUNNING", "SUCCEEDED"]
    assert result.rows == [("HIGH", 12)]
    assert result.column_names == ["severity", "findings"]

    # What went over the wire: the template byte for byte, values only as parameters.
    (started,) = wire.requests("StartQueryExecution")
    assert started["QueryString"].encode() == FINDINGS_BY_SEVERITY.encode()
    assert started["ExecutionParameters"] == ["'HIGH'", "DATE '2026-01-01'"]
    assert started["WorkGroup"] == workgroup
    assert started["QueryExecutionContext"] == {"Database": DATABASE}
    assert started["ResultReuseConfiguration"] == {
        "ResultReuseByAgeConfiguration": {"Enabled": True, "MaxAgeInMinutes": 45}
    }
    # ... and what moto received and keeps for the query.
    execution = moto.execution(result.query_id)
    assert execution["Query"] == FINDINGS_BY_SEVERITY
    assert execution["ExecutionParameters"] == ["'HIGH'", "DATE '2026-01-01'"]
    assert execution["WorkGroup"] == workgroup

    # moto reports no bytes scanned: the query is priced at Athena's 10 MB minimum.
    assert result.bytes_scanned == 0
    assert result.cost_usd == pytest.approx(athena_query_cost(0))
    assert not result.reused and not result.cached


def test_every_column_type_is_typed(moto: Moto, workgroup: str):
    columns = [(name, type_name) for name, type_name, _, _ in TYPED_COLUMNS]
    moto.set_results(columns, [[text for _, _, text, _ in TYPED_COLUMNS], [None] * len(columns)])

    result = client(workgroup).query("SELECT * FROM vanta_typed_sample")

    assert [(c.name, c.type) for c in result.columns] == columns
    typed, nulls = result.rows
    for (name, _, _, expected), value in zip(TYPED_COLUMNS, typed, strict=True):
        assert value == expected, name
        assert type(value) is type(expected), name
    assert nulls == (None,) * len(columns)


def test_a_small_page_size_is_sent_and_moto_answers_in_one_page(moto: Moto, wire: Wire, workgroup):
    # moto 5.2 ignores MaxResults and NextToken and returns every row at once; the client must
    # accept a last page that holds everything.
    moto.set_results([("n", "integer")], [[str(i)] for i in range(5)])
    result = client(workgroup, page_size=2).query("SELECT n FROM t")
    assert result.rows == [(i,) for i in range(5)]
    assert [r.get("MaxResults") for r in wire.requests("GetQueryResults")] == [2]


def test_results_over_several_pages(
    moto: Moto, wire: Wire, workgroup: str, monkeypatch: pytest.MonkeyPatch
):
    # Make moto page like Athena (MaxResults rows a page, the header in the first, NextToken
    # until the last), so the client's NextToken loop runs over HTTP. moto runs in this process.
    from moto.athena.responses import AthenaResponse

    whole = AthenaResponse.get_query_results

    def paged(self: AthenaResponse) -> str:
        body = json.loads(whole(self))
        rows = body["ResultSet"]["Rows"]
        size = int(self._get_param("MaxResults") or 1000)
        start = int(self._get_param("NextToken") or 0)
        body["ResultSet"]["Rows"] = rows[start : start + size]
        if start + size < len(rows):
            body["NextToken"] = str(start + size)
        return json.dumps(body)

    monkeypatch.setattr(AthenaResponse, "get_query_results", paged)
    moto.set_results(
        [("n", "integer"), ("label", "varchar")], [[str(i), f"#{i}"] for i in range(7)]
    )

    result = client(workgroup, page_size=3).query("SELECT n, label FROM t")

    # 8 rows with the header: pages of 3, 3 and 2.
    pages = wire.requests("GetQueryResults")
    assert [(p["MaxResults"], p.get("NextToken")) for p in pages] == [(3, None), (3, "3"), (3, "6")]
    assert result.rows == [(i, f"#{i}") for i in range(7)]


def test_the_local_cache_saves_the_second_start(moto: Moto, wire: Wire, workgroup: str):
    moto.set_results([("n", "integer")], [["1"]])
    athena = client(workgroup)
    first = athena.query("SELECT count(*) AS n FROM t WHERE severity = ?", ["HIGH"])
    second = athena.query("SELECT count(*) AS n FROM t WHERE severity = ?", ["HIGH"])
    assert len(wire.requests("StartQueryExecution")) == 1
    assert second.cached and second.rows == first.rows == [(1,)]
    moto.set_results([("n", "integer")], [["2"]])
    third = athena.query("SELECT count(*) AS n FROM t WHERE severity = ?", ["LOW"])
    assert len(wire.requests("StartQueryExecution")) == 2
    assert third.rows == [(2,)] and not third.cached


def test_a_query_that_outlives_its_timeout_is_stopped(moto: Moto, wire: Wire, workgroup: str):
    moto.progress_after(10_000)  # stays QUEUED
    with pytest.raises(AthenaQueryTimeout) as raised:
        client(workgroup, timeout=0.3).query("SELECT 1")
    query_id = raised.value.query_id
    assert [body["QueryExecutionId"] for body in wire.requests("StopQueryExecution")] == [query_id]
    assert raised.value.cancel_requested
    assert moto.execution(query_id)["Status"]["State"] == "CANCELLED"
    assert raised.value.state == "CANCELLED"


def test_an_unknown_workgroup_is_an_athena_error(moto: Moto):
    with pytest.raises(AthenaError, match="StartQueryExecution failed"):
        client("no-such-workgroup").query("SELECT 1")
