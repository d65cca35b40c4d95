"""``vanta-vuln-stats migrate`` through its real entry point: a database of the earlier tool and one
of this project's, into a local folder and into S3 (moto in server mode, over HTTP).

Every number is checked against the source database itself (counted with SQL), never against
numbers written into the test.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import re
import shutil
import sqlite3
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

import vanta_vuln_stats.devstack.legacy as legacy
from vanta_vuln_stats import cli
from vanta_vuln_stats.devstack.simulator.tenant import BASE_DATE, Tenant
from vanta_vuln_stats.errors import StoreError
from vanta_vuln_stats.model.fields import Resource
from vanta_vuln_stats.model.records import normalize_batch
from vanta_vuln_stats.storage.lake import layout
from vanta_vuln_stats.storage.lake.fs import LakeLocation
from vanta_vuln_stats.storage.lake.migration import migrate, validate
from vanta_vuln_stats.storage.lake.store import LakeStorage, write_parquet_bytes
from vanta_vuln_stats.storage.sqlite import SQLiteStorage

V = Resource.VULNERABILITIES
COMPLETE = {"includeVulnerabilitiesWithoutSlas": "true"}
MALFORMED_RATE = 0.02


@dataclass
class Run:
    code: int
    out: str
    err: str


def run_cli(*args: str) -> Run:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(args))
    return Run(code, out.getvalue(), err.getvalue())


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- Sources -------------------------------------------------------------------------------------


def _params(resource: Resource) -> dict[str, str] | None:
    return COMPLETE if resource is V else None


class _Clock(datetime):
    """datetime whose utcnow() the test sets: the earlier tool stamped rows with utcnow()."""

    now_value = datetime(2000, 1, 1)

    @classmethod
    def utcnow(cls) -> datetime:  # type: ignore[override]
        return cls.now_value


def build_earlier_tool_db(path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two daily syncs of the earlier tool (devstack/legacy.py), on two dates."""
    tenant = Tenant(150, seed=5)
    monkeypatch.setattr(legacy, "datetime", _Clock)
    with contextlib.closing(sqlite3.connect(path)) as conn:
        for offset in range(2):
            day = BASE_DATE + timedelta(days=offset)
            _Clock.now_value = datetime(day.year, day.month, day.day, 7, 26, 33, 483123)
            legacy.legacy_store(conn, list(tenant.iter_records(V, as_of=day, params=COMPLETE)))
    monkeypatch.undo()
    return path


def build_project_db(path: Path) -> Path:
    """This project's store: two complete daily syncs of all three resources (with rejected
    records and resolved findings), the second a back-fill run days later for its own day, then
    an interrupted run."""
    tenant = Tenant(200, seed=9)
    with SQLiteStorage(path) as store:
        for offset in range(2):
            day = BASE_DATE + timedelta(days=offset)
            started = datetime.combine(day + timedelta(days=4 * offset), time(7), UTC)
            run = store.begin_sync(started_at=started, run_date=day)
            fetched = {}
            for resource in Resource:
                served = [
                    record
                    for record, _ in tenant.iter_served(
                        resource, as_of=day, params=_params(resource), malformed_rate=MALFORMED_RATE
                    )
                ]
                batch = normalize_batch(resource, served)
                store.store_batch(run, resource, batch.rows)
                store.store_rejections(run, batch.rejections)
                fetched[resource] = batch.received
            store.finish_sync(run, complete=list(Resource), fetched=fetched)
        day = BASE_DATE + timedelta(days=2)
        run = store.begin_sync(started_at=datetime.combine(day, datetime.min.time(), UTC))
        store.abort_sync(run, reason="KeyboardInterrupt", status="interrupted")
    return path


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sources")
    with pytest.MonkeyPatch.context() as monkeypatch:
        earlier = build_earlier_tool_db(folder / "vanta_vulnerabilities.db", monkeypatch)
    return {"earlier": earlier, "project": build_project_db(folder / "project.db")}


@pytest.fixture(params=["earlier", "project"])
def source(request: pytest.FixtureRequest, sources: dict[str, Path], tmp_path: Path) -> Path:
    """A fresh copy of a source database in its own folder (the test checks the folder)."""
    folder = tmp_path / "source"
    folder.mkdir()
    return Path(shutil.copy(sources[request.param], folder))


