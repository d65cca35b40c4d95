"""The Athena client: named SQL in, typed rows out, with what each query cost.

User values never enter the SQL text. A query is a constant template with ``?`` placeholders;
each value is rendered here as one SQL literal and sent in ``ExecutionParameters``, Athena's own
parameter list, which it binds like ``EXECUTE ... USING``. The text sent is the template, byte for
byte, so result reuse and the local cache see one query however the values differ.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from vanta_vuln_stats.errors import QueryParameterError

__all__ = [
    "Column",
    "ParameterValue",
    "base_type",
    "check_template",
    "column_from_info",
    "converter",
    "render_parameter",
    "render_parameters",
]

ParameterValue = str | int | float | bool | Decimal | date | datetime | None

# Athena accepts at most 1024 characters in one execution parameter (the API's own limit).
MAX_PARAMETER_LENGTH = 1024


# --- parameters ---------------------------------------------------------------------------------


def render_parameter(value: ParameterValue, position: int = 1) -> str:
    """``value`` as an Athena (Trino) SQL literal, for ``ExecutionParameters``.

    Strings become ``'...'`` with every ``'`` doubled (the only escape a Trino string literal
    has), so no value can end its literal early. Booleans are ``TRUE``/``FALSE``, integers plain
    digits, floats a ``DOUBLE`` literal in exponent form (``1.5E0``; a plain ``1.5`` would be a
    DECIMAL in Trino), decimals ``DECIMAL '1.50'``, dates ``DATE 'YYYY-MM-DD'``, datetimes
    ``TIMESTAMP 'YYYY-MM-DD HH:MM:SS.fff'`` (aware ones converted to UTC first, the lake's zone)
    and None ``NULL``. Any other type is a programming error (TypeError); a value that has no
    literal (NaN, infinity) or is too long is a QueryParameterError naming ``position``.
    """
    # bool before int (bool is an int), datetime before date (datetime is a date).
    if value is None:
        literal = "NULL"
    elif isinstance(value, bool):
        literal = "TRUE" if value else "FALSE"
    elif isinstance(value, int):
        literal = str(int(value))
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise QueryParameterError(f"Query parameter {position} is {value!r}, not a number.")
        text = repr(value).upper()
        literal = text if "E" in text else f"{text}E0"
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise QueryParameterError(f"Query parameter {position} is {value!r}, not a number.")
        literal = f"DECIMAL '{value:f}'"
    elif isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        spec = "microseconds" if value.microsecond % 1000 else "milliseconds"
        literal = f"TIMESTAMP '{value.isoformat(sep=' ', timespec=spec)}'"
    elif isinstance(value, date):
        literal = f"DATE '{value.isoformat()}'"
    elif isinstance(value, str):
        literal = "'" + value.replace("'", "''") + "'"
    else:
        raise TypeError(
            f"Query parameter {position} has type {type(value).__name__}; Athena parameters "
            "take str, int, float, bool, Decimal, date, datetime or None."
        )
    if len(literal) > MAX_PARAMETER_LENGTH:
        raise QueryParameterError(
            f"Query parameter {position} is too long for Athena ({len(literal)} characters as a "
            f"literal, at most {MAX_PARAMETER_LENGTH})."
        )
    return literal


def render_parameters(values: Sequence[ParameterValue]) -> tuple[str, ...]:
    """Every value as its literal, in placeholder order."""
    if isinstance(values, str | bytes):
        # A lone string would otherwise be taken for a sequence of one-character parameters.
        raise TypeError("Query parameters must be a sequence of values, not one string.")
    return tuple(render_parameter(value, position) for position, value in enumerate(values, 1))


def check_template(sql: str, parameter_count: int) -> None:
    """Refuse SQL that cannot be a parameterised template for ``parameter_count`` values.

    The ``?`` placeholders outside string literals, quoted identifiers and comments must number
    exactly ``parameter_count`` (a value formatted into the text instead of passed leaves the
    counts unequal), and the text must be one statement (no ``;`` before the end). This catches
    mistakes; the guarantee itself is that values only ever travel in ``ExecutionParameters``.
    """
    if not sql.strip():
        raise ValueError("The SQL template is empty.")
    placeholders = 0
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in "'\"":
            # A literal or quoted identifier; a doubled quote inside it is an escaped quote.
            i += 1
            while i < n:
                if sql[i] == ch:
                    if i + 1 < n and sql[i + 1] == ch:
                        i += 2
                        continue
                    break
                i += 1
            if i >= n:
                raise ValueError("The SQL template has an unterminated quote.")
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            if end < 0:
                raise ValueError("The SQL template has an unterminated comment.")
            i = end + 1
        elif ch == "?":
            placeholders += 1
        elif ch == ";" and sql[i + 1 :].strip():
            raise ValueError("The SQL template holds more than one statement.")
        i += 1
    if placeholders != parameter_count:
        raise ValueError(
            f"The SQL template has {placeholders} placeholder(s) and {parameter_count} "
            "parameter(s) were given; every value must be passed as a parameter."
        )


# --- result values ------------------------------------------------------------------------------
#
# GetQueryResults returns every value as text (``VarCharValue``), and a NULL as a datum without
# that key. The column's type in ``ResultSetMetadata.ColumnInfo`` says how to read the text.


@dataclass(frozen=True, slots=True)
class Column:
    """A result column: its name and Athena's type for it (``varchar``, ``decimal``,
    ``timestamp with time zone``, ``array`` ...), with precision and scale where Athena gives
    them."""

    name: str
    type: str
    precision: int | None = None
    scale: int | None = None


def column_from_info(info: Mapping[str, Any]) -> Column:
    return Column(
        name=str(info.get("Name") or info.get("Label") or ""),
        type=str(info.get("Type") or "varchar").strip().lower(),
        precision=info.get("Precision"),
        scale=info.get("Scale"),
    )


_TIMESTAMP = re.compile(
    r"(\d{4}-\d{2}-\d{2})[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(?:\s*(\S+))?"
)
_OFFSET = re.compile(r"([+-])(\d{2}):?(\d{2})")


def _timestamp(text: str, *, with_zone: bool) -> datetime:
    """Athena's ``2026-03-01 12:30:05.123`` (any number of fraction digits; Python keeps six),
    with a zone name or offset after a space when the type has a time zone."""
    match = _TIMESTAMP.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a timestamp: {text!r}")
    day, hour, minute, second, fraction, zone = match.groups()
    value = datetime.combine(
        date.fromisoformat(day),
        time(int(hour), int(minute), int(second or 0), int((fraction or "0")[:6].ljust(6, "0"))),
    )
    if not with_zone:
        if zone is not None:
            raise ValueError(f"a zone in a timestamp without time zone: {text!r}")
        return value
    if zone is None or zone.upper() in ("UTC", "Z"):
        tz: Any = UTC
    elif offset := _OFFSET.fullmatch(zone):
        sign = -1 if offset.group(1) == "-" else 1
        tz = timezone(sign * timedelta(hours=int(offset.group(2)), minutes=int(offset.group(3))))
    else:
        try:
            tz = ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            # No tz database on this host (minimal images) or an unknown name.
            raise ValueError(f"unknown time zone {zone!r}") from None
    return value.replace(tzinfo=tz).astimezone(UTC)


def _boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered not in ("true", "false"):
        raise ValueError(f"not a boolean: {text!r}")
    return lowered == "true"


def _array(text: str) -> list[str]:
    """Athena renders ``array(varchar)`` as ``[a, b]``: elements unquoted, joined by ``, ``. The
    elements come back as text. An element that itself holds ``, `` cannot be told apart from
    two elements; a query that needs exact elements should select ``CAST(x AS JSON)``."""
    stripped = text.strip()
    if not (stripped.startswith("[") and stripped.endswith("]")):
        raise ValueError(f"not an array: {text!r}")
    inner = stripped[1:-1]
    return inner.split(", ") if inner else []


_CONVERTERS: dict[str, Callable[[str], Any]] = {
    "tinyint": int,
    "smallint": int,
    "integer": int,
    "int": int,
    "bigint": int,
    "double": float,
    "float": float,
    "real": float,
    # Exact: CVSS sums and averages keep the digits Athena computed.
    "decimal": Decimal,
    "boolean": _boolean,
    "date": date.fromisoformat,
    "time": time.fromisoformat,
    "timestamp": lambda text: _timestamp(text, with_zone=False),
    "timestamp with time zone": lambda text: _timestamp(text, with_zone=True),
    "varbinary": bytes.fromhex,
    "array": _array,
}


def base_type(type_name: str) -> str:
    """``decimal(10,2)`` -> ``decimal``, ``timestamp(3) with time zone`` -> ``timestamp with time
    zone``, ``array(varchar)`` -> ``array``."""
    return " ".join(re.sub(r"\(.*\)", " ", type_name.lower()).split())


def converter(column: Column) -> Callable[[str | None], Any]:
    """How to read one column's text. NULL is None; an empty text is a value only for the text
    types (an empty varchar), for every other type it can only mean no value and reads as None.
    varchar and char, and the types without a converter here (json, map, row, and any Athena
    adds) stay text as given."""
    convert = _CONVERTERS.get(base_type(column.type))
    if convert is None:
        return lambda text: text

    def read(text: str | None) -> Any:
        if text is None or text == "":
            return None
        try:
            return convert(text)
        except (ValueError, ArithmeticError) as exc:
            raise ValueError(
                f"Athena returned {text!r} for column {column.name!r} of type {column.type}: {exc}"
            ) from None

    return read
