"""SQLite's SQL on DuckDB (storage/lake/engine.py): the same expression, the same value.

Each expression is evaluated by SQLite over the SQLite store's value forms (ISO text, 0/1, JSON
text lists) and by DuckDB, translated, over the lake views' forms (TIMESTAMPTZ, 0/1, lists).
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from vanta_vuln_stats.storage.lake import translations
from vanta_vuln_stats.storage.lake.engine import (
    duckdb_sql,
    install_sqlite_functions,
    stored_translations,
    translate,
)

ROWS = [
    ("2024-02-29T23:59:59.999Z", "Énorme CVE-2024-0001 in LibÉ", '["GHSA-Ab-Cd", "Ünïcode"]', 1),
    ("0999-01-02T03:04:05.006Z", "plain", "[]", 0),
    (None, None, '["x"]', None),
]
START = "2023-12-31T12:00:00.500Z"


@pytest.fixture
def engines() -> Iterator[tuple[sqlite3.Connection, duckdb.DuckDBPyConnection]]:
    lite = sqlite3.connect(":memory:")
    lite.execute("CREATE TABLE t (n INTEGER, ts TEXT, name TEXT, tags TEXT, flag BOOLEAN)")
    lite.executemany(
        "INSERT INTO t VALUES (?, ?, ?, ?, ?)", [(n, *row) for n, row in enumerate(ROWS)]
    )
    duck = duckdb.connect(":memory:")
    # A zone far from UTC: nothing may depend on the session's zone.
    duck.execute("SET TimeZone = 'Pacific/Kiritimati'")
    install_sqlite_functions(duck)
    duck.execute(
        "CREATE TABLE t (n INTEGER, ts TIMESTAMPTZ, name VARCHAR, tags VARCHAR[], flag INT)"
    )
    for n, (ts, name, tags, flag) in enumerate(ROWS):
        duck.execute(
            "INSERT INTO t VALUES (?, CAST(? AS TIMESTAMPTZ), ?, CAST(json(?) AS VARCHAR[]), ?)",
            [n, ts, name, tags, flag],
        )
    yield lite, duck
    lite.close()
    duck.close()


EXPRESSIONS = [
    "substr(ts, 1, 10)",
    "substr(ts, 1, 7)",
    "substr(ts, 12, 12)",
    "substr(name, 2, 4)",
    "lower(name)",
    "upper(name)",
    "instr(lower(name), 'cve-2024')",
    "julianday(ts)",
    f"CAST(ROUND((julianday(ts) - julianday('{START}')) * 86400000) AS BIGINT)",
    "flag IS NOT 1",
    "COALESCE(flag, 0) = 0",
    "EXISTS (SELECT 1 FROM json_each(tags) WHERE instr(lower(json_each.value), 'ghsa-ab') > 0)",
    "EXISTS (SELECT 1 FROM json_each(tags) WHERE instr(lower(json_each.value), 'ünï') > 0)",
    "ts >= ?",
    "ts < ?",
]


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_duckdb_gives_sqlites_value(engines: Any, expression: str) -> None:
    lite, duck = engines
    sql = f"SELECT {expression} FROM t ORDER BY n"
    params = ["2024-02-29T23:59:59.999Z"] if "?" in expression else []
    expected = lite.execute(sql, params).fetchall()
    actual = duck.execute(duckdb_sql(sql), params).fetchall()
    assert [tuple(None if v is None else _plain(v) for v in row) for row in actual] == expected


def _plain(value: Any) -> Any:
    # DuckDB answers booleans where SQLite answers 0/1.
    return int(value) if isinstance(value, bool) else value


def test_translations_are_cached() -> None:
    sql = "SELECT substr(ts, 1, 10) FROM t WHERE flag IS NOT 1"
    assert duckdb_sql(sql) is duckdb_sql(sql)
    assert "IS DISTINCT FROM 1" in duckdb_sql(sql)


def test_the_stored_translations_are_the_statistics_texts_translated_now() -> None:
    # Stale (a statistic's SQL or the translation changed): run
    # python -m vanta_vuln_stats.storage.lake.translations
    stored = stored_translations()
    assert translations.statistics_translations() == stored
    assert len(stored) >= 5
    assert all(duckdb_sql(sql) == translate(sql) for sql in stored)
    assert translations.main(["--check"]) == 0


def test_statistics_over_the_lake_need_no_sql_translation_in_a_new_process(
    tmp_path: Path,
) -> None:
    code = (
        "import sys\n"
        "from vanta_vuln_stats.stats import compute_statistics\n"
        "from vanta_vuln_stats.storage.lake import LakeStorage\n"
        "from vanta_vuln_stats.storage.lake.engine import lake_connection\n"
        "with lake_connection(LakeStorage(sys.argv[1])) as conn:\n"
        "    stats = compute_statistics(conn)\n"
        "assert stats['total_count'] == 0, stats\n"
        "print('sqlglot' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False"
