"""Statistics over a Parquet lake: the synthetic store of the statistics benchmark, exported into
a lake, then ``compute_statistics`` over DuckDB on its files, against SQLite on the same data.

``python -m bench lake_statistics`` writes its section of docs/PERFORMANCE.md (``make bench``
runs it with the others); ``python -m bench.lake [rows]`` only prints the numbers.

The export keeps every row and value of the SQLite store: the state of each resource becomes the
state file of the last day, each synced day's history events a history part with its own commit
manifest, each sync_history row a run's row. The statistics of both must therefore be equal,
which the benchmark checks.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vanta_vuln_stats.model.fields import Resource
from vanta_vuln_stats.model.records import parse_timestamp
from vanta_vuln_stats.storage.lake import layout
from vanta_vuln_stats.storage.lake.store import LakeStorage, Manifest, write_parquet_bytes

if TYPE_CHECKING:
    import pyarrow as pa

CHUNK_ROWS = 100_000


def _converter(arrow_type: pa.DataType) -> Callable[[Sequence[Any]], pa.Array]:
    """SQLite's value form (ISO text, 0/1, JSON text) to the lake's Arrow type."""
    import pyarrow as pa

    if pa.types.is_timestamp(arrow_type):
        return lambda values: pa.array(values, pa.string()).cast(arrow_type)
    if pa.types.is_boolean(arrow_type):
        return lambda values: pa.array([None if v is None else bool(v) for v in values])
    if pa.types.is_list(arrow_type):
        return lambda values: pa.array(
            [None if v is None else json.loads(v) for v in values], arrow_type
        )
    return lambda values: pa.array(values, arrow_type)


def _chunks(conn: sqlite3.Connection, sql: str) -> Iterator[list[tuple[Any, ...]]]:
    cursor = conn.execute(sql)
    while rows := cursor.fetchmany(CHUNK_ROWS):
        yield rows


def _state_table(conn: sqlite3.Connection, resource: Resource) -> pa.Table:
    import pyarrow as pa

    schema = layout.state_schema(resource)
    present = {row[1] for row in conn.execute(f"PRAGMA table_info({resource.value})")}
    # Remediation rows keep no seen times in SQLite: their last write stands in.
    sources = {
        field.name: field.name if field.name in present else "last_updated"
        for field in schema
        if field.name not in ("resolved_at", "last_seen_run_date")
    }
    sources["resolved_at"] = "resolved_at" if "resolved_at" in present else "NULL"
    seen = "last_seen_at" if "last_seen_at" in present else "last_updated"
    sources["last_seen_run_date"] = f"substr({seen}, 1, 10)"
    select = ", ".join(sources[field.name] for field in schema)
    tables = []
    for rows in _chunks(conn, f"SELECT {select} FROM {resource.value} ORDER BY id"):
        columns = list(zip(*rows, strict=True))
        arrays = []
        for field, values in zip(schema, columns, strict=True):
            if field.name == "last_seen_run_date":
                arrays.append(pa.array([date.fromisoformat(v) for v in values], pa.date32()))
            else:
                arrays.append(_converter(field.type)(values))
        tables.append(pa.Table.from_arrays(arrays, schema=schema))
    return pa.concat_tables(tables) if tables else schema.empty_table()


def export_to_lake(database: Path, root: Path) -> LakeStorage:
    """The SQLite store at ``database`` as a lake at ``root`` (a new directory)."""
    import pyarrow as pa

    lake = LakeStorage(str(root))
    location = lake.location
    conn = sqlite3.connect(database)
    try:
        runs = conn.execute(
            "SELECT sync_date, started_at, finished_at, status, vulnerabilities_count, "
            "new_count, updated_count, remediated_count, reactivated_count, resolved_count, "
            "remediations_count, assets_count, rejected_count, message "
            "FROM sync_history ORDER BY id"
        ).fetchall()
        days = [parse_timestamp(run[1]) for run in runs]
        last_day = days[-1].date()
        states = {}
        for resource in Resource:
            key = layout.state_key(resource, last_day)
            location.write_bytes(key, write_parquet_bytes(_state_table(conn, resource)))
            states[resource.value] = key

        history_schema = layout.history_schema()
        run_ids = {started.date(): layout.run_id_of(started) for started in days}
        by_day: dict[date, list[tuple[Any, ...]]] = {}
        for rows in _chunks(
            conn,
            "SELECT vuln_id, change_type, changed_fields, snapshot_date, name, severity, "
            "is_deactivated, deactivation_date FROM vulnerability_history ORDER BY id",
        ):
            for row in rows:
                by_day.setdefault(date.fromisoformat(row[3][:10]), []).append(row)
        history_files: dict[date, list[dict[str, Any]]] = {}
        for day, rows in by_day.items():
            columns = list(zip(*rows, strict=True))
            arrays = [
                _converter(field.type)(values)
                for field, values in zip(history_schema, columns, strict=False)
            ]
            arrays.append(pa.array([run_ids[day]] * len(rows)))
            arrays.append(pa.array([day] * len(rows), pa.date32()))
            table = pa.Table.from_arrays(arrays, schema=history_schema)
            key = layout.part_key(layout.HISTORY_TABLE, day, 0)
            data = write_parquet_bytes(table)
            location.write_bytes(key, data)
            history_files[day] = [{"key": key, "rows": len(rows), "bytes": len(data)}]

        previous: date | None = None
        for run in runs:
            manifest = _commit_run(lake, run, history_files, states, previous, last_day)
            previous = manifest.run_date
    finally:
        conn.close()
    return lake


def _commit_run(
    lake: LakeStorage,
    run: tuple[Any, ...],
    history_files: dict[date, list[dict[str, Any]]],
    states: dict[str, str],
    previous: date | None,
    last_day: date,
) -> Manifest:
    import pyarrow as pa

    (sync_date, started_at, finished_at, status, vulnerabilities, new, updated, remediated) = run[
        :8
    ]
    reactivated, resolved, remediations, assets, rejected, message = run[8:]
    started = parse_timestamp(started_at)
    finished = parse_timestamp(finished_at)
    day = started.date()
    run_id = layout.run_id_of(started)
    values: dict[str, Any] = dict.fromkeys(layout.sync_history_schema().names, 0)
    values |= {
        "run_id": run_id,
        "run_date": day,
        "sync_date": parse_timestamp(sync_date),
        "started_at": started,
        "finished_at": finished,
        "duration_seconds": (finished - started).total_seconds(),
        "status": status,
        "message": message,
        "reconciled": True,
        "superseded_by": None,
        "base_run_date": previous,
        "bytes_written": None,
        "vulnerabilities_fetched": vulnerabilities,
        "vulnerabilities_written": vulnerabilities,
        "vulnerabilities_rejected": rejected,
        "vulnerabilities_discovered": new,
        "vulnerabilities_updated": updated,
        "vulnerabilities_remediated": remediated,
        "vulnerabilities_reactivated": reactivated,
        "vulnerabilities_resolved": resolved,
        "vulnerability_remediations_fetched": remediations,
        "vulnerable_assets_fetched": assets,
    }
    for resource in Resource:
        values[f"{resource.value}_complete"] = True
    table = pa.Table.from_pylist([values], schema=layout.sync_history_schema())
    history_key = layout.sync_history_key(day, run_id)
    lake.location.write_bytes(history_key, write_parquet_bytes(table))
    manifest = Manifest(
        run_date=day,
        run_id=run_id,
        stamp=started,
        started_at=started,
        finished_at=finished,
        base_run_date=previous,
        files={layout.HISTORY_TABLE: history_files.get(day, [])},
        # Only the last day's state is known (the store keeps the latest state).
        state=states if day == last_day else {},
        backup=None,
        counts={},
        sync_history=history_key,
    )
    lake.location.write_bytes(layout.commit_key(day), manifest.to_json())
    return manifest


LAKE_STATS_CHILD = """
import time
started = time.perf_counter()
import duckdb, sqlglot  # the engine's libraries, as the SQLite benchmark has sqlite3 loaded
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
    """Build the synthetic store, export it to a lake, time the statistics over the lake in a
    fresh process (opening the connection included; the first run also translates the SQL),
    and check they equal the SQLite store's."""
    from bench.__main__ import _child
    from vanta_vuln_stats.stats import build_synthetic_database, compute_statistics
    from vanta_vuln_stats.stats.synthetic import SYNTHETIC_AS_OF
    from vanta_vuln_stats.storage.lake.engine import lake_connection

    database = workdir / "lake-stats.db"
    started = time.perf_counter()
    build_synthetic_database(database, rows, seed=7)
    built = time.perf_counter() - started
    started = time.perf_counter()
    lake = export_to_lake(database, workdir / "lake")
    exported = time.perf_counter() - started
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
        "exported_seconds": exported,
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
