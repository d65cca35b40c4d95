"""Statistics over the Parquet lake (DuckDB on its files) equal those over the SQLite store.

The same two consecutive days of a simulated tenant are synced into a SQLite store and a lake
with the same run dates and times (finish times included), so every statistic, ``data_as_of``
too, must be equal key for key. The lake is then read
from moto's S3 as well, and with runs that never committed.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import time as clock
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from vanta_vuln_stats import cli
from vanta_vuln_stats.model import Resource, normalize_batch
from vanta_vuln_stats.stats import compute_statistics
from vanta_vuln_stats.storage import SQLiteStorage, StorageBackend, VulnerabilityFilter
from vanta_vuln_stats.storage.lake import LakeStorage
from vanta_vuln_stats.storage.lake.engine import lake_connection

from .lake_tenant import BATCH, DAY1, DAY2, DAY3, NOW, TENANT, FrozenClock, V


def records(day: date) -> dict[Resource, list[dict[str, Any]]]:
    return {resource: list(TENANT.iter_records(resource, as_of=day)) for resource in Resource}


def sync_day(store: StorageBackend, day: date, data: dict[Resource, list[dict[str, Any]]]) -> None:
    """One complete run of ``day``, started at 06:00 UTC that day and finished seven minutes
    later, through the store's public API."""
    started = datetime.combine(day, time(6), UTC)
    run = store.begin_sync(started_at=started, run_date=day)
    for resource, raws in data.items():
        for offset in range(0, len(raws), BATCH):
            batch = normalize_batch(resource, raws[offset : offset + BATCH])
            store.store_batch(run, resource, batch.rows)
            store.store_rejections(run, batch.rejections)
    store.finish_sync(
        run,
        complete=list(Resource),
        fetched={r: len(x) for r, x in data.items()},
        finished_at=started + timedelta(minutes=7),
    )


@dataclass(frozen=True)
class Stores:
    sqlite: Path
    lake: Path
    day2: dict[Resource, list[dict[str, Any]]]

    @property
    def integration(self) -> str:
        return sorted({v["integrationId"] for v in self.day2[V]})[0]

    @property
    def asset(self) -> str:
        return self.day2[V][0]["targetId"]


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Stores:
    folder = tmp_path_factory.mktemp("lake-statistics")
    sqlite_path, lake_path = folder / "vanta.db", folder / "lake"
    day1, day2 = records(DAY1), records(DAY2)
    with SQLiteStorage(sqlite_path) as sqlite_store, LakeStorage(str(lake_path)) as lake:
        for day, data in ((DAY1, day1), (DAY2, day2)):
            sync_day(sqlite_store, day, data)
            sync_day(lake, day, data)
        changes = lake.last_sync()
    assert changes is not None
    # Every kind of change the trends count happened on day 2.
    assert changes.discovered and changes.resolved and changes.remediated and changes.reactivated
    return Stores(sqlite=sqlite_path, lake=lake_path, day2=day2)


def statistics(store: StorageBackend, filters: VulnerabilityFilter | None = None, **options: Any):
    with store.query_connection() as conn:
        return compute_statistics(conn, filters, now=NOW, **options)


def without_generated_at(stats: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in stats.items() if key != "generated_at"}


# --------------------------------------------------------------------------------------------
# The same statistics from both engines

FILTERS: dict[str, Callable[[Stores], VulnerabilityFilter | None]] = {
    "default": lambda s: None,
    "severity": lambda s: VulnerabilityFilter(severities=["critical", "HIGH"]),
    "status-resolved": lambda s: VulnerabilityFilter(statuses=["resolved"]),
    "status-all": lambda s: VulnerabilityFilter(statuses=["all"]),
    "status-active": lambda s: VulnerabilityFilter(statuses=["active"]),
    "status-deactivated-or-resolved": lambda s: VulnerabilityFilter(
        statuses=["deactivated", "resolved"]
    ),
    "cve": lambda s: VulnerabilityFilter(cve="cve-2025-0"),
    "integration": lambda s: VulnerabilityFilter(integration_ids=[s.integration]),
    "fixable": lambda s: VulnerabilityFilter(fixable=True),
    "not-fixable": lambda s: VulnerabilityFilter(fixable=False, statuses=["all"]),
    "identified-dates": lambda s: VulnerabilityFilter(
        identified_start="2026-01-01", identified_end=date(2026, 10, 31)
    ),
    "remediated-dates": lambda s: VulnerabilityFilter(
        remediated_start="2026-06-01", statuses=["all"]
    ),
    "asset": lambda s: VulnerabilityFilter(asset_id=s.asset, statuses=["all"]),
    "combined": lambda s: VulnerabilityFilter(
        severities=["MEDIUM"], fixable=True, statuses=["active", "resolved"], cve="-"
    ),
}


