"""Raw API records -> an Arrow table in one columnar pass: the lake's normalisation path.

``normalize_to_table(resource, raws)`` gives exactly the table and the rejections of

    batch = normalize_batch(resource, raws)
    rows_to_table(resource, batch.rows), batch.rejections

(value for value, row for row in input order, the same schema with its metadata) but converts the
batch with Arrow instead of building a Python row per record, several times faster: what lets one
Lambda core normalise and write a chunk of 100,000 records in a few seconds.

It is safe because a record takes the fast path only when it is *proven* to normalise to exactly
the values the fast path computes; every other record is handed to ``records.normalize``, whose
row or Rejection is used as it is, and the rows of both paths are merged in input order. The
proof, step by step:

1. Screen, a column at a time with C-level loops (map, zip, compress) instead of a Python loop
   per record: a record that is not exactly a ``dict`` goes to the slow path; each modelled
   key's values are read from every record (a missing key reads as None: missing and null are
   the same class to every check below, as they are to records.py, where a missing optional
   field is null and a missing or null required field is rejected either way); each value's
   class must be allowed by its field's kind: exact ``str`` for text and timestamps, exact
   ``float`` or ``int`` for numbers, exact ``bool``, an exact ``list`` of exact ``str``, a
   ``dict`` for an object whose keys are columns, no missing or null required field. Lists'
   items, those objects' values and an asset's scanners are then checked the same way, over
   the records still on the fast path.
2. Convert: Arrow reads each column from the values read in step 1 (an object whose keys are
   columns as a struct of those), the slow records' values masked as null. When Arrow refuses a
   value (text that is not valid Unicode, an integer a double cannot hold exactly), the column
   is halved until the record is found, and the record goes to the slow path. Rows of slow
   records, whatever their values, are dropped and replaced by records.normalize's.
3. Compute, with Arrow: timestamps in the API's two forms (``...T07:26:33.483Z``, and the same
   without the fraction) are parsed by a strict cast, any other text is left to the slow path;
   enums are ASCII upper-cased and looked up (other text is left to the slow path, where
   Unicode case rules apply); non-finite numbers and an empty id are left to the slow path;
   null lists become empty lists; derived columns come from compute functions (an asset's
   integration ids excepted: the screen collects them while it checks the scanners).
4. Encode: json-kind columns and ``raw_data`` with the very call records.py uses, so the text is
   the same, and a value that cannot be encoded sends its record to the slow path. records.py
   rejects a record that cannot be encoded even though the raw column is not wanted: without it,
   records with keys outside the model are still encoded, and the other records' keys, all of
   them modelled names, are checked to be exactly ``str`` (orjson refuses a str subclass key).

pyarrow is imported inside the functions, like arrow.py: importing the model never loads it.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, partial
from itertools import chain, compress, repeat
from typing import TYPE_CHECKING, Any

import orjson

from vanta_vuln_stats.model.arrow import arrow_schema, rows_to_table
from vanta_vuln_stats.model.fields import FIELDS, RAW_COLUMN, Field, Resource
from vanta_vuln_stats.model.records import Rejection, normalize

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["normalize_to_table"]

# Records are screened, converted and encoded in slices of this many: a value Arrow refuses costs
# a few halvings of one slice, no array of a slice comes near the 2 GiB limit of a string column,
# and the encoded raw_data of only one slice is held as Python bytes. The columns stay in these
# chunks (no copy into one array). The screen reads every record once per modelled key, so a
# slice's records and values should stay in a core's cache between those passes: on one core,
# 512 records per slice took about 20% less time than 4096, and 256 more again (the per-slice
# Arrow calls and chunks then add up).
_SLICE = 512

# The API's instants, and the same without the fraction (the API's documented examples): the only
# texts the fast path parses. Years 1000-2999, every field in range, so that the strict Arrow
# cast and datetime.fromisoformat agree on every text that matches (the cast still refuses
# impossible dates such as February 30, which then go to the slow path). RE2 \d is ASCII only.
_TIMESTAMP_PATTERN = (
    r"^[12]\d{3}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
    r"T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{3})?Z$"
)
# With that pattern the text has whole seconds at [0, 19); the strict check of a cast failure
# parses those and compares them with the text printed back.
_SECONDS_FORMAT = "%Y-%m-%dT%H:%M:%S"


# Classes a key's value may have. A missing key is read as None: missing and null are the same
# class everywhere, as they give the same row in records.py (a missing or null optional field is
# null, a required one is rejected either way, only the reason differs and the slow path gives it).
_NONE_CLASSES = frozenset({type(None)})
_KIND_CLASSES: dict[str, frozenset[type] | None] = {
    "string": frozenset({str}),
    "timestamp": frozenset({str}),
    "float": frozenset({float, int}),  # exact classes: bool is neither
    "bool": frozenset({bool}),
    "strings": frozenset({list}),
    "json": None,  # any value: whether it can be encoded is settled by encoding it
}


# records._dumps as bytes (Arrow takes them as UTF-8 text without a decode); a partial, so that
# map() encodes a slice without a Python call per record.
_encode: Callable[[object], bytes] = partial(orjson.dumps, option=orjson.OPT_SORT_KEYS)


def _encode_nested(value: object) -> bytes:
    # Encoded one level down, as it sits in its record: orjson's depth limit then refuses
    # exactly the values it refuses inside the record. "[" + text + "]", so the slice is exact.
    return orjson.dumps([value], option=orjson.OPT_SORT_KEYS)[1:-1]


# --------------------------------------------------------------------------------------------
# Layout: what is read from a resource's records and which classes may be found there


@dataclass(frozen=True, slots=True)
class _Parent:
    """An object whose keys are columns (deactivateMetadata): read with its children."""

    position: int
    keys: tuple[str, ...]
    allowed: tuple[frozenset[type] | None, ...]


@dataclass(frozen=True, slots=True)
class _Layout:
    resource: Resource
    keys: tuple[str, ...]
    """Every top-level key the model reads, in field order."""
    allowed: tuple[frozenset[type] | None, ...]
    """Classes each key's value may have (None: any)."""
    list_positions: tuple[int, ...]
    json_positions: tuple[int, ...]
    parents: tuple[_Parent, ...]
    collect_position: int | None
    """The key whose value the resource's collect function reads (scanners of an asset)."""


