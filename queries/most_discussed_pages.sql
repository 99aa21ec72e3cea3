-- Pages with the most (unresolved) comments, page-level and block-level together.
SELECT
  p.title,
  count(*)                          AS comments,
  count(DISTINCT c.discussion_id)   AS threads,
  count(DISTINCT c.created_by)      AS people
FROM comments c
JOIN pages p ON p.id = c.page_id
GROUP BY p.title
ORDER BY comments DESC, p.title
LIMIT 10;
