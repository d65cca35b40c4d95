"""The Athena client against a fake Athena at the boto3 boundary: the request it sends, polling,
every end state, paging, the local cache, cost and metrics. No network."""

from __future__ import annotations

import io
import json
import logging
from datetime import date
from decimal import Decimal

import pytest

from vanta_vuln_stats.errors import VantaVulnStatsError
from vanta_vuln_stats.query.athena import (
    DEFAULT_PRICE_PER_TB_USD,
    AthenaClient,
    AthenaError,
    AthenaQueryCancelled,
    AthenaQueryFailed,
    AthenaQueryTimeout,
    Backoff,
    Column,
    EmfMetrics,
    QueryCache,
    athena_query_cost,
)

from .athena_fake import FakeAthena, FakeClock, Script, client_error

MB = 1024**2
TB = 1024**4
SEVERITY_COUNTS = (
    "SELECT severity, count(*) AS findings FROM vanta_vulnerabilities "
    "WHERE severity = ? AND first_detected_date >= ? GROUP BY severity"
)
PARAMETERS = ("HIGH", date(2026, 1, 1))
SEVERITY_SCRIPT = Script(
    states=("QUEUED", "RUNNING", "RUNNING", "SUCCEEDED"),
    columns=(("severity", "varchar"), ("findings", "bigint")),
    rows=(("HIGH", "12"),),
    bytes_scanned=123 * MB + 1,
)


def make_client(fake: FakeAthena, clock: FakeClock | None = None, **options) -> AthenaClient:
    clock = clock or FakeClock()
    options.setdefault("database", "vanta_lake")
    return AthenaClient(
        options.pop("workgroup", "vanta-vuln-stats"),
        options.pop("output_location", None),
        client=fake,
        sleep=clock.sleep,
        clock=clock,
        **options,
    )


# --- the request ----------------------------------------------------------------------------------


def test_a_query_is_started_with_its_template_parameters_database_and_reuse():
    fake = FakeAthena(SEVERITY_SCRIPT)
    make_client(fake, result_reuse_minutes=30).query(SEVERITY_COUNTS, PARAMETERS)
    assert fake.started == [
        {
            "QueryString": SEVERITY_COUNTS,
            "WorkGroup": "vanta-vuln-stats",
            "QueryExecutionContext": {"Database": "vanta_lake"},
            "ExecutionParameters": ["'HIGH'", "DATE '2026-01-01'"],
            "ResultReuseConfiguration": {
                "ResultReuseByAgeConfiguration": {"Enabled": True, "MaxAgeInMinutes": 30}
            },
        }
    ]


def test_an_output_location_is_sent_only_when_given_and_reuse_can_be_off():
    fake = FakeAthena()
    make_client(fake, output_location="s3://results/athena/", result_reuse_minutes=0).query(
        "SELECT 1 AS n"
    )
    request = fake.started[0]
    assert request["ResultConfiguration"] == {"OutputLocation": "s3://results/athena/"}
    assert "ResultReuseConfiguration" not in request
    # Athena refuses an empty ExecutionParameters list: without values the key is left out.
    assert "ExecutionParameters" not in request


@pytest.mark.parametrize(
    "hostile",
    ["x' OR '1'='1", "1; DROP TABLE t", "'); DROP TABLE vanta_vulnerabilities; --", "?"],
)
def test_injection_is_impossible_values_only_travel_as_quoted_parameters(hostile):
    template = "SELECT id FROM vanta_vulnerabilities WHERE asset_id = ? AND severity = ?"
    fake = FakeAthena(Script(columns=(("id", "varchar"),)))
    make_client(fake).query(template, [hostile, "HIGH"])
    request = fake.started[0]
    # The text sent is the template, byte for byte; the value is only a quoted parameter.
    assert request["QueryString"].encode() == template.encode()
    quoted = "'" + hostile.replace("'", "''") + "'"
    assert request["ExecutionParameters"] == [quoted, "'HIGH'"]


