"""``make bench``: throughput, pacing and statistics benchmarks, written to docs/PERFORMANCE.md.

Every number comes from a real run on this machine against the local stand-ins (the Vanta API
simulator over loopback HTTP, SQLite files in a temporary folder). ``BENCH_SCALE`` (default 1.0)
scales the record counts down for a quick look, e.g. ``make bench BENCH_SCALE=0.1``; the written
report says which scale was used.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from vanta_vuln_stats.devstack.simulator import SimulatorConfig, VantaSimulator
from vanta_vuln_stats.model.fields import Resource
from vanta_vuln_stats.vanta import VantaClient

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "docs" / "PERFORMANCE.md"
SCALE = float(os.environ.get("BENCH_SCALE", "1.0"))
CLIENT_ID, CLIENT_SECRET = "vci_bench", "vcs_bench_secret"


def scaled(count: int) -> int:
    return max(1000, int(count * SCALE))


@dataclass
class Result:
    name: str
    value: str
    target: str
    met: bool | None
    detail: str = ""


def _simulator(records: int, **overrides: object) -> VantaSimulator:
    options: dict[str, object] = {"rate_limit": 0, "token_rate_limit": 0}
    options.update(overrides)
    config = SimulatorConfig(
        records=records,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        **options,  # type: ignore[arg-type]
    )
    return VantaSimulator(config)


@contextmanager
def _simulator_process(records: int) -> Iterator[str]:
    """The simulator in its own process, as Vanta would be: the client's measurements are not
    slowed by the server's work competing for the same interpreter lock."""
    command = [
        sys.executable,
        "-m",
        "vanta_vuln_stats.cli",
        "simulator",
        "--records",
        str(records),
        "--client-id",
        CLIENT_ID,
        "--client-secret",
        CLIENT_SECRET,
        "--rate-limit",
        "0",
        "--token-rate-limit",
        "0",
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if "listening on " not in line:
            raise RuntimeError(f"simulator did not start: {line!r}")
        yield line.rsplit(" ", 1)[-1].strip()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def _client(url: str, **overrides: object) -> VantaClient:
    from vanta_vuln_stats.config.credentials import Credentials

    options: dict[str, object] = {"requests_per_minute": None}
    options.update(overrides)
    return VantaClient(Credentials(CLIENT_ID, CLIENT_SECRET), base_url=url, **options)  # type: ignore[arg-type]


def _walk(client: VantaClient) -> int:
    fetched = 0
    for res in Resource:
        for page in client.iter_pages(res, client.default_params(res)):
            fetched += len(page.records)
    return fetched


def bench_fetch() -> list[Result]:
    """Client + simulator, unthrottled: every resource walked page by page over HTTP, first
    while the simulator generates every record, then with its pages served from memory."""
    records = scaled(50_000)
    results = []
    with _simulator_process(records) as url, _client(url) as client:
        for label in ("simulator generating", "pages served from memory"):
            started = time.perf_counter()
            fetched = _walk(client)
            seconds = time.perf_counter() - started
            rate = fetched / seconds
            results.append(
                Result(
                    f"Fetch, unthrottled ({label})",
                    f"{rate:,.0f} records/s",
                    "> 20,000 records/s",
                    rate > 20_000,
                    f"{fetched:,} records of 3 resources in {seconds:.1f} s, pageSize 100",
                )
            )
    return results


def bench_pacing() -> list[Result]:
    """Under an imposed limit: no window ever over it, no 429, and most of the budget used."""
    limit, window, windows = 40, 2.0, 6
    simulator = _simulator(scaled(20_000), rate_limit=limit, rate_window=window)
    with (
        simulator as sim,
        _client(sim.url, requests_per_minute=limit, rate_window=window, page_size=10) as client,
    ):
        params = client.default_params(Resource.VULNERABILITIES)
        pages = client.iter_pages(Resource.VULNERABILITIES, params)
        next(pages)  # the token is minted and the first request made
        deadline = time.time() + window * windows
        for _page in pages:
            if time.time() >= deadline:
                break
        log = [r for r in sim.request_log if r.path.startswith("/v1/")]
    times = sorted(r.time for r in log)
    too_many = sum(1 for r in log if r.status == 429)
    peak = max(sum(1 for t in times[i:] if t < start + window) for i, start in enumerate(times))
    # Budget used: requests made over the requests the limit allows in the measured span.
    measured = [t for t in times if t >= deadline - window * windows]
    use = len(measured) / (limit * windows)
    return [
        Result(
            "Pacing: budget used per window",
            f"{use:.1%}",
            "> 95%",
            use > 0.95,
            f"limit {limit} per {window:g} s, {len(log)} requests over {windows} windows",
        ),
        Result(
            "Pacing: most requests in any window / 429s",
            f"{peak} / {too_many}",
            f"<= {limit} / 0",
            peak <= limit and too_many == 0,
        ),
    ]


def bench_sqlite_sync(workdir: Path) -> list[Result]:
    """The whole local sync (fetch, normalise, store with change tracking) into a new file and
    again into the same file; best of three trials, each into a new file."""
    from vanta_vuln_stats.pipeline.sync import run_sync
    from vanta_vuln_stats.storage import SQLiteStorage

    records = scaled(50_000)
    trials = []
    with _simulator_process(records) as url, _client(url) as client:
        _walk(client)  # warm-up: the simulator keeps the pages, as a remote API costs us nothing
        for trial in range(3):
            with SQLiteStorage(workdir / f"sync-{trial}.db") as store:
                first = run_sync(client, store)
                second = run_sync(client, store)  # the daily case: everything known, compared
            trials.append((first, second))
    first = max((t[0] for t in trials), key=lambda r: r.records_per_second)
    second = max((t[1] for t in trials), key=lambda r: r.records_per_second)
    spread = ", ".join(f"{t[0].records_per_second:,.0f}" for t in trials)
    return [
        Result(
            "Sync into SQLite, first run (fetch + normalise + store)",
            f"{first.records_per_second:,.0f} records/s",
            "> 20,000 records/s",
            first.records_per_second > 20_000,
            f"{sum(t.fetched for t in first.tallies.values()):,} records in "
            f"{first.seconds:.1f} s; best of 3 ({spread})",
        ),
        Result(
            "Sync into SQLite, repeat run (every record compared)",
            f"{second.records_per_second:,.0f} records/s",
            "> 20,000 records/s",
            second.records_per_second > 20_000,
            f"{second.seconds:.1f} s; best of 3",
        ),
    ]


# The child's own peak RSS. On Linux ru_maxrss also counts the memory of the parent it was forked
# from (kept across exec), so a large benchmark process would inflate it; VmHWM is the peak of
# the child's own address space.
PEAK_RSS = """
def _peak_rss_mb():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
"""


def _child(code: str, *args: str) -> dict[str, object]:
    """Run ``code`` in a fresh interpreter; it prints a JSON object. Adds its peak RSS in MB."""
    wrapper = (
        "import json, resource, sys\n" + PEAK_RSS + code + "\n"
        "out['peak_rss_mb'] = _peak_rss_mb()\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", wrapper, *args], check=True, capture_output=True, text=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


STATS_CHILD = """
import sqlite3, time
from vanta_vuln_stats.stats import compute_statistics
from vanta_vuln_stats.stats.synthetic import SYNTHETIC_AS_OF
conn = sqlite3.connect(sys.argv[1])
started = time.perf_counter()
stats = compute_statistics(conn, now=SYNTHETIC_AS_OF)
out = {"seconds": time.perf_counter() - started, "total": stats["total_count"]}
"""

LEGACY_STATS_CHILD = """
import sqlite3, time
from vanta_vuln_stats.devstack.legacy import legacy_statistics
conn = sqlite3.connect(sys.argv[1])
started = time.perf_counter()
stats = legacy_statistics(conn)
out = {"seconds": time.perf_counter() - started, "total": stats["total_count"]}
"""


def bench_statistics(workdir: Path) -> list[Result]:
    from vanta_vuln_stats.stats import build_synthetic_database

    rows = scaled(1_000_000)
    database = workdir / "stats.db"
    started = time.perf_counter()
    build_synthetic_database(database, rows, seed=7)
    built = time.perf_counter() - started
    ours = _child(STATS_CHILD, str(database))
    legacy = _child(LEGACY_STATS_CHILD, str(database))
    return [
        Result(
            f"Full statistics over {rows:,} vulnerabilities (SQL)",
            f"{ours['seconds']:.2f} s, peak {ours['peak_rss_mb']:.0f} MB",
            "< 2 s",
            float(ours["seconds"]) < 2.0,  # type: ignore[arg-type]
            f"database built in {built:.0f} s; {ours['total']:,} findings in scope",
        ),
        Result(
            "  the earlier tool's approach on the same file (load every raw_data JSON, loop)",
            f"{legacy['seconds']:.2f} s, peak {legacy['peak_rss_mb']:.0f} MB",
            "",
            None,
            f"{legacy['total']:,} rows loaded (it also counts findings no longer reported)",
        ),
    ]


def bench_lake_statistics(workdir: Path) -> list[Result]:
    from bench.lake import measure

    result = measure(scaled(1_000_000), workdir)
    first, again = float(result["first_seconds"]), float(result["again_seconds"])
    equal = "equal to SQLite's" if result["equal_to_sqlite"] else "**not equal** to SQLite's"
    return [
        Result(
            f"Full statistics over {result['rows']:,} vulnerabilities in a Parquet lake (DuckDB)",
            f"{first:.2f} s, peak {result['peak_rss_mb']:.0f} MB",
            "< 1 s",
            first < 1.0,
            f"{again:.2f} s when run again; importing duckdb "
            f"{result['import_seconds']:.2f} s; {int(result['lake_bytes']) / 1e6:.0f} MB of "
            f"Parquet migrated from the SQLite store in {result['migrated_seconds']:.0f} s; "
            f"{equal}",
        )
    ]


def _mb(size: int) -> str:
    return f"{size / 1e6:,.2f} MB" if size < 10e6 else f"{size / 1e6:,.0f} MB"


def bench_queries(workdir: Path) -> list[Result]:
    """Every named query on DuckDB over 30 daily snapshots and over one large snapshot, and
    what Athena would scan for it with and without partition pruning."""
    from bench.queries import measure, selection

    small, large = scaled(100_000), scaled(1_000_000)
    found = measure(small, large, workdir)
    only, large_only = selection()
    results = []
    labels = {
        "days": f"30 days of {found['small']:,}",
        "day": f"one day of {found['large']:,}",
    }
    checked = failed = 0
    shares = []
    for dataset, runs in found["datasets"].items():
        for run in runs:
            given = " ".join(f"{k}={v}" for k, v in run["given"].items())
            name = f"`{run['name']}{' ' + given if given else ''}` over {labels[dataset]}"
            seconds = float(run["seconds"])
            read = run["read"]
            days_read = max((len(days) for days in read.values()), default=run["days"])
            results.append(
                Result(
                    name,
                    f"{seconds:.2f} s, peak {run['peak_rss_mb']:.0f} MB",
                    "< 2 s",
                    seconds < 2.0,
                    f"{run['rows']:,} rows; opening the lake {run['opened']:.2f} s, the query "
                    f"{run['query']:.2f} s; Athena would scan {_mb(run['pruned'])} "
                    f"({days_read} of {run['days']} days), {_mb(run['unpruned'])} unpruned",
                )
            )
            if dataset == "days" and run["needed"] is not None:
                checked += 1
                exact = bool(read) and all(days == run["needed"] for days in read.values())
                cut = len(run["needed"]) == run["days"] or run["pruned"] < run["unpruned"]
                failed += not (exact and cut)
                if len(run["needed"]) < run["days"]:
                    shares.append(run["pruned"] / run["unpruned"])
    if "days" in found["datasets"]:
        results.append(_pruning(checked, failed, shares))
    days = (
        "not built (QUERIES_LARGE_ONLY)"
        if large_only
        else f"derived and committed in {found['days_seconds']:.0f} s"
    )
    results.append(
        Result(
            "  the lakes",
            "",
            "",
            None,
            f"{found['small']:,} simulator findings generated and normalised in "
            f"{found['generated_seconds']:.1f} s; 30 days {days}; the one-day lake "
            f"({found['large']:,}) committed in {found['day_seconds']:.0f} s",
        )
    )
    if only:
        results.append(Result("  only", ", ".join(only), "", None, "QUERIES_ONLY: a partial run"))
    return results


def _pruning(checked: int, failed: int, shares: list[float]) -> Result:
    return Result(
        "Pruning: trend and snapshot queries read only the days they need",
        f"{checked - failed} of {checked}",
        f"{checked} of {checked}",
        failed == 0 and checked > 0,
        f"over the 30-day lake, per table read: the days kept equal `as_of`, or the "
        f"committed days from `since` to `until`; those reading fewer than all days scan "
        f"{min(shares, default=0):.1%} to {max(shares, default=0):.1%} of the unpruned "
        "bytes (the default trend window, latest-30 to latest, spans every day)",
    )


def bench_legacy_store(workdir: Path) -> list[Result]:
    """Storing the same records: per-record SELECT + INSERT + flattened element rows, versus
    normalise + batched upsert with change tracking."""
    import sqlite3

    from vanta_vuln_stats.devstack.legacy import legacy_store
    from vanta_vuln_stats.devstack.simulator import Tenant
    from vanta_vuln_stats.model import normalize_batch
    from vanta_vuln_stats.storage import SQLiteStorage

    count = scaled(20_000)
    tenant = Tenant(records=count, seed=7)
    records = list(
        tenant.iter_records(
            Resource.VULNERABILITIES, params={"includeVulnerabilitiesWithoutSlas": "true"}
        )
    )
    conn = sqlite3.connect(workdir / "legacy.db")
    started = time.perf_counter()
    legacy_store(conn, records)
    legacy_seconds = time.perf_counter() - started
    conn.close()

    store = SQLiteStorage(workdir / "ours.db")
    started = time.perf_counter()
    run = store.begin_sync()
    vulns = Resource.VULNERABILITIES
    for i in range(0, len(records), 1000):
        store.store_batch(run, vulns, normalize_batch(vulns, records[i : i + 1000]).rows)
    store.finish_sync(run, complete=[vulns], fetched={vulns: len(records)})
    ours_seconds = time.perf_counter() - started
    store.close()
    return [
        Result(
            f"Store {len(records):,} vulnerabilities: batched upsert + change tracking",
            f"{len(records) / ours_seconds:,.0f} records/s",
            "",
            None,
            "normalise + store_batch of 1,000 + finish_sync",
        ),
        Result(
            "  the earlier tool's approach (per-record SELECT + INSERT + element rows)",
            f"{len(records) / legacy_seconds:,.0f} records/s",
            "",
            None,
            f"{legacy_seconds / ours_seconds:.0f}x slower",
        ),
    ]


LAKE_RECORDS_CHILD = """
import orjson
from vanta_vuln_stats.devstack.simulator.tenant import Tenant
count = 0
with open(sys.argv[1], "wb") as out:
    for record in Tenant(int(sys.argv[2]), seed=3).iter_records("vulnerabilities"):
        out.write(orjson.dumps(record) + b"\\n")
        count += 1
out = {"records": count}
"""

# Normalise + write, chunk by chunk as the pipeline's write step does, on one core (a Lambda of
# 1,769 MB has one): each 100,000-record chunk is parsed a slice at a time as normalize_part
# asks for the next slice, normalised, ordered and written as one zstd Parquet part. The parse is
# timed apart (records from the API arrive parsed; the write step parses its stored chunks).
LAKE_PARTS_CHILD = """
import itertools, os, time
from datetime import date
from vanta_vuln_stats.storage.lake import LakeLocation, layout
from vanta_vuln_stats.storage.lake.chunks import normalize_part, parse_ndjson
from vanta_vuln_stats.storage.lake.store import write_parquet_bytes
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
location = LakeLocation.parse(sys.argv[2])
chunk_rows, limit = int(sys.argv[3]), int(sys.argv[4])
day = date(2026, 11, 1)
parse_cpu = 0.0

def parsed(lines):
    global parse_cpu
    slices = parse_ndjson(lines)
    while True:
        c0 = time.process_time()
        records = next(slices, None)
        parse_cpu += time.process_time() - c0
        if records is None:
            return
        yield records
        del records

wall = cpu = 0.0
written = rejected = size = chunks = 0
with open(sys.argv[1], "rb") as lines:
    while chunks < limit:
        w0, c0 = time.perf_counter(), time.process_time()
        records = parsed(itertools.islice(lines, chunk_rows))
        part, rejections = normalize_part("vulnerabilities", day, records)
        if part.num_rows == 0 and not rejections:
            break
        data = write_parquet_bytes(part)
        location.write_bytes(layout.part_key("vulnerabilities", day, chunks), data)
        wall += time.perf_counter() - w0
        cpu += time.process_time() - c0
        written += part.num_rows
        rejected += len(rejections)
        size += len(data)
        chunks += 1
        del part, data
out = {"wall": wall, "cpu": cpu, "parse_cpu": parse_cpu, "written": written,
       "rejected": rejected, "bytes": size, "chunks": chunks}
"""

# Two 1M-row snapshots: day 2 is day 1 with 1 finding in 128 gone, as many new, 1 in 256
# deactivated, 1 in 1,024 re-scored and 1 in 4 seen again (lastDetectedDate moved).
LAKE_HISTORY_CHILD = """
import time
from datetime import date, datetime, UTC, timedelta
import pyarrow as pa, pyarrow.compute as pc, pyarrow.parquet as pq
from vanta_vuln_stats.model.fields import Resource
from vanta_vuln_stats.storage.lake.changes import apply_snapshot

def every(table, k, offset):
    rows = pa.array(range(table.num_rows))
    return pc.equal(pc.bit_wise_and(pc.add(rows, offset), k - 1), 0)

def change(table, column, mask, value):
    index = table.schema.get_field_index(column)
    values = pc.if_else(mask, value, table[column])
    return table.set_column(index, table.schema.field(column), values)

snapshot = pq.read_table(sys.argv[1], partitioning=None).drop(["run_date"])
stamp = datetime(2026, 11, 1, 6, tzinfo=UTC)
w0 = time.perf_counter()
first = apply_snapshot(
    Resource.VULNERABILITIES, None, snapshot, stamp=stamp, run_date=stamp.date(), run_id="1"
)
first_seconds = time.perf_counter() - w0
new = snapshot.filter(every(snapshot, 128, 1))
new_ids = pc.binary_join_element_wise(new["id"], "-new", "")
new = new.set_column(0, snapshot.schema.field("id"), new_ids)
day2 = pa.concat_tables([snapshot.filter(pc.invert(every(snapshot, 128, 0))), new])
day2 = change(day2, "is_deactivated", every(day2, 256, 3), True)
seen = pa.scalar(stamp + timedelta(days=1), pa.timestamp("ms", tz="UTC"))
day2 = change(day2, "last_detected_date", every(day2, 4, 1), seen)
day2 = change(day2, "cvss_severity_score", every(day2, 1024, 5), 9.9)
w0 = time.perf_counter()
second = apply_snapshot(
    Resource.VULNERABILITIES, first.state, day2, stamp=stamp + timedelta(days=1),
    run_date=stamp.date() + timedelta(days=1), run_id="2",
)
seconds = time.perf_counter() - w0
c = second.counts
out = {"seconds": seconds, "first_seconds": first_seconds, "rows": snapshot.num_rows,
       "discovered": c.discovered, "updated": c.updated, "remediated": c.remediated,
       "resolved": c.resolved, "events": second.events.num_rows}
"""


def bench_lake(workdir: Path) -> list[Result]:
    """The lake's write path and change detection at a million findings."""
    records = scaled(1_000_000)
    raw = workdir / "vulnerabilities.ndjson"
    made = _child(LAKE_RECORDS_CHILD, str(raw), str(records))
    raw_bytes = raw.stat().st_size
    lake = workdir / "lake-parts"
    write = _child(LAKE_PARTS_CHILD, str(raw), str(lake), "100000", "1000000")
    one = _child(LAKE_PARTS_CHILD, str(raw), str(workdir / "lake-one"), "100000", "1")
    parse_cpu = float(write["parse_cpu"])
    per_cpu = write["written"] / (write["cpu"] - parse_cpu)
    ratio = raw_bytes / write["bytes"]
    day = lake / "vulnerabilities" / "year=2026" / "month=11" / "day=01"
    history = _child(LAKE_HISTORY_CHILD, str(day))
    return [
        Result(
            f"Normalise + write {write['written']:,} vulnerabilities to the lake, one core",
            f"{per_cpu:,.0f} records/s",
            "> 50,000 records/s per core",
            per_cpu > 50_000,
            f"normalize_part + Parquet (zstd) in parts of 100,000, per CPU-second; parsing the "
            f"JSON lines besides: {parse_cpu:.1f} CPU s ({write['written'] / parse_cpu:,.0f} "
            f"records/s), {write['written'] / write['cpu']:,.0f} records/s with it; "
            f"{write['chunks']} parts; {made['records']:,} records made",
        ),
        Result(
            "One 100,000-record chunk from JSON lines: parse + normalise + write, peak memory",
            f"{one['peak_rss_mb']:.0f} MB",
            "< 300 MB",
            one["peak_rss_mb"] < 300,
            "the whole process (interpreter, pyarrow), as the write step runs: records parsed "
            "10,000 at a time, the part ordered column by column",
        ),
        Result(
            "Parquet on disk vs the raw JSON",
            f"{ratio:.1f}x smaller",
            ">= 10x",
            ratio >= 10,
            f"{write['bytes'] / 1e6:,.1f} MB of Parquet (zstd) for {raw_bytes / 1e6:,.1f} MB of "
            "JSON",
        ),
        Result(
            f"Change history between two {history['rows']:,}-row snapshots",
            f"{history['seconds']:.2f} s, peak {history['peak_rss_mb']:.0f} MB",
            "< 5 s",
            history["seconds"] < 5,
            f"Arrow hash lookup + compare; {history['events']:,} events ({history['discovered']:,} "
            f"discovered, {history['updated']:,} updated, {history['remediated']:,} remediated, "
            f"{history['resolved']:,} resolved); a first day of {history['rows']:,} took "
            f"{history['first_seconds']:.2f} s",
        ),
    ]


LAKE_WRITE_CHILD = """
import os, time
import orjson
import pyarrow.parquet as pq
from vanta_vuln_stats.model import RAW_COLUMN, normalize_batch, normalize_to_table, rows_to_table
# One core, as a Lambda of 1,769 MB has: Arrow's and Parquet's threads share it.
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
path, mode, out_path, repeats = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
with open(path, "rb") as source:  # a record a line: parsing adds no peak of its own
    records = [orjson.loads(line) for line in source]
with open("/proc/self/statm") as statm:
    loaded_mb = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

def columnar(include_raw):
    table, rejections = normalize_to_table("vulnerabilities", records, include_raw=include_raw)
    pq.write_table(table, out_path, compression="zstd")
    return table.num_rows

def rows():
    batch = normalize_batch("vulnerabilities", records)
    table = rows_to_table("vulnerabilities", batch.rows).drop_columns([RAW_COLUMN])
    pq.write_table(table, out_path, compression="zstd")
    return table.num_rows

run = {"columnar": lambda: columnar(False), "columnar_raw": lambda: columnar(True), "rows": rows}
seconds, cpu_seconds = [], []
for _ in range(repeats):
    started, cpu_started = time.perf_counter(), time.process_time()
    written = run[mode]()
    seconds.append(time.perf_counter() - started)
    cpu_seconds.append(time.process_time() - cpu_started)
out = {
    "seconds": min(seconds),
    "cpu_seconds": min(cpu_seconds),
    "records": len(records),
    "written": written,
    "loaded_mb": loaded_mb,
}
"""


def bench_lake_write(workdir: Path) -> list[Result]:
    """Normalise and write a Parquet file (zstd) on one core: the columnar path the lake
    writer uses, and the row path before it; then the peak memory of a 100,000-record chunk."""
    import orjson

    from vanta_vuln_stats.devstack.simulator import Tenant

    count, chunk = scaled(200_000), scaled(100_000)
    tenant = Tenant(records=count, seed=7)
    params = {"includeVulnerabilitiesWithoutSlas": "true"}
    records = list(tenant.iter_records(Resource.VULNERABILITIES, params=params))
    batch_file, chunk_file = workdir / "lake-batch.jsonl", workdir / "lake-chunk.jsonl"
    batch_file.write_bytes(b"\n".join(map(orjson.dumps, records)))
    chunk_file.write_bytes(b"\n".join(map(orjson.dumps, records[:chunk])))
    del records, tenant
    out = str(workdir / "lake.parquet")

    def rate(mode: str, repeats: int) -> tuple[float, float]:
        """Records per second of CPU time (the core's own work, whatever else shares the
        machine) and of wall-clock time."""
        run = _child(LAKE_WRITE_CHILD, str(batch_file), mode, out, str(repeats))
        records = float(run["records"])  # type: ignore[arg-type]
        return records / float(run["cpu_seconds"]), records / float(run["seconds"])  # type: ignore[arg-type]

    (columnar, columnar_wall), (with_raw, _) = rate("columnar", 3), rate("columnar_raw", 3)
    rows, _ = rate("rows", 1)
    memory = _child(LAKE_WRITE_CHILD, str(chunk_file), "columnar", out, "1")
    row_memory = _child(LAKE_WRITE_CHILD, str(chunk_file), "rows", out, "1")
    peak, loaded = float(memory["peak_rss_mb"]), float(memory["loaded_mb"])  # type: ignore[arg-type]
    row_peak = float(row_memory["peak_rss_mb"])  # type: ignore[arg-type]
    # The targets are measured on the write step's own path by ``bench_lake``; these
    # compare the two normalisers on the same records, all parsed first.
    return [
        Result(
            f"Lake write: normalise + Parquet (zstd) of {count:,} vulnerabilities, one core",
            f"{columnar:,.0f} records/s",
            "",
            None,
            f"normalize_to_table without raw_data, then the table unordered, per CPU-second; "
            f"best of 3; {columnar_wall:,.0f} records/s by the wall clock; {with_raw:,.0f} with "
            "raw_data (the lake's path with ordering is the lake section's first line)",
        ),
        Result(
            "  the row path (normalize_batch + rows_to_table)",
            f"{rows:,.0f} records/s",
            "",
            None,
            f"{columnar / rows:.1f}x slower",
        ),
        Result(
            f"Lake write: peak memory of a {chunk:,}-record chunk parsed all at once",
            f"{peak:.0f} MB",
            "",
            None,
            f"{loaded:.0f} MB with the parsed records alone; the row path peaks at "
            f"{row_peak:.0f} MB; the write step parses 10,000 at a time (the lake section's "
            "second line)",
        ),
    ]


def bench_write_parquet_memory(workdir: Path) -> list[Result]:
    """WriteParquet's peak memory for a batch of one raw chunk (10,000 records) and of five (the
    template's WriteBatchRecords default), against its MemorySize in template.yaml."""
    from bench.write_memory import measure

    found = measure(workdir)
    memory, per = int(found["memory_mb"]), int(found["chunk_records"])
    labels = {"vulnerabilities": "vulnerabilities", "vulnerability_remediations": "remediations"}
    results = []
    by_resource: dict[str, dict[int, dict[str, float]]] = {}
    for run in found["runs"]:
        peak, base = run["peak_kb"] / 1024, run["baseline_kb"] / 1024
        chunks, records = int(run["chunks"]), int(run["rows"]) + int(run["rejected"])
        by_resource.setdefault(run["resource"], {})[chunks] = {"peak": peak, "base": base}
        what = "one chunk" if chunks == 1 else f"{chunks} chunks"
        results.append(
            Result(
                f"WriteParquet: {what} of {labels[run['resource']]} ({records:,} records), "
                "peak RSS",
                f"{peak:.0f} MB (+{peak - base:.0f} MB)",
                f"< {memory} MB",
                peak < memory,
                f"baseline {base:.0f} MB after the handler's imports and pyarrow; write_batch "
                f"{run['seconds']:.2f} s; {run['rows']:,} rows, {run['bytes'] / 1e6:.2f} MB of "
                f"Parquet; {memory - peak:,.0f} MB ({(memory - peak) / memory:.0%}) of "
                f"MemorySize to spare; VmHWM {run['peak_hwm_kb'] / 1024:.0f} MB",
            )
        )
    chunks = int(found["chunks"])
    for name, runs in by_resource.items():
        one, many = runs[1], runs[chunks]
        step = (many["peak"] - one["peak"]) / (chunks - 1)
        fits = int((memory - one["peak"]) / step) + 1 if step > 0 else 0
        gzip_mb = found["gzip_bytes"][name] / chunks / 1e6
        results.append(
            Result(
                f"  each further chunk of {labels[name]}",
                f"+{step:.0f} MB",
                "",
                None,
                f"from {one['peak']:.0f} MB at one chunk to {many['peak']:.0f} MB at {chunks}; "
                f"linearly, {memory} MB would hold about {fits:,} chunks ({fits * per:,} "
                f"records) a batch; a chunk is {gzip_mb:.1f} MB of gzip NDJSON",
            )
        )
    return results


def bench_layers(workdir: Path) -> list[Result]:
    """Both Lambda layers built with shared/Makefile (as sam build does), and each function with
    its layers, unzipped."""
    from bench.layers import bench_layers as measure

    return measure(workdir)


def bench_handler_imports() -> list[Result]:
    """Each handler's cold import in a fresh interpreter, over the floor of its libraries."""
    from bench.layers import bench_handler_imports as measure

    return measure()


def bench_workflow() -> list[Result]:
    """One daily sync through the workflow deployed in emulated AWS: transitions, Lambda
    GB-seconds, payloads and the lake it leaves (docs/COST.md prices them)."""
    from bench.workflow import bench_workflow as measure

    return measure()


def bench_function_sizing(workdir: Path) -> list[Result]:
    """Each function's peak memory and duration in a fresh interpreter, at the tenant sizes that
    matter, with the MemorySize and Timeout a fixed rule gives (docs/DECISIONS.md chooses)."""
    from bench.sizing import bench_function_sizing as measure

    return measure(workdir)


def _machine() -> str:
    memory = ""
    try:
        with open("/proc/meminfo") as info:
            kb = int(info.readline().split()[1])
        memory = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores{memory}; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}"
    )


