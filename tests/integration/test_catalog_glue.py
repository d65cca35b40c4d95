"""The Glue catalog of a real lake on moto's S3, against moto's Glue in server mode over HTTP:
tables and partitions from what the lake committed, idempotent syncs, discovery of days
written without registration, rollback, drift, and the ``catalog`` commands."""

from __future__ import annotations

import contextlib
import io
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pyarrow.parquet as pq
import pytest

from vanta_vuln_stats import cli
from vanta_vuln_stats.catalog import (
    CATALOG_TABLES,
    CURRENT_TABLES,
    GlueCatalog,
    catalog_status,
    glue_columns,
    partition_input,
    register_day,
    sync_catalog,
    unregister_day,
)
from vanta_vuln_stats.catalog.tables import INPUT_FORMAT, OUTPUT_FORMAT, SERDE
from vanta_vuln_stats.devstack.simulator.tenant import Tenant
from vanta_vuln_stats.model import normalize_batch, rows_to_table
from vanta_vuln_stats.model.fields import RAW_COLUMN, Resource
from vanta_vuln_stats.storage.lake import LakeStorage, layout
from vanta_vuln_stats.storage.lake.store import write_parquet_bytes

DAY1 = date(2026, 11, 1)
DAY2 = date(2026, 11, 2)
DAY3 = date(2026, 11, 3)
TABLE_NAMES = [table.name for table in CATALOG_TABLES]
CURRENT_NAMES = [table.name for table in CURRENT_TABLES]


def partitioned(tables: Any) -> list[Any]:
    """The date-partitioned tables of a sync or status result (or of its JSON)."""
    return [
        t
        for t in tables
        if not (t.get("unpartitioned") if isinstance(t, dict) else t.unpartitioned)
    ]


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


def write_day(uri: str, day: date, tenant: Tenant) -> None:
    """Commit one day to the lake, the way a sync does."""
    with LakeStorage(uri) as store:
        run = store.begin_sync(run_date=day)
        fetched = {}
        for resource in Resource:
            records = list(tenant.iter_records(resource, as_of=day))
            batch = normalize_batch(resource, records)
            store.store_batch(run, resource, batch.rows)
            store.store_rejections(run, batch.rejections)
            fetched[resource] = len(records)
        summary = store.finish_sync(run, complete=list(Resource), fetched=fetched)
        assert summary.status == "complete"


def new_lake(days: list[date]) -> str:
    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    uri = f"s3://{bucket}/vanta"
    tenant = Tenant(300)
    for day in days:
        write_day(uri, day, tenant)
    return uri


