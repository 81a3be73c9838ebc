-- InstaShop: monthly cohort retention, as v_cohort_retention defines it, read from
-- customer_months (a row per customer and month with a completed sale, kept by the
-- refresh) instead of every sale: the dashboard's cohort table reads this.
-- Grain: cohort month x months since. Columns: cohort_month, months_since,
-- active_customers, cohort_size, retention_pct.
WITH cohorts AS (
  SELECT customer_id, MIN(month) AS cohort_month
  FROM `${project_id}.${dataset_id}.customer_months`
  GROUP BY customer_id
),
sizes AS (
  SELECT cohort_month, COUNT(*) AS cohort_size
  FROM cohorts
  GROUP BY cohort_month
)
SELECT
  c.cohort_month,
  DATE_DIFF(m.month, c.cohort_month, MONTH) AS months_since,
  COUNT(*) AS active_customers,
  s.cohort_size,
  ROUND(100 * COUNT(*) / s.cohort_size, 2) AS retention_pct
FROM `${project_id}.${dataset_id}.customer_months` m
JOIN cohorts c ON c.customer_id = m.customer_id
JOIN sizes s ON s.cohort_month = c.cohort_month
GROUP BY c.cohort_month, months_since, s.cohort_size
