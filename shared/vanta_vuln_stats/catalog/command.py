"""``vanta-vuln-stats catalog sync|status``: the Glue catalog of a lake on S3.

``sync`` creates or updates the database, the five tables and every committed partition; run
again, it changes nothing and says so. ``status`` compares the catalog with the lake (tables,
column drift, partitions registered vs committed) without changing anything. Reports go to
stdout; errors are one line on stderr (exit 2 for a wrong lake or database name, 1 when AWS
fails), mapped in ``cli.main``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from datetime import date

from vanta_vuln_stats.catalog.glue import GlueCatalog
from vanta_vuln_stats.catalog.lake import (
    CatalogStatus,
    CatalogSync,
    catalog_status,
    open_lake,
    sync_catalog,
)
from vanta_vuln_stats.catalog.tables import check_database_name
from vanta_vuln_stats.config.settings import load_settings
from vanta_vuln_stats.errors import UserInputError

DESCRIPTION = """\
The AWS Glue catalog of a lake on S3: a database with the tables vanta_vulnerabilities,
vanta_vulnerability_remediations, vanta_vulnerable_assets, vanta_vulnerability_history and
vanta_sync_history (external Parquet tables generated from the lake's schemas, partitioned by
the strings year, month and day), and one partition per committed day, so Athena sees every
committed day and never a day still being written."""

EPILOG = """\
Examples:
  vanta-vuln-stats catalog sync --lake s3://my-bucket/vanta --database vanta
  vanta-vuln-stats catalog sync --lake s3://my-bucket/vanta --database vanta --projection
  vanta-vuln-stats catalog status --lake s3://my-bucket/vanta --database vanta --format json