@pytest.fixture(scope="module")
def lake(moto_endpoint: str) -> Iterator[str]:
    """A lake on moto's S3 with two committed days (read only: tests use their own database)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        patch.delenv("AWS_REGION", raising=False)
        yield new_lake([DAY1, DAY2])


@pytest.fixture(autouse=True)
def emulated_aws(_isolated_environment: None, moto_endpoint: str, monkeypatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)


@pytest.fixture
def database() -> str:
    return f"vanta_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def glue() -> Any:
    return boto3.client("glue")


def registered(glue: Any, database: str, table: str) -> dict[tuple[str, ...], dict[str, Any]]:
    partitions = glue.get_partitions(DatabaseName=database, TableName=table)["Partitions"]
    return {tuple(p["Values"]): p for p in partitions}


def values(day: date) -> tuple[str, str, str]:
    return (f"{day:%Y}", f"{day:%m}", f"{day:%d}")


# --------------------------------------------------------------------------------------------
# Library


def test_sync_creates_the_database_tables_and_a_partition_per_committed_day(
    lake, database, glue
) -> None:
    with LakeStorage(lake) as store:
        result = sync_catalog(GlueCatalog(), store, database)

    assert result.changed and result.database_created
    assert result.committed_days == [DAY1, DAY2]
    assert glue.get_database(Name=database)["Database"]["Name"] == database
    tables = {t["Name"]: t for t in glue.get_tables(DatabaseName=database)["TableList"]}
    assert sorted(tables) == sorted(TABLE_NAMES + CURRENT_NAMES)
    for latest in CURRENT_TABLES:
        table = tables[latest.name]
        assert table["StorageDescriptor"]["Location"] == f"{lake}/{latest.lake_table}/current/"
        assert not table.get("PartitionKeys")
        assert not registered(glue, database, latest.name)
    for spec in CATALOG_TABLES:
        table = tables[spec.name]
        sd = table["StorageDescriptor"]
        assert table["TableType"] == "EXTERNAL_TABLE"
        assert table["Parameters"]["classification"] == "parquet"
        assert sd["Location"] == f"{lake}/{spec.lake_table}/"
        assert sd["SerdeInfo"]["SerializationLibrary"] == SERDE
        assert (sd["InputFormat"], sd["OutputFormat"]) == (INPUT_FORMAT, OUTPUT_FORMAT)
        assert [(k["Name"], k["Type"]) for k in table["PartitionKeys"]] == [
            ("year", "string"),
            ("month", "string"),
            ("day", "string"),
        ]
        partitions = registered(glue, database, spec.name)
        assert sorted(partitions) == [values(DAY1), values(DAY2)], spec.name
        for day in (DAY1, DAY2):
            location = partitions[values(day)]["StorageDescriptor"]["Location"]
            assert location == f"{lake}/{layout.partition_prefix(spec.lake_table, day)}/"
            # ...where the day's committed files are.
            bucket, prefix = location.removeprefix("s3://").split("/", 1)
            listed = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)
            assert listed.get("KeyCount", 0) >= 1
    assert all(len(table.added) == 2 for table in partitioned(result.tables))


def test_glue_columns_equal_the_schema_of_the_written_parquet_files(lake, database, glue) -> None:
    """Files and catalog cannot drift: each table's Glue columns, as Glue returns them, are the
    type map applied to the schema read back from a part file the lake wrote."""
    with LakeStorage(lake) as store:
        sync_catalog(GlueCatalog(), store, database)
        manifest = store.manifest(DAY2)
        assert manifest is not None
        for spec in CATALOG_TABLES:
            if spec.lake_table == layout.SYNC_HISTORY_TABLE:
                key = manifest.sync_history
            else:
                key = manifest.keys(spec.lake_table)[0]
            file_schema = pq.read_schema(
                store.location.path(key), filesystem=store.location.filesystem
            )
            table = glue.get_table(DatabaseName=database, Name=spec.name)["Table"]
            assert table["StorageDescriptor"]["Columns"] == glue_columns(file_schema), spec.name
            assert file_schema.names == spec.schema().names


def test_a_second_sync_changes_nothing(lake, database, glue) -> None:
    catalog = GlueCatalog()
    with LakeStorage(lake) as store:
        sync_catalog(catalog, store, database)
        before = {
            name: (
                glue.get_table(DatabaseName=database, Name=name)["Table"]["VersionId"],
                sorted(registered(glue, database, name)),
            )
            for name in TABLE_NAMES
        }
        again = sync_catalog(catalog, store, database)

    assert not again.changed
    assert all(t.action == "unchanged" and not t.added for t in again.tables)
    assert all(t.registered == 2 for t in partitioned(again.tables))
    after = {
        name: (
            glue.get_table(DatabaseName=database, Name=name)["Table"]["VersionId"],
            sorted(registered(glue, database, name)),
        )
        for name in TABLE_NAMES
    }
    assert after == before  # no table was updated (moto bumps VersionId on every update)


def test_sync_discovers_a_day_committed_without_registration(database, glue) -> None:
    uri = new_lake([DAY1])
    catalog = GlueCatalog()
    with LakeStorage(uri) as store:
        sync_catalog(catalog, store, database)
    # A day lands outside the workflow (a migration, a run whose catalog step never ran).
    write_day(uri, DAY2, Tenant(300))

    with LakeStorage(uri) as store:
        before = catalog_status(catalog, store, database)
        assert not before.in_sync
        assert all(t.missing == [DAY2] and t.registered == 1 for t in partitioned(before.tables))
        result = sync_catalog(catalog, store, database)
        after = catalog_status(catalog, store, database)

    assert all(t.action == "unchanged" and t.added == [DAY2] for t in partitioned(result.tables))
    assert after.in_sync
    for name in TABLE_NAMES:
        assert sorted(registered(glue, database, name)) == [values(DAY1), values(DAY2)]


def test_a_half_written_day_is_not_registered(database, glue) -> None:
    """Files of a run that never committed (no manifest) stay out of the catalog: a part left
    behind and the run's own sync_history row."""
    uri = new_lake([DAY1])
    with LakeStorage(uri) as store:
        run = store.begin_sync(run_date=DAY3)
        store.abort_sync(run, reason="killed", status="interrupted")
        records = list(Tenant(300).iter_records(Resource.VULNERABILITIES, as_of=DAY3))
        rows = normalize_batch(Resource.VULNERABILITIES, records).rows
        table = rows_to_table(Resource.VULNERABILITIES, rows).drop_columns([RAW_COLUMN])
        left_behind = layout.part_key("vulnerabilities", DAY3, 0)
        store.location.write_bytes(left_behind, write_parquet_bytes(table))
        assert any(store.location.list(layout.partition_prefix("sync_history", DAY3)))

        result = sync_catalog(GlueCatalog(), store, database)
    assert result.committed_days == [DAY1]
    for name in TABLE_NAMES:
        assert sorted(registered(glue, database, name)) == [values(DAY1)]


