"""Progress on a terminal. A sync: one line per resource with records, rate and, when the previous
sync tells how many to expect, a bar and an ETA (the API itself never returns a total). A
migration: one line per table, against the source's row counts."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from vanta_vuln_stats.model.fields import Resource


class RichSyncProgress:
    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("{task.description:<27}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>9} rec/s"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._tasks: dict[Resource, TaskID] = {}

    def __enter__(self) -> RichSyncProgress:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def resource_started(self, resource: Resource, expected: int | None) -> None:
        # Without an expected total the bar pulses and the count still moves.
        self._tasks[resource] = self._progress.add_task(
            resource.value, total=expected or None, rate="-"
        )

    def page_stored(self, resource: Resource, records: int, total: int) -> None:
        task_id = self._tasks[resource]
        task = self._progress.tasks[task_id]
        if task.total is not None and total > task.total:
            self._progress.update(task_id, total=None)
        speed = task.speed
        self._progress.update(task_id, completed=total, rate=f"{speed:,.0f}" if speed else "-")

    def resource_finished(self, resource: Resource, total: int) -> None:
        self._progress.update(self._tasks[resource], total=total, completed=total)


class RichTableProgress:
    """Migration progress on a terminal: one line per table with rows done of the total, rate
    and ETA (the totals are known from the source's counts)."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("{task.description:<34}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> RichTableProgress:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def table_started(self, label: str, total: int) -> None:
        self._tasks[label] = self._progress.add_task(label, total=total)

    def rows_done(self, label: str, rows: int) -> None:
        self._progress.advance(self._tasks[label], rows)

    def table_finished(self, label: str) -> None:
        task = self._tasks[label]
        total = self._progress.tasks[task].total
        self._progress.update(task, completed=total)
