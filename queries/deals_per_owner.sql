-- Deals and pipeline per owner. `owner` is a Notion people property: a list of
-- {id, name, kind}; unnest it so that a deal with two owners counts for both.
SELECT
  o['name']            AS owner,
  o['kind']            AS kind,
  count(*)             AS deals,
  sum(amount)          AS pipeline_value
FROM (SELECT unnest(owner) AS o, amount FROM deals)
GROUP BY 1, 2
ORDER BY deals DESC, owner;
