-- Full-text search over page content (`documents.text` is the plain text of every block):
-- pages that mention a word, with the words around its first occurrence. Change 'synced'.
SELECT
  title,
  word_count,
  replace(substr(text, greatest(strpos(lower(text), 'synced') - 30, 1), 80), chr(10), ' ') AS context
FROM documents
WHERE strpos(lower(text), 'synced') > 0
ORDER BY word_count DESC, title;
