-- Stale documents: pages with content that nobody edited in the last 90 days, oldest first,
-- with who edited them last and how long ago (change the interval to your review cycle).
SELECT
  d.title,
  d.last_edited_time,
  u.name AS last_edited_by,
  CAST(floor((date_part('epoch', now()) - date_part('epoch', d.last_edited_time)) / 86400) AS BIGINT) AS days_idle,
  d.word_count
FROM documents d
JOIN pages p ON p.id = d.page_id
LEFT JOIN users u ON u.id = p.last_edited_by
WHERE d.word_count > 0
  AND d.last_edited_time < now() - INTERVAL '90 days'
ORDER BY d.last_edited_time, d.title;
