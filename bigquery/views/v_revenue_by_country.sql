-- Revenue by customer country (the seed's map).
-- Grain: country. Columns: country, revenue, orders, customers, aov.
SELECT
  COALESCE(c.country, 'Unknown') AS country,
  SUM(f.gross_amount) AS revenue,
  COUNT(DISTINCT f.order_id) AS orders,
  COUNT(DISTINCT f.customer_id) AS customers,
  SAFE_DIVIDE(SUM(f.gross_amount), COUNT(DISTINCT f.order_id)) AS aov
FROM `${project_id}.${dataset_id}.v_fact_sales_all` f
LEFT JOIN `${project_id}.${dataset_id}.customers` c ON c.customer_id = f.customer_id
GROUP BY country
