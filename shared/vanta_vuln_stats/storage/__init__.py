"""Where synced data is kept: the StorageBackend contract, the SQLite store, the Parquet lake
(``storage.lake``), the hybrid of both, and the one definition of a vulnerability filter
(``where_sql``) shared with the statistics."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from vanta_vuln_stats.storage.sqlite import SQLiteStorage


def __getattr__(name: str) -> Any:
    # The SQLite store is loaded when asked for: a Lambda that only needs the contract (the
    # pipeline's steps) does not pay for it at cold start.
    if name == "SQLiteStorage":
        from vanta_vuln_stats.storage.sqlite import SQLiteStorage

        return SQLiteStorage
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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


def open_backend(
    name: str,
    *,
    database: str | os.PathLike[str],
    lake: str | None = None,
) -> StorageBackend:
    """The store named by the ``storage_backend`` setting.

    sqlite: the SQLite file ``database``. lake: the Parquet lake at ``lake`` (a directory or
    an s3:// URI). s3: the same, and ``lake`` must be an s3:// URI. hybrid: both, written by
    the same sync, read from SQLite.
    """
    from vanta_vuln_stats.storage.sqlite import SQLiteStorage

    if name == "sqlite":
        return SQLiteStorage(database)
    if name not in ("s3", "lake", "hybrid"):
        raise ConfigError(
            f"Unknown storage backend {name!r}: choose from sqlite, s3, lake or hybrid."
        )
    if not lake:
        raise ConfigError(
            f"The {name} storage backend needs a lake: give --lake (a directory or "
            's3://bucket/prefix), VANTA_LAKE or "lake" in config.json.'
        )
    if name == "s3" and not lake.startswith("s3://"):
        raise ConfigError(
            f"The s3 storage backend needs an s3:// lake, not {lake!r}; use --storage-backend "
            "lake for a local directory."
        )
    from vanta_vuln_stats.storage.lake import LakeStorage

    lake_store = LakeStorage(lake)
    if name != "hybrid":
        return lake_store
    from vanta_vuln_stats.storage.hybrid import HybridStorage

    try:
        return HybridStorage(SQLiteStorage(database), lake_store)
    except BaseException:
        lake_store.close()
        raise
