"""Fault injection settings of the simulator, and the ``--faults`` spec that sets them.

All faults are off by default and apply to data requests only (``GET /v1/...``), never to the
token endpoint. A request meets them in this order, after authentication, rate limiting and
parameter validation (a 401, 429 or 400 is never replaced by a fault):

1. ``slow_rate``: wait ``slow_seconds`` before answering (the request then goes on).
2. ``drop_rate``: close the connection without sending any response.
3. ``error_burst_pages``: the listed pages (1-based position of a page in its walk: the first
   page is 1, the page after a cursor from page n is n + 1) fail with a 5xx on their first
   ``error_burst_count`` requests. The count is kept per (resource, filters, page number) and
   remembers the page size of the first failed request: a retry at that size or larger counts
   down, a retry with a *smaller* page size is served at once (the client that shrinks its
   pages gets through). The counts start again when the faults are changed (``set_faults``).
4. ``error_rate``: answer with a 5xx drawn from ``error_statuses``.
5. ``malformed_rate``: the records chosen by ``Tenant.malformation`` are served corrupted.

Like the real API, some 500 bodies carry an empty page with ``hasNextPage: false``: a client
must never read a 5xx body as data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

from vanta_vuln_stats.errors import ConfigError

DEFAULT_ERROR_STATUSES: tuple[int, ...] = (500, 502, 503, 504)

FAULT_SPEC_HELP = """\
comma-separated key=value pairs; lists use ';'. Keys:
error_rate=P (share of data requests answered 5xx),
error_statuses=500;503 (statuses used, default 500;502;503;504),
burst_pages=3;7 (pages that fail burst_count times each; a smaller page size gets through),
burst_count=N (default 3),
slow_rate=P and slow_seconds=S (delay before answering),
drop_rate=P (close the connection without a response),
malformed_rate=P (share of records served corrupted, the same ones on every walk),
seed=N (seed of the random fault draws).
P is a probability in [0, 1]. Example: "error_rate=0.05,burst_pages=3;7,drop_rate=0.01"
"""


@dataclass(frozen=True, slots=True)
class FaultConfig:
    """Injected faults. Every rate is a probability in [0, 1]; all default to off."""

    error_rate: float = 0.0
    error_statuses: tuple[int, ...] = DEFAULT_ERROR_STATUSES
    error_burst_pages: frozenset[int] = field(default_factory=frozenset)
    error_burst_count: int = 3
    slow_rate: float = 0.0
    slow_seconds: float = 1.0
    drop_rate: float = 0.0
    malformed_rate: float = 0.0
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in ("error_rate", "slow_rate", "drop_rate", "malformed_rate"):
            value = getattr(self, name)
            if not _is_number(value) or not 0.0 <= value <= 1.0:
                raise ConfigError(f"fault {name} must be a probability in [0, 1], got {value!r}")
        statuses = tuple(self.error_statuses)
        if not statuses or any(
            isinstance(s, bool) or not isinstance(s, int) or not 500 <= s <= 599 for s in statuses
        ):
            raise ConfigError(
                "fault error_statuses must be one or more 5xx statuses, "
                f"got {self.error_statuses!r}"
            )
        object.__setattr__(self, "error_statuses", statuses)
        pages = frozenset(self.error_burst_pages)
        if any(isinstance(p, bool) or not isinstance(p, int) or p < 1 for p in pages):
            raise ConfigError(
                "fault error_burst_pages must hold page numbers >= 1, "
                f"got {sorted(pages, key=str)!r}"
            )
        object.__setattr__(self, "error_burst_pages", pages)
        count = self.error_burst_count
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ConfigError(f"fault error_burst_count must be an integer >= 1, got {count!r}")
        if not _is_number(self.slow_seconds) or self.slow_seconds < 0:
            raise ConfigError(f"fault slow_seconds must be >= 0, got {self.slow_seconds!r}")
        if self.seed is not None and (
            isinstance(self.seed, bool) or not isinstance(self.seed, int)
        ):
            raise ConfigError(f"fault seed must be an integer, got {self.seed!r}")

    @property
    def enabled(self) -> bool:
        """True when any fault can happen."""
        return bool(
            self.error_rate
            or self.error_burst_pages
            or self.slow_rate
            or self.drop_rate
            or self.malformed_rate
        )

    @classmethod
    def parse(cls, spec: str) -> FaultConfig:
        """A FaultConfig from a ``--faults`` spec (see FAULT_SPEC_HELP); raises ConfigError."""
        return parse_fault_spec(spec)

    def describe(self) -> str:
        """The settings that differ from the defaults, as a spec string ("none" when off)."""
        default = FaultConfig()
        parts = []
        for f in fields(self):
            value = getattr(self, f.name)
            if value == getattr(default, f.name):
                continue
            key = _SPEC_NAMES.get(f.name, f.name)
            if isinstance(value, tuple | frozenset):
                parts.append(f"{key}={';'.join(str(v) for v in sorted(value))}")
            else:
                parts.append(f"{key}={value}")
        return ",".join(parts) if parts else "none"


# Spec key -> FaultConfig field. The short burst_* names are the documented ones.
_SPEC_KEYS: dict[str, str] = {
    "error_rate": "error_rate",
    "error_statuses": "error_statuses",
    "burst_pages": "error_burst_pages",
    "error_burst_pages": "error_burst_pages",
    "burst_count": "error_burst_count",
    "error_burst_count": "error_burst_count",
    "slow_rate": "slow_rate",
    "slow_seconds": "slow_seconds",
    "drop_rate": "drop_rate",
    "malformed_rate": "malformed_rate",
    "seed": "seed",
}
_SPEC_NAMES = {"error_burst_pages": "burst_pages", "error_burst_count": "burst_count"}
_INT_LISTS = {"error_statuses", "error_burst_pages"}
_INTS = {"error_burst_count", "seed"}


def parse_fault_spec(spec: str) -> FaultConfig:
    """Parse ``"error_rate=0.05,burst_pages=3;7,slow_rate=0.01,slow_seconds=0.2"``.

    An empty spec means no faults. Raises ConfigError naming the bad key or value.
    """
    values: dict[str, object] = {}
    for raw_item in spec.split(","):
        item = raw_item.strip()
        if not item:
            continue
        key, sep, raw_value = item.partition("=")
        key, raw_value = key.strip(), raw_value.strip()
        if not sep or not key:
            raise ConfigError(f"--faults: expected key=value, got {item!r}")
        name = _SPEC_KEYS.get(key)
        if name is None:
            known = ", ".join(k for k in _SPEC_KEYS if not k.startswith("error_burst"))
            raise ConfigError(f"--faults: unknown key {key!r} (known keys: {known})")
        if name in values:
            raise ConfigError(f"--faults: key {key!r} is given twice")
        try:
            if name in _INT_LISTS:
                parsed: object = tuple(int(v) for v in raw_value.split(";") if v.strip())
                if not parsed:
                    raise ValueError
            elif name in _INTS:
                parsed = int(raw_value)
            else:
                parsed = float(raw_value)
        except ValueError:
            kind = (
                "a ';'-separated list of integers"
                if name in _INT_LISTS
                else ("an integer" if name in _INTS else "a number")
            )
            raise ConfigError(f"--faults: {key}={raw_value!r} is not {kind}") from None
        values[name] = parsed
    if "error_burst_pages" in values:
        values["error_burst_pages"] = frozenset(values["error_burst_pages"])  # type: ignore[arg-type]
    try:
        return FaultConfig(**values)  # type: ignore[arg-type]
    except ConfigError as exc:
        raise ConfigError(f"--faults: {exc}") from None


def _is_number(value: object) -> bool:
    """A finite int or float (bools, NaN and infinities are not)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
