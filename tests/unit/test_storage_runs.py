"""A sync run's times (vanta_vuln_stats.storage.base): its start, run date and stamp."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from vanta_vuln_stats.storage import SyncRun, run_stamp, run_times

START = datetime(2025, 3, 10, 23, 59, 58, 123_000, tzinfo=UTC)


def test_the_stamp_is_the_run_date_at_the_starts_time_of_day() -> None:
    run = SyncRun(id=1, started_at=START, run_date=date(2025, 3, 8))

    assert run.stamp == datetime(2025, 3, 8, 23, 59, 58, 123_000, tzinfo=UTC)


def test_a_run_for_its_own_day_is_stamped_with_its_start() -> None:
    assert SyncRun(id=1, started_at=START, run_date=START.date()).stamp == START


def test_defaults_are_now_and_its_utc_date() -> None:
    before = datetime.now(UTC) - timedelta(milliseconds=1)
    started, run_date = run_times()

    assert before <= started <= datetime.now(UTC)
    assert started.microsecond % 1000 == 0 and started.tzinfo is UTC
    assert run_date == started.date()


def test_times_are_utc_at_millisecond_precision() -> None:
    # 01:30 at UTC+2 is 23:30 the day before in UTC: the run date follows UTC.
    local = datetime(2025, 3, 11, 1, 30, 0, 987_654, tzinfo=timezone(timedelta(hours=2)))

    started, run_date = run_times(local)

    assert started == datetime(2025, 3, 10, 23, 30, 0, 987_000, tzinfo=UTC)
    assert run_date == date(2025, 3, 10)
    assert run_times(datetime(2025, 3, 10, 8, 0), date(2025, 3, 1)) == (
        datetime(2025, 3, 10, 8, 0, tzinfo=UTC),  # naive is UTC
        date(2025, 3, 1),
    )
    assert run_stamp(local, date(2025, 3, 1)) == datetime(
        2025, 3, 1, 23, 30, 0, 987_000, tzinfo=UTC
    )


@pytest.mark.parametrize("run_date", [START, "2025-03-08", 20250308])
def test_a_run_date_must_be_a_date(run_date: object) -> None:
    with pytest.raises(TypeError, match="run_date must be a date"):
        run_times(START, run_date)  # type: ignore[arg-type]
