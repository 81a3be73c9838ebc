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
    DATE_TRUNC(sale_date, MONTH) AS month,
    payment_status AS status,
    COUNT(DISTINCT order_id) AS orders,
    SUM(gross_amount) AS amount
  FROM `${project_id}.${dataset_id}.v_fact_sales_all`
  GROUP BY month, status
)