# --- polling and end states -----------------------------------------------------------------------


def test_queued_and_running_are_polled_with_backoff_until_succeeded():
    fake, clock = FakeAthena(SEVERITY_SCRIPT), FakeClock()
    result = make_client(fake, clock, poll=Backoff(first=0.1, factor=3.0, cap=1.0)).query(
        SEVERITY_COUNTS, PARAMETERS
    )
    assert clock.sleeps == pytest.approx([0.1, 0.3, 0.9])
    assert result.rows == [("HIGH", 12)]
    assert result.columns == (Column("severity", "varchar"), Column("findings", "bigint"))
    assert result.as_dicts() == [{"severity": "HIGH", "findings": 12}]
    assert result.query_id == "query-1"
    assert result.seconds == pytest.approx(1.3)


def test_the_backoff_is_capped():
    fake, clock = FakeAthena(Script(states=("RUNNING",) * 9 + ("SUCCEEDED",))), FakeClock()
    make_client(fake, clock, poll=Backoff(first=0.5, factor=2.0, cap=2.0)).query("SELECT 1")
    assert clock.sleeps == [0.5, 1.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0]


def test_a_failed_query_raises_with_athenas_reason_and_error():
    fake = FakeAthena(
        Script(
            states=("RUNNING", "FAILED"),
            reason="COLUMN_NOT_FOUND: line 1:8: Column 'nope' cannot be resolved",
            athena_error={
                "ErrorCategory": 2,
                "ErrorType": 1006,
                "Retryable": False,
                "ErrorMessage": "COLUMN_NOT_FOUND",
            },
            bytes_scanned=0,
        )
    )
    with pytest.raises(AthenaQueryFailed) as raised:
        make_client(fake).query("SELECT nope FROM vanta_vulnerabilities")
    error = raised.value
    assert "query-1 failed: COLUMN_NOT_FOUND: line 1:8" in str(error)
    assert (error.query_id, error.state, error.error_category, error.error_type) == (
        "query-1",
        "FAILED",
        2,
        1006,
    )
    assert error.retryable is False
    assert error.cost_usd == 0.0  # failed queries are not billed
    assert isinstance(error, VantaVulnStatsError) and error.exit_code == 1
    assert fake.result_requests == []  # no results are asked for


def test_a_failed_query_without_reason_still_says_so():
    fake = FakeAthena(Script(states=("FAILED",)))
    with pytest.raises(AthenaQueryFailed, match="Athena gave no reason"):
        make_client(fake).query("SELECT 1")


def test_a_cancelled_query_raises_with_its_reason_and_what_it_scanned():
    fake = FakeAthena(
        Script(
            states=("RUNNING", "CANCELLED"),
            reason="Query exhausted the workgroup's data usage limit",
            bytes_scanned=50 * MB,
        )
    )
    with pytest.raises(AthenaQueryCancelled, match="data usage limit") as raised:
        make_client(fake).query("SELECT 1")
    assert raised.value.state == "CANCELLED"
    assert raised.value.bytes_scanned == 50 * MB
    assert raised.value.cost_usd == pytest.approx(50 * MB / TB * 5.0)


def test_a_timeout_stops_the_query_and_raises():
    fake, clock = FakeAthena(Script(states=("RUNNING",), stopped_bytes=3 * MB)), FakeClock()
    client = make_client(fake, clock, timeout=2.0, poll=Backoff(first=0.5, factor=2.0, cap=5.0))
    with pytest.raises(AthenaQueryTimeout) as raised:
        client.query("SELECT 1")
    error = raised.value
    assert fake.stopped == ["query-1"]
    assert error.cancel_requested is True
    assert error.state == "CANCELLED"
    assert "did not finish within 2 s (it was RUNNING); it was cancelled" in str(error)
    # It waited no longer than the timeout, the last sleep cut to what was left.
    assert clock.sleeps == [0.5, 1.0, 0.5]
    # A cancelled query is billed for what it scanned, with Athena's 10 MB minimum.
    assert error.bytes_scanned == 3 * MB
    assert error.cost_usd == pytest.approx(athena_query_cost(3 * MB))


