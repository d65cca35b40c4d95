"""The named SQL of the statistics.

Every statistic is one query here, written once in plain SQL that SQLite runs today and that
DuckDB or Athena (Trino) can run with few changes. Which filter applies is not decided here: each
query has a ``{where}`` slot for a boolean condition that the generator builds from the user's
filters (``vanta_vuln_stats.storage.filters.where_sql``), and its ``?`` parameters follow the
query's own ones in text order.

What a port to another engine must change is kept in the small helpers at the top:
``milliseconds_between`` (date arithmetic) and ``calendar_day`` / ``calendar_month``
(timestamps are ISO-8601 text here, ``YYYY-MM-DDTHH:MM:SS.mmmZ``, so a prefix is the day or the
month and text order is time order; on timestamp-typed columns these become ``date_trunc`` /
``format``). Nothing else is SQLite-specific: no ``julianday`` outside ``milliseconds_between``,
no ``strftime``, no ``IFNULL``, no ``GROUP_CONCAT``, and no integer division (its meaning
differs between engines; the median avoids it). The lake runs this same text on DuckDB
(``storage/lake/engine.py`` translates it and provides ``julianday``).

Sums that feed a result are sums of integers (CVSS scores in millionths of a point, durations
in milliseconds): an integer sum is exact, so a result cannot depend on the order in which an
engine adds its rows (SQLite in index order, DuckDB in parallel), and both engines give the
same floating-point numbers to the last digit.

Timestamps compared with a bound parameter (``now``, the age cut-offs) are compared as text, so
they must be bound in the stored form: ``timestamp_to_iso`` of ``vanta_vuln_stats.model`` (the
lake's typed timestamps read that text as the same instant).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AGE_BUCKETS",
    "DATA_AS_OF",
    "FINDINGS_SUMMARY",
    "QUERIES",
    "REMEDIATION_SLA",
    "SCORE_SCALE",
    "SYNCS_BY_DAY",
    "TIME_TO_REMEDIATE",
    "TOP_ASSETS",
    "TOP_CVES",
    "TOP_PACKAGES",
    "TRENDS",
    "NamedQuery",
    "calendar_day",
    "calendar_month",
    "milliseconds_between",
]


# --------------------------------------------------------------------------------------------
# Dialect helpers: the only places that differ between engines.


def milliseconds_between(start: str, end: str) -> str:
    """Whole milliseconds from ``start`` to ``end`` (two timestamp expressions), an integer.

    SQLite has no interval type; ``julianday`` of ISO text is the portable-enough route there
    (its double is within a hundredth of a millisecond at today's dates, so rounding gives the
    exact count). Elsewhere: ``date_diff('millisecond', start, end)``.
    """
    return f"CAST(ROUND((julianday({end}) - julianday({start})) * 86400000) AS BIGINT)"


def calendar_day(column: str) -> str:
    """The UTC calendar day ``YYYY-MM-DD`` of an ISO-8601 text timestamp."""
    return f"substr({column}, 1, 10)"


def calendar_month(column: str) -> str:
    """The UTC calendar month ``YYYY-MM`` of an ISO-8601 text timestamp."""
    return f"substr({column}, 1, 7)"


# --------------------------------------------------------------------------------------------
# Named queries


@dataclass(frozen=True, slots=True)
class NamedQuery:
    """One statistic's SQL with ``{slot}`` placeholders for conditions built at run time.

    ``slots`` names the placeholders; ``render`` fills them. Slots hold SQL text built by the
    generator from fixed fragments and ``where_sql``; user values only ever travel as bound
    parameters.
    """

    name: str
    sql: str
    slots: tuple[str, ...] = ("where",)

    def render(self, **fragments: str) -> str:
        missing = set(self.slots) - fragments.keys()
        if missing:
            raise ValueError(f"query {self.name}: missing slot(s) {sorted(missing)}")
        return self.sql.format(**fragments)


# CVSS scores are summed as whole multiples of 1 / SCORE_SCALE of a point.
SCORE_SCALE = 1_000_000

# Open-finding age buckets, in days since first detection (whole days, rounded down):
# (label, lower bound inclusive, upper bound inclusive or None). FINDINGS_SUMMARY has one column
# per bucket and binds one cut-off per bound, in this order.
AGE_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("0-30", 0, 30),
    ("31-90", 31, 90),
    ("91-180", 91, 180),
    ("181-365", 181, 365),
    (">365", 366, None),
)

# One pass over the vulnerabilities gives everything that is a count per severity and
# integration: the legacy totals, the CVSS average (as sum and count, so groups can be added up),
# the open findings, the overdue ones and the age buckets. The generator adds the few groups up
# by severity and by integration. A single grouped scan is what keeps full statistics over a
# million rows fast (it runs on one covering index when the store has one). It groups on the
# bare columns, not their COALESCE, so an index ordered by them serves the grouping unsorted.
#
# Slots: where (the filter), deactivated and reported (the two status predicates, which depend
# on the columns the database has; see the generator).
# Parameters, in order: now (overdue), the age cut-offs c31, c91, c181, c366 (ISO text of
# now minus that many days), then the filter's.
#
# Age: a finding is N whole days old when now - first_detected_date is in [N, N+1) days, so
# "at most 30 days" is first_detected_date > now - 31 days, and so on. A finding detected in the
# future (clock skew) counts as 0-30. A missing first_detected_date counts as age_unknown.
#
# CVSS: the earlier tool skipped falsy scores (``if cvss_score``), so null AND 0.0 are ignored
# here too; a 0.0 score in Vanta means "no score", not "no risk". Scores are summed in whole
# millionths of a point (SCORE_SCALE; CVSS has one decimal), an exact integer sum.
FINDINGS_SUMMARY = NamedQuery(
    "findings_summary",
    f"""
