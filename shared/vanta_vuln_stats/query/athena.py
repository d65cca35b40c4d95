"""The Athena client: a named SQL template and its values in, typed rows out, with what the query
cost.

User values never enter the SQL text. A query is a constant template with ``?`` placeholders;
each value is rendered here as one SQL literal and sent in ``ExecutionParameters``, Athena's own
parameter list, which it binds like ``EXECUTE ... USING``. The text sent is the template, byte for
byte.

A query runs in a workgroup (its output location, unless one is given) against one Glue
database: StartQueryExecution, then GetQueryExecution with capped exponential backoff until it
ends (a timeout stops the query), then GetQueryResults page by page, each value read by its
column's type. Repeats are answered from two caches: Athena's own result reuse (a previous result
of the same query in the same workgroup, up to a maximum age, shared by every process) and a small
in-memory cache in front of it (no call at all). Each query that reaches Athena reports the bytes
it scanned and their price (``athena_query_cost``) in the log, to an optional metric sink, and in
its ``QueryResult``.

boto3 is imported when the first query runs, and reads ``AWS_ENDPOINT_URL`` by itself (moto in
the tests); a ready client can be passed instead (``client=``), which the unit tests use.
"""

from __future__ import annotations

import json
import logging
import math
import re
import sys
import threading
import time as _time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any, TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from vanta_vuln_stats.errors import (
    AthenaError,
    AthenaQueryCancelled,
    AthenaQueryFailed,
    AthenaQueryTimeout,
    QueryParameterError,
)

__all__ = [
    "DEFAULT_PRICE_PER_TB_USD",
    "AthenaClient",
    "AthenaError",
    "AthenaQueryCancelled",
    "AthenaQueryFailed",
    "AthenaQueryTimeout",
    "Backoff",
    "Column",
    "EmfMetrics",
    "MetricSink",
    "ParameterValue",
    "QueryCache",
    "QueryParameterError",
    "QueryResult",
    "athena_query_cost",
    "base_type",
    "check_template",
    "column_from_info",
    "converter",
    "render_parameter",
    "render_parameters",
]

log = logging.getLogger(__name__)

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


# --- cost ---------------------------------------------------------------------------------------

# Athena bills the bytes a query scans, rounded up to the next megabyte, at least 10 MB a query,
# at a price per terabyte ($5.00 in most regions). Binary units, as AWS bills data.
BYTES_PER_MB = 1024**2
BYTES_PER_TB = 1024**4
MINIMUM_BILLED_MB = 10
DEFAULT_PRICE_PER_TB_USD = 5.0


def athena_query_cost(
    bytes_scanned: int,
    *,
    price_per_tb: float = DEFAULT_PRICE_PER_TB_USD,
    minimum: bool = True,
) -> float:
    """The dollars Athena charges for a query that scanned ``bytes_scanned``: rounded up to whole
    megabytes, with the 10 MB minimum unless ``minimum`` is false. An estimate from the public
    price, not the bill (no free tier, no taxes, no S3 request charges)."""
    if bytes_scanned < 0:
        raise ValueError("bytes_scanned cannot be negative")
    megabytes = -(-bytes_scanned // BYTES_PER_MB)
    if minimum:
        megabytes = max(megabytes, MINIMUM_BILLED_MB)
    return megabytes * BYTES_PER_MB / BYTES_PER_TB * price_per_tb


def _billed_cost(
    state: str, statement_type: str | None, bytes_scanned: int, reused: bool, price: float
) -> float:
    """What one ended query costs: nothing for a reused result, a DDL statement or a failed
    query; a cancelled query pays for what it scanned (nothing if it never started); a finished
    one pays at least the minimum."""
    if reused or statement_type == "DDL" or state == "FAILED":
        return 0.0
    if state == "CANCELLED":
        return athena_query_cost(bytes_scanned, price_per_tb=price) if bytes_scanned else 0.0
    return athena_query_cost(bytes_scanned, price_per_tb=price)


# --- results ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueryResult:
    """A finished query's rows (tuples in column order) and what this call cost.

    ``bytes_scanned`` and ``cost_usd`` are this call's: the cost is zero when Athena reused an
    earlier result (``reused``), and both are zero when the local cache answered (``cached``;
    ``query_id`` is then the query whose rows these are). ``seconds`` is the wall time of this
    call, from the start to the last page.
    """

    rows: list[tuple[Any, ...]]
    columns: tuple[Column, ...]
    query_id: str
    bytes_scanned: int
    cost_usd: float
    reused: bool
    seconds: float
    cached: bool = False

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]

    def as_dicts(self) -> list[dict[str, Any]]:
        names = self.column_names
        return [dict(zip(names, row, strict=True)) for row in self.rows]


