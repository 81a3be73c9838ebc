-- InstaShop: stock status per product over all warehouses, live. The stock is the
-- latest inventory snapshot of each product-warehouse pair (v_inventory_snapshot) minus
-- the units of the live sales after it (event_ts > the product's snapshot_ts) whose
-- payment did not fail; the sales the snapshot already reflects are not subtracted
-- again. critical: stock at or under the reorder point (the critical-stock alert); low:
-- under twice the reorder point; optimal: the rest. Grain: product. Columns:
-- product_id, product_name, category, warehouses, snapshot_ts, snapshot_stock,
-- sold_live, stock, reorder_point, status.
WITH sold AS (
  SELECT f.product_id, SUM(f.qty) AS units
  FROM `${project_id}.${dataset_id}.v_fact_sales_streaming` f
  JOIN `${project_id}.${dataset_id}.v_inventory_snapshot` s ON s.product_id = f.product_id
  WHERE (f.payment_status IS NULL OR f.payment_status != 'failed')
    AND (s.snapshot_ts IS NULL OR f.event_ts > s.snapshot_ts)
  GROUP BY f.product_id
),
live AS (
  SELECT s.*, COALESCE(sold.units, 0) AS sold_live
  FROM `${project_id}.${dataset_id}.v_inventory_snapshot` s
  LEFT JOIN sold ON sold.product_id = s.product_id
)
SELECT
  product_id,
  product_name,
  category,
  warehouses,
  snapshot_ts,
  snapshot_stock,
  sold_live,
  snapshot_stock - sold_live AS stock,
  reorder_point,
  CASE
    WHEN snapshot_stock - sold_live <= reorder_point THEN 'critical'
    WHEN snapshot_stock - sold_live < 2 * reorder_point THEN 'low'
    ELSE 'optimal'
  END AS status
FROM live