def test_rollback_removes_the_days_partitions_and_register_day_restores_them(
    lake, database, glue
) -> None:
    catalog = GlueCatalog()
    with LakeStorage(lake) as store:
        sync_catalog(catalog, store, database)
        removed = unregister_day(catalog, database, DAY2)
        assert {name: r.done for name, r in removed.items()} == dict.fromkeys(TABLE_NAMES, 1)
        for name in TABLE_NAMES:
            assert sorted(registered(glue, database, name)) == [values(DAY1)]
        status = catalog_status(catalog, store, database)
        assert all(t.missing == [DAY2] for t in partitioned(status.tables))

        # Rolling back again is not an error: the partitions are already gone.
        again = unregister_day(catalog, database, DAY2)
        assert all(r.done == 0 and r.unchanged == 1 for r in again.values())

        manifest = store.manifest(DAY2)
        assert manifest is not None
        added = register_day(catalog, store, database, manifest)
        assert {name: r.done for name, r in added.items()} == dict.fromkeys(TABLE_NAMES, 1)
        repeated = register_day(catalog, store, database, manifest)
        assert all(r.done == 0 and r.unchanged == 1 for r in repeated.values())
        assert catalog_status(catalog, store, database).in_sync


def test_projection_replaces_registration_and_can_be_turned_off(lake, database, glue) -> None:
    catalog = GlueCatalog()
    with LakeStorage(lake) as store:
        projected = sync_catalog(catalog, store, database, projection=True)
        assert all(t.projection and not t.added for t in partitioned(projected.tables))
        table = glue.get_table(DatabaseName=database, Name="vanta_vulnerabilities")["Table"]
        parameters = table["Parameters"]
        assert parameters["projection.enabled"] == "true"
        assert parameters["projection.year.range"] == f"{DAY1.year},NOW"
        assert parameters["storage.location.template"] == (
            f"{lake}/vulnerabilities/year=${{year}}/month=${{month}}/day=${{day}}/"
        )
        assert registered(glue, database, "vanta_vulnerabilities") == {}
        # Without the flag a later sync keeps projection on and changes nothing.
        assert not sync_catalog(catalog, store, database).changed
        assert catalog_status(catalog, store, database).in_sync

        plain = sync_catalog(catalog, store, database, projection=False)
        assert all(t.action == "updated" and len(t.added) == 2 for t in partitioned(plain.tables))
        assert all("partition projection off" in t.reasons for t in partitioned(plain.tables))
    table = glue.get_table(DatabaseName=database, Name="vanta_vulnerabilities")["Table"]
    assert not any(k.startswith("projection.") for k in table["Parameters"])


# --------------------------------------------------------------------------------------------
# Drift


def test_a_column_changed_in_glue_is_reported_and_sync_repairs_it(lake, database, glue) -> None:
    assert run_cli("catalog", "sync", "--lake", lake, "--database", database).code == 0
    table = glue.get_table(DatabaseName=database, Name="vanta_vulnerabilities")["Table"]
    table_input = {
        key: table[key]
        for key in ("Name", "Description", "TableType", "Parameters", "PartitionKeys")
    }
    sd = dict(table["StorageDescriptor"])
    columns = [dict(c) for c in sd["Columns"] if c["Name"] != "scanner_score"]
    for column in columns:
        if column["Name"] == "cvss_severity_score":
            column["Type"] = "string"
    columns.append({"Name": "added_by_hand", "Type": "int"})
    table_input["StorageDescriptor"] = {**sd, "Columns": columns}
    glue.update_table(DatabaseName=database, TableInput=table_input)

    status = run_cli(
        "catalog", "status", "--lake", lake, "--database", database, "--format", "json"
    )
    assert status.code == 0, status.err
    report = json.loads(status.out)
    assert report["in_sync"] is False
    tables = {t["name"]: t for t in report["tables"]}
    assert sorted(tables["vanta_vulnerabilities"]["column_drift"], key=lambda d: d["name"]) == [
        {"name": "added_by_hand", "catalog": "int", "schema": None},
        {"name": "cvss_severity_score", "catalog": "string", "schema": "double"},
        {"name": "scanner_score", "catalog": None, "schema": "double"},
    ]
    assert all(tables[name]["in_sync"] for name in TABLE_NAMES[1:])

    text = run_cli("catalog", "status", "--lake", lake, "--database", database)
    assert (
        "vanta_vulnerabilities: column cvss_severity_score is string in the catalog, double in "
        "the files"
    ) in text.out
    assert "Fix with: vanta-vuln-stats catalog sync" in text.out

    repaired = run_cli("catalog", "sync", "--lake", lake, "--database", database)
    assert repaired.code == 0
    assert "vanta_vulnerabilities" in repaired.out and "updated" in repaired.out
    final = json.loads(
        run_cli("catalog", "status", "--lake", lake, "--database", database, "--format", "json").out
    )
    assert final["in_sync"] is True


