"""Deploying the stack of template.yaml to an environment, checking it, and rolling it back.

One code path for ``make deploy ENV=...`` (scripts/deploy_lambda.sh), ``scripts/rollback.sh``
and the main command's ``--deploy-lambda``:

- the environments (dev, staging, production) are samconfig.toml's: stack name, region and
  parameter overrides come from there, never from a second list;
- ``deploy_with_sam``: keep a snapshot of what is deployed now (template and parameters, under
  ``.aws-sam/rollback/<env>/<n>/``), then ``sam build`` and ``sam deploy --config-env ENV``;
- ``smoke_check``: the stack is complete, its outputs are there, the state machine and the
  bucket answer, and the query API refuses a call without its key;
- ``rollback``: a stack stuck in UPDATE_ROLLBACK_FAILED is continued; a complete stack gets the
  snapshot re-deployed (CloudFormation keeps no history of templates, so the deploy keeps one).

``python -m vanta_vuln_stats.cloud.deploy {deploy,smoke,rollback,snapshots} --environment ENV``
is what the scripts call; exit 0 when done, 1 when a step failed, 2 for a usage error, 3 when
the deploy went through but the smoke check failed (the script then rolls back).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vanta_vuln_stats.cloud.stack import Stack, aws_errors, load_stack
from vanta_vuln_stats.errors import UserInputError, VantaVulnStatsError

__all__ = [
    "ENVIRONMENTS",
    "EXPECTED_OUTPUTS",
    "EnvironmentConfig",
    "environment_config",
    "find_sam",
    "parameter_overrides",
    "project_root",
    "rollback",
    "smoke_check",
]

ENVIRONMENTS = ("dev", "staging", "production")
DEFAULT_ENVIRONMENT = "dev"
# Outputs the commands and the people who use the stack look up; a deploy without one is broken.
EXPECTED_OUTPUTS = (
    "DataBucketName",
    "Lake",
    "StateMachineArn",
    "NotificationTopicArn",
    "GlueDatabaseName",
    "VantaCredentialsSecretArn",
    "VantaTokenSecretArn",
    "QueryApiUrl",
    "SyncScheduleName",
    "AthenaWorkGroupName",
    "AthenaResultsLocation",
    "DashboardName",
)
STABLE = ("CREATE_COMPLETE", "UPDATE_COMPLETE")
API_STATUS_ROUTE = "sync/status"  # below QueryApiUrl; must answer 403 without an API key
SMOKE_FAILED = 3  # exit code: deployed, but the smoke check failed
SNAPSHOTS = Path(".aws-sam") / "rollback"
SAM_VENV_BIN = Path(".venv-sam") / "bin"


class DeployError(VantaVulnStatsError):
    """A step of the deploy or the rollback failed (the message names it)."""


# ---------------------------------------------------------------------------------------------
# Environments (samconfig.toml)


@dataclass(frozen=True)
class EnvironmentConfig:
    name: str
    stack_name: str
    region: str | None
    parameters: dict[str, str] = field(default_factory=dict)


def project_root(start: Path | None = None) -> Path:
    """The folder of template.yaml and samconfig.toml: the current directory when it has
    template.yaml, else the checkout this package runs from."""
    here = Path.cwd() if start is None else start
    if (here / "template.yaml").is_file():
        return here
    root = Path(__file__).resolve().parents[3]
    if (root / "template.yaml").is_file():
        return root
    raise UserInputError("No template.yaml here or in the checkout: run from the project's folder.")


def parameter_overrides(value: str | Sequence[str] | None) -> dict[str, str]:
    """samconfig.toml's ``parameter_overrides`` (a string or a list of ``Key=Value`` strings,
    values with spaces in double quotes) as a dict."""
    if not value:
        return {}
    items = [value] if isinstance(value, str) else list(value)
    found: dict[str, str] = {}
    for item in items:
        for word in shlex.split(item):
            key, sep, text = word.partition("=")
            if not sep or not key:
                raise UserInputError(f"parameter_overrides: {word!r} is not Key=Value.")
            found[key] = text
    return found


def load_samconfig(root: Path) -> dict[str, Any]:
    path = root / "samconfig.toml"
    if not path.is_file():
        raise UserInputError(f"No samconfig.toml in {root}: it names the environments' stacks.")
    with path.open("rb") as handle:
        return tomllib.load(handle)


def environment_config(environment: str, root: Path | None = None) -> EnvironmentConfig:
    if environment not in ENVIRONMENTS:
        raise UserInputError(
            f"Unknown environment {environment!r}: choose one of {', '.join(ENVIRONMENTS)}."
        )
    config = load_samconfig(root or project_root())
    section = config.get(environment)
    if not isinstance(section, dict):
        raise UserInputError(f"samconfig.toml has no [{environment}.*] sections.")
    merged: dict[str, Any] = {}
    for command in ("global", "deploy"):
        merged.update((section.get(command) or {}).get("parameters") or {})
    if not merged.get("stack_name"):
        raise UserInputError(f"samconfig.toml names no stack_name for {environment}.")
    return EnvironmentConfig(
        name=environment,
        stack_name=merged["stack_name"],
        region=merged.get("region"),
        parameters=parameter_overrides(merged.get("parameter_overrides")),
    )


# ---------------------------------------------------------------------------------------------
# The SAM CLI


def find_sam(root: Path) -> Path:
    """The project's own SAM CLI (.venv-sam, made by `make build`), else ``sam`` on the PATH."""
    local = root / SAM_VENV_BIN / "sam"
    if local.is_file() and os.access(local, os.X_OK):
        return local
    found = shutil.which("sam")
    if found:
        return Path(found)
    raise UserInputError(
        "No SAM CLI: run `make sam-venv` in the project (it makes .venv-sam/bin/sam) or "
        "install aws-sam-cli on the PATH."
    )


