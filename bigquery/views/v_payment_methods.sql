-- InstaShop: the split of orders and net revenue by payment method, batch orders and
-- live sales alike (each carries its method; 'unknown' when it does not). Completed
-- sales only. Grain: payment method. Columns: payment_method, orders, revenue,
-- share_pct.
SELECT
  payment_method,
  orders,
  revenue,
  ROUND(100 * SAFE_DIVIDE(revenue, SUM(revenue) OVER ()), 2) AS share_pct
FROM (
  SELECT
    COALESCE(payment_method, 'unknown') AS payment_method,
    COUNT(DISTINCT order_id) AS orders,
    SUM(gross_amount) AS revenue
  FROM `${project_id}.${dataset_id}.v_fact_sales_all`
  WHERE payment_status = 'completed'
  GROUP BY payment_method
)
