# The dashboard's date-partitioned facts, kept current without a process: a BigQuery
# scheduled query runs ../bigquery/scheduled/refresh_sales_facts.sql (the same SQL the
# refresh binary runs locally) as the refresh service account. Each run re-derives the
# last var.sales_facts_refresh_days days of sales_facts from v_sales_facts, in one
# transaction, and customer_months and customer_lifetime from them, and rebuilds
# inventory_sold (the live units sold per product since its snapshot). After loading
# history, run `refresh --all` once.

resource "google_service_account" "refresh" {
  project      = var.project_id
  account_id   = "${var.service_account_prefix}-refresh"
  display_name = "InstaShop refresh: rewrites the recent days of sales_facts"
}

# It reads the dataset (v_sales_facts reads the sales tables), writes sales_facts,
# product_daily_units, customer_months, customer_lifetime and inventory_sold only, and runs query jobs.
resource "google_bigquery_dataset_iam_member" "refresh_reads" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.main.dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = google_service_account.refresh.member
}

resource "google_bigquery_table_iam_member" "refresh_writes" {
  for_each   = toset(["sales_facts", "product_daily_units", "customer_months", "customer_lifetime", "inventory_sold"])
  project    = var.project_id
  dataset_id = google_bigquery_dataset.main.dataset_id
  table_id   = google_bigquery_table.tables[each.key].table_id
  role       = "roles/bigquery.dataEditor"
  member     = google_service_account.refresh.member
}

# The grant on sales_facts alone was this resource, unindexed, before the other two tables.
moved {
  from = google_bigquery_table_iam_member.refresh_writes_sales_facts
  to   = google_bigquery_table_iam_member.refresh_writes["sales_facts"]
}

resource "google_project_iam_member" "refresh_runs_queries" {
  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = google_service_account.refresh.member
}

resource "google_bigquery_data_transfer_config" "sales_facts" {
  count                = var.sales_facts_scheduled_refresh ? 1 : 0
  project              = var.project_id
  location             = var.location
  display_name         = "InstaShop sales_facts refresh (${var.dataset_id})"
  data_source_id       = "scheduled_query"
  schedule             = var.sales_facts_schedule
  service_account_name = google_service_account.refresh.email
  params = {
    query = templatefile("${local.model_dir}/scheduled/refresh_sales_facts.sql", merge(local.view_vars, { refresh_days = var.sales_facts_refresh_days, refresh_all = false, stock_settle_seconds = var.stock_settle_seconds }))
  }

  depends_on = [
    google_bigquery_table.v_sales_facts,
    google_bigquery_table_iam_member.refresh_writes,
    google_bigquery_dataset_iam_member.refresh_reads,
    google_project_iam_member.refresh_runs_queries,
    google_service_account_iam_member.transfer_agent_mints_refresh_tokens,
  ]
}

# The Data Transfer service agent runs the query as the refresh service account: it may
# mint that account's tokens, and only that account's.
resource "google_service_account_iam_member" "transfer_agent_mints_refresh_tokens" {
  count              = var.sales_facts_scheduled_refresh ? 1 : 0
  service_account_id = google_service_account.refresh.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-bigquerydatatransfer.iam.gserviceaccount.com"
}
