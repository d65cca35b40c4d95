"""Named SQL queries: one file per query in ``templates/``, written once in Athena (Trino) SQL
against the Glue table names, run by Athena as written and by DuckDB over the lake (query/lake.py).

A template is a SQL file whose leading comment block describes it:

    -- Open findings whose SLA deadline falls in the next few days.
    -- (the first paragraph is the description; more lines may follow)
    --
    -- @param as_of date = latest
    --     The snapshot day: YYYY-MM-DD, latest (the latest committed day) or latest-N.
    -- @param days int(1..365) = 7
    --     How many days ahead to look.
    -- @bind as_of.year as_of.month as_of.day days
    -- @prunes vanta_vulnerabilities: the one day as_of

    SELECT ... WHERE year = ? AND month = ? AND day = ? AND ... < date_add('day', ?, ...)

- ``@param NAME TYPE = DEFAULT``, then indented lines describing it. Types: ``string`` (or
  ``string(MIN..MAX)``, a length), ``int(MIN..MAX)``, ``bool``, ``date``, ``timestamp``,
  ``enum(A|B|C)``. Every parameter has a default, so every query runs with none given (``''``
  is the empty text).
- ``@bind``: what each ``?`` of the SQL receives, in text order: a parameter's value, or for a
  date ``NAME.year`` / ``NAME.month`` / ``NAME.day`` (the partition keys' strings, ``'2026'``,
  ``'11'``, ``'05'``) or ``NAME.iso`` (``'2026-11-05'``). A value used twice is bound twice.
- ``@prunes``: how the query limits the partitions it reads (shown by ``query list``, and the
  guide's table).

User values only ever travel as parameters: the SQL sent is the file's text byte for byte, and
the values go to ``?`` placeholders (Athena's ``ExecutionParameters``, DuckDB's bound
parameters). Each value is checked against its declared type first; a bad value or an unknown
name is one line saying what is accepted (``NamedQueryError``, exit code 2).

Dates accept ``latest`` (the latest committed day, which each engine resolves before running:
so the partition keys are plain values that Athena prunes on) and ``latest-N``, ``today`` and
``today-N`` besides ``YYYY-MM-DD``; timestamps accept ``now`` besides ISO-8601.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from typing import Any

from vanta_vuln_stats.errors import UserInputError

__all__ = [
    "NamedQuery",
    "NamedQueryError",
    "Parameter",
    "QueryContext",
    "ResolvedQuery",
    "get_query",
    "load_queries",
    "parse_template",
]

TEMPLATE_PACKAGE = "vanta_vuln_stats.query"
TEMPLATE_FOLDER = "templates"
# Athena takes at most 1024 characters per execution parameter (as a literal, quotes included).
MAX_STRING_LENGTH = 1000
_NAME = re.compile(r"[a-z][a-z0-9_]*")


class NamedQueryError(UserInputError):
    """An unknown query or parameter name, or a value its parameter does not accept."""


class TemplateError(ValueError):
    """A template file that does not follow the format (a programming error, caught by tests)."""


# --------------------------------------------------------------------------------------------
# What a run knows besides the user's values


class QueryContext:
    """What defaults like ``latest`` and ``now`` mean for one run: the latest committed day
    (asked of the engine only when a value needs it), today and now (UTC)."""

    def __init__(self, latest: Callable[[], date | None], *, now: datetime | None = None) -> None:
        self._latest = latest
        self._latest_known = False
        self._latest_day: date | None = None
        now = (now or datetime.now(UTC)).astimezone(UTC)
        # Milliseconds, as the lake stores times (and as a given time is read).
        self.now = now.replace(microsecond=now.microsecond - now.microsecond % 1000)

    @property
    def today(self) -> date:
        return self.now.date()

    def latest(self) -> date:
        if not self._latest_known:
            self._latest_day = self._latest()
            self._latest_known = True
        if self._latest_day is None:
            raise NamedQueryError(
                "The lake has no committed day yet, so 'latest' means nothing: sync first, "
                "or give the day (e.g. --param as_of=2026-11-05)."
            )
        return self._latest_day


# --------------------------------------------------------------------------------------------
# Parameter types


@dataclass(frozen=True)
class Parameter:
    """One declared parameter: its name, type (with bounds or choices), default and meaning."""

    name: str
    type: str  # string, int, bool, date, timestamp, enum
    default: str
    description: str = ""
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] = ()

    @property
    def type_label(self) -> str:
        """The type as the template declares it: ``int(1..365)``, ``enum(A|B)`` ..."""
        if self.type == "enum":
            return f"enum({'|'.join(self.choices)})"
        if self.type in ("int", "string") and (self.minimum, self.maximum) != (None, None):
            low = "" if self.minimum is None else self.minimum
            high = "" if self.maximum is None else self.maximum
            return f"{self.type}({low}..{high})"
        return self.type

    def accepted(self) -> str:
        """What a value may be, for error messages and ``query list``."""
        if self.type == "enum":
            return "one of " + ", ".join(self.choices)
        if self.type == "int":
            return f"an integer from {self.minimum} to {self.maximum}"
        if self.type == "bool":
            return "true or false"
        if self.type == "date":
            return "a date YYYY-MM-DD, latest, latest-N, today or today-N"
        if self.type == "timestamp":
            return "an ISO-8601 time such as 2026-11-05T09:00:00Z, or now"
        low = self.minimum or 0
        high = self.maximum if self.maximum is not None else MAX_STRING_LENGTH
        return f"text of {low} to {high} characters"

    def to_dict(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "default": self.default,
            "description": self.description,
        }
        if self.choices:
            entry["choices"] = list(self.choices)
        if self.minimum is not None:
            entry["min"] = self.minimum
        if self.maximum is not None:
            entry["max"] = self.maximum
        return entry

    def convert(self, text: str, context: QueryContext, *, query: str) -> Any:
        """``text`` as this parameter's value, or NamedQueryError in one line."""
        value = text.strip()
        try:
            return _CONVERTERS[self.type](self, value, context)
        except _Rejected:
            raise NamedQueryError(
                f"Query {query}: {self.name}={text!r} is not accepted; give {self.accepted()}."
            ) from None


