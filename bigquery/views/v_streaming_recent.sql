-- The live page's sales: the last 48 hours of fact_sales_streaming, one row per
-- event_id (the first written, as v_fact_sales_streaming keeps it), with how many
-- distinct contents that event_id arrived with. The time filter sits before the
-- deduplication, so BigQuery reads only the two or three newest daily partitions,
-- whatever the history: a page that refreshes every few seconds bills kilobytes, not
-- the table. A redelivery carries its event's own time, so it falls in the same window.
-- Grain: sale event of the last 48 hours. Columns: event_id, order_id, customer_id,
-- product_id, qty, unit_price, gross_amount, event_ts, ingest_ts, payment_status,
-- versions (distinct contents of the event_id in the window), conflict_event_id (the
-- event_id when versions > 1, else NULL).
WITH recent AS (
  SELECT *
  FROM `${project_id}.${dataset_id}.fact_sales_streaming`
  WHERE event_ts >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL 48 HOUR)
),
versions AS (
  SELECT event_id, COUNT(*) AS versions
  FROM (
    SELECT DISTINCT event_id, order_id, customer_id, product_id, qty, unit_price, event_ts,
      payment_method, payment_status
    FROM recent
  )
  GROUP BY event_id
),
firsts AS (
  SELECT *
  FROM recent
  WHERE TRUE
  QUALIFY ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY ingest_ts, message_id) = 1
)
SELECT
  f.event_id,
  f.order_id,
  f.customer_id,
  f.product_id,
  f.qty,
  f.unit_price,
  f.gross_amount,
  f.event_ts,
  f.ingest_ts,
  COALESCE(f.payment_status, 'completed') AS payment_status,
  v.versions,
  IF(v.versions > 1, f.event_id, NULL) AS conflict_event_id
FROM firsts f
JOIN versions v ON v.event_id = f.event_id
