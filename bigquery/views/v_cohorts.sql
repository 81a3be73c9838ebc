-- InstaShop: monthly cohort retention, as v_cohort_retention defines it, read from the
-- tables the refresh keeps instead of every sale: a customer's cohort is their
-- first_month in customer_lifetime, their active months the rows of customer_months (a
-- row per customer and month with a completed sale). The dashboard's cohort table reads
-- this. Grain: cohort month x months since. Columns: cohort_month, months_since,
-- active_customers, cohort_size, retention_pct.
WITH sizes AS (
  SELECT first_month AS cohort_month, COUNT(*) AS cohort_size
  FROM `${project_id}.${dataset_id}.customer_lifetime`
  GROUP BY first_month
)
SELECT
  l.first_month AS cohort_month,
  DATE_DIFF(m.month, l.first_month, MONTH) AS months_since,
  COUNT(*) AS active_customers,
  s.cohort_size,
  ROUND(100 * COUNT(*) / s.cohort_size, 2) AS retention_pct
FROM `${project_id}.${dataset_id}.customer_months` m
JOIN `${project_id}.${dataset_id}.customer_lifetime` l ON l.customer_id = m.customer_id
JOIN sizes s ON s.cohort_month = l.first_month
GROUP BY l.first_month, months_since, s.cohort_size
