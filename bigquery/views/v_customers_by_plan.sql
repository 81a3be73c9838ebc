-- InstaShop: customers and revenue by plan (Basic, Premium, Enterprise). Net: buying
-- customers, revenue and orders count completed sales only.
-- Grain: plan. Columns: plan, customers, buying_customers, revenue, orders, aov.
SELECT
  COALESCE(c.plan, 'Unknown') AS plan,
  COUNT(DISTINCT c.customer_id) AS customers,
  COUNT(DISTINCT f.customer_id) AS buying_customers,
  COALESCE(SUM(f.gross_amount), 0) AS revenue,
  COUNT(DISTINCT f.order_id) AS orders,
  SAFE_DIVIDE(SUM(f.gross_amount), COUNT(DISTINCT f.order_id)) AS aov
FROM `${project_id}.${dataset_id}.customers` c
LEFT JOIN (
  SELECT customer_id, order_id, gross_amount
  FROM `${project_id}.${dataset_id}.v_fact_sales_all`
  WHERE payment_status = 'completed'
) f ON f.customer_id = c.customer_id
GROUP BY plan
