# GENERATED from bigquery/views by `UPDATE_TERRAFORM=1 cargo test --test terraform`:
# edit the SQL files, not this one. One resource per view, named after it and created
# after the tables and views it reads (its address never changes when they do).

locals {
  generated_views = [
    "v_alerts_open",
    "v_dead_letters",
    "v_fact_sales_batch",
    "v_fact_sales_streaming",
    "v_inventory_by_warehouse",
    "v_alert_failed_payments",
    "v_fact_sales_all",
    "v_inventory_status",
    "v_streaming_per_minute",
    "v_active_customers",
    "v_alert_critical_stock",
    "v_alert_revenue_anomaly",
    "v_cohort_retention",
    "v_customer_lifetime_value",
    "v_customers_by_plan",
    "v_failed_transactions",
    "v_kpi_by_source",
    "v_kpi_overview",
    "v_payment_methods",
    "v_revenue_30d",
    "v_revenue_by_category",
    "v_revenue_by_country",
    "v_revenue_daily",
    "v_sales_detail",
    "v_top_products",
    "v_alerts",
  ]
}

resource "google_bigquery_table" "v_alerts_open" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_alerts_open"
  description         = "Alerts notified and not resolved yet: for each alert_key, the latest entry of alert_log (written by the alerts binary or the scheduled query), kept when it is 'firing'. Grain: alert. Columns: as alert_log."
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile("${local.model_dir}/views/v_alerts_open.sql", local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.tables]
}

moved {
  from = google_bigquery_table.views_tier1["v_alerts_open"]
  to   = google_bigquery_table.v_alerts_open
}

resource "google_bigquery_table" "v_dead_letters" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_dead_letters"
  description         = "Rejected events, one row per Pub/Sub message: fact_sales_deadletter deduplicated by message_id. A dead letter is written with its message id as insertId (BigQuery drops a retried write within a minute), but a message redelivered later (after a nack, or a worker killed before its ack) is written again; the first row written is kept. Grain: rejected message. Columns: as fact_sales_deadletter."
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile("${local.model_dir}/views/v_dead_letters.sql", local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.tables]
}

moved {
  from = google_bigquery_table.views_tier1["v_dead_letters"]
  to   = google_bigquery_table.v_dead_letters
}

resource "google_bigquery_table" "v_fact_sales_batch" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_fact_sales_batch"
  description         = "Historical sales, one row per order line: the seed's v_fact_sales_batch. Grain: order line. Columns: order_id, ts (order date as TIMESTAMP), customer_id, product_id, gross_amount (qty * unit_price, NUMERIC)."
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile("${local.model_dir}/views/v_fact_sales_batch.sql", local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.tables]
}

moved {
  from = google_bigquery_table.views_tier1["v_fact_sales_batch"]
  to   = google_bigquery_table.v_fact_sales_batch
}

resource "google_bigquery_table" "v_fact_sales_streaming" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_fact_sales_streaming"
  description         = "Live sales, one row per event: fact_sales_streaming deduplicated by event_id. Pub/Sub delivers at least once, so a redelivered event may be written twice; the first row written for each event_id is kept. Grain: sale event. Columns: as fact_sales_streaming."
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile("${local.model_dir}/views/v_fact_sales_streaming.sql", local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.tables]
}

moved {
  from = google_bigquery_table.views_tier1["v_fact_sales_streaming"]
  to   = google_bigquery_table.v_fact_sales_streaming
}

resource "google_bigquery_table" "v_inventory_by_warehouse" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_inventory_by_warehouse"
  description         = "InstaShop: stock status per warehouse, with the same rule as v_inventory_status applied to each product-warehouse pair. Grain: warehouse. Columns: warehouse, products, units, critical, low, optimal."
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile("${local.model_dir}/views/v_inventory_by_warehouse.sql", local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.tables]
}

moved {
  from = google_bigquery_table.views_tier1["v_inventory_by_warehouse"]
  to   = google_bigquery_table.v_inventory_by_warehouse
}

