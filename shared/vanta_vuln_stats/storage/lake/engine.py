"""The lake's query engine: DuckDB over the committed Parquet files, shaped like the SQLite store.

``lake_connection(store)`` opens an in-memory DuckDB connection with a view for each table the
statistics read, named and shaped like the SQLite store's tables (storage/schema.py):

    vulnerabilities             the state file of the latest committed day
    vulnerability_remediations  (``manifest.state``), every record ever seen with first_seen_at,
    vulnerable_assets           last_seen_at and resolved_at
    vulnerability_history       every committed history part, with the SQLite history columns
    vulnerabilities_seen        (id, last_seen_run_date): which run's backup holds a finding
    sync_history                one row per run: the committed runs' rows, and the rows of runs
                                that failed, were interrupted or were superseded by a re-run
                                (a table, read once when the connection opens: one small file
                                per run, which several statistics read)

Only committed files are read: the views are built from the commit manifests, never from a
listing of the partitions, so the parts of a run that has not committed (or of a day being
re-run) stay invisible. The one listing is of ``sync_history/``, for the rows of failed runs
(they never commit); a row there that says complete but belongs to no commit is left out.

The statistics' SQL is written once, for SQLite (stats/queries.py, storage/filters.py).
``duckdb_sql`` translates it to DuckDB's dialect with sqlglot (once per text; the texts of the
statistics without filters are translated ahead, storage/lake/translations.py) and points the
few functions whose meaning differs at SQLite-compatible versions that
``install_sqlite_functions`` creates (``julianday``, ``substr`` of a timestamp, ASCII-only
``lower``/``upper``, ``json_each`` of a list). The views keep the Parquet types of the large
tables (timestamps stay TIMESTAMPTZ, lists stay lists: turning a million timestamps into text
costs about a second per column, see docs/DECISIONS.md); booleans are 0/1 as in SQLite, and
sync_history, a handful of rows whose times the statistics return, carries SQLite's ISO text.
A timestamp compared with an ISO text parameter is compared as a time, which for the store's
fixed-width text is the same order; ``substr`` of one reads its ISO text, as SQLite does.

A lake on S3 is read through DuckDB's httpfs extension, loaded from the
``duckdb-extension-httpfs`` package's file (DuckDB never downloads extensions here), with a
secret built from ``s3_endpoint()`` and the credentials boto3 would use: one endpoint for every
engine (fs.py).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from vanta_vuln_stats.errors import StoreError
from vanta_vuln_stats.model.fields import Resource
from vanta_vuln_stats.storage.lake import layout
from vanta_vuln_stats.storage.lake.fs import s3_endpoint

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from vanta_vuln_stats.storage.lake.fs import LakeLocation
    from vanta_vuln_stats.storage.lake.store import LakeStorage, Manifest

__all__ = [
    "ISO_FORMAT",
    "duckdb_connection",
    "duckdb_sql",
    "duckdb_type",
    "httpfs_extension_path",
    "install_sqlite_functions",
    "lake_connection",
    "quote_identifier",
    "quote_literal",
    "stored_translations",
    "translate",
]

# The SQLite store's timestamp form (model.records.timestamp_to_iso) in DuckDB's strftime.
ISO_FORMAT = "%Y-%m-%dT%H:%M:%S.%gZ"

# DuckDB must not reach the network on its own (no extension downloads); S3 is reached only
# through the httpfs binary loaded by path and the endpoint configured for every engine.
_CONFIG = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}

# SQLite's julianday() to the bit: SQLite keeps the Julian day in integer milliseconds (iJD) and
# returns iJD / 86400000.0. 210866760000000 is the Unix epoch in Julian milliseconds.
_JULIAN_EPOCH_MS = 210_866_760_000_000
_ASCII_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ASCII_LOWER = "abcdefghijklmnopqrstuvwxyz"
# A timestamp's UTC wall clock as a plain TIMESTAMP, from its microseconds (no time-zone
# arithmetic: formatting it is several times faster than formatting the TIMESTAMPTZ).
_UTC_CLOCK = "make_timestamp(epoch_us(CAST(t AS TIMESTAMPTZ)))"
_MACROS = (
    f"julianday(t) AS (epoch_ms(CAST(t AS TIMESTAMPTZ)) + {_JULIAN_EPOCH_MS}) / 86400000.0",
    f"sqlite_iso(t) AS strftime({_UTC_CLOCK}, '{ISO_FORMAT}')",
    # substr of a timestamp reads its ISO text, as SQLite (which stores the text) does; DuckDB
    # folds typeof() when it binds, so only one branch is ever evaluated.
    "sqlite_substr(t, start, length) AS CASE WHEN typeof(t) = 'TIMESTAMP WITH TIME ZONE' "
    "THEN substr(sqlite_iso(t), start, length) "
    "ELSE substr(CAST(t AS VARCHAR), start, length) END",
    # SQLite's lower() and upper() fold ASCII letters only; DuckDB's fold every script.
    f"sqlite_lower(t) AS translate(t, '{_ASCII_UPPER}', '{_ASCII_LOWER}')",
    f"sqlite_upper(t) AS translate(t, '{_ASCII_LOWER}', '{_ASCII_UPPER}')",
)


# --------------------------------------------------------------------------------------------
# SQLite's SQL on DuckDB


def install_sqlite_functions(conn: duckdb.DuckDBPyConnection) -> None:
    """Create the SQLite functions that ``duckdb_sql`` output calls (idempotent). They live in
    the connection's database, so every ``conn.cursor()`` sees them."""
    for macro in _MACROS:
        conn.execute(f"CREATE OR REPLACE MACRO {macro}")