def _section(name: str, results: list[Result]) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"### {name} ({now}, scale {SCALE:g})",
        "",
        "| Benchmark | Result | Target | Met | Notes |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        met = "" if r.met is None else ("yes" if r.met else "**no**")
        lines.append(f"| {r.name} | {r.value} | {r.target} | {met} | {r.detail} |")
    return "\n".join(lines)


def _previous_sections() -> dict[str, str]:
    """The sections of the current report, by benchmark name, so running some benchmarks keeps
    the others' last results (each section says when it was measured)."""
    try:
        text = REPORT.read_text(encoding="utf-8")
    except OSError:
        return {}
    body = text.split("\n## Results\n", 1)[-1].split("\n## How each number", 1)[0]
    sections: dict[str, str] = {}
    for chunk in body.split("\n### ")[1:]:
        name = chunk.split(" ", 1)[0]
        sections[name] = "### " + chunk.strip()
    return sections


def write_report(results: dict[str, list[Result]]) -> str:
    sections = _previous_sections()
    for name, found in results.items():
        sections[name] = _section(name, found)
    ordered = [sections[name] for name in BENCHMARKS if name in sections]
    lines = [
        "# Performance",
        "",
        "Written by `make bench` (bench/__main__.py; `python -m bench NAME...` runs some of",
        "them and keeps the others' last results). Re-run a benchmark after changes that touch",
        "what it measures. Targets come from the issues.",
        "",
        f"- Machine: {_machine()}",
        "",
        "## Results",
        "",
        "\n\n".join(ordered),
        "",
        NOTES,
    ]
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    return "\n".join(lines)


