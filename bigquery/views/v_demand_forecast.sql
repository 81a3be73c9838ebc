-- InstaShop: the demand of the best sellers, behind and ahead (the Inventory page's
-- forecast chart). Products are ranked by demand_rank: 1 is the product with the most
-- units of completed sales (batch and live, each once, from product_daily_units) on
-- the 28 days before today in the reporting time zone, ties by product_id; only
-- products that sold then are ranked. Each has one row per day: the 56 days before today, with units (its
-- completed units that day, 0 on a day without), and the days ahead of the latest
-- forecast run of the last 7 days (v_forecast_ahead, as v_inventory_forecast reads
-- it), with forecast_units, its 80% interval forecast_lower .. forecast_upper
-- (NUMERIC, 3 decimals) and the run's method. A row of history has no forecast, a row
-- ahead no units. Grain: product, day. Columns:
-- product_id, product_name, category, demand_rank, day, units, forecast_units,
-- forecast_lower, forecast_upper, method.
WITH sold AS (
  SELECT product_id, sale_date, units
  FROM `${project_id}.${dataset_id}.product_daily_units`
  WHERE sale_date BETWEEN DATE_SUB(CURRENT_DATE('${time_zone}'), INTERVAL 56 DAY)
      AND DATE_SUB(CURRENT_DATE('${time_zone}'), INTERVAL 1 DAY)
),
ranked AS (
  SELECT product_id, ROW_NUMBER() OVER (ORDER BY SUM(units) DESC, product_id) AS demand_rank
  FROM sold
  WHERE sale_date >= DATE_SUB(CURRENT_DATE('${time_zone}'), INTERVAL 28 DAY)
  GROUP BY product_id
),
history AS (
  SELECT r.product_id, d AS day, COALESCE(s.units, 0) AS units
  FROM ranked r
  CROSS JOIN UNNEST(GENERATE_DATE_ARRAY(
    DATE_SUB(CURRENT_DATE('${time_zone}'), INTERVAL 56 DAY),
    DATE_SUB(CURRENT_DATE('${time_zone}'), INTERVAL 1 DAY)
  )) AS d
  LEFT JOIN sold s ON s.product_id = r.product_id AND s.sale_date = d
),
ahead AS (
  SELECT product_id, forecast_date AS day, forecast_units, lower, upper, method
  FROM `${project_id}.${dataset_id}.v_forecast_ahead`
),
days AS (
  SELECT product_id, day, units, NULL AS forecast_units, NULL AS forecast_lower,
    NULL AS forecast_upper, CAST(NULL AS STRING) AS method
  FROM history
  UNION ALL
  SELECT product_id, day, NULL, forecast_units, lower, upper, method
  FROM ahead
)
SELECT
  r.product_id,
  p.name AS product_name,
  COALESCE(p.category, 'Unknown') AS category,
  r.demand_rank,
  d.day,
  d.units,
  d.forecast_units,
  d.forecast_lower,
  d.forecast_upper,
  d.method
FROM ranked r
JOIN days d ON d.product_id = r.product_id
LEFT JOIN `${project_id}.${dataset_id}.products` p ON p.product_id = r.product_id
