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
), related AS (
    -- Most findings list no related ids: unnest only the lists of those that do.
    SELECT id, related_vulns FROM findings WHERE cardinality(related_vulns) > 0
), words AS (
    -- Every candidate id of every finding; checked and de-duplicated once below.
    SELECT id, first_word AS cve_id FROM findings
    UNION ALL
    SELECT related.id, upper(trim(entries.entry)) AS cve_id
    FROM related
    CROSS JOIN UNNEST(related.related_vulns) AS entries (entry)
), finding_cves AS (
    SELECT DISTINCT id, cve_id
    FROM words
    WHERE regexp_like(cve_id, '^CVE-[0-9]{4}-[0-9]{4,}$')
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
