"""Settings, credentials and environment detection."""

from vanta_vuln_stats.config.credentials import Credentials, resolve_credentials
from vanta_vuln_stats.config.environment import Environment, detect_environment
from vanta_vuln_stats.config.settings import Settings, load_settings

__all__ = [
    "Credentials",
    "Environment",
    "Settings",
    "detect_environment",
    "load_settings",
    "resolve_credentials",
]
