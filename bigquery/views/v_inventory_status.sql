-- InstaShop: stock status per product over all warehouses, live: the last inventory
-- snapshot (batch) minus the units sold since in live sales whose payment did not fail
-- (streaming; the batch history is the snapshot's past). critical: stock at or under
-- the reorder point (the critical-stock alert); low: under twice the reorder point;
-- optimal: the rest. Grain: product. Columns: product_id, product_name, category,
-- warehouses, snapshot_stock, sold_live, stock, reorder_point, status.
WITH snapshot AS (
  SELECT
    product_id,
    COUNT(*) AS warehouses,
    SUM(stock) AS snapshot_stock,
    SUM(reorder_point) AS reorder_point
  FROM `${project_id}.${dataset_id}.inventory`
  GROUP BY product_id
),
sold AS (
  SELECT product_id, SUM(qty) AS units
  FROM `${project_id}.${dataset_id}.v_fact_sales_streaming`
  WHERE payment_status IS NULL OR payment_status != 'failed'
  GROUP BY product_id
),
live AS (
  SELECT
    s.product_id,
    s.warehouses,
    s.snapshot_stock,
    COALESCE(sold.units, 0) AS sold_live,
    s.snapshot_stock - COALESCE(sold.units, 0) AS stock,
    s.reorder_point
  FROM snapshot s
  LEFT JOIN sold ON sold.product_id = s.product_id
)
SELECT
  l.product_id,
  p.name AS product_name,
  p.category,
  l.warehouses,
  l.snapshot_stock,
  l.sold_live,
  l.stock,
  l.reorder_point,
  CASE
    WHEN l.stock <= l.reorder_point THEN 'critical'
    WHEN l.stock < 2 * l.reorder_point THEN 'low'
    ELSE 'optimal'
  END AS status
FROM live l
LEFT JOIN `${project_id}.${dataset_id}.products` p ON p.product_id = l.product_id
