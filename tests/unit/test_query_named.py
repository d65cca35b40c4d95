"""The named query templates: their format, the shipped files, parameter checking and binding,
and the translation to DuckDB (no engine runs here)."""

from __future__ import annotations

import fnmatch
import tomllib
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from vanta_vuln_stats.errors import UserInputError
from vanta_vuln_stats.query.athena import check_template
from vanta_vuln_stats.query.lake import duckdb_template, scan_plan
from vanta_vuln_stats.query.named import (
    NamedQueryError,
    QueryContext,
    TemplateError,
    get_query,
    load_queries,
    parse_assignments,
    parse_template,
)

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "shared" / "vanta_vuln_stats" / "query" / "templates"
LATEST = date(2026, 11, 6)
NOW = datetime(2026, 11, 7, 9, 30, tzinfo=UTC)
SNAPSHOT_TABLES = {
    "vanta_vulnerabilities",
    "vanta_vulnerability_remediations",
    "vanta_vulnerable_assets",
}
# The queries the guide documents, at least.
EXPECTED = {
    "open_critical_high",
    "sla_compliance",
    "overdue_findings",
    "sla_due_soon",
    "open_trend",
    "time_to_remediate",
    "top_assets",
    "top_packages",
    "top_cves",
    "new_vs_remediated",
    "sync_history",
}


def context() -> QueryContext:
    return QueryContext(lambda: LATEST, now=NOW)


# --------------------------------------------------------------------------------------------
# The shipped templates


def test_every_template_file_is_loaded_and_the_expected_queries_exist() -> None:
    files = sorted(path.stem for path in TEMPLATES.glob("*.sql"))
    assert sorted(load_queries()) == files
    assert set(files) >= EXPECTED


def test_templates_ship_as_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["vanta_vuln_stats.query"]
    for path in TEMPLATES.glob("*.sql"):
        relative = path.relative_to(TEMPLATES.parent).as_posix()
        assert any(fnmatch.fnmatch(relative, pattern) for pattern in patterns), relative


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_template_parses_as_athena_sql_and_its_header_matches_its_sql(name: str) -> None:
    query = get_query(name)
    for dialect in ("athena", "trino"):
        tree = sqlglot.parse_one(query.sql, read=dialect)
        assert isinstance(tree, exp.Query)
    # Text and metadata agree: one binding per placeholder, every parameter bound.
    check_template(query.sql, len(query.bindings))
    assert {b.partition(".")[0] for b in query.bindings} == {p.name for p in query.parameters}
    assert query.description and query.summary.endswith(".")
    assert query.prunes
    # The file is the SQL: what Athena receives, byte for byte.
    assert query.sql == (TEMPLATES / f"{name}.sql").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_table_read_prunes_on_the_partition_keys(name: str) -> None:
    reads = scan_plan(get_query(name).sql)
    assert reads
    for read in reads:
        assert read.partition_filter is not None, f"{name} reads all of {read.table}"
        keys = {column.name for column in read.partition_filter.find_all(exp.Column)}
        assert keys <= {"year", "month", "day"} and "year" in keys


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_default_resolves_and_binds_one_value_per_placeholder(name: str) -> None:
    query = get_query(name)
    resolved = query.resolve({}, context())
    assert len(resolved.parameters) == len(query.bindings)
    assert set(resolved.defaults_used) == {p.name for p in query.parameters}
    text, names = duckdb_template(query.sql)
    assert len(names) == len(resolved.parameters)
    # The DuckDB text parses in DuckDB's dialect and names each placeholder once or more.
    tree = sqlglot.parse_one(text, read="duckdb")
    assert {p.name for p in tree.find_all(exp.Placeholder)} == set(names)


def test_snapshot_queries_default_to_the_latest_committed_day() -> None:
    for query in load_queries().values():
        reads = {read.table for read in scan_plan(query.sql)}
        if reads & SNAPSHOT_TABLES and "as_of" in {p.name for p in query.parameters}:
            values = query.resolve({}, context()).values
            assert values["as_of"] == LATEST


# --------------------------------------------------------------------------------------------
# Parameter values


