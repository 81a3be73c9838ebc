-- InstaShop: customer lifetime value, as v_customer_lifetime_value defines it, read from
-- customer_lifetime (a row per customer, kept by the refresh from customer_months)
-- instead of every sale: the dashboard's lifetime-value table reads this.
-- Grain: customer. Columns: customer_id, customer_name, plan, country, first_month,
-- orders, lifetime_value (NUMERIC), aov.
SELECT
  customer_id,
  customer_name,
  plan,
  country,
  first_month,
  orders,
  lifetime_value,
  SAFE_DIVIDE(lifetime_value, orders) AS aov
FROM `${project_id}.${dataset_id}.customer_lifetime`
