-- InstaShop: the stock as last counted, one row per product and warehouse: the
-- inventory row with the latest snapshot_ts (an appended snapshot supersedes the one
-- before; rows loaded before snapshot_ts existed are NULL and lose to any dated one).
-- Grain: product x warehouse. Columns: product_id, warehouse, stock, reorder_point,
-- snapshot_ts.
SELECT product_id, warehouse, stock, reorder_point, snapshot_ts
FROM `${project_id}.${dataset_id}.inventory`
WHERE TRUE
QUALIFY ROW_NUMBER() OVER (
  PARTITION BY product_id, warehouse ORDER BY snapshot_ts DESC NULLS LAST
) = 1
