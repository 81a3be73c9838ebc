-- Alert: revenue outside its usual band. The net revenue (completed sales) of the last
-- 24 hours (v_fact_sales_all, batch days counted at their midnight in the reporting time
-- zone, so the days are the shop's calendar days) is compared with the same
-- 24 hours in each of the 8 weeks before (same weekday and hour; weeks with no sales
-- are left out): it fires when at least alert_revenue_min_weeks weeks have sales and
-- the revenue is further from their mean than both alert_revenue_z standard deviations
-- and alert_revenue_min_change_pct percent of the mean (a z-score with a floor, so a
-- steady history does not fire on noise). One row, high or low, while it lasts. Alert
-- columns as every v_alert_* view: value is the revenue, threshold the band's edge it
-- crossed.
WITH clock AS (
  SELECT CURRENT_TIMESTAMP() AS now
),
sales AS (
  SELECT
    DIV(TIMESTAMP_DIFF(clock.now, f.ts, SECOND), 604800) AS week,
    f.gross_amount
  FROM `${project_id}.${dataset_id}.v_fact_sales_all` f, clock
  WHERE f.payment_status = 'completed'
    AND f.ts <= clock.now
    AND f.ts > TIMESTAMP_SUB(clock.now, INTERVAL 57 DAY)
    AND MOD(TIMESTAMP_DIFF(clock.now, f.ts, SECOND), 604800) < 86400
),
weeks AS (
  SELECT week, SUM(gross_amount) AS revenue
  FROM sales
  GROUP BY week
),
earlier AS (
  SELECT COUNT(*) AS weeks, AVG(revenue) AS mean
  FROM weeks
  WHERE week BETWEEN 1 AND 8
),
spread AS (
  -- The sample standard deviation, in NUMERIC (STDDEV_SAMP would be FLOAT64).
  SELECT SQRT(SUM((w.revenue - e.mean) * (w.revenue - e.mean)) / NULLIF(e.weeks - 1, 0)) AS sd
  FROM weeks w, earlier e
  WHERE w.week BETWEEN 1 AND 8
  GROUP BY e.weeks, e.mean
),
band AS (
  SELECT
    COALESCE((SELECT SUM(revenue) FROM weeks WHERE week = 0), NUMERIC '0') AS revenue,
    e.weeks,
    ROUND(e.mean, 2) AS mean,
    ROUND(COALESCE((SELECT sd FROM spread), NUMERIC '0'), 2) AS sd
  FROM earlier e
),
measure AS (
  SELECT
    b.*,
    ROUND(
      GREATEST(
        NUMERIC '${alert_revenue_z}' * b.sd,
        NUMERIC '${alert_revenue_min_change_pct}' / 100 * b.mean
      ),
      2
    ) AS margin
  FROM band b
)
SELECT
  CONCAT('revenue_anomaly/', IF(m.revenue > m.mean, 'high', 'low')) AS alert_key,
  'revenue_anomaly' AS kind,
  IF(m.revenue > m.mean, 'high', 'low') AS subject,
  m.revenue AS value,
  IF(m.revenue > m.mean, m.mean + m.margin, m.mean - m.margin) AS threshold,
  TIMESTAMP_SUB(clock.now, INTERVAL 24 HOUR) AS window_start,
  clock.now AS window_end,
  CONCAT(
    'revenue of the last 24 hours ', CAST(m.revenue AS STRING), ' against a mean of ',
    CAST(m.mean AS STRING), ' (standard deviation ', CAST(m.sd AS STRING),
    ') over the same hours of ', CAST(m.weeks AS STRING), ' earlier weeks'
  ) AS detail
FROM measure m, clock
WHERE m.weeks >= ${alert_revenue_min_weeks}
  AND m.margin > 0
  AND ABS(m.revenue - m.mean) >= m.margin