def interactive() -> bool:
    """A person at a terminal who can answer a change set's confirmation (not CI)."""
    return sys.stdin.isatty() and not os.environ.get("CI")


def sam_commands(sam: Path, environment: str, *, confirm: bool | None = None) -> list[list[str]]:
    """``sam build`` and ``sam deploy`` for the environment, as ``make build`` runs them."""
    confirm = interactive() if confirm is None else confirm
    deploy = [str(sam), "deploy", "--config-env", environment, "--no-fail-on-empty-changeset"]
    if not confirm:
        deploy.append("--no-confirm-changeset")
    return [
        [
            str(sam),
            "build",
            "--config-env",
            environment,
            "--template-file",
            "template.yaml",
            "--build-dir",
            ".aws-sam/build",
        ],
        deploy,
    ]


def _sam_environment(sam: Path) -> dict[str, str]:
    env = dict(os.environ, SAM_CLI_TELEMETRY="0")
    # The layers' Makefile installs wheels with the pip of $PYTHON: the SAM venv's, as `make build`.
    python = sam.parent / "python"
    if python.is_file():
        env["PYTHON"] = str(python)
    return env


def _run(command: list[str], root: Path, env: dict[str, str], out: Callable[[str], None]) -> None:
    out("+ " + shlex.join(command))
    try:
        completed = subprocess.run(command, cwd=root, env=env, check=False)
    except OSError as exc:
        raise DeployError(f"{command[0]} could not run: {exc}") from None
    if completed.returncode != 0:
        raise DeployError(f"`{shlex.join(command[:3])}` failed (exit {completed.returncode}).")


# ---------------------------------------------------------------------------------------------
# Snapshots of the deployed stack (for rollback)


def _snapshot_dir(root: Path, environment: str) -> Path:
    return root / SNAPSHOTS / environment


def snapshots(root: Path, environment: str) -> list[Path]:
    """The environment's snapshots, oldest first (folders named 1, 2, ...)."""
    folder = _snapshot_dir(root, environment)
    if not folder.is_dir():
        return []
    found = [item for item in folder.iterdir() if item.is_dir() and item.name.isdigit()]
    return sorted(found, key=lambda item: int(item.name))


