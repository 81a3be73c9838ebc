-- Alert: a product forecast to run out within the lead time: days_of_cover of
-- v_inventory_forecast (stock over the forecast daily demand) under
-- ${alert_stockout_lead_days} days. A product with no forecast demand has no cover and
-- does not fire. One row per product while it lasts. Alert columns (as every v_alert_*
-- view): value is the days of cover (two decimals), threshold the lead time in days,
-- window_start NULL (a level, not a window), window_end when evaluated.
SELECT
  CONCAT('stockout_risk/', product_id) AS alert_key,
  'stockout_risk' AS kind,
  product_id AS subject,
  days_of_cover AS value,
  NUMERIC '${alert_stockout_lead_days}' AS threshold,
  CAST(NULL AS TIMESTAMP) AS window_start,
  CURRENT_TIMESTAMP() AS window_end,
  CONCAT(
    COALESCE(product_name, product_id), ' (', COALESCE(category, 'no category'), '): ',
    CAST(stock AS STRING), ' units on hand, ', CAST(units_28d AS STRING), ' sold in the last 28 days (',
    method, '); runs out ', COALESCE(CAST(stockout_date AS STRING), 'after the horizon'),
    '; reorder ', CAST(reorder_qty AS STRING), ' units'
  ) AS detail
FROM `${project_id}.${dataset_id}.v_inventory_forecast`
WHERE days_of_cover < ${alert_stockout_lead_days}
