"""Keep secrets out of logs.

Every secret the process learns (client secrets, bearer tokens) is registered here, and a logging
filter replaces any registered value in a log record's final message with ``***``. This is a
safety net behind the primary rule (code never formats a secret into a message), so a secret that
reaches a log through an exception text or a third-party library is still masked.
"""

from __future__ import annotations

import logging
import threading

MASK = "***"
_MIN_LENGTH = 6  # shorter values would mask ordinary words; real secrets are far longer

_lock = threading.Lock()
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    if value and len(value) >= _MIN_LENGTH:
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class RedactingFilter(logging.Filter):
    """Attach to handlers: renders the record's message once, then masks registered secrets."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return True


def mask(value: str | None, keep: int = 4) -> str:
    """Show only the first ``keep`` characters of an identifier (client ids in messages)."""
    if not value:
        return "<empty>"
    return value[:keep] + "…" if len(value) > keep else MASK