class _Rejected(Exception):
    pass


def _string(parameter: Parameter, value: str, context: QueryContext) -> str:
    low = parameter.minimum or 0
    high = parameter.maximum if parameter.maximum is not None else MAX_STRING_LENGTH
    if not low <= len(value) <= high or any(ord(ch) < 32 for ch in value):
        raise _Rejected
    return value


def _int(parameter: Parameter, value: str, context: QueryContext) -> int:
    if not re.fullmatch(r"[+-]?\d{1,18}", value):
        raise _Rejected
    number = int(value)
    if parameter.minimum is not None and number < parameter.minimum:
        raise _Rejected
    if parameter.maximum is not None and number > parameter.maximum:
        raise _Rejected
    return number


_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


def _bool(parameter: Parameter, value: str, context: QueryContext) -> bool:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise _Rejected


_RELATIVE_DAY = re.compile(r"(latest|today)(?:\s*-\s*(\d{1,5}))?")


def _date(parameter: Parameter, value: str, context: QueryContext) -> date:
    relative = _RELATIVE_DAY.fullmatch(value.lower())
    if relative:
        anchor = context.latest() if relative.group(1) == "latest" else context.today
        return anchor - timedelta(days=int(relative.group(2) or 0))
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise _Rejected
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _Rejected from None


def _timestamp(parameter: Parameter, value: str, context: QueryContext) -> datetime:
    if value.lower() == "now":
        return context.now
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}([T ][0-9:.]+)?(Z|[+-]\d{2}:?\d{2})?", value, re.I):
        raise _Rejected
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise _Rejected from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    # Milliseconds, as the lake stores times.
    parsed = parsed.astimezone(UTC)
    return parsed.replace(microsecond=parsed.microsecond - parsed.microsecond % 1000)


def _enum(parameter: Parameter, value: str, context: QueryContext) -> str:
    for choice in parameter.choices:
        if choice.lower() == value.lower():
            return choice
    raise _Rejected


_CONVERTERS: dict[str, Callable[[Parameter, str, QueryContext], Any]] = {
    "string": _string,
    "int": _int,
    "bool": _bool,
    "date": _date,
    "timestamp": _timestamp,
    "enum": _enum,
}

# What a date's ``@bind`` accessors give.
_DATE_PARTS: dict[str, Callable[[date], str]] = {
    "year": lambda day: f"{day:%Y}",
    "month": lambda day: f"{day:%m}",
    "day": lambda day: f"{day:%d}",
    "iso": lambda day: day.isoformat(),
}


# --------------------------------------------------------------------------------------------
# A template