CacheKey = tuple[str, tuple[str, ...], str, str]


class QueryCache:
    """Finished results by (SQL, parameter literals, database, workgroup), for ``ttl_seconds``,
    at most ``max_entries`` (the least recently used go first). In memory only: thread-safe, and
    shareable between clients; failed queries are never kept."""

    def __init__(
        self,
        ttl_seconds: float = 300.0,
        *,
        max_entries: int = 128,
        clock: Callable[[], float] = _time.monotonic,
    ) -> None:
        if ttl_seconds <= 0 or max_entries < 1:
            raise ValueError("A query cache needs a positive TTL and room for one entry.")
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[CacheKey, tuple[float, QueryResult]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: CacheKey) -> QueryResult | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            stored_at, result = entry
            if self._clock() - stored_at >= self.ttl_seconds:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return result

    def put(self, key: CacheKey, result: QueryResult) -> None:
        with self._lock:
            self._entries[key] = (self._clock(), result)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


# --- metrics ------------------------------------------------------------------------------------

# (name, value, unit) with CloudWatch's unit names ("Bytes", "Count", "Seconds", "None"): the
# shape of Powertools' ``metrics.add_metric(name=, unit=, value=)``, so a handler that has
# Powertools passes ``lambda n, v, u: metrics.add_metric(name=n, unit=u, value=v)``.
MetricSink = Callable[[str, float, str], None]


class EmfMetrics:
    """A metric sink that writes each metric as one CloudWatch embedded-metric-format document, a
    JSON line on ``stream`` (stdout by default, where Lambda's log capture turns it into a
    metric). Not for the CLI, whose stdout carries the report."""

    def __init__(
        self,
        namespace: str = "VantaVulnStats",
        dimensions: Mapping[str, str] | None = None,
        *,
        stream: TextIO | None = None,
        clock: Callable[[], float] = _time.time,
    ) -> None:
        self.namespace = namespace
        self.dimensions = dict(dimensions or {"Service": "vanta-vuln-stats"})
        self._stream = stream
        self._clock = clock
        self._lock = threading.Lock()

    def __call__(self, name: str, value: float, unit: str) -> None:
        document = {
            "_aws": {
                "Timestamp": int(self._clock() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": self.namespace,
                        "Dimensions": [sorted(self.dimensions)],
                        "Metrics": [{"Name": name, "Unit": unit}],
                    }
                ],
            },
            **self.dimensions,
            name: value,
        }
        stream = self._stream or sys.stdout
        with self._lock:
            stream.write(json.dumps(document, separators=(",", ":")) + "\n")
            stream.flush()


# --- the client ---------------------------------------------------------------------------------

# Attempts per Athena call (the SDK's standard mode backs off on throttling and 5xx between them).
ATHENA_MAX_ATTEMPTS = 6
# Athena's limits: GetQueryResults pages and the maximum age of a reused result (7 days).
MAX_PAGE_SIZE = 1000
MAX_REUSE_MINUTES = 10080


@dataclass(frozen=True, slots=True)
class Backoff:
    """Polling intervals: ``first`` seconds, then ``factor`` times longer each poll, at most
    ``cap``. Short queries are seen done quickly; long ones are not polled more than every
    ``cap`` seconds (GetQueryExecution is throttled per account)."""

    first: float = 0.2
    factor: float = 2.0
    cap: float = 5.0

    def __post_init__(self) -> None:
        if not (0 < self.first <= self.cap and self.factor >= 1):
            raise ValueError("Backoff needs 0 < first <= cap and factor >= 1.")

    def delays(self) -> Iterator[float]:
        delay = self.first
        while True:
            yield delay
            delay = min(delay * self.factor, self.cap)


