-- The values the dashboard's filters offer, and the only ones a request may name: every
-- source, and every country, category and plan of the master tables, with 'Unknown'
-- (what v_fact_sales_all shows when a sale's customer or product is missing).
-- Grain: field x value. Columns: field (source, country, category or plan), value.
SELECT 'source' AS field, value FROM UNNEST(['batch', 'streaming']) AS value
UNION ALL
SELECT 'country' AS field, value
FROM (SELECT DISTINCT COALESCE(country, 'Unknown') AS value FROM `${project_id}.${dataset_id}.customers`)
UNION ALL
SELECT 'category' AS field, value
FROM (SELECT DISTINCT COALESCE(category, 'Unknown') AS value FROM `${project_id}.${dataset_id}.products`)
UNION ALL
SELECT 'plan' AS field, value
FROM (SELECT DISTINCT COALESCE(plan, 'Unknown') AS value FROM `${project_id}.${dataset_id}.customers`)
UNION ALL
SELECT field, 'Unknown' AS value FROM UNNEST(['country', 'category', 'plan']) AS field
