"""Where the code runs: a developer's machine or AWS Lambda.

The same library runs in both; the environment only changes defaults (in Lambda, credentials come
from Secrets Manager and nothing is read from the working directory).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import StrEnum


class Environment(StrEnum):
    LOCAL = "local"
    LAMBDA = "lambda"


def detect_environment(env: Mapping[str, str] | None = None) -> Environment:
    env = os.environ if env is None else env
    # Lambda sets both; AWS_EXECUTION_ENV alone also appears in other AWS compute services.
    if env.get("AWS_LAMBDA_FUNCTION_NAME") and env.get("AWS_LAMBDA_RUNTIME_API"):
        return Environment.LAMBDA
    return Environment.LOCAL
