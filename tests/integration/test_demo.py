"""``make demo`` end to end on a small tenant: the stack deployed into emulated AWS, two days of
the workflow, the report from the lake in S3, and the notification as received."""

from __future__ import annotations

from datetime import timedelta

from vanta_vuln_stats.devstack import demo
from vanta_vuln_stats.devstack.simulator import BASE_DATE


def test_the_demo_runs_the_workflow_for_two_days(monkeypatch, capsys) -> None:
    monkeypatch.setenv("DEMO_RECORDS", "600")
    assert demo.main([]) == 0
    out = capsys.readouterr().out
    day1, day2 = BASE_DATE, BASE_DATE + timedelta(days=1)
    assert out.startswith("Emulated AWS listening on http://127.0.0.1:")
    for day in (day1, day2):
        assert f"execution sync-{day}" in out
    assert out.count("SUCCEEDED in ") == 2
    for step in ("Prepare", "FetchPages", "PlanChunks", "WriteParquet", "Finalize", "Notify"):
        assert f"-> {step}\n" in out
    assert "Vanta vulnerability statistics" in out  # the report, read from the lake in S3
    assert f"Subject: Vanta sync {day2}: " in out
    assert f"The Vanta vulnerability sync for {day2} finished and was committed." in out
    assert f":white_check_mark: *Vanta sync {day2}*" in out


def test_run_workflow_is_one_day(monkeypatch, capsys) -> None:
    monkeypatch.setenv("DEMO_RECORDS", "300")
    assert demo.main(["--days", "1"]) == 0
    out = capsys.readouterr().out
    assert out.count("SUCCEEDED in ") == 1
    assert f"execution sync-{BASE_DATE}" in out
