-- Remediation SLA compliance by severity and month of remediation: remediation records
-- remediated on time (remediation_date <= sla_deadline_date) or late, those without a deadline
-- apart, and compliance % = on time / (on time + late). Rows with month ALL are the totals per
-- severity, rows with severity ALL the totals per month.
--
-- @param as_of date = latest
--     The snapshot day whose remediation records are counted (every record the API lists):
--     YYYY-MM-DD, latest, latest-N, today or today-N.
-- @param since date = 1970-01-01
--     Only remediations on or after this day (the default counts them all).
-- @bind as_of.year as_of.month as_of.day since
-- @prunes vanta_vulnerability_remediations: one day (as_of).
WITH remediated AS (
    SELECT
        coalesce(upper(severity), 'UNKNOWN') AS remediation_severity,
        date_format(remediation_date, '%Y-%m') AS remediation_month,
        sla_deadline_date,
        remediation_date
    FROM vanta_vulnerability_remediations
    WHERE year = ? AND month = ? AND day = ?
      AND remediation_date IS NOT NULL
      AND remediation_date >= CAST(? AS timestamp)
), compliance AS (
    SELECT
        coalesce(remediation_month, 'ALL') AS month,
        coalesce(remediation_severity, 'ALL') AS severity,
        count_if(sla_deadline_date IS NOT NULL AND remediation_date <= sla_deadline_date)
            AS on_time,
        count_if(sla_deadline_date IS NOT NULL AND remediation_date > sla_deadline_date) AS late,
        count_if(sla_deadline_date IS NULL) AS without_deadline
    FROM remediated
    GROUP BY GROUPING SETS (
        (remediation_month, remediation_severity),
        (remediation_month),
        (remediation_severity),
        ()
    )
)
SELECT
    month,
    severity,
    on_time,
    late,
    without_deadline,
    round(100 * CAST(on_time AS double) / nullif(on_time + late, 0), 2) AS compliance_pct
FROM compliance
ORDER BY
    CASE WHEN month = 'ALL' THEN 1 ELSE 0 END,
    month,
    CASE severity
        WHEN 'CRITICAL' THEN 1 WHEN 'HIGH' THEN 2 WHEN 'MEDIUM' THEN 3 WHEN 'LOW' THEN 4
        WHEN 'ALL' THEN 6 ELSE 5
    END,
    severity
