-- InstaShop: orders by month of the shop's calendar (sale_date) and payment status
-- (completed, failed, refunded), batch and live alike, with each status's amount and its
-- share of the month's orders. Grain: month x status. Columns: month, status, orders,
-- amount, share_of_orders_pct.
SELECT
  month,
  status,
  orders,
  amount,
  ROUND(100 * SAFE_DIVIDE(orders, SUM(orders) OVER (PARTITION BY month)), 2) AS share_of_orders_pct
FROM (
  SELECT
    -- The month's first day; DATE_TRUNC(sale_date, MONTH) is the same on BigQuery, but
    -- the emulator answers it as a DATETIME (ARCHITECTURE.md, emulator workarounds).
    DATE_SUB(sale_date, INTERVAL EXTRACT(DAY FROM sale_date) - 1 DAY) AS month,
    payment_status AS status,
    COUNT(DISTINCT order_id) AS orders,
    SUM(gross_amount) AS amount
  FROM `${project_id}.${dataset_id}.v_fact_sales_all`
  GROUP BY month, status
)
