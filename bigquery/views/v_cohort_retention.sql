-- InstaShop: monthly cohort retention. A customer's cohort is the month (of sale_date,
-- the shop's calendar) of their first completed purchase; a cohort is retained in month
-- N if it buys again (completed) N months later.
-- Grain: cohort month x months since. Columns: cohort_month, months_since,
-- active_customers, cohort_size, retention_pct.
WITH activity AS (
  -- The month's first day; DATE_TRUNC(sale_date, MONTH) is the same on BigQuery, but
  -- the emulator answers it as a DATETIME (ARCHITECTURE.md, emulator workarounds).
  SELECT DISTINCT customer_id, DATE_SUB(sale_date, INTERVAL EXTRACT(DAY FROM sale_date) - 1 DAY) AS month
  FROM `${project_id}.${dataset_id}.v_fact_sales_all`
  WHERE payment_status = 'completed'
),
cohorts AS (
  SELECT customer_id, MIN(month) AS cohort_month
  FROM activity
  GROUP BY customer_id
),
sizes AS (
  SELECT cohort_month, COUNT(*) AS cohort_size
  FROM cohorts
  GROUP BY cohort_month
)
SELECT
  c.cohort_month,
  DATE_DIFF(a.month, c.cohort_month, MONTH) AS months_since,
  COUNT(DISTINCT a.customer_id) AS active_customers,
  s.cohort_size,
  ROUND(100 * COUNT(DISTINCT a.customer_id) / s.cohort_size, 2) AS retention_pct
FROM activity a
JOIN cohorts c ON c.customer_id = a.customer_id
JOIN sizes s ON s.cohort_month = c.cohort_month
GROUP BY c.cohort_month, months_since, s.cohort_size