--lake and --database can also come from VANTA_LAKE and VANTA_GLUE_DATABASE (or "lake" and
"glue_database" in config.json). AWS credentials and region come from the usual AWS chain;
AWS_ENDPOINT_URL points every client at another endpoint (e.g. emulated AWS)."""

SHOW_DAYS = 6


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``sync`` and ``status``, on the ``catalog`` subcommand's parser."""
    actions = parser.add_subparsers(dest="action", required=True, metavar="{sync,status}")
    sync = actions.add_parser(
        "sync",
        help="create or update the database, tables and partitions (idempotent)",
        description="Create or update the Glue database and the five tables from the lake's\n"
        "schemas, and register every committed day's partitions that are missing (days\n"
        "written outside a sync too, e.g. by a migration). A second run changes nothing.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(sync)
    sync.add_argument(
        "--projection",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="turn Athena partition projection on (or off with --no-projection) for every "
        "table: Athena computes the year/month/day partitions and none are registered; "
        "queries then also see days still being written or re-run (see the guide). "
        "Default: keep each table's current mode (off for new tables)",
    )
    sync.add_argument(
        "--prune",
        action="store_true",
        help="also remove registered partitions that no committed day backs (else reported)",
    )
    status = actions.add_parser(
        "status",
        help="compare the catalog with the lake: tables, column drift, partitions",
        description="Compare the Glue database with the lake without changing anything:\n"
        "which tables exist, columns whose type differs between the catalog and the files,\n"
        "partitions registered versus committed (missing and extra).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(status)
    status.add_argument(
        "--format",
        choices=("table", "json"),
        default="table",
        help="how the status is printed (default: table)",
    )


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lake", metavar="S3_URI", help="the lake: s3://bucket/prefix (env VANTA_LAKE)"
    )
    parser.add_argument(
        "--database",
        metavar="NAME",
        help="the Glue database: lower-case letters, digits, underscores (env VANTA_GLUE_DATABASE)",
    )
    parser.add_argument(
        "--aws-region", metavar="REGION", help="AWS region of the catalog (env AWS_REGION)"
    )
    parser.add_argument("--config", metavar="FILE", help="settings file (default ./config.json)")
    parser.add_argument("--verbose", action="store_true", help="log each step and tracebacks")


def run(args: argparse.Namespace) -> int:
    settings = load_settings(
        {"lake": args.lake, "glue_database": args.database, "aws_region": args.aws_region},
        config_file=args.config,
        flag_names={"lake": "--lake", "glue_database": "--database", "aws_region": "--aws-region"},
    )
    if not settings.lake:
        raise UserInputError("No lake given: use --lake s3://bucket/prefix (or VANTA_LAKE).")
    database = check_database_name(
        settings.glue_database, source=settings.source_of("glue_database")
    )
    catalog = GlueCatalog(region=settings.aws_region)
    with open_lake(settings.lake) as lake:
        if args.action == "sync":
            result = sync_catalog(
                catalog, lake, database, projection=args.projection, prune=args.prune
            )
            print(render_sync(result))
        else:
            status = catalog_status(catalog, lake, database)
            if args.format == "json":
                print(json.dumps(status.to_dict(), indent=2))
            else:
                print(render_status(status))
    return 0


# --------------------------------------------------------------------------------------------
# Rendering


def _days(days: Sequence[date] | Sequence[str]) -> str:
    labels = [day.isoformat() if isinstance(day, date) else day for day in days]
    if len(labels) <= SHOW_DAYS:
        return ", ".join(labels)
    return f"{', '.join(labels[: SHOW_DAYS - 1])}, … {labels[-1]} ({len(labels)} in all)"


def _committed(days: Sequence[date]) -> str:
    if not days:
        return "no committed days yet"
    span = days[0].isoformat() if len(days) == 1 else f"{days[0]} … {days[-1]}"
    return f"{len(days)} committed day{'s' if len(days) != 1 else ''} ({span})"


def render_sync(result: CatalogSync) -> str:
    lines = [
        f"Glue database {result.database}, lake {result.lake}: {_committed(result.committed_days)}."
    ]
    registered = sum(t.registered + len(t.added) for t in result.tables)
    if not result.changed:
        lines.append(
            f"Nothing changed: the catalog already matches the lake ({len(result.tables)} "
            f"tables, {registered} partitions registered)."
        )
    else:
        if result.database_created:
            lines.append(f"  database {result.database}: created")
        width = max(len(t.name) for t in result.tables)
        for table in result.tables:
            what = table.action
            if table.reasons:
                what += f" ({'; '.join(table.reasons)})"
            if table.unpartitioned:
                parts = "the latest state, no partitions"
            elif table.projection:
                parts = "partitions projected by Athena, none registered"
            elif table.added:
                parts = f"+{len(table.added)} partition(s): {_days(table.added)}"
            else:
                parts = "no partitions to add"
            if table.removed:
                parts += f"; removed {len(table.removed)}: {_days(table.removed)}"
            lines.append(f"  {table.name:<{width}}  {what}; {parts}")
        added = sum(len(t.added) for t in result.tables)
        if any(t.projection for t in result.tables):
            lines.append(f"Done: {added} partition(s) registered; projected tables need none.")
        else:
            lines.append(f"Done: {added} partition(s) registered, {registered} in all.")
    for table in result.tables:
        if table.extra:
            lines.append(
                f"  note: {table.name} has {len(table.extra)} registered partition(s) that no "
                f"committed day backs: {_days(table.extra)} (kept; --prune removes them)"
            )
    return "\n".join(lines)


def render_status(status: CatalogStatus) -> str:
    lines = [
        f"Glue database {status.database}, lake {status.lake}: {_committed(status.committed_days)}."
    ]
    if not status.database_exists:
        lines.append(f"The database {status.database} does not exist.")
        lines.append(_fix_hint(status))
        return "\n".join(lines)
    header = ("TABLE", "EXISTS", "COLUMNS", "REGISTERED", "COMMITTED", "MISSING", "EXTRA")
    rows = [header]
    for table in status.tables:
        rows.append(
            (
                table.name,
                "yes" if table.exists else "no",
                ("ok" if not table.columns else f"{len(table.columns)} differ")
                if table.exists
                else "-",
                "projected" if table.projection else str(table.registered),
                str(table.committed),
                "-" if table.projection else str(len(table.missing)),
                "-" if table.projection else str(len(table.extra)),
            )
            if not table.unpartitioned
            else (
                table.name,
                "yes" if table.exists else "no",
                ("ok" if not table.columns else f"{len(table.columns)} differ")
                if table.exists
                else "-",
                "latest",
                "-",
                "-",
                "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    problems = []
    for table in status.tables:
        if not table.exists:
            problems.append(f"{table.name}: the table does not exist")
            continue
        problems += [f"{table.name}: {drift.describe()}" for drift in table.columns]
        problems += [
            f"{table.name}: {what} differs from the lake's definition" for what in table.differences
        ]
        if table.missing:
            problems.append(f"{table.name}: committed, not registered: {_days(table.missing)}")
        if table.extra:
            problems.append(f"{table.name}: registered, not committed: {_days(table.extra)}")
    if problems:
        lines.append("Drift:")
        lines += [f"  {problem}" for problem in problems]
        lines.append(_fix_hint(status))
    else:
        lines.append("In sync: the catalog matches the lake.")
    return "\n".join(lines)


def _fix_hint(status: CatalogStatus) -> str:
    return (
        f"Fix with: vanta-vuln-stats catalog sync --lake {status.lake} "
        f"--database {status.database} (add --prune to remove extra partitions)"
    )
