"""The statistics as a terminal report, as JSON and as CSV.

``render_report`` prints rich tables (severities in colour on a terminal; rich writes plain text
when the console is not one). ``to_json`` is what ``--output stats.json`` writes: the earlier
tool wrote ``json.dump(stats, f, indent=2)`` and this writes the same form. ``to_csv`` flattens
every statistic to ``section,key,value`` rows: scalar statistics under the section ``summary``,
nested ones under their own key with a dotted path (list items by 1-based position).

Rendering reads the dict only; a key that is missing (stats from an older version, or a
statistic the store could not compute) leaves its section out rather than failing.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from vanta_vuln_stats.model.fields import SEVERITIES

__all__ = ["SEVERITY_STYLES", "render_report", "to_csv", "to_json"]

SEVERITY_STYLES: dict[str, str] = {
    "CRITICAL": "bold red",
    "HIGH": "red",
    "MEDIUM": "yellow",
    "LOW": "green",
}

# How many of the most recent synced days the report shows (the JSON and CSV hold them all).
TREND_DAYS_SHOWN = 14
SLA_MONTHS_SHOWN = 12


def render_report(stats: Mapping[str, Any], *, console: Console) -> None:
    """Print the statistics as a readable report: totals, severities with average CVSS,
    integrations, SLA compliance, overdue findings, time to remediate, age of open findings,
    the top lists and the trend over the last synced days."""
    console.print(Text("Vanta vulnerability statistics", style="bold"))
    details = []
    if stats.get("data_as_of"):
        details.append(f"data as of {stats['data_as_of']}")
    if stats.get("generated_at"):
        details.append(f"generated {stats['generated_at']}")
    if stats.get("filters"):
        details.append("filters: " + _describe_filters(stats["filters"]))
    if details:
        console.print(Text("; ".join(details), style="dim"))
    console.print()
    for section in (
        _totals,
        _by_severity,
        _by_integration,
        _remediation_sla,
        _sla_by_month,
        _overdue,
        _time_to_remediate,
        _age_buckets,
        _top_packages,
        _top_assets,
        _top_cves,
        _trends,
    ):
        table = section(stats)
        if table is not None:
            console.print(table)
            console.print()


def to_json(stats: Mapping[str, Any]) -> str:
    """The statistics as JSON text, indented by 2 (the earlier tool's ``--output`` form)."""
    return json.dumps(stats, indent=2)


def to_csv(stats: Mapping[str, Any]) -> str:
    """The statistics as ``section,key,value`` CSV text with a header row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("section", "key", "value"))
    for name, value in stats.items():
        if isinstance(value, Mapping | list | tuple):
            for key, leaf in _flatten(value, ""):
                writer.writerow((name, key, _csv_value(leaf)))
        else:
            writer.writerow(("summary", name, _csv_value(value)))
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------
# Sections. Each returns a table, or None when the statistics do not have that section.


def _totals(stats: Mapping[str, Any]) -> Table | None:
    if "total_count" not in stats:
        return None
    table = _table("Totals", ("", "left"), ("Findings", "right"))
    rows: list[tuple[str, Any]] = [
        ("Total", stats.get("total_count")),
        ("Active", stats.get("active")),
        ("Deactivated", stats.get("deactivated")),
        ("Open (reported, not deactivated)", _get(stats, "open_findings", "total")),
        ("Fixable", stats.get("fixable")),
        ("Not fixable", stats.get("not_fixable")),
        ("Unique CVEs", stats.get("unique_cves_count")),
        ("Unique affected assets", stats.get("unique_assets_count")),
    ]
    for label, value in rows:
        if value is not None:
            table.add_row(label, _number(value))
    return table


def _by_severity(stats: Mapping[str, Any]) -> Table | None:
    counts: Mapping[str, int] = stats.get("by_severity") or {}
    if not counts:
        return None
    averages: Mapping[str, float] = stats.get("average_cvss_by_severity") or {}
    open_counts: Mapping[str, int] = _get(stats, "open_findings", "by_severity") or {}
    overdue: Mapping[str, int] = _get(stats, "overdue", "by_severity") or {}
    table = _table(
        "By severity",
        ("Severity", "left"),
        ("Findings", "right"),
        ("Avg CVSS", "right"),
        ("Open", "right"),
        ("Overdue", "right"),
    )
    for severity in _severity_order(counts):
        average = averages.get(severity.lower())
        table.add_row(
            _severity(severity),
            _number(counts[severity]),
            "-" if average is None else f"{average:.2f}",
            _number(open_counts.get(severity, 0)),
            _number(overdue.get(severity, 0)),
        )
    return table


def _by_integration(stats: Mapping[str, Any]) -> Table | None:
    counts: Mapping[str, int] = stats.get("by_integration") or {}
    if not counts:
        return None
    table = _table("By integration", ("Integration", "left"), ("Findings", "right"))
    for integration, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        table.add_row(integration, _number(count))
    return table


def _remediation_sla(stats: Mapping[str, Any]) -> Table | None:
    sla: Mapping[str, Any] | None = stats.get("remediation_sla")
    if not sla:
        return None
    table = _sla_table("Remediation SLA compliance", "Severity")
    for severity, entry in (sla.get("by_severity") or {}).items():
        _sla_row(table, _severity(severity), entry)
    _sla_row(table, Text("All", style="bold"), sla)
    return table


def _sla_by_month(stats: Mapping[str, Any]) -> Table | None:
    months: Mapping[str, Any] = _get(stats, "remediation_sla", "by_month") or {}
    if not months:
        return None
    table = _sla_table("SLA compliance by month of remediation", "Month")
    for month in sorted(months)[-SLA_MONTHS_SHOWN:]:
        _sla_row(table, month, months[month])
    return table


def _overdue(stats: Mapping[str, Any]) -> Table | None:
    overdue: Mapping[str, Any] | None = stats.get("overdue")
    if overdue is None:
        return None
    table = _table(
        "Overdue (open past remediate-by date)", ("Severity", "left"), ("Findings", "right")
    )
    by_severity: Mapping[str, int] = overdue.get("by_severity") or {}
    for severity in _severity_order(by_severity):
        table.add_row(_severity(severity), _number(by_severity[severity]))
    table.add_row(Text("All", style="bold"), _number(overdue.get("total", 0)))
    return table


def _time_to_remediate(stats: Mapping[str, Any]) -> Table | None:
    ttr: Mapping[str, Any] | None = stats.get("time_to_remediate")
    if not ttr:
        return None
    table = _table(
        "Time to remediate (days)",
        ("Severity", "left"),
        ("Remediated", "right"),
        ("Mean", "right"),
        ("Median", "right"),
    )
    rows = [(_severity(s), entry) for s, entry in (ttr.get("by_severity") or {}).items()]
    rows.append((Text("All", style="bold"), ttr.get("overall") or {}))
    for label, entry in rows:
        table.add_row(
            label,
            _number(entry.get("count", 0)),
            _days(entry.get("mean_days")),
            _days(entry.get("median_days")),
        )
    return table


def _age_buckets(stats: Mapping[str, Any]) -> Table | None:
    ages: Mapping[str, Any] | None = stats.get("open_age_buckets")
    if not ages or not ages.get("buckets"):
        return None
    totals: Mapping[str, int] = ages["buckets"]
    labels = [label for label in totals if label != "unknown" or totals[label]]
    table = _table(
        "Open findings by age (days since first detected)",
        ("Severity", "left"),
        *((label, "right") for label in labels),
    )
    by_severity: Mapping[str, Mapping[str, int]] = ages.get("by_severity") or {}
    for severity in _severity_order(by_severity):
        buckets = by_severity[severity]
        table.add_row(_severity(severity), *(_number(buckets.get(lb, 0)) for lb in labels))
    table.add_row(Text("All", style="bold"), *(_number(totals[lb]) for lb in labels))
    return table


def _top_packages(stats: Mapping[str, Any]) -> Table | None:
    return _top_table(stats.get("top_packages"), "Top packages", "Package", "package")


def _top_cves(stats: Mapping[str, Any]) -> Table | None:
    return _top_table(stats.get("top_cves"), "Top CVEs", "CVE", "cve")


def _top_assets(stats: Mapping[str, Any]) -> Table | None:
    items: Sequence[Mapping[str, Any]] | None = stats.get("top_assets")
    if not items:
        return None
    table = _table("Top assets", ("Asset", "left"), ("Name", "left"), ("Findings", "right"))
    for item in items:
        table.add_row(str(item.get("asset_id")), item.get("name") or "-", _number(item["count"]))
    return table


def _trends(stats: Mapping[str, Any]) -> Table | None:
    days: Sequence[Mapping[str, Any]] = _get(stats, "trends", "days") or []
    if not days:
        return None
    shown = days[-TREND_DAYS_SHOWN:]
    title = "Trend by synced day"
    if len(days) > len(shown):
        title += f" (last {len(shown)} of {len(days)})"
    # A figure the statistics mark as approximate carries a mark and the reason underneath.
    approximate = "open_total" in (_get(stats, "trends", "approximate") or ())
    table = _table(
        title,
        ("Day", "left"),
        ("Syncs", "right"),
        ("Reported", "right"),
        ("Discovered", "right"),
        ("Remediated", "right"),
        ("Reactivated", "right"),
        ("Resolved", "right"),
        ("Open*" if approximate else "Open", "right"),
    )
    if approximate:
        note = _get(stats, "trends", "note") or "Open counts are approximate."
        table.caption = f"* {note}"
        table.caption_justify = "left"
    # The date stays whole on a narrow terminal; the headers give way first.
    table.columns[0].min_width = len("YYYY-MM-DD")
    table.columns[0].no_wrap = True
    for day in shown:
        table.add_row(
            day.get("date", ""),
            _number(day.get("syncs")),
            _number(day.get("reported")),
            _number(day.get("discovered")),
            _number(day.get("remediated")),
            _number(day.get("reactivated")),
            _number(day.get("resolved")),
            _number(day.get("open_total")),
        )
    return table


# --------------------------------------------------------------------------------------------
# Helpers


def _table(title: str, *columns: tuple[str, str]) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold")
    for header, justify in columns:
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    return table


def _sla_table(title: str, first: str) -> Table:
    return _table(
        title,
        (first, "left"),
        ("On time", "right"),
        ("Late", "right"),
        ("No deadline", "right"),
        ("Compliance", "right"),
    )


def _sla_row(table: Table, label: str | Text, entry: Mapping[str, Any]) -> None:
    pct = entry.get("compliance_pct")
    table.add_row(
        label,
        _number(entry.get("on_time", 0)),
        _number(entry.get("late", 0)),
        _number(entry.get("without_deadline", 0)),
        "-" if pct is None else f"{pct:.1f}%",
    )


def _top_table(
    items: Sequence[Mapping[str, Any]] | None, title: str, header: str, key: str
) -> Table | None:
    if not items:
        return None
    table = _table(title, (header, "left"), ("Findings", "right"))
    for item in items:
        table.add_row(str(item.get(key)), _number(item["count"]))
    return table


def _severity(severity: str) -> Text:
    return Text(severity, style=SEVERITY_STYLES.get(severity, ""))


def _severity_order(keys: Mapping[str, Any]) -> list[str]:
    known = [s for s in SEVERITIES if s in keys]
    return known + sorted(k for k in keys if k not in SEVERITIES)


def _number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return f"{value:,}"


def _days(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _get(stats: Mapping[str, Any], *path: str) -> Any:
    value: Any = stats
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _describe_filters(filters: Mapping[str, Any]) -> str:
    parts = []
    for name, value in filters.items():
        shown = ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
        parts.append(f"{name}={shown}")
    return "; ".join(parts)


def _flatten(value: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        items: Iterator[tuple[str, Any]] = ((str(k), v) for k, v in value.items())
    elif isinstance(value, list | tuple):
        items = ((str(i), v) for i, v in enumerate(value, start=1))
    else:
        yield prefix, value
        return
    empty = True
    for key, child in items:
        empty = False
        yield from _flatten(child, f"{prefix}.{key}" if prefix else key)
    if empty and prefix:
        yield prefix, None


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value