@pytest.fixture(params=["local", "s3"])
def destination(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "local":
        return str(tmp_path / "lake")
    endpoint = request.getfixturevalue("moto_endpoint")
    request.getfixturevalue("monkeypatch").setenv("AWS_ENDPOINT_URL", endpoint)
    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", region_name="us-east-1", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    return f"s3://{bucket}/vanta"


# -- What the source holds, counted with SQL -----------------------------------------------------


@dataclass
class SourceFacts:
    rows: dict[str, int]  # source table -> rows
    reported: dict[str, int]  # resource table -> rows not resolved
    history_days: Counter[date]
    history_types: Counter[str]
    sync_statuses: Counter[str]
    sync_days: Counter[date]  # the day each run counted for (the date of its sync_date)
    last_complete_day: date
    raw: dict[str, dict[str, Any]]  # vulnerability id -> raw record


def facts(path: Path) -> SourceFacts:
    with contextlib.closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}

        def count(sql: str) -> int:
            return conn.execute(sql).fetchone()[0]

        rows, reported = {}, {}
        for table in (*(r.value for r in Resource), "vulnerability_history", "sync_history"):
            rows[table] = count(f"SELECT count(*) FROM {table}") if table in tables else 0
        rows["rejected_records"] = (
            count("SELECT count(*) FROM rejected_records") if "rejected_records" in tables else 0
        )
        for resource in Resource:
            table = resource.value
            columns = (
                {c[1] for c in conn.execute(f"PRAGMA table_info({table})")}
                if table in tables
                else set()
            )
            where = " WHERE resolved_at IS NULL" if "resolved_at" in columns else ""
            reported[table] = count(f"SELECT count(*) FROM {table}{where}") if columns else 0
        history = conn.execute("SELECT snapshot_date, change_type FROM vulnerability_history")
        days: Counter[date] = Counter()
        types: Counter[str] = Counter()
        for when, change in history:
            days[_day_of(when)] += 1
            types[change] += 1
        sync_columns = {c[1] for c in conn.execute("PRAGMA table_info(sync_history)")}
        status = "status" if "status" in sync_columns else "'complete'"
        syncs = conn.execute(f"SELECT {status}, sync_date FROM sync_history").fetchall()
        statuses = Counter(s for s, _ in syncs)
        last = max(d for s, d in syncs if s == "complete")
        sync_days = Counter(_day_of(d) for _, d in syncs)
        raw = {
            vuln_id: json.loads(text)
            for vuln_id, text in conn.execute("SELECT id, raw_data FROM vulnerabilities")
        }
    return SourceFacts(
        rows,
        reported,
        days,
        types,
        statuses,
        sync_days,
        _day_of(last),
        raw,
    )


def _day_of(text: str) -> date:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).date()


# -- What the lake holds -------------------------------------------------------------------------


def objects(destination: str) -> dict[str, int]:
    """Every object under the destination, with its size."""
    location = LakeLocation.parse(destination)
    selector = pafs.FileSelector(location.root, recursive=True, allow_not_found=True)
    return {
        location.key_of(info.path): info.size
        for info in location.filesystem.get_file_info(selector)
        if info.type == pafs.FileType.File
    }


def read(destination: str, key: str) -> pa.Table:
    location = LakeLocation.parse(destination)
    return pq.read_table(location.path(key), filesystem=location.filesystem, partitioning=None)


def report_rows(out: str) -> dict[str, int]:
    """The rows column of the migrate report, by table."""
    rows = {}
    for line in out.splitlines():
        match = re.match(r"^(\S+(?: \S+)?)\s+([\d,]+)\s+(\d+)\s+(-|[\d,]+)\s+([\d,]+)$", line)
        if match:
            rows[match.group(1)] = int(match.group(2).replace(",", ""))
    return rows


def assert_report_matches_source(out: str, expected: SourceFacts) -> None:
    rows = report_rows(out)
    for resource in Resource:
        name = resource.value
        assert rows[f"{name} state"] == expected.rows[name], name
        assert rows[f"{name} current"] == expected.rows[name], name
        assert rows[name] == expected.reported[name], name
    assert rows["vulnerability_history"] == expected.rows["vulnerability_history"]
    assert rows["sync_history"] == expected.rows["sync_history"]
    assert rows["rejects"] == expected.rows["rejected_records"]


# -- dry run -------------------------------------------------------------------------------------


