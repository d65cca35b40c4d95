-- Open critical and high findings on one day: every finding that day's sync reported and that
-- is not deactivated, the nearest SLA deadline first.
--
-- @param as_of date = latest
--     The snapshot day: YYYY-MM-DD, latest (the latest committed day), latest-N, today or
--     today-N.
-- @param min_severity enum(HIGH|CRITICAL) = HIGH
--     HIGH: critical and high findings; CRITICAL: critical ones only.
-- @param limit int(1..100000) = 1000
--     At most this many findings.
-- @bind as_of.year as_of.month as_of.day min_severity limit
-- @prunes vanta_vulnerabilities: one day (year, month and day of as_of).
WITH open_findings AS (
    SELECT
        id,
        severity,
        name,
        package_identifier,
        fixed_version,
        target_id,
        integration_id,
        first_detected_date,
        remediate_by_date,
        is_fixable,
        external_url,
        row_number() OVER (
            ORDER BY
                remediate_by_date ASC NULLS LAST,
                CASE severity WHEN 'CRITICAL' THEN 1 ELSE 2 END,
                id
        ) AS position
    FROM vanta_vulnerabilities
    WHERE year = ? AND month = ? AND day = ?
      AND NOT coalesce(is_deactivated, false)
      AND severity IN ('CRITICAL', 'HIGH')
      AND (severity = 'CRITICAL' OR ? = 'HIGH')
)
SELECT
    id,
    severity,
    name,
    package_identifier,
    fixed_version,
    target_id,
    integration_id,
    first_detected_date,
    remediate_by_date,
    is_fixable,
    external_url
FROM open_findings
WHERE position <= ?
ORDER BY position
