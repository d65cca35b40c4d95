"""WriteParquet's peak memory per batch, against the MemorySize template.yaml gives it.

Raw chunks of 10,000 simulator records are written into a local lake exactly as FetchPages
writes them (pages of 100 as backup lines, gzip NDJSON, ``steps._write_chunk``); then, in a
fresh interpreter per measurement, the handler's imports and pyarrow are loaded (the baseline)
and ``steps.write_batch`` runs one batch: of one chunk, and of five (50,000 records, the
template's WriteBatchRecords default).

``python -m bench write_parquet_memory`` writes its section of docs/PERFORMANCE.md (``make bench``
runs it with the others); ``python -m bench.write_memory`` only prints the numbers.

Peak memory is ``ru_maxrss``. On Linux a process's ``ru_maxrss`` keeps the peak of the process
image it was exec'd from (the bench process, large after other benchmarks), so each measuring
interpreter is started by a small launcher interpreter, whose own peak is far below the
baseline; the child's ``VmHWM`` (its own address space's peak) is reported next to it as a check.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from itertools import islice
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHUNK_RECORDS = 10_000
PAGE_RECORDS = 100
BATCH_CHUNKS = 5
AS_OF = date(2026, 11, 1)
STARTED_AT = "2026-11-01T06:00:00Z"
FUNCTION = "WriteParquetFunction"

# Starts the measuring interpreter as its own child, so that one's ru_maxrss starts from this
# small process, not from the bench process (see the module's docstring).
LAUNCHER = "import subprocess, sys; sys.exit(subprocess.run(sys.argv[1:]).returncode)"

WRITE_CHILD = """
import json, os, resource, sys, time
sys.path.insert(0, sys.argv[1])  # functions/write_parquet/, as Lambda puts the code first

def rss():
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    with open("/proc/self/status") as status:
        fields = dict(line.split(":", 1) for line in status)
    return kb, int(fields["VmHWM"].split()[0]), int(fields["VmRSS"].split()[0])

started = time.perf_counter()
import app  # what the handler imports: Powertools, the step functions
import pyarrow, pyarrow.parquet, pyarrow.compute  # the Parquet layer, which write_batch loads
from vanta_vuln_stats.pipeline import steps
imported = time.perf_counter() - started
base_kb, base_hwm, base_rss = rss()
run = steps.Run.from_payload(json.loads(sys.argv[2]))
batch = json.loads(sys.argv[3])
started = time.perf_counter()
result = steps.write_batch(run, batch)
seconds = time.perf_counter() - started
peak_kb, peak_hwm, _ = rss()
print(json.dumps({
    "import_seconds": imported, "seconds": seconds,
    "baseline_kb": base_kb, "baseline_rss_kb": base_rss, "peak_kb": peak_kb,
    "baseline_hwm_kb": base_hwm, "peak_hwm_kb": peak_hwm,
    "rows": result["rows"], "rejected": result["rejected"], "bytes": result["bytes"],
}))
"""

RESOURCES = ("vulnerabilities", "vulnerability_remediations")


def memory_size(logical_id: str = FUNCTION) -> int:
    """The function's MemorySize in template.yaml (MB): its own, a parameter's default, or the
    Globals'."""
    from vanta_vuln_stats.cloud.stack import function_label
    from vanta_vuln_stats.devstack.invoke import function_settings

    settings = function_settings(ROOT / "template.yaml", function_label(logical_id))
    return int(settings["MemorySize"])


def _records(resource: str, count: int) -> Iterator[dict[str, Any]]:
    """``count`` raw API records of ``resource`` from a simulated tenant, in feed order."""
    from vanta_vuln_stats.devstack.simulator.tenant import Tenant

    # Remediations outnumber vulnerabilities (about 1.5 per finding): a tenant of ``count``
    # findings has enough of both.
    params = {"includeVulnerabilitiesWithoutSlas": "true"} if resource == RESOURCES[0] else None
    records = Tenant(count, seed=7).iter_records(resource, as_of=AS_OF, params=params)
    return islice(records, count)


