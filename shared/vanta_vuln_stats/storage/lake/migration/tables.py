"""How each lake file is filled from the SQLite store: the SQL that reads a source table under the
lake's column names (with the documented fills for NULLs the lake's schema does not allow), and the
conversion of the values SQLite returns into Arrow columns of the lake's schema (layout.py).

SQLite's forms (storage/schema.py) and their Arrow types:

    timestamps   ISO text              -> timestamp[ms, UTC]
    booleans     0 / 1                 -> bool
    string lists JSON array text       -> list<string>
    JSON objects JSON text             -> string, re-written compact with sorted keys (the
                                          normaliser's form, so the next sync sees no change)

A value that cannot be read as its column's type (only a damaged database has one) stops the
migration with the table, the row and the value.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

from vanta_vuln_stats.errors import StoreError
from vanta_vuln_stats.model.fields import FIELDS, RAW_COLUMN, Resource
from vanta_vuln_stats.model.records import _dumps, parse_timestamp
from vanta_vuln_stats.storage import schema

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "HISTORY_SQL",
    "REJECTS_SQL",
    "UNKNOWN",
    "state_sql",
    "to_arrow",
]

# What a required text column holds when the source has NULL there: the statistics' own label
# for a missing value (they group NULL severities and integrations as UNKNOWN).
UNKNOWN = "UNKNOWN"


def _first_seen_sql(resource: Resource) -> str:
    if resource is Resource.VULNERABILITY_REMEDIATIONS:
        # The SQLite store keeps no first sighting of a remediation record: its last change
        # (last_updated) is the earliest time known.
        return "coalesce(t.last_updated, s.sync_date, :stamp)"
    return "coalesce(t.first_seen_at, t.last_seen_at, t.last_updated, :stamp)"


def _last_seen_sql(resource: Resource) -> str:
    if resource is Resource.VULNERABILITY_REMEDIATIONS:
        # Seen last by the run in last_seen_sync_id (unchanged records are only marked seen);
        # its sync_date is the stamp that run's rows carry.
        return "coalesce(s.sync_date, t.last_updated, :stamp)"
    return "coalesce(t.last_seen_at, t.last_updated, t.first_seen_at, :stamp)"


def _model_sql(resource: Resource) -> list[str]:
    columns = []
    for spec in FIELDS[resource]:
        expr = f"t.{spec.name}"
        if spec.kind == "strings":
            expr = f"coalesce({expr}, '[]')"  # the normaliser's empty list
        elif spec.required and spec.name != "id":
            if spec.kind == "string":
                expr = f"coalesce({expr}, '{UNKNOWN}')"
            elif spec.kind == "bool":
                expr = f"coalesce({expr}, 0)"
            elif spec.kind == "timestamp":
                expr = f"coalesce({expr}, {_first_seen_sql(resource)})"
        columns.append(f"{expr} AS {spec.name}")
    return columns


def state_sql(resource: Resource) -> str:
    """Every row of a resource table as the lake's state columns (without last_seen_run_date,
    which the migration sets), then raw_data; ordered by id. Parameter ``:stamp``: the
    committed day's stamp, the last resort for a time the source does not have."""
    table = schema.RESOURCE_TABLES[resource]
    resolved = "NULL" if resource is Resource.VULNERABILITY_REMEDIATIONS else "t.resolved_at"
    columns = [
        *_model_sql(resource),
        f"{_first_seen_sql(resource)} AS first_seen_at",
        f"{_last_seen_sql(resource)} AS last_seen_at",
        f"{resolved} AS resolved_at",
        f"t.{RAW_COLUMN} AS {RAW_COLUMN}",
    ]
    join = ""
    if resource is Resource.VULNERABILITY_REMEDIATIONS:
        join = f" LEFT JOIN {schema.SYNC_TABLE} s ON s.id = t.last_seen_sync_id"
    return f"SELECT {', '.join(columns)} FROM {table} t{join} ORDER BY t.id"


# Change events in time order, then the day they are partitioned by; a NULL change type (never
# written by either tool) would be an update of unknown kind.
HISTORY_SQL = (
    "SELECT vuln_id, coalesce(change_type, 'updated') AS change_type, changed_fields, "
    "snapshot_date, name, severity, is_deactivated, deactivation_date, "
    "substr(snapshot_date, 1, 10) AS day "
    f"FROM {schema.HISTORY_TABLE} ORDER BY snapshot_date, id"
)
HISTORY_DAYS_SQL = (
    "SELECT substr(snapshot_date, 1, 10) AS day, count(*) "
    f"FROM {schema.HISTORY_TABLE} GROUP BY day ORDER BY day"
)

