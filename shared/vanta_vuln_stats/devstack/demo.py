"""``make demo``: the product's main job, the daily sync workflow, on local stand-ins.

Starts the Vanta API simulator and emulated AWS (moto with Step Functions execution and the
in-process Lambda runtime), deploys the stack from template.yaml into it, and runs the state
machine for two consecutive days of a generated tenant (the simulator's clock moves in between,
so day 2 has new, fixed, deactivated and reactivated findings; each run date is the simulator's
day, so the trend shows both). Each execution's steps are printed as they happen, with its final
status. Then the statistics report from the lake in S3, and the day-2 notification as a person
receives it: the email (through an SQS subscription to the topic) and the Slack message (a local
webhook receiver). A light dose of faults (server errors, malformed records) shows the retries
and the rejects.

``make run-workflow`` is the same with one day (``python -m vanta_vuln_stats.devstack.demo
--days 1``). Options from the environment so ``make demo`` needs no arguments:
DEMO_RECORDS (default 10000), DEMO_SEED (default 7).
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from datetime import timedelta

from vanta_vuln_stats.devstack.simulator import (
    BASE_DATE,
    FaultConfig,
    SimulatorConfig,
    VantaSimulator,
)


def _int_env(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value else default
    except ValueError:
        sys.exit(f"Error: {name} must be an integer, got {value!r}.")


def _rule(title: str) -> None:
    print(f"\n== {title}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vanta_vuln_stats.devstack.demo",
        description="The sync workflow on emulated AWS against the Vanta API simulator.",
    )
    parser.add_argument("--days", type=int, default=2, choices=(1, 2, 3), help="days to sync")
    args = parser.parse_args(argv)
    records = _int_env("DEMO_RECORDS", 10_000)
    seed = _int_env("DEMO_SEED", 7)

    import boto3

    from vanta_vuln_stats import cli
    from vanta_vuln_stats.devstack.aws import EmulatedAws
    from vanta_vuln_stats.devstack.deploy import deploy_stack
    from vanta_vuln_stats.devstack.workflow import SlackReceiver, TopicInbox, run_execution

    config = SimulatorConfig(
        records=records,
        seed=seed,
        client_id="vci_demo",
        client_secret="vcs_" + secrets.token_hex(16),
        rate_limit=0,  # the real API allows about 50 requests a minute; the demo is not paced
        as_of=BASE_DATE,
        faults=FaultConfig(error_rate=0.005, malformed_rate=0.0005, seed=seed),
    )
    started = time.monotonic()
    with EmulatedAws() as aws, VantaSimulator(config) as sim, SlackReceiver() as slack:
        print(f"Emulated AWS listening on {aws.url}", flush=True)
        print(f"Vanta API simulator listening on {sim.url} ({records:,} vulnerabilities)")
        _rule("Deploying the stack from template.yaml into emulated AWS")
        stack = deploy_stack(
            aws.url,
            stack_name="vvs-demo",
            api_url=sim.url,
            client_id=config.client_id,
            client_secret=config.client_secret,
            slack_webhook_url=slack.url,
            parameters={"RequestsPerMinute": 0},
        )
        print(f"  bucket {stack['bucket']}, Glue database {stack['glue_database']}")
        print(f"  state machine {stack['state_machine_arn']}")
        inbox = TopicInbox(stack["topic_arn"], name="vvs-demo-inbox")
        sfn = boto3.client("stepfunctions")
        status = "SUCCEEDED"
        emails: list[dict] = []
        for offset in range(args.days):
            day = BASE_DATE + timedelta(days=offset)
            sim.set_as_of(day)
            name = f"sync-{day.isoformat()}"
            _rule(f"Day {offset + 1} ({day}): execution {name}")
            report = run_execution(
                sfn, stack["state_machine_arn"], name, {"run_date": day.isoformat()}
            )
            print(f"{report.status} in {report.seconds:.1f} s ({report.transitions} states)")
            if report.status != "SUCCEEDED":
                print(f"  {report.error}: {report.cause}")
                status = report.status
            emails += inbox.messages(expect=1)
        if status != "SUCCEEDED":
            return 1

        _rule(f"The statistics report, from the lake {stack['lake']}")
        code = cli.main(
            ["--use-cache", "--storage-backend", "lake", "--lake", stack["lake"], "--no-progress"]
        )
        if code:
            return code

        if emails:
            email = emails[-1]
            _rule("The notification, as the topic's email subscribers receive it")
            print(f"Subject: {email.get('Subject')}\n")
            print(email.get("Message", ""))
        if slack.posts:
            _rule("The Slack message")
            print(slack.posts[-1].get("text", ""))
        print(f"\nDone in {time.monotonic() - started:.0f} s. The stack and lake lived in memory.")
    print(
        "Run it yourself: vanta-vuln-stats devstack aws --port 0, then devstack deploy and "
        "aws stepfunctions start-execution (docs/LOCAL_SETUP.md)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
