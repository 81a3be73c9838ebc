-- InstaShop: v_inventory_status's live stock, read from what the refresh keeps instead of
-- every live sale: the latest snapshot per product (v_inventory_snapshot), minus the units
-- the last refresh counted in inventory_sold (its live sales after that snapshot whose
-- payment did not fail, written by counted_until), minus, likewise, the units of the
-- live sales written since, each event once, from the last 7 days' partitions alone. A
-- product whose snapshot changed since the refresh (or that it has not seen) takes all
-- its recent sales after the new snapshot instead. So the stock is v_inventory_status's
-- as long as the time since the refresh plus a sale's lateness (ingest_ts - event_ts)
-- stays under 7 days, and a snapshot loaded after the refresh was counted within the
-- last 7 days; any other sale counts from the next refresh on. The dashboard's stock
-- table and the critical-stock alert read this. Grain: product. Columns: as v_inventory_status.
WITH counted AS (
  SELECT s.product_id, c.sold_live, c.counted_until
  FROM `${project_id}.${dataset_id}.v_inventory_snapshot` s
  JOIN `${project_id}.${dataset_id}.inventory_sold` c
    ON c.product_id = s.product_id
    AND c.snapshot_ts IS NOT DISTINCT FROM s.snapshot_ts
),
-- Each event once, as v_fact_sales_streaming keeps it (the first written): a constant
-- filter on the partitioning column, before the window, so that only the last 7 days'
-- partitions are read.
recent AS (
  SELECT product_id, qty, payment_status, event_ts, ingest_ts
  FROM `${project_id}.${dataset_id}.fact_sales_streaming`
  WHERE event_ts >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL 7 DAY)
  QUALIFY ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY ingest_ts, message_id) = 1
),
since AS (
  SELECT s.product_id, SUM(r.qty) AS units
  FROM `${project_id}.${dataset_id}.v_inventory_snapshot` s
  JOIN recent r ON r.product_id = s.product_id
  LEFT JOIN counted c ON c.product_id = s.product_id
  WHERE (r.payment_status IS NULL OR r.payment_status != 'failed')
    AND (s.snapshot_ts IS NULL OR r.event_ts > s.snapshot_ts)
    AND (c.product_id IS NULL OR r.ingest_ts > c.counted_until)
  GROUP BY s.product_id
),
live AS (
  SELECT s.*, COALESCE(c.sold_live, 0) + COALESCE(since.units, 0) AS sold_live
  FROM `${project_id}.${dataset_id}.v_inventory_snapshot` s
  LEFT JOIN counted c ON c.product_id = s.product_id
  LEFT JOIN since ON since.product_id = s.product_id
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