NOTES = """\
## How each number is measured

- **Fetch**: one `VantaClient` walks all three resources page by page (pageSize 100) from a
  simulator process with no rate limit over loopback HTTP; records/s = records received / wall
  time. The first walk includes the simulator generating and encoding every record on the same
  two cores; on the second it serves the pages it kept (`--cache-pages`), which is closer to a
  remote API, whose work is not done on this machine.
- **Pacing**: simulator and client both set to N requests per window; the client walks pages
  (pageSize 10) for six windows. From the simulator's request log: for every request that starts
  a full window, the number of requests in that window, averaged and divided by N (budget used),
  and the maximum (must not exceed N). 429 = answers over the limit.
- **Sync into SQLite**: `run_sync` (the code behind `--sync`) from an unthrottled simulator
  serving kept pages, into a new SQLite file, then again into the same file (every record
  compared with the stored one); the best of three trials, since the machine's two cores are
  shared with the simulator process and anything else running.
- **Statistics**: `compute_statistics` with no filters over a synthetic store
  (`stats/synthetic.py`) in a fresh process; peak memory is that process's maximum RSS. The
  earlier tool's approach runs in its own fresh process over the same file.
- **Statistics over the lake**: the same synthetic store migrated into a local Parquet lake
  (`bench/lake.py`, with `storage/lake/migration`), then `lake_connection` +
  `compute_statistics` in a fresh process (duckdb imported first, timed apart), three times:
  the first (reported) includes opening the connection and everything a first run in a new
  process does; the statistics' SQL without filters is translated ahead and ships with the
  package (`storage/lake/translations.py`), so no run loads sqlglot. The result is checked
  equal to the SQLite store's statistics.
- **Store comparison**: the same simulator records stored by the earlier tool's method
  (`devstack/legacy.py`) and by normalise + `store_batch`.
- **Lake** (the issue's lake targets): the vulnerabilities of a simulated tenant of 1,000,000
  (950,306 served) written as JSON lines. Normalise + write: in a fresh process
  pinned to one core (a Lambda of 1,769 MB has one), chunks of 100,000 lines go through
  `normalize_part` (parsed 10,000 at a time, normalised, ordered) and `write_parquet_bytes` to a
  local lake directory, as the write step does; records/s = records / CPU seconds, the parse's
  CPU seconds (measured around each slice) taken out and shown apart. Peak memory: the same for
  one chunk alone, the process's VmHWM. Size: the Parquet parts against the JSON lines. History:
  `apply_snapshot` on the day's parts read back, then on a second day derived from them with
  vectorised changes (1 in 128 gone, as many new, 1 in 256 deactivated, 1 in 4 seen again, 1 in
  1,024 re-scored), timed in a fresh process.
- **Lake write** (a comparison, no target): simulator vulnerabilities written as JSON lines and
  all parsed with orjson first, in a fresh process pinned to one core; records/s = records / CPU
  time of normalising (columnar, or the row path) and writing one unordered zstd Parquet file,
  best of three; the row path once. Peak memory is that process's VmHWM for one chunk held
  whole (interpreter, pyarrow, the parsed records, the table and the writer).
- **WriteParquet memory** (bench/write_memory.py): one prepared run in a local lake directory
  holds raw chunks of 10,000 simulator records per resource, written as FetchPages writes them
  (pages of 100 as `{"resource":...,"record":...}` backup lines, gzip level 1, at
  `steps.chunk_key`); not scaled by `BENCH_SCALE`, as a chunk is always about 10,000 records.
  Each batch (one chunk; five, the template's WriteBatchRecords of 50,000) runs
  `steps.write_batch` in a fresh interpreter that first imports `functions/write_parquet/app.py`
  and `pyarrow`, `pyarrow.parquet`, `pyarrow.compute`: the baseline. Peak is `ru_maxrss` after
  the call, the increase is over `ru_maxrss` at the baseline; VmHWM is shown as a check. The
  interpreter is started through a small launcher process, because Linux carries the peak of
  the process a program is exec'd from into its `ru_maxrss` (from this benchmark process it
  would report hundreds of MB that are not the handler's). Against MemorySize from
  template.yaml; in Lambda add the runtime's own few MB and boto3 with its S3 client (a local
  lake needs neither), and the part is uploaded from the bytes already in memory.
- **Named queries**: a lake of 30 committed days (one day of simulator records generated and
  normalised once, each day derived from it with vectorised changes, committed through
  `LakeStorage`) and a lake of one large day (the same records repeated under new ids); each
  template with its default parameters (`now` fixed at noon of the last day) in a fresh process:
  opening the lake (commit manifests, views) plus translating and running the query, imports
  apart; peak memory is that process's peak RSS. Athena's scan: with pruning, the DuckDB engine's
  estimate (compressed column chunks of the columns read, in the partitions kept); without, the
  same columns over every committed file of the tables read, from the Parquet metadata.
- **Layers**: `make -C shared build-<Layer>` into a temporary folder (pip downloads the pinned
  python3.12 manylinux_2_28 wheels, pyarrow is trimmed and stripped, bytecode compiled with a
  local python3.12 when there is one); sizes are the bytes of every file, as Lambda counts its
  250 MB unzipped limit for a function and its layers together. A function's code is its
  source folder (0 while it is not written).
- **Handler imports**: in a fresh interpreter (this machine's Python, the package from
  `shared/`), the imports a cold start pays before its first invocation is done: the floor,
  `import app` from `functions/<name>/`, and pyarrow (+ parquet, compute) for the functions with
  the Parquet layer; timed inside the process so interpreter start is left out; best of five.
  The floor is `import boto3, httpx, aws_lambda_powertools, jsonschema` timed the same way; the
  result is the whole minus the floor. The X-Ray SDK is shown on its own line: the handlers load
  it only in Lambda with tracing on.
- **Workflow** (bench/workflow.py): template.yaml deployed into emulated AWS (moto server, the
  in-process Lambda runtime) with its default FetchPageBudget and WriteBatchRecords and
  `RequestsPerMinute` 0; the simulator in this process (no faults, no rate limit) serves the
  tenant; one execution `sync-<date>`, timed from its start to its end as seen by polling.
  Transitions: the states the execution's history enters, plus the Distributed Map's child
  executions (moto runs them but does not list them, so their count comes from
  `describe_map_run` times the item processor's states, with WriteParquet's retries added).
  GB-seconds: Billed Duration (rounded up to the ms, as Lambda does) x the configured Memory
  Size from each REPORT line the runtime writes to `/aws/lambda/<name>`; the handlers share
  this machine's two cores and one interpreter lock with moto and the simulator, and the fetch
  is not paced, so FetchPages' time here is not its time against Vanta (docs/COST.md adds the
  pacing). Payload: the largest input or output of any history event. S3: the bucket's current
  objects by top-level prefix, and every object version written. docs/COST.md prices the run.
- **Function sizing** (bench/sizing.py): each function's handler called once in a fresh
  interpreter that first imports its `functions/<name>/app.py` (the baseline); peak is the
  interpreter's VmHWM after the call (its own address space, whatever process started it), the
  duration is the handler call's wall time, imports shown apart. The lake steps use a local lake
  directory holding two days of a simulated tenant (100,000 and 300,000 vulnerabilities, with
  about 1.5x as many remediations and 5% as many assets): Prepare of the second day; both days'
  raw chunks written as FetchPages writes them and their batches written by `write_batch` (not
  measured); Finalize of the first day (no history), then PlanChunks and Finalize of the second
  (state and change history against the first). By default 1,000,000 is extrapolated on the
  line through the two sizes, which keeps the run near 4 minutes; `SIZING_RECORDS` lists the
  sizes to measure (`100000,300000,1000000`, as in the section above, measures 1,000,000 too:
  its two days took 8 to 14 minutes to fill here). The load average at the start and end is
  shown: other work on the machine stretches the durations, not the peaks. WriteParquet is the
  WriteParquet-memory benchmark's largest batch (a batch is WriteBatchRecords whatever the
  tenant). FetchPages: one invocation with the template's FetchPageBudget, unpaced, from a
  simulator process. UpdatePartitions (the first run: database and tables created),
  CatalogOnS3Event (the same day again), Notify (SNS, no Slack), StartSync and QueryApi (a
  named query; Athena answers at once) against a moto server, with the second day's lake
  copied to its S3. "By the rule": MemorySize = peak at 1,000,000 x 1.5 rounded up to 128 MB
  (at least 128); Timeout = duration at 1,000,000 x the CPU share Lambda gives that memory
  (one vCPU at 1,769 MB, proportionally less below) x 3, rounded up to 10 s, between 30 and 900
  s. docs/DECISIONS.md ("Function memory and timeouts") chooses the template's values from them.

## What limits each number (read with the table above)

- **A first sync** is bound by this process's own Python work (parsing pages, normalising,
  preparing rows), which the interpreter lock serialises, and by SQLite writing wide rows that
  carry the raw JSON, plus a history row per discovered finding. What helps already: the next
  pages are fetched in a thread, batches are written in another (SQLite works without the lock),
  secondary indexes are built once after a first load, orjson parses and encodes. Against the
  real API none of this matters much: at Vanta's documented 50 requests a minute a sync receives
  about 83 records a second; the local rate is what a benchmark or a re-import sees.
- **A repeat sync** is faster: unchanged records cost a string comparison and a last-seen update.
- **Statistics** scan the covering index `idx_vulnerabilities_statistics` rather than rows with
  raw JSON; the remediation and trend queries use their own covering indexes. Peak memory is
  the whole process (interpreter, SQLite's cache and sorts); no record is loaded into Python.
- **The lake's write** is bound by the columnar normaliser's Python work (reading each value of
  each record once to prove it may take Arrow's path; about 70% of the CPU), then ordering the
  part and encoding zstd Parquet. Parsing JSON (orjson) is apart and fast once Python's cyclic
  collector is paused. Peak memory is the interpreter and pyarrow (about 60 MB), the part
  (about 55 MB per 100,000 findings), a parsed slice of 10,000 records (about 25 MB) and the
  Parquet writer's buffers.
- **Change history** is bound by gathering the previous state's rows in snapshot order (every
  tracked column, long texts included) and comparing them; the ids are hashed once. Peak memory
  is both days' columns plus the gathered copy, which is why Finalize's MemorySize grows with
  the tenant.
- **Statistics over the lake** are DuckDB's scans of the state file (two threads), plus opening
  the connection; the unfiltered statistics' SQL ships translated, so no run pays sqlglot.
- **The earlier tool's store** is shown appending its element rows (had it deleted a record's old
  element rows first, every write would scan that table and it would be far slower); its
  statistics load every record's JSON, which is what costs the time and the memory.
"""

BENCHMARKS: dict[str, Callable[..., list[Result]]] = {
    "fetch": bench_fetch,
    "pacing": bench_pacing,
    "sqlite_sync": bench_sqlite_sync,
    "statistics": bench_statistics,
    "lake_statistics": bench_lake_statistics,
    "legacy_store": bench_legacy_store,
    "lake": bench_lake,
    "lake_write": bench_lake_write,
    "write_parquet_memory": bench_write_parquet_memory,
    "queries": bench_queries,
    "layers": bench_layers,
    "handler_imports": bench_handler_imports,
    "workflow": bench_workflow,
    "function_sizing": bench_function_sizing,
}


def main(argv: list[str]) -> int:
    chosen = argv or list(BENCHMARKS)
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
        return 2
    results: dict[str, list[Result]] = {}
    with tempfile.TemporaryDirectory(prefix="vvs-bench-") as tmp:
        for name in chosen:
            print(f"running {name} ...", flush=True)
            bench = BENCHMARKS[name]
            needs_dir = bench.__code__.co_argcount == 1
            results[name] = bench(Path(tmp)) if needs_dir else bench()
    print(write_report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
