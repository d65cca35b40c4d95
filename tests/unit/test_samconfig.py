"""samconfig.toml: every environment is complete, and names only parameters template.yaml
declares (a parameter renamed or removed in the template fails here, not in a deploy)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from vanta_vuln_stats.cloud.deploy import ENVIRONMENTS, environment_config, parameter_overrides
from vanta_vuln_stats.devstack.deploy import load_template

ROOT = Path(__file__).resolve().parents[2]
CONFIG = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
DECLARED = set(load_template(ROOT / "template.yaml").get("Parameters") or {})


def test_format_version() -> None:
    assert CONFIG["version"] == 0.1


@pytest.mark.parametrize("environment", ["default", *ENVIRONMENTS])
def test_every_override_is_a_declared_parameter(environment: str) -> None:
    overrides = parameter_overrides(
        CONFIG[environment]["deploy"]["parameters"]["parameter_overrides"]
    )
    assert overrides, environment
    unknown = sorted(set(overrides) - DECLARED)
    assert not unknown, f"{environment}: not parameters of template.yaml: {unknown}"


@pytest.mark.parametrize("environment", ["default", *ENVIRONMENTS])
def test_each_environment_is_complete(environment: str) -> None:
    section = CONFIG[environment]
    name = "dev" if environment == "default" else environment
    assert section["global"]["parameters"]["stack_name"] == f"vanta-vuln-stats-{name}"
    assert section["global"]["parameters"]["region"]
    deploy = section["deploy"]["parameters"]
    assert deploy["capabilities"] == "CAPABILITY_IAM CAPABILITY_AUTO_EXPAND"
    assert deploy["resolve_s3"] is True
    assert deploy["fail_on_empty_changeset"] is False
    assert deploy["tags"] == f"project=vanta-vuln-stats environment={name}"
    assert deploy["confirm_changeset"] is (name == "production")
    assert section["build"]["parameters"] == {"cached": True, "parallel": True}
    assert section["validate"]["parameters"] == {"lint": True}


def test_one_glue_database_per_environment() -> None:
    databases = [
        environment_config(name, ROOT).parameters["GlueDatabaseName"] for name in ENVIRONMENTS
    ]
    assert len(set(databases)) == len(databases)
    assert environment_config("dev", ROOT).parameters == parameter_overrides(
        CONFIG["default"]["deploy"]["parameters"]["parameter_overrides"]
    )


def test_overrides_with_spaces_are_quoted() -> None:
    assert parameter_overrides(["A=1", 'B="cron(15 5 * * ? *)"']) == {
        "A": "1",
        "B": "cron(15 5 * * ? *)",
    }
    assert parameter_overrides('A=1 B="x y"') == {"A": "1", "B": "x y"}
    assert (
        environment_config("production", ROOT).parameters["ScheduleExpression"].startswith("cron(")
    )
