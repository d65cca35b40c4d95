"""``make invoke FN=<name> EVENT=events/<name>.json``: one Lambda handler, in this process.

``python -m vanta_vuln_stats.devstack.invoke FN EVENT [--template template.yaml]`` loads
``functions/<FN>/app.py``, calls its handler with the event file and the runtime's
``LambdaContext`` (timeout and memory from the function in template.yaml, or its Globals) and
prints the JSON result. The handler's AWS calls go wherever ``AWS_ENDPOINT_URL`` says: start
``vanta-vuln-stats devstack aws`` and ``devstack deploy`` first and export the function's
variables (or run with the environment you provide). A handler error prints the Lambda error
payload and exits 1.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

from vanta_vuln_stats.devstack.lambda_runtime import LambdaContext, error_payload


class InvokeError(Exception):
    """A missing function, event or template entry: one line, no traceback."""


def function_settings(template_path: Path, folder: str) -> dict[str, Any]:
    """Timeout, MemorySize and Handler of the function whose CodeUri is functions/<folder>/."""
    settings: dict[str, Any] = {"Timeout": 3, "MemorySize": 128, "Handler": "app.handler"}
    if not template_path.is_file():
        return settings
    from vanta_vuln_stats.devstack.deploy import Resolver, _parameter_values, load_template

    template = load_template(template_path)
    settings.update(
        {
            key: value
            for key, value in ((template.get("Globals") or {}).get("Function") or {}).items()
            if key in settings
        }
    )
    for logical_id, resource in (template.get("Resources") or {}).items():
        properties = resource.get("Properties") or {}
        code_uri = str(properties.get("CodeUri", "")).rstrip("/")
        if resource.get("Type") == "AWS::Serverless::Function" and Path(code_uri).name == folder:
            settings.update({key: properties[key] for key in settings if key in properties})
            settings["LogicalId"] = logical_id
    # a setting given as a parameter (MemorySize: !Ref FinalizeMemorySize): its default
    defaults = Resolver(_parameter_values(template, {}))
    return {key: defaults(value) for key, value in settings.items()}


def stack_environment(stack: str, logical_id: str) -> dict[str, str]:
    """The environment variables of the deployed function ``logical_id`` of ``stack`` (from the
    endpoint AWS_ENDPOINT_URL names), so an invocation here sees what the deployed one sees."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        resource = boto3.client("cloudformation").describe_stack_resource(
            StackName=stack, LogicalResourceId=logical_id
        )["StackResourceDetail"]
        config = boto3.client("lambda").get_function_configuration(
            FunctionName=resource["PhysicalResourceId"]
        )
    except (ClientError, BotoCoreError) as exc:
        raise InvokeError(f"No function {logical_id} in the stack {stack}: {exc}") from None
    return dict((config.get("Environment") or {}).get("Variables") or {})


def _fill(text: str, env: Any) -> str:
    """``${DATA_BUCKET}`` in an event (events/ are captured from a sample run) becomes the
    bucket of the lake the function writes to (VANTA_LAKE)."""
    if "${DATA_BUCKET}" not in text:
        return text
    lake = env.get("VANTA_LAKE") or ""
    if not lake.startswith("s3://"):
        raise InvokeError(
            "The event names ${DATA_BUCKET}: give STACK=<stack name> (a deployed stack's "
            "function environment) or set VANTA_LAKE=s3://bucket."
        )
    return text.replace("${DATA_BUCKET}", lake.removeprefix("s3://").split("/", 1)[0])


def invoke(
    function: str,
    event_path: Path,
    *,
    root: Path = Path("."),
    template: Path | None = None,
    stack: str | None = None,
) -> tuple[Any, bool]:
    """(result, errored) of functions/<function>'s handler called with the event file; with
    ``stack``, in the environment of that stack's deployed function."""
    folder = root / "functions" / function
    template = template or root / "template.yaml"
    settings = function_settings(template, function)
    module_name, _, attribute = str(settings["Handler"]).rpartition(".")
    source = folder.joinpath(*module_name.split(".")).with_suffix(".py")
    if not source.is_file():
        known = sorted(p.name for p in (root / "functions").glob("*/") if p.is_dir())
        raise InvokeError(
            f"No function {function!r}: {source} does not exist"
            + (f" (functions: {', '.join(known)})" if known else "")
        )
    if not event_path.is_file():
        raise InvokeError(f"No event file {event_path}.")
    env: dict[str, str] = {}
    if stack:
        env = stack_environment(stack, str(settings.get("LogicalId", function)))
    import os

    try:
        event = json.loads(_fill(event_path.read_text(), {**os.environ, **env}))
    except ValueError as exc:
        raise InvokeError(f"The event file {event_path} is not JSON: {exc}") from None

    spec = importlib.util.spec_from_file_location(f"_devstack_invoke_{function}", source)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    # What the handler prints (its logs, Powertools' metrics) goes to stderr, so stdout carries
    # only the result; the loggers made at import keep the stream they saw then.
    with contextlib.redirect_stdout(sys.stderr):
        spec.loader.exec_module(module)
    handler = getattr(module, attribute, None)
    if not callable(handler):
        raise InvokeError(f"{source} has no callable {attribute!r}.")
    context = LambdaContext(
        function_name=function,
        invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{function}",
        memory_limit_in_mb=int(settings["MemorySize"]),
        timeout_seconds=float(settings["Timeout"]),
    )
    from vanta_vuln_stats.devstack.workflow import environment

    try:
        # what the handler prints is log output: stderr, so stdout carries only the result
        with environment(**env), contextlib.redirect_stdout(sys.stderr):
            return handler(event, context), False
    except Exception as exc:
        return error_payload(exc, context.aws_request_id), True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vanta_vuln_stats.devstack.invoke",
        description="Call functions/<FN>/app.py's handler in this process with an event file.",
    )
    parser.add_argument("function", metavar="FN", help="the function's folder under functions/")
    parser.add_argument("event", metavar="EVENT", help="a JSON event file")
    parser.add_argument("--root", default=".", help="the project root (default: .)")
    parser.add_argument("--template", default=None, help="default: <root>/template.yaml")
    parser.add_argument(
        "--stack",
        default=None,
        help="a deployed stack (devstack deploy): run with its function's environment",
    )
    args = parser.parse_args(argv)
    root = Path(args.root)
    try:
        result, errored = invoke(
            args.function,
            Path(args.event),
            root=root,
            template=Path(args.template) if args.template else None,
            stack=args.stack,
        )
    except InvokeError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2, default=str))
    return 1 if errored else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
