"""The main command: sync when asked (or when the store is empty), then statistics.

This is the earlier tool's flow with its flags' meanings kept; the CLI module only parses.
Sync progress and summaries go to stderr, the report to stdout, so ``--format json`` output can
be piped.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from vanta_vuln_stats.cli_options import (
    SETTING_FLAGS,
    credentials_from_args,
    parse_date_bound,
    setting_overrides,
)
from vanta_vuln_stats.errors import UserInputError
from vanta_vuln_stats.model.fields import Resource
from vanta_vuln_stats.pipeline.sync import SyncFailed, SyncInterrupted, run_sync

if TYPE_CHECKING:
    from rich.console import Console

    from vanta_vuln_stats.config.credentials import Credentials
    from vanta_vuln_stats.config.settings import Settings
    from vanta_vuln_stats.pipeline.sync import SyncResult
    from vanta_vuln_stats.storage import StorageBackend, SyncSummary, VulnerabilityFilter


def parse_run_date(text: str) -> date:
    """``--run-date``: a calendar day, not later than tomorrow in UTC (a user ahead of UTC may
    give their own today)."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise UserInputError(f"Invalid --run-date {text!r}: use YYYY-MM-DD.") from None
    latest = datetime.now(UTC).date() + timedelta(days=1)
    if day > latest:
        raise UserInputError(
            f"--run-date {day} is in the future; a sync can only count for a day that has begun."
        )
    return day


def build_filter(args: argparse.Namespace) -> VulnerabilityFilter:
    from vanta_vuln_stats.storage import VulnerabilityFilter

    def bound(name: str, *, end: bool) -> Any:
        text = getattr(args, name)
        return parse_date_bound(text, end=end) if text else None

    return VulnerabilityFilter(
        severities=args.severity,
        identified_start=bound("date_identified_start", end=False),
        identified_end=bound("date_identified_end", end=True),
        remediated_start=bound("date_remediated_start", end=False),
        remediated_end=bound("date_remediated_end", end=True),
        cve=args.cve,
        asset_id=args.asset_id,
        integration_ids=args.integration,
        statuses=args.status,
        fixable=args.fixable,
    )


def run_report(args: argparse.Namespace) -> int:
    from rich.console import Console

    from vanta_vuln_stats.config.settings import load_settings
    from vanta_vuln_stats.storage import open_backend

    if args.sync and args.use_cache:
        raise UserInputError("--sync and --use-cache contradict each other; give one of them.")
    if args.top < 0:
        raise UserInputError("--top must be zero or more.")
    if getattr(args, "engine", "local") == "athena":
        return _athena_report(args)
    settings = load_settings(
        setting_overrides(args), config_file=args.config, flag_names=SETTING_FLAGS
    )
    filters = build_filter(args)  # bad filter values fail before any work is done
    run_date = parse_run_date(args.run_date) if args.run_date else None
    err = Console(stderr=True, highlight=False)
    if args.verbose:
        for name, value, source in settings.describe():
            err.print(f"[dim]setting {name} = {value} ({source})[/]")

    # Credentials are checked before the store is opened when a sync is certain, so a missing
    # secret does not leave an empty database file behind.
    # (A lake is never created by opening it, so only the SQLite file matters here.)
    uses_file = settings.storage_backend in ("sqlite", "hybrid")
    exists = Path(settings.database).exists() if uses_file else True
    where = f"The database {settings.database}" if uses_file else f"The lake {settings.lake}"
    credentials = None
    if args.sync or (not args.use_cache and not exists):
        credentials = credentials_from_args(args, settings)
    if args.use_cache and not exists:
        raise UserInputError(f"{where} does not exist; run with --sync to create it.")
    with open_backend(
        settings.storage_backend, database=settings.database, lake=settings.lake
    ) as store:
        for notice in getattr(store, "notices", []):
            err.print(notice)
        sync = args.sync or (not args.use_cache and not store.has_data())
        if sync:
            if not args.sync and args.verbose:
                err.print("No cached data found: syncing from the Vanta API.")
            credentials = credentials or credentials_from_args(args, settings)
            _sync(args, settings, credentials, store, err, run_date=run_date)
        elif not store.has_data():
            raise UserInputError(f"{where} holds no synced data yet; run with --sync.")
        elif args.verbose:
            last = store.last_sync()
            when = last.finished_at or last.started_at if last else None
            err.print(f"Using cached data (last sync {when}); --sync fetches fresh data.")
        _output(args, store, filters, err)
    return 0


# Statistics queries Athena runs at once (each is independent; the client waits for each).
ATHENA_STATISTICS_WORKERS = 4


