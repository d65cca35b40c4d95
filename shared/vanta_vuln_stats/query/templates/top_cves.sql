-- Top CVEs on one day: the CVE ids with the most findings. A finding's CVE ids are the first
-- word of its name when that is a CVE id (CVE-YYYY-NNNN..., any case) and every relatedVulns
-- entry that is one; configuration findings, whose names are sentences, are left out, and a
-- finding counts once per id.
--
-- @param as_of date = latest
--     The snapshot day: YYYY-MM-DD, latest (the latest committed day), latest-N, today or
--     today-N.
-- @param scope enum(open|reported) = open
--     open: findings not deactivated; reported: every finding the day's sync reported,
--     deactivated ones included (the scope of the statistics report).
-- @param top int(1..10000) = 10
--     How many CVE ids to list.
-- @bind as_of.year as_of.month as_of.day scope top
-- @prunes vanta_vulnerabilities: one day (as_of).
WITH findings AS (
    SELECT id, upper(split_part(trim(name), ' ', 1)) AS first_word, related_vulns
    FROM vanta_vulnerabilities
    WHERE year = ? AND month = ? AND day = ?
      AND coalesce(vulnerability_type, '') <> 'CONFIGURATION'
      AND (? = 'reported' OR NOT coalesce(is_deactivated, false))
), finding_cves AS (
    SELECT id, first_word AS cve_id
    FROM findings
    WHERE regexp_like(first_word, '^CVE-[0-9]{4}-[0-9]{4,}$')
    UNION
    SELECT findings.id, upper(trim(related.entry)) AS cve_id
    FROM findings
    CROSS JOIN UNNEST(findings.related_vulns) AS related (entry)
    WHERE regexp_like(upper(trim(related.entry)), '^CVE-[0-9]{4}-[0-9]{4,}$')
), per_cve AS (
    SELECT cve_id, count(*) AS findings
    FROM finding_cves
    GROUP BY cve_id
), ranked AS (
    SELECT
        cve_id,
        findings,
        row_number() OVER (ORDER BY findings DESC, cve_id) AS rank,
        count(*) OVER () AS cve_ids_with_findings
    FROM per_cve
)
SELECT rank, cve_id, findings, cve_ids_with_findings
FROM ranked
WHERE rank <= ?
ORDER BY rank