def take_snapshot(
    client: Callable[[str], Any], stack_name: str, root: Path, environment: str
) -> Path | None:
    """Writes the deployed template (as CloudFormation stores it: the packaged SAM template
    whose code is in S3) and the stack's parameters to the next snapshot folder; None when the
    stack does not exist yet (a first deploy has nothing to go back to)."""
    from botocore.exceptions import ClientError

    cfn = client("cloudformation")
    try:
        described = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise
    if described["StackStatus"] not in STABLE:
        return None  # nothing good to return to; rollback handles the other states
    body = cfn.get_template(StackName=stack_name, TemplateStage="Original")["TemplateBody"]
    existing = snapshots(root, environment)
    folder = _snapshot_dir(root, environment) / str(int(existing[-1].name) + 1 if existing else 1)
    folder.mkdir(parents=True)
    if isinstance(body, dict):
        (folder / "template.json").write_text(json.dumps(body, indent=1), encoding="utf-8")
    else:
        (folder / "template.yaml").write_text(body, encoding="utf-8")
    parameters = {
        item["ParameterKey"]: item.get("ParameterValue", "")
        for item in described.get("Parameters", [])
    }
    meta = {
        "stack_name": stack_name,
        "status": described["StackStatus"],
        "updated": str(described.get("LastUpdatedTime") or described.get("CreationTime")),
        "parameters": parameters,
    }
    (folder / "snapshot.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return folder


def _snapshot_template(folder: Path) -> Path:
    for name in ("template.yaml", "template.json"):
        if (folder / name).is_file():
            return folder / name
    raise UserInputError(f"Snapshot {folder} has no template.")


# ---------------------------------------------------------------------------------------------
# Deploy


def deploy_with_sam(
    config: EnvironmentConfig,
    root: Path,
    *,
    dry_run: bool = False,
    out: Callable[[str], None] = print,
) -> None:
    """Snapshot, ``sam build``, ``sam deploy`` for the environment (DeployError on failure)."""
    try:
        sam = find_sam(root)
    except UserInputError:
        if not dry_run:
            raise
        sam = SAM_VENV_BIN / "sam"  # what `make sam-venv` would make
    commands = sam_commands(sam, config.name)
    if dry_run:
        out(f"would snapshot {config.stack_name} into {SNAPSHOTS / config.name}/<n>/")
        for command in commands:
            out("+ " + shlex.join(command))
        return
    from vanta_vuln_stats.cloud.stack import clients

    with aws_errors():
        folder = take_snapshot(clients(config.region), config.stack_name, root, config.name)
    out(
        f"Snapshot of the deployed stack: {folder.relative_to(root)}"
        if folder
        else f"No complete stack {config.stack_name} yet: no snapshot to roll back to."
    )
    env = _sam_environment(sam)
    for command in commands:
        _run(command, root, env, out)


# ---------------------------------------------------------------------------------------------
# Smoke check


def _http_status(url: str, timeout: float = 10.0) -> int:
    request = urllib.request.Request(url, method="GET")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def smoke_check(
    stack: Stack,
    *,
    probe_api: bool = True,
    http_status: Callable[[str], int] = _http_status,
) -> list[str]:
    """What is wrong with the deployed stack; empty when it looks healthy. ``probe_api`` sends
    one GET to the query API's status route without a key and expects 403 (the key is
    required); the emulated stack has no API deployment, so it is skipped there."""
    from botocore.exceptions import BotoCoreError, ClientError

    problems = []
    if stack.status not in STABLE:
        problems.append(f"stack {stack.name} is {stack.status}, not {' or '.join(STABLE)}")
    missing = [key for key in EXPECTED_OUTPUTS if not stack.outputs.get(key)]
    if missing:
        problems.append(f"outputs missing: {', '.join(missing)}")
    arn = stack.outputs.get("StateMachineArn")
    if arn:
        try:
            described = stack.client("stepfunctions").describe_state_machine(stateMachineArn=arn)
            if described.get("status", "ACTIVE") != "ACTIVE":
                problems.append(f"state machine {arn} is {described['status']}")
        except (ClientError, BotoCoreError) as exc:
            problems.append(f"state machine {arn} cannot be described: {exc}")
    bucket = stack.outputs.get("DataBucketName")
    if bucket:
        try:
            stack.client("s3").head_bucket(Bucket=bucket)
        except (ClientError, BotoCoreError) as exc:
            problems.append(f"data bucket {bucket} cannot be reached: {exc}")
    url = stack.outputs.get("QueryApiUrl")
    if probe_api and url:
        target = url.rstrip("/") + "/" + API_STATUS_ROUTE
        try:
            code = http_status(target)
        except (OSError, ValueError) as exc:
            problems.append(f"query API {target} did not answer: {exc}")
        else:
            if code != 403:
                problems.append(f"query API {target} answered {code} without a key, not 403")
    return problems


def report_smoke(stack: Stack, problems: list[str], out: Callable[[str], None] = print) -> int:
    out(f"Stack {stack.name}: {stack.status}")
    for key, value in sorted(stack.outputs.items()):
        out(f"  {key}: {value}")
    if problems:
        out("Smoke check FAILED:")
        for problem in problems:
            out(f"  - {problem}")
        return 1
    out("Smoke check passed.")
    return 0


# ---------------------------------------------------------------------------------------------
# Rollback


def rollback(
    config: EnvironmentConfig,
    root: Path,
    *,
    version: int | None = None,
    dry_run: bool = False,
    out: Callable[[str], None] = print,
) -> int:
    """Brings the environment's stack back to a good state (see scripts/rollback.sh --help)."""
    from vanta_vuln_stats.cloud.stack import clients

    client = clients(config.region)
    with aws_errors(config.stack_name):
        cfn = client("cloudformation")
        status = cfn.describe_stacks(StackName=config.stack_name)["Stacks"][0]["StackStatus"]
        out(f"Stack {config.stack_name}: {status}")
        if status == "UPDATE_ROLLBACK_FAILED":
            out("+ continue-update-rollback")
            if dry_run:
                return 0
            cfn.continue_update_rollback(StackName=config.stack_name)
            cfn.get_waiter("stack_rollback_complete").wait(
                StackName=config.stack_name, WaiterConfig={"Delay": 10, "MaxAttempts": 360}
            )
            out("The stack is back on its previous template (UPDATE_ROLLBACK_COMPLETE).")
            return 0
        if status.endswith("_IN_PROGRESS"):
            raise UserInputError(f"Stack {config.stack_name} is {status}: wait until it settles.")
        if status == "UPDATE_ROLLBACK_COMPLETE" and version is None:
            out(
                "CloudFormation rolled the last update back already: the stack runs its "
                "previous template. Give --to-version N to deploy an older snapshot."
            )
            return 0
        if status not in (*STABLE, "UPDATE_ROLLBACK_COMPLETE"):
            raise UserInputError(
                f"Stack {config.stack_name} is {status}: a snapshot cannot be deployed over it "
                "(a stack that failed to create is deleted and deployed again)."
            )
    found = snapshots(root, config.name)
    if not found:
        raise UserInputError(
            f"No snapshot of {config.name} in {SNAPSHOTS / config.name}: a deploy keeps one "
            "before it changes the stack (on this machine or CI job)."
        )
    if version is None:
        folder = found[-1]
    else:
        folder = next((item for item in found if int(item.name) == version), None)
        if folder is None:
            names = ", ".join(item.name for item in found)
            raise UserInputError(f"No snapshot {version} of {config.name} (there are: {names}).")
    meta = json.loads((folder / "snapshot.json").read_text(encoding="utf-8"))
    parameters = meta.get("parameters") or {}
    hidden = sorted(key for key, value in parameters.items() if value == "****")
    if hidden:
        raise UserInputError(
            f"Snapshot {folder.name} hides NoEcho parameters ({', '.join(hidden)}): deploy it "
            "with their values by hand."
        )
    sam = find_sam(root)
    command = [
        str(sam),
        "deploy",
        "--config-env",
        config.name,
        "--template-file",
        str(_snapshot_template(folder).relative_to(root)),
        "--no-fail-on-empty-changeset",
        "--no-confirm-changeset",
    ]
    if parameters:
        # One string, each value quoted: SAM splits the overrides at spaces outside quotes.
        command += [
            "--parameter-overrides",
            " ".join(f'{key}="{value}"' for key, value in parameters.items()),
        ]
    out(f"Re-deploying snapshot {folder.name} (the stack as it was on {meta.get('updated')}).")
    if dry_run:
        out("+ " + shlex.join(command))
        return 0
    _run(command, root, _sam_environment(sam), out)
    return 0


# ---------------------------------------------------------------------------------------------
# python -m vanta_vuln_stats.cloud.deploy


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vanta_vuln_stats.cloud.deploy",
        description="Deploy, smoke-check and roll back the stack of an environment of "
        "samconfig.toml (what scripts/deploy_lambda.sh and scripts/rollback.sh call).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("deploy", "snapshot, sam build, sam deploy, smoke check (exit 3: smoke check failed)"),
        ("smoke", "the smoke check of the deployed stack"),
        ("rollback", "continue a failed rollback, or re-deploy a snapshot"),
        ("snapshots", "list the environment's snapshots"),
    ):
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument("--environment", "-e", required=True, choices=ENVIRONMENTS)
        if name in ("deploy", "rollback"):
            sub.add_argument("--dry-run", action="store_true", help="print the commands only")
        if name in ("deploy", "smoke"):
            sub.add_argument(
                "--no-api-probe",
                action="store_true",
                help="skip the GET of the query API without a key",
            )
        if name == "deploy":
            sub.add_argument("--no-smoke", action="store_true", help="skip the smoke check")
        if name == "rollback":
            sub.add_argument("--to-version", type=int, metavar="N", help="snapshot N")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        root = project_root()
        config = environment_config(args.environment, root)
        if args.command == "snapshots":
            for folder in snapshots(root, config.name):
                meta = json.loads((folder / "snapshot.json").read_text(encoding="utf-8"))
                print(f"{folder.name}\t{meta.get('updated')}\t{meta.get('status')}")
            return 0
        if args.command == "rollback":
            return rollback(config, root, version=args.to_version, dry_run=args.dry_run)
        if args.command == "deploy":
            deploy_with_sam(config, root, dry_run=args.dry_run)
            if args.dry_run or args.no_smoke:
                if args.dry_run and not args.no_smoke:
                    print(f"would smoke-check {config.stack_name}")
                return 0
        stack = load_stack(config.stack_name, config.region)
        with aws_errors(config.stack_name):
            problems = smoke_check(stack, probe_api=not args.no_api_probe)
        code = report_smoke(stack, problems)
        if code and args.command == "deploy":
            return SMOKE_FAILED
        return code
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    except VantaVulnStatsError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
