"""Athena execution parameters: every value becomes one safe SQL literal; templates are checked."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from enum import IntEnum, StrEnum

import pytest

from vanta_vuln_stats.errors import QueryParameterError, UserInputError
from vanta_vuln_stats.query.athena import (
    MAX_PARAMETER_LENGTH,
    check_template,
    render_parameter,
    render_parameters,
)


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("HIGH", "'HIGH'"),
        ("", "''"),
        ("O'Reilly", "'O''Reilly'"),
        ("x' OR '1'='1", "'x'' OR ''1''=''1'"),
        ("1; DROP TABLE t", "'1; DROP TABLE t'"),
        ("'; --", "'''; --'"),
        ("back\\slash", "'back\\slash'"),
        ("line\nbreak", "'line\nbreak'"),
        ("ünïcødé ✓", "'ünïcødé ✓'"),
        (0, "0"),
        (-42, "-42"),
        (10**20, "100000000000000000000"),
        (True, "TRUE"),
        (False, "FALSE"),
        (1.5, "1.5E0"),
        (-0.25, "-0.25E0"),
        (1e20, "1E+20"),
        (2.5e-7, "2.5E-07"),
        (Decimal("7.50"), "DECIMAL '7.50'"),
        (Decimal("-1E+3"), "DECIMAL '-1000'"),
        (date(2026, 3, 1), "DATE '2026-03-01'"),
        (datetime(2026, 3, 1, 12, 30, 5), "TIMESTAMP '2026-03-01 12:30:05.000'"),
        (datetime(2026, 3, 1, 12, 30, 5, 123000), "TIMESTAMP '2026-03-01 12:30:05.123'"),
        (datetime(2026, 3, 1, 12, 30, 5, 123456), "TIMESTAMP '2026-03-01 12:30:05.123456'"),
        (None, "NULL"),
    ],
)
def test_each_type_renders_as_its_literal(value, literal):
    assert render_parameter(value) == literal


def test_aware_datetimes_are_sent_in_utc():
    paris = timezone(timedelta(hours=2))
    assert render_parameter(datetime(2026, 6, 1, 14, 0, tzinfo=paris)) == (
        "TIMESTAMP '2026-06-01 12:00:00.000'"
    )
    assert render_parameter(datetime(2026, 6, 1, 14, 0, tzinfo=UTC)) == (
        "TIMESTAMP '2026-06-01 14:00:00.000'"
    )


def test_enums_render_as_their_values():
    class Severity(StrEnum):
        HIGH = "HIGH"

    class Level(IntEnum):
        THREE = 3

    assert render_parameter(Severity.HIGH) == "'HIGH'"
    assert render_parameter(Level.THREE) == "3"


def test_a_quoted_string_literal_cannot_be_closed_by_its_value():
    # Whatever the value, the literal is one quote, the value with quotes doubled, one quote:
    # stripping the outer quotes and undoubling gives the value back exactly.
    for value in ["'", "''", "a'b'c", "x' OR '1'='1", "'); DROP TABLE t; --"]:
        literal = render_parameter(value)
        assert literal.startswith("'") and literal.endswith("'")
        inner = literal[1:-1]
        assert "'" not in inner.replace("''", "")
        assert inner.replace("''", "'") == value


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), Decimal("NaN")])
def test_values_without_a_literal_are_user_errors(value):
    with pytest.raises(QueryParameterError, match="parameter 2"):
        render_parameters(["ok", value])
    assert issubclass(QueryParameterError, UserInputError)


def test_a_literal_longer_than_athena_allows_is_refused():
    render_parameter("x" * (MAX_PARAMETER_LENGTH - 2))
    with pytest.raises(QueryParameterError, match="too long"):
        render_parameter("x" * (MAX_PARAMETER_LENGTH - 1))


@pytest.mark.parametrize("value", [b"bytes", ["a", "b"], {"a": 1}, object()])
def test_other_types_are_programming_errors(value):
    with pytest.raises(TypeError, match="parameter 1"):
        render_parameters([value])


def test_a_lone_string_is_not_taken_for_a_sequence_of_characters():
    with pytest.raises(TypeError, match="not one string"):
        render_parameters("HIGH")


def test_templates_count_placeholders_outside_literals_identifiers_and_comments():
    sql = """
        SELECT "odd?name", 'what?' AS q, 'it''s ?'  -- a comment?
        FROM vanta_vulnerabilities /* why? */
        WHERE severity = ? AND first_detected_date >= ?;
    """
    check_template(sql, 2)
    with pytest.raises(ValueError, match="2 placeholder"):
        check_template(sql, 3)


def test_templates_refuse_a_value_formatted_into_the_text():
    formatted = "SELECT * FROM t WHERE severity = '{}'".format("HIGH")
    with pytest.raises(ValueError, match="every value must be passed as a parameter"):
        check_template(formatted, 1)


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT 1; DROP TABLE t", "more than one statement"),
        ("SELECT 'open", "unterminated quote"),
        ("SELECT 1 /* open", "unterminated comment"),
        ("   ", "empty"),
    ],
)
def test_malformed_templates_are_refused(sql, message):
    with pytest.raises(ValueError, match=message):
        check_template(sql, 0)
