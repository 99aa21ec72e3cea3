-- Unchecked to-dos in meeting notes: the open action items, oldest meeting first.
-- Adapt the title pattern to how your meeting pages are named.
SELECT
  p.title        AS meeting,
  b.position,
  b.plain_text   AS action_item
FROM blocks b
JOIN pages p ON p.id = b.page_id
WHERE b.type = 'to_do' AND NOT b.checked AND p.title LIKE 'Weekly sync%'
ORDER BY p.title, b.position;
