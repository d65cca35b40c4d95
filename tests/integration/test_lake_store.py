"""The Parquet lake as a store, over real HTTP from the simulator, on a local directory and on
moto's S3 in server mode: what lands, what readers see, and what a re-run or a dead run leaves."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from vanta_vuln_stats.config.credentials import Credentials
from vanta_vuln_stats.devstack.simulator import FaultConfig, SimulatorConfig, VantaSimulator
from vanta_vuln_stats.errors import StoreError
from vanta_vuln_stats.model import normalize_batch, tracked_columns
from vanta_vuln_stats.model.fields import RAW_COLUMN, Resource
from vanta_vuln_stats.pipeline.sync import run_sync
from vanta_vuln_stats.storage.lake import LakeStorage, layout
from vanta_vuln_stats.vanta import RetryPolicy, VantaClient

CLIENT_ID = "vci_lake"
CLIENT_SECRET = "test-secret-lake"
DAY1 = date(2026, 11, 1)
DAY2 = DAY1 + timedelta(days=1)
RECORDS = 3000


@pytest.fixture(params=["local", "s3"])
def lake_uri(request: pytest.FixtureRequest, tmp_path, monkeypatch) -> str:
    if request.param == "local":
        return str(tmp_path / "lake")
    import boto3

    endpoint = request.getfixturevalue("moto_endpoint")
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    return f"s3://{bucket}/vanta"


@pytest.fixture(scope="module")
def sim() -> Iterator[VantaSimulator]:
    config = SimulatorConfig(
        records=RECORDS,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        rate_limit=0,
        token_rate_limit=0,
        as_of=DAY1,
        faults=FaultConfig(malformed_rate=0.01, seed=3),
    )
    with VantaSimulator(config) as server:
        yield server


def sync_day(sim: VantaSimulator, uri: str, day: date, **store_options: Any) -> Any:
    sim.set_as_of(day)
    client = VantaClient(
        Credentials(CLIENT_ID, CLIENT_SECRET, source="test"),
        base_url=sim.url,
        requests_per_minute=None,
        retry=RetryPolicy(base=0.01, cap=0.1),
    )
    with client, LakeStorage(uri, **store_options) as store:
        return run_sync(client, store, batch_size=500, run_date=day)


def served(sim: VantaSimulator, resource: Resource, day: date) -> list[dict[str, Any]]:
    """What the simulator serves for ``day`` (malformed records included), as the client asks."""
    params = (
        {"includeVulnerabilitiesWithoutSlas": True}
        if resource is Resource.VULNERABILITIES
        else None
    )
    return [
        record
        for record, _ in sim.tenant.iter_served(
            resource, as_of=day, params=params, malformed_rate=sim.faults.malformed_rate
        )
    ]


def good_rows(sim: VantaSimulator, resource: Resource, day: date) -> dict[str, dict[str, Any]]:
    batch = normalize_batch(resource, served(sim, resource, day))
    return {row["id"]: row for row in batch.rows}


def read_day(store: LakeStorage, resource: Resource, day: date) -> Any:
    manifest = store.manifest(day)
    assert manifest is not None
    paths = [store.location.path(key) for key in manifest.keys(resource.value)]
    return pq.read_table(paths, filesystem=store.location.filesystem, partitioning=None)


def test_a_sync_lands_every_served_record_with_its_values(sim, lake_uri) -> None:
    result = sync_day(sim, lake_uri, DAY1)
    assert result.summary.status == "complete"
    with LakeStorage(lake_uri) as store:
        for resource in Resource:
            expected = good_rows(sim, resource, DAY1)
            table = read_day(store, resource, DAY1)
            assert (
                table.num_rows
                == len(served(sim, resource, DAY1)) - result.tallies[resource].rejected
            )
            rows = {row["id"]: row for row in table.to_pylist()}
            assert rows.keys() == expected.keys()
            for record_id, row in rows.items():
                want = {k: v for k, v in expected[record_id].items() if k != RAW_COLUMN}
                assert {k: v for k, v in row.items() if k != "run_date"} == want
                assert row["run_date"] == DAY1
        manifest = store.manifest(DAY1)
        assert manifest is not None
        rejected = sum(t.rejected for t in result.tallies.values())
        assert rejected > 0
        rejects = pq.read_table(
            [store.location.path(k) for k in manifest.keys(layout.REJECTS_TABLE)],
            filesystem=store.location.filesystem,
            partitioning=None,
        )
        assert rejects.num_rows == rejected
        assert all(reasons for reasons in rejects["reasons"].to_pylist())
        counts = manifest.counts["vulnerabilities"]
        assert counts["fetched"] == counts["written"] + counts["rejected"]


def test_partitions_and_parquet_types_are_as_specified(sim, lake_uri) -> None:
    sync_day(sim, lake_uri, DAY1)
    with LakeStorage(lake_uri) as store:
        keys = [key for key, _ in store.location.list("vulnerabilities")]
        part = "vulnerabilities/year=2026/month=11/day=01/vulnerabilities-20261101-00000.parquet"
        assert part in keys
        assert "vulnerabilities/current/vulnerabilities_latest.parquet" in keys
        dataset = ds.dataset(
            store.location.path("vulnerabilities/year=2026"),
            filesystem=store.location.filesystem,
            partitioning=ds.partitioning(flavor="hive", schema=None),
            format="parquet",
        )
        assert dataset.count_rows() == read_day(store, Resource.VULNERABILITIES, DAY1).num_rows
        with store.location.filesystem.open_input_file(store.location.path(part)) as handle:
            metadata = pq.ParquetFile(handle).metadata
        schema = metadata.schema
        for index in range(len(schema)):
            column = schema.column(index)
            assert column.physical_type != "INT96"
            if column.name.endswith("_date") and column.name != "run_date":
                logical = column.logical_type
                assert logical.type == "TIMESTAMP"
                facts = json.loads(logical.to_json())
                assert facts["timeUnit"] == "milliseconds" and facts["isAdjustedToUTC"] is True
        names = [schema.column(i).path for i in range(len(schema))]
        assert RAW_COLUMN not in names
        assert "related_vulns.list.element" in names  # list<string>
        assert metadata.row_group(0).column(0).statistics.has_min_max
        assert metadata.row_group(0).column(0).compression == "ZSTD"


def test_duckdb_reads_the_hive_partitions(sim, tmp_path) -> None:
    import duckdb

    uri = str(tmp_path / "lake")
    sync_day(sim, uri, DAY1)
    expected = good_rows(sim, Resource.VULNERABILITIES, DAY1)
    rows = duckdb.sql(
        f"SELECT id, severity, year, month, day FROM read_parquet('{uri}/vulnerabilities/year=*/"
        "*/*/*.parquet', hive_partitioning = true, "
        "hive_types = {'year': VARCHAR, 'month': VARCHAR, 'day': VARCHAR})"
    ).fetchall()
    assert {row[0] for row in rows} == expected.keys()
    assert {row[2:] for row in rows} == {("2026", "11", "01")}
    assert all(row[1] == expected[row[0]]["severity"] for row in rows)


def test_the_same_day_twice_leaves_the_same_files_and_rows(sim, lake_uri) -> None:
    sync_day(sim, lake_uri, DAY1, chunk_rows=700)
    with LakeStorage(lake_uri) as store:
        first = {key: None for key, _ in store.location.list("vulnerabilities/year=2026")}
        first_rows = read_day(store, Resource.VULNERABILITIES, DAY1).num_rows
        first_run = store.manifest(DAY1).run_id
    sync_day(sim, lake_uri, DAY1, chunk_rows=700)
    with LakeStorage(lake_uri) as store:
        second = {key: None for key, _ in store.location.list("vulnerabilities/year=2026")}
        assert second.keys() == first.keys()
        assert read_day(store, Resource.VULNERABILITIES, DAY1).num_rows == first_rows
        runs = store.sync_history()
        assert [run.status for run in runs] == ["superseded", "complete"]
        assert store.manifest(DAY1).run_id != first_run
        history = store.change_history()
        assert {e.change_type for e in history} == {"discovered"}
        assert len(history) == first_rows


def test_a_rerun_with_fewer_chunks_leaves_no_stale_part(sim, tmp_path) -> None:
    uri = str(tmp_path / "lake")
    sync_day(sim, uri, DAY1, chunk_rows=500)
    sync_day(sim, uri, DAY1, chunk_rows=5000)
    with LakeStorage(uri) as store:
        parts = [
            key for key, _ in store.location.list(layout.partition_prefix("vulnerabilities", DAY1))
        ]
        assert parts == [layout.part_key("vulnerabilities", DAY1, 0)]
        assert store.manifest(DAY1).keys("vulnerabilities") == parts


def expected_events(sim: VantaSimulator) -> dict[str, tuple[str, tuple[str, ...]]]:
    """The change events between the two days, worked out record by record from what the
    simulator served (independently of the lake's Arrow code)."""
    before = good_rows(sim, Resource.VULNERABILITIES, DAY1)
    after = good_rows(sim, Resource.VULNERABILITIES, DAY2)
    tracked = tracked_columns(Resource.VULNERABILITIES)
    events: dict[str, tuple[str, tuple[str, ...]]] = {}
    for record_id, row in after.items():
        old = before.get(record_id)
        if old is None:
            events[record_id] = ("discovered", ())
            continue
        changed = tuple(c for c in tracked if row[c] != old[c])
        was, now = bool(old["is_deactivated"]), bool(row["is_deactivated"])
        if now and not was:
            events[record_id] = ("remediated", changed)
        elif was and not now:
            events[record_id] = ("reactivated", changed)
        elif changed:
            events[record_id] = ("updated", changed)
    for record_id in before.keys() - after.keys():
        events[record_id] = ("resolved", ())
    return events


def test_two_days_give_the_history_and_the_latest_state(sim, lake_uri) -> None:
    sync_day(sim, lake_uri, DAY1)
    sync_day(sim, lake_uri, DAY2)
    expected = expected_events(sim)
    assert {kind for kind, _ in expected.values()} >= {"discovered", "remediated", "resolved"}
    with LakeStorage(lake_uri) as store:
        events = [e for e in store.change_history() if e.snapshot_date.date() == DAY2]
        got = {
            e.vuln_id: (
                e.change_type,
                e.changed_fields
                if e.change_type in ("updated", "remediated", "reactivated")
                else (),
            )
            for e in events
        }
        assert len(events) == len(got)
        assert got == expected
        manifest = store.manifest(DAY2)
        assert manifest.base_run_date == DAY1
        latest = pq.read_table(
            store.location.path(layout.current_key(Resource.VULNERABILITIES)),
            filesystem=store.location.filesystem,
        )
        before = good_rows(sim, Resource.VULNERABILITIES, DAY1)
        after = good_rows(sim, Resource.VULNERABILITIES, DAY2)
        rows = {row["id"]: row for row in latest.to_pylist()}
        assert rows.keys() == before.keys() | after.keys()
        for record_id, row in rows.items():
            if record_id in after:
                assert row["resolved_at"] is None
                assert row["last_detected_date"] == after[record_id]["last_detected_date"]
            else:
                assert row["resolved_at"] is not None
                assert row["resolved_at"].date() == DAY2


def test_last_detected_only_changes_are_not_updates(sim, tmp_path) -> None:
    sync_day(sim, str(tmp_path / "lake"), DAY1)
    sync_day(sim, str(tmp_path / "lake"), DAY2)
    before = good_rows(sim, Resource.VULNERABILITIES, DAY1)
    after = good_rows(sim, Resource.VULNERABILITIES, DAY2)
    tracked = tracked_columns(Resource.VULNERABILITIES)
    sighting_only = [
        record_id
        for record_id, row in after.items()
        if record_id in before
        and row["last_detected_date"] != before[record_id]["last_detected_date"]
        and all(row[c] == before[record_id][c] for c in tracked)
    ]
    assert sighting_only, "the simulator moves lastDetectedDate on some findings every day"
    with LakeStorage(str(tmp_path / "lake")) as store:
        day2 = {e.vuln_id for e in store.change_history() if e.snapshot_date.date() == DAY2}
        assert not day2 & set(sighting_only)


# A process that writes some parts of day 2 and then dies (os._exit: no finish, no close, no
# cleanup), as a killed Lambda or a crash would.
DYING_RUN = """
import os, sys
from datetime import date
from vanta_vuln_stats.devstack.simulator.tenant import Tenant
from vanta_vuln_stats.model import normalize_batch
from vanta_vuln_stats.model.fields import Resource
from vanta_vuln_stats.storage.lake import LakeStorage

store = LakeStorage(sys.argv[1], chunk_rows=200)
run = store.begin_sync(run_date=date.fromisoformat(sys.argv[2]))
records = list(Tenant(int(sys.argv[3])).iter_records("vulnerabilities", as_of=run.run_date))
store.store_batch(run, Resource.VULNERABILITIES, normalize_batch("vulnerabilities", records).rows)
store._drain(store._run)
os._exit(9)
"""


def test_a_run_that_dies_after_some_parts_leaves_readers_on_the_last_commit(sim, lake_uri) -> None:
    sync_day(sim, lake_uri, DAY1)
    dying = subprocess.run(
        [sys.executable, "-c", DYING_RUN, lake_uri, DAY2.isoformat(), str(RECORDS)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dying.returncode == 9, dying.stderr
    with LakeStorage(lake_uri) as reader:
        day2_parts = list(reader.location.list(layout.partition_prefix("vulnerabilities", DAY2)))
        assert len(day2_parts) > 1  # the dead run did write parts
        assert list(reader.manifests()) == [DAY1]
        assert [run.status for run in reader.sync_history()] == ["complete"]
        assert {e.snapshot_date.date() for e in reader.change_history()} == {DAY1}
        latest = pq.read_table(
            reader.location.path(layout.current_key(Resource.VULNERABILITIES)),
            filesystem=reader.location.filesystem,
        )
        assert latest.num_rows == len(good_rows(sim, Resource.VULNERABILITIES, DAY1))
    # The next run of the day writes over the dead run's parts and commits as usual.
    sync_day(sim, lake_uri, DAY2)
    with LakeStorage(lake_uri) as reader:
        assert list(reader.manifests()) == [DAY1, DAY2]
        assert read_day(reader, Resource.VULNERABILITIES, DAY2).num_rows == len(
            good_rows(sim, Resource.VULNERABILITIES, DAY2)
        )


def test_a_rerun_of_a_day_hides_that_day_until_it_commits(sim, tmp_path) -> None:
    uri = str(tmp_path / "lake")
    sync_day(sim, uri, DAY1)
    sync_day(sim, uri, DAY2)
    with LakeStorage(uri) as store:
        store.begin_sync(run_date=DAY2)
        with LakeStorage(uri) as reader:
            assert list(reader.manifests()) == [DAY1]  # complete or absent, never half-rewritten


def test_counts_that_do_not_reconcile_are_not_committed(sim, tmp_path) -> None:
    uri = str(tmp_path / "lake")
    with LakeStorage(uri) as store:
        run = store.begin_sync(run_date=DAY1)
        rows = normalize_batch(
            Resource.VULNERABILITIES, served(sim, Resource.VULNERABILITIES, DAY1)[:100]
        ).rows
        store.store_batch(run, Resource.VULNERABILITIES, rows)
        with pytest.raises(StoreError, match="do not reconcile"):
            store.finish_sync(
                run, complete=[Resource.VULNERABILITIES], fetched={Resource.VULNERABILITIES: 101}
            )
    with LakeStorage(uri) as reader:
        assert reader.manifests() == {}
        assert [run.status for run in reader.sync_history()] == ["failed"]
        assert not reader.has_data()


def test_the_raw_backup_holds_every_served_record(sim, lake_uri) -> None:
    sync_day(sim, lake_uri, DAY1)
    with LakeStorage(lake_uri) as store:
        manifest = store.manifest(DAY1)
        assert manifest.backup and manifest.backup.startswith("raw_json/backups/sync_20261101_")
        lines = gzip.decompress(store.location.read_bytes(manifest.backup)).splitlines()
        got: dict[str, list[Any]] = {}
        for line in lines:
            entry = json.loads(line)
            got.setdefault(entry["resource"], []).append(entry["record"])
        for resource in Resource:
            want = served(sim, resource, DAY1)
            assert len(got[resource.value]) == len(want)
            assert sorted(json.dumps(r, sort_keys=True) for r in got[resource.value]) == sorted(
                json.dumps(r, sort_keys=True) for r in want
            )


def test_a_missing_bucket_is_one_clear_error(moto_endpoint, monkeypatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    with (
        LakeStorage("s3://no-such-bucket-here/lake") as store,
        pytest.raises(StoreError, match=r"bucket no-such-bucket-here .* does not exist"),
    ):
        store.begin_sync(run_date=DAY1)