def test_a_timeout_whose_cancel_fails_says_the_query_may_still_run(caplog):
    fake = FakeAthena(Script(states=("QUEUED",)))
    fake.fail_stop = client_error("StopQueryExecution", "AccessDeniedException", "not allowed")
    with (
        caplog.at_level(logging.WARNING),
        pytest.raises(AthenaQueryTimeout, match="may still be running") as raised,
    ):
        make_client(fake, timeout=1.0).query("SELECT 1")
    assert raised.value.cancel_requested is False
    assert raised.value.cost_usd == 0.0  # it never left the queue
    assert "Could not cancel Athena query query-1" in caplog.text


def test_a_query_that_finished_as_it_timed_out_returns_its_rows():
    # The first answer takes longer than the timeout and says RUNNING; by the time the stop
    # request arrives the query has finished, and the look after it sees SUCCEEDED.
    clock = FakeClock()
    fake = FakeAthena(
        Script(states=("RUNNING", "SUCCEEDED"), rows=(("1",),), finishes_before_stop=True),
        clock=clock,
        poll_seconds=2.0,
    )
    result = make_client(fake, clock, timeout=1.0).query("SELECT 1 AS n")
    assert fake.stopped == ["query-1"]
    assert clock.sleeps == []
    assert result.rows == [(1,)]


def test_a_query_that_failed_as_it_timed_out_raises_its_failure():
    clock = FakeClock()
    fake = FakeAthena(
        Script(states=("RUNNING", "FAILED"), reason="boom", finishes_before_stop=True),
        clock=clock,
        poll_seconds=2.0,
    )
    with pytest.raises(AthenaQueryFailed, match="boom"):
        make_client(fake, clock, timeout=1.0).query("SELECT 1")


def test_an_interrupt_while_waiting_cancels_the_query():
    fake = FakeAthena(Script(states=("RUNNING",)))

    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    client = AthenaClient("wg", database="db", client=fake, sleep=interrupted)
    with pytest.raises(KeyboardInterrupt):
        client.query("SELECT 1")
    assert fake.stopped == ["query-1"]


def test_sdk_errors_become_athena_errors():
    fake = FakeAthena()
    fake.fail_start = client_error(
        "StartQueryExecution", "InvalidRequestException", "WorkGroup is not found."
    )
    with pytest.raises(
        AthenaError, match=r"StartQueryExecution failed \(InvalidRequestException\)"
    ):
        make_client(fake).query("SELECT 1")


def test_a_value_that_does_not_fit_its_column_is_an_athena_error_naming_query_and_column():
    fake = FakeAthena(Script(columns=(("n", "integer"),), rows=(("not a number",),)))
    with pytest.raises(AthenaError, match=r"query-1: .*column 'n' of type integer"):
        make_client(fake).query("SELECT 1")


# --- results --------------------------------------------------------------------------------------


def test_results_are_read_page_by_page_and_only_the_first_row_of_the_first_page_is_the_header():
    rows = [(str(i), f"name {i}", None if i % 2 else "7.5") for i in range(7)]
    fake = FakeAthena(
        Script(columns=(("i", "integer"), ("name", "varchar"), ("score", "double")), rows=rows)
    )
    result = make_client(fake, page_size=3).query("SELECT i, name, score FROM t")
    assert [r["NextToken"] for r in fake.result_requests] == [None, "3", "6"]
    assert {r["MaxResults"] for r in fake.result_requests} == {3}
    assert result.rows == [(i, f"name {i}", None if i % 2 else 7.5) for i in range(7)]


