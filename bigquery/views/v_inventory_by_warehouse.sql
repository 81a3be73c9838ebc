-- InstaShop: stock status per warehouse, from the latest snapshot of each
-- product-warehouse pair (v_inventory_latest), with v_inventory_status's thresholds applied
-- to each pair. It cannot subtract the live sales as v_inventory_status does: a sale
-- event names no warehouse, so which warehouse shipped it is unknown; these are the
-- counted units as of each snapshot.
-- Grain: warehouse. Columns: warehouse, products, units, critical, low, optimal,
-- snapshot_ts (the newest snapshot of the warehouse).
SELECT
  warehouse,
  COUNT(*) AS products,
  SUM(stock) AS units,
  COUNTIF(stock <= reorder_point) AS critical,
  COUNTIF(stock > reorder_point AND stock < 2 * reorder_point) AS low,
  COUNTIF(stock >= 2 * reorder_point) AS optimal,
  MAX(snapshot_ts) AS snapshot_ts
FROM `${project_id}.${dataset_id}.v_inventory_latest`
GROUP BY warehouse
