-- Open tasks whose due date has passed, per assignee (unassigned tasks under NULL).
-- `now()` is the moment the query runs.
SELECT
  a['name']            AS assignee,
  count(*)             AS overdue_tasks,
  min(due_start)       AS oldest_due
FROM (
  SELECT unnest(CASE WHEN cardinality(assignee) = 0 THEN [NULL] ELSE assignee END) AS a,
         due['start'] AS due_start
  FROM tasks
  WHERE status <> 'Done' AND due['start'] < now()
)
GROUP BY 1
ORDER BY overdue_tasks DESC, assignee NULLS LAST;
