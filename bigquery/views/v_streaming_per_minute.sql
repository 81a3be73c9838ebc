-- Live sales per minute over the last hour: the seed's streaming dashboard. Revenue,
-- orders and customers are net (completed sales; an event without a payment status is
-- completed); events counts every deduplicated sale event, whatever its payment.
-- It reads v_streaming_recent, whose time filter prunes to the newest partitions.
-- Grain: minute of event_ts (UTC). Columns: minute, revenue (NUMERIC), orders
-- (distinct order ids), events (deduplicated sale events), customers.
SELECT
  TIMESTAMP_TRUNC(event_ts, MINUTE) AS minute,
  COALESCE(SUM(IF(COALESCE(payment_status, 'completed') = 'completed', gross_amount, NULL)), 0) AS revenue,
  COUNT(DISTINCT IF(COALESCE(payment_status, 'completed') = 'completed', order_id, NULL)) AS orders,
  COUNT(*) AS events,
  COUNT(DISTINCT IF(COALESCE(payment_status, 'completed') = 'completed', customer_id, NULL)) AS customers
FROM `${project_id}.${dataset_id}.v_streaming_recent`
WHERE event_ts >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL 60 MINUTE)
GROUP BY minute