def test_dry_run_writes_nothing_and_its_numbers_are_the_sources(source, destination):
    expected = facts(source)
    before = sha256(source)
    result = run_cli("migrate", "--from", str(source), "--to", destination, "--dry-run")
    assert result.code == 0, result.err
    assert objects(destination) == {}
    assert not Path(destination).exists() or destination.startswith("s3://")
    assert_report_matches_source(result.out, expected)
    assert result.out.rstrip().endswith("Dry run: nothing was written.")
    assert "run id:" not in result.out
    assert sha256(source) == before


# -- migrate, validate, tamper, rollback ---------------------------------------------------------


def test_migrate_validate_and_roll_back(source, destination, tmp_path):
    expected = facts(source)
    before = sha256(source)
    neighbour = _neighbour(destination, tmp_path)

    result = run_cli("migrate", "--from", str(source), "--to", destination)
    assert result.code == 0, result.err
    last_line = result.out.rstrip().splitlines()[-1]
    match = re.fullmatch(r"run id: (\d{8}T\d{9}Z)", last_line)
    assert match, last_line
    run_id = match.group(1)
    assert_report_matches_source(result.out, expected)

    # The source is read, never written: same bytes, no upgrade backup beside it.
    assert sha256(source) == before
    assert not list(source.parent.glob("*.bak"))

    written = objects(destination)
    manifest = json.loads(LakeLocation.parse(destination).read_bytes(f"_migrations/{run_id}.json"))
    assert {entry["key"] for entry in manifest["files"]} | {f"_migrations/{run_id}.json"} == set(
        written
    )
    _assert_lake_holds_the_source(destination, expected, run_id)

    valid = run_cli("migrate", "--to", destination, "--validate")
    assert valid.code == 0, valid.out + valid.err
    assert "Valid: every table has the source's rows and checksum." in valid.out
    assert "unchanged since the migration" in valid.out

    # One row of one part changed, same row count: the checksum tells.
    part = sorted(k for k in written if k.startswith("vulnerability_history/"))[0]
    table = read(destination, part)
    first_row = pc.equal(pa.array(range(table.num_rows)), 0)
    changed = pc.if_else(first_row, "reactivated", table["change_type"])
    table = table.set_column(table.schema.get_field_index("change_type"), "change_type", changed)
    LakeLocation.parse(destination).write_bytes(part, write_parquet_bytes(table))
    tampered = run_cli("migrate", "--to", destination, "--validate")
    assert tampered.code == 1
    assert re.search(r"^vulnerability_history\s.*MISMATCH", tampered.out, re.MULTILINE)
    assert tampered.err.strip().splitlines() == [
        f"Error: The lake at {LakeLocation.parse(destination).uri} does not hold what the "
        "source held: 1 table(s) differ (vulnerability_history); 1 other problem(s)."
    ]

    undone = run_cli("migrate", "--to", destination, "--rollback", run_id)
    assert undone.code == 0, undone.err
    assert f"removed {len(written)} objects" in undone.out
    assert objects(destination) == {}
    assert neighbour() is True
    assert sha256(source) == before


def _neighbour(destination: str, tmp_path: Path):
    """An object beside the lake (same bucket or folder), which a rollback must not touch."""
    if destination.startswith("s3://"):
        bucket = destination.removeprefix("s3://").split("/", 1)[0]
        location = LakeLocation.parse(f"s3://{bucket}/elsewhere")
    else:
        location = LakeLocation.parse(str(tmp_path / "elsewhere"))
    location.write_bytes("keep.txt", b"not the migration's")
    return lambda: location.read_bytes("keep.txt") == b"not the migration's"


