-- InstaShop: inventory turnover per category (the Inventory page). Over the products of
-- v_inventory_forecast in the category: units_90d, the units of their completed sales
-- on the 90 days before today; snapshot_stock, their stock at the snapshot; stock, their
-- live stock; turnover_90d = units_90d / snapshot_stock, rounded to 2 decimals (NULL
-- when the category holds no stock at the snapshot): the times the stock was sold over
-- in 90 days (docs/metrics.md). Grain: category. Columns: category, products,
-- units_90d, snapshot_stock, stock, turnover_90d.
SELECT
  COALESCE(category, 'Unknown') AS category,
  COUNT(*) AS products,
  SUM(units_90d) AS units_90d,
  SUM(snapshot_stock) AS snapshot_stock,
  SUM(stock) AS stock,
  IF(SUM(snapshot_stock) > 0, ROUND(NUMERIC '1' * SUM(units_90d) / SUM(snapshot_stock), 2), NULL) AS turnover_90d
FROM `${project_id}.${dataset_id}.v_inventory_forecast`
GROUP BY 1
