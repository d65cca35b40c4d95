"""template.yaml through the SAM translator, as the deploy packages and transforms it: for tests
of what moto's CloudFormation skips (keys, usage plans, alarms, policies, workgroups)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from vanta_vuln_stats.devstack.deploy import _parameter_values, _transform, load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"

# The workflow's functions (Step Functions invokes them), then the others.
WORKFLOW_FUNCTIONS = (
    "PrepareFunction",
    "FetchPagesFunction",
    "PlanChunksFunction",
    "WriteParquetFunction",
    "FinalizeFunction",
    "UpdatePartitionsFunction",
    "NotifyFunction",
)
FUNCTIONS = (
    *WORKFLOW_FUNCTIONS,
    "CatalogOnS3EventFunction",
    "StartSyncFunction",
    "QueryApiFunction",
)


def packaged_template() -> dict[str, Any]:
    """template.yaml with its code and definition URIs pointing at S3, as after packaging."""
    template = load_template(TEMPLATE)
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if key in properties:
                properties[key] = "s3://artifacts/code.zip"
        if "DefinitionUri" in properties:
            properties["DefinitionUri"] = {"Bucket": "artifacts", "Key": "sync.asl.json"}
    return template


@cache
def _transformed(parameters: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    template = packaged_template()
    return _transform(template, _parameter_values(template, dict(parameters)))


def transformed_template(**parameters: Any) -> dict[str, Any]:
    """The SAM-transformed template for these parameter values (the others their defaults).
    Cached: callers must not change what they get."""
    return _transformed(tuple(sorted((key, str(value)) for key, value in parameters.items())))


def of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {name: r for name, r in resources.items() if r["Type"] == kind}