def _allowed(spec: Field) -> frozenset[type] | None:
    classes = _KIND_CLASSES[spec.kind]
    if classes is None or spec.required:
        return classes
    return classes | _NONE_CLASSES


# Keys whose value a resource's derived columns need in a given shape (records.py rejects any
# other): the scanners of an asset are a list.
_SHAPES: dict[Resource, dict[str, frozenset[type]]] = {
    Resource.VULNERABILITY_REMEDIATIONS: {},
    Resource.VULNERABILITIES: {},
    Resource.VULNERABLE_ASSETS: {"scanners": frozenset({list}) | _NONE_CLASSES},
}


@cache
def _layout(resource: Resource) -> _Layout:
    fields = FIELDS[resource]
    top = [spec for spec in fields if spec.source is not None and "." not in spec.source]
    keys = [spec.source for spec in top]
    allowed: list[frozenset[type] | None] = [_allowed(spec) for spec in top]
    children: dict[str, list[Field]] = {}
    for spec in fields:
        if spec.source is not None and "." in spec.source:
            children.setdefault(spec.source.partition(".")[0], []).append(spec)
    parents = []
    for parent_key, specs in children.items():
        if parent_key not in keys:  # an object that is not a column itself
            keys.append(parent_key)
            allowed.append(None)
        position = keys.index(parent_key)
        allowed[position] = frozenset({dict}) | _NONE_CLASSES
        child_keys = tuple(spec.source.partition(".")[2] for spec in specs)  # type: ignore[union-attr]
        parents.append(_Parent(position, child_keys, tuple(map(_allowed, specs))))
    for key, classes in _SHAPES[resource].items():
        allowed[keys.index(key)] = classes
    kinds = {spec.source: spec.kind for spec in top}
    collect_key = _COLLECT[resource][0]
    return _Layout(
        resource=resource,
        keys=tuple(keys),  # type: ignore[arg-type]
        allowed=tuple(allowed),
        list_positions=tuple(i for i, key in enumerate(keys) if kinds.get(key) == "strings"),
        json_positions=tuple(i for i, key in enumerate(keys) if kinds.get(key) == "json"),
        parents=tuple(parents),
        collect_position=None if collect_key is None else keys.index(collect_key),
    )


