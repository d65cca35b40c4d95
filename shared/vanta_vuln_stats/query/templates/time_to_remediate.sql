-- Mean and median time to remediate, in days from detection to remediation, per severity and
-- over all (severity ALL), from the remediation records.
--
-- @param as_of date = latest
--     The snapshot day whose remediation records are measured (every record the API lists):
--     YYYY-MM-DD, latest, latest-N, today or today-N.
-- @param since date = 1970-01-01
--     Only remediations on or after this day (the default measures them all).
-- @bind as_of.year as_of.month as_of.day since
-- @prunes vanta_vulnerability_remediations: one day (as_of).
WITH durations AS (
    SELECT
        coalesce(upper(severity), 'UNKNOWN') AS severity,
        date_diff('millisecond', detected_date, remediation_date) AS ms
    FROM vanta_vulnerability_remediations
    WHERE year = ? AND month = ? AND day = ?
      AND remediation_date IS NOT NULL
      AND detected_date IS NOT NULL
      AND remediation_date >= CAST(? AS timestamp)
), grouped AS (
    SELECT severity, ms FROM durations
    UNION ALL
    SELECT 'ALL' AS severity, ms FROM durations
), ranked AS (
    -- The median without integer division: with a group's rows numbered 1..n by duration,
    -- the middle one or two are those with 2 * position between n and n + 2.
    SELECT
        severity,
        ms,
        row_number() OVER (PARTITION BY severity ORDER BY ms) AS position,
        count(*) OVER (PARTITION BY severity) AS measured
    FROM grouped
), summary AS (
    SELECT
        severity,
        count(*) AS remediated,
        sum(ms) AS total_ms,
        sum(CASE WHEN 2 * position BETWEEN measured AND measured + 2 THEN ms END) AS middle_ms,
        count(CASE WHEN 2 * position BETWEEN measured AND measured + 2 THEN 1 END)
            AS middle_count
    FROM ranked
    GROUP BY severity
)
SELECT
    severity,
    remediated,
    round(CAST(total_ms AS double) / CAST(remediated * 86400000 AS double), 3) AS mean_days,
    round(CAST(middle_ms AS double) / CAST(middle_count * 86400000 AS double), 3) AS median_days
FROM summary
ORDER BY
    CASE severity
        WHEN 'CRITICAL' THEN 1 WHEN 'HIGH' THEN 2 WHEN 'MEDIUM' THEN 3 WHEN 'LOW' THEN 4
        WHEN 'ALL' THEN 6 ELSE 5
    END,
    severity
