-- Findings due soon: open findings whose SLA deadline falls in the next few days (from now,
-- not yet overdue), the nearest deadline first. The list a team works from each morning.
--
-- @param as_of date = latest
--     The snapshot day: YYYY-MM-DD, latest (the latest committed day), latest-N, today or
--     today-N.
-- @param now timestamp = now
--     Where the window starts: an ISO-8601 time, or now.
-- @param days int(1..365) = 7
--     How many days ahead of now the window reaches.
-- @param severity enum(ALL|CRITICAL|HIGH|MEDIUM|LOW) = ALL
--     Only findings of this severity (ALL: every severity).
-- @param integration string(0..100) = ''
--     Only findings from this scanner integration (integration_id, e.g. aws or snyk); empty:
--     every integration.
-- @param asset string(0..200) = ''
--     Only findings on assets whose name contains this text (any case); empty: every asset.
-- @param limit int(1..100000) = 1000
--     At most this many findings.
-- @bind now as_of.year as_of.month as_of.day now days now severity severity integration integration as_of.year as_of.month as_of.day asset asset limit
-- @prunes vanta_vulnerabilities and vanta_vulnerable_assets: one day each (as_of).
WITH due AS (
    SELECT
        id,
        severity,
        name,
        package_identifier,
        fixed_version,
        target_id,
        integration_id,
        remediate_by_date,
        round(CAST(date_diff('millisecond', ?, remediate_by_date) AS double) / 3600000, 1) AS hours_left,
        is_fixable,
        external_url
    FROM vanta_vulnerabilities
    WHERE year = ? AND month = ? AND day = ?
      AND NOT coalesce(is_deactivated, false)
      AND remediate_by_date >= ?
      AND remediate_by_date < date_add('day', ?, ?)
      AND (? = 'ALL' OR severity = ?)
      AND (? = '' OR integration_id = ?)
), assets AS (
    SELECT id, name, asset_type
    FROM vanta_vulnerable_assets
    WHERE year = ? AND month = ? AND day = ?
), ranked AS (
    SELECT
        due.*,
        assets.name AS asset_name,
        row_number() OVER (ORDER BY due.remediate_by_date, due.id) AS position
    FROM due
    LEFT JOIN assets ON assets.id = due.target_id
    WHERE ? = '' OR strpos(lower(assets.name), lower(?)) > 0
)
SELECT
    id,
    severity,
    name,
    remediate_by_date,
    hours_left,
    package_identifier,
    fixed_version,
    is_fixable,
    target_id,
    asset_name,
    integration_id,
    external_url
FROM ranked
WHERE position <= ?
ORDER BY position