def _read(objects: list[dict[str, Any]], keys: tuple[str, ...]) -> list[tuple[Any, ...]]:
    """The values of each key in the objects, a tuple per key (None where a key is missing), read
    in C: each object is merged over the keys with null values, and the keys are read from it."""
    template = dict.fromkeys(keys)
    rows = map(operator.itemgetter(*keys), map(operator.or_, repeat(template), objects))
    if len(keys) == 1:  # itemgetter of one key gives the value itself
        return [tuple(rows)]
    return list(zip(*rows, strict=True)) or [() for _ in keys]


def _check_classes(
    values: tuple[Any, ...], allowed: frozenset[type] | None, start: int, slow: bytearray
) -> None:
    """Mark slow each value whose class is not allowed (None: any class is)."""
    if allowed is None or set(map(type, values)) <= allowed:
        return
    refused = map(operator.not_, map(allowed.__contains__, map(type, values)))
    for index in compress(range(start, start + len(values)), refused):
        slow[index] = 1


# --------------------------------------------------------------------------------------------
# Resource-specific columns: what is collected in the screen, and the derived columns.


def _collect_integration_ids(scanners: Any) -> list[str] | None:
    """An asset's integration ids as records.py derives them, or None: slow path."""
    if not scanners:  # null, missing or empty
        return []
    ids: set[str] = set()
    for scanner in scanners:  # a list: the screen checked
        if scanner.__class__ is not dict:
            return None
        integration_id = scanner.get("integrationId")
        if integration_id is None:
            continue
        if integration_id.__class__ is not str:
            return None
        ids.add(integration_id)
    return sorted(ids)


# (key read, function of its value -> collected value or None for the slow path)
_COLLECT: dict[Resource, tuple[str | None, Callable[[Any], Any] | None]] = {
    Resource.VULNERABILITIES: (None, None),
    Resource.VULNERABILITY_REMEDIATIONS: (None, None),
    Resource.VULNERABLE_ASSETS: ("scanners", _collect_integration_ids),
}


def _derive_vulnerability(columns: dict[str, Any], batch: _Batch) -> None:
    import pyarrow.compute as pc

    # records.py: raw.get("deactivateMetadata") is not None (anything but a dict went slow).
    columns["is_deactivated"] = pc.is_valid(columns["deactivate_metadata"])


def _derive_remediation(columns: dict[str, Any], batch: _Batch) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    remediated = columns["remediation_date"]
    # Null when either date is null, as in records.py.
    columns["is_remediated_on_time"] = pc.less_equal(remediated, columns["sla_deadline_date"])
    columns["status"] = pc.if_else(
        pc.is_null(remediated), pa.scalar("OPEN"), pa.scalar("REMEDIATED")
    )


def _derive_asset(columns: dict[str, Any], batch: _Batch) -> None:
    import pyarrow as pa

    # Collected in the screen, which walks every scanner anyway to check its class (sorting a
    # few ids per asset there costs less than a round trip through Arrow's group-by).
    arrow_type = pa.list_(pa.string())
    pieces = _to_arrow(batch.collected, arrow_type, 0, batch.slow)
    columns["integration_ids"] = pa.chunked_array(pieces, type=arrow_type)


_DERIVE: dict[Resource, Callable[[dict[str, Any], _Batch], None]] = {
    Resource.VULNERABILITIES: _derive_vulnerability,
    Resource.VULNERABILITY_REMEDIATIONS: _derive_remediation,
    Resource.VULNERABLE_ASSETS: _derive_asset,
}


# --------------------------------------------------------------------------------------------
# Arrow types and schemas


def _input_type(spec: Field) -> pa.DataType:
    """The Arrow type a field is read as from the record (timestamps as text, parsed later)."""
    import pyarrow as pa

    return {
        "string": pa.string(),
        "timestamp": pa.string(),
        "float": pa.float64(),
        "bool": pa.bool_(),
        "strings": pa.list_(pa.string()),
    }[spec.kind]