SELECT
    COALESCE(v.severity, 'UNKNOWN') AS severity,
    COALESCE(v.integration_id, 'UNKNOWN') AS integration,
    COUNT(*) AS total,
    SUM(CASE WHEN v.is_fixable = 1 THEN 1 ELSE 0 END) AS fixable,
    SUM(CASE WHEN {{deactivated}} THEN 1 ELSE 0 END) AS deactivated,
    SUM(CASE WHEN v.cvss_severity_score <> 0
             THEN CAST(ROUND(v.cvss_severity_score * {SCORE_SCALE}) AS BIGINT) END)
        AS cvss_scaled_sum,
    COUNT(CASE WHEN v.cvss_severity_score <> 0 THEN 1 END) AS cvss_count,
    SUM(CASE WHEN {{reported}} AND NOT ({{deactivated}}) THEN 1 ELSE 0 END) AS open,
    SUM(CASE WHEN {{reported}} AND NOT ({{deactivated}})
              AND v.remediate_by_date < ? THEN 1 ELSE 0 END) AS overdue,
    SUM(CASE WHEN {{reported}} AND NOT ({{deactivated}})
              AND v.first_detected_date > ? THEN 1 ELSE 0 END) AS age_0_30,
    SUM(CASE WHEN {{reported}} AND NOT ({{deactivated}})
              AND v.first_detected_date <= ? AND v.first_detected_date > ?
             THEN 1 ELSE 0 END) AS age_31_90,
    SUM(CASE WHEN {{reported}} AND NOT ({{deactivated}})
              AND v.first_detected_date <= ? AND v.first_detected_date > ?
             THEN 1 ELSE 0 END) AS age_91_180,
    SUM(CASE WHEN {{reported}} AND NOT ({{deactivated}})
              AND v.first_detected_date <= ? AND v.first_detected_date > ?
             THEN 1 ELSE 0 END) AS age_181_365,
    SUM(CASE WHEN {{reported}} AND NOT ({{deactivated}})
              AND v.first_detected_date <= ? THEN 1 ELSE 0 END) AS age_over_365,
    SUM(CASE WHEN {{reported}} AND NOT ({{deactivated}})
              AND v.first_detected_date IS NULL THEN 1 ELSE 0 END) AS age_unknown
