# GENERATED from bigquery/views by `UPDATE_TERRAFORM=1 cargo test --test terraform`:
# edit the SQL files, not this one. One resource per view, named after it and created
# after the tables and views it reads (its address never changes when they do).

locals {
  generated_views = [
    "v_alerts_open",
    "v_cohorts",
    "v_customer_lifetime",
    "v_dead_letters",
    "v_event_conflicts",
    "v_fact_sales_batch",
    "v_fact_sales_streaming",
    "v_filter_values",
    "v_forecast_ahead",
    "v_inventory_latest",
    "v_streaming_recent",
    "v_alert_failed_payments",
    "v_demand_forecast",
    "v_fact_sales_all",
    "v_inventory_by_warehouse",
    "v_inventory_snapshot",
    "v_streaming_per_minute",
    "v_active_customers",
    "v_alert_revenue_anomaly",
    "v_cohort_retention",
    "v_customer_lifetime_value",
    "v_customers_by_plan",
    "v_failed_transactions",
    "v_inventory_now",
    "v_inventory_status",
    "v_kpi_by_source",
    "v_kpi_overview",
    "v_payment_methods",
    "v_revenue_30d",
    "v_revenue_by_category",
    "v_revenue_by_country",
    "v_revenue_daily",
    "v_sales_detail",
    "v_sales_facts",
    "v_top_products",
    "v_alert_critical_stock",
    "v_inventory_forecast",
    "v_alert_stockout_risk",
    "v_inventory_turnover",
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

resource "google_bigquery_table" "v_cohorts" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_cohorts"
  description         = "InstaShop: monthly cohort retention, as v_cohort_retention defines it, read from the tables the refresh keeps instead of every sale: a customer's cohort is their first_month in customer_lifetime, their active months the rows of customer_months (a row per customer and month with a completed sale). The dashboard's cohort table reads this. Grain: cohort month x months since. Columns: cohort_month, months_since, active_customers, cohort_size, retention_pct."
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile("${local.model_dir}/views/v_cohorts.sql", local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.tables]
}

moved {
  from = google_bigquery_table.views_tier1["v_cohorts"]
  to   = google_bigquery_table.v_cohorts
}

resource "google_bigquery_table" "v_customer_lifetime" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_customer_lifetime"
  description         = "InstaShop: customer lifetime value, as v_customer_lifetime_value defines it, read from customer_lifetime (a row per customer, kept by the refresh from customer_months) instead of every sale: the dashboard's lifetime-value table reads this. Grain: customer. Columns: customer_id, customer_name, plan, country, first_month, orders, lifetime_value (NUMERIC), aov."
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile("${local.model_dir}/views/v_customer_lifetime.sql", local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.tables]
}

moved {
  from = google_bigquery_table.views_tier1["v_customer_lifetime"]
  to   = google_bigquery_table.v_customer_lifetime
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

resource "google_bigquery_table" "v_event_conflicts" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_event_conflicts"
  description         = "Re-sent events whose content changed: each event_id that fact_sales_streaming holds with more than one content (order, customer, product, qty, price, time or payment), one row per distinct content. The sale counts once, as first written: version 1 (counted = TRUE) is the row v_fact_sales_streaming keeps (the first by ingest_ts, message_id); the others are the differing re-sends, in the order they arrived. Plain redeliveries (same content) are not conflicts. Grain: event_id x content. Columns: event_id, version, versions, counted, order_id, customer_id, product_id, qty, unit_price, event_ts, payment_method, payment_status, first_ingest_ts, first_message_id, deliveries."
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile("${local.model_dir}/views/v_event_conflicts.sql", local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.tables]
}

moved {
  from = google_bigquery_table.views_tier1["v_event_conflicts"]
  to   = google_bigquery_table.v_event_conflicts
}

resource "google_bigquery_table" "v_fact_sales_batch" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_fact_sales_batch"
  description         = "Historical sales, one row per order line: the seed's v_fact_sales_batch, in the shop's calendar. Grain: order line. Columns: the seed's order_id, ts (the order date's first instant in the reporting time zone), customer_id, product_id, gross_amount (qty * unit_price, NUMERIC); then sale_date (the order date: a day of the reporting time zone), qty, unit_price, payment_method and payment_status (orders.status; an order without one, like the seed's four-column files, is completed)."
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