def _assert_lake_holds_the_source(destination: str, expected: SourceFacts, run_id: str) -> None:
    lake = LakeStorage(destination)
    try:
        manifests = lake.manifests()
        assert list(manifests) == [expected.last_complete_day]
        commit = manifests[expected.last_complete_day]
        assert commit.run_id == run_id
        day = commit.run_date

        for resource in Resource:
            name = resource.value
            state = read(destination, commit.state[name])
            assert state.num_rows == expected.rows[name]
            assert state.schema.equals(layout.state_schema(resource))
            assert read(destination, layout.current_key(resource)).equals(state)
            parts = commit.keys(name)
            assert all(key.startswith(layout.partition_prefix(name, day)) for key in parts)
            assert sum(read(destination, key).num_rows for key in parts) == expected.reported[name]

        # History keeps its dates: one partition per source day, with that day's events.
        history_keys = commit.keys(layout.HISTORY_TABLE)
        per_day: Counter[date] = Counter()
        for key in history_keys:
            table = read(destination, key)
            assert table.schema.equals(layout.history_schema())
            days = set(table["run_date"].to_pylist())
            assert len(days) == 1 and key.startswith(
                layout.partition_prefix(layout.HISTORY_TABLE, next(iter(days)))
            )
            assert set(table["run_id"].to_pylist()) == {run_id}
            per_day[next(iter(days))] += table.num_rows
        assert per_day == expected.history_days
        assert {k for k in objects(destination) if k.startswith("vulnerability_history/")} == set(
            history_keys
        )
        events = lake.change_history()
        assert Counter(e.change_type for e in events) == expected.history_types

        runs = lake.sync_history()
        assert len(runs) == expected.rows["sync_history"]
        assert Counter(r.status for r in runs) == expected.sync_statuses - Counter(
            {"running": expected.sync_statuses["running"]}
        )
        # Runs keep their days too: each in the partition of the day it counted for.
        sync_days: Counter[date] = Counter()
        for key in commit.keys(layout.SYNC_HISTORY_TABLE):
            for day_of_run in read(destination, key)["run_date"].to_pylist():
                assert key.startswith(
                    layout.partition_prefix(layout.SYNC_HISTORY_TABLE, day_of_run)
                )
                sync_days[day_of_run] += 1
        assert sync_days == expected.sync_days
        assert commit.sync_history in commit.keys(layout.SYNC_HISTORY_TABLE)
        rejects = sum(read(destination, key).num_rows for key in commit.keys("rejects"))
        assert rejects == expected.rows["rejected_records"]

        # The raw backup has every record as the source kept it, in the sync's line format.
        backup = gzip.decompress(LakeLocation.parse(destination).read_bytes(commit.backup))
        lines = [json.loads(line) for line in backup.splitlines()]
        by_resource = Counter(line["resource"] for line in lines)
        for resource in Resource:
            assert by_resource[resource.value] == expected.rows[resource.value]
        vulns = {
            line["record"]["id"]: line["record"]
            for line in lines
            if line["resource"] == "vulnerabilities"
        }
        assert vulns == expected.raw
    finally:
        lake.close()


# -- The migrated lake reads like a synced one ---------------------------------------------------


def test_a_sync_on_the_migrated_day_is_refused(sources, tmp_path):
    source = Path(shutil.copy(sources["project"], tmp_path / "source.db"))
    destination = str(tmp_path / "lake")
    day = migrate(source, destination).plan.run_date
    with LakeStorage(destination) as lake:
        for run_date in (day, day - timedelta(days=1)):
            with pytest.raises(StoreError, match="holds a migration committed for"):
                lake.begin_sync(run_date=run_date)
        assert list(lake.manifests()) == [day]  # the migrated commit stays


