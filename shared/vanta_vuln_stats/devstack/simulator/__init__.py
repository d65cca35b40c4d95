"""The Vanta API simulator: a real HTTP server on loopback serving a seeded, realistic tenant.

    from vanta_vuln_stats.devstack.simulator import SimulatorConfig, VantaSimulator

    with VantaSimulator(SimulatorConfig(records=10_000, rate_limit=0)) as sim:
        sim.url  # http://127.0.0.1:PORT; token at /oauth/token, data under /v1

tenant.py generates the records, faults.py holds the injectable faults, server.py serves them
and command.py is the ``vanta-vuln-stats simulator`` subcommand.
"""

from vanta_vuln_stats.devstack.simulator.faults import FaultConfig, parse_fault_spec
from vanta_vuln_stats.devstack.simulator.server import (
    RequestRecord,
    SimulatorConfig,
    VantaSimulator,
)
from vanta_vuln_stats.devstack.simulator.tenant import BASE_DATE, MALFORMED_KINDS, Tenant

__all__ = [
    "BASE_DATE",
    "MALFORMED_KINDS",
    "FaultConfig",
    "RequestRecord",
    "SimulatorConfig",
    "Tenant",
    "VantaSimulator",
    "parse_fault_spec",
]
