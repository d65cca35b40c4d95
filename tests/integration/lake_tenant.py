"""A lake of two committed days of a simulated tenant, for the named-query tests: written through
the lake store's public API with frozen run times, so its run rows are the same every time."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from vanta_vuln_stats.devstack.simulator.tenant import Tenant
from vanta_vuln_stats.model import Resource, normalize_batch
from vanta_vuln_stats.storage import StorageBackend
from vanta_vuln_stats.storage.lake import LakeStorage

V = Resource.VULNERABILITIES
TENANT = Tenant(600, seed=7)
DAY1 = date(2026, 11, 5)
DAY2 = DAY1 + timedelta(days=1)
DAY3 = DAY2 + timedelta(days=1)
NOW = datetime(2026, 11, 7, 9, 30, tzinfo=UTC)
BATCH = 250


class FrozenClock:
    """``datetime`` for the lake store's module: ``now()`` is the time a test sets."""

    current = datetime(2026, 1, 1, tzinfo=UTC)

    @classmethod
    def datetime_class(cls) -> type[datetime]:
        owner = cls

        class Frozen(datetime):
            @classmethod
            def now(cls, tz: Any = None) -> Any:  # type: ignore[override]
                return owner.current if tz is None else owner.current.astimezone(tz)

        return Frozen


def records(day: date) -> dict[Resource, list[dict[str, Any]]]:
    # Findings without an SLA too, so NULL deadlines are in the data.
    params = {V: {"includeVulnerabilitiesWithoutSlas": True}}
    return {r: list(TENANT.iter_records(r, as_of=day, params=params.get(r))) for r in Resource}


def sync_day(store: StorageBackend, day: date, *, commit: bool = True) -> None:
    """One complete run of ``day`` at 06:00 UTC, finished seven minutes later; a lake's run can
    be left without its commit manifest (a crash just before it)."""
    data = records(day)
    started = datetime.combine(day, time(6), UTC)
    FrozenClock.current = started + timedelta(minutes=7)
    run = store.begin_sync(started_at=started, run_date=day)
    for resource, raws in data.items():
        for offset in range(0, len(raws), BATCH):
            batch = normalize_batch(resource, raws[offset : offset + BATCH])
            store.store_batch(run, resource, batch.rows)
            store.store_rejections(run, batch.rejections)
    store.finish_sync(run, complete=list(Resource), fetched={r: len(x) for r, x in data.items()})
    if not commit:
        assert isinstance(store, LakeStorage)
        (Path(store.location.root) / "_commits" / f"{day.isoformat()}.json").unlink()


def build_lake(path: Path, days: tuple[date, ...] = (DAY1, DAY2)) -> Path:
    """The tenant's ``days`` synced into a lake at ``path``, each run committed."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("vanta_vuln_stats.storage.lake.store.datetime", FrozenClock.datetime_class())
        with LakeStorage(str(path)) as store:
            for day in days:
                sync_day(store, day)
    return path


def build_sqlite(path: Path, days: tuple[date, ...] = (DAY1, DAY2)) -> Path:
    """The same days synced into a SQLite store at ``path``."""
    from vanta_vuln_stats.storage import SQLiteStorage

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("vanta_vuln_stats.storage.sqlite.datetime", FrozenClock.datetime_class())
        with SQLiteStorage(path) as store:
            for day in days:
                sync_day(store, day)
    return path
