"""The stack of template.yaml, whose Glue tables are declared in the template (generated from
``catalog.tables``), deployed into emulated AWS: the deploy creates the tables moto's
CloudFormation skips, and a sync registers its partitions in them."""

from __future__ import annotations

import boto3
import pytest

from vanta_vuln_stats import cli
from vanta_vuln_stats.catalog.tables import CATALOG_TABLES, CURRENT_TABLES
from vanta_vuln_stats.cloud import command as cloud
from vanta_vuln_stats.devstack.aws import EmulatedAws
from vanta_vuln_stats.devstack.deploy import deploy_stack
from vanta_vuln_stats.devstack.simulator import BASE_DATE, SimulatorConfig, VantaSimulator

pytestmark = pytest.mark.slow

SIMULATOR = SimulatorConfig(records=50, rate_limit=0, as_of=BASE_DATE)


def test_sync_registers_partitions_in_the_tables_the_deploy_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with EmulatedAws() as aws, VantaSimulator(SIMULATOR) as sim:
        out = deploy_stack(
            aws.url,
            stack_name="vvs-tables",
            api_url=sim.url,
            client_id=SIMULATOR.client_id,
            client_secret=SIMULATOR.client_secret,
            parameters={"RequestsPerMinute": 0},
        )
        glue = boto3.client("glue")
        names = {table.name for table in (*CATALOG_TABLES, *CURRENT_TABLES)}
        made = {value.split(".", 1)[1] for value in out["glue_tables"].values()}
        assert names == made
        listed = glue.get_tables(DatabaseName=out["glue_database"])["TableList"]
        locations = {table["Name"]: table["StorageDescriptor"]["Location"] for table in listed}
        assert locations["vanta_vulnerabilities"] == f"s3://{out['bucket']}/vulnerabilities/"
        for table in CATALOG_TABLES:
            assert not glue.get_partitions(DatabaseName=out["glue_database"], TableName=table.name)[
                "Partitions"
            ]

        monkeypatch.setenv("AWS_ENDPOINT_URL", aws.url)
        monkeypatch.setattr(cloud, "POLL_SECONDS", 0.2)
        day = BASE_DATE.isoformat()
        code = cli.main(["--stack-name", "vvs-tables", "--trigger-lambda-sync", "--run-date", day])
        assert code == 0

        for table in CATALOG_TABLES:
            partitions = glue.get_partitions(
                DatabaseName=out["glue_database"], TableName=table.name
            )["Partitions"]
            assert [item["Values"] for item in partitions] == [
                [f"{BASE_DATE.year:04d}", f"{BASE_DATE.month:02d}", f"{BASE_DATE.day:02d}"]
            ], table.name
