-- Brings sales_facts (the dashboard's date-partitioned facts) up to date: re-derives
-- every day from ${refresh_days} days before the run's day (in the reporting time zone)
-- from v_sales_facts, in one transaction, so a reader sees the old days or the new ones,
-- never both or neither. Late live sales, re-sends and batch appends of those days are
-- taken in; a day older than that keeps what the last refresh of it wrote (run the
-- refresh binary with --all after loading history). @run_time is the run's time: the
-- scheduled query's own parameter on BigQuery, the refresh binary's locally.
--
-- In the same transaction, customer_months (completed sales per customer and month) is
-- re-derived from the first day of the window's month, out of sales_facts from one
-- month before that: an order counts in the month of its first completed line, and the
-- month before is where a first line just across the boundary is found.
DECLARE since DATE DEFAULT DATE_SUB(DATE(@run_time, '${time_zone}'), INTERVAL ${refresh_days} DAY);
DECLARE since_month DATE DEFAULT DATE_SUB(since, INTERVAL EXTRACT(DAY FROM since) - 1 DAY);

BEGIN TRANSACTION;

DELETE FROM `${project_id}.${dataset_id}.sales_facts`
WHERE sale_date >= since;

INSERT INTO `${project_id}.${dataset_id}.sales_facts`
  (sale_date, sale_month, ts, source, order_id, customer_id, customer_name, product_id,
   product_name, country, category, plan, payment_method, payment_status, qty,
   gross_amount, revenue, failed_amount, refunded_amount, completed_order_id,
   completed_customer_id, refreshed_at)
SELECT
  sale_date, sale_month, ts, source, order_id, customer_id, customer_name, product_id,
  product_name, country, category, plan, payment_method, payment_status, qty,
  gross_amount, revenue, failed_amount, refunded_amount, completed_order_id,
  completed_customer_id, @run_time
FROM `${project_id}.${dataset_id}.v_sales_facts`
WHERE sale_date >= since;

DELETE FROM `${project_id}.${dataset_id}.customer_months`
WHERE month >= since_month;

INSERT INTO `${project_id}.${dataset_id}.customer_months`
  (customer_id, month, customer_name, plan, country, revenue, orders, refreshed_at)
WITH lines AS (
  SELECT customer_id, sale_month, customer_name, plan, country, revenue, completed_order_id
  FROM `${project_id}.${dataset_id}.sales_facts`
  WHERE sale_date >= DATE_SUB(since_month, INTERVAL 1 MONTH)
    AND completed_order_id IS NOT NULL
),
firsts AS (
  SELECT completed_order_id, MIN(sale_month) AS first_month
  FROM lines
  GROUP BY completed_order_id
)
SELECT
  l.customer_id,
  l.sale_month,
  MAX(l.customer_name),
  MAX(l.plan),
  MAX(l.country),
  SUM(l.revenue),
  COUNT(DISTINCT IF(f.first_month = l.sale_month, l.completed_order_id, NULL)),
  @run_time
FROM lines l
JOIN firsts f ON f.completed_order_id = l.completed_order_id
WHERE l.sale_month >= since_month
GROUP BY l.customer_id, l.sale_month;

COMMIT TRANSACTION;
