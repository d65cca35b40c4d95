"""Table checksums that do not depend on row order, file boundaries or encoding.

A row's canonical form is the JSON array of its compared columns, in schema order, with
timestamps as epoch milliseconds, dates as epoch days, booleans as true/false, numbers as JSON
numbers (shortest round-trip form), lists as arrays and NULL as null. Its digest is the first
8 bytes of BLAKE2b of that text, read as an unsigned integer; a table's checksum is the sum of its
rows' digests modulo 2**64, written as 16 hex digits, with the row count beside it. A sum (not an
XOR) keeps a duplicated row from cancelling out; any changed, missing or added row changes it.

The same function runs over the Arrow batches converted from the source, before they are written,
and over the batches read back from the lake.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from hashlib import blake2b
from typing import TYPE_CHECKING

import orjson

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["TableChecksum"]

_MOD = 1 << 64


@dataclass
class TableChecksum:
    """A running checksum of one table over the columns ``columns``."""

    columns: tuple[str, ...]
    rows: int = 0
    total: int = 0

    def add(self, batch: pa.Table | pa.RecordBatch) -> None:
        import pyarrow as pa

        if batch.num_rows == 0:
            return
        values: list[list[object]] = []
        for name in self.columns:
            column = batch.column(name)
            if pa.types.is_timestamp(column.type):
                column = column.cast(pa.int64())
            elif pa.types.is_date32(column.type):
                column = column.cast(pa.int32())
            values.append(column.to_pylist())
        total = self.total
        for row in zip(*values, strict=True):
            digest = blake2b(orjson.dumps(row), digest_size=8).digest()
            total += int.from_bytes(digest, "big")
        self.total = total % _MOD
        self.rows += batch.num_rows

    def add_all(self, batches: Iterable[pa.Table | pa.RecordBatch]) -> TableChecksum:
        for batch in batches:
            self.add(batch)
        return self

    @property
    def hexdigest(self) -> str:
        return f"{self.total:016x}"

    def as_json(self) -> dict[str, object]:
        return {"rows": self.rows, "checksum": self.hexdigest, "columns": list(self.columns)}
