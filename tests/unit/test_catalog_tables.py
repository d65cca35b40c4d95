"""The Glue table and partition definitions generated for the lake (no AWS involved)."""

from __future__ import annotations

from datetime import date

import pytest

from vanta_vuln_stats.catalog.tables import (
    CATALOG_TABLES,
    INPUT_FORMAT,
    OUTPUT_FORMAT,
    SERDE,
    check_database_name,
    has_projection,
    partition_date,
    partition_input,
    partition_values,
    table_by_name,
    table_input,
)
from vanta_vuln_stats.catalog.types import glue_columns
from vanta_vuln_stats.errors import UserInputError
from vanta_vuln_stats.model.fields import Resource
from vanta_vuln_stats.storage.lake import layout

LAKE = "s3://my-bucket/vanta"


def test_the_five_tables_and_their_lake_directories_and_schemas() -> None:
    assert {t.name: t.lake_table for t in CATALOG_TABLES} == {
        "vanta_vulnerabilities": "vulnerabilities",
        "vanta_vulnerability_remediations": "vulnerability_remediations",
        "vanta_vulnerable_assets": "vulnerable_assets",
        "vanta_vulnerability_history": "vulnerability_history",
        "vanta_sync_history": "sync_history",
    }
    for resource in Resource:
        assert table_by_name(f"vanta_{resource.value}").schema() == layout.snapshot_schema(resource)
    assert table_by_name("vulnerability_history").schema() == layout.history_schema()
    assert table_by_name("vanta_sync_history").schema() == layout.sync_history_schema()
    with pytest.raises(ValueError, match="rejects"):
        table_by_name("rejects")


@pytest.mark.parametrize("table", CATALOG_TABLES, ids=lambda t: t.name)
def test_a_table_is_an_external_parquet_table_over_its_lake_directory(table) -> None:
    definition = table_input(table, LAKE + "/")
    assert definition["Name"] == table.name
    assert definition["TableType"] == "EXTERNAL_TABLE"
    assert definition["Parameters"]["classification"] == "parquet"
    assert definition["Parameters"]["EXTERNAL"] == "TRUE"
    assert not has_projection(definition["Parameters"])
    assert [(k["Name"], k["Type"]) for k in definition["PartitionKeys"]] == [
        ("year", "string"),
        ("month", "string"),
        ("day", "string"),
    ]
    sd = definition["StorageDescriptor"]
    assert sd["Location"] == f"{LAKE}/{table.lake_table}/"
    assert sd["InputFormat"] == INPUT_FORMAT
    assert sd["OutputFormat"] == OUTPUT_FORMAT
    assert sd["SerdeInfo"]["SerializationLibrary"] == SERDE
    assert sd["Columns"] == glue_columns(table.schema())
    # Partition keys must not repeat a column (Glue and Athena refuse the table).
    assert not {"year", "month", "day"} & {c["Name"] for c in sd["Columns"]}


def test_projection_covers_the_lake_directories_and_keeps_foreign_parameters() -> None:
    table = table_by_name("vanta_vulnerabilities")
    projected = table_input(
        table, LAKE, projection_from=2025, keep_parameters={"owner": "secops", "x": "1"}
    )
    parameters = projected["Parameters"]
    assert has_projection(parameters)
    assert parameters["projection.year.range"] == "2025,NOW"
    assert parameters["projection.month.digits"] == "2"
    assert parameters["projection.day.range"] == "1,31"
    assert (
        parameters["storage.location.template"]
        == f"{LAKE}/vulnerabilities/year=${{year}}/month=${{month}}/day=${{day}}/"
    )
    assert parameters["owner"] == "secops"
    # Turning projection off drops every projection property, keeps the rest.
    plain = table_input(table, LAKE, keep_parameters=parameters)["Parameters"]
    assert not any(k.startswith("projection.") for k in plain)
    assert "storage.location.template" not in plain
    assert plain["owner"] == "secops"


def test_a_partition_points_at_its_day_directory() -> None:
    day = date(2026, 3, 7)
    table = table_by_name("vanta_sync_history")
    partition = partition_input(table, LAKE, day)
    assert partition["Values"] == ["2026", "03", "07"] == partition_values(day)
    assert partition["StorageDescriptor"]["Location"] == (
        f"{LAKE}/{layout.partition_prefix('sync_history', day)}/"
    )
    assert partition["StorageDescriptor"]["Columns"] == glue_columns(table.schema())
    assert partition_date(partition["Values"]) == day
    assert partition_date(["2026", "02", "31"]) is None
    assert partition_date(["latest"]) is None


@pytest.mark.parametrize("name", ["vanta", "vanta_lake_2", "a" * 255, "  prod_vanta  "])
def test_valid_database_names(name: str) -> None:
    assert check_database_name(name) == name.strip()


@pytest.mark.parametrize("name", ["Vanta", "vanta-lake", "vanta.lake", "a" * 256, "", None, " "])
def test_invalid_database_names_are_user_errors(name) -> None:
    with pytest.raises(UserInputError) as caught:
        check_database_name(name, source="flag --database")
    assert caught.value.exit_code == 2
