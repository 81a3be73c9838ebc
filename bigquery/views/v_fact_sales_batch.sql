-- Historical sales, one row per order line: the seed's v_fact_sales_batch, in the shop's
-- calendar. Grain: order line. Columns: the seed's order_id, ts (the order date's
-- first instant in the reporting time zone), customer_id, product_id, gross_amount
-- (qty * unit_price, NUMERIC); then sale_date (the order date: a day of the reporting
-- time zone), qty, unit_price, payment_method and payment_status (orders.status; an
-- order without one, like the seed's four-column files, is completed).
SELECT
  o.order_id,
  TIMESTAMP(o.order_date, '${time_zone}') AS ts,
  o.customer_id,
  oi.product_id,
  (oi.qty * oi.unit_price) AS gross_amount,
  o.order_date AS sale_date,
  oi.qty,
  oi.unit_price,
  o.payment_method,
  COALESCE(o.status, 'completed') AS payment_status
FROM `${project_id}.${dataset_id}.orders` o
JOIN `${project_id}.${dataset_id}.order_items` oi ON oi.order_id = o.order_id
