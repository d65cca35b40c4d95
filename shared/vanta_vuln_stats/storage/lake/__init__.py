"""The Parquet lake: date-partitioned snapshots, change history and sync history on a local
directory or S3, one implementation over pyarrow's filesystems (see layout.py for the layout,
store.py for how a run commits). pyarrow is imported when a lake is opened, not before."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["LakeLocation", "LakeStorage", "Manifest", "s3_endpoint"]

if TYPE_CHECKING:
    from vanta_vuln_stats.storage.lake.fs import LakeLocation, s3_endpoint
    from vanta_vuln_stats.storage.lake.store import LakeStorage, Manifest


def __getattr__(name: str) -> Any:
    from importlib import import_module

    homes = {"LakeLocation": "fs", "s3_endpoint": "fs", "LakeStorage": "store", "Manifest": "store"}
    if name not in homes:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{homes[name]}"), name)
