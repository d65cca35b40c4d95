-- New versus remediated findings per synced day, from the change history: discovered,
-- remediated (deactivated), reactivated, resolved (no longer reported) and updated events of
-- each committed day from since to until.
--
-- @param since date = latest-30
--     The first day: YYYY-MM-DD, latest, latest-N, today or today-N.
-- @param until date = latest
--     The last day (inclusive), in the same forms.
-- @param severity enum(ALL|CRITICAL|HIGH|MEDIUM|LOW) = ALL
--     Only events of findings of this severity (ALL: every severity).
-- @bind since.year until.year since.iso until.iso severity severity
-- @prunes vanta_vulnerability_history: the days from since to until (year between their
-- years, and the year-month-day text between their dates).
SELECT
    run_date,
    count_if(change_type = 'discovered') AS discovered,
    count_if(change_type = 'remediated') AS remediated,
    count_if(change_type = 'reactivated') AS reactivated,
    count_if(change_type = 'resolved') AS resolved,
    count_if(change_type = 'updated') AS updated
FROM vanta_vulnerability_history
WHERE year BETWEEN ? AND ?
  AND concat(year, '-', month, '-', day) BETWEEN ? AND ?
  AND (? = 'ALL' OR upper(severity) = ?)
GROUP BY run_date
ORDER BY run_date