def json_each_as_unnest(node: Any) -> Any:
    """SQLite's table function ``json_each(list)`` (one row per element, column ``value``) as
    an ``UNNEST(list) AS alias(value)``, for DuckDB and Athena alike; other nodes unchanged."""
    from sqlglot import exp

    if (
        isinstance(node, exp.Table)
        and isinstance(node.this, exp.Anonymous)
        and node.this.name.lower() == "json_each"
        and len(node.this.expressions) == 1
    ):
        alias = node.alias or "json_each"
        return exp.Unnest(
            expressions=[node.this.expressions[0]],
            alias=exp.TableAlias(
                this=exp.to_identifier(alias), columns=[exp.to_identifier("value")]
            ),
        )
    return node


def duckdb_sql(sql: str) -> str:
    """``sql`` written for SQLite, as DuckDB SQL with the same meaning over the lake's views
    (``translate``). Remembered per text: the statistics send the same few texts again and
    again. The texts of the statistics without filters are translated ahead and stored with
    the package (``storage/lake/translations.py``), so that statistics over the lake need no
    sqlglot in a new process (its first translations there cost about half a second)."""
    found = _TRANSLATED.get(sql)
    if found is None:
        found = stored_translations().get(sql) or translate(sql)
        if len(_TRANSLATED) >= _REMEMBERED:
            _TRANSLATED.clear()
        _TRANSLATED[sql] = found
    return found


# Every text translated in this process (a dict's get and set are atomic: the statistics
# translate from several threads), and the most it keeps.
_TRANSLATED: dict[str, str] = {}
_REMEMBERED = 256
STORED_TRANSLATIONS = "duckdb_statistics.json"


@functools.cache
def stored_translations() -> dict[str, str]:
    """The translations stored with the package: SQLite text -> DuckDB text."""
    import json
    from importlib.resources import files

    text = files(__package__).joinpath(STORED_TRANSLATIONS).read_text(encoding="utf-8")
    return dict(json.loads(text))


