-- Alert: too many failed payments. Fires when, among the live orders that reached
-- BigQuery in the last hour (by ingest_ts, so a burst that arrives late, while the
-- worker was backlogged, is still judged) and report a payment, at least
-- alert_failed_payment_min_orders orders were placed and the share that failed is at
-- least alert_failed_payment_pct percent and at least alert_failed_payment_factor times
-- the trailing 28-day share (batch orders.status and live payment_status before the
-- hour; batch days are the shop's calendar days); the thresholds are the deployment's
-- (Terraform's alert_thresholds, the alerts binary's flags). An order failed when any
-- of its lines says so. Alert columns as every v_alert_* view: value is the share in
-- percent, threshold the share it had to reach.
WITH clock AS (
  SELECT CURRENT_TIMESTAMP() AS now
),
live AS (
  SELECT
    f.order_id,
    MAX(f.ingest_ts) AS ts,
    MAX(IF(f.payment_status = 'failed', 1, 0)) AS failed
  FROM `${project_id}.${dataset_id}.v_fact_sales_streaming` f, clock
  WHERE f.payment_status IS NOT NULL
    AND f.ingest_ts > TIMESTAMP_SUB(clock.now, INTERVAL 29 DAY)
    AND f.ingest_ts <= clock.now
  GROUP BY f.order_id
),
last_hour AS (
  SELECT COUNT(*) AS orders, COALESCE(SUM(failed), 0) AS failed
  FROM live, clock
  WHERE live.ts > TIMESTAMP_SUB(clock.now, INTERVAL 1 HOUR)
),
trailing AS (
  SELECT COUNT(*) AS orders, COALESCE(SUM(failed), 0) AS failed
  FROM (
    SELECT live.failed
    FROM live, clock
    WHERE live.ts <= TIMESTAMP_SUB(clock.now, INTERVAL 1 HOUR)
      AND live.ts > TIMESTAMP_SUB(clock.now, INTERVAL 28 DAY)
    UNION ALL
    SELECT IF(o.status = 'failed', 1, 0) AS failed
    FROM `${project_id}.${dataset_id}.orders` o, clock
    WHERE o.status IS NOT NULL
      AND o.order_date > DATE_SUB(DATE(clock.now, '${time_zone}'), INTERVAL 28 DAY)
      AND o.order_date <= DATE(clock.now, '${time_zone}')
  )
),
measure AS (
  SELECT
    h.orders,
    h.failed,
    ROUND(NUMERIC '100' * h.failed / NULLIF(h.orders, 0), 2) AS share_pct,
    ROUND(NUMERIC '100' * t.failed / NULLIF(t.orders, 0), 2) AS trailing_pct
  FROM last_hour h, trailing t
),
judged AS (
  SELECT
    m.*,
    ROUND(
      GREATEST(
        NUMERIC '${alert_failed_payment_pct}',
        NUMERIC '${alert_failed_payment_factor}' * COALESCE(m.trailing_pct, NUMERIC '0')
      ),
      2
    ) AS threshold
  FROM measure m
)
SELECT
  'failed_payments/all' AS alert_key,
  'failed_payments' AS kind,
  'all' AS subject,
  j.share_pct AS value,
  j.threshold,
  TIMESTAMP_SUB(clock.now, INTERVAL 1 HOUR) AS window_start,
  clock.now AS window_end,
  CONCAT(
    CAST(j.failed AS STRING), ' of ', CAST(j.orders AS STRING),
    ' live orders failed their payment in the last hour (', CAST(j.share_pct AS STRING),
    '%); trailing 28 days: ', COALESCE(CONCAT(CAST(j.trailing_pct AS STRING), '%'), 'no orders')
  ) AS detail
FROM judged j, clock
WHERE j.orders >= ${alert_failed_payment_min_orders}
  AND j.share_pct >= j.threshold
