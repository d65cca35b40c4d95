"""``make demo``: the product end to end on local stand-ins.

Starts the Vanta API simulator on a free loopback port, then runs the real command twice, as a
user would on two consecutive days (the simulator's clock moves in between, so the second sync
records new, fixed, deactivated and reactivated findings; each sync's ``--run-date`` is the
simulator's day, so the trend shows both), writing SQLite and a local Parquet lake in the same
sync (the hybrid backend), and ends with the statistics report and a named query over the lake.
A light dose of faults (server errors, malformed records) shows the retries and the rejects.

Options come from the environment so ``make demo`` needs no arguments:
DEMO_RECORDS (default 20000), DEMO_DIR (default .demo), DEMO_SEED (default 7).
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
from datetime import timedelta
from pathlib import Path

from vanta_vuln_stats import cli
from vanta_vuln_stats.devstack.simulator import (
    BASE_DATE,
    FaultConfig,
    SimulatorConfig,
    VantaSimulator,
)


def _int_env(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value else default
    except ValueError:
        sys.exit(f"Error: {name} must be an integer, got {value!r}.")


def main() -> int:
    records = _int_env("DEMO_RECORDS", 20_000)
    seed = _int_env("DEMO_SEED", 7)
    workdir = Path(os.environ.get("DEMO_DIR", ".demo"))
    workdir.mkdir(parents=True, exist_ok=True)
    database = workdir / "vanta_vulnerabilities.db"
    lake = workdir / "lake"
    for stale in workdir.glob("vanta_vulnerabilities.db*"):
        stale.unlink()
    shutil.rmtree(lake, ignore_errors=True)

    config = SimulatorConfig(
        records=records,
        seed=seed,
        client_id="vci_demo",
        client_secret="vcs_" + secrets.token_hex(16),
        rate_limit=0,  # the real API allows about 50 requests a minute; the demo is not paced
        as_of=BASE_DATE,
        faults=FaultConfig(error_rate=0.005, malformed_rate=0.0005, seed=seed),
    )
    with VantaSimulator(config) as sim:
        print(f"Vanta API simulator listening on {sim.url} ({records:,} vulnerabilities)\n")
        # Credentials reach the command the way a user's would: from the environment.
        os.environ["VANTA_CLIENT_ID"] = config.client_id
        os.environ["VANTA_CLIENT_SECRET"] = config.client_secret
        common = [
            *("--database", str(database), "--storage-backend", "hybrid", "--lake", str(lake)),
            *("--api-url", sim.url, "--requests-per-minute", "0"),
        ]

        print(f"== Day 1 ({sim.as_of}): first sync into {database} and the lake {lake}")
        day1 = ["--run-date", sim.as_of.isoformat()]
        output = ["--format", "json", "--output", str(workdir / "day1.json")]
        code = cli.main(["--sync", *output, *day1, *common])
        if code:
            return code

        sim.set_as_of(BASE_DATE + timedelta(days=1))
        print(f"\n== Day 2 ({sim.as_of}): the tenant moved on; sync again, then the report")
        code = cli.main(["--sync", "--run-date", sim.as_of.isoformat(), *common])
        if code:
            return code

    print("\n== A named query over the lake (DuckDB): open critical and high findings")
    code = cli.main(
        ["query", "run", "open_critical_high", "--lake", str(lake), "--param", "limit=5"]
    )
    if code:
        return code
    print(
        "\nThe stores are kept: try\n"
        f"  .venv/bin/vanta-vuln-stats --use-cache --database {database} --severity CRITICAL\n"
        f"  .venv/bin/vanta-vuln-stats --use-cache --storage-backend lake --lake {lake}\n"
        f"  .venv/bin/vanta-vuln-stats query list\n"
        f"  .venv/bin/vanta-vuln-stats query run sla_due_soon --lake {lake}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