@pytest.mark.parametrize("case", list(FILTERS))
def test_lake_statistics_equal_sqlite_statistics(stores: Stores, case: str) -> None:
    filters = FILTERS[case](stores)
    with SQLiteStorage(stores.sqlite) as sqlite_store, LakeStorage(str(stores.lake)) as lake:
        expected = statistics(sqlite_store, filters)
        actual = statistics(lake, filters)
    assert expected["total_count"] or case == "status-resolved" or expected["trends"]["days"]
    assert without_generated_at(actual) == without_generated_at(expected)


def test_the_comparison_is_not_empty(stores: Stores) -> None:
    with LakeStorage(str(stores.lake)) as lake:
        stats = statistics(lake, VulnerabilityFilter(statuses=["all"]))
    assert stats["total_count"] > 500
    assert stats["by_severity"] and stats["average_cvss_by_severity"]
    assert stats["remediation_sla"]["on_time"] and stats["remediation_sla"]["late"]
    assert stats["time_to_remediate"]["overall"]["count"] > 0
    assert [day["date"] for day in stats["trends"]["days"]] == [str(DAY1), str(DAY2)]
    assert stats["data_as_of"] == "2026-11-06T06:07:00.000Z"
    resolved = statistics(lake, VulnerabilityFilter(statuses=["resolved"]))
    assert resolved["total_count"] > 0


def test_top_lists_of_any_length_are_equal(stores: Stores) -> None:
    with SQLiteStorage(stores.sqlite) as sqlite_store, LakeStorage(str(stores.lake)) as lake:
        for top_n in (0, 3, 1000):
            expected = statistics(sqlite_store, top_n=top_n)
            actual = statistics(lake, top_n=top_n)
            assert without_generated_at(actual) == without_generated_at(expected)


def test_exported_vulnerabilities_are_equal(stores: Stores) -> None:
    with SQLiteStorage(stores.sqlite) as sqlite_store, LakeStorage(str(stores.lake)) as lake:
        for filters in (None, VulnerabilityFilter(statuses=["all"], cve="CVE-2025")):
            expected = list(sqlite_store.iter_vulnerabilities(filters))
            assert expected
            assert list(lake.iter_vulnerabilities(filters)) == expected


def run_cli(*args: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(args))
    assert code == 0, err.getvalue()
    return out.getvalue()