@dataclass(frozen=True)
class ResolvedQuery:
    """A query ready to run: every parameter's value (given or default) and the values of its
    placeholders in text order."""

    query: NamedQuery
    values: dict[str, Any]
    parameters: list[Any]
    defaults_used: tuple[str, ...] = ()


@dataclass(frozen=True)
class NamedQuery:
    """A template: its name (the file's), description, parameters, bindings and SQL text."""

    name: str
    description: str
    parameters: tuple[Parameter, ...]
    bindings: tuple[str, ...]
    prunes: str
    sql: str = field(repr=False)

    @property
    def summary(self) -> str:
        """The description's first sentence."""
        first, _, _ = self.description.partition(". ")
        return first.rstrip(".") + "."

    def parameter(self, name: str) -> Parameter:
        for parameter in self.parameters:
            if parameter.name == name:
                return parameter
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "parameters": [parameter.to_dict() for parameter in self.parameters],
            "prunes": self.prunes,
        }

    def resolve(self, given: Mapping[str, str], context: QueryContext) -> ResolvedQuery:
        """Check ``given`` (name -> text) against the declared parameters, fill in defaults, and
        compute every placeholder's value."""
        known = {parameter.name for parameter in self.parameters}
        for name in given:
            if name not in known:
                accepted = ", ".join(p.name for p in self.parameters) or "none"
                raise NamedQueryError(
                    f"Query {self.name} has no parameter {name!r}; it accepts: {accepted}."
                )
        values: dict[str, Any] = {}
        defaults: list[str] = []
        for parameter in self.parameters:
            if parameter.name in given:
                text = given[parameter.name]
            else:
                text = parameter.default
                defaults.append(parameter.name)
            values[parameter.name] = parameter.convert(text, context, query=self.name)
        return ResolvedQuery(
            query=self,
            values=values,
            parameters=[self._bound(binding, values) for binding in self.bindings],
            defaults_used=tuple(defaults),
        )

    def _bound(self, binding: str, values: Mapping[str, Any]) -> Any:
        name, _, part = binding.partition(".")
        value = values[name]
        return _DATE_PARTS[part](value) if part else value


# --------------------------------------------------------------------------------------------
# Parsing a template file

_PARAM = re.compile(r"@param\s+([a-z][a-z0-9_]*)\s+(\S+)\s*=\s*(\S+)\s*$")
_TYPE = re.compile(r"(string|int|bool|date|timestamp|enum)(?:\((.*)\))?")
_RANGE = re.compile(r"(-?\d*)\.\.(-?\d*)")


def parse_template(name: str, text: str) -> NamedQuery:
    """A template from its file's text; TemplateError when the header is malformed or does not
    match the SQL (placeholders and bindings, defaults that their types refuse)."""
    if not _NAME.fullmatch(name):
        raise TemplateError(f"template name {name!r}: use lower-case letters, digits, _")
    header: list[str] = []
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        header.append(line[2:].strip())
    description: list[str] = []
    parameters: list[Parameter] = []
    bindings: tuple[str, ...] | None = None
    prunes: list[str] = []
    current: list[str] | None = description
    pending: dict[str, Any] | None = None

    def close_parameter() -> None:
        nonlocal pending
        if pending is not None:
            pending["description"] = " ".join(pending.pop("lines"))
            parameters.append(Parameter(**pending))
            pending = None

    for line in header:
        stripped = line.strip()
        if stripped.startswith("@param"):
            close_parameter()
            pending = _parameter(name, stripped)
            current = pending["lines"]
        elif stripped.startswith("@bind"):
            close_parameter()
            bindings = tuple(stripped[len("@bind") :].split())
            current = None
        elif stripped.startswith("@prunes"):
            close_parameter()
            prunes.append(stripped[len("@prunes") :].strip())
            current = prunes
        elif stripped.startswith("@"):
            raise TemplateError(f"template {name}: unknown tag in {stripped!r}")
        elif stripped and current is not None:
            current.append(stripped)
        elif not stripped and current is description and description:
            current = None  # the description is the first paragraph
    close_parameter()
    if not description:
        raise TemplateError(f"template {name}: no description in its leading comment")
    query = NamedQuery(
        name=name,
        description=" ".join(description),
        parameters=tuple(parameters),
        bindings=bindings or (),
        prunes=" ".join(prunes),
        sql=text,
    )
    _check(query)
    return query