def test_a_header_that_looks_like_data_is_still_only_skipped_once():
    fake = FakeAthena(Script(columns=(("name", "varchar"),), rows=(("name",), ("name",))))
    assert make_client(fake, page_size=1).query("SELECT name FROM t").rows == [
        ("name",),
        ("name",),
    ]


def test_statements_other_than_select_have_no_header_row():
    fake = FakeAthena(
        Script(columns=(("partition", "varchar"),), rows=(("d=1",),), statement_type="UTILITY")
    )
    assert make_client(fake).query("SHOW PARTITIONS t").rows == [("d=1",)]


def test_an_empty_result_has_its_columns_and_no_rows():
    fake = FakeAthena(Script(columns=(("n", "bigint"),), rows=()))
    result = make_client(fake).query("SELECT count(*) AS n FROM t WHERE false")
    assert result.rows == []
    assert result.column_names == ["n"]


# --- the local cache ------------------------------------------------------------------------------


def test_a_second_identical_query_is_answered_without_starting_one():
    fake, clock = FakeAthena(SEVERITY_SCRIPT), FakeClock()
    client = make_client(fake, clock)
    first = client.query(SEVERITY_COUNTS, PARAMETERS)
    second = client.query(SEVERITY_COUNTS, ["HIGH", date(2026, 1, 1)])
    assert len(fake.started) == 1
    assert second.cached and not first.cached
    assert second.rows == first.rows and second.query_id == first.query_id
    assert (second.bytes_scanned, second.cost_usd) == (0, 0.0)
    assert first.cost_usd > 0
    # A caller that changes its rows does not change the cache.
    first.rows.append(("LOW", 1))
    second.rows.append(("LOW", 1))
    assert client.query(SEVERITY_COUNTS, PARAMETERS).rows == [("HIGH", 12)]


def test_a_different_parameter_is_a_different_query():
    fake = FakeAthena(SEVERITY_SCRIPT)
    client = make_client(fake)
    client.query(SEVERITY_COUNTS, PARAMETERS)
    client.query(SEVERITY_COUNTS, ["CRITICAL", date(2026, 1, 1)])
    client.query(SEVERITY_COUNTS, ["HIGH", date(2026, 1, 2)])
    assert [r["ExecutionParameters"][0] for r in fake.started] == ["'HIGH'", "'CRITICAL'", "'HIGH'"]


def test_one_and_true_and_one_point_zero_are_different_parameters():
    fake = FakeAthena(Script(rows=(("1",),)))
    client = make_client(fake)
    for value in (1, True, 1.0, "1"):
        client.query("SELECT ? AS n", [value])
    assert len(fake.started) == 4


def test_cached_results_expire_after_their_ttl():
    fake, clock = FakeAthena(SEVERITY_SCRIPT), FakeClock()
    cache = QueryCache(ttl_seconds=60, clock=clock)
    client = make_client(fake, clock, cache=cache)
    client.query(SEVERITY_COUNTS, PARAMETERS)
    clock.now += 59
    assert client.query(SEVERITY_COUNTS, PARAMETERS).cached
    clock.now += 60
    assert not client.query(SEVERITY_COUNTS, PARAMETERS).cached
    assert len(fake.started) == 2


def test_the_cache_can_be_skipped_for_one_call_or_turned_off():
    fake = FakeAthena(SEVERITY_SCRIPT)
    client = make_client(fake)
    client.query(SEVERITY_COUNTS, PARAMETERS)
    assert not client.query(SEVERITY_COUNTS, PARAMETERS, use_cache=False).cached
    assert len(fake.started) == 2
    uncached = make_client(fake, cache=False)
    uncached.query(SEVERITY_COUNTS, PARAMETERS)
    uncached.query(SEVERITY_COUNTS, PARAMETERS)
    assert len(fake.started) == 4


