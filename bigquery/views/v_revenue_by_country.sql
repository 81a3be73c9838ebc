-- Revenue by customer country (the seed's map). Net: completed sales only.
-- Grain: country. Columns: country, revenue, orders, customers, aov.
SELECT
  country,
  SUM(gross_amount) AS revenue,
  COUNT(DISTINCT order_id) AS orders,
  COUNT(DISTINCT customer_id) AS customers,
  SAFE_DIVIDE(SUM(gross_amount), COUNT(DISTINCT order_id)) AS aov
FROM `${project_id}.${dataset_id}.v_fact_sales_all`
WHERE payment_status = 'completed'
GROUP BY country