def _athena_report(args: argparse.Namespace) -> int:
    """The statistics on Athena over the Glue catalog of the lake on S3 (stats/athena.py).
    Reads what the catalog shows; a sync or an export needs the store, so they are refused."""
    from vanta_vuln_stats.config.settings import load_settings
    from vanta_vuln_stats.query.athena import client_from_settings
    from vanta_vuln_stats.stats.athena import AthenaStatistics

    if args.sync:
        raise UserInputError(
            "--engine athena reads the catalogued lake: sync without it first, then run "
            "vanta-vuln-stats catalog sync."
        )
    if args.export_vulnerabilities:
        raise UserInputError(
            "--export-vulnerabilities reads the lake's backups, not Athena: run it without "
            "--engine athena."
        )
    overrides = setting_overrides(args)
    # --database names the Glue database here, never a SQLite file.
    overrides["database"] = None
    overrides.update(
        glue_database=args.database,
        athena_workgroup=args.workgroup,
        athena_output_location=args.output_location,
    )
    flags = dict(SETTING_FLAGS)
    flags.update(
        glue_database="--database",
        athena_workgroup="--workgroup",
        athena_output_location="--output-location",
    )
    settings = load_settings(overrides, config_file=args.config, flag_names=flags)
    filters = build_filter(args)
    lake = settings.lake or ""
    if settings.storage_backend not in ("s3", "lake") or not lake.startswith("s3://"):
        raise UserInputError(
            "--engine athena runs on the lake on S3 through its Glue catalog: give "
            "--storage-backend s3 --lake s3://bucket/prefix (or VANTA_LAKE)."
        )
    client = client_from_settings(settings)
    spent = {"queries": 0, "bytes": 0, "cost": 0.0, "reused": 0}
    lock = threading.Lock()

    def run(sql: str, values: Any) -> tuple[list[str], list[tuple[Any, ...]]]:
        result = client.query(sql, list(values))
        with lock:
            spent["queries"] += 1
            spent["bytes"] += result.bytes_scanned
            spent["cost"] += result.cost_usd
            spent["reused"] += int(result.reused)
        return result.column_names, result.rows

    from vanta_vuln_stats.stats import compute_statistics

    stats = compute_statistics(
        AthenaStatistics(run, workers=ATHENA_STATISTICS_WORKERS), filters, top_n=args.top
    )
    _print_statistics(args, stats)
    reused = f", {spent['reused']} reused" if spent["reused"] else ""
    print(
        f"Athena ran {spent['queries']} statistics queries{reused} in {client.database}: scanned "
        f"{spent['bytes']:,} bytes (${spent['cost']:.6f}).",
        file=sys.stderr,
    )
    return 0


def _sync(
    args: argparse.Namespace,
    settings: Settings,
    credentials: Credentials,
    store: StorageBackend,
    err: Console,
    *,
    run_date: date | None = None,
) -> None:
    from vanta_vuln_stats.vanta.factory import client_from_settings

    if args.verbose:
        # One line whatever its length (paths), so logs and tests can find it whole.
        err.print(
            f"Using {credentials.source}; API {settings.api_url}", markup=False, soft_wrap=True
        )
    previous = store.last_sync(complete_only=True)

    def expected(resource: Resource) -> int | None:
        return previous.counts(resource).fetched if previous else None

    client = client_from_settings(settings, credentials)
    show_progress = not args.no_progress and err.is_terminal
    # Into a lake alone, the sync runs the pipeline's steps, as the scheduled workflow does.
    lake = settings.storage_backend in ("s3", "lake")
    try:
        with client, _progress(err, enabled=show_progress, verbose=args.verbose) as progress:
            if lake:
                from vanta_vuln_stats.pipeline.local import sync_lake

                result = sync_lake(
                    client,
                    store.location.uri,  # type: ignore[attr-defined]
                    run_date=run_date,
                    progress=progress,
                    expected=expected,
                )
            else:
                result = run_sync(
                    client,
                    store,
                    batch_size=settings.batch_size,
                    progress=progress,
                    expected=expected,
                    run_date=run_date,
                )
    except SyncInterrupted as exc:
        err.print("Sync interrupted. " + _kept(exc.summary, lake=lake))
        raise
    except SyncFailed as exc:
        err.print(_kept(exc.summary, lake=lake))
        raise
    _print_sync_summary(
        result, client.stats, err, kept_in_lake=settings.storage_backend in ("s3", "lake")
    )