@cache
def _column_types(resource: Resource) -> tuple[tuple[int, pa.DataType], ...]:
    """(position in the layout's keys, Arrow type) of each key Arrow reads from the records:
    json-kind values are encoded instead; an object whose keys are columns is read as a struct
    of those."""
    import pyarrow as pa

    layout = _layout(resource)
    children: dict[str, list[pa.Field]] = {}
    for spec in FIELDS[resource]:
        if spec.source is not None and "." in spec.source:
            parent, _, child = spec.source.partition(".")
            children.setdefault(parent, []).append(pa.field(child, _input_type(spec)))
    kinds = {spec.source: spec for spec in FIELDS[resource] if spec.source is not None}
    types = []
    for position, key in enumerate(layout.keys):
        if key in children:
            types.append((position, pa.struct(children[key])))
        elif kinds[key].kind != "json":
            types.append((position, _input_type(kinds[key])))
    return tuple(types)


@cache
def _schema_without_raw(resource: Resource) -> pa.Schema:
    schema = arrow_schema(resource)
    return schema.remove(schema.get_field_index(RAW_COLUMN))


# --------------------------------------------------------------------------------------------
# The batch being normalised


class _Batch:
    """State of one call: the records, which of them go to the slow path, the Arrow arrays read
    so far, and what the screen collected for the columns Arrow does not read."""

    def __init__(self, layout: _Layout, records: Sequence[object], include_raw: bool) -> None:
        count = len(records)
        self.layout = layout
        self.records = records
        self.include_raw = include_raw
        self.slow = bytearray(count)  # 1: the record goes to records.normalize
        # Per json-kind column: the positions and values of the records that have a value.
        self.json_values: list[tuple[list[int], list[Any]]] = [
            ([], []) for _ in layout.json_positions
        ]
        self.collected: list[Any] = [None] * count if layout.collect_position is not None else []
        # Per key Arrow reads (_column_types): its arrays, one or more per slice.
        self.arrays: dict[str, list[pa.Array]] = {}
        self.raw_texts: list[pa.Array] = []

    # -- screen ------------------------------------------------------------------------------

    def screen(self, start: int, stop: int) -> list[tuple[Any, ...]]:
        """Mark the records of [start, stop) that cannot take the fast path; keep the values the
        fast path reads in Python (json-kind values, collected values). Returns the slice's
        modelled values, a tuple per key of the layout (None for a missing key)."""
        layout = self.layout
        records = self.records[start:stop]
        slow = self.slow
        if set(map(type, records)) != {dict}:  # such a record is read as an empty dict
            for index in range(start, stop):
                if self.records[index].__class__ is not dict:
                    slow[index] = 1
            records = [record if record.__class__ is dict else {} for record in records]
        columns = _read(records, layout.keys)
        del records
        for column, allowed in zip(columns, layout.allowed, strict=True):
            _check_classes(column, allowed, start, slow)
        fast = list(map(operator.not_, slow[start:stop]))
        lists = [columns[position] for position in layout.list_positions]
        items = chain.from_iterable(
            filter(None, chain.from_iterable(compress(c, fast) for c in lists))
        )
        if set(map(type, items)) - {str}:
            self._screen_list_items(start, lists)
        for parent in layout.parents:
            self._screen_parent(start, parent, columns[parent.position])

        fast = list(map(operator.not_, slow[start:stop]))
        for position, (indices, values) in zip(
            layout.json_positions, self.json_values, strict=True
        ):
            present = list(
                map(operator.and_, fast, map(operator.is_not, columns[position], repeat(None)))
            )
            indices.extend(compress(range(start, stop), present))
            values.extend(compress(columns[position], present))
        collect = _COLLECT[layout.resource][1]
        if collect is not None:
            values = columns[layout.collect_position]  # type: ignore[index]
            for index in compress(range(start, stop), fast):
                result = collect(values[index - start])
                if result is None:
                    slow[index] = 1
                self.collected[index] = result
        self._prove_encodable(start, stop)
        return columns

    def _screen_list_items(self, start: int, lists: list[tuple[Any, ...]]) -> None:
        """Some list in the slice holds a value that is not exactly a str: find its records."""
        slow = self.slow
        for values in lists:
            for index, value in enumerate(values, start):
                if value and not slow[index] and any(item.__class__ is not str for item in value):
                    slow[index] = 1

    def _screen_parent(self, start: int, parent: _Parent, values: tuple[Any, ...]) -> None:
        """The classes of the children of each fast record's object whose keys are columns."""
        slow = self.slow
        is_dict = map(operator.is_, map(type, values), repeat(dict))
        indices = [
            index
            for index in compress(range(start, start + len(values)), is_dict)
            if not slow[index]
        ]
        children = _read([values[index - start] for index in indices], parent.keys)
        marks = bytearray(len(indices))
        for column, allowed in zip(children, parent.allowed, strict=True):
            _check_classes(column, allowed, 0, marks)
        for index in compress(indices, marks):
            slow[index] = 1

    def _prove_encodable(self, start: int, stop: int) -> None:
        """raw_data for every fast record; without it, records with keys outside the model are
        still encoded, since records.py rejects a record that cannot be."""
        import pyarrow as pa

        records, slow = self.records, self.slow
        if self.include_raw:
            try:  # the whole slice in one C loop (slow records' texts are dropped later)
                texts: list[bytes | None] = list(map(_encode, records[start:stop]))
            except (TypeError, ValueError, RecursionError):
                texts = [None] * (stop - start)
                for index in range(start, stop):
                    if not slow[index]:
                        try:
                            texts[index - start] = _encode(records[index])
                        except (TypeError, ValueError, RecursionError):
                            slow[index] = 1
            # Arrow text per slice: the encoded bytes of one slice at a time are held in Python.
            self.raw_texts.append(pa.array(texts, type=pa.string()))
            return
        fast = list(map(operator.not_, slow[start:stop]))
        modelled = frozenset(self.layout.keys)
        if set(chain.from_iterable(compress(records[start:stop], fast))) - modelled:
            for index in compress(range(start, stop), fast):
                if not modelled.issuperset(records[index]):  # type: ignore[arg-type]
                    try:
                        _encode(records[index])
                    except (TypeError, ValueError, RecursionError):
                        slow[index] = 1
        # The others have only modelled keys, equal to their names; orjson also refuses a key
        # that is a str subclass, so their classes are checked (in C, for the whole slice).
        screened = compress(records[start:stop], map(operator.not_, slow[start:stop]))
        if set(map(type, chain.from_iterable(screened))) - {str}:
            for index in range(start, stop):
                if not slow[index] and any(key.__class__ is not str for key in records[index]):
                    slow[index] = 1

    # -- convert -----------------------------------------------------------------------------

    def convert(self, start: int, stop: int, columns: list[tuple[Any, ...]]) -> None:
        """Arrow reads each column of the screened records of [start, stop) (slow ones as
        null)."""
        import pyarrow as pa

        mask = None
        marks = bytes(self.slow[start:stop])
        if any(marks):
            mask = pa.Array.from_buffers(pa.uint8(), stop - start, [None, pa.py_buffer(marks)])
            mask = mask.cast(pa.bool_())
        layout = self.layout
        for position, arrow_type in _column_types(layout.resource):
            pieces = _to_arrow(columns[position], arrow_type, start, self.slow, mask)
            self.arrays.setdefault(layout.keys[position], []).extend(pieces)


