"""The stack of template.yaml with its Glue tables declared in the template (as
``catalog.tables`` defines them), deployed into emulated AWS: the deploy creates the tables
moto's CloudFormation skips, and a sync registers its partitions in them."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import boto3
import pytest

from vanta_vuln_stats import cli
from vanta_vuln_stats.catalog.tables import (
    CATALOG_TABLES,
    CURRENT_TABLES,
    current_table_input,
    table_input,
)
from vanta_vuln_stats.cloud import command as cloud
from vanta_vuln_stats.devstack.aws import EmulatedAws
from vanta_vuln_stats.devstack.deploy import deploy_stack, load_template
from vanta_vuln_stats.devstack.simulator import BASE_DATE, SimulatorConfig, VantaSimulator

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).resolve().parents[2]
SIMULATOR = SimulatorConfig(records=50, rate_limit=0, as_of=BASE_DATE)
LAKE = "s3://${DataBucket}"


def _in_template(value: Any) -> Any:
    """A TableInput over ``s3://${DataBucket}`` as CloudFormation takes it: each string that
    names the bucket an Fn::Sub, its other ${...} (partition projection) escaped."""
    if isinstance(value, dict):
        return {key: _in_template(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_in_template(item) for item in value]
    if isinstance(value, str) and LAKE in value:
        return {"Fn::Sub": re.sub(r"\$\{(?!DataBucket\})", "${!", value)}
    return value


def project_with_tables(root: Path) -> Path:
    """template.yaml, its functions and workflow, with a Glue table resource per catalog
    table unless the template declares its tables already."""
    shutil.copytree(PROJECT / "functions", root / "functions")
    shutil.copytree(PROJECT / "workflows", root / "workflows")
    template = load_template(PROJECT / "template.yaml")
    resources = template["Resources"]
    if not any(item["Type"] == "AWS::Glue::Table" for item in resources.values()):
        inputs = [table_input(table, LAKE, projection_from=2024) for table in CATALOG_TABLES]
        inputs += [current_table_input(table, LAKE) for table in CURRENT_TABLES]
        for number, value in enumerate(inputs):
            resources[f"CatalogTable{number}"] = {
                "Type": "AWS::Glue::Table",
                "Properties": {
                    "CatalogId": {"Ref": "AWS::AccountId"},
                    "DatabaseName": {"Ref": "GlueDatabase"},
                    "TableInput": _in_template(value),
                },
            }
    (root / "template.yaml").write_text(json.dumps(template, indent=1))  # JSON is YAML
    return root / "template.yaml"


def test_sync_registers_partitions_in_the_tables_the_deploy_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    template = project_with_tables(tmp_path)
    with EmulatedAws() as aws, VantaSimulator(SIMULATOR) as sim:
        out = deploy_stack(
            aws.url,
            stack_name="vvs-tables",
            api_url=sim.url,
            client_id=SIMULATOR.client_id,
            client_secret=SIMULATOR.client_secret,
            template_path=template,
            parameters={"RequestsPerMinute": 0},
        )
        glue = boto3.client("glue")
        names = {table.name for table in (*CATALOG_TABLES, *CURRENT_TABLES)}
        made = {value.split(".", 1)[1] for value in out["glue_tables"].values()}
        assert names <= made
        listed = glue.get_tables(DatabaseName=out["glue_database"])["TableList"]
        locations = {table["Name"]: table["StorageDescriptor"]["Location"] for table in listed}
        assert locations["vanta_vulnerabilities"] == f"s3://{out['bucket']}/vulnerabilities/"
        before = {table["Name"]: table["Parameters"].get("projection.enabled") for table in listed}
        assert before["vanta_vulnerabilities"] == "true"

        monkeypatch.setenv("AWS_ENDPOINT_URL", aws.url)
        monkeypatch.setattr(cloud, "POLL_SECONDS", 0.2)
        day = BASE_DATE.isoformat()
        code = cli.main(["--stack-name", "vvs-tables", "--trigger-lambda-sync", "--run-date", day])
        assert code == 0

        for table in CATALOG_TABLES:
            partitions = glue.get_partitions(
                DatabaseName=out["glue_database"], TableName=table.name
            )["Partitions"]
            assert len(partitions) == 1, table.name
