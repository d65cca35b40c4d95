"""The CI workflow: lint, test and build on pushes and pull requests; the production deploy
only on v* tags, after them, with an OIDC role (no stored AWS keys)."""

from __future__ import annotations

from pathlib import Path

import yaml

WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "ci.yml"
DATA = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
JOBS = DATA["jobs"]


def steps(job: str) -> list[dict]:
    return JOBS[job]["steps"]


def runs(job: str) -> list[str]:
    return [step["run"] for step in steps(job) if "run" in step]


def test_triggers() -> None:
    triggers = DATA.get("on", DATA.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "pull_request" in triggers
    assert triggers["push"]["tags"] == ["v*"]


def test_lint_test_build_on_python_312() -> None:
    assert runs("lint") == ["make lint"]
    assert runs("test") == ["make test"]
    assert runs("build")[-1] == "make build"
    for job in ("lint", "test", "build", "deploy"):
        (python,) = [
            step for step in steps(job) if step.get("uses", "").startswith("actions/setup-python@")
        ]
        assert python["with"]["python-version"] == "3.12"
        assert python["with"]["cache"] == "pip"


def test_deploy_on_tags_with_an_oidc_role() -> None:
    deploy = JOBS["deploy"]
    assert deploy["if"] == "startsWith(github.ref, 'refs/tags/v')"
    assert set(deploy["needs"]) == {"lint", "test", "build"}
    assert deploy["environment"] == "production"
    assert deploy["permissions"] == {"id-token": "write", "contents": "read"}
    (credentials,) = [
        step
        for step in deploy["steps"]
        if step.get("uses", "").startswith("aws-actions/configure-aws-credentials@")
    ]
    assert credentials["with"]["role-to-assume"] == "${{ secrets.AWS_DEPLOY_ROLE_ARN }}"
    assert "aws-access-key-id" not in credentials["with"]
    assert "make deploy ENV=production" in runs("deploy")


def test_actions_are_pinned_by_major_version() -> None:
    for job in JOBS.values():
        for step in job["steps"]:
            if "uses" in step:
                assert step["uses"].rsplit("@", 1)[1].startswith("v"), step["uses"]
