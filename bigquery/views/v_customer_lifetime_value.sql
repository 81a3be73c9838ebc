-- InstaShop: customer lifetime value, i.e. everything each customer has bought and paid
-- for (completed sales only), per customer id with the name beside it.
-- Grain: customer. Columns: customer_id, customer_name, plan, country, first_order_ts,
-- last_order_ts, orders, lifetime_value (NUMERIC), aov.
SELECT
  f.customer_id,
  c.name AS customer_name,
  f.plan,
  f.country,
  MIN(f.ts) AS first_order_ts,
  MAX(f.ts) AS last_order_ts,
  COUNT(DISTINCT f.order_id) AS orders,
  SUM(f.gross_amount) AS lifetime_value,
  SAFE_DIVIDE(SUM(f.gross_amount), COUNT(DISTINCT f.order_id)) AS aov
FROM `${project_id}.${dataset_id}.v_fact_sales_all` f
LEFT JOIN `${project_id}.${dataset_id}.customers` c ON c.customer_id = f.customer_id
WHERE f.payment_status = 'completed'
GROUP BY f.customer_id, customer_name, f.plan, f.country
