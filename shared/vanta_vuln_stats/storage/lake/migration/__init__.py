"""Migration of a SQLite store (this project's or the earlier vanta_vuln_stats.py's) into an empty
Parquet lake, as one committed day, with validation against the source and rollback. See
docs/MIGRATION.md; runs.py for the run, plan.py for what it writes, tables.py for how each file
is filled from SQLite, checksum.py for what validation compares."""

from __future__ import annotations

from vanta_vuln_stats.storage.lake.migration.runs import (
    MigrationResult,
    RollbackResult,
    TableCheck,
    ValidationResult,
    migrate,
    rollback,
    validate,
)

__all__ = [
    "MigrationResult",
    "RollbackResult",
    "TableCheck",
    "ValidationResult",
    "migrate",
    "rollback",
    "validate",
]
