-- Live sales per minute over the last hour: the seed's streaming dashboard.
-- Grain: minute of event_ts (UTC). Columns: minute, revenue (NUMERIC), orders
-- (distinct order ids), events (deduplicated sale events), customers.
SELECT
  TIMESTAMP_TRUNC(event_ts, MINUTE) AS minute,
  SUM(gross_amount) AS revenue,
  COUNT(DISTINCT order_id) AS orders,
  COUNT(*) AS events,
  COUNT(DISTINCT customer_id) AS customers
FROM `${project_id}.${dataset_id}.v_fact_sales_streaming`
WHERE event_ts >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL 60 MINUTE)
GROUP BY minute