@dataclass
class _Execution:
    """What GetQueryExecution said about a query, in the parts the client uses."""

    state: str
    reason: str | None
    statement_type: str | None
    bytes_scanned: int
    reused: bool
    error: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, response: Mapping[str, Any]) -> _Execution:
        execution = response.get("QueryExecution") or {}
        status = execution.get("Status") or {}
        statistics = execution.get("Statistics") or {}
        error = status.get("AthenaError") or {}
        return cls(
            state=str(status.get("State") or "UNKNOWN"),
            reason=status.get("StateChangeReason") or error.get("ErrorMessage"),
            statement_type=execution.get("StatementType"),
            bytes_scanned=int(statistics.get("DataScannedInBytes") or 0),
            reused=bool(
                (statistics.get("ResultReuseInformation") or {}).get("ReusedPreviousResult")
            ),
            error=error,
        )


class AthenaClient:
    """Runs parameterised SQL in one workgroup against one Glue database.

    ``output_location`` (``s3://bucket/prefix/``) overrides the workgroup's result location; by
    default the workgroup's own applies, which also keeps result reuse possible (Athena reuses
    only results written with the same result configuration). ``result_reuse_minutes`` is the
    maximum age of a result Athena may reuse (0 or None: never). ``cache`` is the local cache:
    True for one of this client's own (five minutes), False for none, or a shared ``QueryCache``.
    ``timeout`` bounds the wait for a query to end, in seconds; ``poll`` spaces the checks.
    ``emit_metric`` receives the per-query metrics (see ``MetricSink``, ``EmfMetrics``).
    """

    def __init__(
        self,
        workgroup: str,
        output_location: str | None = None,
        *,
        database: str,
        region: str | None = None,
        client: Any = None,
        poll: Backoff = Backoff(),
        timeout: float = 300.0,
        page_size: int = MAX_PAGE_SIZE,
        result_reuse_minutes: int | None = 60,
        cache: QueryCache | bool = True,
        price_per_tb: float = DEFAULT_PRICE_PER_TB_USD,
        emit_metric: MetricSink | None = None,
        sleep: Callable[[float], None] = _time.sleep,
        clock: Callable[[], float] = _time.monotonic,
    ) -> None:
        if not workgroup or not database:
            raise ValueError("An Athena client needs a workgroup and a database.")
        if timeout <= 0:
            raise ValueError("timeout must be positive.")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}.")
        if result_reuse_minutes is not None and not 0 <= result_reuse_minutes <= MAX_REUSE_MINUTES:
            raise ValueError(f"result_reuse_minutes must be between 0 and {MAX_REUSE_MINUTES}.")
        if price_per_tb < 0:
            raise ValueError("price_per_tb cannot be negative.")
        self.workgroup = workgroup
        self.output_location = output_location
        self.database = database
        self.region = region
        self.poll = poll
        self.timeout = timeout
        self.page_size = page_size
        self.result_reuse_minutes = result_reuse_minutes or None
        self.price_per_tb = price_per_tb
        if cache is True:
            self.cache: QueryCache | None = QueryCache(clock=clock)
        elif cache is False:
            self.cache = None
        else:
            self.cache = cache
        self._emit_metric = emit_metric
        self._sleep = sleep
        self._clock = clock
        self._client = client
        self._client_lock = threading.Lock()

    # -- the one public call

    def query(
        self, sql: str, parameters: Sequence[ParameterValue] = (), *, use_cache: bool = True
    ) -> QueryResult:
        """Run ``sql`` (a constant template) with ``parameters`` bound to its ``?`` placeholders
        in order, wait for it, and return every row typed. ``use_cache=False`` skips the local
        cache for this call (its fresh result still replaces the cached one); Athena's result
        reuse applies either way.

        Raises QueryParameterError for a value that has no literal, AthenaQueryFailed,
        AthenaQueryCancelled or AthenaQueryTimeout when the query does not succeed, and
        AthenaError when Athena cannot be called.
        """
        literals = render_parameters(parameters)
        check_template(sql, len(literals))
        started = self._clock()
        key: CacheKey = (sql, literals, self.database, self.workgroup)
        if use_cache and self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                log.info("Athena query %s: answered from the local cache", hit.query_id)
                self._emit("AthenaLocalCacheHits", 1, "Count")
                return replace(
                    hit,
                    rows=list(hit.rows),
                    bytes_scanned=0,
                    cost_usd=0.0,
                    seconds=self._clock() - started,
                    cached=True,
                )

        query_id = self._start(sql, literals)
        try:
            execution = self._wait(query_id, started)
        except KeyboardInterrupt:
            # Do not leave a query running (and billing) behind an interrupted command.
            self._stop(query_id)
            raise
        columns, rows = self._results(query_id, header=execution.statement_type in (None, "DML"))
        cost = _billed_cost(
            execution.state,
            execution.statement_type,
            execution.bytes_scanned,
            execution.reused,
            self.price_per_tb,
        )
        result = QueryResult(
            rows=rows,
            columns=columns,
            query_id=query_id,
            bytes_scanned=execution.bytes_scanned,
            cost_usd=cost,
            reused=execution.reused,
            seconds=self._clock() - started,
        )
        self._account(query_id, execution, cost, result.seconds, rows=len(rows))
        if self.cache is not None:
            # A copy of the row list, so a caller that edits its rows does not edit the cache.
            self.cache.put(key, replace(result, rows=list(rows)))
        return result

    # -- started now, collected later (a caller that cannot wait, such as an HTTP request)

    def start(self, sql: str, parameters: Sequence[ParameterValue] = ()) -> str:
        """Start ``sql`` with ``parameters`` bound as ``query`` does, without waiting: returns
        the query execution id for ``collect``. The local cache is not consulted."""
        literals = render_parameters(parameters)
        check_template(sql, len(literals))
        return self._start(sql, literals)

    def collect(self, query_id: str, *, wait: float = 0.0) -> QueryResult | None:
        """The typed rows of ``query_id`` once it has succeeded, waiting at most ``wait``
        seconds for it; None while it is still queued or running (the query is left running).
        FAILED and CANCELLED raise as in ``query``."""
        started = self._clock()
        deadline = started + max(wait, 0.0)
        delays = self.poll.delays()
        while True:
            execution = self._describe(query_id)
            if execution.state == "SUCCEEDED":
                break
            if execution.state == "FAILED":
                raise self._failed(query_id, execution, started)
            if execution.state == "CANCELLED":
                raise self._cancelled(query_id, execution, started)
            remaining = deadline - self._clock()
            if remaining <= 0:
                return None
            self._sleep(min(next(delays), remaining))
        columns, rows = self._results(query_id, header=execution.statement_type in (None, "DML"))
        cost = _billed_cost(
            execution.state,
            execution.statement_type,
            execution.bytes_scanned,
            execution.reused,
            self.price_per_tb,
        )
        seconds = self._clock() - started
        self._account(query_id, execution, cost, seconds, rows=len(rows))
        return QueryResult(
            rows=rows,
            columns=columns,
            query_id=query_id,
            bytes_scanned=execution.bytes_scanned,
            cost_usd=cost,
            reused=execution.reused,
            seconds=seconds,
        )

    # -- the steps

    def _athena(self) -> Any:
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    import boto3
                    from botocore.config import Config

                    self._client = boto3.client(
                        "athena",
                        region_name=self.region,
                        config=Config(
                            retries={"mode": "standard", "max_attempts": ATHENA_MAX_ATTEMPTS}
                        ),
                    )
        return self._client

    def _call(self, operation: str, query_id: str | None = None, **request: Any) -> Any:
        """One Athena API call by its operation name; SDK errors become AthenaError."""
        from botocore.exceptions import BotoCoreError, ClientError

        method = getattr(self._athena(), re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower())
        try:
            return method(**request)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = error.get("Code", "Error")
            message = error.get("Message") or str(exc)
            raise AthenaError(
                f"Athena {operation} failed ({code}): {message}", query_id=query_id
            ) from None
        except BotoCoreError as exc:
            raise AthenaError(f"Athena {operation} failed: {exc}", query_id=query_id) from None

    def _start(self, sql: str, literals: tuple[str, ...]) -> str:
        request: dict[str, Any] = {
            "QueryString": sql,
            "WorkGroup": self.workgroup,
            "QueryExecutionContext": {"Database": self.database},
        }
        if literals:
            request["ExecutionParameters"] = list(literals)
        if self.output_location:
            request["ResultConfiguration"] = {"OutputLocation": self.output_location}
        if self.result_reuse_minutes:
            request["ResultReuseConfiguration"] = {
                "ResultReuseByAgeConfiguration": {
                    "Enabled": True,
                    "MaxAgeInMinutes": self.result_reuse_minutes,
                }
            }
        query_id = str(self._call("StartQueryExecution", **request)["QueryExecutionId"])
        log.debug(
            "Athena query %s started in %s on %s with %d parameter(s)",
            query_id,
            self.workgroup,
            self.database,
            len(literals),
        )
        return query_id

    def _describe(self, query_id: str) -> _Execution:
        return _Execution.parse(
            self._call("GetQueryExecution", query_id, QueryExecutionId=query_id)
        )

    def _wait(self, query_id: str, started: float) -> _Execution:
        """Poll until the query ends. QUEUED and RUNNING (and any state Athena adds) wait;
        SUCCEEDED returns; FAILED and CANCELLED raise; past the deadline the query is stopped."""
        deadline = started + self.timeout
        delays = self.poll.delays()
        while True:
            execution = self._describe(query_id)
            if execution.state == "SUCCEEDED":
                return execution
            if execution.state == "FAILED":
                raise self._failed(query_id, execution, started)
            if execution.state == "CANCELLED":
                raise self._cancelled(query_id, execution, started)
            remaining = deadline - self._clock()
            if remaining <= 0:
                return self._time_out(query_id, execution, started)
            self._sleep(min(next(delays), remaining))

    def _failed(self, query_id: str, execution: _Execution, started: float) -> AthenaQueryFailed:
        self._account(query_id, execution, 0.0, self._clock() - started)
        error = execution.error
        return AthenaQueryFailed(
            f"Athena query {query_id} failed: {execution.reason or 'Athena gave no reason'}",
            query_id=query_id,
            reason=execution.reason,
            error_category=error.get("ErrorCategory"),
            error_type=error.get("ErrorType"),
            retryable=bool(error.get("Retryable")),
            bytes_scanned=execution.bytes_scanned,
        )

    def _cancelled(
        self, query_id: str, execution: _Execution, started: float
    ) -> AthenaQueryCancelled:
        cost = _billed_cost(
            "CANCELLED", execution.statement_type, execution.bytes_scanned, False, self.price_per_tb
        )
        self._account(query_id, execution, cost, self._clock() - started)
        return AthenaQueryCancelled(
            f"Athena query {query_id} was cancelled: {execution.reason or 'no reason given'}",
            query_id=query_id,
            state="CANCELLED",
            reason=execution.reason,
            bytes_scanned=execution.bytes_scanned,
            cost_usd=cost,
        )

    def _time_out(self, query_id: str, last: _Execution, started: float) -> _Execution:
        """Stop the query, then look once more: it may have ended meanwhile (a success returns
        its rows, a failure raises as one), otherwise what it scanned before stopping is what it
        costs."""
        cancel_requested = self._stop(query_id)
        try:
            final = self._describe(query_id)
        except AthenaError:
            final = last
        if final.state == "SUCCEEDED":
            return final
        if final.state == "FAILED":
            raise self._failed(query_id, final, started)
        cost = _billed_cost(
            "CANCELLED", final.statement_type, final.bytes_scanned, False, self.price_per_tb
        )
        self._account(query_id, final, cost, self._clock() - started)
        outcome = (
            "it was cancelled"
            if cancel_requested
            else "cancelling it failed, so it may still be running"
        )
        raise AthenaQueryTimeout(
            f"Athena query {query_id} did not finish within {self.timeout:g} s "
            f"(it was {last.state}); {outcome}.",
            query_id=query_id,
            state=final.state,
            cancel_requested=cancel_requested,
            bytes_scanned=final.bytes_scanned,
            cost_usd=cost,
        )

    def _stop(self, query_id: str) -> bool:
        try:
            self._call("StopQueryExecution", query_id, QueryExecutionId=query_id)
        except AthenaError as exc:
            log.warning("Could not cancel Athena query %s: %s", query_id, exc)
            return False
        return True

    def _results(
        self, query_id: str, *, header: bool
    ) -> tuple[tuple[Column, ...], list[tuple[Any, ...]]]:
        """Every page of GetQueryResults. The first row of the first page of a SELECT is the
        header (the column labels), not data."""
        request: dict[str, Any] = {"QueryExecutionId": query_id, "MaxResults": self.page_size}
        columns: tuple[Column, ...] | None = None
        readers: list[Callable[[str | None], Any]] = []
        rows: list[tuple[Any, ...]] = []
        first_page = True
        while True:
            page = self._call("GetQueryResults", query_id, **request)
            result_set = page.get("ResultSet") or {}
            if columns is None:
                infos = (result_set.get("ResultSetMetadata") or {}).get("ColumnInfo") or []
                columns = tuple(column_from_info(info) for info in infos)
                readers = [converter(column) for column in columns]
            page_rows = result_set.get("Rows") or []
            if first_page and header:
                page_rows = page_rows[1:]
            first_page = False
            try:
                for row in page_rows:
                    data = row.get("Data") or []
                    rows.append(
                        tuple(
                            read(datum.get("VarCharValue"))
                            for read, datum in zip(readers, data, strict=True)
                        )
                    )
            except ValueError as exc:
                raise AthenaError(f"Athena query {query_id}: {exc}", query_id=query_id) from None
            token = page.get("NextToken")
            if not token:
                return columns, rows
            request["NextToken"] = token

    # -- cost and metrics

    def _account(
        self,
        query_id: str,
        execution: _Execution,
        cost: float,
        seconds: float,
        *,
        rows: int | None = None,
    ) -> None:
        log.info(
            "Athena query %s %s%s: %d bytes scanned, $%.6f%s, %.2f s",
            query_id,
            execution.state,
            "" if rows is None else f" with {rows} row(s)",
            execution.bytes_scanned,
            cost,
            " (reused result)" if execution.reused else "",
            seconds,
        )
        self._emit("AthenaDataScannedBytes", execution.bytes_scanned, "Bytes")
        self._emit("AthenaQueryCostUSD", cost, "None")
        self._emit("AthenaQuerySeconds", seconds, "Seconds")
        self._emit("AthenaResultReused", 1 if execution.reused else 0, "Count")

    def _emit(self, name: str, value: float, unit: str) -> None:
        if self._emit_metric is None:
            return
        try:
            self._emit_metric(name, value, unit)
        except Exception:  # a broken metric sink must not fail a query that worked
            log.warning("Could not emit metric %s", name, exc_info=True)


def client_from_settings(settings: Any) -> AthenaClient:
    """The Athena client the settings name: the Glue database (checked), the workgroup, the
    results location (an s3:// URI when given) and the region; no local result cache."""
    from vanta_vuln_stats.catalog.tables import check_database_name
    from vanta_vuln_stats.errors import UserInputError

    database = check_database_name(
        settings.glue_database, source=settings.source_of("glue_database")
    )
    location = settings.athena_output_location
    if location is not None and not location.startswith("s3://"):
        raise UserInputError(
            f"The Athena output location {location!r} is not an s3:// URI "
            f"(from {settings.source_of('athena_output_location')})."
        )
    return AthenaClient(
        settings.athena_workgroup,
        location,
        database=database,
        region=settings.aws_region,
        cache=False,
    )