resource "google_bigquery_table" "v_filter_values" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_filter_values"
  description         = "The values the dashboard's filters offer, and the only ones a request may name: every source, and every country, category and plan of the master tables, with 'Unknown' (what v_fact_sales_all shows when a sale's customer or product is missing). Grain: field x value. Columns: field (source, country, category or plan), value."
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile("${local.model_dir}/views/v_filter_values.sql", local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.tables]
}

moved {
  from = google_bigquery_table.views_tier1["v_filter_values"]
  to   = google_bigquery_table.v_filter_values
}

resource "google_bigquery_table" "v_forecast_ahead" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_forecast_ahead"
  description         = "InstaShop: the forecast the stock views use: the days ahead (from tomorrow in the reporting time zone) of the latest forecast run of the last 7 days in forecast_demand. A run supersedes earlier runs' days ahead, so these partitions hold one run; the constant filters on forecast_date (partitions) and run_date (the first clustering column) keep a read to them. v_inventory_forecast and v_demand_forecast read it. Grain: product, forecast_date. Columns: run_date, product_id, forecast_date, forecast_units, lower, upper, method."
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile("${local.model_dir}/views/v_forecast_ahead.sql", local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.tables]
}

moved {
  from = google_bigquery_table.views_tier1["v_forecast_ahead"]
  to   = google_bigquery_table.v_forecast_ahead
}

resource "google_bigquery_table" "v_inventory_latest" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_inventory_latest"
  description         = "InstaShop: the stock as last counted, one row per product and warehouse: the inventory row with the latest snapshot_ts (an appended snapshot supersedes the one before; rows loaded before snapshot_ts existed are NULL and lose to any dated one). Grain: product x warehouse. Columns: product_id, warehouse, stock, reorder_point, snapshot_ts."
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile("${local.model_dir}/views/v_inventory_latest.sql", local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.tables]
}

moved {
  from = google_bigquery_table.views_tier1["v_inventory_latest"]
  to   = google_bigquery_table.v_inventory_latest
}

resource "google_bigquery_table" "v_streaming_recent" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_streaming_recent"
  description         = "The live page's sales: the last 48 hours of fact_sales_streaming, one row per event_id (the first written, as v_fact_sales_streaming keeps it), with how many distinct contents that event_id arrived with. The time filter sits before the deduplication, so BigQuery reads only the two or three newest daily partitions, whatever the history: a page that refreshes every few seconds bills kilobytes, not the table. A redelivery carries its event's own time, so it falls in the same window. Grain: sale event of the last 48 hours. Columns: event_id, order_id, customer_id, product_id, qty, unit_price, gross_amount, event_ts, ingest_ts, payment_status, versions (distinct contents of the event_id in the window), conflict_event_id (the event_id when versions > 1, else NULL)."
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile("${local.model_dir}/views/v_streaming_recent.sql", local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.tables]
}

moved {
  from = google_bigquery_table.views_tier1["v_streaming_recent"]
  to   = google_bigquery_table.v_streaming_recent
}

resource "google_bigquery_table" "v_alert_failed_payments" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_alert_failed_payments"
  description         = "Alert: too many failed payments. Fires when, among the live orders that reached BigQuery in the last hour (by ingest_ts, so a burst that arrives late, while the worker was backlogged, is still judged) and report a payment, at least alert_failed_payment_min_orders orders were placed and the share that failed is at least alert_failed_payment_pct percent and at least alert_failed_payment_factor times the trailing 28-day share (batch orders.status and live payment_status before the hour; batch days are the shop's calendar days); the thresholds are the deployment's (Terraform's alert_thresholds, the alerts binary's flags). An order failed when any of its lines says so. Alert columns as every v_alert_* view: value is the share in percent, threshold the share it had to reach."
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

resource "google_bigquery_table" "v_demand_forecast" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_demand_forecast"
  description         = "InstaShop: the demand of the best sellers, behind and ahead (the Inventory page's forecast chart). Products are ranked by demand_rank: 1 is the product with the most units of completed sales (batch and live, each once, from product_daily_units) on the 28 days before today in the reporting time zone, ties by product_id; only products that sold then are ranked. Each has one row per day: the 56 days before today, with units (its completed units that day, 0 on a day without), and the days ahead of the latest forecast run of the last 7 days (v_forecast_ahead, as v_inventory_forecast reads it), with forecast_units, its 80% interval forecast_lower .. forecast_upper (NUMERIC, 3 decimals) and the run's method. A row of history has no forecast, a row ahead no units. Grain: product, day. Columns: product_id, product_name, category, demand_rank, day, units, forecast_units, forecast_lower, forecast_upper, method."
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile("${local.model_dir}/views/v_demand_forecast.sql", local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.tables, google_bigquery_table.v_forecast_ahead]
}

