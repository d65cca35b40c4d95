"""The DuckDB text of every SQL text the statistics run without filters, translated ahead and
stored with the package (``duckdb_statistics.json`` beside this module), so that statistics
over the lake in a new process need no SQL translation.

sqlglot's first translations in a process cost about half a second (loading its dialects,
then warming up on the statistics' longest texts): half of what the statistics of a million
findings take. Filtered statistics send other texts; those are still translated when first
sent (``engine.duckdb_sql``), and a text that is not stored is never wrong, only slower.

    python -m vanta_vuln_stats.storage.lake.translations           write the stored file
    python -m vanta_vuln_stats.storage.lake.translations --check   exit 1 if it is stale

``--check`` (in ``make lint``, and a unit test) fails when the statistics' texts or their
translation changed without the file being written again.
"""

from __future__ import annotations

import json
import sys
import tempfile
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path

from vanta_vuln_stats.storage.lake import engine

__all__ = ["main", "statistics_translations"]


def statistics_translations() -> dict[str, str]:
    """Each text ``compute_statistics`` sends without filters, with its translation now (the
    texts do not depend on the data or the time: they are collected over an empty lake)."""
    from vanta_vuln_stats.stats import compute_statistics
    from vanta_vuln_stats.storage.lake.store import LakeStorage

    engine._TRANSLATED.clear()  # what this collection sends, nothing translated before it
    with (
        tempfile.TemporaryDirectory(prefix="vvs-translations-") as empty,
        engine.lake_connection(LakeStorage(empty)) as conn,
    ):
        compute_statistics(conn, now=datetime(2026, 1, 1, tzinfo=UTC))
    texts = sorted(engine._TRANSLATED)
    engine._TRANSLATED.clear()
    return {text: engine.translate(text) for text in texts}


def _stored_path() -> Path:
    return Path(str(files(engine.__package__).joinpath(engine.STORED_TRANSLATIONS)))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = json.dumps(statistics_translations(), indent=1, sort_keys=True) + "\n"
    path = _stored_path()
    if args == ["--check"]:
        if path.read_text(encoding="utf-8") != text:
            print(
                f"{path.name} is stale: run python -m vanta_vuln_stats.storage.lake.translations",
                file=sys.stderr,
            )
            return 1
        return 0
    if args:
        print("usage: python -m vanta_vuln_stats.storage.lake.translations [--check]")
        return 2
    path.write_text(text, encoding="utf-8")
    print(f"wrote {len(json.loads(text))} translations to {path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