def _to_arrow(
    values: Sequence[Any],
    arrow_type: pa.DataType,
    start: int,
    slow: bytearray,
    mask: pa.BooleanArray | None = None,
) -> list:
    """pa.array(values) in one or more pieces, null where ``mask`` is true: a value Arrow
    refuses is found by halving, marked slow and replaced by a null. ``start`` is the position
    of values[0] in the batch."""
    import pyarrow as pa

    try:
        array = pa.array(values, type=arrow_type, mask=mask)
    except MemoryError:
        raise
    except Exception:  # Arrow's errors, UnicodeEncodeError, OverflowError...: all bad data
        array = None
    if isinstance(array, pa.Array):
        return [array]
    if len(values) == 1:  # refused (or, a ChunkedArray, too large): the slow path decides
        slow[start] = 1
        return [pa.nulls(1, arrow_type)]
    middle = len(values) // 2
    first = second = None
    if mask is not None:
        first, second = mask.slice(0, middle), mask.slice(middle)
    return _to_arrow(values[:middle], arrow_type, start, slow, first) + _to_arrow(
        values[middle:], arrow_type, start + middle, slow, second
    )


# --------------------------------------------------------------------------------------------
# Columns


def _timestamps(text: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Parse the API's instants: (timestamp[ms, UTC] column, mask of texts left to the slow
    path)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    target = pa.timestamp("ms", tz="UTC")
    matches = pc.match_substring_regex(text, _TIMESTAMP_PATTERN)
    unsure = pc.invert(pc.fill_null(matches, True))  # null text is null: sure
    if _any(unsure):
        text = pc.if_else(matches, text, pa.scalar(None, pa.string()))
    try:
        return text.cast(target), unsure
    except pa.ArrowInvalid:
        pass
    # A text of the right form names a day that does not exist (February 30): parse the
    # seconds leniently, print them back, and leave each text that does not come back to the
    # slow path.
    seconds = pc.utf8_slice_codeunits(text, 0, 19)
    parsed = pc.strptime(seconds, format=_SECONDS_FORMAT, unit="s", error_is_null=True)
    same = pc.equal(pc.strftime(parsed, format=_SECONDS_FORMAT), seconds)
    impossible = pc.and_(pc.is_valid(text), pc.invert(pc.fill_null(same, False)))
    text = pc.if_else(impossible, pa.scalar(None, pa.string()), text)
    unsure = pc.or_(unsure, impossible)
    try:
        return text.cast(target), unsure
    except pa.ArrowInvalid:  # not expected; every text is then left to the slow path
        return pa.nulls(len(text), target), pc.or_(unsure, pc.is_valid(text))