def translate(sql: str) -> str:
    """``sql`` written for SQLite, as DuckDB SQL with the same meaning over the lake's views.

    sqlglot does the dialect (``IS NOT 1`` -> ``IS DISTINCT FROM 1``, ``instr`` -> ``strpos``,
    NULL ordering); then the few functions whose meaning differs call the SQLite versions that
    ``install_sqlite_functions`` provides (substr of a timestamp reads its ISO text, lower and
    upper fold ASCII only), and ``json_each`` of a list column becomes ``unnest`` (each element
    as ``json_each.value``, as SQLite gives the elements of a JSON array). Positional ``?``
    parameters are kept.
    """
    import sqlglot
    from sqlglot import exp

    def rewrite(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Substring):
            arguments = [node.this, node.args.get("start"), node.args.get("length")]
            if all(argument is not None for argument in arguments):
                return exp.Anonymous(this="sqlite_substr", expressions=arguments)
        if isinstance(node, exp.Lower):
            return exp.Anonymous(this="sqlite_lower", expressions=[node.this])
        if isinstance(node, exp.Upper):
            return exp.Anonymous(this="sqlite_upper", expressions=[node.this])
        return json_each_as_unnest(node)

    tree = sqlglot.parse_one(sql, read="sqlite")
    # Innermost first (reversed pre-order), so a rewritten call keeps rewritten arguments.
    for node in reversed(list(tree.walk(bfs=False))):
        replacement = rewrite(node)
        if replacement is not node:
            if node is tree:
                tree = replacement
            else:
                node.replace(replacement)
    return tree.sql(dialect="duckdb")


# --------------------------------------------------------------------------------------------
# The connection


@contextmanager
def lake_connection(store: LakeStorage) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB connection with the lake's committed data as SQLite-shaped views
    (see the module docstring). Closed when the block ends."""
    conn = duckdb_connection(store.location)
    try:
        install_sqlite_functions(conn)
        manifests = store.manifests()
        for name, sql in _view_definitions(store, manifests):
            conn.execute(f"CREATE VIEW {name} AS {sql}")
        # The run log is one small file per run, read by several statistics: read once.
        conn.execute(
            f"CREATE TABLE {layout.SYNC_HISTORY_TABLE} AS {_sync_history_view(store, manifests)}"
        )
        yield conn
    finally:
        conn.close()


def duckdb_connection(location: LakeLocation) -> duckdb.DuckDBPyConnection:
    """A new in-memory DuckDB connection set up for the lake at ``location``: no extension
    downloads, a UTC session, Parquet footers cached, and for S3 the httpfs extension with one
    secret (the endpoint every engine uses). The caller closes it."""
    import duckdb

    conn = duckdb.connect(":memory:", config=dict(_CONFIG))
    try:
        # Times the session renders itself (casts to text or dates) are UTC, whatever the
        # machine's zone; the SQLite functions do not depend on it.
        conn.execute("SET TimeZone = 'UTC'")
        # Every statistic reads the same files again: their footers are parsed once.
        conn.execute("SET parquet_metadata_cache = true")
        if location.is_s3:
            _configure_s3(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def _view_definitions(store: LakeStorage, manifests: dict[Any, Manifest]) -> list[tuple[str, str]]:
    latest = manifests[max(manifests)] if manifests else None
    location = store.location
    views: list[tuple[str, str]] = []
    for resource in Resource:
        key = latest.state.get(resource.value) if latest is not None else None
        source = _source(layout.state_schema(resource), [location.url(key)] if key else [])
        views.append((resource.value, _resource_view(resource, source)))
        if resource is Resource.VULNERABILITIES:
            views.append(("vulnerabilities_seen", f"SELECT id, last_seen_run_date FROM {source}"))
    views.append((layout.HISTORY_TABLE, _history_view(store, manifests)))
    return views


# --------------------------------------------------------------------------------------------
# Views


def _resource_view(resource: Resource, source: str) -> str:
    schema = layout.state_schema(resource)
    columns = [_view_column(field.name, field.type) for field in schema]
    if resource is Resource.VULNERABILITY_REMEDIATIONS:
        # The earlier tool's columns, always NULL in the SQLite store too.
        columns += ["CAST(NULL AS VARCHAR) AS integration_id"]
        columns += ["CAST(NULL AS VARCHAR) AS integration_type"]
    return f"SELECT {', '.join(columns)} FROM {source}"


def _history_view(store: LakeStorage, manifests: dict[Any, Manifest]) -> str:
    entries = [
        entry
        for manifest in manifests.values()
        for entry in manifest.files.get(layout.HISTORY_TABLE, [])
    ]
    urls = [store.location.url(entry["key"]) for entry in entries]
    schema = layout.history_schema()
    source = _source(schema, urls, row_numbers=True)
    # Ids in commit order, as SQLite's AUTOINCREMENT numbers events in the order written: the
    # rows of the parts before this one, plus the row's place in its part.
    offsets = [0]
    for entry in entries:
        offsets.append(offsets[-1] + int(entry["rows"]))
    first_id = "0"
    if entries:
        first_id = f"[{', '.join(map(str, offsets[:-1]))}][CAST(file_index AS BIGINT) + 1]"
    fields = {field.name: field.type for field in schema}
    columns = [
        f"CAST({first_id} + file_row_number + 1 AS BIGINT) AS id",
        # A run's id is its start in Unix milliseconds (LakeStorage's SyncRun.id).
        "epoch_ms(strptime(run_id, '%Y%m%dT%H%M%S%gZ')) AS sync_id",
        *(
            _view_column(name, fields[name])
            for name in (
                "vuln_id",
                "name",
                "severity",
                "is_deactivated",
                "deactivation_date",
                "snapshot_date",
                "change_type",
                "changed_fields",
            )
        ),
    ]
    return f"SELECT {', '.join(columns)} FROM {source}"


def _sync_history_view(store: LakeStorage, manifests: dict[Any, Manifest]) -> str:
    # A sync's commit names its run's row; a migration's commit also lists the run log of every
    # earlier day it brought over.
    committed = {
        key
        for manifest in manifests.values()
        for key in (manifest.sync_history, *manifest.keys(layout.SYNC_HISTORY_TABLE))
    }
    others = sorted(
        key
        for key, _ in store.location.list(layout.SYNC_HISTORY_TABLE)
        if key.endswith(".parquet") and key not in committed
    )
    schema = layout.sync_history_schema()
    url = store.location.url
    parts = [f"SELECT * FROM {_source(schema, [url(key) for key in sorted(committed)])}"]
    if others:
        # Runs that never committed: failed, interrupted or superseded ones keep their row; one
        # that says complete without a commit (a crash just before it, or a day being re-run)
        # is not data yet.
        uncommitted = _source(schema, [url(key) for key in others])
        parts.append(f"SELECT * FROM {uncommitted} WHERE status <> 'complete'")
    rows = " UNION ALL BY NAME ".join(parts)
    return f"SELECT {sync_history_columns('epoch_ms(started_at)', _iso)} FROM ({rows})"


def sync_history_columns(run_id_ms: str, iso: Callable[[str], str]) -> str:
    """The select list that shapes the lake's sync_history rows as the SQLite store's
    ``sync_history`` table, for the statistics' SQL on any engine: ``run_id_ms`` is the engine's
    expression for the start in epoch milliseconds, ``iso(column)`` its ISO text of a time."""
    rejected = " + ".join(f"{resource.value}_rejected" for resource in Resource)
    return f"""
    {run_id_ms} AS id,
    {iso("sync_date")} AS sync_date,
    vulnerabilities_fetched AS vulnerabilities_count,
    vulnerabilities_discovered AS new_count,
    vulnerabilities_updated AS updated_count,
    vulnerabilities_remediated AS remediated_count,
    status,
    {iso("started_at")} AS started_at,
    {iso("finished_at")} AS finished_at,
    vulnerabilities_reactivated AS reactivated_count,
    vulnerabilities_resolved AS resolved_count,
    vulnerability_remediations_fetched AS remediations_count,
    vulnerable_assets_fetched AS assets_count,
    {rejected} AS rejected_count,
    message