FROM vulnerabilities v
WHERE {{where}}
GROUP BY v.severity, v.integration_id
""",
    ("where", "deactivated", "reported"),
)

# Top-N queries. Each also returns how many distinct values there are (every row carries it),
# so the distinct counts of the earlier tool (unique assets = distinct non-empty targetId,
# unique CVEs = distinct non-empty name) come from the same grouped scan as the top list.
# Parameters: the filter's, then the row limit (at least 1, so the distinct count always
# arrives). Ties are broken by the value, so the list is deterministic.
TOP_ASSETS = NamedQuery(
    "top_assets",
    """
WITH per_asset AS (
    SELECT v.target_id AS asset_id, COUNT(*) AS findings
    FROM vulnerabilities v
    WHERE v.target_id IS NOT NULL AND v.target_id <> '' AND ({where})
    GROUP BY v.target_id
), ranked AS (
    SELECT asset_id, findings, COUNT(*) OVER () AS distinct_count
    FROM per_asset
    ORDER BY findings DESC, asset_id
    LIMIT ?
)
SELECT ranked.asset_id, {asset_name} AS asset_name, ranked.findings, ranked.distinct_count
FROM ranked
{asset_join}
ORDER BY ranked.findings DESC, ranked.asset_id
""",
    ("where", "asset_name", "asset_join"),
)

TOP_CVES = NamedQuery(
    "top_cves",
    """
SELECT cve, findings, COUNT(*) OVER () AS distinct_count
FROM (
    SELECT v.name AS cve, COUNT(*) AS findings
    FROM vulnerabilities v
    WHERE v.name IS NOT NULL AND v.name <> '' AND ({where})
    GROUP BY v.name
) per_cve
ORDER BY findings DESC, cve
LIMIT ?
""",
)

TOP_PACKAGES = NamedQuery(
    "top_packages",
    """
SELECT package, findings, COUNT(*) OVER () AS distinct_count
FROM (
    SELECT v.package_identifier AS package, COUNT(*) AS findings
    FROM vulnerabilities v
    WHERE v.package_identifier IS NOT NULL AND v.package_identifier <> '' AND ({where})
    GROUP BY v.package_identifier
) per_package
ORDER BY findings DESC, package
LIMIT ?
""",
)

# Remediation SLA compliance per severity and month of remediation, from the remediation
# records. On time: remediation_date <= sla_deadline_date (the same rule the record model
# derives is_remediated_on_time with; computed here so databases of the earlier tool, whose
# column may be empty, get the same answer). A remediated record without a deadline is neither
# on time nor late: it is counted as without_deadline. Severity is compared upper-case because
# older databases may hold the API's lower-case spelling.
#
# Counted per remediation time and severity first: in the order of the covering index on
# (remediation_date, severity, ...) that groups without a sort (as many groups as distinct
# times at most, and far fewer when a sync stamps many records with one time); only those
# groups are then sorted into months.
REMEDIATION_SLA = NamedQuery(
    "remediation_sla",
    f"""
WITH per_time AS (
    SELECT
        r.remediation_date,
        r.severity,
        SUM(CASE WHEN r.sla_deadline_date IS NOT NULL
                  AND r.remediation_date <= r.sla_deadline_date THEN 1 ELSE 0 END) AS on_time,
        SUM(CASE WHEN r.sla_deadline_date IS NOT NULL
                  AND r.remediation_date > r.sla_deadline_date THEN 1 ELSE 0 END) AS late,
        SUM(CASE WHEN r.sla_deadline_date IS NULL THEN 1 ELSE 0 END) AS without_deadline
    FROM vulnerability_remediations r
    WHERE r.remediation_date IS NOT NULL AND ({{where}})
    GROUP BY r.remediation_date, r.severity
)
SELECT
    UPPER(severity) AS severity,
    {calendar_month("remediation_date")} AS month,
    SUM(on_time) AS on_time,
    SUM(late) AS late,
    SUM(without_deadline) AS without_deadline