resource "google_bigquery_table" "v_alert_failed_payments" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_alert_failed_payments"
  description         = "Alert: too many failed payments. Fires when, among the live orders of the last hour that report a payment, at least alert_failed_payment_min_orders orders were placed and the share that failed is at least alert_failed_payment_pct percent and at least alert_failed_payment_factor times the trailing 28-day share (batch orders.status and live payment_status before the hour); the thresholds are the deployment's (Terraform's alert_thresholds, the alerts binary's flags). An order failed when any of its lines says so. Alert columns as every v_alert_* view: value is the share in percent, threshold the share it had to reach."
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile("${local.model_dir}/views/v_alert_failed_payments.sql", local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.tables, google_bigquery_table.v_fact_sales_streaming]
}

moved {
  from = google_bigquery_table.views_tier2["v_alert_failed_payments"]
  to   = google_bigquery_table.v_alert_failed_payments
}

resource "google_bigquery_table" "v_fact_sales_all" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_fact_sales_all"
  description         = "All sales, batch and streaming alike: the seed's v_fact_sales_all, with streaming rows deduplicated by event_id (read through v_fact_sales_streaming). Grain: order line (batch) or sale event (streaming). Columns: order_id, ts, customer_id, product_id, gross_amount (NUMERIC), source ('batch' or 'streaming')."
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile("${local.model_dir}/views/v_fact_sales_all.sql", local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.tables, google_bigquery_table.v_fact_sales_streaming]
}

moved {
  from = google_bigquery_table.views_tier2["v_fact_sales_all"]
  to   = google_bigquery_table.v_fact_sales_all
}

resource "google_bigquery_table" "v_inventory_status" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_inventory_status"
  description         = "InstaShop: stock status per product over all warehouses, live: the last inventory snapshot (batch) minus the units sold since in live sales whose payment did not fail (streaming; the batch history is the snapshot's past). critical: stock at or under the reorder point (the critical-stock alert); low: under twice the reorder point; optimal: the rest. Grain: product. Columns: product_id, product_name, category, warehouses, snapshot_stock, sold_live, stock, reorder_point, status."
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile("${local.model_dir}/views/v_inventory_status.sql", local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.tables, google_bigquery_table.v_fact_sales_streaming]
}

moved {
  from = google_bigquery_table.views_tier2["v_inventory_status"]
  to   = google_bigquery_table.v_inventory_status
}

resource "google_bigquery_table" "v_streaming_per_minute" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_streaming_per_minute"
  description         = "Live sales per minute over the last hour: the seed's streaming dashboard. Grain: minute of event_ts (UTC). Columns: minute, revenue (NUMERIC), orders (distinct order ids), events (deduplicated sale events), customers."
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile("${local.model_dir}/views/v_streaming_per_minute.sql", local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.tables, google_bigquery_table.v_fact_sales_streaming]
}

moved {
  from = google_bigquery_table.views_tier2["v_streaming_per_minute"]
  to   = google_bigquery_table.v_streaming_per_minute
}

resource "google_bigquery_table" "v_active_customers" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_active_customers"
  description         = "InstaShop: active customers, i.e. customers with transactions: ever, in the last 30 and 90 days. Grain: one row. Columns: customers, active_customers, active_30d, active_90d."
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile("${local.model_dir}/views/v_active_customers.sql", local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.tables, google_bigquery_table.v_fact_sales_all]
}

moved {
  from = google_bigquery_table.views_tier3["v_active_customers"]
  to   = google_bigquery_table.v_active_customers
}

resource "google_bigquery_table" "v_alert_critical_stock" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_alert_critical_stock"
  description         = "Alert: a product whose live stock (v_inventory_status) is at or under its reorder point. One row per product while it lasts. Alert columns (as every v_alert_* view): alert_key (one per alert while it lasts), kind, subject, value (units on hand), threshold (the reorder point), window_start (NULL: a level, not a window), window_end (when evaluated), detail."
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile("${local.model_dir}/views/v_alert_critical_stock.sql", local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.tables, google_bigquery_table.v_inventory_status]
}

moved {
  from = google_bigquery_table.views_tier3["v_alert_critical_stock"]
  to   = google_bigquery_table.v_alert_critical_stock
}

