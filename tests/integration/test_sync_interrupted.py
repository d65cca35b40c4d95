"""Ctrl-C during a sync: the process stops cleanly, committed batches stay, and the next sync
completes the store exactly (no lost records, no duplicate history)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from vanta_vuln_stats import cli
from vanta_vuln_stats.devstack.simulator import FaultConfig, SimulatorConfig, VantaSimulator

CLIENT_ID, CLIENT_SECRET = "vci_interrupt", "test-secret-interrupt_secret"
COMPLETE = {"includeVulnerabilitiesWithoutSlas": "true"}


def _stored(database: Path) -> int:
    try:
        with sqlite3.connect(database, timeout=1) as conn:
            return conn.execute("SELECT COUNT(*) FROM vulnerabilities").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_ctrl_c_keeps_committed_batches_and_the_next_sync_completes(tmp_path: Path) -> None:
    config = SimulatorConfig(
        records=3000,
        seed=3,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        rate_limit=0,
        token_rate_limit=0,
        # Slow pages so the sync is certainly still running when it is interrupted.
        faults=FaultConfig(slow_rate=1.0, slow_seconds=0.05),
    )
    database = tmp_path / "interrupted.db"
    env = {**os.environ, "VANTA_CLIENT_ID": CLIENT_ID, "VANTA_CLIENT_SECRET": CLIENT_SECRET}
    with VantaSimulator(config) as sim:
        command = [
            sys.executable,
            "-m",
            "vanta_vuln_stats.cli",
            "--sync",
            "--database",
            str(database),
            "--api-url",
            sim.url,
            "--requests-per-minute",
            "0",
            "--batch-size",
            "100",
        ]
        proc = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 30
        while _stored(database) < 300 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
        kept = _stored(database)

        assert proc.returncode == 130, err
        assert "Sync interrupted" in err
        assert "Kept" in err
        assert "Traceback" not in err
        truth = [r["id"] for r in sim.tenant.iter_records("vulnerabilities", params=COMPLETE)]
        assert 300 <= kept < len(truth)

        sim.set_faults(FaultConfig())
        code = cli.main(
            [
                "--sync",
                "--database",
                str(database),
                "--api-url",
                sim.url,
                "--requests-per-minute",
                "0",
                "--format",
                "json",
                "--client-id",
                CLIENT_ID,
                "--client-secret",
                CLIENT_SECRET,
            ]
        )
        assert code == 0

    with sqlite3.connect(database) as conn:
        stored = [r[0] for r in conn.execute("SELECT id FROM vulnerabilities")]
        discovered = conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT vuln_id) FROM vulnerability_history "
            "WHERE change_type = 'discovered'"
        ).fetchone()
        statuses = [r[0] for r in conn.execute("SELECT status FROM sync_history ORDER BY id")]
        resolved = conn.execute(
            "SELECT COUNT(*) FROM vulnerabilities WHERE resolved_at IS NOT NULL"
        ).fetchone()[0]
    assert sorted(stored) == sorted(truth)
    assert discovered == (len(truth), len(truth))  # each finding discovered exactly once
    assert statuses == ["interrupted", "complete"]
    assert resolved == 0  # the partial walk marked nothing as gone
