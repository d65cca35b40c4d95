"""``vanta-vuln-stats migrate``: a SQLite store into an empty Parquet lake (or a dry run of it),
validation of the latest migration to a lake, rollback of one.

The report goes to stdout, progress to stderr (on a terminal). A migration's last line is
``run id: RUN_ID``. Errors are raised, and mapped to exit codes by ``cli.main``: bad input 2,
a lake that differs from its source 1.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from vanta_vuln_stats.errors import UserInputError, VantaVulnStatsError
from vanta_vuln_stats.model.records import timestamp_to_iso

__all__ = ["DESCRIPTION", "EPILOG", "ValidationFailed", "add_arguments", "run"]

DESCRIPTION = """\
Move a SQLite store (this tool's or the earlier vanta_vuln_stats.py's) into an empty Parquet
lake, a folder or s3://bucket/prefix, as one committed day with its whole history; validate a
migration against its source, or roll it back."""
EPILOG = """\
Examples:
  vanta-vuln-stats migrate --from vanta_vulnerabilities.db --to lake --dry-run
  vanta-vuln-stats migrate --from vanta_vulnerabilities.db --to s3://bucket/vanta
  vanta-vuln-stats migrate --to s3://bucket/vanta --validate
  vanta-vuln-stats migrate --to s3://bucket/vanta --rollback 20261129T081502123Z

The destination must be empty. Databases of the earlier vanta_vuln_stats.py are upgraded on a
temporary copy; the source file is only read. See docs/MIGRATION.md.
"""


class ValidationFailed(VantaVulnStatsError):
    """The lake does not hold what the source held (exit code 1)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--from",
        dest="source",
        metavar="PATH.db",
        help="the SQLite database: this tool's or the earlier vanta_vuln_stats.py's",
    )
    parser.add_argument(
        "--to",
        dest="destination",
        metavar="PATH_OR_S3_URI",
        required=True,
        help="the lake: a folder or s3://bucket/prefix (empty, to migrate into)",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--dry-run",
        action="store_true",
        help="read and convert everything, print what would be written, write nothing",
    )
    mode.add_argument(
        "--validate",
        action="store_true",
        help="re-read what the latest migration to --to wrote and compare it with the source "
        "(exit 1 on a difference)",
    )
    mode.add_argument(
        "--rollback",
        metavar="RUN_ID",
        help="remove exactly what migration run RUN_ID wrote",
    )
    parser.add_argument(
        "--work-dir",
        metavar="DIR",
        help="folder for the temporary copy of the source (default: the system's temp folder)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress display")
    parser.add_argument(
        "--verbose", action="store_true", help="show details and, on errors, tracebacks"
    )


def run(args: argparse.Namespace) -> int:
    if args.rollback is not None:
        if args.source:
            raise UserInputError("--rollback needs only --to; --from is not used.")
        return _rollback(args)
    if args.validate:
        if args.source:
            raise UserInputError("--validate needs only --to; the source is in the run's manifest.")
        return _validate(args)
    if not args.source:
        raise UserInputError(
            "Give the database to migrate with --from PATH.db (or --validate, --rollback RUN_ID)."
        )
    return _migrate(args)


@contextmanager
def _progress(args: argparse.Namespace) -> Iterator[Any]:
    from rich.console import Console

    err = Console(stderr=True, highlight=False)
    if args.no_progress or not err.is_terminal:
        yield None
        return
    from vanta_vuln_stats.progress import RichTableProgress

    with RichTableProgress(err) as progress:
        yield progress


def _number(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _migrate(args: argparse.Namespace) -> int:
    from vanta_vuln_stats.storage.lake.migration import migrate

    with _progress(args) as progress:
        result = migrate(
            args.source,
            args.destination,
            dry_run=args.dry_run,
            work_dir=args.work_dir,
            progress=progress,
        )
    plan, source = result.plan, result.source
    from vanta_vuln_stats.storage.schema import SCHEMA_VERSION

    kind = source.kind
    if source.schema_version:
        kind += f" schema {source.schema_version}"
    if source.upgraded:
        kind += f"; upgraded to schema {SCHEMA_VERSION} on a temporary copy"
    print(f"Source:      {source.path} ({kind}, {source.size:,} bytes)")
    print(f"Destination: {result.destination}")
    if plan.last_sync is not None:
        why = f"the day of the source's last complete sync ({timestamp_to_iso(plan.stamp)})"
    else:
        why = "today: the source has no complete sync"
    print(f"Committed day: {plan.run_date}, {why}")
    print()
    print(f"{'table':<36}{'rows':>12}{'files':>7}{'partitions':>12}{'bytes':>15}")
    for label, entry in plan.entries.items():
        rows = _number(entry.rows) if entry.checked or label == "raw_json backup" else ""
        print(
            f"{label:<36}{rows:>12}{len(entry.keys):>7}{_number(entry.partitions):>12}"
            f"{result.bytes_of(label):>15,}"
        )
    print(f"{'total':<36}{'':>12}{result.total_files:>7}{'':>12}{result.total_bytes:>15,}")
    print()
    if result.dry_run:
        print("Dry run: nothing was written.")
        return 0
    print(
        f"Wrote {result.total_files} objects ({result.total_bytes:,} bytes) and committed "
        f"{plan.run_date}."
    )
    if plan.last_day >= datetime.now(UTC).date():
        print(
            f"Note: sync this lake next on a day after {plan.last_day}: a sync replaces the "
            "files of its own day (see docs/MIGRATION.md)."
        )
    print(f"run id: {result.run_id}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from vanta_vuln_stats.storage.lake.migration import validate

    with _progress(args) as progress:
        result = validate(args.destination, progress=progress)
    manifest = result.manifest
    print(
        f"Run {manifest.run_id}: {manifest.source['path']} migrated to {result.destination} "
        f"on {timestamp_to_iso(manifest.started_at)}, committed day {manifest.run_date}"
    )
    print()
    print(f"{'table':<36}{'source rows':>12}{'lake rows':>12}  checksum")
    for check in result.tables:
        verdict = "ok"
        if check.source_checksum != check.lake_checksum:
            verdict = f"MISMATCH (source {check.source_checksum}, lake {check.lake_checksum})"
        elif not check.ok:
            verdict = "MISMATCH (row count)"
        print(f"{check.label:<36}{check.source_rows:>12,}{check.lake_rows:>12,}  {verdict}")
    print()
    for problem in result.problems:
        print(f"Problem: {problem}.")
    if not result.problems:
        print(f"All {result.files} files the run wrote are there with the sizes it wrote.")
    print(result.source_note)
    if not result.ok:
        tables = [check.label for check in result.tables if not check.ok]
        parts = []
        if tables:
            parts.append(f"{len(tables)} table(s) differ ({', '.join(tables)})")
        if result.problems:
            parts.append(f"{len(result.problems)} other problem(s)")
        raise ValidationFailed(
            f"The lake at {result.destination} does not hold what the source held: "
            f"{'; '.join(parts)}."
        )
    print("Valid: every table has the source's rows and checksum.")
    return 0


def _rollback(args: argparse.Namespace) -> int:
    from vanta_vuln_stats.storage.lake.migration import rollback

    result = rollback(args.destination, args.rollback)
    print(
        f"Rolled back run {result.run_id}: removed {result.removed} objects "
        f"({result.bytes:,} bytes) from {result.destination}; {result.run_date} is no longer "
        "committed."
    )
    return 0
