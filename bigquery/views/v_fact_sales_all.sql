-- All sales, batch and streaming alike: the seed's v_fact_sales_all, with streaming
-- rows deduplicated by event_id (read through v_fact_sales_streaming).
-- Grain: order line (batch) or sale event (streaming). Columns: order_id, ts,
-- customer_id, product_id, gross_amount (NUMERIC), source ('batch' or 'streaming').

-- Historical (batch)
SELECT
  o.order_id,
  TIMESTAMP(o.order_date) AS ts,
  o.customer_id,
  oi.product_id,
  (oi.qty * oi.unit_price) AS gross_amount,
  'batch' AS source
FROM `${project_id}.${dataset_id}.orders` o
JOIN `${project_id}.${dataset_id}.order_items` oi USING (order_id)

UNION ALL

-- Streaming (real time)
SELECT
  order_id,
  event_ts AS ts,
  customer_id,
  product_id,
  gross_amount,
  'streaming' AS source
FROM `${project_id}.${dataset_id}.v_fact_sales_streaming`
