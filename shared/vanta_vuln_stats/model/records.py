"""Raw API records -> typed rows, with every problem of a bad record named.

A row is a dict whose keys are exactly ``column_names(resource)``, in that order, with values
typed by ``Field.kind``:

    string     str | None (enum fields upper-case)
    timestamp  timezone-aware UTC datetime | None, millisecond precision
    float      float | None
    bool       bool | None
    strings    list[str] (null becomes [])
    json       compact, key-sorted JSON text | None

and ``RAW_COLUMN`` holding the record as received, as compact key-sorted JSON text, so equal
records always give equal text (change detection compares it).

Bad data never raises: a record that cannot become a row becomes a ``Rejection`` carrying every
reason found and the record itself, so a batch keeps all its good records and a person can look at
the bad ones. Only programming errors raise (an unknown resource is a ``ValueError``).

Speed matters (a sync normalises tens of thousands of records a second on top of HTTP), so each
resource's fields are compiled once, at import, into a plan (see "Plans" below); nothing is looked
up by reflection per record.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from vanta_vuln_stats.model.fields import FIELDS, RAW_COLUMN, Field, Resource

__all__ = [
    "NormalizedBatch",
    "Rejection",
    "normalize",
    "normalize_batch",
    "parse_timestamp",
    "timestamp_to_iso",
]

_UTC = UTC
_MISSING: Any = object()
# Derived columns are looked up under this key, which no record has, so the main loop gives them
# a placeholder in their column position; the resource's derive function then fills them in.
_DERIVED_KEY: Any = object()
_REPR_LIMIT = 60


# Compact, key-sorted JSON: the same value always gives the same text, exactly what
# json.dumps(value, separators=(",", ":"), sort_keys=True) writes. NaN and Infinity are refused:
# they are not JSON, and the text must stay readable by any JSON parser (Athena, DuckDB, jq).
def _dumps(value: object) -> str:
    """Compact, key-sorted JSON text: the same record always gives the same text, so change
    detection is a string comparison. orjson encodes a record several times faster than the
    standard library; it refuses NaN/Infinity only by writing null, so floats are checked
    for finiteness by the converters before this runs."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


# --------------------------------------------------------------------------------------------
# Public result types


