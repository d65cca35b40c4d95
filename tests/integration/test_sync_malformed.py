"""Malformed records over real HTTP: each is rejected with its reasons and kept for a person to
read; every other record of the same pages is stored."""

from __future__ import annotations

import json
import sqlite3

from vanta_vuln_stats.config.credentials import Credentials
from vanta_vuln_stats.devstack.simulator import FaultConfig, SimulatorConfig, VantaSimulator
from vanta_vuln_stats.model.fields import Resource
from vanta_vuln_stats.pipeline.sync import run_sync
from vanta_vuln_stats.storage import SQLiteStorage
from vanta_vuln_stats.vanta import VantaClient

RATE = 0.05
# Kinds of corruption that leave a valid record: unknown extra fields are tolerated.
VALID_KINDS = {None, "extra_field"}


def test_malformed_records_are_rejected_with_reasons_and_the_rest_kept(tmp_path) -> None:
    config = SimulatorConfig(
        records=2000,
        seed=9,
        client_id="vci_m",
        client_secret="test-secret-malformed",
        rate_limit=0,
        token_rate_limit=0,
        faults=FaultConfig(malformed_rate=RATE),
    )
    database = tmp_path / "malformed.db"
    with VantaSimulator(config) as sim:
        client = VantaClient(
            Credentials("vci_m", "test-secret-malformed"),
            base_url=sim.url,
            requests_per_minute=None,
        )
        with client, SQLiteStorage(database) as store:
            result = run_sync(client, store, batch_size=250)
        served = {
            resource: list(
                sim.tenant.iter_served(
                    resource,
                    params=client.default_params(resource) or None,
                    malformed_rate=RATE,
                )
            )
            for resource in Resource
        }

    with sqlite3.connect(database) as conn:
        for resource in Resource:
            kept = [record["id"] for record, kind in served[resource] if kind in VALID_KINDS]
            bad = [(record, kind) for record, kind in served[resource] if kind not in VALID_KINDS]
            assert bad, f"the tenant must serve malformed {resource.value}"
            stored = [r[0] for r in conn.execute(f"SELECT id FROM {resource.value}")]
            assert sorted(stored) == sorted(kept)
            rejected = conn.execute(
                "SELECT record_id, reasons, raw_data FROM rejected_records WHERE resource = ?",
                (resource.value,),
            ).fetchall()
            assert len(rejected) == len(bad)
            assert all(json.loads(reasons) for _, reasons, _ in rejected)
            # The rejected records are kept as they were served, for a person to look at.
            raws = sorted(json.dumps(json.loads(raw), sort_keys=True) for _, _, raw in rejected)
            assert raws == sorted(json.dumps(record, sort_keys=True) for record, _ in bad)
            tally = result.tallies[resource]
            assert (tally.fetched, tally.stored, tally.rejected) == (
                len(served[resource]),
                len(kept),
                len(bad),
            )


def test_a_failing_write_stops_the_sync_and_keeps_the_earlier_batches(tmp_path) -> None:
    import pytest

    from vanta_vuln_stats.errors import StoreError
    from vanta_vuln_stats.pipeline.sync import SyncFailed

    class FailingStore(SQLiteStorage):
        writes = 0

        def store_batch(self, run, resource, rows):
            self.writes += 1
            if self.writes == 3:
                raise StoreError("disk full (simulated)")
            return super().store_batch(run, resource, rows)

    config = SimulatorConfig(
        records=1000,
        seed=2,
        client_id="vci_f",
        client_secret="vcs_fail",
        rate_limit=0,
        token_rate_limit=0,
    )
    database = tmp_path / "failing.db"
    with VantaSimulator(config) as sim:
        client = VantaClient(
            Credentials("vci_f", "vcs_fail"), base_url=sim.url, requests_per_minute=None
        )
        with client, FailingStore(database) as store:
            with pytest.raises(SyncFailed) as info:
                run_sync(client, store, batch_size=100)
            assert info.value.summary.status == "failed"
            assert "disk full" in str(info.value)
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT COUNT(*) FROM vulnerabilities").fetchone()[0] == 200
        assert conn.execute("SELECT status FROM sync_history").fetchall() == [("failed",)]
