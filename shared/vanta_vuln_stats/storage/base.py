"""The storage contract every backend implements (SQLite today; the Parquet lake and the hybrid
store later), and the value types that cross it.

A sync is a run: ``begin_sync`` opens it, ``store_batch`` writes normalised rows one batch (one
transaction) at a time and classifies what changed, ``store_rejections`` keeps the records that
could not be normalised, and the run ends with ``finish_sync`` (the walk ended; findings no longer
reported are marked resolved for the resources whose walk completed) or ``abort_sync`` (Ctrl-C or
an error: committed batches stay, nothing is resolved). A run left open by a crash is recorded as
interrupted when the next run begins.

A run has a run date, the day it counts for: the day it started (UTC) unless the caller says
otherwise, as when a missed day is back-filled. The records and change events a run writes carry
one timestamp, ``SyncRun.stamp``: the run date at the start's time of day. So a back-filled day
lands on its own date, and two stores written by one sync record the same time. When the run
date is the start's own day the stamp is the start itself. The run's real start and end are
kept as they were.

Change types (the earlier tool's meanings are kept):

    discovered   an id never stored before
    remediated   the finding became deactivated (``deactivateMetadata`` appeared)
    reactivated  it stopped being deactivated, or it was resolved and the API reports it again
    updated      a tracked column changed (``model.tracked_columns``: severity, scores, SLA
                 deadline, fixability, package, name, description, ...); ``changed_fields``
                 names the tracked columns that differ
    resolved     a completed walk no longer returned it

A record only seen again (``lastDetectedDate`` moved) or changed only in fields outside the model
is no change: the current row takes the new record, but no event is written and nothing is
counted. Every backend applies this one rule with the one list of tracked columns.

Backends hold no state between calls that a crash could lose: a run's counts are written with
each batch, so a later process can still report an interrupted run truthfully.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from types import MappingProxyType, TracebackType
from typing import Any, Literal, Protocol, Self

from vanta_vuln_stats.model.fields import Resource
from vanta_vuln_stats.model.records import parse_timestamp, timestamp_to_iso
from vanta_vuln_stats.storage.filters import VulnerabilityFilter

__all__ = [
    "CHANGE_TYPES",
    "ChangeCounts",
    "ChangeEvent",
    "ChangeType",
    "RejectedRecord",
    "ResourceCounts",
    "StorageBackend",
    "SyncRun",
    "SyncStatus",
    "SyncSummary",
    "run_stamp",
    "run_times",
]

ChangeType = Literal["discovered", "updated", "remediated", "reactivated", "resolved"]
CHANGE_TYPES: tuple[ChangeType, ...] = (
    "discovered",
    "updated",
    "remediated",
    "reactivated",
    "resolved",
)

# "running" is only ever seen for a run still in progress (or one whose process died, until the
# next begin_sync records it as interrupted).
SyncStatus = Literal["running", "complete", "interrupted", "failed"]


def run_times(
    started_at: datetime | None = None, run_date: date | None = None
) -> tuple[datetime, date]:
    """A new run's start and run date, as every backend's ``begin_sync`` records them.

    ``started_at`` defaults to now, a naive one is taken as UTC, and it is cut to milliseconds
    (what the stores keep); ``run_date`` defaults to the start's UTC date. A datetime given as
    ``run_date`` is a programming error (its day depends on a zone): TypeError.
    """
    if isinstance(run_date, datetime) or not isinstance(run_date, date | None):
        raise TypeError(f"run_date must be a date, got {run_date!r}")
    started = datetime.now(UTC) if started_at is None else started_at
    if started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    started = parse_timestamp(timestamp_to_iso(started))
    return started, run_date or started.date()


def run_stamp(started_at: datetime, run_date: date) -> datetime:
    """The run date at ``started_at``'s UTC time of day, millisecond precision: the timestamp a
    run's rows and events carry. ``started_at`` itself when it falls on ``run_date``."""
    start = started_at.astimezone(UTC)
    return datetime.combine(
        run_date, start.time().replace(microsecond=start.microsecond // 1000 * 1000), UTC
    )


@dataclass(frozen=True, slots=True)
class SyncRun:
    """An open sync run.

    ``started_at`` is when it really started, UTC at millisecond precision (what the store
    keeps); ``run_date`` is the day it counts for (see the module docstring).
    """

    id: int
    started_at: datetime
    run_date: date

    @property
    def stamp(self) -> datetime:
        """The timestamp of the records and events the run writes: ``run_date`` at the start's
        time of day (UTC, milliseconds); ``started_at`` when the run is for its own day."""
        return run_stamp(self.started_at, self.run_date)


@dataclass(frozen=True, slots=True)
class ChangeCounts:
    """How many records of one batch, resource or run changed, by change type.

    ``discovered`` and ``updated`` apply to every resource; ``remediated`` only to
    vulnerabilities; ``reactivated`` and ``resolved`` to vulnerabilities and vulnerable assets
    (remediation records are never resolved: they are facts about the past).
    """

    discovered: int = 0
    updated: int = 0
    remediated: int = 0
    reactivated: int = 0
    resolved: int = 0

    def __add__(self, other: ChangeCounts) -> ChangeCounts:
        return ChangeCounts(
            self.discovered + other.discovered,
            self.updated + other.updated,
            self.remediated + other.remediated,
            self.reactivated + other.reactivated,
            self.resolved + other.resolved,
        )

    @property
    def total(self) -> int:
        return self.discovered + self.updated + self.remediated + self.reactivated + self.resolved


@dataclass(frozen=True, slots=True)
class ResourceCounts:
    """One resource's share of a run.

    ``fetched`` records came from the API; each was either ``stored`` (normalised and written) or
    ``rejected``, so ``fetched == stored + rejected`` when the run's numbers reconcile.
    ``complete`` says whether the walk of this resource reached its last page.
    """

    fetched: int = 0
    stored: int = 0
    rejected: int = 0
    complete: bool = False
    changes: ChangeCounts = ChangeCounts()

    @property
    def reconciled(self) -> bool:
        return self.fetched == self.stored + self.rejected


@dataclass(frozen=True, slots=True)
class SyncSummary:
    """One run as the store recorded it.

    The change counters (``discovered`` ... ``resolved``) are the vulnerabilities' ones, the
    earlier tool's meaning of a sync's new/updated/remediated counts; every resource's own counts
    are in ``resources``. Runs written by the earlier tool have only those legacy numbers.
    """

    id: int
    status: SyncStatus
    started_at: datetime
    finished_at: datetime | None
    resources: Mapping[Resource, ResourceCounts] = field(
        default_factory=lambda: MappingProxyType({})
    )
    message: str | None = None

    def counts(self, resource: Resource) -> ResourceCounts:
        return self.resources.get(resource, ResourceCounts())

    @property
    def changes(self) -> ChangeCounts:
        return self.counts(Resource.VULNERABILITIES).changes

    @property
    def discovered(self) -> int:
        return self.changes.discovered

    @property
    def updated(self) -> int:
        return self.changes.updated

    @property
    def remediated(self) -> int:
        return self.changes.remediated

    @property
    def reactivated(self) -> int:
        return self.changes.reactivated

    @property
    def resolved(self) -> int:
        return self.changes.resolved

    @property
    def fetched(self) -> int:
        return sum(counts.fetched for counts in self.resources.values())

    @property
    def stored(self) -> int:
        return sum(counts.stored for counts in self.resources.values())

    @property
    def rejected(self) -> int:
        return sum(counts.rejected for counts in self.resources.values())


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    """One row of the vulnerability change history.

    ``sync_id`` is None for events written by the earlier tool. ``deactivation_date`` is the
    finding's ``deactivateMetadata.deactivatedOnDate`` at the time of the event.
    ``changed_fields`` names the tracked columns that differed from the stored row (empty for
    discovered and resolved events; events recorded before "updated" meant a tracked change
    may also name ``last_detected_date`` or ``raw_data``).
    """

    id: int
    sync_id: int | None
    vuln_id: str
    change_type: ChangeType
    snapshot_date: datetime
    name: str | None
    severity: str | None
    is_deactivated: bool | None
    deactivation_date: datetime | None
    changed_fields: tuple[str, ...] = ()


class RejectedRecord(Protocol):
    """What the store needs of a rejected record (``model.records.Rejection`` fits)."""

    @property
    def resource(self) -> Resource: ...
    @property
    def record_id(self) -> str | None: ...
    @property
    def reasons(self) -> Sequence[str]: ...
    @property
    def raw(self) -> object: ...


class StorageBackend(ABC):
    """Where synced data is kept. One writer at a time; a context manager that closes itself."""

    @abstractmethod
    def begin_sync(
        self, *, started_at: datetime | None = None, run_date: date | None = None
    ) -> SyncRun:
        """Open a run (``started_at`` defaults to now, ``run_date`` to its UTC date; see
        ``run_times``). Its rows and events carry ``run.stamp``. Runs a crashed process left
        open are recorded as interrupted first."""

    @abstractmethod
    def store_batch(
        self, run: SyncRun, resource: Resource, rows: Sequence[Mapping[str, Any]]
    ) -> ChangeCounts:
        """Upsert normalised rows (dicts keyed by ``column_names(resource)``) in one
        transaction, recording what changed; returns this batch's counts."""

    @abstractmethod
    def store_rejections(self, run: SyncRun, rejections: Sequence[RejectedRecord]) -> None:
        """Keep records that could not be normalised, with their reasons, where a person can
        look at them."""

    @abstractmethod
    def finish_sync(
        self,
        run: SyncRun,
        *,
        complete: Collection[Resource],
        fetched: Mapping[Resource, int],
        finished_at: datetime | None = None,
    ) -> SyncSummary:
        """Close a run whose walk ended. Only for resources in ``complete`` are stored rows
        that this run did not see marked resolved. The run is ``complete`` when every fetched
        resource's walk completed, else ``interrupted``. ``finished_at`` is the end the run
        records (default: now); a store written beside another by the same sync takes the
        other's, so both say the same about when their data was complete."""

    @abstractmethod
    def abort_sync(
        self,
        run: SyncRun,
        *,
        reason: str,
        status: Literal["interrupted", "failed"] = "interrupted",
        fetched: Mapping[Resource, int] | None = None,
    ) -> SyncSummary:
        """Close a run that stopped early. Committed batches stay; nothing is resolved."""

    @abstractmethod
    def has_data(self) -> bool:
        """True when any vulnerability, remediation or asset is stored."""

    @abstractmethod
    def last_sync(self, *, complete_only: bool = False) -> SyncSummary | None:
        """The most recent run (or the most recent complete one), None when there is none."""

    @abstractmethod
    def sync_history(self) -> list[SyncSummary]:
        """Every run, oldest first."""

    @abstractmethod
    def iter_vulnerabilities(
        self, filters: VulnerabilityFilter | None = None
    ) -> Iterator[dict[str, Any]]:
        """The raw API records of the vulnerabilities matching ``filters`` (None: the default
        scope, active and deactivated), ordered by id. For ``--export-vulnerabilities``."""

    @abstractmethod
    def change_history(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        vuln_id: str | None = None,
        change_types: Collection[ChangeType] | None = None,
        limit: int | None = None,
    ) -> list[ChangeEvent]:
        """Change events, oldest first, within ``[since, until]`` (inclusive)."""

    @abstractmethod
    def query_connection(self) -> AbstractContextManager[Any]:
        """A read-only SQL connection over the store's data for the block's duration, with the
        tables the statistics read (storage/schema.py names them): the SQLite store's own
        connection, or for the lake a DuckDB connection over its committed files.
        ``stats.compute_statistics`` takes either."""

    @abstractmethod
    def close(self) -> None:
        """Release the store. Closing twice is harmless."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