@pytest.mark.parametrize("kind", ["earlier", "project"])
def test_the_next_sync_into_the_lake_sees_only_real_changes(kind, sources, tmp_path):
    """Syncing the records of the source's last day again changes nothing (the migrated state is
    what a sync would have written); the next day's records give the changes the SQLite store
    itself records for that day."""
    source = Path(shutil.copy(sources[kind], tmp_path / "source.db"))
    destination = str(tmp_path / "lake")
    result = migrate(source, destination)
    day = result.plan.run_date
    tenant = Tenant(150, seed=5) if kind == "earlier" else Tenant(200, seed=9)
    resources = [V] if kind == "earlier" else list(Resource)

    malformed = 0.0 if kind == "earlier" else MALFORMED_RATE

    def records(resource: Resource, as_of: date) -> list[dict[str, Any]]:
        """What the source's syncs stored of a day: the served records that normalise."""
        served = tenant.iter_served(
            resource, as_of=as_of, params=_params(resource), malformed_rate=malformed
        )
        return normalize_batch(resource, (record for record, _ in served)).rows

    def lake_sync(as_of: date, run_date: date) -> dict[Resource, Any]:
        lake = LakeStorage(destination)
        try:
            run = lake.begin_sync(started_at=datetime.now(UTC), run_date=run_date)
            fetched = {}
            for resource in resources:
                rows = records(resource, as_of)
                lake.store_batch(run, resource, rows)
                fetched[resource] = len(rows)
            summary = lake.finish_sync(run, complete=resources, fetched=fetched)
            return {r: summary.counts(r).changes for r in resources}
        finally:
            lake.close()

    same = lake_sync(day, day + timedelta(days=1))
    for resource in resources:
        changes = same[resource]
        assert (changes.discovered, changes.updated, changes.remediated) == (0, 0, 0), resource
        assert changes.reactivated == 0, resource
    if kind == "earlier":
        return  # the earlier tool never resolved anything; its next day is the SQLite store's

    next_day = day + timedelta(days=1)
    lake_changes = lake_sync(next_day, next_day + timedelta(days=1))
    with SQLiteStorage(source) as store:
        run = store.begin_sync(started_at=datetime.combine(next_day, datetime.min.time(), UTC))
        fetched = {}
        for resource in resources:
            rows = records(resource, next_day)
            store.store_batch(run, resource, rows)
            fetched[resource] = len(rows)
        summary = store.finish_sync(run, complete=resources, fetched=fetched)
    compared = ("discovered", "updated", "remediated", "reactivated", "resolved")
    for resource in resources:
        lake_counts, store_counts = lake_changes[resource], summary.counts(resource).changes
        for name in compared:
            assert getattr(lake_counts, name) == getattr(store_counts, name), (resource, name)
    assert sum(getattr(lake_changes[V], name) for name in compared) > 0


# -- Large tables in many parts ------------------------------------------------------------------


def test_small_parts_give_the_planned_keys_and_validate(sources, tmp_path):
    destination = str(tmp_path / "lake")
    result = migrate(sources["project"], destination, chunk_rows=40)
    history = result.plan.entries["vulnerability_history"]
    assert len(history.keys) > history.partitions  # some day has several parts
    assert set(objects(destination)) == set(result.sizes)
    for key, size in objects(destination).items():
        assert result.sizes[key] == size
    assert validate(destination).ok


# -- Errors: one line, exit code 2 ---------------------------------------------------------------


def _one_line_error(result: Run) -> str:
    assert result.code == 2, result.out + result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.err
    assert "Traceback" not in result.err
    return lines[0]


def test_a_foreign_or_non_sqlite_or_missing_file_is_refused(tmp_path):
    foreign = tmp_path / "other.db"
    with contextlib.closing(sqlite3.connect(foreign)) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER)")
    text = tmp_path / "notes.db"
    text.write_text("these are not the tables you are looking for\n" * 20)
    lake = tmp_path / "lake"
    cases = {
        foreign: f"Error: The database {foreign} belongs to another program",
        text: f"Error: The file {text} is not a SQLite database.",
        tmp_path / "absent.db": f"Error: The database {tmp_path / 'absent.db'} does not exist.",
    }
    for path, message in cases.items():
        line = _one_line_error(run_cli("migrate", "--from", str(path), "--to", str(lake)))
        assert line.startswith(message), line
        assert not lake.exists()


def test_a_destination_that_holds_data_is_refused(sources, tmp_path):
    lake = tmp_path / "lake"
    assert run_cli("migrate", "--from", str(sources["earlier"]), "--to", str(lake)).code == 0
    again = run_cli("migrate", "--from", str(sources["project"]), "--to", str(lake))
    assert "is already a lake with 1 committed day(s)" in _one_line_error(again)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    busy = run_cli("migrate", "--from", str(sources["project"]), "--to", str(other), "--dry-run")
    assert "is not empty (it holds notes.txt)" in _one_line_error(busy)


def test_unknown_run_ids_and_missing_runs_are_clear_errors(sources, tmp_path):
    lake = tmp_path / "lake"
    nothing = run_cli("migrate", "--to", str(lake), "--validate")
    assert _one_line_error(nothing) == f"Error: No migration has been run to {lake}."
    run_id = run_cli("migrate", "--from", str(sources["earlier"]), "--to", str(lake)).out
    run_id = run_id.rstrip().rsplit(" ", 1)[-1]
    for unknown in ("20200101T000000000Z", "../../etc/passwd"):
        line = _one_line_error(run_cli("migrate", "--to", str(lake), "--rollback", unknown))
        assert line == f"Error: No migration run {unknown!r} at {lake} (runs there: {run_id})."


