-- InstaShop: active customers, i.e. customers with completed sales: ever, and in the last
-- 30 and 90 days of the shop's calendar (sale_date, today included). Grain: one row.
-- Columns: customers, active_customers, active_30d, active_90d.
SELECT
  (SELECT COUNT(*) FROM `${project_id}.${dataset_id}.customers`) AS customers,
  COUNT(DISTINCT customer_id) AS active_customers,
  COUNT(DISTINCT IF(sale_date > DATE_SUB(CURRENT_DATE('${time_zone}'), INTERVAL 30 DAY), customer_id, NULL)) AS active_30d,
  COUNT(DISTINCT IF(sale_date > DATE_SUB(CURRENT_DATE('${time_zone}'), INTERVAL 90 DAY), customer_id, NULL)) AS active_90d
FROM `${project_id}.${dataset_id}.v_fact_sales_all`
WHERE payment_status = 'completed'
