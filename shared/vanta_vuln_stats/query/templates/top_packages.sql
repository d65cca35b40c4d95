-- Top affected packages on one day: the package identifiers with the most findings, and how
-- many distinct packages have findings at all.
--
-- @param as_of date = latest
--     The snapshot day: YYYY-MM-DD, latest (the latest committed day), latest-N, today or
--     today-N.
-- @param scope enum(open|reported) = open
--     open: findings not deactivated; reported: every finding the day's sync reported,
--     deactivated ones included (the scope of the statistics report).
-- @param top int(1..10000) = 10
--     How many packages to list.
-- @bind as_of.year as_of.month as_of.day scope top
-- @prunes vanta_vulnerabilities: one day (as_of).
WITH per_package AS (
    SELECT package_identifier AS package, count(*) AS findings
    FROM vanta_vulnerabilities
    WHERE year = ? AND month = ? AND day = ?
      AND package_identifier IS NOT NULL AND package_identifier <> ''
      AND (? = 'reported' OR NOT coalesce(is_deactivated, false))
    GROUP BY package_identifier
), ranked AS (
    SELECT
        package,
        findings,
        row_number() OVER (ORDER BY findings DESC, package) AS rank,
        count(*) OVER () AS packages_with_findings
    FROM per_package
)
SELECT rank, package, findings, packages_with_findings
FROM ranked
WHERE rank <= ?
ORDER BY rank
