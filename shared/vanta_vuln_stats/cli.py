"""The ``vanta-vuln-stats`` command.

Without a subcommand it behaves as the earlier ``vanta_vuln_stats.py`` did (same flags, same
meaning): sync from Vanta when asked or when there is no cache, then print statistics with
filters. ``vanta-vuln-stats simulator`` runs the local Vanta API simulator; ``catalog`` keeps
the Glue catalog of a lake on S3; ``migrate`` moves a SQLite store into a Parquet lake;
``query`` runs the named SQL queries (query/command.py); ``devstack`` serves emulated AWS and
deploys the stack into it (devstack/command.py). ``--stack-name`` with ``--trigger-lambda-sync``,
``--lambda-status`` or ``--lambda-logs`` works on a deployed stack, ``--deploy-lambda`` deploys
one (cloud/command.py).

Errors are mapped to exit codes in one place (``main``): a user mistake prints one line and exits
2, a failed sync exits 1, an interrupted one 130; tracebacks only with ``--verbose``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from vanta_vuln_stats import __version__
from vanta_vuln_stats.errors import VantaVulnStatsError

log = logging.getLogger("vanta_vuln_stats")

SEVERITY_CHOICES = ("CRITICAL", "HIGH", "MEDIUM", "LOW")
STATUS_CHOICES = ("active", "deactivated", "resolved", "all")
SUBCOMMANDS = ("simulator", "catalog", "migrate", "query", "devstack")

EPILOG = """\
Examples:
  vanta-vuln-stats                          statistics from the cache, or a first sync
  vanta-vuln-stats --sync                   fetch fresh data from Vanta, then statistics
  vanta-vuln-stats --use-cache --severity CRITICAL HIGH
  vanta-vuln-stats --date-identified-start 2024-01-01 --cve CVE-2024-1234
  vanta-vuln-stats --status active --fixable --format csv
  vanta-vuln-stats --output stats.json --export-vulnerabilities vulns.json

Deployed stack (--stack-name NAME or VANTA_STACK_NAME; region --aws-region or AWS_REGION):
  vanta-vuln-stats --stack-name vvs --trigger-lambda-sync [--run-date 2024-06-01] [--no-wait]
  vanta-vuln-stats --stack-name vvs --lambda-status [--format json]
  vanta-vuln-stats --stack-name vvs --lambda-logs [--function fetch_pages] [--since 30m] [--follow]
  vanta-vuln-stats --deploy-lambda [--environment dev|staging|production]   (samconfig.toml)

Credentials: the client id and the client secret are each taken from the first place
that has it: --client-id / --client-secret, VANTA_CLIENT_ID / VANTA_CLIENT_SECRET, the
--credentials file (JSON with client_id and client_secret), an AWS Secrets Manager secret
(--secret-id / VANTA_SECRET_ID). So --client-id with VANTA_CLIENT_SECRET works, and keeps the
secret out of the process list.

Other commands:
  vanta-vuln-stats simulator --help         a local Vanta API simulator for trials and tests
  vanta-vuln-stats catalog --help           the AWS Glue catalog of a lake on S3 (sync, status)
  vanta-vuln-stats migrate --help           a SQLite store into an empty Parquet lake (folder or
                                            S3), with --dry-run, --validate, --rollback RUN_ID
  vanta-vuln-stats query --help             named SQL queries (list, show, run) on the lake with
                                            DuckDB, or on Athena
  vanta-vuln-stats devstack --help          emulated AWS (moto, in-process Lambdas) and the
                                            stack of template.yaml deployed into it
