"""The hybrid store: one sync writes the SQLite store and the Parquet lake.

Both get the same rows, the same rejections and the same run (start time and run date), so
their histories and statistics agree (the tests compare them key for key). Reads come from
SQLite, the local copy. The lake is finished first: when it cannot commit (its counts do not
reconcile, S3 refused a write), the SQLite run is closed as failed too, so the two never
disagree about whether a day synced.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal

from vanta_vuln_stats.model.fields import Resource
from vanta_vuln_stats.storage.base import (
    ChangeCounts,
    ChangeEvent,
    ChangeType,
    RejectedRecord,
    StorageBackend,
    SyncRun,
    SyncSummary,
    run_times,
)

if TYPE_CHECKING:
    from vanta_vuln_stats.storage.filters import VulnerabilityFilter
    from vanta_vuln_stats.storage.lake.store import LakeStorage
    from vanta_vuln_stats.storage.sqlite import SQLiteStorage

__all__ = ["HybridStorage"]


class HybridStorage(StorageBackend):
    """SQLite (``primary``, read from) and the lake (``lake``), written together."""

    def __init__(self, primary: SQLiteStorage, lake: LakeStorage) -> None:
        self.primary = primary
        self.lake = lake
        self._lake_runs: dict[int, SyncRun] = {}

    @property
    def notices(self) -> list[str]:
        return [*self.primary.notices, *self.lake.notices]

    @property
    def connection(self) -> Any:
        return self.primary.connection

    def begin_sync(
        self, *, started_at: datetime | None = None, run_date: date | None = None
    ) -> SyncRun:
        started, day = run_times(started_at, run_date)
        lake_run = self.lake.begin_sync(started_at=started, run_date=day)
        try:
            run = self.primary.begin_sync(started_at=started, run_date=day)
        except BaseException:
            self.lake.abort_sync(lake_run, reason="the SQLite store could not start the run")
            raise
        self._lake_runs[run.id] = lake_run
        return run

    def store_batch(
        self, run: SyncRun, resource: Resource, rows: Sequence[Mapping[str, Any]]
    ) -> ChangeCounts:
        self.lake.store_batch(self._lake_runs[run.id], resource, rows)
        return self.primary.store_batch(run, resource, rows)

    def store_rejections(self, run: SyncRun, rejections: Sequence[RejectedRecord]) -> None:
        self.lake.store_rejections(self._lake_runs[run.id], rejections)
        self.primary.store_rejections(run, rejections)

    def finish_sync(
        self,
        run: SyncRun,
        *,
        complete: Collection[Resource],
        fetched: Mapping[Resource, int],
        finished_at: datetime | None = None,
    ) -> SyncSummary:
        lake_run = self._lake_runs.pop(run.id)
        try:
            lake = self.lake.finish_sync(
                lake_run, complete=complete, fetched=fetched, finished_at=finished_at
            )
        except BaseException as exc:
            self.primary.abort_sync(
                run, reason=f"the lake did not commit: {exc}", status="failed", fetched=fetched
            )
            raise
        # One sync, one end: both stores then give the same data_as_of.
        return self.primary.finish_sync(
            run, complete=complete, fetched=fetched, finished_at=lake.finished_at
        )

    def abort_sync(
        self,
        run: SyncRun,
        *,
        reason: str,
        status: Literal["interrupted", "failed"] = "interrupted",
        fetched: Mapping[Resource, int] | None = None,
    ) -> SyncSummary:
        lake_run = self._lake_runs.pop(run.id, None)
        if lake_run is not None:
            self.lake.abort_sync(lake_run, reason=reason, status=status, fetched=fetched)
        return self.primary.abort_sync(run, reason=reason, status=status, fetched=fetched)

    def has_data(self) -> bool:
        return self.primary.has_data()

    def last_sync(self, *, complete_only: bool = False) -> SyncSummary | None:
        return self.primary.last_sync(complete_only=complete_only)

    def sync_history(self) -> list[SyncSummary]:
        return self.primary.sync_history()

    def iter_vulnerabilities(
        self, filters: VulnerabilityFilter | None = None
    ) -> Iterator[dict[str, Any]]:
        return self.primary.iter_vulnerabilities(filters)

    def change_history(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        vuln_id: str | None = None,
        change_types: Collection[ChangeType] | None = None,
        limit: int | None = None,
    ) -> list[ChangeEvent]:
        return self.primary.change_history(
            since=since, until=until, vuln_id=vuln_id, change_types=change_types, limit=limit
        )

    def query_connection(self) -> AbstractContextManager[Any]:
        """SQLite's, where reads come from (the lake holds the same data)."""
        return self.primary.query_connection()

    def close(self) -> None:
        try:
            self.lake.close()
        finally:
            self.primary.close()
