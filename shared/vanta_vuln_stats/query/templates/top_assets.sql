-- Top affected assets on one day: the assets with the most findings, with the asset's name
-- and type and how many distinct assets have findings at all.
--
-- @param as_of date = latest
--     The snapshot day: YYYY-MM-DD, latest (the latest committed day), latest-N, today or
--     today-N.
-- @param scope enum(open|reported) = open
--     open: findings not deactivated; reported: every finding the day's sync reported,
--     deactivated ones included (the scope of the statistics report).
-- @param top int(1..10000) = 10
--     How many assets to list.
-- @bind as_of.year as_of.month as_of.day scope as_of.year as_of.month as_of.day top
-- @prunes vanta_vulnerabilities and vanta_vulnerable_assets: one day each (as_of).
WITH per_asset AS (
    SELECT target_id AS asset_id, count(*) AS findings
    FROM vanta_vulnerabilities
    WHERE year = ? AND month = ? AND day = ?
      AND target_id IS NOT NULL AND target_id <> ''
      AND (? = 'reported' OR NOT coalesce(is_deactivated, false))
    GROUP BY target_id
), ranked AS (
    SELECT
        asset_id,
        findings,
        row_number() OVER (ORDER BY findings DESC, asset_id) AS rank,
        count(*) OVER () AS assets_with_findings
    FROM per_asset
), assets AS (
    SELECT id, name, asset_type
    FROM vanta_vulnerable_assets
    WHERE year = ? AND month = ? AND day = ?
)
SELECT
    ranked.rank,
    ranked.asset_id,
    assets.name AS asset_name,
    assets.asset_type,
    ranked.findings,
    ranked.assets_with_findings
FROM ranked
LEFT JOIN assets ON assets.id = ranked.asset_id
WHERE ranked.rank <= ?
ORDER BY ranked.rank
