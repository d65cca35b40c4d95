"""Each function's peak memory and duration, for its MemorySize and Timeout.

The workflow benchmark (bench/workflow.py) runs every function in one process, so it cannot say
how much memory each one needs. Here every invocation runs in a fresh interpreter: it imports the
function's ``app.py`` as Lambda would (the baseline), then calls its handler once with the event
the workflow would send. Peak memory is the interpreter's VmHWM (its own address space's peak;
the baseline is VmHWM after the imports); the duration is the handler call's wall time.

The lake steps run against a local lake directory (``steps`` write it through the same
ObjectStore as on S3), for two days of a simulated tenant so that Finalize computes change
history against a committed previous day:

- for each tenant size (100,000 and 300,000 vulnerabilities by default, with about 1.5x as many
  remediations and 5% as many assets, as the simulator serves them), Prepare of the second day,
  then both days' raw chunks written as FetchPages writes them and their batches written by
  ``steps.write_batch`` (two processes at once, not measured), then Finalize of the first day,
  PlanChunks and Finalize of the second;
- WriteParquet comes from bench/write_memory.py (a batch is WriteBatchRecords, whatever the
  tenant's size);
- FetchPages: one invocation with the template's FetchPageBudget against a simulator process;
- UpdatePartitions, CatalogOnS3Event, Notify, StartSync and QueryApi against emulated AWS (moto
  server), with the second day's lake copied to its S3: their work does not grow with the tenant.

A size at 1,000,000 is extrapolated linearly from the two measured sizes unless it is measured
(``SIZING_RECORDS=100000,300000,1000000``). ``python -m bench function_sizing`` writes the section
of docs/PERFORMANCE.md; ``python -m bench.sizing`` prints the numbers.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from bench.__main__ import CLIENT_ID, CLIENT_SECRET, ROOT, Result, scaled
from bench.write_memory import child_env, write_resource_chunks

TARGET = 1_000_000
DEFAULT_SIZES = (100_000, 300_000)
DAYS = (date(2026, 11, 1), date(2026, 11, 2))
DATABASE = "vanta_vulns"
FULL_VCPU_MB = 1769  # Lambda gives a function one full vCPU at 1,769 MB, a share below it
HEADROOM = 1.5
TIMEOUT_FACTOR = 3
TIMEOUT_FLOOR = 30
TIMEOUT_CAP = 900
MEMORY_STEP = 128
MEMORY_FLOOR = 128

FUNCTIONS = {
    "PrepareFunction": "prepare",
    "FetchPagesFunction": "fetch_pages",
    "PlanChunksFunction": "plan_chunks",
    "WriteParquetFunction": "write_parquet",
    "FinalizeFunction": "finalize",
    "UpdatePartitionsFunction": "update_partitions",
    "NotifyFunction": "notify",
    "CatalogOnS3EventFunction": "catalog_on_s3_event",
    "StartSyncFunction": "start_sync",
    "QueryApiFunction": "query_api",
}

HANDLER_CHILD = """
import json, sys, time
from types import SimpleNamespace
sys.path.insert(0, sys.argv[1])  # the function's folder, as Lambda puts its code first

def memory_mb():
    with open("/proc/self/status") as status:
        fields = dict(line.split(":", 1) for line in status if ":" in line)
    return int(fields["VmHWM"].split()[0]) / 1024

started = time.perf_counter()
import app
imported = time.perf_counter() - started
baseline = memory_mb()
event = json.loads(sys.argv[2])
context = SimpleNamespace(
    function_name=sys.argv[3], function_version="$LATEST", memory_limit_in_mb=1024,
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:" + sys.argv[3],
    aws_request_id="bench", get_remaining_time_in_millis=lambda: 900_000,
)
started = time.perf_counter()
result = app.handler(event, context)
seconds = time.perf_counter() - started
out = {"import_seconds": imported, "seconds": seconds, "baseline_mb": baseline,
       "peak_mb": memory_mb(), "result": result}