# Rejected records by day and resource (the order their parts are written in).
REJECTS_SQL = (
    "SELECT resource, record_id, coalesce(reasons, '[]') AS reasons, raw_data, rejected_at, "
    "substr(rejected_at, 1, 10) AS day "
    f"FROM {schema.REJECTED_TABLE} ORDER BY day, resource, id"
)
REJECTS_DAYS_SQL = (
    "SELECT substr(rejected_at, 1, 10) AS day, resource, count(*) "
    f"FROM {schema.REJECTED_TABLE} GROUP BY day, resource ORDER BY day, resource"
)


# --------------------------------------------------------------------------------------------
# SQLite values -> Arrow


class _Unreadable(Exception):
    def __init__(self, index: int, value: object, expected: str) -> None:
        super().__init__(index, value, expected)
        self.index, self.value, self.expected = index, value, expected


def _timestamps(values: list[Any], type_: pa.DataType) -> pa.Array:
    import pyarrow as pa

    try:
        # The store's one text form casts in C; anything else goes through the normaliser's
        # parser (a bare date, an offset, microseconds).
        return pa.array(values, pa.string()).cast(type_)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    parsed = []
    for index, value in enumerate(values):
        if value is None:
            parsed.append(None)
            continue
        try:
            parsed.append(parse_timestamp(value))
        except ValueError:
            raise _Unreadable(index, value, "an ISO-8601 timestamp") from None
    return pa.array(parsed, type_)


def _booleans(values: list[Any]) -> pa.Array:
    import pyarrow as pa

    for index, value in enumerate(values):
        if value is not None and value not in (0, 1):  # True and False compare equal to 1, 0
            raise _Unreadable(index, value, "a boolean (0 or 1)")
    return pa.array([None if v is None else bool(v) for v in values], pa.bool_())


def _string_lists(values: list[Any]) -> pa.Array:
    import pyarrow as pa

    lists = []
    for index, value in enumerate(values):
        if value is None:
            lists.append(None)
            continue
        try:
            items = orjson.loads(value)
        except (orjson.JSONDecodeError, TypeError):
            items = None
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            raise _Unreadable(index, value, "a JSON array of strings")
        lists.append(items)
    return pa.array(lists, pa.list_(pa.string()))


def _json_texts(values: list[Any]) -> pa.Array:
    import pyarrow as pa

    texts = []
    for value in values:
        if isinstance(value, str):
            with contextlib.suppress(orjson.JSONDecodeError):  # not JSON: kept as it is
                value = _dumps(orjson.loads(value))
        texts.append(value)
    return pa.array(texts, pa.string())


def _texts(values: list[Any]) -> pa.Array:
    import pyarrow as pa

    try:
        return pa.array(values, pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    texts = []
    for value in values:
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        elif value is not None and not isinstance(value, str):
            value = str(value)
        texts.append(value)
    return pa.array(texts, pa.string())


def _numbers(values: list[Any], type_: pa.DataType, expected: str) -> pa.Array:
    import pyarrow as pa

    try:
        return pa.array(values, type_)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        for index, value in enumerate(values):
            if value is not None and not isinstance(value, int | float):
                raise _Unreadable(index, value, expected) from None
        raise


def column_array(values: list[Any], field: pa.Field) -> pa.Array:
    """One column of SQLite values as an Arrow array of ``field``'s type."""
    import pyarrow as pa

    type_ = field.type
    if pa.types.is_timestamp(type_):
        return _timestamps(values, type_)
    if pa.types.is_boolean(type_):
        return _booleans(values)
    if pa.types.is_list(type_):
        return _string_lists(values)
    if pa.types.is_floating(type_):
        return _numbers(values, type_, "a number")
    if pa.types.is_integer(type_):
        return _numbers(values, type_, "an integer")
    if pa.types.is_date(type_):
        return pa.array(values, pa.string()).cast(type_)
    if (field.metadata or {}).get(b"format") == b"json":
        return _json_texts(values)
    return _texts(values)


def to_arrow(
    rows: Sequence[tuple[Any, ...]],
    names: Sequence[str],
    schema_: pa.Schema,
    *,
    table: str,
    source: str,
) -> dict[str, pa.Array]:
    """The columns ``names`` of ``rows`` (SQLite values, in that order) as Arrow arrays typed by
    ``schema_``. A value that does not fit raises StoreError naming the table, the row's first
    value (its id) and the column."""
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    arrays: dict[str, pa.Array] = {}
    for position, name in enumerate(names):
        field = schema_.field(name)
        values = list(columns[position])
        try:
            array = column_array(values, field)
        except _Unreadable as exc:
            row_id = rows[exc.index][0]
            raise StoreError(
                f"The database {source} cannot be migrated: {table} row {row_id!r} has "
                f"{exc.value!r} in {name}, which is not {exc.expected}."
            ) from None
        if not field.nullable and array.null_count:
            index = next(i for i, v in enumerate(values) if v is None)
            raise StoreError(
                f"The database {source} cannot be migrated: {table} row {rows[index][0]!r} has "
                f"no value in {name}, which the lake requires."
            )
        arrays[name] = array
    return arrays
