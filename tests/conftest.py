"""Fixtures shared by every test layer."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory) -> None:
    """No test sees the developer's own Vanta or AWS settings, or a config.json in the cwd."""
    for name in (
        "VANTA_CLIENT_ID",
        "VANTA_CLIENT_SECRET",
        "VANTA_API_URL",
        "VANTA_DATABASE",
        "VANTA_STORAGE_BACKEND",
        "VANTA_LAKE",
        "VANTA_GLUE_DATABASE",
        "VANTA_ATHENA_WORKGROUP",
        "VANTA_ATHENA_OUTPUT_LOCATION",
        "AWS_ENDPOINT_URL_S3",
        "AWS_REGION",
        "VANTA_CREDENTIALS_FILE",
        "VANTA_SECRET_ID",
        "VANTA_PAGE_SIZE",
        "VANTA_REQUESTS_PER_MINUTE",
        "VANTA_TIMEOUT",
        "VANTA_MAX_RETRIES",
        "VANTA_BATCH_SIZE",
        "VANTA_VULN_STATS_CONFIG",
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_RUNTIME_API",
    ):
        monkeypatch.delenv(name, raising=False)
    for name in list(os.environ):  # and any other setting of this package
        if name.startswith("VANTA_"):
            monkeypatch.delenv(name, raising=False)
    # AWS SDK calls can only reach a local emulator that a test starts itself.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


def _unconfigure_package_logger() -> None:
    logger = logging.getLogger("vanta_vuln_stats")
    logger.setLevel(logging.NOTSET)
    logger.propagate = True
    # The CLI's own handler goes; pytest's capture handlers (subclasses) stay.
    logger.handlers[:] = [h for h in logger.handlers if type(h) is not logging.StreamHandler]


@pytest.fixture(autouse=True)
def _package_logger_restored() -> Iterator[None]:
    """A CLI run in-process (``cli.main``) gives the package logger its own handler, a WARNING
    level and no propagation; every later test in the same worker that reads the package's log
    records through ``caplog`` would see none of them. Restoring the state a test started with
    is not enough when the CLI ran in a module-scoped fixture, before the test started: each
    test starts and ends with an unconfigured package logger."""
    _unconfigure_package_logger()
    yield
    _unconfigure_package_logger()
