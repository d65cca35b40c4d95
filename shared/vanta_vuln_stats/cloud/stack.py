"""A deployed stack, found by name: its outputs and its functions, read through CloudFormation
the same way on real AWS and on the devstack (whose deploy records the same outputs).

AWS errors a user can fix (no stack name, an unknown stack, no credentials, no region) become
``UserInputError``s with one line saying what to do; every other AWS failure a ``CloudError``."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from vanta_vuln_stats.errors import UserInputError, VantaVulnStatsError

__all__ = ["CloudError", "Stack", "aws_errors", "function_label", "load_stack"]

STACK_ENV = "VANTA_STACK_NAME"
SCHEDULE_OUTPUT = "SyncScheduleName"  # the output naming the daily schedule


class CloudError(VantaVulnStatsError):
    """An AWS call against the deployed stack failed (access denied, throttled, unreachable)."""


@contextmanager
def aws_errors(stack_name: str | None = None) -> Iterator[None]:
    """botocore's exceptions as this package's typed errors, each one line."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
    )

    try:
        yield
    except (NoCredentialsError, PartialCredentialsError):
        raise UserInputError(
            "No AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or log in with `aws sso login`."
        ) from None
    except NoRegionError:
        raise UserInputError(
            "No AWS region: give --aws-region or set AWS_REGION / AWS_DEFAULT_REGION."
        ) from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        message = error.get("Message") or str(exc)
        if stack_name and error.get("Code") == "ValidationError" and "does not exist" in message:
            raise UserInputError(
                f"No stack named {stack_name!r} in this account and region "
                "(check --stack-name / VANTA_STACK_NAME and --aws-region)."
            ) from None
        if error.get("Code") in {"ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId"}:
            raise UserInputError(f"The AWS credentials were refused: {message}") from None
        operation = getattr(exc, "operation_name", "an AWS call")
        raise CloudError(f"{operation} failed: {error.get('Code')}: {message}") from None
    except BotoCoreError as exc:
        raise CloudError(f"AWS call failed: {exc}") from None


@dataclass
class Stack:
    """What the commands need of a deployed stack."""

    name: str
    status: str
    outputs: dict[str, str]
    functions: dict[str, str] = field(default_factory=dict)  # logical id -> physical name
    schedules: dict[str, str] = field(default_factory=dict)  # logical id -> schedule name
    client: Callable[[str], Any] = field(default=lambda service: None, repr=False)

    @property
    def state_machine_arn(self) -> str:
        arn = self.outputs.get("StateMachineArn")
        if not arn:
            raise UserInputError(f"Stack {self.name} has no StateMachineArn output.")
        return arn


def clients(region: str | None) -> Callable[[str], Any]:
    """A boto3 client factory for the region: --aws-region, else AWS_REGION (which boto3 itself
    does not read), else the SDK's own settings (AWS_DEFAULT_REGION, the profile)."""
    import boto3

    session = boto3.session.Session(region_name=region or os.environ.get("AWS_REGION") or None)
    cache: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in cache:
            cache[service] = session.client(service)
        return cache[service]

    return client


def stack_name_from(value: str | None) -> str:
    name = value or os.environ.get(STACK_ENV)
    if not name:
        raise UserInputError(
            f"No stack: give --stack-name NAME (or set {STACK_ENV}), the name of the "
            "deployed stack of template.yaml."
        )
    return name


def load_stack(name: str | None, region: str | None) -> Stack:
    """The stack's outputs and function names, or a UserInputError naming what is missing."""
    name = stack_name_from(name)
    client = clients(region)
    with aws_errors(name):
        cfn = client("cloudformation")
        stacks = cfn.describe_stacks(StackName=name)["Stacks"]
        live = [stack for stack in stacks if stack["StackStatus"] != "DELETE_COMPLETE"]
        if not live:
            raise UserInputError(f"Stack {name!r} was deleted.")
        described = live[0]
        outputs = {
            item["OutputKey"]: item.get("OutputValue", "") for item in described.get("Outputs", [])
        }
        functions: dict[str, str] = {}
        schedules: dict[str, str] = {}
        for page in cfn.get_paginator("list_stack_resources").paginate(StackName=name):
            for item in page["StackResourceSummaries"]:
                physical = item.get("PhysicalResourceId")
                if not physical:
                    continue
                if item["ResourceType"] == "AWS::Lambda::Function":
                    functions[item["LogicalResourceId"]] = physical
                elif item["ResourceType"] == "AWS::Scheduler::Schedule":
                    schedules[item["LogicalResourceId"]] = physical
        # The schedule by its output too: the stack on emulated AWS does not list it.
        scheduled = outputs.get(SCHEDULE_OUTPUT)
        if scheduled and scheduled not in schedules.values():
            schedules[SCHEDULE_OUTPUT] = scheduled
    return Stack(
        name=name,
        status=described["StackStatus"],
        outputs=outputs,
        functions=functions,
        schedules=schedules,
        client=client,
    )


def function_label(logical_id: str) -> str:
    """FetchPagesFunction -> fetch_pages: the function's folder under functions/."""
    base = logical_id.removesuffix("Function") or logical_id
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", base).lower()


def select_functions(stack: Stack, wanted: str | None) -> dict[str, str]:
    """The stack's functions (label -> physical name), or the one ``wanted`` names by its folder
    name (fetch_pages) or its logical id (FetchPagesFunction)."""
    labelled = {function_label(logical): physical for logical, physical in stack.functions.items()}
    if not wanted:
        return dict(sorted(labelled.items()))
    for logical, physical in stack.functions.items():
        if wanted.lower() in {logical.lower(), function_label(logical), physical.lower()}:
            return {function_label(logical): physical}
    choices = ", ".join(sorted(labelled)) or "none"
    raise UserInputError(f"Stack {stack.name} has no function {wanted!r} (it has: {choices}).")
