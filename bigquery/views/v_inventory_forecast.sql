-- InstaShop: where each product's stock is heading. Per product of v_inventory_now (its
-- live stock): units_28d and units_90d, the units of its completed sales (batch and
-- live, each once) on the 28 and 90 days before today in the reporting time zone, from
-- product_daily_units (sales_facts summed by the refresh, as fresh as it); and, from the
-- latest forecast run of the last 7 days (v_forecast_ahead: forecast_demand's days from
-- tomorrow on), units_per_day (the forecast's daily average over those days), stockout_date (the first day whose cumulative forecast
-- exceeds the stock) and reorder_qty (the forecast over the lead time plus the review
-- period, ${alert_stockout_lead_days} + ${alert_stockout_review_days} days, less the
-- stock, rounded up, never below 0; days past the horizon at units_per_day). A product
-- that run did not forecast (no sales in its history, or no run yet) takes
-- units_28d / 28 as units_per_day, method mean_28d, and the same rules over 28 days.
-- days_of_cover = stock / units_per_day (NULL when nothing is forecast to sell);
-- turnover_90d = units_90d / the stock at the snapshot (NULL for no stock); both
-- rounded to 2 decimals. Every measure is NUMERIC (forecast_demand keeps 3 decimals),
-- so the cumulative comparisons with the stock are exact.
-- Grain: product. Columns: product_id, product_name, category, stock, snapshot_stock,
-- units_28d, units_90d, units_per_day, method, days_of_cover, stockout_date,
-- turnover_90d, reorder_qty, forecast_run.
WITH ahead AS (
  SELECT
    product_id,
    run_date,
    method,
    forecast_date,
    forecast_units,
    ROW_NUMBER() OVER (PARTITION BY product_id ORDER BY forecast_date) AS day_n,
    SUM(forecast_units) OVER (PARTITION BY product_id ORDER BY forecast_date) AS cumulative
  FROM `${project_id}.${dataset_id}.v_forecast_ahead`
),
sold AS (
  SELECT
    product_id,
    SUM(IF(sale_date >= DATE_SUB(CURRENT_DATE('${time_zone}'), INTERVAL 28 DAY), units, 0)) AS units_28d,
    SUM(units) AS units_90d
  FROM `${project_id}.${dataset_id}.product_daily_units`
  WHERE sale_date BETWEEN DATE_SUB(CURRENT_DATE('${time_zone}'), INTERVAL 90 DAY)
      AND DATE_SUB(CURRENT_DATE('${time_zone}'), INTERVAL 1 DAY)
  GROUP BY product_id
),
per_product AS (
  SELECT
    n.product_id,
    n.product_name,
    n.category,
    n.stock,
    n.snapshot_stock,
    COALESCE(s.units_28d, 0) AS units_28d,
    COALESCE(s.units_90d, 0) AS units_90d,
    COUNT(a.forecast_date) AS days_ahead,
    MIN(a.run_date) AS forecast_run,
    MIN(a.method) AS forecast_method,
    AVG(a.forecast_units) AS forecast_per_day,
    MIN(IF(a.cumulative > n.stock, a.forecast_date, NULL)) AS forecast_stockout,
    SUM(IF(a.day_n <= ${alert_stockout_lead_days} + ${alert_stockout_review_days}, a.forecast_units, 0)) AS forecast_cover_demand
  FROM `${project_id}.${dataset_id}.v_inventory_now` n
  LEFT JOIN sold s ON s.product_id = n.product_id
  LEFT JOIN ahead a ON a.product_id = n.product_id
  GROUP BY n.product_id, n.product_name, n.category, n.stock, n.snapshot_stock, s.units_28d, s.units_90d
),
-- Without a forecast, each measure is one division of whole numbers (units_28d over 28
-- days), so that it is exact rather than rounded twice.
rated AS (
  SELECT
    *,
    IF(days_ahead > 0, forecast_per_day, NUMERIC '1' * units_28d / 28) AS units_per_day,
    IF(days_ahead > 0, forecast_method, 'mean_28d') AS method,
    CASE
      WHEN days_ahead > 0 THEN IF(forecast_per_day > 0, GREATEST(stock, 0) / forecast_per_day, NULL)
      WHEN units_28d > 0 THEN NUMERIC '28' * GREATEST(stock, 0) / units_28d
    END AS cover,
    IF(days_ahead = 0 AND units_28d > 0, GREATEST(CAST(FLOOR(NUMERIC '28' * stock / units_28d) AS INT64) + 1, 1), NULL) AS mean_out_day,
    IF(
      days_ahead > 0,
      forecast_cover_demand
        + GREATEST(${alert_stockout_lead_days} + ${alert_stockout_review_days} - days_ahead, 0) * forecast_per_day,
      NUMERIC '1' * units_28d * (${alert_stockout_lead_days} + ${alert_stockout_review_days}) / 28
    ) AS cover_demand
  FROM per_product
)
SELECT
  product_id,
  product_name,
  category,
  stock,
  snapshot_stock,
  units_28d,
  units_90d,
  units_per_day,
  method,
  ROUND(cover, 2) AS days_of_cover,
  CASE
    WHEN days_ahead > 0 THEN forecast_stockout
    WHEN mean_out_day <= 28 THEN DATE_ADD(CURRENT_DATE('${time_zone}'), INTERVAL mean_out_day DAY)
  END AS stockout_date,
  IF(snapshot_stock > 0, ROUND(NUMERIC '1' * units_90d / snapshot_stock, 2), NULL) AS turnover_90d,
  CAST(GREATEST(CEIL(cover_demand - stock), 0) AS INT64) AS reorder_qty,
  forecast_run
FROM rated
