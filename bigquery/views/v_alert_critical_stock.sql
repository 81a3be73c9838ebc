-- Alert: a product whose live stock is at or under its reorder point: v_inventory_now,
-- the stock the dashboard shows (v_inventory_status's, from what the refresh counted and
-- the last 7 days of live sales, so that an evaluation every few minutes does not read
-- every live sale). One row per product while it lasts. Alert columns (as every
-- v_alert_* view): alert_key (one per alert while it lasts), kind, subject, value (units
-- on hand), threshold (the reorder point), window_start (NULL: a level, not a window),
-- window_end (when evaluated), detail.
SELECT
  CONCAT('critical_stock/', product_id) AS alert_key,
  'critical_stock' AS kind,
  product_id AS subject,
  stock AS value,
  reorder_point AS threshold,
  CAST(NULL AS TIMESTAMP) AS window_start,
  CURRENT_TIMESTAMP() AS window_end,
  CONCAT(
    COALESCE(product_name, product_id), ' (', COALESCE(category, 'no category'), '): ',
    CAST(stock AS STRING), ' units on hand for a reorder point of ', CAST(reorder_point AS STRING),
    ' (snapshot ', CAST(snapshot_stock AS STRING), ', sold live since ', CAST(sold_live AS STRING), ')'
  ) AS detail
FROM `${project_id}.${dataset_id}.v_inventory_now`
WHERE status = 'critical'
