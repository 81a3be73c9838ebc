-- InstaShop: revenue in the last 30 days of the shop's calendar (today included, days
-- are sale_date in the reporting time zone) against the 30 before, and the growth
-- between them. Net: completed sales only. Grain: one row. Columns: revenue_30d,
-- revenue_prev_30d, orders_30d, orders_prev_30d, growth_pct (NULL when the previous
-- period is empty).
SELECT
  revenue_30d,
  revenue_prev_30d,
  orders_30d,
  orders_prev_30d,
  ROUND(100 * SAFE_DIVIDE(revenue_30d - revenue_prev_30d, revenue_prev_30d), 2) AS growth_pct
FROM (
  SELECT
    COALESCE(SUM(IF(sale_date > DATE_SUB(CURRENT_DATE('${time_zone}'), INTERVAL 30 DAY), gross_amount, NULL)), 0) AS revenue_30d,
    COALESCE(SUM(IF(sale_date <= DATE_SUB(CURRENT_DATE('${time_zone}'), INTERVAL 30 DAY), gross_amount, NULL)), 0) AS revenue_prev_30d,
    COUNT(DISTINCT IF(sale_date > DATE_SUB(CURRENT_DATE('${time_zone}'), INTERVAL 30 DAY), order_id, NULL)) AS orders_30d,
    COUNT(DISTINCT IF(sale_date <= DATE_SUB(CURRENT_DATE('${time_zone}'), INTERVAL 30 DAY), order_id, NULL)) AS orders_prev_30d
  FROM `${project_id}.${dataset_id}.v_fact_sales_all`
  WHERE payment_status = 'completed'
    AND sale_date > DATE_SUB(CURRENT_DATE('${time_zone}'), INTERVAL 60 DAY)
    AND sale_date <= CURRENT_DATE('${time_zone}')
)
