-- InstaShop: stock status per product over all warehouses, live. The stock is the
-- latest inventory snapshot of each product-warehouse pair (v_inventory_latest) minus
-- the units of the live sales after it (event_ts > the product's snapshot_ts) whose
-- payment did not fail; the sales the snapshot already reflects are not subtracted
-- again. critical: stock at or under the reorder point (the critical-stock alert); low:
-- under twice the reorder point; optimal: the rest. Grain: product. Columns:
-- product_id, product_name, category, warehouses, snapshot_ts, snapshot_stock,
-- sold_live, stock, reorder_point, status.
WITH snapshot AS (
  SELECT
    product_id,
    COUNT(*) AS warehouses,
    MAX(snapshot_ts) AS snapshot_ts,
    SUM(stock) AS snapshot_stock,
    SUM(reorder_point) AS reorder_point
  FROM `${project_id}.${dataset_id}.v_inventory_latest`
  GROUP BY product_id
),
sold AS (
  SELECT f.product_id, SUM(f.qty) AS units
  FROM `${project_id}.${dataset_id}.v_fact_sales_streaming` f
  JOIN snapshot s ON s.product_id = f.product_id
  WHERE (f.payment_status IS NULL OR f.payment_status != 'failed')
    AND (s.snapshot_ts IS NULL OR f.event_ts > s.snapshot_ts)
  GROUP BY f.product_id
),
live AS (
  SELECT
    s.product_id,
    s.warehouses,
    s.snapshot_ts,
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
  l.snapshot_ts,
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
