"""Reading Athena's text values by their column types."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest

from vanta_vuln_stats.query.athena import Column, base_type, column_from_info, converter


def read(type_name: str, text: str | None):
    return converter(Column("c", type_name))(text)


@pytest.mark.parametrize(
    ("type_name", "text", "value"),
    [
        ("varchar", "HIGH", "HIGH"),
        ("varchar", "", ""),
        ("char", "ab", "ab"),
        ("tinyint", "-7", -7),
        ("smallint", "300", 300),
        ("integer", "42", 42),
        ("bigint", "9007199254740993", 9007199254740993),
        ("double", "7.5", 7.5),
        ("double", "1.0E10", 1e10),
        ("float", "0.25", 0.25),
        ("real", "-1.5", -1.5),
        ("decimal", "10.10", Decimal("10.10")),
        ("decimal(10,2)", "0.30", Decimal("0.30")),
        ("boolean", "true", True),
        ("boolean", "false", False),
        ("date", "2026-03-01", date(2026, 3, 1)),
        ("time", "12:30:05.123", time(12, 30, 5, 123000)),
        ("timestamp", "2026-03-01 12:30:05.123", datetime(2026, 3, 1, 12, 30, 5, 123000)),
        ("timestamp(3)", "2026-03-01 12:30:05", datetime(2026, 3, 1, 12, 30, 5)),
        ("timestamp", "2026-03-01 12:30:05.123456789", datetime(2026, 3, 1, 12, 30, 5, 123456)),
        (
            "timestamp with time zone",
            "2026-03-01 12:30:05.123 UTC",
            datetime(2026, 3, 1, 12, 30, 5, 123000, tzinfo=UTC),
        ),
        (
            "timestamp(3) with time zone",
            "2026-03-01 12:30:05.000 +02:00",
            datetime(2026, 3, 1, 10, 30, 5, tzinfo=UTC),
        ),
        (
            "timestamp with time zone",
            "2026-07-01 12:00:00.000 Europe/Paris",
            datetime(2026, 7, 1, 10, 0, tzinfo=UTC),
        ),
        ("array", "[CVE-2026-1, CVE-2026-2]", ["CVE-2026-1", "CVE-2026-2"]),
        ("array(varchar)", "[]", []),
        ("array", "[one]", ["one"]),
        ("json", '{"a":1}', '{"a":1}'),
        ("map(varchar,integer)", "{a=1, b=2}", "{a=1, b=2}"),
        ("row(a integer, b varchar)", "{a=1, b=x}", "{a=1, b=x}"),
        ("varbinary", "68 65 6c 6c 6f", b"hello"),
        ("some future type", "as given", "as given"),
    ],
)
def test_each_type_reads_as_its_python_value(type_name, text, value):
    result = read(type_name, text)
    assert result == value
    assert type(result) is type(value)


def test_timestamps_with_time_zone_are_aware_and_in_utc():
    value = read("timestamp with time zone", "2026-01-15 08:00:00.000 America/New_York")
    assert value.tzinfo is UTC
    assert value == datetime(2026, 1, 15, 13, 0, tzinfo=UTC)
    assert read("timestamp", "2026-01-15 08:00:00.000").tzinfo is None


@pytest.mark.parametrize(
    "type_name", ["varchar", "integer", "double", "decimal", "boolean", "date", "array", "json"]
)
def test_null_is_none_for_every_type(type_name):
    assert read(type_name, None) is None


@pytest.mark.parametrize("type_name", ["integer", "double", "decimal", "boolean", "timestamp"])
def test_an_empty_text_is_no_value_outside_the_text_types(type_name):
    assert read(type_name, "") is None


@pytest.mark.parametrize(
    ("type_name", "text"),
    [
        ("integer", "4.5"),
        ("boolean", "yes"),
        ("date", "01/03/2026"),
        ("timestamp", "2026-03-01 12:30:05 UTC"),
        ("array", "a, b"),
    ],
)
def test_text_that_does_not_fit_its_type_names_the_column(type_name, text):
    with pytest.raises(ValueError, match=r"column 'c' of type"):
        read(type_name, text)


def test_base_types_drop_parameters_but_keep_the_zone():
    assert base_type("decimal(10,2)") == "decimal"
    assert base_type("timestamp(3) with time zone") == "timestamp with time zone"
    assert base_type("array(row(a integer, b varchar))") == "array"
    assert base_type("VARCHAR") == "varchar"


def test_columns_come_from_column_info():
    column = column_from_info(
        {"Name": "total", "Label": "total", "Type": "decimal", "Precision": 38, "Scale": 2}
    )
    assert column == Column("total", "decimal", 38, 2)
    assert column_from_info({"Label": "x"}) == Column("x", "varchar")


def test_an_unknown_zone_is_a_value_error():
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        read("timestamp with time zone", "2026-01-15 08:00:00.000 Mars/Olympus")
