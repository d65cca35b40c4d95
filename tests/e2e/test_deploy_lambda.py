"""``--deploy-lambda`` through the real entry point (a subprocess of ``python -m
vanta_vuln_stats.cli``): into emulated AWS when AWS_ENDPOINT_URL is a loopback URL, then the
smoke check; ``--lambda-status`` then finds the stack's outputs. Without an endpoint and
without a SAM CLI it fails with one line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from vanta_vuln_stats.cloud.deploy import EXPECTED_OUTPUTS
from vanta_vuln_stats.devstack.aws import EmulatedAws

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT / "shared"


def cli(*argv: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(SHARED)]))}
    return subprocess.run(
        [sys.executable, "-m", "vanta_vuln_stats.cli", *argv],
        env=environment,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def aws() -> Iterator[EmulatedAws]:
    with EmulatedAws() as emulated:
        yield emulated


def test_deploy_into_emulated_aws_then_status_finds_the_outputs(
    aws: EmulatedAws, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": aws.url,
        "VANTA_CLIENT_ID": "deploy-test-client",
        "VANTA_CLIENT_SECRET": "deploy-test-secret",
        "VANTA_API_URL": "http://127.0.0.1:9",
    }
    done = cli("--deploy-lambda", "--environment", "staging", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Deploying vanta-vuln-stats-staging into the emulated AWS" in done.stdout
    assert "Smoke check passed." in done.stdout
    assert "Traceback" not in done.stderr

    status = cli(
        "--stack-name",
        "vanta-vuln-stats-staging",
        "--lambda-status",
        "--format",
        "json",
        env=env,
        cwd=tmp_path,
    )
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    assert data["stack"] == {"name": "vanta-vuln-stats-staging", "status": "CREATE_COMPLETE"}
    assert set(EXPECTED_OUTPUTS) <= set(data["outputs"])
    # the environment's parameter overrides of samconfig.toml reached the stack
    assert data["outputs"]["GlueDatabaseName"] == "vanta_vulns_staging"


def test_deploy_refuses_an_endpoint_that_is_not_loopback(tmp_path: Path) -> None:
    env = {**os.environ, "AWS_ENDPOINT_URL": "https://example.com"}
    done = cli("--deploy-lambda", env=env, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert "is not a loopback http(s) URL" in done.stderr


def test_without_endpoint_and_sam_it_fails_with_one_line(tmp_path: Path) -> None:
    # A project folder of its own (no .venv-sam) and a PATH without sam.
    for name in ("template.yaml", "samconfig.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    env = {key: value for key, value in os.environ.items() if key != "AWS_ENDPOINT_URL"}
    env["PATH"] = os.pathsep.join(
        folder
        for folder in env.get("PATH", "").split(os.pathsep)
        if folder and not (Path(folder) / "sam").exists()
    )
    done = cli("--deploy-lambda", "--environment", "dev", env=env, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("Error: No SAM CLI: ")
    assert done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stderr


def test_environment_goes_with_deploy_lambda(tmp_path: Path) -> None:
    done = cli("--environment", "dev", "--use-cache", env=dict(os.environ), cwd=tmp_path)
    assert done.returncode == 2
    assert "--environment goes with --deploy-lambda" in done.stderr