print()
print(json.dumps(out, default=str))
"""


@dataclass
class Invocation:
    """One handler call in a fresh interpreter."""

    import_seconds: float
    seconds: float
    baseline_mb: float
    peak_mb: float
    result: Any = None


@dataclass
class Sizing:
    """A function's measurements: by tenant size (vulnerabilities) or one size for all."""

    logical_id: str
    by_size: dict[int, Invocation] = field(default_factory=dict)
    note: str = ""
    scales: bool = True  # grows with the tenant (else measured once, the same at any size)

    def at(self, records: int) -> tuple[float, float, bool]:
        """(peak MB, seconds, measured) at ``records``: measured, or a straight line through
        the two largest measured sizes (constant for a step that does not grow)."""
        if records in self.by_size:
            run = self.by_size[records]
            return run.peak_mb, run.import_seconds + run.seconds, True
        sizes = sorted(self.by_size)
        if len(sizes) < 2 or not self.scales:
            run = self.by_size[sizes[-1]]
            return run.peak_mb, run.import_seconds + run.seconds, False
        low, high = self.by_size[sizes[-2]], self.by_size[sizes[-1]]
        share = (records - sizes[-1]) / (sizes[-1] - sizes[-2])
        peak = high.peak_mb + (high.peak_mb - low.peak_mb) * share
        seconds = high.seconds + (high.seconds - low.seconds) * share + high.import_seconds
        return max(peak, high.peak_mb), max(seconds, high.seconds), False


def recommend_memory(peak_mb: float, *, headroom: float = HEADROOM) -> int:
    """``peak_mb`` x ``headroom``, rounded up to MEMORY_STEP MB, at least MEMORY_FLOOR."""
    wanted = peak_mb * headroom
    return max(MEMORY_FLOOR, math.ceil(wanted / MEMORY_STEP) * MEMORY_STEP)


def recommend_timeout(
    seconds: float,
    memory_mb: int,
    *,
    factor: float = TIMEOUT_FACTOR,
    floor: int = TIMEOUT_FLOOR,
    cap: int = TIMEOUT_CAP,
) -> int:
    """``seconds`` measured on one core, stretched by the CPU share Lambda gives ``memory_mb``
    (a whole vCPU from FULL_VCPU_MB), times ``factor``; rounded up to 10 s, within floor and
    cap. Treating every second as CPU-bound errs on the long side for waits on the network."""
    stretched = seconds * max(1.0, FULL_VCPU_MB / memory_mb) * factor
    return min(cap, max(floor, math.ceil(stretched / 10) * 10))


def _sizes() -> list[int]:
    text = os.environ.get("SIZING_RECORDS", "")
    sizes = [int(s) for s in text.split(",") if s.strip()] or list(DEFAULT_SIZES)
    return sorted({scaled(s) for s in sizes})