moved {
  from = google_bigquery_table.views_tier2["v_demand_forecast"]
  to   = google_bigquery_table.v_demand_forecast
}

resource "google_bigquery_table" "v_fact_sales_all" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_fact_sales_all"
  description         = "All sales, batch and streaming, each sale once: the seed's v_fact_sales_all. Batch is the system of record once it holds an order: a live sale whose order_id is in the batch orders table is left out (the nightly export carries it), so summing this view counts each sale once. Live sales are read through v_fact_sales_streaming (one row per event_id). Grain: order line (batch) or sale event (streaming). Columns: the seed's order_id, ts, customer_id, product_id, gross_amount (NUMERIC), source ('batch' or 'streaming'); then sale_date (DATE in the reporting time zone), qty, unit_price, payment_method, payment_status (completed, failed or refunded; never NULL: a sale without one is completed), country, category, plan. Revenue counts completed sales only (docs/metrics.md)."
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile("${local.model_dir}/views/v_fact_sales_all.sql", local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.tables, google_bigquery_table.v_fact_sales_batch, google_bigquery_table.v_fact_sales_streaming]
}

moved {
  from = google_bigquery_table.views_tier2["v_fact_sales_all"]
  to   = google_bigquery_table.v_fact_sales_all
}

resource "google_bigquery_table" "v_inventory_by_warehouse" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_inventory_by_warehouse"
  description         = "InstaShop: stock status per warehouse, from the latest snapshot of each product-warehouse pair (v_inventory_latest), with v_inventory_status's thresholds applied to each pair. It cannot subtract the live sales as v_inventory_status does: a sale event names no warehouse, so which warehouse shipped it is unknown; these are the counted units as of each snapshot. Grain: warehouse. Columns: warehouse, products, units, critical, low, optimal, snapshot_ts (the newest snapshot of the warehouse)."
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile("${local.model_dir}/views/v_inventory_by_warehouse.sql", local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.tables, google_bigquery_table.v_inventory_latest]
}

moved {
  from = google_bigquery_table.views_tier2["v_inventory_by_warehouse"]
  to   = google_bigquery_table.v_inventory_by_warehouse
}

resource "google_bigquery_table" "v_inventory_snapshot" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_inventory_snapshot"
  description         = "InstaShop: the latest snapshot per product, over its warehouses (v_inventory_latest), with its name and category: what the live stock views (v_inventory_status, v_inventory_now) and the refresh's count of inventory_sold subtract the live sales from. snapshot_ts is the latest over the product's warehouses (NULL when its rows carry none). Grain: product. Columns: product_id, product_name, category, warehouses, snapshot_ts, snapshot_stock, reorder_point."
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile("${local.model_dir}/views/v_inventory_snapshot.sql", local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.tables, google_bigquery_table.v_inventory_latest]
}

moved {
  from = google_bigquery_table.views_tier2["v_inventory_snapshot"]
  to   = google_bigquery_table.v_inventory_snapshot
}

resource "google_bigquery_table" "v_streaming_per_minute" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_streaming_per_minute"
  description         = "Live sales per minute over the last hour: the seed's streaming dashboard. Revenue, orders and customers are net (completed sales; an event without a payment status is completed); events counts every deduplicated sale event, whatever its payment. It reads v_streaming_recent, whose time filter prunes to the newest partitions. Grain: minute of event_ts (UTC). Columns: minute, revenue (NUMERIC), orders (distinct order ids), events (deduplicated sale events), customers."
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile("${local.model_dir}/views/v_streaming_per_minute.sql", local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.tables, google_bigquery_table.v_streaming_recent]
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
  description         = "InstaShop: active customers, i.e. customers with completed sales: ever, and in the last 30 and 90 days of the shop's calendar (sale_date, today included). Grain: one row. Columns: customers, active_customers, active_30d, active_90d."
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

