-- Win rate by month of the close date, among deals that are won or lost.
-- `close_date` is a Notion date: use its `start` instant (UTC).
SELECT
  date_trunc('month', close_date['start'])                          AS month,
  sum(CASE WHEN stage = 'Won' THEN 1 ELSE 0 END)                    AS won,
  sum(CASE WHEN stage = 'Lost' THEN 1 ELSE 0 END)                   AS lost,
  round(100.0 * sum(CASE WHEN stage = 'Won' THEN 1 ELSE 0 END) / count(*), 1) AS win_rate_pct
FROM deals
WHERE stage IN ('Won', 'Lost') AND close_date IS NOT NULL
GROUP BY 1
ORDER BY 1;
