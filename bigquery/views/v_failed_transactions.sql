-- InstaShop: failed and refunded transactions per month, against all orders.
-- Grain: month x status. Columns: month, status, orders, revenue, share_of_orders_pct.
SELECT
  month,
  status,
  orders,
  revenue,
  ROUND(100 * SAFE_DIVIDE(orders, SUM(orders) OVER (PARTITION BY month)), 2) AS share_of_orders_pct
FROM (
  SELECT
    DATE_TRUNC(DATE(f.ts), MONTH) AS month,
    COALESCE(o.status, 'unknown') AS status,
    COUNT(DISTINCT f.order_id) AS orders,
    SUM(f.gross_amount) AS revenue
  FROM `${project_id}.${dataset_id}.v_fact_sales_all` f
  JOIN `${project_id}.${dataset_id}.orders` o ON o.order_id = f.order_id
  GROUP BY month, status
)