"""


# --------------------------------------------------------------------------------------------
# Value forms and sources


def _iso(column: str) -> str:
    return f"sqlite_iso({column})"


def _view_column(name: str, arrow_type: pa.DataType) -> str:
    """A column of a resource or history view: booleans 0/1 as in SQLite (its SQL compares them
    with 1 and 0); timestamps and lists keep their types (see the module docstring)."""
    import pyarrow as pa

    column = quote_identifier(name)
    if pa.types.is_boolean(arrow_type):
        return f"CAST({column} AS INTEGER) AS {column}"
    return column


def _source(schema: pa.Schema, urls: Sequence[str], *, row_numbers: bool = False) -> str:
    """The Parquet files at ``urls`` as a subquery with ``schema``'s columns; with no file, an
    empty relation of the same columns and types (an empty lake still answers)."""
    if urls:
        files = ", ".join(quote_literal(url) for url in urls)
        extra = ", file_row_number = true" if row_numbers else ""
        return f"read_parquet([{files}], hive_partitioning = false, union_by_name = true{extra})"
    columns = [
        f"CAST(NULL AS {duckdb_type(field.type)}) AS {quote_identifier(field.name)}"
        for field in schema
    ]
    if row_numbers:
        columns += ["CAST(NULL AS BIGINT) AS file_index", "CAST(NULL AS BIGINT) AS file_row_number"]
    return f"(SELECT {', '.join(columns)} WHERE false)"


def duckdb_type(arrow_type: pa.DataType) -> str:
    import pyarrow as pa

    if pa.types.is_timestamp(arrow_type):
        return "TIMESTAMPTZ" if arrow_type.tz else "TIMESTAMP"
    if pa.types.is_list(arrow_type):
        return f"{duckdb_type(arrow_type.value_type)}[]"
    simple = {
        pa.string(): "VARCHAR",
        pa.float64(): "DOUBLE",
        pa.bool_(): "BOOLEAN",
        pa.int64(): "BIGINT",
        pa.date32(): "DATE",
    }
    if arrow_type not in simple:
        raise TypeError(f"no DuckDB type for the lake's Arrow type {arrow_type}")
    return simple[arrow_type]


_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")


def quote_identifier(name: str) -> str:
    # Column names come from the schemas in layout.py; anything unusual is quoted all the same.
    return name if _IDENTIFIER.fullmatch(name) else '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# --------------------------------------------------------------------------------------------
# S3


def httpfs_extension_path() -> str:
    """The httpfs binary shipped by the ``duckdb-extension-httpfs`` package for this DuckDB."""
    import duckdb

    spec = importlib.util.find_spec("duckdb_extension_httpfs")
    if spec is None or not spec.submodule_search_locations:
        raise StoreError(
            "Reading a lake on S3 needs the duckdb-extension-httpfs package "
            f"(version {duckdb.__version__}, as duckdb): pip install 'vanta-vuln-stats[duckdb]'."
        )
    root = next(iter(spec.submodule_search_locations))
    path = os.path.join(root, "extensions", f"v{duckdb.__version__}", "httpfs.duckdb_extension")
    if not os.path.isfile(path):
        raise StoreError(
            f"duckdb-extension-httpfs has no httpfs build for DuckDB {duckdb.__version__}; "
            "install the version equal to duckdb's."
        )
    return path


def _configure_s3(conn: duckdb.DuckDBPyConnection) -> None:
    """httpfs from its file, and one secret: the endpoint of every engine (fs.s3_endpoint) and
    the credentials and region boto3 would use (its session's resolved chain)."""
    conn.execute(f"LOAD {quote_literal(httpfs_extension_path())}")
    options = {"TYPE": "s3"}
    secret: dict[str, str] = {}
    credentials, region = _aws_session()
    if credentials is not None:
        secret["KEY_ID"] = credentials.access_key
        secret["SECRET"] = credentials.secret_key
        if credentials.token:
            secret["SESSION_TOKEN"] = credentials.token
    secret["REGION"] = region
    endpoint = s3_endpoint()
    if endpoint is not None:
        secret["ENDPOINT"] = endpoint.host
        secret["URL_STYLE"] = "path"
    items = [f"{name} {value}" for name, value in options.items()]
    items += [f"{name} {quote_literal(value)}" for name, value in secret.items()]
    if endpoint is not None:
        items.append(f"USE_SSL {'true' if endpoint.use_ssl else 'false'}")
    # The statement holds the credentials: it is executed, never logged.
    conn.execute(f"CREATE SECRET lake_s3 ({', '.join(items)})")


def _aws_session() -> tuple[Any, str]:
    """(frozen credentials or None, region) as boto3 resolves them."""
    try:
        import botocore.session
    except ImportError:
        raise StoreError(
            "Reading a lake on S3 needs boto3 (pip install 'vanta-vuln-stats[aws]')."
        ) from None
    session = botocore.session.get_session()
    credentials = session.get_credentials()
    frozen = credentials.get_frozen_credentials() if credentials is not None else None
    region = (
        session.get_config_variable("region")
        or os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or "us-east-1"
    )
    return frozen, region
