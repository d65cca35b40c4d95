"""The record model: column definitions, normalisation and validation, Arrow schemas.

``fields`` defines every column once; ``records`` turns raw API records into typed rows (or
rejections with reasons); ``arrow`` derives the Arrow schemas; ``columnar`` normalises a batch
straight to an Arrow table, with the same result as rows then ``rows_to_table`` (pyarrow is
imported lazily, so importing this package never loads it).
"""

from typing import TYPE_CHECKING, Any

from vanta_vuln_stats.model.fields import (
    API_PATHS,
    ASSET_FIELDS,
    ASSET_TYPES,
    FIELDS,
    RAW_COLUMN,
    REMEDIATION_FIELDS,
    SEVERITIES,
    VULNERABILITY_FIELDS,
    VULNERABILITY_TYPES,
    Field,
    Kind,
    Resource,
    column_names,
    tracked_columns,
)
from vanta_vuln_stats.model.records import (
    NormalizedBatch,
    Rejection,
    normalize,
    normalize_batch,
    parse_timestamp,
    timestamp_to_iso,
)

if TYPE_CHECKING:
    from vanta_vuln_stats.model.arrow import arrow_schema, rows_to_table
    from vanta_vuln_stats.model.columnar import normalize_to_table

_LAZY = {
    "arrow_schema": "arrow",
    "rows_to_table": "arrow",
    "normalize_to_table": "columnar",
}


def __getattr__(name: str) -> Any:
    # The Arrow side of the model loads when first used, not with the package.
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "API_PATHS",
    "ASSET_FIELDS",
    "ASSET_TYPES",
    "FIELDS",
    "RAW_COLUMN",
    "REMEDIATION_FIELDS",
    "SEVERITIES",
    "VULNERABILITY_FIELDS",
    "VULNERABILITY_TYPES",
    "Field",
    "Kind",
    "NormalizedBatch",
    "Rejection",
    "Resource",
    "arrow_schema",
    "column_names",
    "normalize",
    "normalize_batch",
    "normalize_to_table",
    "parse_timestamp",
    "rows_to_table",
    "timestamp_to_iso",
    "tracked_columns",
]
