"""RequestPacer: the server never counts more than the limit in any window, whatever the latency."""

from __future__ import annotations

import bisect
import random
import threading
import time

import pytest

from vanta_vuln_stats.errors import ConfigError
from vanta_vuln_stats.vanta.pacing import RequestPacer


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


def max_in_any_window(stamps: list[float], window: float) -> int:
    """The most stamps inside any half-open interval [t, t + window)."""
    stamps = sorted(stamps)
    return max(
        (bisect.bisect_left(stamps, s + window) - i for i, s in enumerate(stamps)), default=0
    )


def make_pacer(clock: FakeClock, max_requests: int | None, window: float) -> RequestPacer:
    return RequestPacer(max_requests, window, clock=clock.monotonic, sleep=clock.sleep)


@pytest.mark.parametrize(
    ("limit", "window", "max_latency", "seed"),
    [(5, 10.0, 0.0, 1), (5, 10.0, 3.0, 2), (50, 60.0, 1.5, 3), (1, 2.0, 0.5, 4), (7, 1.0, 2.5, 5)],
)
def test_server_never_counts_more_than_the_limit_in_any_window(
    limit: int, window: float, max_latency: float, seed: int
) -> None:
    # Given a pacer and a server that stamps each request somewhere between send and response
    rng = random.Random(seed)
    clock = FakeClock()
    pacer = make_pacer(clock, limit, window)
    stamps: list[float] = []
    requests = 400

    # When many requests go through it, with random latency and random think time
    for _ in range(requests):
        with pacer:
            latency = rng.uniform(0, max_latency)
            stamps.append(clock.now + rng.random() * latency)
            clock.advance(latency)
        if rng.random() < 0.2:
            clock.advance(rng.uniform(0, window / 3))

    # Then no window of the server's clock holds more than the limit...
    assert len(stamps) == requests
    assert max_in_any_window(stamps, window) <= limit
    # ...and the budget is nearly all used: each batch of `limit` costs about one window.
    if max_latency == 0:
        assert max_in_any_window(stamps, window) == limit


def test_a_burst_uses_the_whole_budget_then_waits_one_window() -> None:
    clock = FakeClock()
    pacer = make_pacer(clock, 3, 10.0)
    sent_at = []
    for _ in range(7):
        with pacer:
            sent_at.append(clock.now)
    # Three at once, the next three one window (plus the margin) later, and so on.
    assert sent_at[:3] == [0.0, 0.0, 0.0]
    assert sent_at[3:6] == [pytest.approx(10.0 + pacer.margin)] * 3
    assert sent_at[6] == pytest.approx(2 * (10.0 + pacer.margin))
    assert pacer.waited_seconds == pytest.approx(2 * (10.0 + pacer.margin))


def test_steady_rate_close_to_the_limit_with_latency() -> None:
    # With 0.2 s latency and 10 per 60 s, 100 requests take about 9 windows, not much more.
    clock = FakeClock()
    pacer = make_pacer(clock, 10, 60.0)
    for _ in range(100):
        with pacer:
            clock.advance(0.2)
    assert 9 * 60.0 <= clock.now <= 9 * (60.0 + pacer.margin) + 100 * 0.2


def test_unlimited_pacer_never_waits() -> None:
    for limit in (None, 0):
        clock = FakeClock()
        pacer = make_pacer(clock, limit, 60.0)
        for _ in range(1000):
            with pacer:
                pass
        assert clock.sleeps == []
        assert not pacer.limited


def test_penalize_pauses_every_caller_even_when_unlimited() -> None:
    clock = FakeClock()
    pacer = make_pacer(clock, None, 60.0)
    pacer.penalize(7.5)
    with pacer:
        started = clock.now
    assert started == pytest.approx(7.5)
    assert clock.sleeps == [pytest.approx(7.5)]
    # A shorter penalty does not shorten a longer pause already in force.
    pacer.penalize(10.0)
    pacer.penalize(2.0)
    with pacer:
        assert clock.now == pytest.approx(17.5)


def test_penalize_combines_with_the_window() -> None:
    clock = FakeClock()
    pacer = make_pacer(clock, 2, 10.0)
    for _ in range(2):
        with pacer:
            pass
    pacer.penalize(3.0)
    with pacer:
        # The window (10 s) is the longer of the two waits.
        assert clock.now == pytest.approx(10.0 + pacer.margin)


def test_release_without_acquire_is_an_error() -> None:
    pacer = RequestPacer(5, 1.0)
    with pytest.raises(RuntimeError):
        pacer.release()


@pytest.mark.parametrize(("limit", "window"), [(-1, 60.0), (5, 0.0), (5, -1.0)])
def test_invalid_settings_are_config_errors(limit: int, window: float) -> None:
    with pytest.raises(ConfigError):
        RequestPacer(limit, window)


def test_threads_share_one_budget_in_real_time() -> None:
    # Given 6 threads sending through one pacer of 4 requests per 0.25 s
    limit, window = 4, 0.25
    pacer = RequestPacer(limit, window, margin=0.01)
    stamps: list[float] = []
    lock = threading.Lock()
    rng = random.Random(7)
    latencies = [rng.uniform(0.0, 0.02) for _ in range(24)]

    def worker(index: int) -> None:
        for j in range(4):
            with pacer:
                # The "server" stamps the request half-way through its latency.
                latency = latencies[index * 4 + j]
                time.sleep(latency / 2)
                with lock:
                    stamps.append(time.monotonic())
                time.sleep(latency / 2)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    elapsed = time.monotonic() - started

    # Then every request was sent, never more than 4 in any 0.25 s, in about 24/4 windows
    assert len(stamps) == 24
    assert max_in_any_window(stamps, window) <= limit
    assert elapsed >= 5 * window
    assert elapsed < 5 * 3


def test_in_flight_requests_hold_their_slots() -> None:
    # Two requests in flight with a limit of 2: a third must wait for a completion plus a window.
    pacer = RequestPacer(2, 0.2, margin=0.0)
    pacer.acquire()
    pacer.acquire()
    acquired = threading.Event()

    def third() -> None:
        pacer.acquire()
        acquired.set()
        pacer.release()

    t = threading.Thread(target=third)
    t.start()
    assert not acquired.wait(0.1)
    released_at = time.monotonic()
    pacer.release()
    pacer.release()
    assert acquired.wait(2.0)
    assert time.monotonic() - released_at >= 0.2
    t.join(timeout=2)
