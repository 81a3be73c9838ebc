-- InstaShop: customer lifetime value, as v_customer_lifetime_value defines it, read from
-- customer_months (a row per customer and month, kept by the refresh) instead of every
-- sale: the dashboard's lifetime-value table reads this.
-- Grain: customer. Columns: customer_id, customer_name, plan, country, first_month,
-- last_month, orders, lifetime_value (NUMERIC), aov.
SELECT
  customer_id,
  MAX(customer_name) AS customer_name,
  MAX(plan) AS plan,
  MAX(country) AS country,
  MIN(month) AS first_month,
  MAX(month) AS last_month,
  SUM(orders) AS orders,
  SUM(revenue) AS lifetime_value,
  SAFE_DIVIDE(SUM(revenue), SUM(orders)) AS aov
FROM `${project_id}.${dataset_id}.customer_months`
GROUP BY customer_id
