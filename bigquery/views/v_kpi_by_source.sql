-- Batch against streaming: the seed's headline KPIs side by side, per source.
-- Grain: source ('batch' or 'streaming'). Columns: source, revenue (NUMERIC), orders,
-- unique_clients, aov (revenue per order), lines, first_ts, last_ts.
SELECT
  source,
  SUM(gross_amount) AS revenue,
  COUNT(DISTINCT order_id) AS orders,
  COUNT(DISTINCT customer_id) AS unique_clients,
  SAFE_DIVIDE(SUM(gross_amount), COUNT(DISTINCT order_id)) AS aov,
  COUNT(*) AS lines,
  MIN(ts) AS first_ts,
  MAX(ts) AS last_ts
FROM `${project_id}.${dataset_id}.v_fact_sales_all`
GROUP BY source
