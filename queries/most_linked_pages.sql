-- Pages linked from the most documents: child pages, links to pages and page mentions.
SELECT
  p.title,
  count(*)                    AS links,
  count(DISTINCT l.source)    AS linking_pages
FROM (SELECT page_id AS source, unnest(links_pages) AS target FROM documents) l
JOIN pages p ON p.id = l.target
GROUP BY p.title
ORDER BY links DESC, p.title
LIMIT 10;