@pytest.mark.parametrize(
    ("name", "key", "text", "expected"),
    [
        ("top_cves", "top", "25", 25),
        ("top_cves", "top", " 7 ", 7),
        ("top_cves", "scope", "REPORTED", "reported"),
        ("open_critical_high", "min_severity", "critical", "CRITICAL"),
        ("top_cves", "as_of", "2026-11-01", date(2026, 11, 1)),
        ("top_cves", "as_of", "latest", LATEST),
        ("top_cves", "as_of", "latest-2", date(2026, 11, 4)),
        ("top_cves", "as_of", "today", NOW.date()),
        ("top_cves", "as_of", "today - 1", date(2026, 11, 6)),
        ("overdue_findings", "now", "now", NOW),
        ("overdue_findings", "now", "2026-11-01T10:00:00Z", datetime(2026, 11, 1, 10, tzinfo=UTC)),
        (
            "overdue_findings",
            "now",
            "2026-11-01T12:00:00.123456+02:00",
            datetime(2026, 11, 1, 10, 0, 0, 123000, tzinfo=UTC),
        ),
        ("overdue_findings", "now", "2026-11-01", datetime(2026, 11, 1, tzinfo=UTC)),
        ("sla_due_soon", "integration", "aws", "aws"),
        ("sla_due_soon", "asset", "x' OR '1'='1", "x' OR '1'='1"),
    ],
)
def test_values_are_converted_by_their_declared_type(name, key, text, expected) -> None:
    resolved = get_query(name).resolve({key: text}, context())
    assert resolved.values[key] == expected


@pytest.mark.parametrize(
    ("name", "key", "text", "accepted"),
    [
        ("top_cves", "top", "0", "an integer from 1 to 10000"),
        ("top_cves", "top", "10001", "an integer from 1 to 10000"),
        ("top_cves", "top", "ten", "an integer from 1 to 10000"),
        ("top_cves", "top", "1; DROP TABLE x", "an integer from 1 to 10000"),
        ("top_cves", "scope", "everything", "one of open, reported"),
        ("top_cves", "scope", "open' OR '1'='1", "one of open, reported"),
        ("top_cves", "as_of", "2026-13-01", "a date YYYY-MM-DD, latest"),
        ("top_cves", "as_of", "yesterday", "a date YYYY-MM-DD, latest"),
        ("top_cves", "as_of", "2026-11-01' OR '1'='1", "a date YYYY-MM-DD, latest"),
        ("overdue_findings", "now", "soon", "an ISO-8601 time"),
        ("sla_due_soon", "days", "366", "an integer from 1 to 365"),
        ("sla_due_soon", "asset", "x" * 201, "text of 0 to 200 characters"),
        ("sla_due_soon", "asset", "line\nbreak", "text of 0 to 200 characters"),
    ],
)
def test_a_bad_value_is_one_line_saying_what_is_accepted(name, key, text, accepted) -> None:
    with pytest.raises(NamedQueryError) as caught:
        get_query(name).resolve({key: text}, context())
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"Query {name}: {key}=")
    assert accepted in message
    assert caught.value.exit_code == 2


def test_an_unknown_parameter_lists_the_accepted_ones() -> None:
    with pytest.raises(NamedQueryError) as caught:
        get_query("sla_due_soon").resolve({"day": "3"}, context())
    assert str(caught.value) == (
        "Query sla_due_soon has no parameter 'day'; it accepts: as_of, now, days, severity, "
        "integration, asset, limit."
    )


def test_an_unknown_query_lists_the_queries() -> None:
    with pytest.raises(NamedQueryError) as caught:
        get_query("overdue")
    message = str(caught.value)
    assert message.startswith("There is no named query 'overdue'; choose from: ")
    assert all(name in message for name in EXPECTED)
    assert isinstance(caught.value, UserInputError)


def test_latest_without_a_committed_day_is_a_clear_error() -> None:
    empty = QueryContext(lambda: None, now=NOW)
    with pytest.raises(NamedQueryError, match="no committed day yet"):
        get_query("top_cves").resolve({}, empty)
    # A given day needs no committed one.
    assert get_query("top_cves").resolve({"as_of": "2026-11-01"}, empty).parameters[:3] == [
        "2026",
        "11",
        "01",
    ]


def test_now_is_to_the_millisecond() -> None:
    context = QueryContext(lambda: LATEST, now=datetime(2026, 11, 7, 9, 30, 1, 123456, tzinfo=UTC))
    values = get_query("overdue_findings").resolve({}, context).values
    assert values["now"] == datetime(2026, 11, 7, 9, 30, 1, 123000, tzinfo=UTC)


