-- Revenue over time: per day of the shop's calendar (sale_date, in the reporting time
-- zone), and cumulative (the seed's growth chart). Net: completed sales only.
-- Grain: day. Columns: day, revenue, orders, batch_revenue, streaming_revenue,
-- cumulative_revenue.
SELECT
  day,
  revenue,
  orders,
  batch_revenue,
  streaming_revenue,
  SUM(revenue) OVER (ORDER BY day ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS cumulative_revenue
FROM (
  SELECT
    sale_date AS day,
    SUM(gross_amount) AS revenue,
    COUNT(DISTINCT order_id) AS orders,
    SUM(IF(source = 'batch', gross_amount, 0)) AS batch_revenue,
    SUM(IF(source = 'streaming', gross_amount, 0)) AS streaming_revenue
  FROM `${project_id}.${dataset_id}.v_fact_sales_all`
  WHERE payment_status = 'completed'
  GROUP BY day
)
