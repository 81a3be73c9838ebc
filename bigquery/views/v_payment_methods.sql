-- InstaShop: the split of orders and revenue by payment method (batch orders carry it).
-- Grain: payment method. Columns: payment_method, orders, revenue, share_pct.
SELECT
  payment_method,
  orders,
  revenue,
  ROUND(100 * SAFE_DIVIDE(revenue, SUM(revenue) OVER ()), 2) AS share_pct
FROM (
  SELECT
    COALESCE(o.payment_method, 'unknown') AS payment_method,
    COUNT(DISTINCT f.order_id) AS orders,
    SUM(f.gross_amount) AS revenue
  FROM `${project_id}.${dataset_id}.v_fact_sales_all` f
  JOIN `${project_id}.${dataset_id}.orders` o ON o.order_id = f.order_id
  GROUP BY payment_method
)
