-- InstaShop: the latest snapshot per product, over its warehouses (v_inventory_latest),
-- with its name and category: what the live stock views (v_inventory_status,
-- v_inventory_now) and the refresh's count of inventory_sold subtract the live sales
-- from. snapshot_ts is the latest over the product's warehouses (NULL when its rows carry
-- none). Grain: product. Columns: product_id, product_name, category, warehouses,
-- snapshot_ts, snapshot_stock, reorder_point.
SELECT
  l.product_id,
  ANY_VALUE(p.name) AS product_name,
  ANY_VALUE(p.category) AS category,
  COUNT(*) AS warehouses,
  MAX(l.snapshot_ts) AS snapshot_ts,
  SUM(l.stock) AS snapshot_stock,
  SUM(l.reorder_point) AS reorder_point
FROM `${project_id}.${dataset_id}.v_inventory_latest` l
LEFT JOIN `${project_id}.${dataset_id}.products` p ON p.product_id = l.product_id
GROUP BY l.product_id
