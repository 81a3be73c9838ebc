-- Revenue by client, country and category (the seed's detail table), per customer id
-- (several customers share a name), the name beside it. Net: completed sales only.
-- Grain: customer x category. Columns: customer_id, customer_name, country, category,
-- revenue, orders, lines.
SELECT
  f.customer_id,
  c.name AS customer_name,
  f.country,
  f.category,
  SUM(f.gross_amount) AS revenue,
  COUNT(DISTINCT f.order_id) AS orders,
  COUNT(*) AS lines
FROM `${project_id}.${dataset_id}.v_fact_sales_all` f
LEFT JOIN `${project_id}.${dataset_id}.customers` c ON c.customer_id = f.customer_id
WHERE f.payment_status = 'completed'
GROUP BY f.customer_id, customer_name, f.country, f.category
