"""The local sync: fetch every resource page by page, normalise, store in batches.

Memory stays flat: at most one batch of records is held at a time. Each batch is committed on its
own, so an interrupted sync (Ctrl-C, a crash, the API giving up) keeps what was stored, and the
run is recorded as interrupted; "resolved" findings are only detected for resources whose walk
completed, so a partial walk never marks findings as gone.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol

from vanta_vuln_stats.errors import VantaVulnStatsError
from vanta_vuln_stats.model.fields import Resource

if TYPE_CHECKING:
    from vanta_vuln_stats.model import NormalizedBatch
    from vanta_vuln_stats.storage.base import StorageBackend, SyncSummary
    from vanta_vuln_stats.vanta.client import Page, VantaClient

log = logging.getLogger(__name__)

# Vulnerabilities first: the change history is about them, and a user who stops early gets them.
SYNC_ORDER: tuple[Resource, ...] = (
    Resource.VULNERABILITIES,
    Resource.VULNERABILITY_REMEDIATIONS,
    Resource.VULNERABLE_ASSETS,
)


class SyncProgress(Protocol):
    """What a progress display is told. Every method is optional to act on."""

    def resource_started(self, resource: Resource, expected: int | None) -> None: ...
    def page_stored(self, resource: Resource, records: int, total: int) -> None: ...
    def resource_finished(self, resource: Resource, total: int) -> None: ...


class SyncInterrupted(VantaVulnStatsError):
    """Ctrl-C during a sync. Committed batches are kept; the summary says what was stored."""

    exit_code = 130

    def __init__(self, summary: SyncSummary) -> None:
        super().__init__("Sync interrupted; every batch stored before the interruption is kept.")
        self.summary = summary


class SyncFailed(VantaVulnStatsError):
    """The sync stopped on an error. Committed batches are kept; the cause is chained."""

    def __init__(self, cause: BaseException, summary: SyncSummary) -> None:
        super().__init__(f"Sync failed: {cause}")
        self.summary = summary
        self.exit_code = getattr(cause, "exit_code", 1)


@dataclass
class ResourceTally:
    fetched: int = 0
    stored: int = 0
    rejected: int = 0
    pages: int = 0
    seconds: float = 0.0


@dataclass
class SyncResult:
    summary: SyncSummary
    tallies: dict[Resource, ResourceTally] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def records_per_second(self) -> float:
        fetched = sum(t.fetched for t in self.tallies.values())
        return fetched / self.seconds if self.seconds else 0.0


def run_sync(
    client: VantaClient,
    store: StorageBackend,
    *,
    resources: Sequence[Resource] = SYNC_ORDER,
    batch_size: int = 1000,
    progress: SyncProgress | None = None,
    expected: Callable[[Resource], int | None] | None = None,
    run_date: date | None = None,
) -> SyncResult:
    """Fetch ``resources`` in turn into ``store``; returns the run's summary and tallies.

    ``run_date`` is the day the run counts for (default: today, UTC): its rows and events are
    stamped on that day, so a back-filled day lands on its own date.
    """
    from vanta_vuln_stats.model import normalize_batch

    run = store.begin_sync(run_date=run_date)
    tallies = {resource: ResourceTally() for resource in resources}
    complete: list[Resource] = []
    started = time.perf_counter()

    def write(resource: Resource, batch: NormalizedBatch) -> None:
        if batch.rows:
            store.store_batch(run, resource, batch.rows)
        if batch.rejections:
            store.store_rejections(run, batch.rejections)

    writer = _Writer()

    def flush(resource: Resource, raws: list[Any]) -> None:
        batch = normalize_batch(resource, raws)
        writer.submit(write, resource, batch)
        for rejection in batch.rejections:
            log.info(
                "rejected %s record %s: %s",
                resource.value,
                rejection.record_id or "<no id>",
                "; ".join(rejection.reasons),
            )
        tally = tallies[resource]
        tally.stored += len(batch.rows)
        tally.rejected += len(batch.rejections)
        if progress:
            progress.page_stored(resource, len(raws), tally.fetched)

    try:
        for resource in resources:
            tally = tallies[resource]
            if progress:
                progress.resource_started(resource, expected(resource) if expected else None)
            resource_started = time.perf_counter()
            buffer: list[Any] = []
            for page in _pages(client, resource):
                tally.pages += 1
                tally.fetched += len(page.records)
                buffer.extend(page.records)
                if len(buffer) >= batch_size:
                    flush(resource, buffer)
                    buffer = []
            if buffer:
                flush(resource, buffer)
            writer.drain()  # the resource counts as complete only once all of it is stored
            tally.seconds = time.perf_counter() - resource_started
            complete.append(resource)
            if progress:
                progress.resource_finished(resource, tally.fetched)
    except KeyboardInterrupt:
        # Batches already handed over are committed: they were fetched whole. A write error
        # met on the way is secondary to the interruption being reported.
        with contextlib.suppress(Exception):
            writer.close()
        summary = store.abort_sync(
            run,
            reason="interrupted by the user",
            fetched={r: t.fetched for r, t in tallies.items()},
        )
        raise SyncInterrupted(summary) from None
    except Exception as exc:
        with contextlib.suppress(Exception):  # the first error is the one reported
            writer.close()
        summary = store.abort_sync(
            run,
            reason=f"{type(exc).__name__}: {exc}",
            status="failed",
            fetched={r: t.fetched for r, t in tallies.items()},
        )
        raise SyncFailed(exc, summary) from exc

    writer.close()
    summary = store.finish_sync(
        run, complete=complete, fetched={r: t.fetched for r, t in tallies.items()}
    )
    return SyncResult(summary=summary, tallies=tallies, seconds=time.perf_counter() - started)


def _pages(client: VantaClient, resource: Resource) -> Iterator[Page]:
    # The client's defaults fetch everything the API holds: page size 100, vulnerabilities with
    # and without an SLA, active and deactivated in one pass.
    return _prefetch(client.iter_pages(resource, client.default_params(resource)))


_DONE = object()


class _Writer:
    """Runs the store's writes in one background thread, in order.

    SQLite does its own work (B-tree updates, the WAL) without holding the interpreter lock, so
    storing batch N in this thread overlaps with fetching and normalising batch N+1 in the
    caller. At most ``depth`` batches wait. A write that fails is raised in the caller at its
    next submit, drain or close; no later batch is written after a failure.
    """

    def __init__(self, depth: int = 2) -> None:
        self._queue: queue.Queue[tuple[Callable[..., None], tuple[Any, ...]] | None] = queue.Queue(
            maxsize=depth
        )
        self._error: BaseException | None = None  # raised once in the caller
        self._failed = False  # stays set: nothing is written after a failed write
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            function, args = item
            try:
                if not self._failed:
                    function(*args)
            except BaseException as exc:
                self._failed = True
                self._error = exc
            finally:
                self._queue.task_done()
        self._queue.task_done()

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def submit(self, function: Callable[..., None], *args: Any) -> None:
        self._raise()
        self._queue.put((function, args))

    def drain(self) -> None:
        self._queue.join()
        self._raise()

    def close(self) -> None:
        """Finish what was handed over, stop the thread; raise a pending write error."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        self._raise()


def _prefetch(pages: Iterator[Page], depth: int = 4) -> Iterator[Page]:
    """Fetch the next pages in a thread while this one normalises and stores the current one.

    The thread spends most of its time waiting on the network, so the overlap hides the API's
    latency behind the local work. At most ``depth`` pages wait in memory. Errors of the walk
    are re-raised here; when the consumer stops (Ctrl-C, an error in the store), the thread is
    told to stop at its next page.
    """
    handoff: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for page in pages:
                while not stop.is_set():
                    try:
                        handoff.put(page, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            handoff.put(_DONE)
        except BaseException as exc:  # handed to the consumer, which raises it
            handoff.put(exc)

    worker = threading.Thread(target=produce, name="vanta-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = handoff.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join(timeout=5)
