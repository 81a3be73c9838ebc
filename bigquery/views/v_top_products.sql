-- InstaShop: top products by revenue, with their category and rank. Net: completed sales
-- only. Grain: product. Columns: product_id, product_name, category, revenue, orders,
-- lines, rank, rank_in_category.
SELECT
  product_id,
  product_name,
  category,
  revenue,
  orders,
  lines,
  RANK() OVER (ORDER BY revenue DESC) AS rank,
  RANK() OVER (PARTITION BY category ORDER BY revenue DESC) AS rank_in_category
FROM (
  SELECT
    f.product_id,
    p.name AS product_name,
    f.category,
    SUM(f.gross_amount) AS revenue,
    COUNT(DISTINCT f.order_id) AS orders,
    COUNT(*) AS lines
  FROM `${project_id}.${dataset_id}.v_fact_sales_all` f
  LEFT JOIN `${project_id}.${dataset_id}.products` p ON p.product_id = f.product_id
  WHERE f.payment_status = 'completed'
  GROUP BY f.product_id, product_name, f.category
)
