"""``vanta-vuln-stats query list|show|run``: the named SQL queries.

``list`` names every query with its description and parameters (``--format json``: an array of
objects with ``name``, ``description`` and ``parameters``). ``show NAME`` prints the Athena SQL
as written, nothing else. ``run NAME --param key=value ...`` runs it on DuckDB over the lake
(default) or on Athena. stdout carries only the result (a table, a JSON array of row objects,
or CSV with a header); the resolved parameters, the cost line and notices go to stderr. Bad
names or values exit 2 with one line saying what is accepted (mapped in ``cli.main``).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any, TextIO

from vanta_vuln_stats.errors import UserInputError
from vanta_vuln_stats.query.engines import QueryEngine
from vanta_vuln_stats.query.named import (
    NamedQuery,
    get_query,
    load_queries,
    parse_assignments,
)

DESCRIPTION = """\
Named SQL queries over the lake, written once in Athena SQL against the Glue tables and run by
Athena or, locally, by DuckDB over the lake's committed files (a directory or S3)."""

EPILOG = """\
Examples:
  vanta-vuln-stats query list
  vanta-vuln-stats query show sla_due_soon
  vanta-vuln-stats query run sla_due_soon --lake ./lake --param days=3 severity=CRITICAL
  vanta-vuln-stats query run open_trend --lake s3://my-bucket/vanta --format csv
  vanta-vuln-stats query run overdue_findings --engine athena --database vanta \\
      --workgroup primary --lake s3://my-bucket/vanta --format json

Dates take YYYY-MM-DD, latest (the latest committed day), latest-N, today or today-N; times an
ISO-8601 instant or now. --lake can come from VANTA_LAKE, --database from VANTA_GLUE_DATABASE,
--workgroup from VANTA_ATHENA_WORKGROUP (default primary) and --output-location from
VANTA_ATHENA_OUTPUT_LOCATION (or the same keys in config.json)."""

ENGINES = ("duckdb", "athena")
EMPTY = "''"  # how an empty text is shown
FORMATS = ("table", "json", "csv")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``list``, ``show`` and ``run``, on the ``query`` subcommand's parser."""
    actions = parser.add_subparsers(dest="action", required=True, metavar="{list,show,run}")
    listing = actions.add_parser(
        "list",
        help="every named query, its description and parameters",
        description="Every named query: its name, description and parameters (type, default).",
    )
    listing.add_argument(
        "--format", choices=("table", "json"), default="table", help="default: table"
    )
    show = actions.add_parser(
        "show",
        help="the Athena SQL of a query, as written",
        description="Print a query's template: the Athena SQL as written (its leading comment "
        "describes the parameters), nothing else.",
    )
    show.add_argument("name", metavar="NAME", help="a named query (see: query list)")
    run = actions.add_parser(
        "run",
        help="run a query on DuckDB (the lake) or Athena",
        description="Run a named query with its parameters (every one has a default).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("name", metavar="NAME", help="a named query (see: query list)")
    run.add_argument(
        "--param",
        dest="params",
        action="extend",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="a parameter's value (repeatable; several may follow one --param)",
    )
    run.add_argument(
        "--engine",
        choices=ENGINES,
        default="duckdb",
        help="duckdb: the lake read locally (default); athena: Athena over the Glue catalog",
    )
    run.add_argument(
        "--lake",
        metavar="PATH_OR_S3_URI",
        help="the lake: a directory or s3://bucket/prefix (env VANTA_LAKE); on Athena, where "
        "'latest' is read from (else from Glue's partitions)",
    )
    run.add_argument(
        "--database", metavar="NAME", help="Athena: the Glue database (env VANTA_GLUE_DATABASE)"
    )
    run.add_argument(
        "--workgroup",
        metavar="NAME",
        help="Athena: the workgroup (env VANTA_ATHENA_WORKGROUP, default primary)",
    )
    run.add_argument(
        "--output-location",
        metavar="S3_URI",
        help="Athena: s3:// prefix for results (env VANTA_ATHENA_OUTPUT_LOCATION; default the "
        "workgroup's)",
    )
    run.add_argument("--aws-region", metavar="REGION", help="Athena and Glue region (AWS_REGION)")
    run.add_argument("--format", choices=FORMATS, default="table", help="default: table")
    run.add_argument("--config", metavar="FILE", help="settings file (default ./config.json)")
    for sub in (listing, show, run):
        sub.add_argument("--verbose", action="store_true", help="log each step and tracebacks")


def run(args: argparse.Namespace) -> int:
    if args.action == "list":
        queries = list(load_queries().values())
        if args.format == "json":
            print(json.dumps([query.to_dict() for query in queries], indent=2))
        else:
            sys.stdout.write(render_list(queries))
        return 0
    if args.action == "show":
        sys.stdout.write(get_query(args.name).sql)
        return 0
    return _run_query(args)


# --------------------------------------------------------------------------------------------
# run


def _run_query(args: argparse.Namespace) -> int:
    from vanta_vuln_stats.config.settings import load_settings
    from vanta_vuln_stats.query.engines import run_named_query

    query = get_query(args.name)
    given = parse_assignments(args.params, query=query)
    settings = load_settings(
        {
            "lake": args.lake,
            "glue_database": args.database,
            "athena_workgroup": args.workgroup,
            "athena_output_location": args.output_location,
            "aws_region": args.aws_region,
        },
        config_file=args.config,
        flag_names={
            "lake": "--lake",
            "glue_database": "--database",
            "athena_workgroup": "--workgroup",
            "athena_output_location": "--output-location",
            "aws_region": "--aws-region",
        },
    )
    with _engine(args.engine, settings) as engine:
        resolved, output = run_named_query(engine, query, given)
    err = sys.stderr
    err.write(f"{query.name}: {_describe_values(query, resolved.values, resolved.defaults_used)}\n")
    for notice in output.notices:
        err.write(f"{notice}\n")
    write_rows(output.columns, output.rows, args.format, sys.stdout)
    err.write(_cost_line(engine.name, output, settings.lake) + "\n")
    return 0


def _engine(name: str, settings: Any) -> QueryEngine:
    from vanta_vuln_stats.query.engines import AthenaEngine, DuckDBEngine, glue_latest, lake_latest

    if name == "duckdb":
        if not settings.lake:
            raise UserInputError(
                "No lake given: use --lake DIR or s3://bucket/prefix (or VANTA_LAKE)."
            )
        return DuckDBEngine(settings.lake)
    from vanta_vuln_stats.query.athena import client_from_settings

    client = client_from_settings(settings)
    if settings.lake:
        latest = lake_latest(settings.lake)
    else:
        latest = glue_latest(client.database, region=settings.aws_region)
    return AthenaEngine(client, latest)


def _describe_values(query: NamedQuery, values: dict[str, Any], defaults: Sequence[str]) -> str:
    """``as_of=2026-11-06 (default latest), days=3``: what the query ran with."""
    parts = []
    for parameter in query.parameters:
        text = _text(values[parameter.name]) or EMPTY
        if parameter.name in defaults:
            same = text in (parameter.default, EMPTY)
            shown = "default" if same else f"default {parameter.default}"
            text += f" ({shown})"
        parts.append(f"{parameter.name}={text}")
    return ", ".join(parts) if parts else "no parameters"


def _cost_line(engine: str, output: Any, lake: str | None) -> str:
    if output.bytes_scanned is None:
        return f"{len(output.rows)} row(s)."
    rows = f"{len(output.rows)} row(s)"
    if output.estimated:
        return (
            f"{rows} from DuckDB over {lake}; on Athena this query would scan about "
            f"{_size(output.bytes_scanned)} (${output.cost_usd:.6f}, with Athena's 10 MB "
            "minimum)."
        )
    return f"{rows}; Athena scanned {_size(output.bytes_scanned)} (${output.cost_usd:.6f})."


def _size(count: int) -> str:
    value = float(count)
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{count:,} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError


# --------------------------------------------------------------------------------------------
# Output


def write_rows(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], form: str, out: TextIO
) -> None:
    """``rows`` as a table, a JSON array of row objects or CSV (a header, then the rows)."""
    if form == "json":
        objects = [
            {column: _json_value(value) for column, value in zip(columns, row, strict=True)}
            for row in rows
        ]
        out.write(json.dumps(objects, indent=2) + "\n")
    elif form == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_csv_value(value) for value in row])
        out.write(buffer.getvalue())
    else:
        out.write(render_table(columns, rows))