def write_resource_chunks(
    store: Any, run: Any, fetch: dict[str, Any], resource: Any, records: Iterator[dict[str, Any]]
) -> int:
    """Every record of ``records`` as the resource's raw chunks, as FetchPages writes them: pages
    of PAGE_RECORDS, each its own backup lines (steps._walk), CHUNK_RECORDS // PAGE_RECORDS pages
    a chunk, gzipped and stored under steps.chunk_key by steps._write_chunk. Updates ``fetch``'s
    chunk number and counts; returns the records written."""
    import orjson

    from vanta_vuln_stats.pipeline import steps
    from vanta_vuln_stats.storage.lake.store import backup_lines

    written = 0
    while True:
        lines = []
        for _page in range(CHUNK_RECORDS // PAGE_RECORDS):
            page = list(islice(records, PAGE_RECORDS))
            if not page:
                break
            written += len(page)
            lines.append(backup_lines(resource, (orjson.dumps(r).decode() for r in page)))
        if not lines:
            return written
        steps._write_chunk(store, run, resource, fetch, lines)


def write_chunks(lake: Path, chunks: int) -> dict[str, Any]:
    """A prepared run in ``lake`` and ``chunks`` raw chunks of CHUNK_RECORDS records for each of
    RESOURCES, written as FetchPages writes them. Returns the run payload, the chunk keys per
    resource and the raw sizes."""
    from vanta_vuln_stats.model.fields import Resource
    from vanta_vuln_stats.pipeline import steps

    state = steps.prepare({}, execution="bench", started_at=STARTED_AT, lake=str(lake))
    run = steps.Run.from_payload(state["run"])
    store = run.store()
    fetch = state["fetch"]
    keys: dict[str, list[str]] = {}
    sizes: dict[str, int] = {}
    for name in RESOURCES:
        resource = Resource(name)
        fetch["chunk"] = 0
        write_resource_chunks(store, run, fetch, resource, _records(name, chunks * CHUNK_RECORDS))
        keys[name] = [steps.chunk_key(run.run_id, resource, n) for n in range(fetch["chunk"])]
        sizes[name] = sum(len(store.read_bytes(k)) for k in keys[name])
    return {"run": run.to_payload(), "keys": keys, "gzip_bytes": sizes}


def child_env() -> dict[str, str]:
    """A measuring interpreter's environment: the package from shared/, a region, the handlers'
    Powertools names, and no Lambda function name (so no X-Ray SDK outside Lambda)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(ROOT / "shared"), os.environ.get("PYTHONPATH")) if p
        ),
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        "POWERTOOLS_SERVICE_NAME": "vanta-vuln-stats",
        "POWERTOOLS_METRICS_NAMESPACE": "VantaVulnStats",
    }
    env.pop("AWS_LAMBDA_FUNCTION_NAME", None)  # no X-Ray SDK outside Lambda
    return env


def _measure(run: dict[str, Any], batch: dict[str, Any]) -> dict[str, Any]:
    env = child_env()
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            LAUNCHER,
            sys.executable,
            "-c",
            WRITE_CHILD,
            str(ROOT / "functions" / "write_parquet"),
            json.dumps(run),
            json.dumps(batch),
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(workdir: Path, chunks: int = BATCH_CHUNKS) -> dict[str, Any]:
    """Write the chunks, then measure a batch of one chunk and one of ``chunks`` for each
    resource, each in a fresh interpreter."""
    lake = workdir / "write-memory-lake"
    started = time.perf_counter()
    made = write_chunks(lake, chunks)
    runs = []
    for name in RESOURCES:
        for count in (1, chunks):
            batch = {"resource": name, "part": len(runs), "chunks": made["keys"][name][:count]}
            found = _measure(made["run"], batch)
            found.update(resource=name, chunks=count)
            runs.append(found)
    return {
        "runs": runs,
        "memory_mb": memory_size(),
        "chunk_records": CHUNK_RECORDS,
        "gzip_bytes": made["gzip_bytes"],
        "chunks": chunks,
        "seconds": time.perf_counter() - started,
    }


def main(argv: list[str]) -> int:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="vvs-write-memory-") as tmp:
        print(json.dumps(measure(Path(tmp)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