def _parameter(template: str, line: str) -> dict[str, Any]:
    match = _PARAM.fullmatch(line)
    if match is None:
        raise TemplateError(f"template {template}: bad parameter line {line!r}")
    name, type_text, default = match.groups()
    if default == "''":
        default = ""  # the empty text, for string parameters whose empty value means "any"
    type_match = _TYPE.fullmatch(type_text)
    if type_match is None:
        raise TemplateError(f"template {template}: parameter {name} has unknown type {type_text}")
    kind, argument = type_match.groups()
    entry: dict[str, Any] = {"name": name, "type": kind, "default": default, "lines": []}
    if kind == "enum":
        choices = tuple(choice.strip() for choice in (argument or "").split("|") if choice)
        if not choices:
            raise TemplateError(f"template {template}: enum {name} has no choices")
        entry["choices"] = choices
    elif kind in ("int", "string") and argument is not None:
        bounds = _RANGE.fullmatch(argument)
        if bounds is None:
            raise TemplateError(f"template {template}: bad bounds for {name}: {argument}")
        low, high = bounds.groups()
        entry["minimum"] = int(low) if low else None
        entry["maximum"] = int(high) if high else None
    elif argument is not None:
        raise TemplateError(f"template {template}: type {kind} of {name} takes no argument")
    if kind == "int" and (entry.get("minimum") is None or entry.get("maximum") is None):
        raise TemplateError(f"template {template}: int {name} needs bounds, int(MIN..MAX)")
    return entry


def _check(query: NamedQuery) -> None:
    from vanta_vuln_stats.query.athena import check_template

    names = [parameter.name for parameter in query.parameters]
    if len(set(names)) != len(names):
        raise TemplateError(f"template {query.name}: a parameter is declared twice")
    for binding in query.bindings:
        name, _, part = binding.partition(".")
        if name not in names:
            raise TemplateError(f"template {query.name}: @bind names unknown {name!r}")
        if part and (part not in _DATE_PARTS or query.parameter(name).type != "date"):
            raise TemplateError(f"template {query.name}: @bind {binding}: no such part")
    unused = set(names) - {binding.partition(".")[0] for binding in query.bindings}
    if unused:
        raise TemplateError(f"template {query.name}: parameters never bound: {sorted(unused)}")
    try:
        check_template(query.sql, len(query.bindings))
    except ValueError as exc:
        raise TemplateError(f"template {query.name}: {exc}") from None
    # Every default is a value of its type (``latest`` is checked against a day of our own).
    context = QueryContext(lambda: date(2000, 1, 1), now=datetime(2000, 1, 1, tzinfo=UTC))
    for parameter in query.parameters:
        try:
            parameter.convert(parameter.default, context, query=query.name)
        except NamedQueryError as exc:
            raise TemplateError(f"template {query.name}: default refused: {exc}") from None


# --------------------------------------------------------------------------------------------
# The shipped templates


@functools.cache
def load_queries() -> dict[str, NamedQuery]:
    """Every template shipped with the package (``query/templates/*.sql``), by name."""
    folder = resources.files(TEMPLATE_PACKAGE).joinpath(TEMPLATE_FOLDER)
    queries: dict[str, NamedQuery] = {}
    for entry in sorted(folder.iterdir(), key=lambda item: item.name):
        if entry.name.endswith(".sql"):
            name = entry.name.removesuffix(".sql")
            queries[name] = parse_template(name, entry.read_text(encoding="utf-8"))
    return queries


def get_query(name: str) -> NamedQuery:
    """The template called ``name``, or NamedQueryError listing the names there are."""
    queries = load_queries()
    query = queries.get(name.strip())
    if query is None:
        raise NamedQueryError(
            f"There is no named query {name!r}; choose from: {', '.join(queries)}."
        )
    return query


def parse_assignments(items: Sequence[str], *, query: NamedQuery) -> dict[str, str]:
    """``--param key=value`` texts as a dict; a missing ``=`` or a key given twice is an
    error naming the accepted keys."""
    given: dict[str, str] = {}
    accepted = ", ".join(p.name for p in query.parameters) or "none"
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise NamedQueryError(
                f"Query {query.name}: --param {item!r} is not key=value; keys: {accepted}."
            )
        if key in given:
            raise NamedQueryError(f"Query {query.name}: parameter {key!r} is given twice.")
        given[key] = value
    return given