resource "google_bigquery_table" "v_alert_revenue_anomaly" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_alert_revenue_anomaly"
  description         = "Alert: revenue outside its usual band. The net revenue (completed sales) of the last 24 hours (v_fact_sales_all, batch days counted at their midnight in the reporting time zone, so the days are the shop's calendar days) is compared with the same 24 hours in each of the 8 weeks before (same weekday and hour; weeks with no sales are left out): it fires when at least alert_revenue_min_weeks weeks have sales and the revenue is further from their mean than both alert_revenue_z standard deviations and alert_revenue_min_change_pct percent of the mean (a z-score with a floor, so a steady history does not fire on noise). One row, high or low, while it lasts. Alert columns as every v_alert_* view: value is the revenue, threshold the band's edge it crossed."
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
  description         = "InstaShop: monthly cohort retention. A customer's cohort is the month (of sale_date, the shop's calendar) of their first completed purchase; a cohort is retained in month N if it buys again (completed) N months later. Grain: cohort month x months since. Columns: cohort_month, months_since, active_customers, cohort_size, retention_pct."
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
  description         = "InstaShop: customer lifetime value, i.e. everything each customer has bought and paid for (completed sales only), per customer id with the name beside it. Grain: customer. Columns: customer_id, customer_name, plan, country, first_order_ts, last_order_ts, orders, lifetime_value (NUMERIC), aov."
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
  description         = "InstaShop: customers and revenue by plan (Basic, Premium, Enterprise). Net: buying customers, revenue and orders count completed sales only. Grain: plan. Columns: plan, customers, buying_customers, revenue, orders, aov."
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
  description         = "InstaShop: orders by month of the shop's calendar (sale_date) and payment status (completed, failed, refunded), batch and live alike, with each status's amount and its share of the month's orders. Grain: month x status. Columns: month, status, orders, amount, share_of_orders_pct."
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

resource "google_bigquery_table" "v_inventory_now" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_inventory_now"
  description         = "InstaShop: v_inventory_status's live stock, read from what the refresh keeps instead of every live sale: the latest snapshot per product (v_inventory_snapshot), minus the units the last refresh counted in inventory_sold (its live sales after that snapshot whose payment did not fail, written by counted_until), minus, likewise, the units of the live sales written since, each event once, from the last 7 days' partitions alone. A product whose snapshot changed since the refresh (or that it has not seen) takes all its recent sales after the new snapshot instead. So the stock is v_inventory_status's as long as the time since the refresh plus a sale's lateness (ingest_ts - event_ts) stays under 7 days, and a snapshot loaded after the refresh was counted within the last 7 days; any other sale counts from the next refresh on. The dashboard's stock table and the critical-stock alert read this. Grain: product. Columns: as v_inventory_status."
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile("${local.model_dir}/views/v_inventory_now.sql", local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.tables, google_bigquery_table.v_inventory_snapshot]
}

moved {
  from = google_bigquery_table.views_tier3["v_inventory_now"]
  to   = google_bigquery_table.v_inventory_now
}

resource "google_bigquery_table" "v_inventory_status" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_inventory_status"
  description         = "InstaShop: stock status per product over all warehouses, live. The stock is the latest inventory snapshot of each product-warehouse pair (v_inventory_snapshot) minus the units of the live sales after it (event_ts > the product's snapshot_ts) whose payment did not fail; the sales the snapshot already reflects are not subtracted again. critical: stock at or under the reorder point (the critical-stock alert); low: under twice the reorder point; optimal: the rest. Grain: product. Columns: product_id, product_name, category, warehouses, snapshot_ts, snapshot_stock, sold_live, stock, reorder_point, status."
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile("${local.model_dir}/views/v_inventory_status.sql", local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.tables, google_bigquery_table.v_fact_sales_streaming, google_bigquery_table.v_inventory_snapshot]
}

moved {
  from = google_bigquery_table.views_tier3["v_inventory_status"]
  to   = google_bigquery_table.v_inventory_status
}

