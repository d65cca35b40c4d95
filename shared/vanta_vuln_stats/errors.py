"""Typed errors. Each carries one clear message and the exit code the CLI maps it to.

Errors a user can cause (bad settings, missing credentials, bad flags) exit with 2; failures of
the work itself (the API kept failing, the store is broken) exit with 1. The mapping happens in
one place, the CLI's entry point.
"""

from __future__ import annotations


class VantaVulnStatsError(Exception):
    """Base class of every error this package raises on purpose."""

    exit_code = 1


class UserInputError(VantaVulnStatsError):
    """Something the user supplied is missing or wrong; fixing the input fixes the run."""

    exit_code = 2


class ConfigError(UserInputError):
    """A setting has an invalid value. The message names the setting and where it came from."""


class CredentialsError(UserInputError):
    """No usable Vanta credentials were found, or a source of them is unreadable."""


class VantaApiError(VantaVulnStatsError):
    """The Vanta API answered with an error that retries did not cure."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AuthenticationError(VantaApiError):
    """The token endpoint refused the credentials (wrong client id or secret, wrong scope).

    A user mistake, so it exits with 2 like the other input errors.
    """

    exit_code = 2


class RateLimitedError(VantaApiError):
    """The API kept answering 429 beyond the retry budget."""


class StoreError(UserInputError):
    """The store given cannot be used: not a SQLite file, unreadable, written by a newer version,
    or held by another writer. The message names the file."""


class CatalogError(VantaVulnStatsError):
    """An AWS call of the catalog failed: a Glue call (access denied, throttled beyond the
    retries, unreachable, a partition refused) or reading the lake's commit manifests on S3.
    The message names the call and AWS's reason."""
