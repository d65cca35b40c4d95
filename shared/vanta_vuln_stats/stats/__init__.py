"""Statistics over the store, computed in SQL, and their rendering.

``compute_statistics`` (generator.py) runs the named queries of queries.py and returns a
JSON-ready dict whose keys include exactly the earlier tool's; ``render_report``, ``to_json`` and
``to_csv`` (render.py) present it. ``build_synthetic_database`` (synthetic.py) makes a large
store quickly for benchmarks.

Names are imported on first use, so importing the package (or just its queries) stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__all__ = [
    "LEGACY_KEYS",
    "build_synthetic_database",
    "compute_statistics",
    "render_report",
    "to_csv",
    "to_json",
]

_HOMES = {
    "LEGACY_KEYS": "generator",
    "compute_statistics": "generator",
    "render_report": "render",
    "to_csv": "render",
    "to_json": "render",
    "build_synthetic_database": "synthetic",
}

if TYPE_CHECKING:
    from vanta_vuln_stats.stats.generator import LEGACY_KEYS, compute_statistics
    from vanta_vuln_stats.stats.render import render_report, to_csv, to_json
    from vanta_vuln_stats.stats.synthetic import build_synthetic_database


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
