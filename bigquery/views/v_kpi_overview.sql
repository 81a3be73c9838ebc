-- The seed dashboard's headline KPIs over all sales, batch and streaming alike.
-- Grain: one row. Columns: revenue (NUMERIC), orders, unique_clients, aov (revenue per
-- order), lines.
SELECT
  SUM(gross_amount) AS revenue,
  COUNT(DISTINCT order_id) AS orders,
  COUNT(DISTINCT customer_id) AS unique_clients,
  SAFE_DIVIDE(SUM(gross_amount), COUNT(DISTINCT order_id)) AS aov,
  COUNT(*) AS lines
FROM `${project_id}.${dataset_id}.v_fact_sales_all`