def test_a_shared_cache_keeps_databases_and_workgroups_apart():
    fake, cache = FakeAthena(SEVERITY_SCRIPT), QueryCache()
    make_client(fake, cache=cache).query(SEVERITY_COUNTS, PARAMETERS)
    make_client(fake, cache=cache).query(SEVERITY_COUNTS, PARAMETERS)
    make_client(fake, cache=cache, workgroup="other").query(SEVERITY_COUNTS, PARAMETERS)
    make_client(fake, cache=cache, database="other_db").query(SEVERITY_COUNTS, PARAMETERS)
    assert len(fake.started) == 3
    assert len(cache) == 3


def test_failed_queries_are_not_cached():
    fake = FakeAthena(Script(states=("FAILED",)), Script(rows=(("1",),)))
    client = make_client(fake)
    with pytest.raises(AthenaQueryFailed):
        client.query("SELECT 1 AS n")
    assert client.query("SELECT 1 AS n").rows == [(1,)]


def test_the_cache_holds_at_most_its_size_dropping_the_least_recently_used():
    fake = FakeAthena(Script(rows=(("1",),)))
    client = make_client(fake, cache=QueryCache(max_entries=2))
    for value in ("a", "b", "a", "c", "a", "b"):
        client.query("SELECT ? AS n", [value])
    # a, b started; a hit; c started (b dropped); a hit; b started again.
    assert [r["ExecutionParameters"] for r in fake.started] == [["'a'"], ["'b'"], ["'c'"], ["'b'"]]


# --- cost -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bytes_scanned", "billed_mb"),
    [(0, 10), (1, 10), (10 * MB, 10), (10 * MB + 1, 11), (123 * MB + 1, 124), (TB, 1024**2)],
)
def test_cost_rounds_up_to_megabytes_with_a_ten_megabyte_minimum(bytes_scanned, billed_mb):
    assert athena_query_cost(bytes_scanned) == pytest.approx(billed_mb * MB / TB * 5.0)


def test_cost_takes_the_regions_price_and_can_leave_out_the_minimum():
    assert DEFAULT_PRICE_PER_TB_USD == 5.0
    assert athena_query_cost(TB) == pytest.approx(5.0)
    assert athena_query_cost(2 * TB, price_per_tb=6.75) == pytest.approx(13.5)
    assert athena_query_cost(1, minimum=False) == pytest.approx(MB / TB * 5.0)
    assert athena_query_cost(0, minimum=False) == 0.0
    with pytest.raises(ValueError):
        athena_query_cost(-1)


def test_a_result_reports_its_bytes_and_cost_and_a_reused_result_costs_nothing():
    fake = FakeAthena(SEVERITY_SCRIPT, Script(reused=True, rows=(("1",),)))
    client = make_client(fake, price_per_tb=6.0, cache=False)
    fresh = client.query(SEVERITY_COUNTS, PARAMETERS)
    assert fresh.bytes_scanned == 123 * MB + 1
    assert fresh.cost_usd == pytest.approx(124 * MB / TB * 6.0)
    assert not fresh.reused
    reused = client.query("SELECT 1 AS n")
    assert reused.reused and reused.cost_usd == 0.0


def test_ddl_statements_cost_nothing():
    fake = FakeAthena(Script(statement_type="DDL", columns=(), rows=()))
    assert make_client(fake).query("MSCK REPAIR TABLE t").cost_usd == 0.0


def test_each_query_is_logged_with_its_cost(caplog):
    fake = FakeAthena(SEVERITY_SCRIPT)
    with caplog.at_level(logging.INFO, logger="vanta_vuln_stats.query.athena"):
        make_client(fake).query(SEVERITY_COUNTS, PARAMETERS)
    assert (
        f"Athena query query-1 SUCCEEDED with 1 row(s): {123 * MB + 1} bytes scanned, $0.000591"
        in caplog.text
    )


# --- metrics --------------------------------------------------------------------------------------


