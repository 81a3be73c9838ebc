# The alerts without a process: a BigQuery scheduled query runs
# ../bigquery/scheduled/evaluate_alerts.sql (the same alert views, at
# var.alert_thresholds) as the alerts service account and logs new and resolved alerts in
# alert_log. Off by default: the alerts binary does the same and also publishes to the
# alerts topic.

resource "google_bigquery_data_transfer_config" "alerts" {
  count                = var.alerts_scheduled_query ? 1 : 0
  project              = var.project_id
  location             = var.location
  display_name         = "InstaShop alerts (${var.dataset_id})"
  data_source_id       = "scheduled_query"
  schedule             = var.alerts_schedule
  service_account_name = google_service_account.alerts.email
  params = {
    query = templatefile("${local.model_dir}/scheduled/evaluate_alerts.sql", local.view_vars)
  }

  depends_on = [
    google_bigquery_table.v_alerts,
    google_bigquery_table.v_alerts_open,
    google_bigquery_table_iam_member.alerts_logs,
    google_bigquery_dataset_iam_member.alerts_reads,
    google_project_iam_member.alerts_runs_queries,
    google_service_account_iam_member.transfer_agent_mints_alerts_tokens,
  ]
}

# The Data Transfer service agent runs the query as the alerts service account: it may
# mint that account's tokens, and only that account's.
resource "google_service_account_iam_member" "transfer_agent_mints_alerts_tokens" {
  count              = var.alerts_scheduled_query ? 1 : 0
  service_account_id = google_service_account.alerts.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-bigquerydatatransfer.iam.gserviceaccount.com"
}

# ---- The alerts binary as a scheduled Cloud Run job (with worker_image) ---------------
# Every alerts_job_schedule, Cloud Scheduler starts a job that runs `alerts` once from the
# worker's image: it evaluates the alert views at var.alert_thresholds, publishes each new
# and each resolved alert to the alerts topic and logs them in alert_log, as the alerts
# account (which reads the dataset, writes alert_log, runs queries and publishes there).

locals {
  alerts_job = var.alerts_job && var.worker_image != null
  alerts_job_env = {
    GOOGLE_CLOUD_PROJECT = var.project_id
    INSTASHOP_DATASET    = google_bigquery_dataset.main.dataset_id
    INSTASHOP_TOPIC      = google_pubsub_topic.orders.name
    INSTASHOP_TIME_ZONE  = var.time_zone
    INSTASHOP_LOG_FORMAT = "json"
    RUST_LOG             = "info"
  }
  # The thresholds, as the binary's flags (it reads no variable for them).
  alerts_job_args = [
    "--once",
    "--failed-payment-pct=${var.alert_thresholds.alert_failed_payment_pct}",
    "--failed-payment-factor=${var.alert_thresholds.alert_failed_payment_factor}",
    "--failed-payment-min-orders=${var.alert_thresholds.alert_failed_payment_min_orders}",
    "--revenue-z=${var.alert_thresholds.alert_revenue_z}",
    "--revenue-min-change-pct=${var.alert_thresholds.alert_revenue_min_change_pct}",
    "--revenue-min-weeks=${var.alert_thresholds.alert_revenue_min_weeks}",
    "--stockout-lead-days=${var.alert_thresholds.alert_stockout_lead_days}",
    "--stockout-review-days=${var.alert_thresholds.alert_stockout_review_days}",
  ]
}

resource "google_cloud_run_v2_job" "alerts" {
  count               = local.alerts_job ? 1 : 0
  project             = var.project_id
  name                = "${var.service_account_prefix}-alerts"
  location            = var.region
  deletion_protection = var.deletion_protection
  labels              = var.labels

  template {
    labels     = var.labels
    task_count = 1

    template {
      service_account = google_service_account.alerts.email
      # No retry: the next run is minutes away, and alert_log makes each alert news once.
      max_retries = 0
      timeout     = "300s"

      containers {
        name    = "alerts"
        image   = var.worker_image
        command = ["/usr/local/bin/alerts"]
        args    = local.alerts_job_args

        dynamic "env" {
          for_each = local.alerts_job_env
          content {
            name  = env.key
            value = env.value
          }
        }

        resources {
          limits = {
            cpu    = "1"
            memory = "512Mi"
          }
        }
      }
    }
  }

  depends_on = [
    google_bigquery_table_iam_member.alerts_logs,
    google_bigquery_dataset_iam_member.alerts_reads,
    google_project_iam_member.alerts_runs_queries,
    google_pubsub_topic_iam_member.alerts_publishes,
  ]
}

# Cloud Scheduler starts the job, as an account that may run this job alone.
resource "google_service_account" "alerts_scheduler" {
  count        = local.alerts_job ? 1 : 0
  project      = var.project_id
  account_id   = "${var.service_account_prefix}-alerts-sched"
  display_name = "InstaShop alerts scheduler: starts the alerts job"
}

resource "google_cloud_run_v2_job_iam_member" "scheduler_runs_alerts" {
  count    = local.alerts_job ? 1 : 0
  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_job.alerts[0].name
  role     = "roles/run.invoker"
  member   = google_service_account.alerts_scheduler[0].member
}

resource "google_cloud_scheduler_job" "alerts" {
  count            = local.alerts_job ? 1 : 0
  project          = var.project_id
  region           = var.region
  name             = "${var.service_account_prefix}-alerts"
  description      = "Runs the InstaShop alerts job (evaluate, publish new and resolved alerts, log them)."
  schedule         = var.alerts_job_schedule
  time_zone        = var.time_zone
  attempt_deadline = "60s"

  retry_config {
    retry_count = 1
  }

  http_target {
    http_method = "POST"
    uri         = "https://run.googleapis.com/v2/projects/${var.project_id}/locations/${var.region}/jobs/${google_cloud_run_v2_job.alerts[0].name}:run"

    oauth_token {
      service_account_email = google_service_account.alerts_scheduler[0].email
      scope                 = "https://www.googleapis.com/auth/cloud-platform"
    }
  }

  depends_on = [google_cloud_run_v2_job_iam_member.scheduler_runs_alerts]
}
