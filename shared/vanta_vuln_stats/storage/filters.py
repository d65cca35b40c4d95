"""Which vulnerabilities a report or an export is about: one filter, one meaning everywhere.

``where_sql`` turns a ``VulnerabilityFilter`` into a parameterised SQL condition over the
``vulnerabilities`` table; the statistics use the same function as the store, so a filter cannot
mean one thing in a count and another in an export. ``VulnerabilityFilter.matches`` evaluates
the same rules on one row in Python, for stores that are not SQL (and to check the SQL).

Timestamps are compared as ISO-8601 text in one fixed-width form (``2024-10-26T07:26:33.483Z``),
so text order is time order. Bounds are inclusive. A bound given as a date (not a datetime) means
the start of that day for a start bound and the end of that day for an end bound; a naive
datetime is taken as UTC.

Statuses:

    active       reported by the API and not deactivated
    deactivated  reported by the API with ``deactivateMetadata`` (the earlier tool's "remediated")
    resolved     no longer reported by the API (a complete sync did not return it)

Without ``statuses`` the scope is active + deactivated: what the API reports now, the earlier
tool's "total".
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any, Literal, cast

from vanta_vuln_stats.errors import UserInputError
from vanta_vuln_stats.model.fields import SEVERITIES
from vanta_vuln_stats.model.records import parse_timestamp, timestamp_to_iso

__all__ = [
    "DEFAULT_STATUSES",
    "STATUSES",
    "VulnerabilityFilter",
    "VulnerabilityStatus",
    "iso_bound",
    "where_sql",
]

VulnerabilityStatus = Literal["active", "deactivated", "resolved"]
STATUSES: tuple[VulnerabilityStatus, ...] = ("active", "deactivated", "resolved")
DEFAULT_STATUSES: frozenset[VulnerabilityStatus] = frozenset({"active", "deactivated"})

DateBound = datetime | date | str

# SQLite's lower() folds ASCII only; folding the same way here keeps SQL and Python identical.
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _ascii_lower(text: str) -> str:
    return text.translate(_ASCII_LOWER)


def _tuple_or_none(values: Iterable[str] | str | None) -> tuple[str, ...] | None:
    if values is None:
        return None
    if isinstance(values, str):
        values = (values,)
    result = tuple(dict.fromkeys(values))
    return result or None


@dataclass(frozen=True, slots=True)
class VulnerabilityFilter:
    """Filter criteria; every criterion given must hold. Unset criteria do not filter.

    severities        any of CRITICAL HIGH MEDIUM LOW (any case; stored upper-case)
    identified_*      first_detected_date within the bounds
    remediated_*      deactivated_on_date (deactivateMetadata.deactivatedOnDate) within bounds
    cve               case-insensitive part of the name or of any related_vulns item
    asset_id          target_id equals it (the vulnerable asset)
    integration_ids   integration_id is one of them
    statuses          any of active, deactivated, resolved ("all" means the three)
    fixable           is_fixable equals it
    """

    severities: tuple[str, ...] | None = None
    identified_start: DateBound | None = None
    identified_end: DateBound | None = None
    remediated_start: DateBound | None = None
    remediated_end: DateBound | None = None
    cve: str | None = None
    asset_id: str | None = None
    integration_ids: tuple[str, ...] | None = None
    statuses: tuple[VulnerabilityStatus, ...] | None = None
    fixable: bool | None = None

    def __post_init__(self) -> None:
        # Lists from argparse become tuples (the filter is hashable) and values are checked
        # here, so a bad value fails before any query runs.
        severities = _tuple_or_none(self.severities)
        if severities is not None:
            severities = tuple(dict.fromkeys(s.upper() for s in severities))
            unknown = [s for s in severities if s not in SEVERITIES]
            if unknown:
                raise UserInputError(
                    f"Unknown severity {unknown[0]!r}: choose from {', '.join(SEVERITIES)}."
                )
        object.__setattr__(self, "severities", severities)
        object.__setattr__(self, "integration_ids", _tuple_or_none(self.integration_ids))
        statuses = _tuple_or_none(self.statuses)
        if statuses is not None:
            expanded: list[str] = []
            for status in statuses:
                status = status.lower()
                if status == "all":
                    expanded.extend(STATUSES)
                elif status in STATUSES:
                    expanded.append(status)
                else:
                    raise UserInputError(
                        f"Unknown status {status!r}: choose from {', '.join(STATUSES)} or all."
                    )
            statuses = tuple(s for s in STATUSES if s in expanded)
        object.__setattr__(self, "statuses", statuses)
        object.__setattr__(self, "cve", (self.cve.strip() or None) if self.cve else None)
        object.__setattr__(self, "asset_id", self.asset_id or None)
        for name in ("identified_start", "identified_end", "remediated_start", "remediated_end"):
            value = getattr(self, name)
            if value is not None:
                iso_bound(value, end=name.endswith("_end"))  # fails early on a bad value

    @property
    def effective_statuses(self) -> frozenset[VulnerabilityStatus]:
        return DEFAULT_STATUSES if self.statuses is None else frozenset(self.statuses)

    def matches(self, row: Mapping[str, Any]) -> bool:
        """Whether one vulnerability row passes, by the same rules as ``where_sql``.

        ``row`` holds the store's columns (a normalised row plus ``resolved_at``); timestamps
        may be datetimes or ISO text, ``related_vulns`` a list or JSON text.
        """
        if self.severities is not None and row.get("severity") not in self.severities:
            return False
        for column, start, end in (
            ("first_detected_date", self.identified_start, self.identified_end),
            ("deactivated_on_date", self.remediated_start, self.remediated_end),
        ):
            if start is None and end is None:
                continue
            value = _as_iso(row.get(column))
            if value is None:
                return False
            if start is not None and value < iso_bound(start, end=False):
                return False
            if end is not None and value > iso_bound(end, end=True):
                return False
        if self.cve is not None and not _cve_matches(self.cve, row):
            return False
        if self.asset_id is not None and row.get("target_id") != self.asset_id:
            return False
        if self.integration_ids is not None and row.get("integration_id") not in (
            self.integration_ids
        ):
            return False
        if self.fixable is not None:
            fixable = row.get("is_fixable")
            if fixable is None or bool(fixable) is not self.fixable:
                return False
        return _status_of(row) in self.effective_statuses


def iso_bound(value: DateBound, *, end: bool) -> str:
    """A filter bound as the store's ISO text. A date means the whole day: its first
    millisecond as a start bound, its last as an end bound."""
    if isinstance(value, str):
        text = value.strip()
        if len(text) == 10:
            try:
                value = date.fromisoformat(text)
            except ValueError:
                raise UserInputError(f"Invalid date {value!r}: use YYYY-MM-DD.") from None
        else:
            try:
                value = parse_timestamp(text)
            except ValueError:
                raise UserInputError(
                    f"Invalid time {value!r}: use ISO-8601 such as 2024-01-01T00:00:00Z."
                ) from None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return timestamp_to_iso(value)
    if isinstance(value, date):
        return timestamp_to_iso(datetime.combine(value, time.max if end else time.min, UTC))
    raise TypeError(f"a filter bound must be a datetime, a date or ISO text, not {value!r}")


def where_sql(filters: VulnerabilityFilter | None, table_alias: str = "v") -> tuple[str, list[Any]]:
    """A parameterised SQL condition (without ``WHERE``) over the ``vulnerabilities`` columns.

    ``table_alias`` qualifies the columns (``""`` for none). Never empty: with no criteria it is
    ``1 = 1``. Use as ``f"SELECT ... FROM vulnerabilities v WHERE {sql}", params``.
    """
    f = filters if filters is not None else VulnerabilityFilter()
    col = f"{table_alias}." if table_alias else ""
    clauses: list[str] = []
    params: list[Any] = []

    if f.severities is not None:
        clauses.append(f"{col}severity IN ({_marks(f.severities)})")
        params.extend(f.severities)
    for column, start, end in (
        ("first_detected_date", f.identified_start, f.identified_end),
        ("deactivated_on_date", f.remediated_start, f.remediated_end),
    ):
        if start is not None:
            clauses.append(f"{col}{column} >= ?")
            params.append(iso_bound(start, end=False))
        if end is not None:
            clauses.append(f"{col}{column} <= ?")
            params.append(iso_bound(end, end=True))
    if f.cve is not None:
        needle = _ascii_lower(f.cve)
        clauses.append(
            f"(instr(lower({col}name), ?) > 0 OR EXISTS (SELECT 1 FROM json_each("
            f"{col}related_vulns) WHERE instr(lower(json_each.value), ?) > 0))"
        )
        params.extend((needle, needle))
    if f.asset_id is not None:
        clauses.append(f"{col}target_id = ?")
        params.append(f.asset_id)
    if f.integration_ids is not None:
        clauses.append(f"{col}integration_id IN ({_marks(f.integration_ids)})")
        params.extend(f.integration_ids)
    if f.fixable is not None:
        clauses.append(f"{col}is_fixable = ?")
        params.append(1 if f.fixable else 0)
    status_clause = _status_sql(f.effective_statuses, col)
    if status_clause:
        clauses.append(status_clause)
    return (" AND ".join(clauses) if clauses else "1 = 1"), params


def _marks(values: Collection[object]) -> str:
    return ", ".join("?" * len(values))


def _status_sql(statuses: frozenset[VulnerabilityStatus], col: str) -> str:
    if statuses == frozenset(STATUSES):
        return ""
    if statuses == DEFAULT_STATUSES:
        return f"{col}resolved_at IS NULL"
    if statuses == frozenset({"resolved"}):
        return f"{col}resolved_at IS NOT NULL"
    # NULL is_deactivated counts as not deactivated, as in matches().
    parts = {
        "active": f"({col}resolved_at IS NULL AND {col}is_deactivated IS NOT 1)",
        "deactivated": f"({col}resolved_at IS NULL AND {col}is_deactivated = 1)",
        "resolved": f"{col}resolved_at IS NOT NULL",
    }
    chosen = [parts[s] for s in STATUSES if s in statuses]
    return chosen[0] if len(chosen) == 1 else "(" + " OR ".join(chosen) + ")"


def _status_of(row: Mapping[str, Any]) -> VulnerabilityStatus:
    if row.get("resolved_at") is not None:
        return "resolved"
    return "deactivated" if row.get("is_deactivated") in (True, 1) else "active"


def _as_iso(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return timestamp_to_iso(value)
    return cast(str, value)


def _cve_matches(cve: str, row: Mapping[str, Any]) -> bool:
    needle = _ascii_lower(cve)
    name = row.get("name")
    if name is not None and needle in _ascii_lower(name):
        return True
    related = row.get("related_vulns")
    if isinstance(related, str):
        related = json.loads(related)
    return any(isinstance(item, str) and needle in _ascii_lower(item) for item in related or ())