def test_a_damaged_value_stops_the_migration_and_leaves_nothing(sources, tmp_path):
    source = Path(shutil.copy(sources["earlier"], tmp_path / "damaged.db"))
    with contextlib.closing(sqlite3.connect(source)) as conn, conn:
        victim = conn.execute("SELECT id FROM vulnerabilities ORDER BY id LIMIT 1").fetchone()[0]
        conn.execute(
            "UPDATE vulnerabilities SET first_detected_date = 'last tuesday' WHERE id = ?",
            (victim,),
        )
    lake = tmp_path / "lake"
    line = _one_line_error(run_cli("migrate", "--from", str(source), "--to", str(lake)))
    assert f"vulnerabilities row {victim!r} has 'last tuesday' in first_detected_date" in line
    assert objects(str(lake)) == {}


def test_required_values_missing_in_the_source_are_filled_as_documented(sources, tmp_path):
    source = Path(shutil.copy(sources["earlier"], tmp_path / "gaps.db"))
    with contextlib.closing(sqlite3.connect(source)) as conn, conn:
        victim = conn.execute("SELECT id FROM vulnerabilities ORDER BY id LIMIT 1").fetchone()[0]
        conn.execute(
            "UPDATE vulnerabilities SET integration_id = NULL, is_fixable = NULL WHERE id = ?",
            (victim,),
        )
    destination = str(tmp_path / "lake")
    result = migrate(source, destination)
    state = read(destination, layout.state_key(V, result.plan.run_date))
    row = state.filter(pc.equal(state["id"], victim)).to_pylist()[0]
    assert row["integration_id"] == "UNKNOWN"
    assert row["is_fixable"] is False
    assert validate(destination).ok


def test_a_run_that_died_is_named_and_rolled_back_from_its_plan(sources, tmp_path, monkeypatch):
    from vanta_vuln_stats.storage.lake.migration import runs, writer

    def die(self) -> None:
        raise RuntimeError("the process was killed")

    # A process that dies does not clean up after itself: no removal, then death mid-run.
    monkeypatch.setattr(runs, "_remove_quietly", lambda location, keys: None)
    monkeypatch.setattr(writer._Writer, "_history", die)
    lake = tmp_path / "lake"
    with pytest.raises(RuntimeError):
        migrate(sources["project"], str(lake))
    monkeypatch.undo()
    left = objects(str(lake))
    [manifest_key] = [key for key in left if key.startswith("_migrations/")]
    run_id = manifest_key.removeprefix("_migrations/").removesuffix(".json")
    assert any(key.startswith("vulnerabilities/") for key in left)

    again = run_cli("migrate", "--from", str(sources["project"]), "--to", str(lake))
    assert _one_line_error(again) == (
        f"Error: The destination {lake} holds migration run {run_id}, which did not finish; "
        f"remove it with --rollback {run_id} or choose another destination."
    )
    checked = run_cli("migrate", "--to", str(lake), "--validate")
    assert checked.code == 1
    assert f"Problem: run {run_id} did not complete (status running)" in checked.out
    undone = run_cli("migrate", "--to", str(lake), "--rollback", run_id)
    assert undone.code == 0, undone.err
    assert objects(str(lake)) == {}


def test_the_glue_catalog_registers_every_day_the_migration_wrote(
    sources, moto_endpoint, monkeypatch
):
    """Athena must see the migrated history on its own dates: the catalog registers the
    partitions of every day the migration's commit has files under, not only the committed
    day."""
    from vanta_vuln_stats.catalog import GlueCatalog, open_lake, sync_catalog

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=bucket)
    destination = f"s3://{bucket}/vanta"
    expected = facts(sources["project"])
    result = migrate(sources["project"], destination)
    database = f"vanta_{uuid.uuid4().hex[:10]}"
    with open_lake(destination) as lake:
        synced = sync_catalog(GlueCatalog(), lake, database)
    assert synced.committed_days == [result.plan.run_date]
    glue = boto3.client("glue", region_name="us-east-1")

    def days(table: str) -> set[date]:
        partitions = glue.get_partitions(DatabaseName=database, TableName=table)["Partitions"]
        return {date(*(int(v) for v in p["Values"])) for p in partitions}

    assert days("vanta_vulnerability_history") == set(expected.history_days)
    assert days("vanta_sync_history") == set(expected.sync_days)
    for resource in Resource:
        assert days(f"vanta_{resource.value}") == {result.plan.run_date}
