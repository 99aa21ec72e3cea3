-- Pages (rows included) by their last editor and the week of that last edit.
SELECT
  date_trunc('week', p.last_edited_time) AS week,
  coalesce(u.name, p.last_edited_by)     AS person,
  count(*)                               AS pages
FROM pages p
LEFT JOIN users u ON u.id = p.last_edited_by
WHERE NOT p.in_trash
GROUP BY 1, 2
ORDER BY 1, pages DESC, person;
