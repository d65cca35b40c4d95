"""The lake, s3 and hybrid backends through the command's real entry point, against the Vanta API
simulator over HTTP, on a local directory and on moto's S3 in server mode."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from vanta_vuln_stats.devstack.simulator import FaultConfig, SimulatorConfig, VantaSimulator
from vanta_vuln_stats.model import normalize_batch
from vanta_vuln_stats.model.fields import Resource
from vanta_vuln_stats.storage.lake import LakeStorage

from .test_cli import run_cli

CLIENT_ID = "vci_cli_lake"
CLIENT_SECRET = "test-secret-cli-lake"
DAY1 = date(2026, 11, 1)
DAY2 = DAY1 + timedelta(days=1)


@pytest.fixture(scope="module")
def sim() -> Iterator[VantaSimulator]:
    config = SimulatorConfig(
        records=1500,
        seed=5,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        rate_limit=0,
        token_rate_limit=0,
        as_of=DAY1,
        faults=FaultConfig(malformed_rate=0.01, seed=5),
    )
    with VantaSimulator(config) as server:
        yield server


@pytest.fixture
def api(sim: VantaSimulator, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("VANTA_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("VANTA_CLIENT_SECRET", CLIENT_SECRET)
    return ["--api-url", sim.url, "--requests-per-minute", "0", "--no-progress"]


def served_ids(sim: VantaSimulator, resource: Resource, day: date) -> set[str]:
    params = (
        {"includeVulnerabilitiesWithoutSlas": True}
        if resource is Resource.VULNERABILITIES
        else None
    )
    records = [
        record
        for record, _ in sim.tenant.iter_served(
            resource, as_of=day, params=params, malformed_rate=sim.faults.malformed_rate
        )
    ]
    return {row["id"] for row in normalize_batch(resource, records).rows}


def sync(sim: VantaSimulator, api: list[str], day: date, *args: str) -> None:
    sim.set_as_of(day)
    result = run_cli("--sync", *api, "--run-date", day.isoformat(), "--format", "json", *args)
    assert result.code == 0, result.err
    json.loads(result.out)  # the statistics follow the sync, as JSON


def stats_of(*args: str) -> dict:
    result = run_cli("--use-cache", "--format", "json", *args)
    assert result.code == 0, result.err
    stats = json.loads(result.out)
    stats.pop("generated_at")
    return stats


def test_a_sync_into_a_local_lake_commits_the_run_date(sim, api, tmp_path) -> None:
    lake = str(tmp_path / "lake")
    sync(sim, api, DAY1, "--storage-backend", "lake", "--lake", lake)
    with LakeStorage(lake) as store:
        manifest = store.manifest(DAY1)
        assert manifest is not None
        for resource in Resource:
            assert manifest.counts[resource.value]["written"] == len(
                served_ids(sim, resource, DAY1)
            )
    assert not Path("vanta_vulnerabilities.db").exists()  # no SQLite file for a lake run


def test_the_s3_backend_on_moto(sim, api, moto_endpoint, monkeypatch) -> None:
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    bucket = f"cli-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    lake = f"s3://{bucket}/vanta"
    sync(sim, api, DAY1, "--storage-backend", "s3", "--lake", lake)
    stats = stats_of("--storage-backend", "s3", "--lake", lake)
    assert stats["total_count"] == len(served_ids(sim, Resource.VULNERABILITIES, DAY1))
    keys = {item["Key"] for item in boto3.client("s3").list_objects_v2(Bucket=bucket)["Contents"]}
    assert "vanta/_commits/2026-11-01.json" in keys
    assert "vanta/vulnerabilities/current/vulnerabilities_latest.parquet" in keys


def test_hybrid_writes_both_stores_and_their_statistics_agree(sim, api, tmp_path) -> None:
    lake, database = str(tmp_path / "lake"), str(tmp_path / "both.db")
    both = ["--storage-backend", "hybrid", "--lake", lake, "--database", database]
    sync(sim, api, DAY1, *both)
    sync(sim, api, DAY2, *both)
    from_sqlite = stats_of("--database", database)
    from_lake = stats_of("--storage-backend", "lake", "--lake", lake)
    assert from_lake == from_sqlite
    assert [day["date"] for day in from_lake["trends"]["days"]] == ["2026-11-01", "2026-11-02"]
    filtered = ("--severity", "CRITICAL", "HIGH", "--status", "all", "--fixable")
    assert stats_of("--storage-backend", "lake", "--lake", lake, *filtered) == stats_of(
        "--database", database, *filtered
    )
    out_sqlite, out_lake = tmp_path / "sqlite.json", tmp_path / "lake.json"
    assert run_cli("--use-cache", "--database", database, "--output", str(out_sqlite)).code == 0
    lake_only = ["--storage-backend", "lake", "--lake", lake]
    assert run_cli("--use-cache", *lake_only, "--output", str(out_lake)).code == 0
    first, second = json.loads(out_sqlite.read_text()), json.loads(out_lake.read_text())
    first.pop("generated_at"), second.pop("generated_at")
    assert first == second


def test_the_lake_comes_from_the_environment_or_config_json(sim, api, tmp_path, monkeypatch):
    lake = tmp_path / "from-env"
    monkeypatch.setenv("VANTA_LAKE", str(lake))
    sync(sim, api, DAY1, "--storage-backend", "lake")
    assert LakeStorage(str(lake)).manifest(DAY1) is not None
    monkeypatch.delenv("VANTA_LAKE")
    Path("config.json").write_text(
        json.dumps({"storage_backend": "lake", "lake": str(lake)}), encoding="utf-8"
    )
    stats = stats_of()
    assert stats["total_count"] == len(served_ids(sim, Resource.VULNERABILITIES, DAY1))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--storage-backend", "lake"], "needs a lake"),
        (["--storage-backend", "s3", "--lake", "some/dir"], "needs an s3:// lake"),
        (["--storage-backend", "lake", "--lake", "ftp://x/y"], "neither a local directory"),
        (["--run-date", "2026-13-01"], "Invalid --run-date"),
        (
            ["--run-date", (datetime.now(UTC).date() + timedelta(days=3)).isoformat()],
            "in the future",
        ),
    ],
)
def test_bad_lake_settings_are_one_line_errors(api, args, message) -> None:
    result = run_cli("--sync", *api, *args)
    assert result.code == 2
    assert message in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert "Traceback" not in result.err


def test_an_empty_lake_with_use_cache_says_so(tmp_path) -> None:
    result = run_cli("--use-cache", "--storage-backend", "lake", "--lake", str(tmp_path / "x"))
    assert result.code == 2
    assert "holds no synced data yet" in result.err


def test_a_lake_sync_that_fails_commits_nothing_and_says_so(tmp_path: Path, monkeypatch) -> None:
    # Given an API that fails for good from its fourth page on
    config = SimulatorConfig(
        records=800,
        seed=9,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        rate_limit=0,
        as_of=DAY1,
        faults=FaultConfig(error_burst_pages=frozenset({4}), error_burst_count=1000),
    )
    monkeypatch.setenv("VANTA_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("VANTA_CLIENT_SECRET", CLIENT_SECRET)
    lake = tmp_path / "lake"
    with VantaSimulator(config) as failing:
        # When a sync into the lake runs the pipeline's steps and meets it
        result = run_cli(
            "--sync",
            "--storage-backend",
            "lake",
            "--lake",
            str(lake),
            "--max-retries",
            "1",
            "--api-url",
            failing.url,
            "--requests-per-minute",
            "0",
            "--no-progress",
        )
    # Then it fails with one line, commits nothing and records why
    assert result.code == 1
    assert "Nothing of this run was committed" in result.err
    assert "Traceback" not in result.err
    with LakeStorage(str(lake)) as store:
        assert store.manifests() == {}
        (run,) = store.sync_history()
    assert run.status == "failed"
    assert run.counts(Resource.VULNERABILITIES).fetched == 300