def invoke(function: str, event: dict[str, Any], env: dict[str, str] | None = None) -> Invocation:
    """``functions/<function>/app.py``'s handler with ``event`` in a fresh interpreter."""
    folder = str(ROOT / "functions" / function)
    done = subprocess.run(
        [sys.executable, "-c", HANDLER_CHILD, folder, json.dumps(event), function],
        env={**child_env(), **(env or {})},
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{function} failed:\n{done.stderr[-3000:]}")
    found = json.loads(done.stdout.strip().splitlines()[-1])
    return Invocation(**found)


# ------------------------------------------------------------------------------------------
# The tenant's days in a local lake


def fill(run_payload: dict[str, Any], records: int) -> dict[str, Any]:
    """Every resource of a ``records``-vulnerability tenant at the run's date as raw chunks (as
    FetchPages writes them), planned and written as WriteParquet would. Returns the final fetch
    state and the plan."""
    from vanta_vuln_stats.devstack.simulator.tenant import Tenant
    from vanta_vuln_stats.model.fields import Resource
    from vanta_vuln_stats.pipeline import steps

    run = steps.Run.from_payload(run_payload)
    store = run.store()
    fetch = steps.initial_fetch_state(run)
    tenant = Tenant(records, seed=7)
    for resource in run.resources:
        fetch["chunk"] = 0
        wide = resource is Resource.VULNERABILITIES
        params = {"includeVulnerabilitiesWithoutSlas": "true"} if wide else None
        found = tenant.iter_records(resource.value, as_of=run.run_date, params=params)
        counts = fetch["counts"][resource.value]
        counts["fetched"] = write_resource_chunks(store, run, fetch, resource, iter(found))
        counts["pages"] = math.ceil(counts["fetched"] / 100)
    fetch.update(done=True, cursor=None)
    plan = steps.plan_chunks(run, fetch)
    batches = json.loads(store.read_bytes(f"{steps.run_prefix(run.run_id)}/plan.json"))
    for batch in batches:
        steps.write_batch(run, batch)
    return {"fetch": fetch, "plan": plan}


def _fill_in_process(run_payload: dict[str, Any], records: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.sizing", "fill", json.dumps(run_payload), str(records)],
        env={**child_env(), "PYTHONPATH": f"{ROOT / 'shared'}{os.pathsep}{ROOT}"},
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if done.returncode != 0:
        raise RuntimeError(f"fill failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _prepare_event(day: date) -> dict[str, Any]:
    return {
        "request": {"run_date": day.isoformat()},
        "execution": f"sync-{day.isoformat()}",
        "started_at": f"{day.isoformat()}T06:00:00Z",
    }


def measure_lake(lake: Path, records: int, found: dict[str, Sizing]) -> dict[str, Any]:
    """Two days of a ``records`` tenant in ``lake``; Prepare, PlanChunks and Finalize measured.
    Returns the second day's run, fetch, plan and result."""
    from vanta_vuln_stats.pipeline import steps

    env = {"VANTA_LAKE": str(lake)}
    first = steps.prepare(**_prepare_event(DAYS[0]), lake=str(lake))  # type: ignore[arg-type]
    prepared = invoke("prepare", _prepare_event(DAYS[1]), env)
    found["PrepareFunction"].by_size[records] = prepared
    runs = [first["run"], prepared.result["run"]]
    started = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:  # the two days at once, one core each
        filled = list(pool.map(lambda run: _fill_in_process(run, records), runs))
    fill_seconds = time.perf_counter() - started
    first_day = invoke("finalize", {"run": runs[0], **filled[0]}, env)
    second = {"run": runs[1], "fetch": filled[1]["fetch"]}
    planned = invoke("plan_chunks", second, env)
    found["PlanChunksFunction"].by_size[records] = planned
    finalized = invoke("finalize", {**second, "plan": planned.result}, env)
    found["FinalizeFunction"].by_size[records] = finalized
    counts = finalized.result["counts"]
    return {
        **second,
        "plan": planned.result,
        "result": finalized.result,
        "fill_seconds": fill_seconds,
        "first_day": first_day,
        "counts": counts,
    }


# ------------------------------------------------------------------------------------------
# FetchPages against the simulator, the others against emulated AWS


def measure_fetch(workdir: Path, records: int) -> Invocation:
    from bench.__main__ import _simulator_process
    from vanta_vuln_stats.pipeline import steps

    from .workflow import _defaults

    lake = workdir / "sizing-fetch-lake"
    state = steps.prepare({}, execution="bench", started_at="2026-11-01T06:00:00Z", lake=str(lake))
    with _simulator_process(records) as url:
        env = {
            "VANTA_LAKE": str(lake),
            "VANTA_API_URL": url,
            "VANTA_CLIENT_ID": CLIENT_ID,
            "VANTA_CLIENT_SECRET": CLIENT_SECRET,
            "VANTA_REQUESTS_PER_MINUTE": "0",
            "FETCH_PAGE_BUDGET": str(_defaults()["FetchPageBudget"]),
        }
        for name in ("VANTA_SECRET_ID", "VANTA_TOKEN_STORE", "VANTA_VULN_STATS_CONFIG"):
            env[name] = ""
        return invoke("fetch_pages", {"run": state["run"], "fetch": state["fetch"]}, env)


def _upload(s3: Any, bucket: str, lake: Path) -> None:
    """The lake directory into ``bucket`` (the raw backups apart: nothing here reads them)."""
    for path in sorted(lake.rglob("*")):
        key = path.relative_to(lake).as_posix()
        if path.is_file() and not key.startswith("raw_json/"):
            s3.upload_file(str(path), bucket, key)


def measure_aws(lake: Path, day: dict[str, Any], found: dict[str, Sizing]) -> None:
    """UpdatePartitions, CatalogOnS3Event, Notify, StartSync and QueryApi on emulated AWS, with
    ``lake`` (its second day committed) copied to a bucket."""
    import boto3

    from vanta_vuln_stats.devstack.aws import EmulatedAws
    from vanta_vuln_stats.devstack.events import query_api_event

    with EmulatedAws():
        session = boto3.Session(region_name="us-east-1")
        s3 = session.client("s3")
        bucket = "vvs-sizing"
        s3.create_bucket(Bucket=bucket)
        _upload(s3, bucket, lake)
        topic = session.client("sns").create_topic(Name="vvs-sizing")["TopicArn"]
        sfn = session.client("stepfunctions")
        machine = sfn.create_state_machine(
            name="vvs-sizing-sync",
            definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
            roleArn="arn:aws:iam::123456789012:role/sfn",
        )["stateMachineArn"]
        session.client("athena").create_work_group(
            Name="vvs-sizing",
            Configuration={"ResultConfiguration": {"OutputLocation": f"s3://{bucket}/athena/"}},
        )
        env = {
            **{k: os.environ[k] for k in ("AWS_ENDPOINT_URL", "MOTO_PORT") if k in os.environ},
            "VANTA_LAKE": f"s3://{bucket}",
            "GLUE_DATABASE": DATABASE,
            "NOTIFICATION_TOPIC_ARN": topic,
            "SLACK_WEBHOOK_SECRET_ID": "",
            "STATE_MACHINE_ARN": machine,
            "VANTA_ATHENA_WORKGROUP": "vvs-sizing",
            "VANTA_ATHENA_OUTPUT_LOCATION": f"s3://{bucket}/athena-results/",
            "QUERY_WAIT_SECONDS": "5",
        }
        run = {**day["run"], "lake": f"s3://{bucket}"}
        catalog = invoke("update_partitions", {"run": run, "result": day["result"]}, env)
        found["UpdatePartitionsFunction"].by_size[0] = catalog
        commit = day["result"]["manifest"]
        event = {"detail": {"bucket": {"name": bucket}, "object": {"key": commit}}}
        found["CatalogOnS3EventFunction"].by_size[0] = invoke("catalog_on_s3_event", event, env)
        notify = {
            "status": "SUCCEEDED",
            "execution": run["execution"],
            "run": run,
            "result": day["result"],
            "catalog": catalog.result,
        }
        found["NotifyFunction"].by_size[0] = invoke("notify", notify, env)
        start = {"run_date": "2026-11-03"}
        found["StartSyncFunction"].by_size[0] = invoke("start_sync", start, env)
        query = {"query": "top_cves", "parameters": {"as_of": DAYS[1].isoformat(), "top": 10}}
        event = query_api_event("POST", "/api/v1/query", query)
        found["QueryApiFunction"].by_size[0] = invoke("query_api", event, env)


def measure_write(workdir: Path) -> Invocation:
    """WriteParquet's largest batch (WriteBatchRecords of vulnerabilities) from
    bench/write_memory.py: peak is its ru_maxrss there (VmHWM agrees within a MB)."""
    from bench.write_memory import measure

    found = measure(workdir)
    run = max(found["runs"], key=lambda r: r["peak_hwm_kb"])
    return Invocation(
        import_seconds=run["import_seconds"],
        seconds=run["seconds"],
        baseline_mb=run["baseline_hwm_kb"] / 1024,
        peak_mb=run["peak_hwm_kb"] / 1024,
        result={"resource": run["resource"], "rows": run["rows"], "chunks": run["chunks"]},
    )


def measure(workdir: Path) -> dict[str, Any]:
    started = time.perf_counter()
    load = os.getloadavg()[0]
    sizes = _sizes()
    found = {logical_id: Sizing(logical_id) for logical_id in FUNCTIONS}
    for logical_id in (
        "FetchPagesFunction",
        "WriteParquetFunction",
        "UpdatePartitionsFunction",
        "NotifyFunction",
        "CatalogOnS3EventFunction",
        "StartSyncFunction",
        "QueryApiFunction",
    ):
        found[logical_id].scales = False
    days: dict[int, dict[str, Any]] = {}
    for records in sizes:
        print(f"  tenant of {records:,} ...", flush=True)
        days[records] = measure_lake(workdir / f"sizing-lake-{records}", records, found)
    smallest = sizes[0]
    print("  FetchPages ...", flush=True)
    found["FetchPagesFunction"].by_size[0] = measure_fetch(workdir, smallest)
    print("  WriteParquet ...", flush=True)
    found["WriteParquetFunction"].by_size[0] = measure_write(workdir)
    print("  emulated AWS ...", flush=True)
    measure_aws(workdir / f"sizing-lake-{smallest}", days[smallest], found)
    return {
        "sizes": sizes,
        "found": found,
        "days": days,
        "seconds": time.perf_counter() - started,
        # Other work on the machine stretches the durations (not the memory): shown with them.
        "load": (load, os.getloadavg()[0]),
    }


# ------------------------------------------------------------------------------------------
# The report


def _template_sizes() -> dict[str, tuple[int, int]]:
    from vanta_vuln_stats.cloud.stack import function_label
    from vanta_vuln_stats.devstack.invoke import function_settings

    sizes = {}
    for logical_id in FUNCTIONS:
        settings = function_settings(ROOT / "template.yaml", function_label(logical_id))
        sizes[logical_id] = (int(settings["MemorySize"]), int(settings["Timeout"]))
    return sizes


def results(measured: dict[str, Any]) -> list[Result]:
    sizes: list[int] = measured["sizes"]
    found: dict[str, Sizing] = measured["found"]
    template = _template_sizes()
    rows = []
    for logical_id, sizing in found.items():
        name = logical_id.removesuffix("Function")
        peak, seconds, direct = sizing.at(TARGET)
        memory = recommend_memory(peak)
        timeout = recommend_timeout(seconds, memory)
        now_memory, now_timeout = template[logical_id]
        if sizing.scales:
            parts = []
            for records in sizes:
                run = sizing.by_size[records]
                parts.append(
                    f"{records:,}: peak {run.peak_mb:.0f} MB, {run.seconds:.2f} s "
                    f"(+{run.import_seconds:.2f} s imports)"
                )
            measured_at = "; ".join(parts)
            how = "measured" if direct else "extrapolated linearly"
            value = f"{peak:.0f} MB, {seconds:.1f} s at {TARGET:,} ({how})"
        else:
            run = next(iter(sizing.by_size.values()))
            measured_at = f"{run.seconds:.2f} s (+{run.import_seconds:.2f} s imports)"
            value = f"{run.peak_mb:.0f} MB, {run.import_seconds + run.seconds:.1f} s"
        base = min(r.baseline_mb for r in sizing.by_size.values())
        rows.append(
            Result(
                f"{name}: peak RSS, duration",
                value,
                f"< {now_memory} MB",
                peak < now_memory,
                f"{measured_at}; baseline after imports {base:.0f} MB; by the rule "
                f"MemorySize {memory}, Timeout {timeout} (template: {now_memory} MB, "
                f"{now_timeout} s)",
            )
        )
    for records, day in measured["days"].items():
        counts = day["counts"]
        first = day["first_day"]
        rows.append(
            Result(
                f"  the tenant of {records:,}",
                "",
                "",
                None,
                ", ".join(f"{r} {c['written']:,}" for r, c in counts.items())
                + f" written on the second day, its change history computed against the "
                f"first; the first day's Finalize (no history) peak {first.peak_mb:.0f} MB, "
                f"{first.seconds:.1f} s; both days filled in {day['fill_seconds']:.0f} s",
            )
        )
    fetch = found["FetchPagesFunction"].by_size[0].result["counts"]
    pages = sum(int(c["pages"]) for c in fetch.values())
    rows.append(
        Result(
            "  notes",
            "",
            "",
            None,
            f"fetch: one invocation, {pages} pages unpaced from a simulator process on the other "
            f"core; whole run {measured['seconds']:.0f} s, load average "
            f"{measured['load'][0]:.1f} at its start and {measured['load'][1]:.1f} at its end "
            f"on {os.cpu_count()} cores; durations are this machine's core "
            f"(about a Lambda at {FULL_VCPU_MB} MB, one vCPU; below it Lambda gives a share of "
            "one, so a CPU-bound step takes longer in proportion)",
        )
    )
    return rows


def bench_function_sizing(workdir: Path) -> list[Result]:
    return results(measure(workdir))


def main(argv: list[str]) -> int:
    if argv[:1] == ["fill"]:
        print(json.dumps(fill(json.loads(argv[1]), int(argv[2]))))
        return 0
    import tempfile

    with tempfile.TemporaryDirectory(prefix="vvs-sizing-") as tmp:
        for row in bench_function_sizing(Path(tmp)):
            print(f"{row.name}: {row.value}  {row.detail}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
