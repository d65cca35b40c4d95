"""``vanta-vuln-stats devstack``: emulated AWS for local runs and tests.

``devstack aws`` serves moto with Step Functions execution and the in-process Lambda runtime
until Ctrl-C; its first stdout line is ``Emulated AWS listening on http://HOST:PORT``.
``devstack deploy`` creates the stack of template.yaml in it (``AWS_ENDPOINT_URL`` must point at
it) and prints one JSON line describing what it made.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from vanta_vuln_stats.errors import UserInputError

DESCRIPTION = (
    "Emulated AWS for local runs and tests: moto with Step Functions execution and an "
    "in-process Lambda runtime (aws), and the stack of template.yaml deployed into it (deploy)."
)
EPILOG = """\
Examples:
  vanta-vuln-stats devstack aws --port 0          first line: Emulated AWS listening on URL
  export AWS_ENDPOINT_URL=http://127.0.0.1:PORT
  vanta-vuln-stats devstack deploy --stack-name vvs-dev --api-url http://127.0.0.1:8080 \\
      --client-id ID --client-secret SECRET       one JSON line: bucket, lake, state machine...

Faults for tests of Retry/Catch: POST {"function": "write_parquet", "times": 1,
"error": "Lambda.ServiceException"} to $AWS_ENDPOINT_URL/devstack/faults (DELETE clears them).
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="devstack_command", metavar="{aws,deploy}")
    commands.required = True

    aws = commands.add_parser(
        "aws",
        help="serve emulated AWS until Ctrl-C",
        description="moto in server mode with Step Functions execution and Lambda functions "
        "run in this process. The first stdout line is its URL.",
    )
    aws.add_argument("--host", default="127.0.0.1", help="address (default: %(default)s)")
    aws.add_argument(
        "--port", type=int, default=0, help="port; 0 picks a free one (default: %(default)s)"
    )
    aws.add_argument("--verbose", action="store_true", help="log every request")

    deploy = commands.add_parser(
        "deploy",
        help="deploy template.yaml's stack into the emulated AWS at $AWS_ENDPOINT_URL",
        description="Package, transform and create the stack of template.yaml in emulated AWS "
        "(AWS_ENDPOINT_URL must be a loopback URL: this never deploys to real AWS). Prints one "
        "JSON line: bucket, lake, state_machine_arn, topic_arn, glue_database, functions, "
        "workgroup, schedules, alarms and the other resources it made, notes.",
    )
    deploy.add_argument("--stack-name", required=True, help="the stack's name")
    deploy.add_argument("--api-url", required=True, help="the Vanta API (e.g. the simulator)")
    deploy.add_argument("--client-id", required=True, help="stored in the credentials secret")
    deploy.add_argument(
        "--client-secret",
        default=None,
        help="stored in the credentials secret (default: $VANTA_CLIENT_SECRET)",
    )
    deploy.add_argument("--slack-webhook-url", default=None, help="stored in the Slack secret")
    deploy.add_argument(
        "--fetch-page-budget",
        type=int,
        default=None,
        metavar="N",
        help="the stack parameter FetchPageBudget (most pages per FetchPages call)",
    )
    deploy.add_argument(
        "--write-batch-records",
        type=int,
        default=None,
        metavar="N",
        help="the stack parameter WriteBatchRecords (records per WriteParquet batch)",
    )
    deploy.add_argument(
        "--requests-per-minute",
        type=int,
        default=None,
        metavar="N",
        help="the stack parameter RequestsPerMinute (default 50, Vanta's budget; 0 = no "
        "pacing, for a simulator without a rate limit)",
    )
    deploy.add_argument(
        "--template", default="template.yaml", help="the SAM template (default: %(default)s)"
    )
    deploy.add_argument("--verbose", action="store_true", help="tracebacks on errors")


def run(args: argparse.Namespace) -> int:
    if args.devstack_command == "aws":
        return run_aws(args)
    return run_deploy(args)


def run_aws(args: argparse.Namespace) -> int:
    import logging

    from vanta_vuln_stats.devstack.aws import EmulatedAws

    if not args.verbose:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {
        signum: signal.signal(signum, on_signal) for signum in (signal.SIGINT, signal.SIGTERM)
    }
    emulated = EmulatedAws(host=args.host, port=args.port)
    try:
        emulated.start()
    except OSError as exc:
        raise UserInputError(f"Cannot listen on {args.host}:{args.port}: {exc}") from None
    try:
        print(f"Emulated AWS listening on {emulated.url}", flush=True)
        print(
            f"export AWS_ENDPOINT_URL={emulated.url}  # then: vanta-vuln-stats devstack deploy",
            file=sys.stderr,
            flush=True,
        )
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    finally:
        emulated.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0


def run_deploy(args: argparse.Namespace) -> int:
    from vanta_vuln_stats.devstack.deploy import check_endpoint, deploy_stack

    endpoint = check_endpoint(os.environ.get("AWS_ENDPOINT_URL"))
    secret = args.client_secret or os.environ.get("VANTA_CLIENT_SECRET")
    if not secret:
        raise UserInputError("No client secret: give --client-secret or set VANTA_CLIENT_SECRET.")
    result = deploy_stack(
        endpoint,
        stack_name=args.stack_name,
        api_url=args.api_url,
        client_id=args.client_id,
        client_secret=secret,
        slack_webhook_url=args.slack_webhook_url,
        fetch_page_budget=args.fetch_page_budget,
        write_batch_records=args.write_batch_records,
        template_path=Path(args.template),
        parameters=(
            {"RequestsPerMinute": args.requests_per_minute}
            if args.requests_per_minute is not None
            else None
        ),
    )
    print(json.dumps(result, sort_keys=True), flush=True)
    return 0
