-- Open findings by severity per synced day: for each committed day from since to until, the
-- findings that day's sync reported and, of them, the open ones (not deactivated).
--
-- @param since date = latest-30
--     The first day: YYYY-MM-DD, latest, latest-N, today or today-N.
-- @param until date = latest
--     The last day (inclusive), in the same forms.
-- @bind since.year until.year since.iso until.iso
-- @prunes vanta_vulnerabilities: the days from since to until (year between their years, and
-- the year-month-day text between their dates).
SELECT run_date, severity, open_findings, reported_findings
FROM (
    SELECT
        run_date,
        coalesce(severity, 'UNKNOWN') AS severity,
        count_if(NOT coalesce(is_deactivated, false)) AS open_findings,
        count(*) AS reported_findings
    FROM vanta_vulnerabilities
    WHERE year BETWEEN ? AND ?
      AND concat(year, '-', month, '-', day) BETWEEN ? AND ?
    GROUP BY run_date, coalesce(severity, 'UNKNOWN')
) per_day
ORDER BY
    run_date,
    CASE severity
        WHEN 'CRITICAL' THEN 1 WHEN 'HIGH' THEN 2 WHEN 'MEDIUM' THEN 3 WHEN 'LOW' THEN 4
        ELSE 5
    END,
    severity
