"""``make demo`` end to end on a small tenant: two days into SQLite and the lake, the report,
and a named query over the lake."""

from __future__ import annotations

from datetime import date

from vanta_vuln_stats.devstack import demo
from vanta_vuln_stats.devstack.simulator import BASE_DATE
from vanta_vuln_stats.storage.lake import LakeStorage
from vanta_vuln_stats.storage.sqlite import SQLiteStorage


def test_the_demo_syncs_two_days_into_both_stores(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("DEMO_RECORDS", "800")
    monkeypatch.setenv("DEMO_DIR", str(tmp_path / "demo"))
    assert demo.main() == 0
    captured = capsys.readouterr()
    day1, day2 = BASE_DATE, date.fromordinal(BASE_DATE.toordinal() + 1)
    assert day1.isoformat() in captured.out and day2.isoformat() in captured.out
    assert "row(s) from DuckDB over" in captured.err  # the query's notice line
    with LakeStorage(str(tmp_path / "demo" / "lake")) as lake:
        assert list(lake.manifests()) == [day1, day2]
        lake_runs = [(run.status, run.resources) for run in lake.sync_history()]
    with SQLiteStorage(tmp_path / "demo" / "vanta_vulnerabilities.db") as store:
        sqlite_runs = [(run.status, run.resources) for run in store.sync_history()]
    assert [status for status, _ in sqlite_runs] == ["complete", "complete"]
    assert lake_runs == sqlite_runs  # one sync, the same counts in both stores
