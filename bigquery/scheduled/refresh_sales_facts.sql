-- Brings sales_facts (the dashboard's date-partitioned facts) up to date: re-derives
-- every day from ${refresh_days} days before the run's day (in the reporting time zone)
-- from v_sales_facts, in one transaction, so a reader sees the old days or the new ones,
-- never both or neither. Late live sales, re-sends and batch appends of those days are
-- taken in; a day older than that keeps what the last refresh of it wrote (run the
-- refresh binary with --all after loading history). @run_time is the run's time: the
-- scheduled query's own parameter on BigQuery, the refresh binary's locally.
BEGIN TRANSACTION;

DELETE FROM `${project_id}.${dataset_id}.sales_facts`
WHERE sale_date >= DATE_SUB(DATE(@run_time, '${time_zone}'), INTERVAL ${refresh_days} DAY);

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
WHERE sale_date >= DATE_SUB(DATE(@run_time, '${time_zone}'), INTERVAL ${refresh_days} DAY);

COMMIT TRANSACTION;