def _kept(summary: SyncSummary | None, *, lake: bool = False) -> str:
    if lake or summary is None:
        return (
            "Nothing of this run was committed: the lake is as it was before it (the run's "
            "sync_history row says why). Sync again to complete it."
        )
    return (
        f"Kept {summary.stored:,} records stored before it stopped "
        f"({summary.discovered:,} new vulnerabilities); the next sync completes the rest."
    )


def _print_sync_summary(
    result: SyncResult, client_stats: Any, err: Console, *, kept_in_lake: bool = False
) -> None:
    summary = result.summary
    err.print("\nSync Summary:")
    err.print(f"  Total: {summary.counts(Resource.VULNERABILITIES).fetched:,}")
    err.print(f"  New: {summary.discovered:,}")
    err.print(f"  Updated: {summary.updated:,}")
    err.print(f"  Remediated: {summary.remediated:,}")
    err.print(f"  Reactivated: {summary.reactivated:,}")
    err.print(f"  Resolved: {summary.resolved:,}")
    for resource, tally in result.tallies.items():
        rejected = f", {tally.rejected:,} rejected" if tally.rejected else ""
        err.print(
            f"  {resource.value}: {tally.fetched:,} fetched, {tally.stored:,} stored{rejected}"
        )
    err.print(
        f"  {client_stats.requests:,} API requests, {client_stats.retries:,} retried, "
        f"{client_stats.rate_limited:,} rate-limited; "
        f"{result.records_per_second:,.0f} records/s over {result.seconds:.1f} s\n"
    )
    if summary.rejected:
        where = "under rejects/ in the lake" if kept_in_lake else "in the rejected_records table"
        err.print(
            f"[yellow]{summary.rejected:,} malformed records were rejected and kept {where} "
            "with their reasons.[/]"
        )


def _output(
    args: argparse.Namespace,
    store: StorageBackend,
    filters: VulnerabilityFilter,
    err: Console,
) -> None:
    from vanta_vuln_stats.stats import compute_statistics

    with store.query_connection() as conn:
        stats = compute_statistics(conn, filters, top_n=args.top)
    _print_statistics(args, stats)
    if args.export_vulnerabilities:
        count = _export(args.export_vulnerabilities, store, filters)
        print(f"Vulnerabilities exported to {args.export_vulnerabilities} ({count:,} records)")


def _print_statistics(args: argparse.Namespace, stats: dict[str, Any]) -> None:
    from rich.console import Console

    from vanta_vuln_stats.stats import render_report, to_csv, to_json

    if args.output:
        _write_text(args.output, to_json(stats))
        print(f"Statistics exported to {args.output}")
    elif args.format == "json":
        sys.stdout.write(to_json(stats) + "\n")
    elif args.format == "csv":
        sys.stdout.write(to_csv(stats))
    else:
        render_report(stats, console=Console(highlight=False))


def _write_text(path: str, text: str) -> None:
    try:
        Path(path).write_text(text + ("" if text.endswith("\n") else "\n"), encoding="utf-8")
    except OSError as exc:
        raise UserInputError(f"Cannot write {path}: {exc.strerror}.") from None


def _export(path: str, store: StorageBackend, filters: VulnerabilityFilter) -> int:
    """The filtered raw records as a JSON array, streamed so memory stays flat."""
    count = 0
    try:
        with open(path, "w", encoding="utf-8") as out:
            out.write("[")
            for record in store.iter_vulnerabilities(filters):
                out.write(",\n  " if count else "\n  ")
                out.write(json.dumps(record))
                count += 1
            out.write("\n]\n" if count else "]\n")
    except OSError as exc:
        raise UserInputError(f"Cannot write {path}: {exc.strerror}.") from None
    return count


@contextmanager
def _progress(err: Console, *, enabled: bool, verbose: bool) -> Iterator[Any]:
    if not enabled:
        yield _LogProgress(err) if verbose else None
        return
    from vanta_vuln_stats.progress import RichSyncProgress

    with RichSyncProgress(err) as progress:
        yield progress


class _LogProgress:
    """Plain lines for --verbose when stderr is not a terminal (CI logs, pipes)."""

    def __init__(self, out: Console | IO[str]) -> None:
        self._out = out

    def resource_started(self, resource: Resource, expected: int | None) -> None:
        hint = f" (about {expected:,} last time)" if expected else ""
        self._out.print(f"Fetching {resource.value}{hint}...")

    def page_stored(self, resource: Resource, records: int, total: int) -> None:
        pass

    def resource_finished(self, resource: Resource, total: int) -> None:
        self._out.print(f"Fetched {total:,} {resource.value}.")
