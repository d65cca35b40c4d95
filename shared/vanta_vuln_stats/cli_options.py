"""Command-line helpers that the commands share: the flags that override settings, and date
bounds as the filters take them.

They live apart from ``cli`` (the entry point, which imports every command) so that a command's
module (``report``, ``query.command``) can use them without importing the entry point back.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, time
from typing import TYPE_CHECKING, Any

from vanta_vuln_stats.errors import UserInputError

if TYPE_CHECKING:
    from vanta_vuln_stats.config.credentials import Credentials
    from vanta_vuln_stats.config.settings import Settings

__all__ = [
    "SETTING_FLAGS",
    "credentials_from_args",
    "parse_date_bound",
    "setting_overrides",
    "settings_from_args",
]

# Each setting a flag can override, and the flag's spelling (for messages naming the source).
SETTING_FLAGS = {
    "api_url": "--api-url",
    "database": "--database",
    "storage_backend": "--storage-backend",
    "lake": "--lake",
    "credentials_file": "--credentials",
    "secret_id": "--secret-id",
    "token_store": "--token-store",
    "aws_region": "--aws-region",
    "page_size": "--page-size",
    "requests_per_minute": "--requests-per-minute",
    "timeout": "--timeout",
    "max_retries": "--max-retries",
    "batch_size": "--batch-size",
}


def setting_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The values the main command's flags give each setting (None: not given)."""
    values = vars(args)
    return {
        name: values.get("credentials" if name == "credentials_file" else name)
        for name in SETTING_FLAGS
    }


def settings_from_args(args: argparse.Namespace) -> Settings:
    """The main command's settings: its flags over the environment, config.json and defaults."""
    from vanta_vuln_stats.config.settings import load_settings

    return load_settings(setting_overrides(args), config_file=args.config, flag_names=SETTING_FLAGS)


def credentials_from_args(args: argparse.Namespace, settings: Settings) -> Credentials:
    """The Vanta credentials from the main command's usual places (--client-id/--client-secret,
    VANTA_CLIENT_ID/VANTA_CLIENT_SECRET, the --credentials file, the --secret-id secret)."""
    from vanta_vuln_stats.config.credentials import resolve_credentials

    return resolve_credentials(
        args.client_id,
        args.client_secret,
        credentials_file=settings.credentials_file,
        secret_id=settings.secret_id,
        aws_region=settings.aws_region,
    )


def parse_date_bound(text: str, *, end: bool) -> datetime:
    """ISO-8601 instant (``2024-01-01T00:00:00Z``) or a date; a date as an end bound means the
    end of that day, so ``--date-identified-end 2024-01-31`` includes all of the 31st."""
    value = text.strip()
    try:
        if len(value) == 10:
            day = datetime.fromisoformat(value).date()
            return datetime.combine(day, time.max if end else time.min, tzinfo=UTC)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise UserInputError(
            f"Invalid date {text!r}: use YYYY-MM-DD or an ISO-8601 time such as "
            "2024-01-01T00:00:00Z."
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
