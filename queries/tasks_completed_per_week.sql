-- Tasks completed per week (by the "Completed on" date property).
SELECT
  date_trunc('week', completed_on['start']) AS week,
  count(*)                                   AS completed
FROM tasks
WHERE status = 'Done' AND completed_on IS NOT NULL
GROUP BY 1
ORDER BY 1;
