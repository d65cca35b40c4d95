"""Fixtures shared by every test layer."""

from __future__ import annotations

import logging

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
    # AWS SDK calls can only reach a local emulator that a test starts itself.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


@pytest.fixture(autouse=True)
def _package_logger_reset() -> None:
    """Every test starts with the package's logger as importing it leaves it. cli.main gives it
    its own handler and stops propagation (for the command's stderr); left so by an earlier test
    or a module fixture, a later test's caplog, which listens at the root, misses its records."""
    logger = logging.getLogger("vanta_vuln_stats")
    logger.handlers.clear()
    logger.setLevel(logging.NOTSET)
    logger.propagate = True
