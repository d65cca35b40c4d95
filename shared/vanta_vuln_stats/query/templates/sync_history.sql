-- Sync history: one row per sync run of the days from since to until, with its status, times
-- and what it fetched, wrote, rejected and found changed.
--
-- @param since date = latest-30
--     The first run date: YYYY-MM-DD, latest, latest-N, today or today-N.
-- @param until date = latest
--     The last run date (inclusive), in the same forms.
-- @param status enum(all|complete|failed|interrupted|superseded) = all
--     Only runs with this status.
-- @bind since.year until.year since.iso until.iso status status
-- @prunes vanta_sync_history: the days from since to until (year between their years, and the
-- year-month-day text between their dates).
SELECT
    run_date,
    run_id,
    status,
    started_at,
    finished_at,
    duration_seconds,
    vulnerabilities_fetched,
    vulnerabilities_written,
    vulnerabilities_rejected,
    vulnerabilities_discovered,
    vulnerabilities_updated,
    vulnerabilities_remediated,
    vulnerabilities_reactivated,
    vulnerabilities_resolved,
    vulnerability_remediations_fetched,
    vulnerable_assets_fetched,
    reconciled,
    bytes_written,
    message
FROM vanta_sync_history
WHERE year BETWEEN ? AND ?
  AND concat(year, '-', month, '-', day) BETWEEN ? AND ?
  AND (? = 'all' OR status = ?)
ORDER BY started_at, run_id
