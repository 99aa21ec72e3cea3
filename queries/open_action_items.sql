-- Open action items per meeting page: the unchecked to-dos of pages that hold AI meeting notes
-- or whose title says they are meeting notes (adapt the pattern to how your meetings are
-- named), with how many are still open, most first.
WITH meetings AS (
  SELECT id, title FROM pages
  WHERE regexp_like(title, '(?i)(meeting|weekly sync|standup|stand-up|retro|1:1)')
     OR id IN (SELECT page_id FROM blocks WHERE type = 'meeting_notes')
)
SELECT
  m.title                                              AS meeting,
  count(*)                                             AS open_items,
  array_agg(b.plain_text ORDER BY b.depth, b.position) AS action_items
FROM blocks b
JOIN meetings m ON m.id = b.page_id
WHERE b.type = 'to_do' AND NOT coalesce(b.checked, false)
GROUP BY m.title
ORDER BY open_items DESC, meeting;
