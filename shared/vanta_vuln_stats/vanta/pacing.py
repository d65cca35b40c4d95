"""Client-side pacing that keeps the server's request count under its limit.

The server counts a request when it stamps it, somewhere between the moment the client sends it
and the moment the client sees the response. The pacer therefore remembers *completion* times
(when each response arrived, or the call failed) and lets a request go only when, counting the
requests still in flight, fewer than ``max_requests`` completed within the last ``window`` seconds.

Why that bounds the server's count regardless of latency: for any ``max_requests + 1`` requests
stamped by the server, take the one the client sent last, at time ``c``. Every other one was
either in flight at ``c`` or completed before it; those completed before ``c - window`` were
stamped before ``c - window``, so more than ``window`` before the last one. The pacer admits the
last one only when in flight + recently completed < ``max_requests``, so at most
``max_requests - 1`` others can share its window.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from types import TracebackType

from ..errors import ConfigError

# Guards the boundary case where two stamps are exactly one window apart, and clock granularity.
DEFAULT_MARGIN = 0.05


class RequestPacer:
    """At most ``max_requests`` requests in any ``window`` seconds, as the server sees them.

    ``acquire()`` before sending (blocks as needed); ``release()`` once the response arrived or
    the attempt failed. The pacer is also a context manager doing both. ``penalize(seconds)``
    pauses every caller, e.g. for a 429's Retry-After. ``max_requests`` of 0 or None means no
    limit (``penalize`` still applies). Thread safe.
    """

    def __init__(
        self,
        max_requests: int | None,
        window: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        margin: float = DEFAULT_MARGIN,
    ) -> None:
        if max_requests is not None and max_requests < 0:
            raise ConfigError(
                f"the request limit must be 0 (unlimited) or more, not {max_requests}"
            )
        if window <= 0:
            raise ConfigError(f"the rate window must be a positive number of seconds, not {window}")
        self.max_requests = max_requests or 0
        self.window = float(window)
        self.margin = float(margin)
        self._clock = clock
        self._sleep = sleep
        self._cond = threading.Condition()
        self._completions: deque[float] = deque()
        self._in_flight = 0
        self._paused_until = float("-inf")
        self.waited_seconds = 0.0

    @property
    def limited(self) -> bool:
        return self.max_requests > 0

    def acquire(self) -> None:
        """Block until one more request may be sent, then count it as in flight."""
        while True:
            with self._cond:
                delay = self._delay_locked()
                if delay is None:
                    # Every slot is taken by a request still in flight: its completion will start
                    # the clock, so wait for a release rather than for time to pass.
                    self._cond.wait()
                    continue
                if delay <= 0:
                    self._in_flight += 1
                    return
                self.waited_seconds += delay
            # Sleep outside the lock so releases and other callers are never blocked by it.
            self._sleep(delay)

    def release(self) -> None:
        """Record that a request acquired earlier has completed (response seen or failed)."""
        with self._cond:
            if self._in_flight <= 0:
                raise RuntimeError("RequestPacer.release() called without a matching acquire()")
            self._in_flight -= 1
            if self.limited:
                self._completions.append(self._clock())
            self._cond.notify_all()

    def penalize(self, seconds: float) -> None:
        """Hold every caller back for ``seconds`` from now (the server asked us to slow down)."""
        if seconds <= 0:
            return
        with self._cond:
            self._paused_until = max(self._paused_until, self._clock() + seconds)

    def _delay_locked(self) -> float | None:
        """Seconds to wait before the next send; 0 to go now; None to wait for a release."""
        now = self._clock()
        delay = self._paused_until - now
        if not self.limited:
            return max(delay, 0.0)
        horizon = self.window + self.margin
        completions = self._completions
        while completions and completions[0] + horizon <= now:
            completions.popleft()
        excess = self._in_flight + len(completions) - self.max_requests + 1
        if excess > 0:
            if excess > len(completions):
                return None
            # The slot frees when the excess-th oldest completion leaves the window.
            delay = max(delay, completions[excess - 1] + horizon - now)
        return max(delay, 0.0)

    def __enter__(self) -> RequestPacer:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        limit = f"{self.max_requests}/{self.window:g}s" if self.limited else "unlimited"
        return f"RequestPacer({limit})"