def _enum(text: pa.Array, allowed: tuple[str, ...]) -> tuple[pa.Array, pa.Array]:
    """Upper-case an enum column; (column, mask of values left to the slow path).

    Only ASCII letters are upper-cased, as str.upper() does them; text with any other character
    cannot match the (ASCII) values and goes to the slow path, where Python's Unicode rules
    decide ("hıgh" is HIGH there) and a miss gets its reason."""
    import pyarrow as pa
    import pyarrow.compute as pc

    upper = pc.ascii_upper(text)
    known = pc.is_in(upper, value_set=pa.array([value.upper() for value in allowed]))
    return upper, pc.invert(pc.fill_null(known, True))


def _field_column(spec: Field, array: Any, unsure: list[Any]) -> Any:
    """A field's column from the array read for it; masks of unsure values go to ``unsure``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = spec.kind
    if kind == "timestamp":
        array, mask = _timestamps(array)
        unsure.append(mask)
    elif kind == "float":
        unsure.append(pc.invert(pc.fill_null(pc.is_finite(array), True)))
    elif kind == "strings":
        array = pc.fill_null(array, pa.scalar([], type=pa.list_(pa.string())))
    elif kind == "string" and spec.enum is not None:
        array, mask = _enum(array, spec.enum)
        unsure.append(mask)
    if spec.name == "id":  # records.py: an empty id is a rejection
        unsure.append(pc.fill_null(pc.equal(array, ""), False))
    return array


def _encoded_column(present: tuple[list[int], list[Any]], count: int, slow: bytearray) -> pa.Array:
    """Compact key-sorted JSON text of each value present (null elsewhere); a value that cannot
    be encoded sends its record to the slow path."""
    import pyarrow as pa

    texts: list[bytes | None] = [None] * count
    for index, value in zip(*present, strict=True):
        try:
            texts[index] = _encode_nested(value)
        except (TypeError, ValueError, RecursionError):
            slow[index] = 1
    return pa.array(texts, type=pa.string())


# --------------------------------------------------------------------------------------------
# Public entry point


def normalize_to_table(
    resource: Resource | str, raws: Sequence[object], *, include_raw: bool = True
) -> tuple[pa.Table, list[Rejection]]:
    """Normalise a batch of raw API records straight to an Arrow table.

    Returns ``(table, rejections)`` equal to ``rows_to_table(resource, batch.rows)`` and
    ``batch.rejections`` of ``batch = normalize_batch(resource, raws)``: the same rows in input
    order, the same schema (``arrow_schema(resource)``), the same rejections in input order.
    With ``include_raw=False`` the table has no ``raw_data`` column (schema: the resource's,
    without that field); rejections are unchanged, since a record that cannot be encoded as JSON
    is still rejected. ``resource`` is a Resource or its value; anything else raises ValueError.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    schema = arrow_schema(resource)  # ValueError for an unknown resource
    resource = Resource(resource)
    if not include_raw:
        schema = _schema_without_raw(resource)
    records = raws if isinstance(raws, list) else list(raws)
    count = len(records)
    if not count:
        return schema.empty_table(), []

    layout = _layout(resource)
    batch = _Batch(layout, records, include_raw)
    for start in range(0, count, _SLICE):
        stop = min(start + _SLICE, count)
        batch.convert(start, stop, batch.screen(start, stop))
    read = {
        layout.keys[position]: pa.chunked_array(
            batch.arrays.pop(layout.keys[position]), type=arrow_type
        )
        for position, arrow_type in _column_types(resource)
    }

    # Every field's column, and a mask per column of the values the fast path is not sure of.
    unsure: list[pa.Array | pa.ChunkedArray] = []
    columns: dict[str, pa.Array | pa.ChunkedArray] = {}
    json_values = dict(
        zip((layout.keys[p] for p in layout.json_positions), batch.json_values, strict=True)
    )
    for spec in FIELDS[resource]:
        if spec.source is None:
            continue
        if spec.kind == "json":
            array = _encoded_column(json_values[spec.source], count, batch.slow)
        elif "." in spec.source:
            parent, _, child = spec.source.partition(".")
            array = pc.struct_field(read[parent], [child])
        else:
            array = read[spec.source]
        columns[spec.name] = _field_column(spec, array, unsure)
    del read, json_values
    _DERIVE[resource](columns, batch)
    if include_raw:
        columns[RAW_COLUMN] = pa.chunked_array(batch.raw_texts, type=pa.string())
        batch.raw_texts.clear()

    slow_mask = pc.not_equal(
        pa.Array.from_buffers(pa.uint8(), count, [None, pa.py_buffer(batch.slow)]), 0
    )
    for mask in unsure:
        slow_mask = pc.or_(slow_mask, mask)
    table = pa.Table.from_arrays([columns[name] for name in schema.names], schema=schema)
    del columns
    if not _any(slow_mask):
        return table, []
    return _merge_slow_path(resource, records, table, slow_mask, include_raw)