def render_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Aligned columns (numbers to the right), a header line, no wrapping."""
    cells = [[_text(value) for value in row] for row in rows]
    widths = [
        max([len(column), *(len(row[i]) for row in cells)]) for i, column in enumerate(columns)
    ]
    numbers = int | float | Decimal
    numeric = [
        any(isinstance(row[i], numbers) for row in rows)
        and all(isinstance(row[i], numbers) or row[i] is None for row in rows)
        for i in range(len(columns))
    ]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            value.rjust(widths[i]) if numeric[i] else value.ljust(widths[i])
            for i, value in enumerate(values)
        ).rstrip()

    lines = [line([column.upper() for column in columns])]
    lines += [line(row) for row in cells]
    if not rows:
        lines.append("(no rows)")
    return "\n".join(lines) + "\n"


def render_list(queries: Sequence[NamedQuery]) -> str:
    """Each query's name and summary, then its parameters: name, type, default."""
    lines: list[str] = []
    for query in queries:
        lines.append(f"{query.name}: {query.summary}")
        width = max((len(p.name) for p in query.parameters), default=0)
        type_width = max((len(p.type_label) for p in query.parameters), default=0)
        for parameter in query.parameters:
            lines.append(
                f"    {parameter.name:<{width}}  {parameter.type_label:<{type_width}}  "
                f"default {parameter.default or EMPTY}"
            )
        lines.append("")
    lines.append("vanta-vuln-stats query show NAME: a query's SQL and what its parameters mean.")
    return "\n".join(lines) + "\n"


def _iso_time(value: datetime) -> str:
    from vanta_vuln_stats.model.records import timestamp_to_iso

    # Athena returns the lake's timestamps without a zone; they are UTC.
    return timestamp_to_iso(value if value.tzinfo is not None else value.replace(tzinfo=UTC))


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return _iso_time(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list | tuple):
        return [_json_value(item) for item in value]
    if isinstance(value, bytes):
        return value.hex()
    return value


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return json.dumps(_json_value(value))
    converted = _json_value(value)
    return converted


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(value)
    if isinstance(value, list | tuple):
        return ", ".join(_text(item) for item in value)
    converted = _json_value(value)
    return str(converted)