FROM per_time
GROUP BY UPPER(severity), {calendar_month("remediation_date")}
ORDER BY month, severity
""",
)

# Mean and median days from detection to remediation, per severity and over all severities, as
# sums of whole milliseconds (exact; the generator divides): per severity its count, the sum of
# every duration (the mean, also over all severities) and the sum and count of its middle one or
# two rows (its median), and the same middle sums over every severity (the overall median; each
# severity's row carries its share of them, the generator adds them up). Median without integer
# division (engines disagree on it): with n rows numbered 1..n in order of duration, the middle
# row(s) are those with 2*rank between n and n+2 (one row when n is odd, two when n is even).
#
# Numbering every row in duration order costs a sort per median (per severity, and over all),
# the better part of the whole report on SQLite. Only the middle rows need their number, so the
# durations are first counted per severity and whole day (one grouped pass); running counts over
# those few thousand groups tell which day or two hold the middle of each severity and of all
# severities, and how many rows come before them; only the rows of those days are then numbered,
# from that offset. Exact: the day (rounded) only ever grows with the duration, so equal
# durations share a day and a day's rows are the consecutive numbers after the rows of earlier
# days; which rounding an engine uses does not matter. Negative durations (a remediation dated
# before its detection) are kept: they are the data as Vanta has it. A record without a severity
# counts under UNKNOWN.
_REMEDIATION_MS = milliseconds_between("r.detected_date", "r.remediation_date")
# A day's n rows, numbered before + 1 .. before + n among all `remediated` rows, hold a middle row
# (2 * number between remediated and remediated + 2) when this holds.
_MIDDLE_GROUP = "2 * before <= remediated AND 2 * (before + n) >= remediated"
_MIDDLE_ROW = "2 * severity_rank BETWEEN severity_count AND severity_count + 2"
_OVERALL_MIDDLE_ROW = "2 * overall_rank BETWEEN overall_count AND overall_count + 2"
TIME_TO_REMEDIATE = NamedQuery(
    "time_to_remediate",
    f"""
