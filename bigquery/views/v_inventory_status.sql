-- InstaShop: stock status per product, over all warehouses: critical (stock at or under
-- the reorder point), low (under twice the reorder point), optimal (the rest).
-- Grain: product. Columns: product_id, product_name, category, warehouses, stock,
-- reorder_point, status.
SELECT
  i.product_id,
  p.name AS product_name,
  p.category,
  COUNT(*) AS warehouses,
  SUM(i.stock) AS stock,
  SUM(i.reorder_point) AS reorder_point,
  CASE
    WHEN SUM(i.stock) <= SUM(i.reorder_point) THEN 'critical'
    WHEN SUM(i.stock) < 2 * SUM(i.reorder_point) THEN 'low'
    ELSE 'optimal'
  END AS status
FROM `${project_id}.${dataset_id}.inventory` i
LEFT JOIN `${project_id}.${dataset_id}.products` p ON p.product_id = i.product_id
GROUP BY i.product_id, product_name, p.category