"""


class _SeverityAction(argparse.Action):
    """--severity accepts one or more severities in any case (the earlier tool's choices)."""

    def __call__(self, parser, namespace, values, option_string=None):  # type: ignore[override]
        chosen = []
        for value in values:
            upper = value.upper()
            if upper not in SEVERITY_CHOICES:
                parser.error(
                    f"argument --severity: invalid choice {value!r} "
                    f"(choose from {', '.join(SEVERITY_CHOICES)})"
                )
            chosen.append(upper)
        setattr(namespace, self.dest, chosen)


class _Parser(argparse.ArgumentParser):
    """argparse, with a bad flag reported as one line (not the whole usage) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"Error: {message}. See {self.prog} --help.\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="vanta-vuln-stats",
        description=(
            "Sync vulnerabilities, remediations and vulnerable assets from the Vanta API into a "
            "local store, and print statistics with filters."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")

    source = parser.add_argument_group("data source")
    source.add_argument(
        "--sync",
        action="store_true",
        help="fetch fresh data from the Vanta API before the statistics",
    )
    source.add_argument(
        "--use-cache",
        action="store_true",
        help="use the data already in the store; never call the API",
    )
    source.add_argument(
        "--credentials",
        metavar="FILE",
        help="credentials file: JSON with client_id and client_secret "
        "(default: VANTA_API_CREDENTIALS.env)",
    )
    source.add_argument("--client-id", metavar="ID", help="Vanta application client id")
    source.add_argument(
        "--client-secret",
        metavar="SECRET",
        help="Vanta client secret (visible to other local users in the process "
        "list: prefer VANTA_CLIENT_SECRET or the credentials file)",
    )
    source.add_argument(
        "--secret-id",
        metavar="NAME_OR_ARN",
        help="AWS Secrets Manager secret holding client_id and client_secret",
    )
    source.add_argument(
        "--token-store",
        metavar="NAME_OR_ARN",
        help="AWS Secrets Manager secret that holds the Vanta access token of a deployed stack "
        "(its VantaTokenSecretArn output): a sync here then shares the scheduled sync's token "
        "instead of revoking it (env VANTA_TOKEN_STORE; see docs/TROUBLESHOOTING.md)",
    )
    source.add_argument(
        "--aws-region", metavar="REGION", help="AWS region of --secret-id and of --stack-name"
    )
    source.add_argument(
        "--api-url",
        metavar="URL",
        help="Vanta API host (default https://api.vanta.com; env VANTA_API_URL)",
    )
    source.add_argument(
        "--page-size", type=int, metavar="N", help="records per API page, 1..100 (default 100)"
    )
    source.add_argument(
        "--requests-per-minute",
        type=int,
        metavar="N",
        help="client-side request budget per minute, 0 = unlimited (default 50)",
    )
    source.add_argument(
        "--timeout", type=float, metavar="SECONDS", help="HTTP read timeout (default 30)"
    )
    source.add_argument(
        "--max-retries",
        type=int,
        metavar="N",
        help="attempts per request on server errors and dropped connections",
    )
    source.add_argument(
        "--config",
        metavar="FILE",
        help="settings file (default: ./config.json if present; env VANTA_VULN_STATS_CONFIG)",
    )

    store = parser.add_argument_group("store")
    store.add_argument(
        "--database", metavar="FILE", help="SQLite database (default: vanta_vulnerabilities.db)"
    )
    store.add_argument(
        "--storage-backend",
        choices=("sqlite", "s3", "lake", "hybrid"),
        help="where data is kept: sqlite (default), lake (Parquet in a directory or on S3), "
        "s3 (the lake on S3), hybrid (SQLite and the lake, written by one sync)",
    )
    store.add_argument(
        "--lake",
        metavar="PATH_OR_S3_URI",
        help="the Parquet lake: a directory or s3://bucket/prefix (env VANTA_LAKE)",
    )
    store.add_argument(
        "--run-date",
        metavar="YYYY-MM-DD",
        help="the day a sync counts for in every store: its lake partition, sync history and "
        "trends (default: today in UTC); back-fills land on their own date",
    )
    store.add_argument(
        "--engine",
        choices=("local", "athena"),
        default="local",
        help="where the statistics are computed: local (the store's own engine: SQLite, or "
        "DuckDB over the lake; default) or athena (Athena over the Glue catalog of the lake on "
        "S3; --database then names the Glue database, env VANTA_GLUE_DATABASE)",
    )
    store.add_argument(
        "--workgroup",
        metavar="NAME",
        help="Athena: the workgroup (env VANTA_ATHENA_WORKGROUP, default primary)",
    )
    store.add_argument(
        "--output-location",
        metavar="S3_URI",
        help="Athena: s3:// prefix for results (env VANTA_ATHENA_OUTPUT_LOCATION; default the "
        "workgroup's)",
    )
    store.add_argument(
        "--batch-size", type=int, metavar="N", help="records written per transaction (default 1000)"
    )

    filters = parser.add_argument_group("filters")
    filters.add_argument(
        "--severity",
        nargs="+",
        action=_SeverityAction,
        metavar="SEVERITY",
        help="one or more of CRITICAL HIGH MEDIUM LOW",
    )
    filters.add_argument(
        "--date-identified-start",
        metavar="DATE",
        help="first detected on or after (YYYY-MM-DD or 2024-01-01T00:00:00Z)",
    )
    filters.add_argument(
        "--date-identified-end", metavar="DATE", help="first detected on or before"
    )
    filters.add_argument(
        "--date-remediated-start",
        metavar="DATE",
        help="deactivated (remediated, as the earlier tool counted it) on or after",
    )
    filters.add_argument("--date-remediated-end", metavar="DATE", help="deactivated on or before")
    filters.add_argument(
        "--cve",
        metavar="TEXT",
        help="case-insensitive part of the name or of a related vulnerability id",
    )
    filters.add_argument("--asset-id", metavar="ID", help="the vulnerable asset (targetId)")
    filters.add_argument(
        "--integration",
        nargs="+",
        metavar="ID",
        help="scanner integration(s), e.g. aws github qualys",
    )
    filters.add_argument(
        "--status",
        nargs="+",
        choices=STATUS_CHOICES,
        metavar="STATUS",
        help="active, deactivated, resolved (no longer reported) or all "
        "(default: active and deactivated, what Vanta reports now)",
    )
    fix = filters.add_mutually_exclusive_group()
    fix.add_argument(
        "--fixable",
        dest="fixable",
        action="store_const",
        const=True,
        help="only findings with a fix available",
    )
    fix.add_argument(
        "--not-fixable",
        dest="fixable",
        action="store_const",
        const=False,
        help="only findings without a fix",
    )

    output = parser.add_argument_group("output")
    output.add_argument(
        "--format",
        choices=("table", "json", "csv"),
        default="table",
        help="how statistics are printed (default: table)",
    )
    output.add_argument(
        "--output",
        metavar="FILE",
        help="write the statistics as JSON to FILE (the earlier tool's keys)",
    )
    output.add_argument(
        "--export-vulnerabilities",
        metavar="FILE",
        help="write the filtered vulnerabilities (raw API records) as JSON",
    )
    output.add_argument(
        "--top",
        type=int,
        default=10,
        metavar="N",
        help="entries in the top packages / assets / CVEs lists (default 10)",
    )
    output.add_argument(
        "--no-progress", action="store_true", help="no progress display during sync"
    )
    output.add_argument(
        "--verbose", action="store_true", help="show detailed progress, settings and tracebacks"
    )
    from vanta_vuln_stats.cloud import command as cloud

    cloud.add_arguments(parser)
    return parser


def _check_cloud_flags(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """The cloud commands' own flags make sense only with their command."""
    needs = {
        "--no-wait": (args.no_wait, args.trigger_lambda_sync, "--trigger-lambda-sync"),
        "--function": (args.function, args.lambda_logs, "--lambda-logs"),
        "--follow": (args.follow, args.lambda_logs, "--lambda-logs"),
        "--environment": (args.environment, args.deploy_lambda, "--deploy-lambda"),
    }
    for flag, (given, command, name) in needs.items():
        if given and not command:
            parser.error(f"{flag} goes with {name}")


def configure_logging(verbose: bool) -> None:
    from vanta_vuln_stats.config.redact import RedactingFilter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger("vanta_vuln_stats")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    root.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = "--verbose" in argv
    try:
        if argv and argv[0] in SUBCOMMANDS:
            return _run_subcommand(argv[0], argv[1:])
        parser = build_parser()
        args = parser.parse_args(argv)
        _check_cloud_flags(parser, args)
        configure_logging(args.verbose)
        from vanta_vuln_stats.cloud import command as cloud

        if cloud.requested(args):
            return cloud.run(args)
        from vanta_vuln_stats.report import run_report

        return run_report(args)
    except SystemExit as exc:  # argparse: --help, --version and bad flags (already reported)
        return exc.code if isinstance(exc.code, int) else 2
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    except VantaVulnStatsError as exc:
        if verbose:
            log.exception("failed")
        print(f"Error: {exc}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:  # an unexpected failure: one line, the traceback on request
        if verbose:
            raise
        print(
            f"Error: unexpected {type(exc).__name__}: {exc} (run with --verbose for details)",
            file=sys.stderr,
        )
        return 1


def _run_subcommand(name: str, argv: list[str]) -> int:
    if name == "simulator":
        from vanta_vuln_stats.devstack.simulator import command

        parser = _Parser(
            prog="vanta-vuln-stats simulator",
            description="A local Vanta API simulator: OAuth, cursor pagination, rate limits and "
            "injectable faults over a seeded tenant. Serves until Ctrl-C.",
        )
        command.add_arguments(parser)
        args = parser.parse_args(argv)
        configure_logging(getattr(args, "verbose", False))
        return command.run(args)
    # Each of these modules gives DESCRIPTION, EPILOG, add_arguments(parser) and run(args).
    home = COMMAND_MODULES.get(name)
    if home is None:
        raise AssertionError(name)
    from importlib import import_module

    command = import_module(home)
    parser = _Parser(
        prog=f"vanta-vuln-stats {name}",
        description=command.DESCRIPTION,
        epilog=command.EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    command.add_arguments(parser)
    args = parser.parse_args(argv)
    configure_logging(getattr(args, "verbose", False))
    return command.run(args)


COMMAND_MODULES = {
    "catalog": "vanta_vuln_stats.catalog.command",
    "migrate": "vanta_vuln_stats.storage.lake.migration.command",
    "query": "vanta_vuln_stats.query.command",
    "devstack": "vanta_vuln_stats.devstack.command",
}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
