"""Rendering of the statistics: terminal report, JSON and CSV, on a small hand-made stats dict."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from rich.console import Console

from vanta_vuln_stats.stats.render import SEVERITY_STYLES, render_report, to_csv, to_json


def sample_stats() -> dict[str, Any]:
    return {
        "total_count": 1234,
        "by_severity": {"CRITICAL": 34, "HIGH": 200, "MEDIUM": 600, "LOW": 400},
        "by_integration": {"snyk": 1000, "UNKNOWN": 234},
        "fixable": 700,
        "not_fixable": 534,
        "deactivated": 111,
        "active": 1123,
        "unique_assets_count": 87,
        "unique_cves_count": 456,
        "average_cvss_by_severity": {"critical": 9.4567, "high": 7.5, "low": 2.25},
        "open_findings": {"total": 1001, "by_severity": {"CRITICAL": 30, "HIGH": 171}},
        "overdue": {"total": 77, "by_severity": {"CRITICAL": 12, "HIGH": 65}},
        "open_age_buckets": {
            "buckets": {
                "0-30": 5,
                "31-90": 6,
                "91-180": 7,
                "181-365": 8,
                ">365": 975,
                "unknown": 0,
            },
            "by_severity": {
                "CRITICAL": {
                    "0-30": 1,
                    "31-90": 2,
                    "91-180": 3,
                    "181-365": 4,
                    ">365": 20,
                    "unknown": 0,
                },
            },
        },
        "top_packages": [{"package": "pkg:npm/lodash@4.17.20", "count": 42}],
        "top_assets": [
            {"asset_id": "asset-9", "name": "build-server", "count": 31},
            {"asset_id": "asset-3", "name": None, "count": 29},
        ],
        "top_cves": [{"cve": "CVE-2024-3094", "count": 19}],
        "remediation_sla": {
            "on_time": 300,
            "late": 100,
            "without_deadline": 9,
            "compliance_pct": 75.0,
            "by_severity": {
                "CRITICAL": {"on_time": 3, "late": 1, "without_deadline": 0, "compliance_pct": 75.0}
            },
            "by_month": {
                "2025-05": {
                    "on_time": 10,
                    "late": 30,
                    "without_deadline": 0,
                    "compliance_pct": 25.0,
                }
            },
        },
        "time_to_remediate": {
            "overall": {"count": 400, "mean_days": 41.25, "median_days": 30.55},
            "by_severity": {"CRITICAL": {"count": 4, "mean_days": 3.5, "median_days": 2.75}},
        },
        "trends": {
            "days": [
                {
                    "date": "2025-06-01",
                    "syncs": 1,
                    "reported": 1300,
                    "discovered": 1300,
                    "updated": 0,
                    "remediated": 0,
                    "reactivated": 0,
                    "resolved": 0,
                    "open_by_severity": {"HIGH": 1100},
                    "open_total": 1100,
                },
                {
                    "date": "2025-06-02",
                    "syncs": 2,
                    "reported": 1234,
                    "discovered": 4,
                    "updated": 3,
                    "remediated": 13,
                    "reactivated": 2,
                    "resolved": 70,
                    "open_by_severity": {"HIGH": 1001},
                    "open_total": 1001,
                },
            ],
            "approximate": ["open_by_severity", "open_total"],
            "note": "Open counts are estimated from the change history.",
        },
        "filters": {"severities": ["CRITICAL", "HIGH"], "statuses": ["active", "deactivated"]},
        "generated_at": "2025-06-02T08:00:00.000Z",
        "data_as_of": "2025-06-02T06:05:00.000Z",
    }


def render_plain(stats: dict[str, Any]) -> str:
    buffer = io.StringIO()
    render_report(stats, console=Console(file=buffer, width=140, force_terminal=False))
    return buffer.getvalue()


def test_report_shows_every_section_with_its_numbers() -> None:
    text = render_plain(sample_stats())

    assert "\x1b[" not in text, "no colour codes when the console is not a terminal"
    for expected in (
        "1,234",  # total
        "1,123",  # active
        "456",  # unique CVEs
        "9.46",  # average CVSS of CRITICAL, 2 decimals
        "75.0%",  # SLA compliance
        "25.0%",  # SLA of 2025-05
        "41.2",  # mean days to remediate overall
        "2.8",  # CRITICAL median
        "30.6",  # median days to remediate overall
        "975",  # >365 bucket
        "pkg:npm/lodash@4.17.20",
        "build-server",
        "CVE-2024-3094",
        "2025-06-02",
        "70",  # resolved on day 2
        "data as of 2025-06-02T06:05:00.000Z",
        "severities=CRITICAL, HIGH",
    ):
        assert expected in text, expected
    for title in (
        "Totals",
        "By severity",
        "By integration",
        "Remediation SLA compliance",
        "Overdue",
        "Time to remediate",
        "Open findings by age",
        "Top packages",
        "Top assets",
        "Top CVEs",
        "Trend by synced day",
    ):
        assert title in text, title


def cells(text: str, first: str) -> list[str]:
    """The cells of the table row whose first cell is ``first`` (the first such row)."""
    for line in text.splitlines():
        parts = [part.strip() for part in line.split("│")[1:-1]]
        if parts and parts[0] == first:
            return parts
    raise AssertionError(f"no row {first!r}")


def test_severity_rows_carry_their_counts_and_averages() -> None:
    text = render_plain(sample_stats())

    # Severity, findings, average CVSS, open, overdue.
    assert cells(text, "CRITICAL") == ["CRITICAL", "34", "9.46", "30", "12"]
    assert cells(text, "MEDIUM") == ["MEDIUM", "600", "-", "0", "0"]
    assert cells(text, "snyk") == ["snyk", "1,000"]


def test_report_on_a_terminal_colours_severities() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, width=140, force_terminal=True, color_system="standard")
    render_report(sample_stats(), console=console)

    assert "\x1b[1;31mCRITICAL" in buffer.getvalue()  # bold red
    assert SEVERITY_STYLES == {
        "CRITICAL": "bold red",
        "HIGH": "red",
        "MEDIUM": "yellow",
        "LOW": "green",
    }


def test_report_leaves_out_sections_it_has_no_data_for() -> None:
    legacy_only = {
        key: sample_stats()[key]
        for key in ("total_count", "by_severity", "by_integration", "fixable", "not_fixable",
                    "deactivated", "active", "unique_assets_count", "unique_cves_count",
                    "average_cvss_by_severity")
    }  # fmt: skip
    text = render_plain(legacy_only)

    assert "1,234" in text and "By integration" in text
    assert "Remediation SLA" not in text and "Trend" not in text


def test_trend_shows_only_the_last_days() -> None:
    stats = sample_stats()
    day = stats["trends"]["days"][0]
    stats["trends"]["days"] = [
        day | {"date": f"2025-05-{n:02d}", "discovered": 1000 + n} for n in range(1, 21)
    ]
    text = render_plain(stats)

    assert "last 14 of 20" in text
    assert "2025-05-20" in text and "2025-05-07" in text and "2025-05-06" not in text


def test_approximate_trend_figures_are_marked_with_the_reason() -> None:
    text = render_plain(sample_stats())
    assert "Open*" in text
    assert "* Open counts are estimated from the change history." in text

    exact = sample_stats()
    del exact["trends"]["approximate"], exact["trends"]["note"]
    text = render_plain(exact)
    assert "Open*" not in text and "estimated" not in text


def test_to_json_is_indented_and_round_trips() -> None:
    stats = sample_stats()
    text = to_json(stats)

    assert json.loads(text) == stats
    assert text.startswith('{\n  "total_count": 1234,')


def test_to_csv_flattens_every_value() -> None:
    stats = sample_stats()
    rows = list(csv.reader(io.StringIO(to_csv(stats))))

    assert rows[0] == ["section", "key", "value"]
    body = {(section, key): value for section, key, value in rows[1:]}
    assert body[("summary", "total_count")] == "1234"
    assert body[("summary", "data_as_of")] == "2025-06-02T06:05:00.000Z"
    assert body[("by_severity", "CRITICAL")] == "34"
    assert body[("average_cvss_by_severity", "critical")] == "9.4567"
    assert body[("remediation_sla", "by_month.2025-05.late")] == "30"
    assert body[("time_to_remediate", "overall.median_days")] == "30.55"
    assert body[("top_assets", "2.asset_id")] == "asset-3"
    assert body[("top_assets", "2.name")] == ""
    assert body[("trends", "days.2.resolved")] == "70"
    assert body[("trends", "approximate.2")] == "open_total"
    assert body[("filters", "severities.2")] == "HIGH"
    assert len(body) == len(rows) - 1, "every (section, key) is unique"


@pytest.mark.parametrize("empty", [{}, {"by_severity": {}}])
def test_empty_statistics_render_without_error(empty: dict[str, Any]) -> None:
    assert "Vanta vulnerability statistics" in render_plain(empty)
    assert to_csv(empty).splitlines()[0] == "section,key,value"