WITH durations AS (
    SELECT severity, ms, ROUND(ms / 86400000.0) AS day
    FROM (
        SELECT COALESCE(UPPER(r.severity), 'UNKNOWN') AS severity, {_REMEDIATION_MS} AS ms
        FROM vulnerability_remediations r
        WHERE r.remediation_date IS NOT NULL AND r.detected_date IS NOT NULL AND ({{where}})
    ) measured
), days AS (
    SELECT severity, day, COUNT(*) AS n, SUM(ms) AS total_ms
    FROM durations
    GROUP BY severity, day
), severity_days AS (
    SELECT
        severity,
        day,
        n,
        SUM(n) OVER (
            PARTITION BY severity ORDER BY day ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) - n AS before,
        SUM(n) OVER (PARTITION BY severity) AS remediated
    FROM days
), overall_days AS (
    SELECT
        day,
        n,
        SUM(n) OVER (ORDER BY day ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) - n AS before,
        SUM(n) OVER () AS remediated
    FROM (SELECT day, SUM(n) AS n FROM days GROUP BY day) per_day
), severity_middle AS (
    SELECT
        severity,
        MIN(day) AS first_day,
        MAX(day) AS last_day,
        MIN(before) AS before,
        MAX(remediated) AS remediated
    FROM severity_days
    WHERE {_MIDDLE_GROUP}
    GROUP BY severity
), overall_middle AS (
    SELECT
        MIN(day) AS first_day,
        MAX(day) AS last_day,
        MIN(before) AS before,
        MAX(remediated) AS remediated
    FROM overall_days
    WHERE {_MIDDLE_GROUP}
), middle_rows AS (
    SELECT
        d.severity,
        d.ms,
        s.before AS severity_before,
        s.remediated AS severity_count,
        CASE WHEN d.day BETWEEN o.first_day AND o.last_day THEN o.before END AS overall_before,
        o.remediated AS overall_count
    FROM durations d
    CROSS JOIN overall_middle o
    LEFT JOIN severity_middle s
        ON s.severity = d.severity AND d.day BETWEEN s.first_day AND s.last_day
    WHERE s.severity IS NOT NULL OR d.day BETWEEN o.first_day AND o.last_day
), ranked AS (
    -- A row outside its severity's middle days (or outside the overall ones) is numbered
    -- apart, with a NULL offset: its number is NULL.
    SELECT
        severity,
        ms,
        severity_count,
        overall_count,
        severity_before + ROW_NUMBER() OVER (
            PARTITION BY severity, severity_before ORDER BY ms
        ) AS severity_rank,
        overall_before + ROW_NUMBER() OVER (PARTITION BY overall_before ORDER BY ms)
            AS overall_rank
    FROM middle_rows
), middle AS (
    SELECT
        severity,
        SUM(CASE WHEN {_MIDDLE_ROW} THEN ms END) AS middle_ms,
        COUNT(CASE WHEN {_MIDDLE_ROW} THEN 1 END) AS middle_count,
        SUM(CASE WHEN {_OVERALL_MIDDLE_ROW} THEN ms END) AS overall_middle_ms,
        COUNT(CASE WHEN {_OVERALL_MIDDLE_ROW} THEN 1 END) AS overall_middle_count
    FROM ranked
    GROUP BY severity
), totals AS (
    SELECT severity, SUM(n) AS remediated, SUM(total_ms) AS total_ms
    FROM days
    GROUP BY severity
)
SELECT
    totals.severity,
    totals.remediated,
    totals.total_ms,
    middle.middle_ms,
    COALESCE(middle.middle_count, 0) AS middle_count,
    middle.overall_middle_ms,
    COALESCE(middle.overall_middle_count, 0) AS overall_middle_count
FROM totals
LEFT JOIN middle ON middle.severity = totals.severity
ORDER BY totals.severity
""",
)

# Change events per synced day and severity, and the open findings per severity at the end of
# each day, from the change history. Open-count deltas: discovered and reactivated open a
# finding unless it is deactivated (a resolved finding can come back deactivated); remediated
# (became deactivated) closes it; resolved (left the feed) closes it unless it was deactivated
# already. The event counts are exact; the open counts are approximate in two cases the event
# row cannot tell apart: a severity change of an open finding ('updated') is not followed
# between severities, and a finding that left the feed open and came back deactivated (which
# the store records as 'remediated') is closed twice. The statistics say so in every output;
# why following each finding's previous event is not done here is in the generator's module
# docstring (measured: more than the whole report's time budget). The last day's totals
# equal the current open findings whenever neither case happened.
# Every (day, severity) pair is present so the running sum carries over quiet days.
# Slot: history_filter, a condition on h (1 = 1, or h.vuln_id IN the filtered findings' ids: one
# pass over the findings, instead of a lookup per event as a join would do).
TRENDS = NamedQuery(
    "trends",
    f"""
