"""The statistics on Athena: the same SQL the generator runs, translated to Athena (Trino) SQL
over the Glue tables.

The statistics' SQL is written once, for SQLite (stats/queries.py, storage/filters.py), against
the SQLite store's table names. ``athena_sql`` translates one text with sqlglot (``read=
"sqlite"``, ``write="athena"``) and, as ``storage.lake.engine.duckdb_sql`` does for DuckDB,
changes what the two dialects mean differently:

- each SQLite table name becomes a subquery over its Glue table, shaped like the DuckDB engine's
  view of the same name: ``vulnerabilities``, ``vulnerability_remediations`` and
  ``vulnerable_assets`` read the latest state (``vanta_<resource>_current``, catalog/tables.py),
  ``vulnerability_history`` every registered day of ``vanta_vulnerability_history``, and
  ``sync_history`` the run rows of ``vanta_sync_history`` with SQLite's ISO text times. Booleans
  are 0/1 as in SQLite (its SQL compares them with 1 and 0);
- a ``?`` compared with a timestamp column is read as a time (``from_iso8601_timestamp(?)``):
  the generator binds times as the store's ISO text, and Trino compares no text with a
  timestamp. The value still travels as a parameter;
- ``substr`` of a timestamp column reads its ISO text (the calendar day and month);
- ``julianday(t)`` is SQLite's Julian day from the time's whole milliseconds;
- ``lower`` and ``upper`` fold ASCII letters only, as SQLite's do;
- ``json_each`` of a list column is ``UNNEST`` (each element as ``json_each.value``).

Values are never formatted into the text: the ``?`` placeholders stay, and ``AthenaStatistics``
hands the values to its runner (``AthenaClient.query``: Athena's ExecutionParameters).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vanta_vuln_stats.catalog.tables import CATALOG_TABLES, CURRENT_TABLES
from vanta_vuln_stats.model.fields import Resource
from vanta_vuln_stats.storage.lake import layout
from vanta_vuln_stats.storage.lake.engine import json_each_as_unnest, sync_history_columns

if TYPE_CHECKING:
    from sqlglot import exp

__all__ = ["AthenaStatistics", "athena_sql", "relation_columns"]

Runner = Callable[[str, Sequence[Any]], tuple[list[str], list[tuple[Any, ...]]]]

_ASCII_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ASCII_LOWER = "abcdefghijklmnopqrstuvwxyz"
# SQLite's julianday(): its integer milliseconds over 86400000.0 (see storage/lake/engine.py).
_JULIAN_EPOCH_MS = 210_866_760_000_000
# A timestamp as the store's ISO text, 2026-11-05T06:07:00.000Z. date_format's %f has six
# digits in Trino (and in DuckDB, which the tests translate this back to): the first 23
# characters end with the milliseconds.
_ISO_CLOCK = "%Y-%m-%dT%H:%i:%s.%f"


@dataclass(frozen=True)
class AthenaStatistics:
    """What ``compute_statistics`` runs on instead of a connection, for Athena.

    ``run(sql, values)`` runs one Athena statement with its values bound to the ``?``
    placeholders in order and returns (column names, rows): ``AthenaClient.query`` in use, or
    DuckDB over the same lake in the tests. ``workers`` is how many queries may run at once
    (independent statements: Athena runs them in parallel).
    """

    run: Runner
    workers: int = 1


def _iso(column: str) -> str:
    return f"(substr(date_format({column}, '{_ISO_CLOCK}'), 1, 23) || 'Z')"


def _state_relation(resource: Resource) -> str:
    import pyarrow as pa

    table = next(t for t in CURRENT_TABLES if t.resource is resource)
    columns = []
    for field in table.schema():
        if pa.types.is_boolean(field.type):
            columns.append(f"CAST({field.name} AS INTEGER) AS {field.name}")
        else:
            columns.append(field.name)
    if resource is Resource.VULNERABILITY_REMEDIATIONS:
        # The earlier tool's columns, always NULL in the SQLite store too.
        columns += ["CAST(NULL AS VARCHAR) AS integration_id"]
        columns += ["CAST(NULL AS VARCHAR) AS integration_type"]
    return f"SELECT {', '.join(columns)} FROM {table.name}"


def _table_name(lake_table: str) -> str:
    return next(table.name for table in CATALOG_TABLES if table.lake_table == lake_table)


def _history_relation() -> str:
    # The columns the statistics read; ids and run ids are the DuckDB view's only.
    return (
        "SELECT vuln_id, name, severity, CAST(is_deactivated AS INTEGER) AS is_deactivated, "
        "deactivation_date, snapshot_date, change_type, changed_fields "
        f"FROM {_table_name(layout.HISTORY_TABLE)}"
    )


def _sync_history_relation() -> str:
    columns = sync_history_columns("CAST(round(to_unixtime(started_at) * 1000) AS BIGINT)", _iso)
    return f"SELECT {columns} FROM {_table_name(layout.SYNC_HISTORY_TABLE)}"


@functools.cache
def _relations() -> dict[str, str]:
    relations = {resource.value: _state_relation(resource) for resource in Resource}
    relations[layout.HISTORY_TABLE] = _history_relation()
    relations[layout.SYNC_HISTORY_TABLE] = _sync_history_relation()
    return relations


@functools.cache
def relation_columns() -> dict[str, frozenset[str]]:
    """The columns of each SQLite-named relation the translated SQL reads (the statistics
    decide from them which optional statistics and columns the store has)."""
    import sqlglot

    return {
        name: frozenset(
            select.alias_or_name for select in sqlglot.parse_one(sql, read="athena").selects
        )
        for name, sql in _relations().items()
    }


@functools.cache
def _timestamp_columns() -> frozenset[str]:
    """Column names that are timestamps in the relations (sync_history's are ISO text)."""
    import pyarrow as pa

    schemas = [table.schema() for table in CURRENT_TABLES] + [layout.history_schema()]
    names = {
        field.name for schema in schemas for field in schema if pa.types.is_timestamp(field.type)
    }
    text = relation_columns()[layout.SYNC_HISTORY_TABLE]
    if names & text:  # a name both text and time could not be told apart by name
        raise AssertionError(f"columns both text and timestamp: {sorted(names & text)}")
    return frozenset(names)


def _is_timestamp(node: exp.Expression | None) -> bool:
    from sqlglot import exp

    return isinstance(node, exp.Column) and node.name in _timestamp_columns()


def _rewrite(node: exp.Expression) -> exp.Expression:
    import sqlglot
    from sqlglot import exp

    comparisons = (exp.EQ, exp.NEQ, exp.LT, exp.LTE, exp.GT, exp.GTE)
    if isinstance(node, comparisons):
        for side, other in (("this", "expression"), ("expression", "this")):
            value = node.args.get(side)
            if isinstance(value, exp.Placeholder) and _is_timestamp(node.args.get(other)):
                node.set(
                    side,
                    exp.Anonymous(this="from_iso8601_timestamp", expressions=[value.copy()]),
                )
        return node
    if isinstance(node, exp.Substring) and _is_timestamp(node.this):
        formatted = sqlglot.parse_one(f"date_format(x, '{_ISO_CLOCK}')", read="athena").transform(
            lambda n: node.this.copy() if isinstance(n, exp.Column) else n
        )
        node.set("this", formatted)
        return node
    if isinstance(node, exp.Lower | exp.Upper):
        source, target = (
            (_ASCII_UPPER, _ASCII_LOWER)
            if isinstance(node, exp.Lower)
            else (_ASCII_LOWER, _ASCII_UPPER)
        )
        return exp.Anonymous(
            this="translate",
            expressions=[node.this, exp.Literal.string(source), exp.Literal.string(target)],
        )
    if isinstance(node, exp.Anonymous) and node.name.lower() == "julianday":
        (argument,) = node.expressions
        julian = sqlglot.parse_one(
            f"(round(to_unixtime(x) * 1000) + {_JULIAN_EPOCH_MS}) / CAST(86400000 AS DOUBLE)",
            read="athena",
        )
        return julian.transform(lambda n: argument.copy() if isinstance(n, exp.Column) else n)
    return json_each_as_unnest(node)


@functools.lru_cache(maxsize=256)
def athena_sql(sql: str) -> str:
    """``sql`` written for SQLite (the statistics' text), as Athena SQL over the Glue tables
    with the same meaning (see the module docstring). The ``?`` placeholders keep their order.
    Cached: the statistics send the same few texts again and again."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, read="sqlite")
    # Innermost first (reversed pre-order), so a rewritten call keeps rewritten arguments.
    for node in reversed(list(tree.walk(bfs=False))):
        replacement = _rewrite(node)
        if replacement is not node:
            if node is tree:
                tree = replacement
            else:
                node.replace(replacement)
    # Then the tables, so the relations (already Athena SQL) are not rewritten again.
    relations = _relations()
    for table in list(tree.find_all(exp.Table)):
        if (
            table.name in relations
            and not table.args.get("db")
            and isinstance(table.this, exp.Identifier)
        ):
            relation = sqlglot.parse_one(relations[table.name], read="athena")
            table.replace(
                exp.Subquery(
                    this=relation,
                    alias=exp.TableAlias(this=exp.to_identifier(table.alias or table.name)),
                )
            )
    return tree.sql(dialect="athena")