def test_output_file_is_the_same_json_from_either_backend(
    stores: Stores, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    FrozenClock.current = NOW
    monkeypatch.setattr("vanta_vuln_stats.stats.generator.datetime", FrozenClock.datetime_class())
    sqlite_json, lake_json = tmp_path / "sqlite.json", tmp_path / "lake.json"
    run_cli("--use-cache", "--database", str(stores.sqlite), "--output", str(sqlite_json))
    run_cli(
        "--use-cache",
        "--storage-backend",
        "lake",
        "--lake",
        str(stores.lake),
        "--output",
        str(lake_json),
    )
    assert json.loads(lake_json.read_text())["total_count"] > 0
    assert lake_json.read_bytes() == sqlite_json.read_bytes()


def test_a_migrated_lake_answers_like_the_database_it_came_from(
    stores: Stores, tmp_path: Path
) -> None:
    from vanta_vuln_stats.storage.lake.migration import migrate

    # One committed day that lists the history and the run log of every earlier day.
    migrate(stores.sqlite, str(tmp_path / "migrated"))
    with (
        SQLiteStorage(stores.sqlite) as sqlite_store,
        LakeStorage(str(tmp_path / "migrated")) as lake,
    ):
        assert len(lake.manifests()) == 1
        for case in ("default", "status-all", "cve", "remediated-dates"):
            filters = FILTERS[case](stores)
            expected = statistics(sqlite_store, filters)
            assert without_generated_at(statistics(lake, filters)) == without_generated_at(expected)


def test_an_empty_lake_answers_like_an_empty_database(tmp_path: Path) -> None:
    with (
        SQLiteStorage(tmp_path / "empty.db") as sqlite_store,
        LakeStorage(str(tmp_path / "empty-lake")) as lake,
    ):
        expected = statistics(sqlite_store)
        actual = statistics(lake)
    assert actual["total_count"] == 0 and actual["trends"]["days"] == []
    assert without_generated_at(actual) == without_generated_at(expected)


# --------------------------------------------------------------------------------------------
# Only committed data is seen


def _copy(stores: Stores, tmp_path: Path) -> Path:
    target = tmp_path / "lake"
    shutil.copytree(stores.lake, target)
    return target


def _wait_for_parts(folder: Path, count: int) -> None:
    deadline = clock.monotonic() + 30
    while len(list(folder.glob("*.parquet"))) < count:
        assert clock.monotonic() < deadline, f"{count} parts never appeared in {folder}"
        clock.sleep(0.05)


def test_an_uncommitted_run_is_invisible(stores: Stores, tmp_path: Path) -> None:
    root = _copy(stores, tmp_path)
    with LakeStorage(str(root)) as reader:
        before = statistics(reader, VulnerabilityFilter(statuses=["all"]))

    day3 = records(DAY3)
    writer = LakeStorage(str(root), chunk_rows=100)
    run = writer.begin_sync(started_at=datetime.combine(DAY3, time(6), UTC), run_date=DAY3)
    rows = normalize_batch(V, day3[V]).rows
    writer.store_batch(run, V, rows)
    parts = root / "vulnerabilities" / "year=2026" / "month=11" / "day=07"
    _wait_for_parts(parts, len(rows) // 100)

    with LakeStorage(str(root)) as reader:
        # Parts of the open run are on disk, but nothing committed them.
        assert statistics(reader, VulnerabilityFilter(statuses=["all"])) == before

    writer.abort_sync(run, reason="the walk failed", status="failed")
    writer.close()
    with LakeStorage(str(root)) as reader:
        assert statistics(reader, VulnerabilityFilter(statuses=["all"])) == before
        with reader.query_connection() as conn:
            statuses = conn.execute(
                "SELECT status, message FROM sync_history ORDER BY started_at"
            ).fetchall()
    # The failed run is in the run log, as the SQLite store keeps failed runs.
    assert statuses == [("complete", None), ("complete", None), ("failed", "the walk failed")]


def test_a_run_that_wrote_everything_but_its_commit_is_invisible(
    stores: Stores, tmp_path: Path
) -> None:
    root = _copy(stores, tmp_path)
    with LakeStorage(str(root)) as lake:
        before = statistics(lake)
        sync_day(lake, DAY3, records(DAY3))
        assert statistics(lake) != before
    # A crash just before the commit manifest: the day's parts, state, history and its
    # sync_history row (status complete) are all written.
    (root / "_commits" / f"{DAY3.isoformat()}.json").unlink()
    with LakeStorage(str(root)) as lake:
        assert statistics(lake) == before


def test_a_day_being_re_run_reads_as_absent(stores: Stores, tmp_path: Path) -> None:
    root = _copy(stores, tmp_path)
    with LakeStorage(str(root)) as lake:
        with lake_connection(lake) as conn:
            days = conn.execute("SELECT COUNT(DISTINCT snapshot_date) FROM vulnerability_history")
            assert days.fetchone() == (2,)
        lake.begin_sync(started_at=datetime.combine(DAY2, time(8), UTC), run_date=DAY2)
        with lake_connection(lake) as conn:
            days = conn.execute("SELECT COUNT(DISTINCT snapshot_date) FROM vulnerability_history")
            assert days.fetchone() == (1,)
            runs = conn.execute("SELECT COUNT(*) FROM sync_history").fetchone()
            assert runs == (1,)
            state_day = conn.execute("SELECT MAX(last_seen_run_date) FROM vulnerabilities_seen")
            assert state_day.fetchone() == (DAY1,)


# --------------------------------------------------------------------------------------------
# S3


@pytest.fixture
def s3_lake(stores: Stores, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The module's lake copied object by object into a bucket of moto's S3 (server mode)."""
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    s3 = boto3.client("s3", region_name="us-east-1")
    bucket = "vanta-lake-statistics"
    s3.create_bucket(Bucket=bucket)
    for path in stores.lake.rglob("*"):
        if path.is_file():
            key = f"tenant/{path.relative_to(stores.lake).as_posix()}"
            s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
    yield f"s3://{bucket}/tenant"


def test_statistics_from_s3_equal_those_from_the_local_lake(stores: Stores, s3_lake: str) -> None:
    with LakeStorage(str(stores.lake)) as local, LakeStorage(s3_lake) as remote:
        assert remote.location.is_s3
        for filters in (None, VulnerabilityFilter(statuses=["all"], cve="CVE-2025")):
            expected = statistics(local, filters)
            assert without_generated_at(statistics(remote, filters)) == without_generated_at(
                expected
            )
        assert [r["id"] for r in remote.iter_vulnerabilities()] == [
            r["id"] for r in local.iter_vulnerabilities()
        ]
