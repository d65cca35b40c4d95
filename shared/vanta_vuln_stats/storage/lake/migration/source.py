"""The migration's source: a SQLite database of this project or of the earlier vanta_vuln_stats.py.

The source file is only ever opened read-only. It is copied with SQLite's backup API (a
consistent snapshot, even of a WAL file) into a temporary folder, the copy is brought to the
current schema by the SQLite store's own migrations (an earlier tool's database is upgraded
there, never in place), and everything is read from the copy.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from vanta_vuln_stats.errors import StoreError
from vanta_vuln_stats.model.records import parse_timestamp
from vanta_vuln_stats.storage import schema
from vanta_vuln_stats.storage.base import SyncSummary
from vanta_vuln_stats.storage.sqlite import SQLiteStorage

__all__ = ["SourceDatabase", "SourceInfo", "open_source"]

# Room needed for the copy beyond the file itself (the upgrade adds columns and indexes).
_COPY_HEADROOM = 1.5
LEGACY_KIND = "the earlier vanta_vuln_stats.py"
CURRENT_KIND = "vanta-vuln-stats"


@dataclass(frozen=True)
class SourceInfo:
    """What the migration read: the file (its size and SHA-256 when it was copied) and its kind."""

    path: Path
    size: int
    sha256: str
    kind: str  # LEGACY_KIND or CURRENT_KIND
    schema_version: int  # the file's own PRAGMA user_version (0 for the earlier tool)

    @property
    def upgraded(self) -> bool:
        return self.schema_version < schema.SCHEMA_VERSION

    def as_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "name": self.path.name,
            "bytes": self.size,
            "sha256": self.sha256,
            "kind": self.kind,
            "schema_version": self.schema_version,
        }


@dataclass
class SourceDatabase:
    """The upgraded copy of a source, open: ``store`` for the store's own reading (sync
    history), ``conn`` for streaming reads."""

    info: SourceInfo
    store: SQLiteStorage
    conn: sqlite3.Connection

    def count(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        return int(self.conn.execute(sql, params).fetchone()[0])

    def runs(self) -> list[SyncSummary]:
        return self.store.sync_history()

    def run_stamps(self) -> dict[int, datetime]:
        """Each run's stamp: its sync_date, the time the rows it wrote carry (its run date at its
        start's time of day; the start itself for the earlier tool's runs and most others)."""
        stamps = {}
        for run_id, text in self.conn.execute(f"SELECT id, sync_date FROM {schema.SYNC_TABLE}"):
            stamp = parse_time(text)
            if stamp is not None:
                stamps[run_id] = stamp
        return stamps

    def last_complete_sync(self) -> SyncSummary | None:
        complete = [run for run in self.runs() if run.status == "complete"]
        return max(complete, key=lambda run: run.id) if complete else None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _check_file(path: Path) -> None:
    if not path.exists():
        raise StoreError(f"The database {path} does not exist.")
    if path.is_dir():
        raise StoreError(f"The database {path} is a folder, not a file.")
    if not os.access(path, os.R_OK):
        raise StoreError(f"The database {path} cannot be read (permissions).")


def _open_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection that never writes the file. A WAL file in a read-only folder
    cannot be opened ``mode=ro`` without its -shm companion; then, when no -wal file holds
    unmerged changes, ``immutable`` reads it as it is."""
    uri = path.resolve().as_uri()
    try:
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError as exc:
        if "unable to open" not in str(exc) or Path(f"{path}-wal").exists():
            raise
    return sqlite3.connect(f"{uri}?immutable=1", uri=True)


def _kind(conn: sqlite3.Connection, path: Path) -> tuple[str, int]:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    tables = {t for t in schema.table_names(conn) if not t.startswith("sqlite_")}
    if version > schema.SCHEMA_VERSION:
        raise StoreError(
            f"The database {path} was written by a newer version of vanta-vuln-stats (schema "
            f"{version}; this version knows up to {schema.SCHEMA_VERSION}). Upgrade "
            "vanta-vuln-stats to migrate it."
        )
    if not tables:
        raise StoreError(f"The database {path} is empty: it holds no vanta-vuln-stats tables.")
    if schema.is_foreign(conn):
        raise StoreError(
            f"The database {path} belongs to another program (it has none of the "
            "vanta-vuln-stats tables)."
        )
    return (LEGACY_KIND if schema.is_legacy(conn) else CURRENT_KIND), version


def _describe(exc: sqlite3.Error, path: Path) -> str:
    text = str(exc)
    if "not a database" in text or "encrypted" in text:
        return f"The file {path} is not a SQLite database."
    if "locked" in text or "busy" in text:
        return f"The database {path} is locked by another process; try again later."
    return f"Cannot read the database {path}: {text}."


def inspect_source(path: str | os.PathLike[str]) -> SourceInfo:
    """Check the file is a database this tool can migrate, without copying it."""
    source = Path(path).expanduser()
    _check_file(source)
    try:
        with closing(_open_read_only(source)) as conn:
            kind, version = _kind(conn, source)
    except sqlite3.Error as exc:
        raise StoreError(_describe(exc, source)) from None
    return SourceInfo(source.resolve(), source.stat().st_size, "", kind, version)


@contextmanager
def open_source(
    path: str | os.PathLike[str], *, work_dir: str | os.PathLike[str] | None = None
) -> Iterator[SourceDatabase]:
    """The source's upgraded copy, open for reading; the copy is removed afterwards."""
    source = Path(path).expanduser()
    checked = inspect_source(source)
    folder = Path(work_dir) if work_dir is not None else Path(tempfile.gettempdir())
    if not folder.is_dir():
        raise StoreError(f"The work folder {folder} does not exist.")
    needed = int(checked.size * _COPY_HEADROOM)
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise StoreError(
            f"The work folder {folder} has {free // 2**20:,} MB free; a copy of {source} needs "
            f"about {needed // 2**20:,} MB (choose another with --work-dir)."
        )
    with tempfile.TemporaryDirectory(prefix="vanta-vuln-stats-migrate-", dir=folder) as tmp:
        copy = Path(tmp) / "source.db"
        try:
            sha256 = file_sha256(source)
            with closing(_open_read_only(source)) as conn, closing(sqlite3.connect(copy)) as dst:
                conn.backup(dst)
            # The store's own migrations, on the copy: an earlier tool's database is upgraded
            # here (the copy is the backup the store would otherwise make).
            with closing(sqlite3.connect(copy, isolation_level=None)) as conn:
                schema.migrate(conn)
        except sqlite3.Error as exc:
            raise StoreError(_describe(exc, source)) from None
        info = SourceInfo(checked.path, checked.size, sha256, checked.kind, checked.schema_version)
        store = SQLiteStorage(copy)
        conn = sqlite3.connect(copy)
        # Sorts of large tables spill to the temporary folder, not to memory.
        conn.execute("PRAGMA temp_store = FILE")
        try:
            yield SourceDatabase(info=info, store=store, conn=conn)
        finally:
            conn.close()
            store.close()


def parse_time(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return parse_timestamp(text)
    except ValueError:
        return None
