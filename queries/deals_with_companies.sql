-- A relation join: each deal with the company it points to (the `company` relation holds page
-- ids of the Companies data source).
SELECT
  c.name                   AS company,
  c.industry,
  d.name                   AS deal,
  d.stage,
  d.amount
FROM (SELECT name, stage, amount, unnest(company) AS company_id FROM deals) d
JOIN companies c ON c._id = d.company_id
ORDER BY c.name, d.amount DESC NULLS LAST, d.name;