def _any(mask: pa.Array | pa.ChunkedArray) -> bool:
    import pyarrow.compute as pc

    return bool(pc.any(mask).as_py())


def _merge_slow_path(
    resource: Resource,
    records: list[object],
    table: pa.Table,
    slow_mask: pa.Array | pa.ChunkedArray,
    include_raw: bool,
) -> tuple[pa.Table, list[Rejection]]:
    """records.normalize for each record of the mask; its rows merged in input order."""
    import pyarrow as pa
    import pyarrow.compute as pc

    fast_mask = pc.invert(slow_mask)
    table = table.filter(fast_mask)
    rows: list[dict[str, Any]] = []
    row_positions: list[int] = []
    rejections: list[Rejection] = []
    for index in pc.indices_nonzero(slow_mask).to_pylist():
        result = normalize(resource, records[index])
        if isinstance(result, Rejection):
            rejections.append(result)
        else:
            rows.append(result)
            row_positions.append(index)
    if rows:
        slow_table = rows_to_table(resource, rows)
        if not include_raw:
            slow_table = slow_table.drop_columns([RAW_COLUMN])
        positions = pa.chunked_array(
            [pc.indices_nonzero(fast_mask), pa.array(row_positions, type=pa.uint64())]
        )
        table = pa.concat_tables([table, slow_table]).take(pc.sort_indices(positions))
    return table, rejections
