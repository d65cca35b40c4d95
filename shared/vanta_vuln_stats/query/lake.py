"""The named queries on DuckDB: the lake's committed files under the Glue table names, and the
Athena SQL translated to DuckDB's dialect.

``LakeTables(store)`` opens an in-memory DuckDB connection with one view per Glue table
(catalog/tables.py), named as in Glue and shaped as Athena sees it:

    vanta_vulnerabilities             the snapshot parts of every committed day
    vanta_vulnerability_remediations  the same for remediation records
    vanta_vulnerable_assets           and for vulnerable assets
    vanta_vulnerability_history       every committed day's change events
    vanta_sync_history                each committed day's run row
    vanta_<resource>_current          the latest committed state of each resource (Glue's
                                      tables over ``<resource>/current/``, unpartitioned)

Each view has the table's columns typed exactly as the Parquet files hold them (timestamps
``TIMESTAMP WITH TIME ZONE`` in UTC, booleans, lists of strings), then the partition keys
``year``, ``month`` and ``day`` as strings spelled as the directories spell them ('2026',
'11', '05'), as Athena's Glue partitions give them. Only committed files are read: the views
list the files of the commit manifests, never a listing of the partitions, so a day being
written or re-run is absent (Athena, which reads every file of a registered partition, also
shows the rows of runs of a committed day that failed or were superseded in
``vanta_sync_history``; here each committed day has its committed run's row only).

A template is written for Athena; ``duckdb_template`` translates it with sqlglot (read
``athena``, write ``duckdb``). Its ``?`` placeholders are first named by their place in the
text (``$p1``, ``$p2`` ...), because a translation may move arguments (Trino's
``date_add('day', n, t)`` is DuckDB's ``t + INTERVAL (n) DAY``) and a positional ``?`` would
then receive the wrong value.

``scanned_bytes`` estimates what Athena would scan for the same query and values: the
compressed size of the column chunks the query reads, in the partitions its year/month/day
predicates select (Athena reads only the columns a query names, of the partitions it keeps).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from vanta_vuln_stats.catalog.tables import (
    CATALOG_TABLES,
    CURRENT_TABLES,
    CatalogTable,
    CurrentTable,
)
from vanta_vuln_stats.storage.lake import layout
from vanta_vuln_stats.storage.lake.engine import (
    duckdb_connection,
    duckdb_type,
    quote_identifier,
    quote_literal,
)

if TYPE_CHECKING:
    import duckdb
    from sqlglot import exp

    from vanta_vuln_stats.storage.lake.store import LakeStorage, Manifest

__all__ = ["PARTITION_KEYS", "LakeTables", "TableRead", "duckdb_template", "scan_plan"]

PARTITION_KEYS = ("year", "month", "day")
_PLACEHOLDER_PREFIX = "p"


# --------------------------------------------------------------------------------------------
# Athena SQL -> DuckDB SQL


def _named_placeholders(sql: str) -> tuple[str, int]:
    """``sql`` with its n-th ``?`` placeholder (outside strings and comments, as sqlglot's
    Athena tokenizer sees them) written ``:pN``, and how many there are."""
    import sqlglot
    from sqlglot.tokens import TokenType

    tokens = sqlglot.Dialect.get_or_raise("athena").tokenize(sql)
    offsets = [token.start for token in tokens if token.token_type == TokenType.PLACEHOLDER]
    pieces: list[str] = []
    previous = 0
    for number, offset in enumerate(offsets, 1):
        if sql[offset] != "?":
            raise ValueError(f"a placeholder at offset {offset} is not '?'")
        pieces += [sql[previous:offset], f":{_PLACEHOLDER_PREFIX}{number}"]
        previous = offset + 1
    pieces.append(sql[previous:])
    return "".join(pieces), len(offsets)


def parse_athena(sql: str) -> exp.Expression:
    """A template parsed as Athena SQL, its placeholders named ``pN`` in text order."""
    import sqlglot

    named, _ = _named_placeholders(sql)
    return sqlglot.parse_one(named, read="athena")


@functools.lru_cache(maxsize=64)
def duckdb_template(sql: str) -> tuple[str, tuple[str, ...]]:
    """An Athena template as DuckDB SQL, and the parameter names (``p1`` ...) standing for its
    placeholders in text order: bind the i-th value to the i-th name."""
    _, count = _named_placeholders(sql)
    tree = parse_athena(sql)
    return tree.sql(dialect="duckdb"), tuple(
        f"{_PLACEHOLDER_PREFIX}{number}" for number in range(1, count + 1)
    )


def _bind(names: Sequence[str], values: Sequence[Any]) -> dict[str, Any]:
    if len(names) != len(values):
        raise ValueError(f"{len(names)} placeholders and {len(values)} values")
    return dict(zip(names, values, strict=True))


# --------------------------------------------------------------------------------------------
# What a query reads (for the scan estimate)


@dataclass(frozen=True)
class TableRead:
    """One read of a Glue table in a query: the columns it uses and the conjuncts of its
    WHERE that only involve the partition keys (None: no pruning, every partition)."""

    table: str
    columns: frozenset[str]
    partition_filter: exp.Expression | None


def _schema() -> dict[str, dict[str, str]]:
    return {
        table.name: {
            **{field.name: "varchar" for field in table.schema()},
            **dict.fromkeys(PARTITION_KEYS, "varchar"),
        }
        for table in CATALOG_TABLES
    }


def _conjuncts(condition: exp.Expression | None) -> list[exp.Expression]:
    from sqlglot import exp

    if condition is None:
        return []
    if isinstance(condition, exp.Paren):
        return _conjuncts(condition.this)
    if isinstance(condition, exp.And):
        return _conjuncts(condition.left) + _conjuncts(condition.right)
    return [condition]


@functools.lru_cache(maxsize=64)
def scan_plan(sql: str) -> tuple[TableRead, ...]:
    """Every read of a Glue table in the Athena template ``sql``: which columns, and which
    WHERE conjuncts select its partitions (those naming only its year, month and day)."""
    from sqlglot import exp
    from sqlglot.optimizer.qualify import qualify
    from sqlglot.optimizer.scope import traverse_scope

    tree = qualify(
        parse_athena(sql),
        schema=_schema(),
        dialect="athena",
        validate_qualify_columns=False,
        quote_identifiers=False,
    )
    names = {table.name for table in CATALOG_TABLES}
    reads: list[TableRead] = []
    for scope in traverse_scope(tree):
        where = scope.expression.args.get("where")
        for alias, source in scope.sources.items():
            if not isinstance(source, exp.Table) or source.name not in names:
                continue
            columns = frozenset(
                column.name
                for column in scope.columns
                if column.table == alias and column.name not in PARTITION_KEYS
            )
            kept = []
            for conjunct in _conjuncts(where.this if where is not None else None):
                used = list(conjunct.find_all(exp.Column))
                if (
                    used
                    and all(c.table == alias and c.name in PARTITION_KEYS for c in used)
                    and conjunct.find(exp.Select) is None
                ):
                    kept.append(conjunct.copy())
            condition = exp.and_(*kept) if kept else None
            reads.append(TableRead(source.name, columns, condition))
    return tuple(reads)


# --------------------------------------------------------------------------------------------
# The views


@dataclass(frozen=True)
class _Partition:
    day: date
    urls: tuple[str, ...]


def _committed_files(
    store: LakeStorage, manifests: Mapping[date, Manifest]
) -> dict[str, list[_Partition]]:
    """Per Glue table, the committed files by the day of the partition they lie in: a sync's
    commit has files of its own day; a migration's commit also has the history and run log of
    every earlier day it brought over (as the catalog registers them)."""
    url = store.location.url
    days: dict[str, dict[date, set[str]]] = {}
    for table in CATALOG_TABLES:
        by_day = days.setdefault(table.name, {})
        for manifest in manifests.values():
            keys = set(manifest.keys(table.lake_table))
            if table.lake_table == layout.SYNC_HISTORY_TABLE and manifest.sync_history:
                keys.add(manifest.sync_history)  # a sync's commit names its run's row apart
            for key in keys:
                day = layout.partition_day(key) or manifest.run_date
                by_day.setdefault(day, set()).add(key)
    return {
        table: [
            _Partition(day, tuple(url(key) for key in sorted(keys)))
            for day, keys in sorted(by_day.items())
        ]
        for table, by_day in days.items()
    }


def _view(table: CatalogTable, urls: Sequence[str]) -> str:
    schema = table.schema()
    columns = [quote_identifier(field.name) for field in schema] + list(PARTITION_KEYS)
    if urls:
        files = ", ".join(quote_literal(url) for url in urls)
        keys = ", ".join(f"{quote_literal(key)}: 'VARCHAR'" for key in PARTITION_KEYS)
        source = (
            f"read_parquet([{files}], hive_partitioning = true, hive_types = {{{keys}}}, "
            "union_by_name = true)"
        )
        return f"SELECT {', '.join(columns)} FROM {source}"
    empty = [
        f"CAST(NULL AS {duckdb_type(field.type)}) AS {quote_identifier(field.name)}"
        for field in schema
    ] + [f"CAST(NULL AS VARCHAR) AS {key}" for key in PARTITION_KEYS]
    return f"SELECT {', '.join(empty)} WHERE false"


def _current_view(table: CurrentTable, urls: Sequence[str]) -> str:
    schema = table.schema()
    if urls:
        files = ", ".join(quote_literal(url) for url in urls)
        columns = ", ".join(quote_identifier(field.name) for field in schema)
        return f"SELECT {columns} FROM read_parquet([{files}], hive_partitioning = false)"
    empty = [
        f"CAST(NULL AS {duckdb_type(field.type)}) AS {quote_identifier(field.name)}"
        for field in schema
    ]
    return f"SELECT {', '.join(empty)} WHERE false"


class LakeTables:
    """DuckDB over the lake's committed files, under the Glue table names (see the module
    docstring). Use as a context manager; ``close()`` ends the connection."""

    def __init__(self, store: LakeStorage) -> None:
        self.store = store
        self.manifests = store.manifests()
        self.files = _committed_files(store, self.manifests)
        self.conn: duckdb.DuckDBPyConnection = duckdb_connection(store.location)
        try:
            for table in CATALOG_TABLES:
                urls = [url for part in self.files[table.name] for url in part.urls]
                self.conn.execute(f"CREATE VIEW {table.name} AS {_view(table, urls)}")
            latest = self.manifests[max(self.manifests)] if self.manifests else None
            for current in CURRENT_TABLES:
                # The latest committed state (current/ is a copy of that day's state file).
                key = latest.state.get(current.lake_table) if latest is not None else None
                urls = [store.location.url(key)] if key else []
                self.conn.execute(f"CREATE VIEW {current.name} AS {_current_view(current, urls)}")
        except BaseException:
            self.conn.close()
            raise
        self._column_bytes: dict[str, dict[str, int]] = {}

    def __enter__(self) -> LakeTables:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()

    @property
    def latest_day(self) -> date | None:
        return max(self.manifests) if self.manifests else None

    def execute(
        self, sql: str, parameters: Sequence[Any]
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run the Athena template ``sql`` with ``parameters`` bound to its placeholders in text
        order: the column names and the rows (Python values, timestamps aware in UTC)."""
        text, names = duckdb_template(sql)
        cursor = self.conn.execute(text, _bind(names, parameters))
        # Through Arrow: DuckDB's own conversion of TIMESTAMPTZ to Python needs pytz.
        table = cursor.to_arrow_table()
        values = [_python_values(column) for column in table.columns]
        return list(table.column_names), list(zip(*values, strict=True))

    # ----------------------------------------------------------------------------------------
    # Scan estimate

    def scanned_bytes(self, sql: str, parameters: Sequence[Any]) -> int:
        """What Athena would scan for ``sql`` with ``parameters`` over the same committed days:
        the compressed column chunks of the columns each table read uses, in the partitions
        its partition predicates keep."""
        total = 0
        values = dict(zip(duckdb_template(sql)[1], parameters, strict=True))
        for read in scan_plan(sql):
            partitions = self._kept_partitions(read, values)
            urls = [url for partition in partitions for url in partition.urls]
            sizes = self._sizes(urls)
            total += sum(sizes[url].get(column, 0) for url in urls for column in read.columns)
        return total

    def partitions_read(self, sql: str, parameters: Sequence[Any]) -> dict[str, list[date]]:
        """Per Glue table the query reads, the committed days its partition predicates keep."""
        values = dict(zip(duckdb_template(sql)[1], parameters, strict=True))
        days: dict[str, set[date]] = {}
        for read in scan_plan(sql):
            kept = self._kept_partitions(read, values)
            days.setdefault(read.table, set()).update(part.day for part in kept)
        return {table: sorted(found) for table, found in days.items()}

    def _kept_partitions(self, read: TableRead, values: Mapping[str, Any]) -> list[_Partition]:
        from sqlglot import exp

        partitions = self.files[read.table]
        if read.partition_filter is None or not partitions:
            return list(partitions)
        condition = read.partition_filter.copy()
        for column in condition.find_all(exp.Column):
            column.set("table", None)
        used = sorted({p.name for p in condition.find_all(exp.Placeholder)})
        rows = ", ".join(
            "(" + ", ".join(quote_literal(part) for part in _keys(partition.day)) + f", {i})"
            for i, partition in enumerate(partitions)
        )
        query = (
            f"SELECT position FROM (VALUES {rows}) AS partitions (year, month, day, position) "
            f"WHERE {condition.sql(dialect='duckdb')}"
        )
        kept = self.conn.execute(query, {name: values[name] for name in used}).fetchall()
        return [partitions[position] for (position,) in kept]

    def _sizes(self, urls: Iterable[str]) -> dict[str, dict[str, int]]:
        missing = [url for url in urls if url not in self._column_bytes]
        if missing:
            for url in missing:
                self._column_bytes[url] = {}
            files = ", ".join(quote_literal(url) for url in missing)
            rows = self.conn.execute(
                "SELECT file_name, path_in_schema, sum(total_compressed_size) "
                f"FROM parquet_metadata([{files}]) GROUP BY file_name, path_in_schema"
            ).fetchall()
            for file_name, path, size in rows:
                column = re.split(r", ", path, maxsplit=1)[0]
                sizes = self._column_bytes.setdefault(file_name, {})
                sizes[column] = sizes.get(column, 0) + int(size)
        return self._column_bytes


def _keys(day: date) -> tuple[str, str, str]:
    return f"{day:%Y}", f"{day:%m}", f"{day:%d}"


def _python_values(column: Any) -> list[Any]:
    """A result column as Python values. DuckDB's 128-bit integers (its ``sum`` and
    ``count_if`` of 64-bit ones) reach Arrow as decimal(38, 0); they are integers, as Athena's
    bigint results are."""
    import pyarrow as pa

    if pa.types.is_decimal(column.type) and column.type.scale == 0:
        return [None if value is None else int(value) for value in column.to_pylist()]
    return column.to_pylist()
