-- All sales, batch and streaming, each sale once: the seed's v_fact_sales_all. Batch is
-- the system of record once it holds an order: a live sale whose order_id is in the
-- batch orders table is left out (the nightly export carries it), so summing this view
-- counts each sale once. Live sales are read through v_fact_sales_streaming (one row per
-- event_id). Grain: order line (batch) or sale event (streaming). Columns: the seed's
-- order_id, ts, customer_id, product_id, gross_amount (NUMERIC), source ('batch' or
-- 'streaming'); then sale_date (DATE in the reporting time zone), qty, unit_price,
-- payment_method, payment_status (completed, failed or refunded; never NULL: a sale
-- without one is completed), country, category, plan. Revenue counts completed sales
-- only (docs/metrics.md).

WITH sales AS (
  -- Historical (batch)
  SELECT
    order_id,
    ts,
    customer_id,
    product_id,
    gross_amount,
    'batch' AS source,
    sale_date,
    qty,
    unit_price,
    payment_method,
    payment_status
  FROM `${project_id}.${dataset_id}.v_fact_sales_batch`

  UNION ALL

  -- Streaming (real time), less the orders batch already holds
  SELECT
    s.order_id,
    s.event_ts AS ts,
    s.customer_id,
    s.product_id,
    s.gross_amount,
    'streaming' AS source,
    DATE(s.event_ts, '${time_zone}') AS sale_date,
    s.qty,
    s.unit_price,
    s.payment_method,
    COALESCE(s.payment_status, 'completed') AS payment_status
  FROM `${project_id}.${dataset_id}.v_fact_sales_streaming` s
  WHERE NOT EXISTS (
    SELECT 1 FROM `${project_id}.${dataset_id}.orders` o WHERE o.order_id = s.order_id
  )
)
-- The slicing columns, one definition for both sources.
SELECT
  f.*,
  COALESCE(c.country, 'Unknown') AS country,
  COALESCE(p.category, 'Unknown') AS category,
  COALESCE(c.plan, 'Unknown') AS plan
FROM sales f
LEFT JOIN `${project_id}.${dataset_id}.customers` c ON c.customer_id = f.customer_id
LEFT JOIN `${project_id}.${dataset_id}.products` p ON p.product_id = f.product_id
