-- Re-sent events whose content changed: each event_id that fact_sales_streaming holds
-- with more than one content (order, customer, product, qty, price, time or payment),
-- one row per distinct content. The sale counts once, as first written: version 1
-- (counted = TRUE) is the row v_fact_sales_streaming keeps (the first by ingest_ts,
-- message_id); the others are the differing re-sends, in the order they arrived.
-- Plain redeliveries (same content) are not conflicts. Grain: event_id x content.
-- Columns: event_id, version, versions, counted, order_id, customer_id, product_id,
-- qty, unit_price, event_ts, payment_method, payment_status, first_ingest_ts,
-- first_message_id, deliveries.
WITH deliveries AS (
  SELECT
    *,
    ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY ingest_ts, message_id) AS delivery
  FROM `${project_id}.${dataset_id}.fact_sales_streaming`
),
contents AS (
  SELECT
    event_id,
    order_id,
    customer_id,
    product_id,
    qty,
    unit_price,
    event_ts,
    payment_method,
    payment_status,
    MIN(delivery) AS first_delivery,
    MIN(ingest_ts) AS first_ingest_ts,
    MIN(message_id) AS first_message_id,
    COUNT(*) AS deliveries
  FROM deliveries
  GROUP BY event_id, order_id, customer_id, product_id, qty, unit_price, event_ts, payment_method, payment_status
)
SELECT
  event_id,
  ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY first_delivery) AS version,
  COUNT(*) OVER (PARTITION BY event_id) AS versions,
  first_delivery = 1 AS counted,
  order_id,
  customer_id,
  product_id,
  qty,
  unit_price,
  event_ts,
  payment_method,
  payment_status,
  first_ingest_ts,
  first_message_id,
  deliveries
FROM contents
WHERE TRUE
QUALIFY COUNT(*) OVER (PARTITION BY event_id) > 1
