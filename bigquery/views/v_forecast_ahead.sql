-- InstaShop: the forecast the stock views use: the days ahead (from tomorrow in the
-- reporting time zone) of the latest forecast run of the last 7 days in forecast_demand.
-- A run supersedes earlier runs' days ahead, so these partitions hold one run; the
-- constant filters on forecast_date (partitions) and run_date (the first clustering
-- column) keep a read to them. v_inventory_forecast and v_demand_forecast read it.
-- Grain: product, forecast_date. Columns: run_date, product_id, forecast_date,
-- forecast_units, lower, upper, method.
WITH latest AS (
  SELECT MAX(run_date) AS run_date
  FROM `${project_id}.${dataset_id}.forecast_demand`
  WHERE forecast_date > CURRENT_DATE('${time_zone}')
    AND run_date >= DATE_SUB(CURRENT_DATE('${time_zone}'), INTERVAL 7 DAY)
)
SELECT f.run_date, f.product_id, f.forecast_date, f.forecast_units, f.lower, f.upper, f.method
FROM `${project_id}.${dataset_id}.forecast_demand` f
JOIN latest l ON f.run_date = l.run_date
WHERE f.forecast_date > CURRENT_DATE('${time_zone}')
  AND f.run_date >= DATE_SUB(CURRENT_DATE('${time_zone}'), INTERVAL 7 DAY)
