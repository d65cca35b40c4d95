"""Fault settings of the simulator, the --faults spec, and the simulator's configuration checks."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from vanta_vuln_stats.devstack.simulator import FaultConfig, SimulatorConfig, parse_fault_spec
from vanta_vuln_stats.devstack.simulator.faults import DEFAULT_ERROR_STATUSES
from vanta_vuln_stats.errors import ConfigError, UserInputError


def test_faults_are_off_by_default() -> None:
    faults = FaultConfig()
    assert not faults.enabled
    assert faults.error_statuses == DEFAULT_ERROR_STATUSES == (500, 502, 503, 504)
    assert faults.error_burst_count == 3
    assert faults.describe() == "none"


def test_the_documented_spec_parses_into_every_field() -> None:
    faults = parse_fault_spec(
        "error_rate=0.05,burst_pages=3;7,burst_count=2,slow_rate=0.01,"
        "slow_seconds=0.2,drop_rate=0.01,malformed_rate=0.002"
    )
    assert faults == FaultConfig(
        error_rate=0.05,
        error_burst_pages=frozenset({3, 7}),
        error_burst_count=2,
        slow_rate=0.01,
        slow_seconds=0.2,
        drop_rate=0.01,
        malformed_rate=0.002,
    )
    assert faults.enabled


def test_spec_accepts_spaces_long_names_statuses_and_a_seed() -> None:
    faults = FaultConfig.parse(
        " error_burst_pages = 2 ; 4 , error_burst_count=1, error_statuses=503;504, seed=9 ,"
    )
    assert faults.error_burst_pages == frozenset({2, 4})
    assert faults.error_burst_count == 1
    assert faults.error_statuses == (503, 504)
    assert faults.seed == 9


def test_describe_round_trips_through_the_parser() -> None:
    faults = FaultConfig(error_rate=0.1, error_burst_pages=frozenset({5, 2}), drop_rate=0.5, seed=3)
    text = faults.describe()
    assert text == "error_rate=0.1,burst_pages=2;5,drop_rate=0.5,seed=3"
    assert parse_fault_spec(text) == faults


@pytest.mark.parametrize("spec", ["", "  ", ","])
def test_an_empty_spec_means_no_faults(spec: str) -> None:
    assert parse_fault_spec(spec) == FaultConfig()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("drop=0.1", "unknown key 'drop'"),
        ("error_rate", "expected key=value, got 'error_rate'"),
        ("=0.1", "expected key=value"),
        ("error_rate=abc", "error_rate='abc' is not a number"),
        ("error_rate=1.5", "error_rate must be a probability in [0, 1], got 1.5"),
        ("drop_rate=-0.1", "drop_rate must be a probability"),
        ("slow_rate=nan", "slow_rate must be a probability"),
        ("slow_seconds=-1", "slow_seconds must be >= 0"),
        ("burst_pages=a;b", "burst_pages='a;b' is not a ';'-separated list of integers"),
        ("burst_pages=0", "error_burst_pages must hold page numbers >= 1"),
        ("burst_count=0", "error_burst_count must be an integer >= 1"),
        ("burst_count=1.5", "burst_count='1.5' is not an integer"),
        ("error_statuses=404", "error_statuses must be one or more 5xx statuses"),
        ("seed=x", "seed='x' is not an integer"),
        ("error_rate=0.1,error_rate=0.2", "key 'error_rate' is given twice"),
    ],
)
def test_invalid_specs_name_the_bad_key_or_value(spec: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_fault_spec(spec)
    assert message in str(caught.value)
    assert str(caught.value).startswith("--faults: ")
    assert caught.value.exit_code == 2


def test_fault_config_validates_direct_construction() -> None:
    with pytest.raises(ConfigError, match="malformed_rate"):
        FaultConfig(malformed_rate=2.0)
    with pytest.raises(ConfigError, match="error_rate"):
        FaultConfig(error_rate=True)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="error_statuses"):
        FaultConfig(error_statuses=())
    with pytest.raises(ConfigError, match="seed"):
        FaultConfig(seed="7")  # type: ignore[arg-type]


def test_burst_pages_and_statuses_are_normalised() -> None:
    faults = FaultConfig(error_burst_pages={1, 2}, error_statuses=[500])  # type: ignore[arg-type]
    assert faults.error_burst_pages == frozenset({1, 2})
    assert faults.error_statuses == (500,)


# -- SimulatorConfig ----------------------------------------------------------------------------


def test_simulator_config_defaults_are_realistic() -> None:
    config = SimulatorConfig()
    assert (config.rate_limit, config.rate_window) == (50, 60.0)
    assert (config.token_rate_limit, config.token_rate_window) == (5, 60.0)
    assert config.token_lifetime == 3600
    assert config.faults == FaultConfig()
    assert config.remediation_severity_case == "upper"
    assert "vcs_" not in repr(config)  # the secret stays out of logs and tracebacks


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"records": -1}, "records must be >= 0"),
        ({"records": 1.5}, "records must be an integer"),
        ({"seed": "7"}, "seed must be an integer"),
        ({"client_id": ""}, "client_id must be a non-empty string"),
        ({"client_secret": None}, "client_secret must be a non-empty string"),
        ({"rate_limit": -5}, "rate_limit must be >= 0"),
        ({"token_rate_limit": True}, "token_rate_limit must be an integer"),
        ({"rate_window": 0}, "rate_window must be a number > 0"),
        ({"token_rate_window": float("inf")}, "token_rate_window must be a number > 0"),
        ({"token_lifetime": 0}, "token_lifetime must be a number > 0"),
        ({"as_of": "2026-11-01"}, "as_of must be a date"),
        ({"as_of": datetime(2026, 11, 1)}, "as_of must be a date"),
        ({"faults": {"error_rate": 0.1}}, "faults must be a FaultConfig"),
        ({"remediation_severity_case": "title"}, "remediation_severity_case"),
    ],
)
def test_simulator_config_rejects_invalid_settings(
    overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        SimulatorConfig(**overrides)  # type: ignore[arg-type]
    assert isinstance(caught.value, UserInputError)


def test_simulator_config_accepts_zero_as_unlimited_and_a_date() -> None:
    config = SimulatorConfig(records=0, rate_limit=0, token_rate_limit=0, as_of=date(2026, 12, 1))
    assert config.records == 0 and config.rate_limit == 0 and config.token_rate_limit == 0
