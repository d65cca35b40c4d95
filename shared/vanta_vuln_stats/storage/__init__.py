"""Where synced data is kept: the StorageBackend contract, its SQLite implementation, and the one
definition of a vulnerability filter (``where_sql``) shared with the statistics."""

from __future__ import annotations

import os

from vanta_vuln_stats.errors import ConfigError
from vanta_vuln_stats.storage.base import (
    CHANGE_TYPES,
    ChangeCounts,
    ChangeEvent,
    ChangeType,
    RejectedRecord,
    ResourceCounts,
    StorageBackend,
    SyncRun,
    SyncStatus,
    SyncSummary,
    run_stamp,
    run_times,
)
from vanta_vuln_stats.storage.filters import (
    DEFAULT_STATUSES,
    STATUSES,
    VulnerabilityFilter,
    VulnerabilityStatus,
    where_sql,
)
from vanta_vuln_stats.storage.sqlite import SQLiteStorage

__all__ = [
    "CHANGE_TYPES",
    "DEFAULT_STATUSES",
    "STATUSES",
    "ChangeCounts",
    "ChangeEvent",
    "ChangeType",
    "RejectedRecord",
    "ResourceCounts",
    "SQLiteStorage",
    "StorageBackend",
    "SyncRun",
    "SyncStatus",
    "SyncSummary",
    "VulnerabilityFilter",
    "VulnerabilityStatus",
    "open_backend",
    "run_stamp",
    "run_times",
    "where_sql",
]


def open_backend(name: str, *, database: str | os.PathLike[str]) -> StorageBackend:
    """The store named by the ``storage_backend`` setting. Only ``sqlite`` exists today."""
    if name == "sqlite":
        return SQLiteStorage(database)
    raise ConfigError(f"Unknown storage backend {name!r}: the available one is sqlite.")
