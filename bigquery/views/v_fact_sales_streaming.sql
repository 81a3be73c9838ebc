-- Live sales, one row per event: fact_sales_streaming deduplicated by event_id.
-- Pub/Sub delivers at least once, so a redelivered event may be written twice; the
-- first row written for each event_id is kept. Grain: sale event. Columns: as
-- fact_sales_streaming.
SELECT
  event_id,
  order_id,
  customer_id,
  product_id,
  qty,
  unit_price,
  gross_amount,
  event_ts,
  publish_ts,
  ingest_ts,
  message_id,
  payment_method,
  payment_status
FROM `${project_id}.${dataset_id}.fact_sales_streaming`
WHERE TRUE
QUALIFY ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY ingest_ts, message_id) = 1
