"""The workflow's steps run in this process over a simulator (real HTTP, faults on) into a local
lake: the same functions the Lambdas call. What the workflow on emulated AWS adds (Step Functions,
Lambda, S3, Glue, SNS) is tested in tests/e2e."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from vanta_vuln_stats.config.credentials import Credentials
from vanta_vuln_stats.devstack.simulator import (
    BASE_DATE,
    FaultConfig,
    SimulatorConfig,
    VantaSimulator,
)
from vanta_vuln_stats.model.fields import Resource
from vanta_vuln_stats.model.records import parse_timestamp
from vanta_vuln_stats.pipeline import steps
from vanta_vuln_stats.pipeline.local import run_workflow
from vanta_vuln_stats.pipeline.sync import run_sync
from vanta_vuln_stats.storage import SQLiteStorage
from vanta_vuln_stats.storage.lake import LakeStorage, layout
from vanta_vuln_stats.vanta import VantaClient

RECORDS = 1500
MALFORMED = 0.01
VALID_KINDS = {None, "extra_field"}


def _config(**faults: object) -> SimulatorConfig:
    return SimulatorConfig(
        records=RECORDS,
        seed=11,
        client_id="vci_p",
        client_secret="test-secret-pipeline",
        rate_limit=0,
        token_rate_limit=0,
        as_of=BASE_DATE,
        faults=FaultConfig(malformed_rate=MALFORMED, seed=5, **faults),  # type: ignore[arg-type]
    )


def _client(sim: VantaSimulator) -> VantaClient:
    return VantaClient(
        Credentials("vci_p", "test-secret-pipeline"), base_url=sim.url, requests_per_minute=None
    )


def _served(sim: VantaSimulator, client: VantaClient) -> dict[Resource, list]:
    return {
        resource: list(
            sim.tenant.iter_served(
                resource, params=client.default_params(resource) or None, malformed_rate=MALFORMED
            )
        )
        for resource in Resource
    }


def _ids(lake: Path, resource: Resource, day) -> list[str]:
    prefix = lake / layout.partition_prefix(resource.value, day)
    return sorted(
        id_
        for part in sorted(prefix.glob("*.parquet"))
        for id_ in pq.read_table(part, columns=["id"])["id"].to_pylist()
    )


def test_a_run_with_a_small_page_budget_stores_exactly_what_was_served(tmp_path) -> None:
    lake = tmp_path / "lake"
    calls: list[str] = []
    with VantaSimulator(_config(error_rate=0.03, drop_rate=0.02)) as sim, _client(sim) as client:
        state = run_workflow(
            client,
            str(lake),
            run_date=BASE_DATE,
            page_budget=4,
            batch_records=1000,
            on_step=lambda step, payload: calls.append(step),
        )
        served = _served(sim, client)

    # Many fetch invocations, each handing back only a cursor and counts.
    assert calls.count("fetch_pages") == state["fetch"]["invocations"] >= 10
    assert len(json.dumps(state["fetch"])) < 2000
    for resource in Resource:
        good = sorted(r["id"] for r, kind in served[resource] if kind in VALID_KINDS)
        bad = [r for r, kind in served[resource] if kind not in VALID_KINDS]
        assert _ids(lake, resource, BASE_DATE) == good
        counts = state["result"]["counts"][resource.value]
        assert counts["fetched"] == len(served[resource])
        assert counts["written"] == len(good)
        assert counts["rejected"] == len(bad) > 0
    # Rejects are kept with their reasons.
    rejects = pq.read_table(lake / layout.partition_prefix(layout.REJECTS_TABLE, BASE_DATE))
    assert rejects.num_rows == sum(c["rejected"] for c in state["result"]["counts"].values())
    assert all(rejects["reasons"].to_pylist())
    # The raw backup holds every served record, the malformed ones included.
    manifest = LakeStorage(str(lake)).manifest(BASE_DATE)
    lines = gzip.decompress((lake / manifest.backup).read_bytes()).splitlines()
    assert len(lines) == sum(len(v) for v in served.values())


def test_the_same_run_date_again_gives_the_same_lake(tmp_path) -> None:
    lake = tmp_path / "lake"
    with VantaSimulator(_config()) as sim, _client(sim) as client:
        first = run_workflow(client, str(lake), run_date=BASE_DATE, page_budget=6)
        files_before = {
            p.relative_to(lake).as_posix(): pq.read_table(p).sort_by("id").to_pylist()
            for p in lake.glob("vulnerabilities/year=*/**/*.parquet")
        }
        second = run_workflow(client, str(lake), run_date=BASE_DATE, page_budget=50)
    files_after = {
        p.relative_to(lake).as_posix(): pq.read_table(p).sort_by("id").to_pylist()
        for p in lake.glob("vulnerabilities/year=*/**/*.parquet")
    }
    # Other chunking (a larger page budget), the same rows; the first run is superseded.
    rows_before = sorted(r["id"] for rows in files_before.values() for r in rows)
    rows_after = sorted(r["id"] for rows in files_after.values() for r in rows)
    assert rows_after == rows_before
    assert first["result"]["counts"] == second["result"]["counts"]
    history = LakeStorage(str(lake)).sync_history()
    assert [run.status for run in history] == ["superseded", "complete"]


def test_two_days_give_the_change_history_the_sqlite_store_records(tmp_path) -> None:
    lake = tmp_path / "lake"
    database = tmp_path / "same.db"
    day2 = BASE_DATE + timedelta(days=1)
    with VantaSimulator(_config()) as sim, _client(sim) as client:
        run_workflow(client, str(lake), run_date=BASE_DATE, page_budget=5)
        with SQLiteStorage(database) as store:
            run_sync(client, store, run_date=BASE_DATE)
        sim.set_as_of(day2)
        second = run_workflow(client, str(lake), run_date=day2, page_budget=5)
        with SQLiteStorage(database) as store:
            run_sync(client, store, run_date=day2)
            expected = store.change_history()
    events = LakeStorage(str(lake)).change_history()

    def shape(items):
        return sorted((e.snapshot_date.date(), e.vuln_id, e.change_type) for e in items)

    assert shape(events) == shape(expected)
    counts = second["result"]["counts"]["vulnerabilities"]
    assert counts["discovered"] + counts["remediated"] + counts["resolved"] > 0
    summary = json.loads((lake / second["result"]["summary"]).read_bytes())
    assert summary["counts"] == second["result"]["counts"]
    assert summary["new_criticals_total"] >= len(summary["new_criticals"])


def test_a_missing_batch_result_commits_nothing(tmp_path) -> None:
    lake = tmp_path / "lake"
    with VantaSimulator(_config()) as sim, _client(sim) as client:
        state = steps.prepare(
            {"run_date": BASE_DATE.isoformat()},
            execution="t",
            started_at="2026-11-01T06:00:00Z",
            lake=str(lake),
        )
        run = steps.Run.from_payload(state["run"])
        fetch = state["fetch"]
        while not fetch["done"]:
            fetch = steps.fetch_pages(run, fetch, client, steps.FetchBudget(pages=100))
    plan = steps.plan_chunks(run, fetch, batch_records=1000)
    batches = json.loads((lake / plan["key"]).read_bytes())
    for batch in batches[1:]:  # the first batch is never written
        steps.write_batch(run, batch)
    with pytest.raises(steps.ReconcileFailed, match=r"1 of \d+ batches were not written"):
        steps.finalize(run, fetch, plan)
    assert not (lake / layout.commit_key(BASE_DATE)).exists()
    assert LakeStorage(str(lake)).manifests() == {}


def test_a_repeated_fetch_rewrites_the_same_chunk(tmp_path) -> None:
    lake = tmp_path / "lake"
    with VantaSimulator(_config()) as sim, _client(sim) as client:
        state = steps.prepare({}, execution="t", started_at="2026-11-01T06:00:00Z", lake=str(lake))
        run = steps.Run.from_payload(state["run"])
        budget = steps.FetchBudget(pages=3)
        first = steps.fetch_pages(run, state["fetch"], client, budget)
        key = lake / steps.chunk_key(run.run_id, Resource.VULNERABILITIES, 0)
        data = key.read_bytes()
        again = steps.fetch_pages(run, state["fetch"], client, budget)  # a retried invocation
    assert again["cursor"] == first["cursor"] and again["chunk"] == first["chunk"] == 1
    assert gzip.decompress(key.read_bytes()) == gzip.decompress(data)
    assert sorted(p.name for p in key.parent.iterdir()) == ["chunk-00000.json.gz"]


def test_a_paced_fetch_sends_a_minute_of_requests_then_asks_the_workflow_to_wait(
    tmp_path,
) -> None:
    lake = tmp_path / "lake"
    with VantaSimulator(_config()) as sim, _client(sim) as client:
        state = steps.prepare({}, execution="t", started_at="2026-11-01T06:00:00Z", lake=str(lake))
        run = steps.Run.from_payload(state["run"])
        budget = steps.FetchBudget(pages=300, requests_per_minute=7)
        first = steps.fetch_pages(run, state["fetch"], client, budget)
        requests = len([r for r in sim.request_log if r.path.startswith("/v1/")])
    assert first["counts"]["vulnerabilities"]["pages"] == 7 == requests
    assert 50 <= first["wait_seconds"] <= 62
    assert not first["done"]


def test_an_incremental_run_fetches_remediations_since_the_last_good_run(tmp_path) -> None:
    lake = tmp_path / "lake"
    day2 = BASE_DATE + timedelta(days=1)
    with VantaSimulator(_config()) as sim, _client(sim) as client:
        first = run_workflow(client, str(lake), run_date=BASE_DATE, started_at=_at(BASE_DATE))
        sim.set_as_of(day2)
        second = run_workflow(
            client,
            str(lake),
            run_date=day2,
            request={"mode": "incremental"},
            started_at=_at(day2),
        )
        since = parse_timestamp(second["run"]["watermarks"]["vulnerability_remediations"])
        expected = [
            record
            for record, _ in sim.tenant.iter_served(
                Resource.VULNERABILITY_REMEDIATIONS,
                as_of=day2,
                params={"remediatedAfterDate": since.isoformat().replace("+00:00", "Z")},
                malformed_rate=MALFORMED,
            )
        ]
    # The watermark is the first run's start, less a day of overlap
    assert since == _at(BASE_DATE) - steps.WATERMARK_OVERLAP
    full = first["result"]["counts"]["vulnerability_remediations"]["fetched"]
    fetched = second["result"]["counts"]["vulnerability_remediations"]["fetched"]
    assert fetched == len(expected) < full
    # Remediation records are facts: the state keeps the ones not fetched again
    import pyarrow.parquet as pq

    state = pq.read_table(
        lake / layout.state_key(Resource.VULNERABILITY_REMEDIATIONS, day2), columns=["id"]
    )
    assert state.num_rows >= first["result"]["counts"]["vulnerability_remediations"]["written"]
    # Vulnerabilities are fetched whole either way
    assert second["result"]["counts"]["vulnerabilities"]["fetched"] > 0


def _at(day):
    from datetime import UTC, datetime, time

    return datetime.combine(day, time(6), UTC)


def test_a_fetch_hands_its_cursor_back_when_its_time_runs_short(tmp_path) -> None:
    lake = tmp_path / "lake"
    left = iter([600_000, 500_000, 119_000] + [0] * 100)  # ms left, as the Lambda context says
    with VantaSimulator(_config()) as sim, _client(sim) as client:
        state = steps.prepare({}, execution="t", started_at="2026-11-01T06:00:00Z", lake=str(lake))
        run = steps.Run.from_payload(state["run"])
        budget = steps.FetchBudget(pages=300, remaining_ms=lambda: next(left))
        first = steps.fetch_pages(run, state["fetch"], client, budget)
        rest = steps.fetch_pages(run, first, client, steps.FetchBudget(pages=1000))
    # Under the two-minute margin after the third page: the pages so far are one chunk.
    assert first["counts"]["vulnerabilities"]["pages"] == 3
    assert first["chunk"] == 1 and first["cursor"] and not first["done"]
    assert rest["done"]
    assert rest["counts"]["vulnerabilities"]["fetched"] == RECORDS
