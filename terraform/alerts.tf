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