def test_the_latest_day_is_asked_for_once_and_only_when_needed() -> None:
    calls: list[int] = []

    def latest() -> date:
        calls.append(1)
        return LATEST

    query = get_query("open_trend")
    query.resolve({"since": "2026-11-01", "until": "2026-11-02"}, QueryContext(latest))
    assert calls == []
    query.resolve({}, QueryContext(latest))
    assert calls == [1]


def test_date_parts_bind_as_the_partition_keys_spell_them() -> None:
    query = get_query("open_trend")
    resolved = query.resolve({"since": "2026-01-09", "until": "2026-03-05"}, context())
    assert query.bindings == ("since.year", "until.year", "since.iso", "until.iso")
    assert resolved.parameters == ["2026", "2026", "2026-01-09", "2026-03-05"]
    due = get_query("sla_due_soon").resolve({"as_of": "2026-02-03", "days": "3"}, context())
    assert due.parameters[:7] == [NOW, "2026", "02", "03", NOW, 3, NOW]


def test_assignments() -> None:
    query = get_query("top_cves")
    assert parse_assignments(["top=3", "scope=reported", "as_of= latest"], query=query) == {
        "top": "3",
        "scope": "reported",
        "as_of": " latest",
    }
    # A value may itself hold '=' (only the first one separates).
    assert parse_assignments(["asset=a=b"], query=get_query("sla_due_soon")) == {"asset": "a=b"}
    with pytest.raises(NamedQueryError, match="is not key=value; keys: as_of, scope, top"):
        parse_assignments(["top"], query=query)
    with pytest.raises(NamedQueryError, match="given twice"):
        parse_assignments(["top=1", "top=2"], query=query)


# --------------------------------------------------------------------------------------------
# The template format

GOOD = """\
-- Findings of one severity.
--
-- @param severity enum(HIGH|LOW) = HIGH
--     Which severity.
-- @param limit int(1..10) = 5
-- @bind severity limit
-- @prunes nothing to prune: a test.
SELECT id FROM t WHERE severity = ? LIMIT ?
"""


def test_a_well_formed_template() -> None:
    query = parse_template("example", GOOD)
    assert query.description == "Findings of one severity."
    assert [p.to_dict() for p in query.parameters] == [
        {
            "name": "severity",
            "type": "enum",
            "default": "HIGH",
            "description": "Which severity.",
            "choices": ["HIGH", "LOW"],
        },
        {"name": "limit", "type": "int", "default": "5", "description": "", "min": 1, "max": 10},
    ]
    assert query.bindings == ("severity", "limit")
    assert query.to_dict()["name"] == "example"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("severity = ? LIMIT", "severity = ? AND ? = 1 LIMIT"), "3 placeholder"),
        (("-- @bind severity limit", "-- @bind severity limit limit limit"), "4 parameter"),
        (("-- @bind severity limit", "-- @bind severity count"), "unknown 'count'"),
        (("-- @bind severity limit", "-- @bind severity.year limit"), "no such part"),
        (("-- @bind severity limit", "-- @bind limit limit"), "never bound"),
        (("= HIGH", "= MEDIUM"), "default refused"),
        (("int(1..10)", "int"), "needs bounds"),
        (("enum(HIGH|LOW)", "number"), "unknown type"),
        (("-- @param limit int(1..10) = 5", "-- @param limit int(1..10)"), "bad parameter line"),
        (("-- Findings of one severity.\n", ""), "no description"),
        (("-- @prunes", "-- @prune"), "unknown tag"),
        (("LIMIT ?", "LIMIT ?; DROP TABLE t"), "more than one statement"),
    ],
)
def test_a_malformed_template_is_refused(change: tuple[str, str], message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        parse_template("example", GOOD.replace(*change))


# --------------------------------------------------------------------------------------------
# Athena SQL on DuckDB


def test_placeholders_keep_their_values_when_the_translation_moves_them() -> None:
    sql = "SELECT date_add('day', ?, ?) AS due, '?' AS mark -- ?\nFROM t WHERE a = ?"
    text, names = duckdb_template(sql)
    assert names == ("p1", "p2", "p3")
    # Trino's date_add(unit, n, t) is t + INTERVAL (n) in DuckDB: the time comes first now, and
    # still receives the second value.
    assert "$p2 + INTERVAL ($p1) DAY" in text
    assert "'?' AS mark" in text and "a = $p3" in text
