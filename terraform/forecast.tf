# The demand forecast from BigQuery ML, without a process (an option, off by default): a
# scheduled query runs ../bigquery/scheduled/forecast_demand_arima.sql daily as the
# forecast service account. It trains one ARIMA_PLUS model per product over the last
# 365 days of sales_facts and replaces the day's run in forecast_demand, the table the
# forecast binary writes (run that binary instead to keep the Rust MSTL forecast).

resource "google_service_account" "forecast" {
  count        = var.forecast_scheduled_query ? 1 : 0
  project      = var.project_id
  account_id   = "${var.service_account_prefix}-forecast"
  display_name = "InstaShop forecast: the BigQuery ML demand forecast into forecast_demand"
}

# It reads sales_facts, writes forecast_demand, keeps its model in the dataset (a custom
# role with the model permissions alone, granted on the dataset), and runs query jobs.
resource "google_bigquery_table_iam_member" "forecast_reads" {
  count      = var.forecast_scheduled_query ? 1 : 0
  project    = var.project_id
  dataset_id = google_bigquery_dataset.main.dataset_id
  table_id   = google_bigquery_table.tables["sales_facts"].table_id
  role       = "roles/bigquery.dataViewer"
  member     = google_service_account.forecast[0].member
}

resource "google_bigquery_table_iam_member" "forecast_writes" {
  count      = var.forecast_scheduled_query ? 1 : 0
  project    = var.project_id
  dataset_id = google_bigquery_dataset.main.dataset_id
  table_id   = google_bigquery_table.tables["forecast_demand"].table_id
  role       = "roles/bigquery.dataEditor"
  member     = google_service_account.forecast[0].member
}

resource "google_project_iam_custom_role" "forecast_models" {
  count       = var.forecast_scheduled_query ? 1 : 0
  project     = var.project_id
  role_id     = "${replace(var.service_account_prefix, "-", "_")}_forecast_models"
  title       = "InstaShop forecast models"
  description = "Create, train, read and replace the BigQuery ML model of the scheduled forecast."
  permissions = [
    "bigquery.models.create",
    "bigquery.models.delete",
    "bigquery.models.getData",
    "bigquery.models.getMetadata",
    "bigquery.models.updateData",
    "bigquery.models.updateMetadata",
  ]
}

resource "google_bigquery_dataset_iam_member" "forecast_models" {
  count      = var.forecast_scheduled_query ? 1 : 0
  project    = var.project_id
  dataset_id = google_bigquery_dataset.main.dataset_id
  role       = google_project_iam_custom_role.forecast_models[0].name
  member     = google_service_account.forecast[0].member
}

resource "google_project_iam_member" "forecast_runs_queries" {
  count   = var.forecast_scheduled_query ? 1 : 0
  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = google_service_account.forecast[0].member
}

resource "google_bigquery_data_transfer_config" "forecast" {
  count                = var.forecast_scheduled_query ? 1 : 0
  project              = var.project_id
  location             = var.location
  display_name         = "InstaShop demand forecast (${var.dataset_id})"
  data_source_id       = "scheduled_query"
  schedule             = var.forecast_schedule
  service_account_name = google_service_account.forecast[0].email
  params = {
    query = templatefile("${local.model_dir}/scheduled/forecast_demand_arima.sql", local.view_vars)
  }

  depends_on = [
    google_bigquery_table_iam_member.forecast_reads,
    google_bigquery_table_iam_member.forecast_writes,
    google_bigquery_dataset_iam_member.forecast_models,
    google_project_iam_member.forecast_runs_queries,
    google_service_account_iam_member.transfer_agent_mints_forecast_tokens,
  ]
}

# The Data Transfer service agent runs the query as the forecast service account: it may
# mint that account's tokens, and only that account's.
resource "google_service_account_iam_member" "transfer_agent_mints_forecast_tokens" {
  count              = var.forecast_scheduled_query ? 1 : 0
  service_account_id = google_service_account.forecast[0].name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-bigquerydatatransfer.iam.gserviceaccount.com"
}
