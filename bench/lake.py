"""Statistics over a Parquet lake: the synthetic store of the statistics benchmark, migrated into
a lake, then ``compute_statistics`` over DuckDB on its files, against SQLite on the same data.

``python -m bench lake_statistics`` writes its section of docs/PERFORMANCE.md (``make bench``
runs it with the others); ``python -m bench.lake [rows]`` only prints the numbers.

The lake is made by the migration (``storage/lake/migration``): one committed day holding the
store's state, its whole change history and run log, so the statistics of both must be equal,
which the benchmark checks.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

LAKE_STATS_CHILD = """
import time
started = time.perf_counter()
import duckdb  # the engine's library, as the SQLite benchmark has sqlite3 loaded
imported = time.perf_counter() - started
from vanta_vuln_stats.stats import compute_statistics
from vanta_vuln_stats.stats.synthetic import SYNTHETIC_AS_OF
from vanta_vuln_stats.storage.lake import LakeStorage
from vanta_vuln_stats.storage.lake.engine import lake_connection
lake = LakeStorage(sys.argv[1])
times = []
for _ in range(3):
    started = time.perf_counter()
    with lake_connection(lake) as conn:
        stats = compute_statistics(conn, now=SYNTHETIC_AS_OF)
    times.append(time.perf_counter() - started)
out = {"first": times[0], "again": min(times[1:]), "imports": imported}
out["total"] = stats["total_count"]
"""


def measure(rows: int, workdir: Path) -> dict[str, Any]:
    """Build the synthetic store, migrate it into a lake, time the statistics over the lake in
    a fresh process (opening the connection included; the first run also translates the SQL),
    and check they equal the SQLite store's."""
    from bench.__main__ import _child
    from vanta_vuln_stats.stats import build_synthetic_database, compute_statistics
    from vanta_vuln_stats.stats.synthetic import SYNTHETIC_AS_OF
    from vanta_vuln_stats.storage.lake import LakeStorage
    from vanta_vuln_stats.storage.lake.engine import lake_connection
    from vanta_vuln_stats.storage.lake.migration import migrate

    database = workdir / "lake-stats.db"
    started = time.perf_counter()
    build_synthetic_database(database, rows, seed=7)
    built = time.perf_counter() - started
    started = time.perf_counter()
    migrate(database, str(workdir / "lake"))
    migrated = time.perf_counter() - started
    lake = LakeStorage(str(workdir / "lake"))
    size = sum(path.stat().st_size for path in (workdir / "lake").rglob("*") if path.is_file())

    timed = _child(LAKE_STATS_CHILD, str(workdir / "lake"))
    conn = sqlite3.connect(database)
    try:
        expected = compute_statistics(conn, now=SYNTHETIC_AS_OF)
    finally:
        conn.close()
    with lake_connection(lake) as duck:
        actual = compute_statistics(duck, now=SYNTHETIC_AS_OF)
    for stats in (expected, actual):
        stats.pop("generated_at")
    return {
        "rows": rows,
        "built_seconds": built,
        "migrated_seconds": migrated,
        "lake_bytes": size,
        "first_seconds": timed["first"],
        "again_seconds": timed["again"],
        "import_seconds": timed["imports"],
        "peak_rss_mb": timed["peak_rss_mb"],
        "in_scope": timed["total"],
        "equal_to_sqlite": actual == expected,
    }


def main(argv: list[str]) -> int:
    rows = int(argv[0]) if argv else 1_000_000
    with tempfile.TemporaryDirectory(prefix="vvs-lake-bench-") as tmp:
        result = measure(rows, Path(tmp))
    print(json.dumps(result, indent=1))
    return 0 if result["equal_to_sqlite"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