def test_each_query_emits_bytes_cost_time_and_reuse_and_cache_hits_are_counted():
    metrics: list[tuple[str, float, str]] = []
    fake = FakeAthena(SEVERITY_SCRIPT)
    client = make_client(fake, emit_metric=lambda *metric: metrics.append(metric))
    result = client.query(SEVERITY_COUNTS, PARAMETERS)
    client.query(SEVERITY_COUNTS, PARAMETERS)
    assert metrics == [
        ("AthenaDataScannedBytes", 123 * MB + 1, "Bytes"),
        ("AthenaQueryCostUSD", result.cost_usd, "None"),
        ("AthenaQuerySeconds", result.seconds, "Seconds"),
        ("AthenaResultReused", 0, "Count"),
        ("AthenaLocalCacheHits", 1, "Count"),
    ]


def test_failed_and_cancelled_queries_emit_their_metrics_too():
    metrics: list[tuple[str, float, str]] = []
    fake = FakeAthena(Script(states=("CANCELLED",), bytes_scanned=20 * MB))
    with pytest.raises(AthenaQueryCancelled):
        make_client(fake, emit_metric=lambda *m: metrics.append(m)).query("SELECT 1")
    assert ("AthenaDataScannedBytes", 20 * MB, "Bytes") in metrics
    assert ("AthenaQueryCostUSD", pytest.approx(20 * MB / TB * 5.0), "None") in metrics


def test_a_broken_metric_sink_does_not_fail_the_query(caplog):
    def broken(name: str, value: float, unit: str) -> None:
        raise RuntimeError("sink down")

    fake = FakeAthena(SEVERITY_SCRIPT)
    with caplog.at_level(logging.WARNING):
        result = make_client(fake, emit_metric=broken).query(SEVERITY_COUNTS, PARAMETERS)
    assert result.rows == [("HIGH", 12)]
    assert "Could not emit metric AthenaDataScannedBytes" in caplog.text


def test_emf_metrics_are_cloudwatch_embedded_metric_documents():
    stream = io.StringIO()
    sink = EmfMetrics("VantaVulnStats", {"WorkGroup": "primary"}, stream=stream, clock=lambda: 1.5)
    sink("AthenaDataScannedBytes", 1024, "Bytes")
    sink("AthenaQueryCostUSD", 0.25, "None")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first == {
        "_aws": {
            "Timestamp": 1500,
            "CloudWatchMetrics": [
                {
                    "Namespace": "VantaVulnStats",
                    "Dimensions": [["WorkGroup"]],
                    "Metrics": [{"Name": "AthenaDataScannedBytes", "Unit": "Bytes"}],
                }
            ],
        },
        "WorkGroup": "primary",
        "AthenaDataScannedBytes": 1024,
    }
    assert second["AthenaQueryCostUSD"] == 0.25
    assert EmfMetrics().dimensions == {"Service": "vanta-vuln-stats"}


# --- configuration --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"timeout": 0}, "timeout"),
        ({"page_size": 1001}, "page_size"),
        ({"page_size": 0}, "page_size"),
        ({"result_reuse_minutes": 10081}, "result_reuse_minutes"),
        ({"price_per_tb": -1}, "price_per_tb"),
        ({"database": ""}, "database"),
    ],
)
def test_invalid_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        make_client(FakeAthena(), **options)


def test_backoff_and_cache_settings_are_checked():
    with pytest.raises(ValueError):
        Backoff(first=0)
    with pytest.raises(ValueError):
        Backoff(first=2, cap=1)
    with pytest.raises(ValueError):
        Backoff(factor=0.5)
    with pytest.raises(ValueError):
        QueryCache(ttl_seconds=0)


def test_decimals_and_dates_are_parameters_too():
    fake = FakeAthena(Script(rows=(("1",),)))
    make_client(fake).query(
        "SELECT 1 AS n WHERE ? > 0 AND ? > DATE '2000-01-01'", [Decimal("7.5"), date(2026, 1, 1)]
    )
    assert fake.started[0]["ExecutionParameters"] == ["DECIMAL '7.5'", "DATE '2026-01-01'"]