resource "google_bigquery_table" "v_alert_revenue_anomaly" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_alert_revenue_anomaly"
  description         = "Alert: revenue outside its usual band. The revenue of the last 24 hours (v_fact_sales_all, batch days counted at their midnight) is compared with the same 24 hours in each of the 8 weeks before (same weekday and hour; weeks with no sales are left out): it fires when at least alert_revenue_min_weeks weeks have sales and the revenue is further from their mean than both alert_revenue_z standard deviations and alert_revenue_min_change_pct percent of the mean (a z-score with a floor, so a steady history does not fire on noise). One row, high or low, while it lasts. Alert columns as every v_alert_* view: value is the revenue, threshold the band's edge it crossed."
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile("${local.model_dir}/views/v_alert_revenue_anomaly.sql", local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.tables, google_bigquery_table.v_fact_sales_all]
}

moved {
  from = google_bigquery_table.views_tier3["v_alert_revenue_anomaly"]
  to   = google_bigquery_table.v_alert_revenue_anomaly
}

resource "google_bigquery_table" "v_cohort_retention" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_cohort_retention"
  description         = "InstaShop: monthly cohort retention. A customer's cohort is the month of their first purchase; a cohort is retained in month N if it buys again N months later. Grain: cohort month x months since. Columns: cohort_month, months_since, active_customers, cohort_size, retention_pct."
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile("${local.model_dir}/views/v_cohort_retention.sql", local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.tables, google_bigquery_table.v_fact_sales_all]
}

moved {
  from = google_bigquery_table.views_tier3["v_cohort_retention"]
  to   = google_bigquery_table.v_cohort_retention
}

resource "google_bigquery_table" "v_customer_lifetime_value" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_customer_lifetime_value"
  description         = "InstaShop: customer lifetime value, i.e. everything each customer has bought. Grain: customer. Columns: customer_id, plan, country, first_order_ts, last_order_ts, orders, lifetime_value (NUMERIC), aov."
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile("${local.model_dir}/views/v_customer_lifetime_value.sql", local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.tables, google_bigquery_table.v_fact_sales_all]
}

moved {
  from = google_bigquery_table.views_tier3["v_customer_lifetime_value"]
  to   = google_bigquery_table.v_customer_lifetime_value
}

resource "google_bigquery_table" "v_customers_by_plan" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_customers_by_plan"
  description         = "InstaShop: customers and revenue by plan (Basic, Premium, Enterprise). Grain: plan. Columns: plan, customers, buying_customers, revenue, orders, aov."
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile("${local.model_dir}/views/v_customers_by_plan.sql", local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.tables, google_bigquery_table.v_fact_sales_all]
}

moved {
  from = google_bigquery_table.views_tier3["v_customers_by_plan"]
  to   = google_bigquery_table.v_customers_by_plan
}

resource "google_bigquery_table" "v_failed_transactions" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_failed_transactions"
  description         = "InstaShop: failed and refunded transactions per month, against all orders. Grain: month x status. Columns: month, status, orders, revenue, share_of_orders_pct."
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile("${local.model_dir}/views/v_failed_transactions.sql", local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.tables, google_bigquery_table.v_fact_sales_all]
}

moved {
  from = google_bigquery_table.views_tier3["v_failed_transactions"]
  to   = google_bigquery_table.v_failed_transactions
}

resource "google_bigquery_table" "v_kpi_by_source" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_kpi_by_source"
  description         = "Batch against streaming: the seed's headline KPIs side by side, per source. Grain: source ('batch' or 'streaming'). Columns: source, revenue (NUMERIC), orders, unique_clients, aov (revenue per order), lines, first_ts, last_ts."
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile("${local.model_dir}/views/v_kpi_by_source.sql", local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.tables, google_bigquery_table.v_fact_sales_all]
}

moved {
  from = google_bigquery_table.views_tier3["v_kpi_by_source"]
  to   = google_bigquery_table.v_kpi_by_source
}

resource "google_bigquery_table" "v_kpi_overview" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_kpi_overview"
  description         = "The seed dashboard's headline KPIs over all sales, batch and streaming alike. Grain: one row. Columns: revenue (NUMERIC), orders, unique_clients, aov (revenue per order), lines."
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile("${local.model_dir}/views/v_kpi_overview.sql", local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.tables, google_bigquery_table.v_fact_sales_all]
}

moved {
  from = google_bigquery_table.views_tier3["v_kpi_overview"]
  to   = google_bigquery_table.v_kpi_overview
}

