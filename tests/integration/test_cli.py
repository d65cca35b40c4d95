"""The command through its real entry point, against the Vanta API simulator over HTTP.

Every statistic is compared with an independent computation over the records the simulator
served (its tenant is the ground truth), never with numbers written into the test.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import sqlite3
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from vanta_vuln_stats import cli
from vanta_vuln_stats.devstack.simulator import BASE_DATE, SimulatorConfig, VantaSimulator

from .legacy_reference import assert_legacy_equal, legacy_statistics

CLIENT_ID = "vci_cli_test"
CLIENT_SECRET = "vcs_cli_test_secret_value"
COMPLETE = {"includeVulnerabilitiesWithoutSlas": "true"}
CREDENTIAL_FLAGS = ["--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET]


@dataclass
class Run:
    code: int
    out: str
    err: str


def run_cli(*args: str) -> Run:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(args))
    return Run(code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def sim() -> Iterator[VantaSimulator]:
    config = SimulatorConfig(
        records=1500,
        seed=11,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        rate_limit=0,
        token_rate_limit=0,
    )
    with VantaSimulator(config) as server:
        yield server


@pytest.fixture(scope="module")
def truth(sim: VantaSimulator) -> list[dict[str, Any]]:
    """The vulnerabilities the simulator serves today: what every statistic is checked against."""
    return list(sim.tenant.iter_records("vulnerabilities", params=COMPLETE))


@pytest.fixture(scope="module")
def synced_db(sim: VantaSimulator, tmp_path_factory: pytest.TempPathFactory) -> Path:
    database = tmp_path_factory.mktemp("synced") / "vulns.db"
    result = run_cli(
        "--sync",
        "--database",
        str(database),
        "--api-url",
        sim.url,
        "--requests-per-minute",
        "0",
        "--format",
        "json",
        *CREDENTIAL_FLAGS,
    )
    assert result.code == 0, result.err
    return database


def stats_of(database: Path, *args: str) -> dict[str, Any]:
    result = run_cli("--use-cache", "--database", str(database), "--format", "json", *args)
    assert result.code == 0, result.err
    return json.loads(result.out)


# -- Sync, then statistics equal to an independent computation -----------------------------------


def test_sync_stores_exactly_what_was_served(synced_db: Path, sim: VantaSimulator, truth) -> None:
    with sqlite3.connect(synced_db) as conn:
        stored = {row[0] for row in conn.execute("SELECT id FROM vulnerabilities")}
        remediations = {r[0] for r in conn.execute("SELECT id FROM vulnerability_remediations")}
        assets = {row[0] for row in conn.execute("SELECT id FROM vulnerable_assets")}
    assert stored == {r["id"] for r in truth}
    assert remediations == {r["id"] for r in sim.tenant.iter_records("vulnerability_remediations")}
    assert assets == {r["id"] for r in sim.tenant.iter_records("vulnerable_assets")}


def test_statistics_equal_an_independent_computation(synced_db: Path, truth) -> None:
    stats = stats_of(synced_db)
    assert_legacy_equal(stats, legacy_statistics(truth))
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    open_records = [r for r in truth if not r.get("deactivateMetadata")]
    overdue = [r for r in open_records if r["remediateByDate"] and r["remediateByDate"] < now]
    assert stats["overdue"]["total"] == len(overdue)


def test_output_file_has_the_earlier_tools_keys_and_shapes(synced_db: Path, truth, tmp_path):
    target = tmp_path / "stats.json"
    result = run_cli("--use-cache", "--database", str(synced_db), "--output", str(target))
    assert result.code == 0, result.err
    assert f"Statistics exported to {target}" in result.out
    written = json.loads(target.read_text())
    assert_legacy_equal(written, legacy_statistics(truth))
    assert all(key.isupper() for key in written["by_severity"])
    assert all(key.islower() for key in written["average_cvss_by_severity"])


# -- Filters: each one against the same predicate applied to the served records ------------------


def _day_after(text: str) -> str:
    return (datetime.fromisoformat(text) + timedelta(days=1)).date().isoformat()


FILTER_CASES = {
    "severity": (
        ["--severity", "critical", "HIGH"],
        lambda r: r["severity"] in ("CRITICAL", "HIGH"),
    ),
    "identified": (
        ["--date-identified-start", "2026-06-01", "--date-identified-end", "2026-08-31"],
        lambda r: "2026-06-01" <= r["firstDetectedDate"] < "2026-09-01",
    ),
    "identified-instant": (
        ["--date-identified-start", "2026-07-15T12:00:00Z"],
        lambda r: r["firstDetectedDate"] >= "2026-07-15T12:00:00",
    ),
    "remediated": (
        ["--date-remediated-start", "2026-09-01", "--date-remediated-end", "2026-10-15"],
        lambda r: (
            bool(r.get("deactivateMetadata"))
            and "2026-09-01" <= r["deactivateMetadata"]["deactivatedOnDate"] < "2026-10-16"
        ),
    ),
    "integration": (
        ["--integration", "aws", "github"],
        lambda r: r["integrationId"] in ("aws", "github"),
    ),
    "fixable": (["--fixable"], lambda r: r["isFixable"]),
    "not-fixable": (["--not-fixable"], lambda r: not r["isFixable"]),
    "active": (["--status", "active"], lambda r: not r.get("deactivateMetadata")),
    "deactivated": (["--status", "deactivated"], lambda r: bool(r.get("deactivateMetadata"))),
    "combined": (
        ["--severity", "MEDIUM", "--status", "active", "--fixable"],
        lambda r: r["severity"] == "MEDIUM" and not r.get("deactivateMetadata") and r["isFixable"],
    ),
}


@pytest.mark.parametrize("case", sorted(FILTER_CASES))
def test_filter_matches_independent_predicate(synced_db: Path, truth, case: str) -> None:
    flags, predicate = FILTER_CASES[case]
    expected = [r for r in truth if predicate(r)]
    assert 0 < len(expected) < len(truth), "the case must actually filter"
    assert_legacy_equal(stats_of(synced_db, *flags), legacy_statistics(expected))


def test_cve_filter_matches_name_or_related_ids_case_insensitively(synced_db: Path, truth):
    grouped = next(r for r in truth if r["relatedVulns"])
    needle = grouped["relatedVulns"][0].lower()
    expected = [
        r
        for r in truth
        if needle in r["name"].lower() or any(needle in v.lower() for v in r["relatedVulns"])
    ]
    assert grouped in expected
    assert stats_of(synced_db, "--cve", needle)["total_count"] == len(expected)


def test_asset_filter_and_export_of_the_filtered_records(synced_db: Path, truth, tmp_path):
    asset = Counter(r["targetId"] for r in truth).most_common(1)[0][0]
    expected = [r for r in truth if r["targetId"] == asset]
    export = tmp_path / "vulns.json"
    result = run_cli(
        "--use-cache",
        "--database",
        str(synced_db),
        "--asset-id",
        asset,
        "--export-vulnerabilities",
        str(export),
        "--format",
        "json",
    )
    assert result.code == 0, result.err
    assert json.loads(result.out.split("\nVulnerabilities exported")[0])["total_count"] == len(
        expected
    )
    exported = json.loads(export.read_text())
    assert sorted(r["id"] for r in exported) == sorted(r["id"] for r in expected)
    assert {json.dumps(r, sort_keys=True) for r in exported} == {
        json.dumps(r, sort_keys=True) for r in expected
    }


# -- Formats and the other flags -----------------------------------------------------------------


def test_formats_show_the_same_numbers(synced_db: Path, truth) -> None:
    total = len(truth)
    table = run_cli("--use-cache", "--database", str(synced_db), "--format", "table")
    assert table.code == 0 and f"{total:,}" in table.out and "By severity" in table.out
    csv = run_cli("--use-cache", "--database", str(synced_db), "--format", "csv")
    assert csv.code == 0
    lines = csv.out.splitlines()
    assert lines[0] == "section,key,value"
    assert f"summary,total_count,{total}" in lines


def test_top_limits_the_top_lists(synced_db: Path) -> None:
    stats = stats_of(synced_db, "--top", "3")
    for key in ("top_packages", "top_assets", "top_cves"):
        assert 0 < len(stats[key]) <= 3


def test_verbose_shows_settings_and_sources_but_no_secret(synced_db: Path) -> None:
    result = run_cli(
        "--use-cache",
        "--database",
        str(synced_db),
        "--verbose",
        "--page-size",
        "50",
        "--timeout",
        "12",
        "--max-retries",
        "3",
        "--batch-size",
        "200",
        "--storage-backend",
        "sqlite",
        "--format",
        "json",
    )
    assert result.code == 0, result.err
    assert "setting page_size = 50 (flag --page-size)" in result.err
    assert "setting batch_size = 200 (flag --batch-size)" in result.err
    assert "Using cached data" in result.err
    assert CLIENT_SECRET not in result.err + result.out


def test_help_and_version_exit_zero(capsys) -> None:
    for flag in ("--help", "--version"):
        assert cli.main([flag]) == 0
    out = capsys.readouterr().out
    for flag in (
        "--sync",
        "--use-cache",
        "--severity",
        "--date-remediated-end",
        "--cve",
        "--asset-id",
        "--export-vulnerabilities",
        "--storage-backend",
        "--format",
    ):
        assert flag in out


def test_default_uses_the_cache_when_there_is_one(synced_db: Path, sim: VantaSimulator, tmp_path):
    copy = tmp_path / "copy.db"
    shutil.copy(synced_db, copy)
    before = len(sim.request_log)
    result = run_cli(
        "--database", str(copy), "--format", "json", "--api-url", sim.url, *CREDENTIAL_FLAGS
    )
    assert result.code == 0, result.err
    assert len(sim.request_log) == before  # no API call at all


def test_default_syncs_when_there_is_no_cache(sim: VantaSimulator, truth, tmp_path, monkeypatch):
    # Credentials from the earlier tool's file, named with --credentials.
    creds = tmp_path / "creds.env"
    creds.write_text(json.dumps({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}))
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"api_url": sim.url, "requests_per_minute": 0}))
    database = tmp_path / "fresh.db"
    before = len(sim.request_log)
    result = run_cli(
        "--database",
        str(database),
        "--credentials",
        str(creds),
        "--config",
        str(config),
        "--format",
        "json",
        "--no-progress",
    )
    assert result.code == 0, result.err
    assert len(sim.request_log) > before
    assert json.loads(result.out)["total_count"] == len(truth)
    assert "Sync Summary:" in result.err


# -- Two syncs on consecutive days record the expected changes -----------------------------------


def test_consecutive_days_record_the_expected_changes(tmp_path) -> None:
    config = SimulatorConfig(
        records=1200,
        seed=5,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        rate_limit=0,
        token_rate_limit=0,
    )
    database = tmp_path / "days.db"
    day1, day2 = BASE_DATE, BASE_DATE + timedelta(days=1)
    with VantaSimulator(config) as sim:
        common = [
            "--sync",
            "--database",
            str(database),
            "--api-url",
            sim.url,
            "--format",
            "json",
            *CREDENTIAL_FLAGS,
        ]
        assert run_cli(*common).code == 0
        sim.set_as_of(day2)
        second = run_cli(*common)
        assert second.code == 0, second.err
        before = {
            r["id"]: r
            for r in sim.tenant.iter_records("vulnerabilities", as_of=day1, params=COMPLETE)
        }
        after = {
            r["id"]: r
            for r in sim.tenant.iter_records("vulnerabilities", as_of=day2, params=COMPLETE)
        }

    def deactivated(record: dict[str, Any]) -> bool:
        return bool(record.get("deactivateMetadata"))

    def without_sighting(record: dict[str, Any]) -> dict[str, Any]:
        # lastDetectedDate only says the scanner saw the finding again: not a change.
        return {k: v for k, v in record.items() if k != "lastDetectedDate"}

    both = before.keys() & after.keys()
    expected = {
        "discovered": after.keys() - before.keys(),
        "resolved": before.keys() - after.keys(),
        "remediated": {i for i in both if not deactivated(before[i]) and deactivated(after[i])},
        "reactivated": {i for i in both if deactivated(before[i]) and not deactivated(after[i])},
    }
    for change, ids in expected.items():
        assert ids, f"the simulated day must produce some {change} changes"
    same_state = {i for i in both if deactivated(before[i]) == deactivated(after[i])}
    # Re-scores are rare (a few a day on large tenants), so this day may have none.
    updated = {i for i in same_state if without_sighting(before[i]) != without_sighting(after[i])}
    seen_again = {i for i in same_state if before[i] != after[i]} - updated
    assert seen_again, "the simulated day must rescan some findings"
    expected["updated"] = updated
    with sqlite3.connect(database) as conn:
        last_sync = conn.execute("SELECT MAX(id) FROM sync_history").fetchone()[0]
        recorded: dict[str, set[str]] = {}
        for change, vuln_id in conn.execute(
            "SELECT change_type, vuln_id FROM vulnerability_history WHERE sync_id = ?",
            (last_sync,),
        ):
            recorded.setdefault(change, set()).add(vuln_id)
        legacy_row = conn.execute(
            "SELECT vulnerabilities_count, new_count, updated_count, remediated_count "
            "FROM sync_history WHERE id = ?",
            (last_sync,),
        ).fetchone()
    assert recorded == {change: ids for change, ids in expected.items() if ids}
    assert legacy_row == (
        len(after),
        len(expected["discovered"]),
        len(expected["updated"]),
        len(expected["remediated"]),
    )


# -- A database written by the earlier tool ------------------------------------------------------


def test_database_of_the_earlier_tool_opens_and_its_statistics_are_right(truth, tmp_path):
    from vanta_vuln_stats.devstack.legacy import legacy_store

    database = tmp_path / "vanta_vulnerabilities.db"
    with contextlib.closing(sqlite3.connect(database)) as conn:
        legacy_store(conn, truth)
        original_rows = conn.execute("SELECT * FROM vulnerabilities ORDER BY id").fetchall()
        history = conn.execute("SELECT COUNT(*) FROM vulnerability_history").fetchone()[0]
    target = tmp_path / "stats.json"
    result = run_cli("--database", str(database), "--output", str(target))
    assert result.code == 0, result.err
    assert "original is kept as" in result.err
    backups = list(tmp_path.glob("vanta_vulnerabilities.db.pre-upgrade-*.bak"))
    assert len(backups) == 1
    assert_legacy_equal(json.loads(target.read_text()), legacy_statistics(truth))
    with contextlib.closing(sqlite3.connect(database)) as conn:
        columns = [c[1] for c in conn.execute("PRAGMA table_info(vulnerabilities)")][:22]
        kept = conn.execute(f"SELECT {', '.join(columns)} FROM vulnerabilities ORDER BY id")
        kept_rows = kept.fetchall()
    # Every value is kept. The upgrade may rewrite a value's form, never its meaning: JSON text
    # is compacted, and the write time (last_updated) goes from the earlier tool's naive
    # microsecond form to the store's one form, equal to the millisecond.
    json_columns = {"deactivate_metadata", "related_vulns", "related_urls", "raw_data"}

    def meaning(row: tuple[Any, ...]) -> list[Any]:
        values = []
        for name, value in zip(columns, row, strict=True):
            if name in json_columns and value is not None:
                value = json.loads(value)
            elif name == "last_updated":
                value = value.removesuffix("Z")[:23]
            values.append(value)
        return values

    assert [meaning(r) for r in kept_rows] == [meaning(r) for r in original_rows]
    with contextlib.closing(sqlite3.connect(database)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM vulnerability_history").fetchone()[0] == history
    with contextlib.closing(sqlite3.connect(backups[0])) as conn:
        assert conn.execute("SELECT * FROM vulnerabilities ORDER BY id").fetchall() == original_rows


# -- Bad input: one clear line, exit code 2, no traceback; a failed sync exits 1 -----------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--severity", "SEVERE"], "invalid choice 'SEVERE'"),
        (["--use-cache", "--date-identified-start", "2024-13-45"], "Invalid date '2024-13-45'"),
        (["--use-cache", "--date-remediated-end", "yesterday"], "Invalid date 'yesterday'"),
        (["--sync", "--use-cache"], "contradict each other"),
        (["--use-cache", "--status", "open"], "argument --status: invalid choice"),
        (["--use-cache", "--page-size", "500"], "setting 'page_size' from flag --page-size"),
        (["--use-cache", "--fixable", "--not-fixable"], "not allowed with argument"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(args, message, tmp_path) -> None:
    result = run_cli("--database", str(tmp_path / "x.db"), *args)
    assert result.code == 2
    assert message in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert "Traceback" not in result.err


def test_unreadable_database_is_exit_code_2(tmp_path) -> None:
    database = tmp_path / "not-a.db"
    database.write_text("this is not sqlite")
    result = run_cli("--use-cache", "--database", str(database))
    assert result.code == 2
    assert result.err.strip() == f"Error: The file {database} is not a SQLite database."


def test_use_cache_without_a_database_is_a_clear_error(tmp_path) -> None:
    missing = tmp_path / "none.db"
    result = run_cli("--use-cache", "--database", str(missing))
    assert result.code == 2
    assert "does not exist; run with --sync" in result.err
    assert not missing.exists()
    empty = tmp_path / "empty.db"
    from vanta_vuln_stats.storage import SQLiteStorage

    SQLiteStorage(empty).close()
    result = run_cli("--use-cache", "--database", str(empty))
    assert result.code == 2
    assert "holds no synced data yet; run with --sync" in result.err


def test_missing_credentials_name_every_source_and_leave_no_file(tmp_path) -> None:
    database = tmp_path / "new.db"
    result = run_cli(
        "--sync", "--database", str(database), "--credentials", str(tmp_path / "absent.env")
    )
    assert result.code == 2
    assert result.err == (
        "Error: No Vanta credentials found: looked at --client-id and --client-secret, the "
        "VANTA_CLIENT_ID and VANTA_CLIENT_SECRET environment variables and the credentials file "
        f"{tmp_path / 'absent.env'} (not found).\n"
    )
    assert not database.exists()


def test_wrong_secret_is_exit_code_2_without_the_secret(sim: VantaSimulator, tmp_path) -> None:
    wrong = "vcs_wrong_secret_value_123"
    result = run_cli(
        "--sync",
        "--database",
        str(tmp_path / "w.db"),
        "--api-url",
        sim.url,
        "--client-id",
        CLIENT_ID,
        "--client-secret",
        wrong,
    )
    assert result.code == 2
    assert "client credentials" in result.err
    assert wrong not in result.err
    assert "Traceback" not in result.err


def test_unreachable_api_is_a_failed_sync_with_exit_code_1(tmp_path) -> None:
    import socket

    with socket.socket() as probe:  # a loopback port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run_cli(
        "--sync",
        "--database",
        str(tmp_path / "u.db"),
        "--max-retries",
        "1",
        "--api-url",
        f"http://127.0.0.1:{port}",
        *CREDENTIAL_FLAGS,
    )
    assert result.code == 1
    assert "Error:" in result.err
    assert "Traceback" not in result.err