resource "google_bigquery_table" "v_kpi_by_source" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_kpi_by_source"
  description         = "Batch against streaming: the seed's headline KPIs side by side, per source, net (as v_kpi_overview; a live sale of an order batch holds counts as batch). Grain: source ('batch' or 'streaming'). Columns: source, revenue (NUMERIC), orders, unique_clients, aov (revenue per order), lines, failed_amount, refunded_amount, first_ts, last_ts (of every sale of the source)."
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
  description         = "The seed dashboard's headline KPIs over all sales, batch and streaming alike, net: revenue, orders, clients and AOV count completed sales only; failed and refunded amounts are reported on their own (docs/metrics.md). Grain: one row. Columns: revenue (NUMERIC), orders, unique_clients, aov (revenue per order), lines (completed sale lines), failed_amount, refunded_amount."
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
  description         = "InstaShop: the split of orders and net revenue by payment method, batch orders and live sales alike (each carries its method; 'unknown' when it does not). Completed sales only. Grain: payment method. Columns: payment_method, orders, revenue, share_pct."
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
  description         = "InstaShop: revenue in the last 30 days of the shop's calendar (today included, days are sale_date in the reporting time zone) against the 30 before, and the growth between them. Net: completed sales only. Grain: one row. Columns: revenue_30d, revenue_prev_30d, orders_30d, orders_prev_30d, growth_pct (NULL when the previous period is empty)."
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
  description         = "Revenue by product category (the seed's category chart), with its rank and share. Net: completed sales only. Grain: category. Columns: category, revenue, orders, lines, share_pct, rank."
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
  description         = "Revenue by customer country (the seed's map). Net: completed sales only. Grain: country. Columns: country, revenue, orders, customers, aov."
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
  description         = "Revenue over time: per day of the shop's calendar (sale_date, in the reporting time zone), and cumulative (the seed's growth chart). Net: completed sales only. Grain: day. Columns: day, revenue, orders, batch_revenue, streaming_revenue, cumulative_revenue."
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
  description         = "Revenue by client, country and category (the seed's detail table), per customer id (several customers share a name), the name beside it. Net: completed sales only. Grain: customer x category. Columns: customer_id, customer_name, country, category, revenue, orders, lines."
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

resource "google_bigquery_table" "v_sales_facts" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_sales_facts"
  description         = "The facts every dashboard chart slices by period and by source, country, category and plan: one row per sale of v_fact_sales_all (each sale once, batch and live), with the names beside the ids and each measure's input as a column of its own, so that any aggregation over any range of days and any filter gives the measure by its definition (docs/metrics.md). Distinct counts stay exact: orders and clients are counted from the ids, never added up from daily totals. Grain: order line (batch) or sale event (streaming). Columns: sale_date (DATE in the reporting time zone), sale_month (its first day), ts, source, order_id, customer_id, customer_name, product_id, product_name, country, category, plan, payment_method, payment_status, qty, gross_amount; then revenue (gross_amount of a completed sale, else 0), failed_amount, refunded_amount (likewise), completed_order_id and completed_customer_id (the id on a completed sale, else NULL; COUNT(DISTINCT) of them is orders and unique clients)."
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile("${local.model_dir}/views/v_sales_facts.sql", local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.tables, google_bigquery_table.v_fact_sales_all]
}

moved {
  from = google_bigquery_table.views_tier3["v_sales_facts"]
  to   = google_bigquery_table.v_sales_facts
}

resource "google_bigquery_table" "v_top_products" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_top_products"
  description         = "InstaShop: top products by revenue, with their category and rank. Net: completed sales only. Grain: product. Columns: product_id, product_name, category, revenue, orders, lines, rank, rank_in_category."
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

resource "google_bigquery_table" "v_alert_critical_stock" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_alert_critical_stock"
  description         = "Alert: a product whose live stock is at or under its reorder point: v_inventory_now, the stock the dashboard shows (v_inventory_status's, from what the refresh counted and the last 7 days of live sales, so that an evaluation every few minutes does not read every live sale). One row per product while it lasts. Alert columns (as every v_alert_* view): alert_key (one per alert while it lasts), kind, subject, value (units on hand), threshold (the reorder point), window_start (NULL: a level, not a window), window_end (when evaluated), detail."
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile("${local.model_dir}/views/v_alert_critical_stock.sql", local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.tables, google_bigquery_table.v_inventory_now]
}

moved {
  from = google_bigquery_table.views_tier4["v_alert_critical_stock"]
  to   = google_bigquery_table.v_alert_critical_stock
}