resource "google_bigquery_table" "v_payment_methods" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_payment_methods"
  description         = "InstaShop: the split of orders and revenue by payment method (batch orders carry it). Grain: payment method. Columns: payment_method, orders, revenue, share_pct."
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile("${local.model_dir}/views/v_payment_methods.sql", local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.tables, google_bigquery_table.v_fact_sales_all]
}

moved {
  from = google_bigquery_table.views_tier3["v_payment_methods"]
  to   = google_bigquery_table.v_payment_methods
}

resource "google_bigquery_table" "v_revenue_30d" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_revenue_30d"
  description         = "InstaShop: revenue in the last 30 days (today included, UTC) against the 30 before, and the growth between them. Grain: one row. Columns: revenue_30d, revenue_prev_30d, orders_30d, orders_prev_30d, growth_pct (NULL when the previous period is empty)."
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile("${local.model_dir}/views/v_revenue_30d.sql", local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.tables, google_bigquery_table.v_fact_sales_all]
}

moved {
  from = google_bigquery_table.views_tier3["v_revenue_30d"]
  to   = google_bigquery_table.v_revenue_30d
}

resource "google_bigquery_table" "v_revenue_by_category" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_revenue_by_category"
  description         = "Revenue by product category (the seed's category chart), with its rank and share. Grain: category. Columns: category, revenue, orders, lines, share_pct, rank."
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile("${local.model_dir}/views/v_revenue_by_category.sql", local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.tables, google_bigquery_table.v_fact_sales_all]
}

moved {
  from = google_bigquery_table.views_tier3["v_revenue_by_category"]
  to   = google_bigquery_table.v_revenue_by_category
}

resource "google_bigquery_table" "v_revenue_by_country" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_revenue_by_country"
  description         = "Revenue by customer country (the seed's map). Grain: country. Columns: country, revenue, orders, customers, aov."
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile("${local.model_dir}/views/v_revenue_by_country.sql", local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.tables, google_bigquery_table.v_fact_sales_all]
}

moved {
  from = google_bigquery_table.views_tier3["v_revenue_by_country"]
  to   = google_bigquery_table.v_revenue_by_country
}

resource "google_bigquery_table" "v_revenue_daily" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_revenue_daily"
  description         = "Revenue over time: per day, and cumulative (the seed's growth chart). Grain: day (UTC). Columns: day, revenue, orders, batch_revenue, streaming_revenue, cumulative_revenue."
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile("${local.model_dir}/views/v_revenue_daily.sql", local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.tables, google_bigquery_table.v_fact_sales_all]
}

moved {
  from = google_bigquery_table.views_tier3["v_revenue_daily"]
  to   = google_bigquery_table.v_revenue_daily
}

resource "google_bigquery_table" "v_sales_detail" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_sales_detail"
  description         = "Revenue by client, country and category (the seed's detail table). Grain: customer x category. Columns: customer_id, customer_name, country, category, revenue, orders, lines."
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile("${local.model_dir}/views/v_sales_detail.sql", local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.tables, google_bigquery_table.v_fact_sales_all]
}

moved {
  from = google_bigquery_table.views_tier3["v_sales_detail"]
  to   = google_bigquery_table.v_sales_detail
}

resource "google_bigquery_table" "v_top_products" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_top_products"
  description         = "InstaShop: top products by revenue, with their category and rank. Grain: product. Columns: product_id, product_name, category, revenue, orders, lines, rank, rank_in_category."
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile("${local.model_dir}/views/v_top_products.sql", local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.tables, google_bigquery_table.v_fact_sales_all]
}

moved {
  from = google_bigquery_table.views_tier3["v_top_products"]
  to   = google_bigquery_table.v_top_products
}

resource "google_bigquery_table" "v_alerts" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_alerts"
  description         = "The current alerts, live: every row of the v_alert_* views (critical stock, failed payments, revenue anomaly) at the deployment's thresholds. The dashboard and Looker Studio show it; the alerts binary notifies each new one once (alert_log). Grain: alert. Columns: alert_key, kind, subject, value, threshold, window_start, window_end, detail."
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile("${local.model_dir}/views/v_alerts.sql", local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.tables, google_bigquery_table.v_alert_critical_stock, google_bigquery_table.v_alert_failed_payments, google_bigquery_table.v_alert_revenue_anomaly]
}

moved {
  from = google_bigquery_table.views_tier4["v_alerts"]
  to   = google_bigquery_table.v_alerts
}