@dataclass(frozen=True, slots=True)
class Rejection:
    """A record that could not become a row, with every reason found."""

    resource: Resource
    record_id: str | None
    """The record's id when one could be read (a non-empty string), else None."""
    reasons: tuple[str, ...]
    """Every problem found, human readable, each naming the field."""
    raw: object
    """The record exactly as received, kept so a person can look at it."""

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form for a rejects file or log line."""
        return {
            "resource": self.resource.value,
            "record_id": self.record_id,
            "reasons": list(self.reasons),
            "raw": self.raw,
        }


@dataclass(slots=True)
class NormalizedBatch:
    """The outcome of normalising a batch: the good rows and the rejected records."""

    resource: Resource
    rows: list[dict[str, Any]] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)

    @property
    def received(self) -> int:
        """Records that went in; always ``len(rows) + len(rejections)``."""
        return len(self.rows) + len(self.rejections)


# --------------------------------------------------------------------------------------------
# Timestamps


def parse_timestamp(text: str) -> datetime:
    """Parse an ISO-8601 timestamp to a timezone-aware UTC datetime at millisecond precision.

    Accepts a ``Z`` suffix or a numeric offset, with or without fractional seconds, and a bare
    date (midnight). A value without an offset is taken as UTC, which is what the API documents
    for all its dates. Sub-millisecond digits are truncated, as the stores keep milliseconds.
    Raises ValueError for anything else.
    """
    if text.__class__ is not str and not isinstance(text, str):
        raise ValueError(f"expected an ISO-8601 timestamp string, got {_describe(text)}")
    try:
        value = datetime.fromisoformat(text)
        tz = value.tzinfo
        if tz is not _UTC:
            value = value.replace(tzinfo=_UTC) if tz is None else value.astimezone(_UTC)
    except (ValueError, OverflowError):
        raise ValueError(f"invalid ISO-8601 timestamp {_short_repr(text)}") from None
    micros = value.microsecond
    if micros % 1000:
        value = value.replace(microsecond=micros - micros % 1000)
    return value


def timestamp_to_iso(dt: datetime) -> str:
    """Format an aware datetime as UTC ISO-8601 text with milliseconds and a ``Z`` suffix.

    ``2024-10-26T07:26:33.483Z``: the form the API sends, fixed-width so that lexicographic order
    equals time order. A naive datetime is a programming error (ValueError): its zone is unknown.
    """
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"timestamp_to_iso needs a timezone-aware datetime, got naive {dt!r}")
    if dt.tzinfo is not _UTC:
        dt = dt.astimezone(_UTC)
    return (
        f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T"
        f"{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}.{dt.microsecond // 1000:03d}Z"
    )


# --------------------------------------------------------------------------------------------
# Value converters. Each takes a non-null value and returns the row value, or raises _Invalid
# with the problem (without the field name, which the caller adds).


class _Invalid(Exception):
    pass


def _short_repr(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _REPR_LIMIT else text[: _REPR_LIMIT - 3] + "..."


def _describe(value: object) -> str:
    return f"{type(value).__name__} {_short_repr(value)}"


def _check_text(value: str) -> str:
    # A lone surrogate (from a "\ud800" JSON escape) cannot be encoded as UTF-8, so neither
    # Parquet nor SQLite could store it; catching it here keeps one bad string from failing a
    # whole write later. ASCII, by far the common case, is checked in C without encoding.
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise _Invalid(f"invalid Unicode text {_short_repr(value)}") from None
    return value


def _to_string(value: Any) -> str:
    if value.__class__ is not str:
        raise _Invalid(f"expected a string, got {_describe(value)}")
    return _check_text(value)


def _to_timestamp(value: Any) -> datetime:
    if value.__class__ is not str:
        raise _Invalid(f"expected an ISO-8601 timestamp string, got {_describe(value)}")
    try:
        return parse_timestamp(value)
    except ValueError as exc:
        raise _Invalid(str(exc)) from None


def _to_float(value: Any) -> float:
    cls = value.__class__
    if cls is float:
        if math.isfinite(value):
            return value
        raise _Invalid(f"expected a finite number, got {_describe(value)}")
    if cls is int:  # bool is a subclass of int but not this exact class: rejected below
        try:
            return float(value)
        except OverflowError:
            raise _Invalid(f"number out of range {_short_repr(value)}") from None
    raise _Invalid(f"expected a number, got {_describe(value)}")


def _to_bool(value: Any) -> bool:
    if value is True or value is False:
        return value
    raise _Invalid(f"expected a boolean, got {_describe(value)}")


def _to_strings(value: Any) -> list[str]:
    if value.__class__ is not list:
        raise _Invalid(f"expected a list of strings, got {_describe(value)}")
    for index, item in enumerate(value):
        if item.__class__ is not str:
            raise _Invalid(f"item {index} is {_describe(item)}, expected a string")
        _check_text(item)
    return list(value)  # a copy: rows never alias the raw record


def _to_json(value: Any) -> str:
    try:
        return _dumps(value)
    except (TypeError, ValueError, RecursionError) as exc:
        raise _Invalid(f"cannot be encoded as JSON ({exc})") from None


def _enum_spellings(allowed: tuple[str, ...]) -> dict[str, str]:
    """Upper- and lower-case spellings -> the stored (upper-case) value: one dict lookup for the
    casings the API documents; other casings go through str.upper()."""
    return {value.upper(): value.upper() for value in allowed} | {
        value.lower(): value.upper() for value in allowed
    }


def _enum_converter(allowed: tuple[str, ...]) -> Callable[[Any], str]:
    canonical = _enum_spellings(allowed)
    expected = ", ".join(value.upper() for value in allowed)

    def convert(value: Any) -> str:
        if value.__class__ is not str:
            raise _Invalid(f"expected a string, got {_describe(value)}")
        upper = canonical.get(value)
        if upper is None:
            upper = canonical.get(value.upper())
            if upper is None:
                raise _Invalid(f"unknown value {_short_repr(value)} (expected one of {expected})")
        return upper

    return convert


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "string": _to_string,
    "timestamp": _to_timestamp,
    "float": _to_float,
    "bool": _to_bool,
    "strings": _to_strings,
    "json": _to_json,
}


# --------------------------------------------------------------------------------------------
# Nested getters (dotted sources such as deactivateMetadata.deactivatedOnDate)


def _nested_getter(source: str) -> Callable[[dict[str, Any]], Any]:
    parent_key, _, child_key = source.partition(".")
    if "." in child_key:
        raise ValueError(f"field source {source!r}: only one level of nesting is supported")

    def get(record: dict[str, Any]) -> Any:
        parent = record.get(parent_key)
        if parent is None:
            return _MISSING  # a missing or null object means its keys are missing
        if parent.__class__ is not dict:
            # Reported under the object's own key; duplicates across its keys are merged.
            raise _Invalid(f"field '{parent_key}': expected an object, got {_describe(parent)}")
        return parent.get(child_key, _MISSING)

    return get


# --------------------------------------------------------------------------------------------
# Derived columns. Each derive function fills the resource's derived columns of a row in place
# and appends reasons for nested data of the wrong shape.

_Derive = Callable[[dict[str, Any], dict[str, Any], list[str]], None]


def _derive_vulnerability(raw: dict[str, Any], row: dict[str, Any], reasons: list[str]) -> None:
    row["is_deactivated"] = raw.get("deactivateMetadata") is not None


def _derive_remediation(raw: dict[str, Any], row: dict[str, Any], reasons: list[str]) -> None:
    remediated = row["remediation_date"]
    deadline = row["sla_deadline_date"]
    row["is_remediated_on_time"] = (
        remediated <= deadline if remediated is not None and deadline is not None else None
    )
    row["status"] = "OPEN" if remediated is None else "REMEDIATED"


def _derive_asset(raw: dict[str, Any], row: dict[str, Any], reasons: list[str]) -> None:
    scanners = raw.get("scanners")
    if scanners is None:
        row["integration_ids"] = []
        return
    if scanners.__class__ is not list:
        reasons.append(f"field 'scanners': expected a list, got {_describe(scanners)}")
        return
    ids: set[str] = set()
    for index, scanner in enumerate(scanners):
        if scanner.__class__ is not dict:
            reasons.append(
                f"field 'scanners[{index}]': expected an object, got {_describe(scanner)}"
            )
            continue
        integration_id = scanner.get("integrationId")
        if integration_id is None:
            continue  # tolerated: the asset is still worth keeping
        try:
            ids.add(_to_string(integration_id))
        except _Invalid as exc:
            reasons.append(f"field 'scanners[{index}].integrationId': {exc}")
    row["integration_ids"] = sorted(ids)


_DERIVES: dict[Resource, _Derive] = {
    Resource.VULNERABILITIES: _derive_vulnerability,
    Resource.VULNERABILITY_REMEDIATIONS: _derive_remediation,
    Resource.VULNERABLE_ASSETS: _derive_asset,
}


# --------------------------------------------------------------------------------------------
# Plans
#
# Each resource gets a plan built at import from its fields: one step per column, so normalising
# a record is one loop with no per-record reflection, and every reason is collected.

# One step per column: (column, key, nested getter, converter, required, label, null-is-list).
# key is the record key for top-level sources (nested getter None); converter None means a plain
# string, checked inline because it is the most common kind.
_Step = tuple[
    str,
    Any,
    Callable[[dict[str, Any]], Any] | None,
    Callable[[Any], Any] | None,
    bool,
    str,
    bool,
]
_Normalizer = Callable[[object], dict[str, Any] | Rejection]


@dataclass(slots=True)
class _Plan:
    resource: Resource
    steps: tuple[_Step, ...]
    derive: _Derive
    normalize: _Normalizer = field(init=False)


def _step(spec: Field) -> _Step:
    if spec.enum is not None:
        if spec.kind != "string":
            raise ValueError(f"field {spec.name!r}: enum values need kind 'string'")
        converter: Callable[[Any], Any] | None = _enum_converter(spec.enum)
    elif spec.kind == "string":
        converter = None
    else:
        converter = _CONVERTERS[spec.kind]
    if spec.source is None:
        return (spec.name, _DERIVED_KEY, None, None, False, spec.name, False)
    nested = _nested_getter(spec.source) if "." in spec.source else None
    key = None if nested is not None else spec.source
    return (spec.name, key, nested, converter, spec.required, spec.source, spec.kind == "strings")


def _build_plan(resource: Resource) -> _Plan:
    steps = tuple(_step(spec) for spec in FIELDS[resource])
    plan = _Plan(resource, steps, _DERIVES[resource])

    def general(raw: object) -> dict[str, Any] | Rejection:
        return _normalize_general(plan, raw)

    plan.normalize = general
    return plan


def _plan_for(resource: Resource | str) -> _Plan:
    try:
        plan = _PLANS.get(resource)  # type: ignore[call-overload]
    except TypeError:  # unhashable
        plan = None
    if plan is None:
        expected = ", ".join(r.value for r in Resource)
        raise ValueError(f"unknown resource {resource!r} (expected one of {expected})")
    return plan


# --------------------------------------------------------------------------------------------
# Normalising one record


def _record_id(raw: dict[str, Any]) -> str | None:
    value = raw.get("id")
    return value if value.__class__ is str and value else None


def _normalize_general(plan: _Plan, raw: object) -> dict[str, Any] | Rejection:
    if not isinstance(raw, dict):
        reason = f"record is not a JSON object (got {type(raw).__name__})"
        return Rejection(plan.resource, None, (reason,), raw)
    record: dict[str, Any] = raw
    get = record.get
    row: dict[str, Any] = {}
    reasons: list[str] = []
    for name, key, nested, convert, required, label, null_is_list in plan.steps:
        if nested is None:
            value = get(key, _MISSING)
        else:
            try:
                value = nested(record)
            except _Invalid as exc:
                reasons.append(str(exc))
                row[name] = None
                continue
        if value is None or value is _MISSING:
            if required:
                reasons.append(
                    f"missing required field '{label}'"
                    if value is _MISSING
                    else f"field '{label}' is null"
                )
            row[name] = [] if null_is_list else None
            continue
        try:
            row[name] = (convert or _to_string)(value)
        except _Invalid as exc:
            reasons.append(f"field '{label}': {exc}")
            row[name] = None
    if row["id"] == "":
        reasons.append("field 'id' is empty")
    plan.derive(record, row, reasons)
    if not reasons:
        try:
            row[RAW_COLUMN] = _dumps(record)
            return row
        except (TypeError, ValueError, RecursionError) as exc:
            reasons.append(f"record cannot be encoded as JSON ({exc})")
    return Rejection(plan.resource, _record_id(record), tuple(dict.fromkeys(reasons)), raw)


_PLANS: dict[Resource, _Plan] = {resource: _build_plan(resource) for resource in Resource}


# --------------------------------------------------------------------------------------------
# Public entry points


def normalize(resource: Resource | str, raw: object) -> dict[str, Any] | Rejection:
    """Normalise one raw API record to a row, or explain why it cannot be one.

    ``resource`` is a Resource or its value (``"vulnerabilities"``); anything else raises
    ValueError. Bad data never raises: it gives a Rejection listing every problem found.
    """
    return _plan_for(resource).normalize(raw)


def normalize_batch(resource: Resource | str, raws: Iterable[object]) -> NormalizedBatch:
    """Normalise many records; good ones become rows (in input order), bad ones rejections."""
    plan = _plan_for(resource)
    batch = NormalizedBatch(plan.resource)
    normalize_one = plan.normalize
    rows_append = batch.rows.append
    rejections_append = batch.rejections.append
    for raw in raws:
        result = normalize_one(raw)
        if result.__class__ is dict:
            rows_append(result)  # type: ignore[arg-type]
        else:
            rejections_append(result)  # type: ignore[arg-type]
    return batch
