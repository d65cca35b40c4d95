-- Overdue findings: open findings (reported on the day, not deactivated) whose SLA deadline
-- (remediate_by_date) is before now, the longest overdue first, with the asset's name.
--
-- @param as_of date = latest
--     The snapshot day: YYYY-MM-DD, latest (the latest committed day), latest-N, today or
--     today-N.
-- @param now timestamp = now
--     The moment a deadline is compared with: an ISO-8601 time, or now.
-- @param severity enum(ALL|CRITICAL|HIGH|MEDIUM|LOW) = ALL
--     Only findings of this severity (ALL: every severity).
-- @param integration string(0..100) = ''
--     Only findings from this scanner integration (integration_id, e.g. aws or snyk); empty:
--     every integration.
-- @param asset string(0..200) = ''
--     Only findings on assets whose name contains this text (any case); empty: every asset.
-- @param limit int(1..100000) = 1000
--     At most this many findings.
-- @bind as_of.year as_of.month as_of.day now severity severity integration integration as_of.year as_of.month as_of.day asset asset limit now limit
-- @prunes vanta_vulnerabilities and vanta_vulnerable_assets: one day each (as_of).
WITH overdue AS (
    SELECT
        id,
        severity,
        name,
        package_identifier,
        fixed_version,
        target_id,
        integration_id,
        remediate_by_date
    FROM vanta_vulnerabilities
    WHERE year = ? AND month = ? AND day = ?
      AND NOT coalesce(is_deactivated, false)
      AND remediate_by_date < ?
      AND (? = 'ALL' OR severity = ?)
      AND (? = '' OR integration_id = ?)
), assets AS (
    SELECT id, name, asset_type
    FROM vanta_vulnerable_assets
    WHERE year = ? AND month = ? AND day = ?
), matching AS (
    -- deadline_day groups the deadlines by day (any order-keeping function would do), so the
    -- ranking below sorts only the findings due by the day the `limit`-th one is due, not
    -- every overdue finding.
    SELECT
        overdue.*,
        date_trunc('day', overdue.remediate_by_date) AS deadline_day,
        assets.name AS asset_name,
        assets.asset_type
    FROM overdue
    LEFT JOIN assets ON assets.id = overdue.target_id
    WHERE ? = '' OR strpos(lower(assets.name), lower(?)) > 0
), per_day AS (
    -- How many findings are due by the end of each deadline day.
    SELECT deadline_day, sum(count(*)) OVER (ORDER BY deadline_day) AS through
    FROM matching
    GROUP BY deadline_day
), ranked AS (
    SELECT
        matching.*,
        row_number() OVER (ORDER BY remediate_by_date, id) AS position
    FROM matching
    -- The first day by whose end `limit` findings are due (every day when fewer are).
    WHERE deadline_day <= (
        SELECT coalesce(min(CASE WHEN through >= ? THEN deadline_day END), max(deadline_day))
        FROM per_day
    )
)
SELECT
    id,
    severity,
    name,
    CAST(floor(CAST(date_diff('millisecond', remediate_by_date, ?) AS double) / 86400000) AS bigint)
        AS days_overdue,
    remediate_by_date,
    package_identifier,
    fixed_version,
    target_id,
    asset_name,
    asset_type,
    integration_id
FROM ranked
WHERE position <= ?
ORDER BY position
