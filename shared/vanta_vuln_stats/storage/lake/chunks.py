"""Raw records -> a snapshot part, in bounded memory.

A chunk of raw API records (a list, or NDJSON lines as the fetch step stores them) is parsed
and normalised a slice at a time, so no more than ``slice_rows`` records are held as Python
objects at once; the normalised slices are compact Arrow tables, concatenated at the end. This
is what keeps a 100,000-record chunk within a Lambda-sized memory budget.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from vanta_vuln_stats.model.fields import Resource

if TYPE_CHECKING:
    import pyarrow as pa

    from vanta_vuln_stats.model.records import Rejection

__all__ = ["SLICE_ROWS", "normalize_records", "parse_ndjson"]

SLICE_ROWS = 10_000


def parse_ndjson(lines: Iterable[bytes], slice_rows: int = SLICE_ROWS) -> Iterator[list[Any]]:
    """Slices of parsed records from NDJSON lines (blank lines skipped). A line that is not JSON
    is kept as its text, so the normaliser rejects it with a reason instead of losing it."""
    import orjson

    batch: list[Any] = []
    for line in lines:
        if not line.strip():
            continue
        try:
            batch.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            batch.append(line.decode("utf-8", "replace"))
        if len(batch) >= slice_rows:
            yield batch
            batch = []
    if batch:
        yield batch


def _slices(records: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(records), size):
        yield records[start : start + size]


def normalize_records(
    resource: Resource | str,
    records: Sequence[Any] | Iterable[Sequence[Any]],
    *,
    slice_rows: int = SLICE_ROWS,
) -> tuple[pa.Table, list[Rejection]]:
    """The snapshot columns (model columns without raw_data) of the good records, and the
    rejections. ``records`` is a sequence of raw records or an iterable of slices of them (as
    ``parse_ndjson`` yields)."""
    import pyarrow as pa

    from vanta_vuln_stats.model.columnar import normalize_to_table

    resource = Resource(resource)
    slices = _slices(records, slice_rows) if isinstance(records, Sequence) else records
    tables: list[pa.Table] = []
    rejections: list[Rejection] = []
    for raws in slices:
        table, rejected = normalize_to_table(resource, raws, include_raw=False)
        tables.append(table)
        rejections.extend(rejected)
    if not tables:
        from vanta_vuln_stats.model.arrow import arrow_schema

        schema = arrow_schema(resource)
        return schema.remove(schema.get_field_index("raw_data")).empty_table(), rejections
    return pa.concat_tables(tables), rejections
