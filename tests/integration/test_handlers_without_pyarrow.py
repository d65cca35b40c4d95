"""Prepare, FetchPages, Notify and StartSync ship without the Parquet layer (template.yaml), so
in Lambda ``import pyarrow`` fails in them. Each test runs a fresh interpreter in which pyarrow
and duckdb cannot be imported (a meta path finder refuses them and records every attempt, so a
``try: import pyarrow`` that falls back quietly is caught too), imports the handlers and runs the
library code they call for real."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

from vanta_vuln_stats.config.credentials import Credentials
from vanta_vuln_stats.devstack.simulator import SimulatorConfig, VantaSimulator
from vanta_vuln_stats.pipeline.local import run_workflow
from vanta_vuln_stats.vanta import VantaClient

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = ("prepare", "fetch_pages", "notify", "start_sync")
CLIENT_ID, CLIENT_SECRET = "vci_nopyarrow", "test-secret-nopyarrow"
DAY1, DAY2 = date(2026, 11, 1), date(2026, 11, 2)
RECORDS = 300

# Installed before anything else in the child: pyarrow and duckdb (and their submodules) raise
# ImportError, as in a function without the Parquet layer, and every attempt is recorded.
BLOCK = """
import importlib.abc, sys
BLOCKED = ("pyarrow", "duckdb")
attempts = []

class _Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".", 1)[0] in BLOCKED:
            attempts.append(name)
            raise ImportError(f"{name} is not in this function's layers")
        return None

sys.meta_path.insert(0, _Refuse())
for _name in [m for m in sys.modules if m.split(".", 1)[0] in BLOCKED]:
    del sys.modules[_name]
"""

IMPORT_HANDLERS = f"""
import importlib.util
from pathlib import Path
root = Path(sys.argv[1])
for name in {HANDLERS!r}:
    app = root / "functions" / name / "app.py"
    spec = importlib.util.spec_from_file_location(name + "_app", app)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert callable(module.handler), name
"""

# The library paths the three handlers call, on a lake committed for DAY1 (by the parent, which
# has pyarrow): prepare for DAY2 incremental (reads the commit manifests for the watermark) and
# for DAY1 again (withdraws its commit, keeps it as previous.json); fetch_pages over a simulator;
# notify's success message from the summary finalize wrote, its failure message, and send.
RUN_STEPS = """
import json
from vanta_vuln_stats.config.credentials import Credentials
from vanta_vuln_stats.devstack.simulator import SimulatorConfig, VantaSimulator
from vanta_vuln_stats.model.fields import Resource
from vanta_vuln_stats.pipeline import notify, steps
from vanta_vuln_stats.pipeline.objects import ObjectStore
from vanta_vuln_stats.vanta import VantaClient

lake, summary_key, client_id, secret = sys.argv[2:6]
incremental = steps.prepare(
    {"run_date": "2026-11-02", "mode": "incremental"},
    execution="sync-2026-11-02",
    started_at="2026-11-02T06:00:00Z",
    lake=lake,
)
assert incremental["run"]["watermarks"], incremental
again = steps.prepare(
    {"run_date": "2026-11-01"},
    execution="sync-2026-11-01-again",
    started_at="2026-11-01T07:00:00Z",
    lake=lake,
)
store = ObjectStore(lake)
assert store.exists(steps.run_prefix(again["run"]["run_id"]) + "/previous.json")
assert not store.exists("_commits/2026-11-01.json")

config = SimulatorConfig(
    records=int(sys.argv[6]), seed=5, client_id=client_id, client_secret=secret,
    rate_limit=0, token_rate_limit=0,
)
run = steps.Run.from_payload(incremental["run"])
state = incremental["fetch"]
with VantaSimulator(config) as sim, VantaClient(
    Credentials(client_id, secret), base_url=sim.url, requests_per_minute=None
) as client:
    budget = steps.FetchBudget(pages=2)
    while not state["done"]:
        state = steps.fetch_pages(run, state, client, budget, chunk_pages=1)
# (the incremental remediations, since the watermark, may be none)
assert state["counts"]["vulnerabilities"]["fetched"] == config.records, state["counts"]
assert store.exists(steps.chunk_key(run.run_id, Resource.VULNERABILITIES, 0))

summary = json.loads(store.read_bytes(summary_key))
done = notify.success_notification(summary, {"database": "vvs", "partitions_created": 3})
assert done.status == "SUCCEEDED" and done.body, done
notify.sync_seconds(summary)
failed = notify.failure_notification(
    "sync-2026-11-02",
    "WriteParquet",
    {"Error": "WriteFailed", "Cause": json.dumps({"errorMessage": "no", "errorType": "X"})},
    incremental,
)
assert failed.status == "FAILED", failed
notify.send(done, topic_arn=None, slack_url=None)
notify.send(failed, topic_arn=None, slack_url=None)
"""

REPORT = """
loaded = sorted(m for m in sys.modules if m.split(".", 1)[0] in BLOCKED)
print(json.dumps({"attempts": attempts, "loaded": loaded}))
"""


def _child(code: str, *args: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(ROOT / "shared"), os.environ.get("PYTHONPATH")) if p
        ),
        "POWERTOOLS_SERVICE_NAME": "vanta-vuln-stats",
        "POWERTOOLS_METRICS_NAMESPACE": "VantaVulnStats",
    }
    program = BLOCK + "import json\n" + code + REPORT
    done = subprocess.run(
        [sys.executable, "-c", program, str(ROOT), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    found = json.loads(lines[-1]) if done.returncode == 0 and lines else {}
    return done, found


def test_the_handlers_without_the_parquet_layer_import_no_pyarrow() -> None:
    done, found = _child(IMPORT_HANDLERS)
    assert done.returncode == 0, done.stderr
    assert found == {"attempts": [], "loaded": []}


def test_the_cold_import_set_of_those_handlers_holds_no_pyarrow() -> None:
    """Without any blocking: importing the four app modules leaves pyarrow out of sys.modules."""
    code = IMPORT_HANDLERS + (
        'heavy = sorted(m for m in sys.modules if m.split(".", 1)[0] in ("pyarrow", "duckdb"))\n'
        "print(json.dumps(heavy))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "shared")}
    done = subprocess.run(
        [sys.executable, "-c", "import json, sys\n" + code, str(ROOT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_prepare_fetch_and_notify_run_without_pyarrow(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    config = SimulatorConfig(
        records=RECORDS,
        seed=5,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        rate_limit=0,
        token_rate_limit=0,
    )
    credentials = Credentials(CLIENT_ID, CLIENT_SECRET)
    with (
        VantaSimulator(config) as sim,
        VantaClient(credentials, base_url=sim.url, requests_per_minute=None) as client,
    ):
        committed = run_workflow(client, str(lake), run_date=DAY1)
    summary_key = committed["result"]["summary"]

    done, found = _child(
        IMPORT_HANDLERS + RUN_STEPS,
        str(lake),
        summary_key,
        CLIENT_ID,
        CLIENT_SECRET,
        str(RECORDS),
    )
    assert done.returncode == 0, done.stderr
    assert found == {"attempts": [], "loaded": []}, done.stderr