resource "google_bigquery_table" "v_inventory_forecast" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_inventory_forecast"
  description         = "InstaShop: where each product's stock is heading. Per product of v_inventory_now (its live stock): units_28d and units_90d, the units of its completed sales (batch and live, each once) on the 28 and 90 days before today in the reporting time zone, from product_daily_units (sales_facts summed by the refresh, as fresh as it); and, from the latest forecast run of the last 7 days (v_forecast_ahead: forecast_demand's days from tomorrow on), units_per_day (the forecast's daily average over those days), stockout_date (the first day whose cumulative forecast exceeds the stock) and reorder_qty (the forecast over the lead time plus the review period, $${alert_stockout_lead_days} + $${alert_stockout_review_days} days, less the stock, rounded up, never below 0; days past the horizon at units_per_day). A product that run did not forecast (no sales in its history, or no run yet) takes units_28d / 28 as units_per_day, method mean_28d, and the same rules over 28 days. days_of_cover = stock / units_per_day (NULL when nothing is forecast to sell); turnover_90d = units_90d / the stock at the snapshot (NULL for no stock); both rounded to 2 decimals. Every measure is NUMERIC (forecast_demand keeps 3 decimals), so the cumulative comparisons with the stock are exact. Grain: product. Columns: product_id, product_name, category, stock, snapshot_stock, units_28d, units_90d, units_per_day, method, days_of_cover, stockout_date, turnover_90d, reorder_qty, forecast_run."
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile("${local.model_dir}/views/v_inventory_forecast.sql", local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.tables, google_bigquery_table.v_forecast_ahead, google_bigquery_table.v_inventory_now]
}

moved {
  from = google_bigquery_table.views_tier4["v_inventory_forecast"]
  to   = google_bigquery_table.v_inventory_forecast
}

resource "google_bigquery_table" "v_alert_stockout_risk" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_alert_stockout_risk"
  description         = "Alert: a product forecast to run out within the lead time: days_of_cover of v_inventory_forecast (stock over the forecast daily demand) under $${alert_stockout_lead_days} days. A product with no forecast demand has no cover and does not fire. One row per product while it lasts. Alert columns (as every v_alert_* view): value is the days of cover (two decimals), threshold the lead time in days, window_start NULL (a level, not a window), window_end when evaluated."
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile("${local.model_dir}/views/v_alert_stockout_risk.sql", local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.tables, google_bigquery_table.v_inventory_forecast]
}

moved {
  from = google_bigquery_table.views_tier5["v_alert_stockout_risk"]
  to   = google_bigquery_table.v_alert_stockout_risk
}

resource "google_bigquery_table" "v_inventory_turnover" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_inventory_turnover"
  description         = "InstaShop: inventory turnover per category (the Inventory page). Over the products of v_inventory_forecast in the category: units_90d, the units of their completed sales on the 90 days before today; snapshot_stock, their stock at the snapshot; stock, their live stock; turnover_90d = units_90d / snapshot_stock, rounded to 2 decimals (NULL when the category holds no stock at the snapshot): the times the stock was sold over in 90 days (docs/metrics.md). Grain: category. Columns: category, products, units_90d, snapshot_stock, stock, turnover_90d."
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile("${local.model_dir}/views/v_inventory_turnover.sql", local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.tables, google_bigquery_table.v_inventory_forecast]
}

moved {
  from = google_bigquery_table.views_tier5["v_inventory_turnover"]
  to   = google_bigquery_table.v_inventory_turnover
}

resource "google_bigquery_table" "v_alerts" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "v_alerts"
  description         = "The current alerts, live: every row of the v_alert_* views (critical stock, failed payments, revenue anomaly, stock-out risk) at the deployment's thresholds. The dashboard and Looker Studio show it; the alerts binary notifies each new one once (alert_log). Grain: alert. Columns: alert_key, kind, subject, value, threshold, window_start, window_end, detail."
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile("${local.model_dir}/views/v_alerts.sql", local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.tables, google_bigquery_table.v_alert_critical_stock, google_bigquery_table.v_alert_failed_payments, google_bigquery_table.v_alert_revenue_anomaly, google_bigquery_table.v_alert_stockout_risk]
}

moved {
  from = google_bigquery_table.views_tier6["v_alerts"]
  to   = google_bigquery_table.v_alerts
}
