-- The seed dashboard's headline KPIs over all sales, batch and streaming alike, net:
-- revenue, orders, clients and AOV count completed sales only; failed and refunded
-- amounts are reported on their own (docs/metrics.md). Grain: one row. Columns: revenue
-- (NUMERIC), orders, unique_clients, aov (revenue per order), lines (completed sale
-- lines), failed_amount, refunded_amount.
SELECT
  COALESCE(SUM(IF(payment_status = 'completed', gross_amount, NULL)), 0) AS revenue,
  COUNT(DISTINCT IF(payment_status = 'completed', order_id, NULL)) AS orders,
  COUNT(DISTINCT IF(payment_status = 'completed', customer_id, NULL)) AS unique_clients,
  SAFE_DIVIDE(
    SUM(IF(payment_status = 'completed', gross_amount, NULL)),
    COUNT(DISTINCT IF(payment_status = 'completed', order_id, NULL))
  ) AS aov,
  COUNTIF(payment_status = 'completed') AS lines,
  COALESCE(SUM(IF(payment_status = 'failed', gross_amount, NULL)), 0) AS failed_amount,
  COALESCE(SUM(IF(payment_status = 'refunded', gross_amount, NULL)), 0) AS refunded_amount
FROM `${project_id}.${dataset_id}.v_fact_sales_all`
