-- Revenue by product category (the seed's category chart), with its rank and share. Net:
-- completed sales only. Grain: category. Columns: category, revenue, orders, lines,
-- share_pct, rank.
SELECT
  category,
  revenue,
  orders,
  lines,
  ROUND(100 * SAFE_DIVIDE(revenue, SUM(revenue) OVER ()), 2) AS share_pct,
  RANK() OVER (ORDER BY revenue DESC) AS rank
FROM (
  SELECT
    category,
    SUM(gross_amount) AS revenue,
    COUNT(DISTINCT order_id) AS orders,
    COUNT(*) AS lines
  FROM `${project_id}.${dataset_id}.v_fact_sales_all`
  WHERE payment_status = 'completed'
  GROUP BY category
)
