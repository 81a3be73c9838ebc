-- Historical sales, one row per order line: the seed's v_fact_sales_batch.
-- Grain: order line. Columns: order_id, ts (order date as TIMESTAMP), customer_id,
-- product_id, gross_amount (qty * unit_price, NUMERIC).
SELECT
  o.order_id,
  TIMESTAMP(o.order_date) AS ts,
  o.customer_id,
  oi.product_id,
  (oi.qty * oi.unit_price) AS gross_amount
FROM `${project_id}.${dataset_id}.orders` o
JOIN `${project_id}.${dataset_id}.order_items` oi USING (order_id)