def test_partitions_no_committed_day_backs_are_reported_and_pruned_on_request(
    lake, database, glue
) -> None:
    catalog = GlueCatalog()
    stray = date(2026, 10, 15)
    with LakeStorage(lake) as store:
        sync_catalog(catalog, store, database)
        spec = CATALOG_TABLES[0]
        glue.create_partition(
            DatabaseName=database,
            TableName=spec.name,
            PartitionInput=partition_input(spec, lake, stray),
        )
        status = catalog_status(catalog, store, database)
        assert status.tables[0].extra == [stray.isoformat()]
        kept = sync_catalog(catalog, store, database)
        assert kept.tables[0].extra == [stray.isoformat()] and not kept.changed
        pruned = sync_catalog(catalog, store, database, prune=True)
        assert pruned.tables[0].removed == [stray.isoformat()]
        assert catalog_status(catalog, store, database).in_sync


# --------------------------------------------------------------------------------------------
# The commands


def test_catalog_sync_and_status_through_the_cli(lake, database) -> None:
    first = run_cli("catalog", "sync", "--lake", lake, "--database", database)
    assert first.code == 0, first.err
    assert f"database {database}: created" in first.out
    for name in TABLE_NAMES:
        assert f"{name}" in first.out
    assert "+2 partition(s): 2026-11-01, 2026-11-02" in first.out

    second = run_cli("catalog", "sync", "--lake", lake, "--database", database)
    assert second.code == 0
    assert "Nothing changed" in second.out and "10 partitions registered" in second.out

    status = run_cli("catalog", "status", "--lake", lake, "--database", database)
    assert status.code == 0
    assert "In sync" in status.out
    lines = [line.split() for line in status.out.splitlines()]
    names = TABLE_NAMES + CURRENT_NAMES
    rows = {cells[0]: cells for cells in lines if cells and cells[0] in names}
    assert all(rows[name][1:] == ["yes", "ok", "2", "2", "0", "0"] for name in TABLE_NAMES)
    assert all(rows[name][1:] == ["yes", "ok", "latest", "-", "-", "-"] for name in CURRENT_NAMES)


def test_settings_give_the_lake_and_database(lake, database, monkeypatch) -> None:
    monkeypatch.setenv("VANTA_LAKE", lake)
    monkeypatch.setenv("VANTA_GLUE_DATABASE", database)
    result = run_cli("catalog", "status", "--format", "json", "--aws-region", "us-east-1")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert (report["database"], report["lake"], report["database_exists"]) == (
        database,
        lake,
        False,
    )
    assert all(
        t["partitions"]["missing"] == ["2026-11-01", "2026-11-02"]
        for t in partitioned(report["tables"])
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lake", "./a-local-lake", "--database", "vanta"], "needs a lake on S3"),
        (["--lake", "s3://no-such-bucket-here/x", "--database", "vanta"], "does not exist"),
        (["--lake", "s3://lake/x", "--database", "Vanta-Prod"], "is invalid"),
        (["--lake", "s3://lake/x"], "No Glue database given"),
        (["--database", "vanta"], "No lake given"),
        (["--lake", "https://example.com/x", "--database", "vanta"], "neither"),
    ],
)
def test_user_mistakes_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    for action in ("sync", "status"):
        result = run_cli("catalog", action, *args)
        assert result.code == 2, result
        assert result.err.startswith("Error: ") and message in result.err
        assert len(result.err.strip().splitlines()) == 1
        assert result.out == ""


class _DenyingGlue(BaseHTTPRequestHandler):
    """An endpoint that answers every Glue call as AWS does for a missing permission."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        target = self.headers.get("X-Amz-Target", "").split(".")[-1]
        body = json.dumps(
            {
                "__type": "AccessDeniedException",
                "Message": f"User is not authorized to perform: glue:{target}",
            }
        ).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_an_aws_failure_is_one_line_and_exit_1(lake, monkeypatch) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _DenyingGlue)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL_GLUE", f"http://127.0.0.1:{server.server_port}")
        result = run_cli("catalog", "sync", "--lake", lake, "--database", "vanta")
    finally:
        server.shutdown()
        server.server_close()
    assert result.code == 1
    assert result.err == (
        "Error: Glue GetDatabase failed: AccessDeniedException: User is not authorized to "
        "perform: glue:GetDatabase\n"
    )


def test_help_explains_the_commands() -> None:
    result = run_cli("catalog", "--help")
    assert result.code == 0
    assert "sync" in result.out and "status" in result.out and "projection" in result.out
    sync_help = run_cli("catalog", "sync", "--help")
    assert "--projection" in sync_help.out and "--database" in sync_help.out
    assert "catalog --help" in run_cli("--help").out
