-- Pipeline value by stage: how many open and closed deals sit in each stage, and their value.
-- Adapt: replace `deals` with your deals table and `stage` / `amount` with your columns
-- (`\d deals` lists them with their Notion property names).
SELECT
  stage,
  count(*)                 AS deals,
  sum(amount)              AS pipeline_value,
  round(avg(amount), 0)    AS average_deal
FROM deals
GROUP BY stage
ORDER BY pipeline_value DESC NULLS LAST, stage;
