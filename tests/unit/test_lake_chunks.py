"""A chunk of raw records to its snapshot part: in bounded memory, equal to the plain part."""

from __future__ import annotations

import gc
from datetime import date
from typing import Any

import pyarrow.compute as pc
import pytest

from vanta_vuln_stats.devstack.simulator.tenant import Tenant
from vanta_vuln_stats.model.fields import Resource
from vanta_vuln_stats.storage.lake import layout
from vanta_vuln_stats.storage.lake.chunks import (
    collector_paused,
    normalize_part,
    normalize_records,
    parse_ndjson,
)

VULNS = Resource.VULNERABILITIES


def _ndjson(records: list[dict[str, Any]]) -> list[bytes]:
    import orjson

    return [orjson.dumps(r) for r in records]


@pytest.mark.parametrize("slice_rows", [3, 1000])
def test_the_part_made_in_bounded_memory_is_the_plain_part(slice_rows: int) -> None:
    records = list(Tenant(60, seed=5).iter_records("vulnerabilities"))
    lines = _ndjson(records)
    lines[7] = b"{not json"
    day = date(2026, 11, 1)
    table, rejected = normalize_records(VULNS, parse_ndjson(lines, slice_rows))
    expected = layout.snapshot_part(VULNS, day, table)
    part, rejections = normalize_part(VULNS, day, parse_ndjson(lines, slice_rows))
    assert part.equals(expected)
    assert part.schema == layout.snapshot_schema(VULNS)
    assert [r.reasons for r in rejections] == [r.reasons for r in rejected] and len(rejections) == 1
    order = [(name, "ascending") for name in layout.PART_ORDER if name in part.column_names]
    assert pc.sort_indices(part, sort_keys=order).to_pylist() == list(range(part.num_rows))


def test_an_empty_batch_gives_an_empty_part() -> None:
    part, rejections = normalize_part(VULNS, date(2026, 11, 1), [])
    assert part.num_rows == 0 and not rejections
    assert part.schema == layout.snapshot_schema(VULNS)


def test_the_collector_is_paused_only_while_the_block_runs() -> None:
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        assert not gc.isenabled()
        raise RuntimeError("bad record")
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # left as the caller had it
    finally:
        gc.enable()
