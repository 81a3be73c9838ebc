-- Batch against streaming: the seed's headline KPIs side by side, per source, net (as
-- v_kpi_overview; a live sale of an order batch holds counts as batch).
-- Grain: source ('batch' or 'streaming'). Columns: source, revenue (NUMERIC), orders,
-- unique_clients, aov (revenue per order), lines, failed_amount, refunded_amount,
-- first_ts, last_ts (of every sale of the source).
SELECT
  source,
  COALESCE(SUM(IF(payment_status = 'completed', gross_amount, NULL)), 0) AS revenue,
  COUNT(DISTINCT IF(payment_status = 'completed', order_id, NULL)) AS orders,
  COUNT(DISTINCT IF(payment_status = 'completed', customer_id, NULL)) AS unique_clients,
  SAFE_DIVIDE(
    SUM(IF(payment_status = 'completed', gross_amount, NULL)),
    COUNT(DISTINCT IF(payment_status = 'completed', order_id, NULL))
  ) AS aov,
  COUNTIF(payment_status = 'completed') AS lines,
  COALESCE(SUM(IF(payment_status = 'failed', gross_amount, NULL)), 0) AS failed_amount,
  COALESCE(SUM(IF(payment_status = 'refunded', gross_amount, NULL)), 0) AS refunded_amount,
  MIN(ts) AS first_ts,
  MAX(ts) AS last_ts
FROM `${project_id}.${dataset_id}.v_fact_sales_all`
GROUP BY source
