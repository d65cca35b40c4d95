from __future__ import annotations

import json

import pytest

from vanta_vuln_stats.config.environment import Environment, detect_environment
from vanta_vuln_stats.config.settings import DEFAULT_API_URL, load_settings
from vanta_vuln_stats.errors import ConfigError


def test_defaults_when_nothing_is_set(tmp_path):
    settings = load_settings(env={})
    assert settings.api_url == DEFAULT_API_URL
    assert settings.database == "vanta_vulnerabilities.db"
    assert settings.page_size == 100
    assert settings.source_of("page_size") == "default"


def test_layers_later_wins(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"page_size": 50, "requests_per_minute": 40, "timeout": 5}))
    env = {"VANTA_REQUESTS_PER_MINUTE": "30", "VANTA_TIMEOUT": "7.5"}
    settings = load_settings({"timeout": 9}, config_file=config, env=env)
    assert settings.page_size == 50
    assert settings.source_of("page_size") == f"config file {config}"
    assert settings.requests_per_minute == 30
    assert (
        settings.source_of("requests_per_minute")
        == "environment variable VANTA_REQUESTS_PER_MINUTE"
    )
    assert settings.timeout == 9.0
    assert settings.source_of("timeout") == "flag --timeout"


def test_config_json_in_cwd_is_read_and_env_var_can_point_elsewhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"database": "cwd.db"}))
    assert load_settings(env={}).database == "cwd.db"
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"database": "other.db"}))
    assert load_settings(env={"VANTA_VULN_STATS_CONFIG": str(other)}).database == "other.db"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"VANTA_PAGE_SIZE": "abc"},
            "setting 'page_size' from environment variable VANTA_PAGE_SIZE",
        ),
        ({"VANTA_PAGE_SIZE": "500"}, "500 is out of range (1..100)"),
        ({"VANTA_API_URL": "ftp://x"}, "setting 'api_url' from environment variable VANTA_API_URL"),
        ({"VANTA_STORAGE_BACKEND": "mongo"}, "'mongo' is not one of sqlite"),
    ],
)
def test_invalid_values_name_setting_and_source(env, expected):
    with pytest.raises(ConfigError) as info:
        load_settings(env=env)
    assert expected in str(info.value)


def test_invalid_flag_names_the_flag():
    with pytest.raises(ConfigError, match=r"from flag --page-size: 0 is out of range"):
        load_settings({"page_size": 0}, env={}, flag_names={"page_size": "--page-size"})


def test_bad_config_files_are_clear(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match=r"is not valid JSON \(line 1, column 2\)"):
        load_settings(config_file=broken, env={})
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps({"pagesize": 3}))
    with pytest.raises(ConfigError, match="unknown setting\\(s\\) pagesize"):
        load_settings(config_file=unknown, env={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(config_file=tmp_path / "missing.json", env={})


def test_api_url_accepts_the_documented_v1_base():
    settings = load_settings(env={"VANTA_API_URL": "https://api.vanta-gov.com/v1/"})
    assert settings.api_url == "https://api.vanta-gov.com"


def test_environment_detection():
    assert detect_environment({}) is Environment.LOCAL
    lambda_env = {"AWS_LAMBDA_FUNCTION_NAME": "fetch", "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001"}
    assert detect_environment(lambda_env) is Environment.LAMBDA
    assert load_settings(env=lambda_env).environment is Environment.LAMBDA


def test_example_config_holds_only_known_settings():
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "config.example.json"
    settings = load_settings(config_file=example, env={})
    assert settings.source_of("page_size").startswith("config file")
