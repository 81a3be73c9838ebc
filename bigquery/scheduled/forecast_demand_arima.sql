-- Option, on BigQuery only: the forecast binary's table from BigQuery ML instead of the
-- Rust fit, as a scheduled query (daily). One ARIMA_PLUS model per product (auto ARIMA,
-- weekly seasonality found by itself) over the same input as `forecast`: each product's
-- daily units of completed sales, both sources, by sale_date, over the 365 days before
-- today in ${time_zone}; then the next 28 days, from tomorrow, with an 80% interval,
-- replace today's run in forecast_demand (method 'arima_plus'), and what earlier runs said
-- of the days ahead, as `forecast` does.
-- v_inventory_forecast reads either. Unchecked: the emulator cannot run BigQuery ML, and
-- the GoogleSQL analyzer build the project can use predates ML.FORECAST; run it once by
-- hand (bq query --use_legacy_sql=false < file, with the variables filled) before
-- scheduling it. Template variables: ${project_id}, ${dataset_id}, ${time_zone}.
DECLARE today DATE DEFAULT CURRENT_DATE('${time_zone}');
DECLARE started TIMESTAMP DEFAULT CURRENT_TIMESTAMP();

CREATE OR REPLACE MODEL `${project_id}.${dataset_id}.forecast_demand_arima`
OPTIONS (
  model_type = 'ARIMA_PLUS',
  time_series_timestamp_col = 'day',
  time_series_data_col = 'units',
  time_series_id_col = 'product_id',
  data_frequency = 'DAILY',
  horizon = 29,
  auto_arima = TRUE
) AS
SELECT product_id, sale_date AS day, units
FROM `${project_id}.${dataset_id}.product_daily_units`
WHERE sale_date BETWEEN DATE_SUB(today, INTERVAL 365 DAY) AND DATE_SUB(today, INTERVAL 1 DAY);

BEGIN TRANSACTION;
DELETE FROM `${project_id}.${dataset_id}.forecast_demand`
WHERE forecast_date > today AND run_date <= today;
INSERT INTO `${project_id}.${dataset_id}.forecast_demand`
  (run_date, product_id, forecast_date, forecast_units, lower, upper, method, run_at)
SELECT
  today,
  product_id,
  DATE(forecast_timestamp),
  ROUND(CAST(GREATEST(forecast_value, 0) AS NUMERIC), 3),
  ROUND(CAST(GREATEST(prediction_interval_lower_bound, 0) AS NUMERIC), 3),
  ROUND(CAST(GREATEST(prediction_interval_upper_bound, 0) AS NUMERIC), 3),
  'arima_plus',
  started
FROM ML.FORECAST(
  MODEL `${project_id}.${dataset_id}.forecast_demand_arima`,
  STRUCT(29 AS horizon, 0.8 AS confidence_level)
)
WHERE DATE(forecast_timestamp) > today;
COMMIT TRANSACTION;
