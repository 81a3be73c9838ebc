# The demand forecast into forecast_demand, daily, one of two ways, each as the forecast
# service account:
# - the forecast binary (the Rust MSTL + ETS fit, the default) as a Cloud Run job that
#   Cloud Scheduler starts, once the image is pushed (var.worker_image: one image holds
#   every binary); off with forecast_job = false;
# - or, with forecast_scheduled_query = true instead, BigQuery ML without a process: a
#   scheduled query runs ../bigquery/scheduled/forecast_demand_arima.sql, which trains
#   one ARIMA_PLUS model per product over the last 365 days of sales_facts and replaces
#   the day's run.

locals {
  forecast_job = var.forecast_job && var.worker_image != null && !var.forecast_scheduled_query
  forecast_any = local.forecast_job || var.forecast_scheduled_query
  forecast_job_env = {
    GOOGLE_CLOUD_PROJECT      = var.project_id
    INSTASHOP_DATASET         = google_bigquery_dataset.main.dataset_id
    INSTASHOP_STAGING_DATASET = "${var.dataset_id}_staging"
    INSTASHOP_TIME_ZONE       = var.time_zone
    INSTASHOP_LOG_FORMAT      = "json"
    RUST_LOG                  = "info"
  }
}

resource "google_service_account" "forecast" {
  count        = local.forecast_any ? 1 : 0
  project      = var.project_id
  account_id   = "${var.service_account_prefix}-forecast"
  display_name = "InstaShop forecast: the demand forecast into forecast_demand"
}

# Either way it reads product_daily_units, writes forecast_demand and runs jobs; the BigQuery ML
# query also keeps its model in the dataset (a custom role with the model permissions
# alone, granted on the dataset), the job its staging tables in a dataset of their own.
resource "google_bigquery_table_iam_member" "forecast_reads" {
  count      = local.forecast_any ? 1 : 0
  project    = var.project_id
  dataset_id = google_bigquery_dataset.main.dataset_id
  table_id   = google_bigquery_table.tables["product_daily_units"].table_id
  role       = "roles/bigquery.dataViewer"
  member     = google_service_account.forecast[0].member
}

resource "google_bigquery_table_iam_member" "forecast_writes" {
  count      = local.forecast_any ? 1 : 0
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
  count   = local.forecast_any ? 1 : 0
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

# ---- The forecast binary as a scheduled Cloud Run job (the default) -------------------
# The job stages its rows in the staging dataset (bigquery.tf; tables there expire within
# a day), where it may create and drop tables; in the main dataset it reads
# product_daily_units and writes forecast_demand, nothing else.

# Its staging tables: create, load, read and drop them, in the staging dataset alone.
resource "google_bigquery_dataset_iam_member" "forecast_job_stages" {
  count      = local.forecast_job ? 1 : 0
  project    = var.project_id
  dataset_id = google_bigquery_dataset.staging.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = google_service_account.forecast[0].member
}

resource "google_cloud_run_v2_job" "forecast" {
  count               = local.forecast_job ? 1 : 0
  project             = var.project_id
  name                = "${var.service_account_prefix}-forecast"
  location            = var.region
  deletion_protection = var.deletion_protection
  labels              = var.labels

  template {
    labels     = var.labels
    task_count = 1

    template {
      service_account = google_service_account.forecast[0].email
      # A failed run is tried once more; the transaction makes a retry replace, not double.
      max_retries = 1
      timeout     = "1800s"

      containers {
        name    = "forecast"
        image   = var.worker_image
        command = ["/usr/local/bin/forecast"]

        dynamic "env" {
          for_each = local.forecast_job_env
          content {
            name  = env.key
            value = env.value
          }
        }

        # Products are fitted on every core: 2,000 products x 365 days take about 13 s
        # on two (benches/forecast.rs), in about 11 MiB.
        resources {
          limits = {
            cpu    = var.forecast_job_cpu
            memory = var.forecast_job_memory
          }
        }
      }
    }
  }

  depends_on = [
    google_bigquery_table_iam_member.forecast_reads,
    google_bigquery_table_iam_member.forecast_writes,
    google_bigquery_dataset_iam_member.forecast_job_stages,
    google_project_iam_member.forecast_runs_queries,
  ]
}

# Cloud Scheduler starts the job daily, as an account that may run this job alone.
resource "google_service_account" "forecast_scheduler" {
  count        = local.forecast_job ? 1 : 0
  project      = var.project_id
  account_id   = "${var.service_account_prefix}-forecast-sched"
  display_name = "InstaShop forecast scheduler: starts the forecast job"
}

resource "google_cloud_run_v2_job_iam_member" "scheduler_runs_forecast" {
  count    = local.forecast_job ? 1 : 0
  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_job.forecast[0].name
  role     = "roles/run.invoker"
  member   = google_service_account.forecast_scheduler[0].member
}

resource "google_cloud_scheduler_job" "forecast" {
  count            = local.forecast_job ? 1 : 0
  project          = var.project_id
  region           = var.region
  name             = "${var.service_account_prefix}-forecast"
  description      = "Runs the InstaShop forecast job (the demand forecast into forecast_demand)."
  schedule         = var.forecast_job_schedule
  time_zone        = var.time_zone
  attempt_deadline = "60s"

  retry_config {
    retry_count = 2
  }

  http_target {
    http_method = "POST"
    uri         = "https://run.googleapis.com/v2/projects/${var.project_id}/locations/${var.region}/jobs/${google_cloud_run_v2_job.forecast[0].name}:run"

    oauth_token {
      service_account_email = google_service_account.forecast_scheduler[0].email
      scope                 = "https://www.googleapis.com/auth/cloud-platform"
    }
  }

  depends_on = [google_cloud_run_v2_job_iam_member.scheduler_runs_forecast]
}
