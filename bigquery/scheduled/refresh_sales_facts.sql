-- Brings sales_facts (the dashboard's date-partitioned facts) up to date: re-derives
-- every day from ${refresh_days} days before the run's day (in the reporting time zone)
-- from v_sales_facts, in one transaction, so a reader sees the old days or the new ones,
-- never both or neither. Late live sales, re-sends and batch appends of those days are
-- taken in; a day older than that keeps what the last refresh of it wrote (run the
-- refresh binary with --all after loading history). @run_time is the run's time: the
-- scheduled query's own parameter on BigQuery, the refresh binary's locally.
--
-- In the same transaction, product_daily_units (completed units per product and day)
-- is re-derived for the same days, and customer_months (completed sales per customer and month) is
-- re-derived from the first day of the window's month, out of sales_facts from one
-- month before that: an order counts in the month of its first completed line, and the
-- month before is where a first line just across the boundary is found. Then
-- customer_lifetime (per customer, ever) takes the difference, and the replaced months
-- go. After loading history, run the refresh binary with --all (it rebuilds then; the
-- scheduled query never does).
--
-- Last, inventory_sold is rebuilt: per product, the units of its live sales after its
-- latest snapshot whose payment did not fail (v_inventory_status's rule), each event
-- once, among the rows written by counted_until (the run's time less
-- ${stock_settle_seconds} s, so that a row written just before the run but not yet
-- readable is not missed). It reads the live partitions from the oldest latest
-- snapshot on; v_inventory_now adds the sales written after counted_until.
DECLARE since DATE DEFAULT DATE_SUB(DATE(@run_time, '${time_zone}'), INTERVAL ${refresh_days} DAY);
DECLARE since_month DATE DEFAULT DATE_SUB(since, INTERVAL EXTRACT(DAY FROM since) - 1 DAY);
-- Every day (refresh --all): customer_lifetime is rebuilt from the new months alone,
-- whatever it held; otherwise it takes the difference.
DECLARE rebuild BOOL DEFAULT ${refresh_all};
DECLARE counted_until TIMESTAMP DEFAULT TIMESTAMP_SUB(@run_time, INTERVAL ${stock_settle_seconds} SECOND);
-- The oldest of the products' snapshots: every live sale that can count is after it (a
-- variable, so that the filter on the partitioning column prunes). A product counted
-- before snapshot_ts existed (NULL) counts every live sale.
DECLARE stock_since TIMESTAMP DEFAULT (
  SELECT IF(COUNTIF(snapshot_ts IS NULL) > 0, TIMESTAMP '0001-01-01 00:00:00+00', MIN(snapshot_ts))
  FROM `${project_id}.${dataset_id}.v_inventory_snapshot`
);

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

-- product_daily_units follows the same days: the completed units per product and day.
DELETE FROM `${project_id}.${dataset_id}.product_daily_units`
WHERE sale_date >= since;

INSERT INTO `${project_id}.${dataset_id}.product_daily_units` (sale_date, product_id, units, refreshed_at)
SELECT sale_date, product_id, SUM(qty), @run_time
FROM `${project_id}.${dataset_id}.sales_facts`
WHERE sale_date >= since
  AND payment_status = 'completed'
  AND product_id IS NOT NULL
  AND qty IS NOT NULL
GROUP BY sale_date, product_id;

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

-- customer_lifetime (a row per customer) follows customer_months by difference: for the
-- customers of the re-derived months, add their new rows (stamped @run_time) and take
-- away the rows they replace, which are deleted after.
DELETE FROM `${project_id}.${dataset_id}.customer_lifetime`
WHERE rebuild;

MERGE `${project_id}.${dataset_id}.customer_lifetime` t
USING (
  SELECT
    customer_id,
    MAX(IF(refreshed_at = @run_time, customer_name, NULL)) AS customer_name,
    MAX(IF(refreshed_at = @run_time, plan, NULL)) AS plan,
    MAX(IF(refreshed_at = @run_time, country, NULL)) AS country,
    MIN(IF(refreshed_at = @run_time, month, NULL)) AS first_month,
    SUM(IF(refreshed_at = @run_time, orders, IF(rebuild, 0, -orders))) AS orders,
    SUM(IF(refreshed_at = @run_time, revenue, IF(rebuild, 0, -revenue))) AS lifetime_value
  FROM `${project_id}.${dataset_id}.customer_months`
  WHERE month >= since_month
  GROUP BY customer_id
) d
ON t.customer_id = d.customer_id
WHEN MATCHED THEN UPDATE SET
  customer_name = COALESCE(d.customer_name, t.customer_name),
  plan = COALESCE(d.plan, t.plan),
  country = COALESCE(d.country, t.country),
  first_month = IF(t.first_month < since_month, t.first_month, d.first_month),
  orders = t.orders + d.orders,
  lifetime_value = t.lifetime_value + d.lifetime_value,
  refreshed_at = @run_time
WHEN NOT MATCHED AND d.first_month IS NOT NULL THEN INSERT
  (customer_id, customer_name, plan, country, first_month, orders, lifetime_value, refreshed_at)
  VALUES (d.customer_id, d.customer_name, d.plan, d.country, d.first_month, d.orders,
          d.lifetime_value, @run_time);

-- A customer with no completed sale left (every one refunded, say) has no lifetime row.
DELETE FROM `${project_id}.${dataset_id}.customer_lifetime`
WHERE first_month IS NULL;

DELETE FROM `${project_id}.${dataset_id}.customer_months`
WHERE month >= since_month AND refreshed_at != @run_time;

DELETE FROM `${project_id}.${dataset_id}.inventory_sold` WHERE TRUE;

INSERT INTO `${project_id}.${dataset_id}.inventory_sold`
  (product_id, snapshot_ts, sold_live, counted_until, refreshed_at)
WITH
-- Each event once, as v_fact_sales_streaming keeps it (the first written); a re-send
-- carries its event's event_ts, so the partitions from stock_since hold every copy.
live AS (
  SELECT product_id, qty, payment_status, event_ts, ingest_ts
  FROM `${project_id}.${dataset_id}.fact_sales_streaming`
  WHERE event_ts > stock_since
  QUALIFY ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY ingest_ts, message_id) = 1
)
SELECT
  s.product_id,
  s.snapshot_ts,
  COALESCE(SUM(l.qty), 0),
  counted_until,
  @run_time
FROM `${project_id}.${dataset_id}.v_inventory_snapshot` s
LEFT JOIN live l
  ON l.product_id = s.product_id
  AND (l.payment_status IS NULL OR l.payment_status != 'failed')
  AND (s.snapshot_ts IS NULL OR l.event_ts > s.snapshot_ts)
  AND l.ingest_ts <= counted_until
GROUP BY s.product_id, s.snapshot_ts;

COMMIT TRANSACTION;
