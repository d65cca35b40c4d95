"""``vanta-vuln-stats simulator``: run the Vanta API simulator in the foreground.

The first line on stdout is ``Vanta API simulator listening on http://HOST:PORT`` (flushed), so
a script can start it with ``--port 0`` and read the address. It serves until SIGINT or SIGTERM,
then exits 0. The client secret is never printed.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import date
from types import FrameType

from vanta_vuln_stats.devstack.simulator.faults import FAULT_SPEC_HELP, parse_fault_spec
from vanta_vuln_stats.devstack.simulator.server import SimulatorConfig, VantaSimulator
from vanta_vuln_stats.errors import ConfigError, CredentialsError, VantaVulnStatsError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The simulator's options, on the subcommand's parser."""
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: %(default)s; loopback only unless you mean it)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=0,
        help="port to listen on; 0 picks a free one, printed on the first line (default: 0)",
    )
    parser.add_argument(
        "--records",
        type=int,
        default=1000,
        help="open vulnerabilities in the tenant at its base date; remediations (about 1.5x) "
        "and assets (about 1/20) follow (default: %(default)s)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=7,
        help="seed of the generated tenant: the same seed serves the same data "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--client-id",
        default=None,
        help="OAuth client id the simulator accepts (default: $VANTA_CLIENT_ID; required)",
    )
    parser.add_argument(
        "--client-secret",
        default=None,
        help="OAuth client secret the simulator accepts (default: $VANTA_CLIENT_SECRET; "
        "required). Never printed.",
    )
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=50,
        metavar="N",
        help="data requests per minute per client before 429 + Retry-After; 0 = unlimited "
        "(default: %(default)s, like Vanta)",
    )
    parser.add_argument(
        "--token-rate-limit",
        type=int,
        default=5,
        metavar="N",
        help="token requests per minute per client id; 0 = unlimited (default: %(default)s)",
    )
    parser.add_argument(
        "--token-lifetime",
        type=int,
        default=3600,
        metavar="SECONDS",
        help="lifetime of access tokens; expires_in reports one second less, like Vanta "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--faults",
        default="",
        metavar="SPEC",
        help="faults to inject (default: none): " + FAULT_SPEC_HELP.replace("%", "%%"),
    )
    parser.add_argument(
        "--as-of",
        default=None,
        metavar="YYYY-MM-DD",
        help="date the tenant's clock shows: later days add new findings and fix, deactivate "
        "or re-score others (default: the base date, 2026-11-01)",
    )
    parser.add_argument(
        "--remediation-severity-case",
        choices=("upper", "lower"),
        default="upper",
        help="casing of remediation severities (Vanta's docs and data disagree) "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--cache-pages",
        action="store_true",
        help="serve each page from memory after it was first rendered (for benchmarks of a "
        "client: the server's own work then costs almost nothing)",
    )


def build_config(args: argparse.Namespace) -> SimulatorConfig:
    """The SimulatorConfig the options describe; raises CredentialsError or ConfigError."""
    client_id = args.client_id or os.environ.get("VANTA_CLIENT_ID")
    client_secret = args.client_secret or os.environ.get("VANTA_CLIENT_SECRET")
    missing = [
        option
        for option, value in (("--client-id", client_id), ("--client-secret", client_secret))
        if not value
    ]
    if missing:
        names = " and ".join(missing)
        raise CredentialsError(
            f"the simulator needs {names} (or VANTA_CLIENT_ID / VANTA_CLIENT_SECRET in the "
            "environment): they are the credentials it will accept"
        )
    as_of = None
    if args.as_of:
        try:
            as_of = date.fromisoformat(args.as_of)
        except ValueError:
            raise ConfigError(f"--as-of must be a date YYYY-MM-DD, got {args.as_of!r}") from None
    for option, value in (
        ("--records", args.records),
        ("--rate-limit", args.rate_limit),
        ("--token-rate-limit", args.token_rate_limit),
    ):
        if value < 0:
            raise ConfigError(f"{option} must be >= 0, got {value}")
    if args.token_lifetime < 1:
        raise ConfigError(f"--token-lifetime must be >= 1 second, got {args.token_lifetime}")
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port must be from 0 to 65535, got {args.port}")
    return SimulatorConfig(
        records=args.records,
        seed=args.seed,
        client_id=client_id,  # type: ignore[arg-type]
        client_secret=client_secret,  # type: ignore[arg-type]
        rate_limit=args.rate_limit,
        rate_window=60.0,
        token_rate_limit=args.token_rate_limit,
        token_rate_window=60.0,
        token_lifetime=args.token_lifetime,
        as_of=as_of,
        faults=parse_fault_spec(args.faults or ""),
        remediation_severity_case=args.remediation_severity_case,
        cache_pages=args.cache_pages,
    )


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM; returns the exit code (0)."""
    config = build_config(args)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {
        signum: signal.signal(signum, request_stop) for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        try:
            simulator = VantaSimulator(config, host=args.host, port=args.port).start()
        except OSError as exc:
            raise ConfigError(f"cannot listen on {args.host}:{args.port}: {exc}") from None
        try:
            print(f"Vanta API simulator listening on {simulator.url}", flush=True)
            tenant = simulator.tenant
            rate = f"{config.rate_limit}/min" if config.rate_limit else "unlimited"
            print(
                f"tenant: {tenant.records} vulnerabilities, {tenant.asset_count} assets, "
                f"seed {tenant.seed}, as of {simulator.as_of}; client id {config.client_id}; "
                f"rate limit {rate}; faults: {config.faults.describe()}",
                flush=True,
            )
            while not stop.wait(0.5):
                pass
        finally:
            simulator.stop()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    print("Vanta API simulator stopped", flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry point: ``python -m vanta_vuln_stats.devstack.simulator.command``."""
    parser = argparse.ArgumentParser(
        prog="vanta-vuln-stats simulator",
        description="Run the Vanta API simulator (a local stand-in for the Vanta REST API).",
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except VantaVulnStatsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
