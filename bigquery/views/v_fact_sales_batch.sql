-- Historical sales, one row per order line: the seed's v_fact_sales_batch, in the shop's
-- calendar. Grain: order line. Columns: the seed's order_id, ts (the order date's
-- midnight in the reporting time zone), customer_id, product_id, gross_amount
-- (qty * unit_price, NUMERIC); then sale_date (the order date: a date in the reporting
-- time zone), qty, unit_price, payment_method, payment_status (orders.status; an order
-- without one, like the seed's four-column files, is completed), and the slicing
-- columns country, plan (the customer's) and category (the product's), 'Unknown' when
-- the master row is missing.
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
  COALESCE(o.status, 'completed') AS payment_status,
  COALESCE(c.country, 'Unknown') AS country,
  COALESCE(p.category, 'Unknown') AS category,
  COALESCE(c.plan, 'Unknown') AS plan
FROM `${project_id}.${dataset_id}.orders` o
JOIN `${project_id}.${dataset_id}.order_items` oi ON oi.order_id = o.order_id
LEFT JOIN `${project_id}.${dataset_id}.customers` c ON c.customer_id = o.customer_id
LEFT JOIN `${project_id}.${dataset_id}.products` p ON p.product_id = oi.product_id