WITH raw_events AS (
    -- Grouped on the raw columns first: in the order of an index on (snapshot_date, severity,
    -- change_type, is_deactivated) this streams without a sort, and leaves a few rows per sync.
    SELECT h.snapshot_date, h.severity, h.change_type, h.is_deactivated, COUNT(*) AS n
    FROM vulnerability_history h
    WHERE h.snapshot_date IS NOT NULL AND ({{history_filter}})
    GROUP BY h.snapshot_date, h.severity, h.change_type, h.is_deactivated
), events AS (
    SELECT
        {calendar_day("snapshot_date")} AS day,
        COALESCE(UPPER(severity), 'UNKNOWN') AS severity,
        SUM(CASE WHEN change_type = 'discovered' THEN n ELSE 0 END) AS discovered,
        SUM(CASE WHEN change_type = 'updated' THEN n ELSE 0 END) AS updated,
        SUM(CASE WHEN change_type = 'remediated' THEN n ELSE 0 END) AS remediated,
        SUM(CASE WHEN change_type = 'reactivated' THEN n ELSE 0 END) AS reactivated,
        SUM(CASE WHEN change_type = 'resolved' THEN n ELSE 0 END) AS resolved,
        SUM(CASE
                WHEN change_type IN ('discovered', 'reactivated')
                     AND COALESCE(is_deactivated, 0) = 0 THEN n
                WHEN change_type = 'remediated' THEN -n
                WHEN change_type = 'resolved' AND COALESCE(is_deactivated, 0) = 0 THEN -n
                ELSE 0
            END) AS open_delta
    FROM raw_events
    GROUP BY {calendar_day("snapshot_date")}, COALESCE(UPPER(severity), 'UNKNOWN')
), days AS (
    SELECT DISTINCT day FROM events
), severities AS (
    SELECT DISTINCT severity FROM events
), grid AS (
    SELECT
        days.day,
        severities.severity,
        COALESCE(events.discovered, 0) AS discovered,
        COALESCE(events.updated, 0) AS updated,
        COALESCE(events.remediated, 0) AS remediated,
        COALESCE(events.reactivated, 0) AS reactivated,
        COALESCE(events.resolved, 0) AS resolved,
        COALESCE(events.open_delta, 0) AS open_delta
    FROM days
    CROSS JOIN severities
    LEFT JOIN events ON events.day = days.day AND events.severity = severities.severity
)
SELECT
    day,
    severity,
    discovered,
    updated,
    remediated,
    reactivated,
    resolved,
    SUM(open_delta) OVER (
        PARTITION BY severity ORDER BY day ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
    ) AS open_count
FROM grid
ORDER BY day, severity
""",
    ("history_filter",),
)

# Syncs per day and what the API reported in the day's last sync. Not filterable: a sync run
# has no severity or asset. Slot: completed (the condition for a finished run).
SYNCS_BY_DAY = NamedQuery(
    "syncs_by_day",
    f"""
WITH runs AS (
    SELECT
        {calendar_day("s.sync_date")} AS day,
        s.vulnerabilities_count,
        ROW_NUMBER() OVER (
            PARTITION BY {calendar_day("s.sync_date")} ORDER BY s.sync_date DESC, s.id DESC
        ) AS latest_first
    FROM sync_history s
    WHERE s.sync_date IS NOT NULL AND ({{completed}})
)
SELECT
    day,
    COUNT(*) AS syncs,
    MAX(CASE WHEN latest_first = 1 THEN vulnerabilities_count END) AS reported
FROM runs
GROUP BY day
ORDER BY day
""",
    ("completed",),
)

# When the data was last complete: the end of the last finished sync (its start, for runs
# written by the earlier tool, which recorded only one time).
DATA_AS_OF = NamedQuery(
    "data_as_of",
    """
SELECT MAX(COALESCE(s.finished_at, s.sync_date)) AS data_as_of
FROM sync_history s
WHERE {completed}
""",
    ("completed",),
)

QUERIES: dict[str, NamedQuery] = {
    query.name: query
    for query in (
        FINDINGS_SUMMARY,
        TOP_ASSETS,
        TOP_CVES,
        TOP_PACKAGES,
        REMEDIATION_SLA,
        TIME_TO_REMEDIATE,
        TRENDS,
        SYNCS_BY_DAY,
        DATA_AS_OF,
    )
}
"""Every statistic's query by name (the set a DuckDB or Athena engine has to provide)."""
