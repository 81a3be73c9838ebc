-- The facts every dashboard chart slices by period and by source, country, category and
-- plan: one row per sale of v_fact_sales_all (each sale once, batch and live), with the
-- names beside the ids and each measure's input as a column of its own, so that any
-- aggregation over any range of days and any filter gives the measure by its definition
-- (docs/metrics.md). Distinct counts stay exact: orders and clients are counted from
-- the ids, never added up from daily totals.
-- Grain: order line (batch) or sale event (streaming). Columns: sale_date (DATE in the
-- reporting time zone), sale_month (its first day), ts, source, order_id, customer_id,
-- customer_name, product_id, product_name, country, category, plan, payment_method,
-- payment_status, qty, gross_amount; then revenue (gross_amount of a completed sale,
-- else 0), failed_amount, refunded_amount (likewise), completed_order_id and
-- completed_customer_id (the id on a completed sale, else NULL; COUNT(DISTINCT) of them
-- is orders and unique clients).
SELECT
  f.sale_date,
  -- First day of the month (the emulator returns DATE_TRUNC on a DATE as a DATETIME).
  DATE_SUB(f.sale_date, INTERVAL EXTRACT(DAY FROM f.sale_date) - 1 DAY) AS sale_month,
  f.ts,
  f.source,
  f.order_id,
  f.customer_id,
  c.name AS customer_name,
  f.product_id,
  p.name AS product_name,
  f.country,
  f.category,
  f.plan,
  f.payment_method,
  f.payment_status,
  f.qty,
  f.gross_amount,
  IF(f.payment_status = 'completed', f.gross_amount, 0) AS revenue,
  IF(f.payment_status = 'failed', f.gross_amount, 0) AS failed_amount,
  IF(f.payment_status = 'refunded', f.gross_amount, 0) AS refunded_amount,
  IF(f.payment_status = 'completed', f.order_id, NULL) AS completed_order_id,
  IF(f.payment_status = 'completed', f.customer_id, NULL) AS completed_customer_id
FROM `${project_id}.${dataset_id}.v_fact_sales_all` f
LEFT JOIN `${project_id}.${dataset_id}.customers` c ON c.customer_id = f.customer_id
LEFT JOIN `${project_id}.${dataset_id}.products` p ON p.product_id = f.product_id
