# Identities: one service account per job, each granted only what its job needs, on the
# narrowest resource that carries the permission. No primitive roles, no keys: run the
# binaries with impersonation or as the workload's attached identity.

locals {
  batch_tables     = toset(["customers", "orders", "order_items", "products", "inventory"])
  streaming_tables = toset(["fact_sales_streaming", "fact_sales_deadletter"])
}

resource "google_service_account" "publisher" {
  project      = var.project_id
  account_id   = "${var.service_account_prefix}-publisher"
  display_name = "InstaShop publisher: publishes order events"
}

resource "google_service_account" "stream_worker" {
  project      = var.project_id
  account_id   = "${var.service_account_prefix}-stream-worker"
  display_name = "InstaShop stream worker: Pub/Sub to BigQuery"
}

resource "google_service_account" "batch_loader" {
  project      = var.project_id
  account_id   = "${var.service_account_prefix}-batch-loader"
  display_name = "InstaShop batch loader: CSVs from Cloud Storage into BigQuery"
}

resource "google_service_account" "replay" {
  project      = var.project_id
  account_id   = "${var.service_account_prefix}-replay"
  display_name = "InstaShop replay: dead letters back into the orders topic"
}

resource "google_service_account" "alerts" {
  project      = var.project_id
  account_id   = "${var.service_account_prefix}-alerts"
  display_name = "InstaShop alerts: evaluates the alert views, notifies the alerts topic"
}

resource "google_service_account" "dashboard_reader" {
  project      = var.project_id
  account_id   = "${var.service_account_prefix}-dashboard"
  display_name = "InstaShop dashboards: reads the views (Looker Studio)"
}

# Publisher: publish on the orders topic, and read the topic's metadata (it checks the
# topic exists before publishing).
resource "google_pubsub_topic_iam_member" "publisher_publishes" {
  project = var.project_id
  topic   = google_pubsub_topic.orders.name
  role    = "roles/pubsub.publisher"
  member  = google_service_account.publisher.member
}

resource "google_pubsub_topic_iam_member" "publisher_views_topic" {
  project = var.project_id
  topic   = google_pubsub_topic.orders.name
  role    = "roles/pubsub.viewer"
  member  = google_service_account.publisher.member
}

# Stream worker: pull and ack on its subscription (and read its settings), and write rows
# to the two streaming tables (tables.updateData also covers the Storage Write API's
# default stream).
resource "google_pubsub_subscription_iam_member" "worker_subscribes" {
  project      = var.project_id
  subscription = google_pubsub_subscription.worker.name
  role         = "roles/pubsub.subscriber"
  member       = google_service_account.stream_worker.member
}

resource "google_pubsub_subscription_iam_member" "worker_views_subscription" {
  project      = var.project_id
  subscription = google_pubsub_subscription.worker.name
  role         = "roles/pubsub.viewer"
  member       = google_service_account.stream_worker.member
}

resource "google_bigquery_table_iam_member" "worker_writes" {
  for_each   = local.streaming_tables
  project    = var.project_id
  dataset_id = google_bigquery_dataset.main.dataset_id
  table_id   = google_bigquery_table.tables[each.key].table_id
  role       = "roles/bigquery.dataEditor"
  member     = google_service_account.stream_worker.member
}

# The worker keeps the whole payload of a dead letter over 64 KiB in the bucket
# (pipelines/dead-letters/<message id>): it creates objects, never reads or replaces them.
resource "google_storage_bucket_iam_member" "worker_keeps_dead_letters" {
  bucket = google_storage_bucket.data.name
  role   = "roles/storage.objectCreator"
  member = google_service_account.stream_worker.member
}

# Batch loader: objects in the bucket, load jobs in the project (jobs exist only at
# project level), and writes to the batch tables.
resource "google_storage_bucket_iam_member" "loader_objects" {
  bucket = google_storage_bucket.data.name
  role   = "roles/storage.objectUser"
  member = google_service_account.batch_loader.member
}

resource "google_project_iam_member" "loader_runs_jobs" {
  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = google_service_account.batch_loader.member
}

resource "google_bigquery_table_iam_member" "loader_writes" {
  for_each   = local.batch_tables
  project    = var.project_id
  dataset_id = google_bigquery_dataset.main.dataset_id
  table_id   = google_bigquery_table.tables[each.key].table_id
  role       = "roles/bigquery.dataEditor"
  member     = google_service_account.batch_loader.member
}

# An append's staging tables: created, loaded, read and dropped in the staging dataset
# alone (batch-loader --staging-dataset <dataset>_staging).
resource "google_bigquery_dataset_iam_member" "loader_stages" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.staging.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = google_service_account.batch_loader.member
}

# Dashboard reader: read the dataset (views read its tables) and run query jobs.
resource "google_bigquery_dataset_iam_member" "dashboard_reads" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.main.dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = google_service_account.dashboard_reader.member
}

resource "google_project_iam_member" "dashboard_runs_queries" {
  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = google_service_account.dashboard_reader.member
}

# Replay: read the dead letters (the table and the view that deduplicates it, or the
# keep-subscription's messages), record outcomes in fact_sales_replay, run its queries,
# and publish (and check) the topic.
resource "google_bigquery_table_iam_member" "replay_reads_dead_letters" {
  for_each   = toset(["fact_sales_deadletter", "v_dead_letters"])
  project    = var.project_id
  dataset_id = google_bigquery_dataset.main.dataset_id
  table_id   = each.key
  role       = "roles/bigquery.dataViewer"
  member     = google_service_account.replay.member
  depends_on = [google_bigquery_table.tables, google_bigquery_table.v_dead_letters]
}

resource "google_bigquery_table_iam_member" "replay_records" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.main.dataset_id
  table_id   = google_bigquery_table.tables["fact_sales_replay"].table_id
  role       = "roles/bigquery.dataEditor"
  member     = google_service_account.replay.member
}

resource "google_project_iam_member" "replay_runs_queries" {
  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = google_service_account.replay.member
}

resource "google_pubsub_topic_iam_member" "replay_publishes" {
  project = var.project_id
  topic   = google_pubsub_topic.orders.name
  role    = "roles/pubsub.publisher"
  member  = google_service_account.replay.member
}

# replay --from-topic pulls, extends and acks the messages Pub/Sub dead-lettered, from
# the dead-letter topic's keep-subscription.
resource "google_pubsub_subscription_iam_member" "replay_pulls_dead_letters" {
  project      = var.project_id
  subscription = google_pubsub_subscription.dead_letter_keep.name
  role         = "roles/pubsub.subscriber"
  member       = google_service_account.replay.member
}

resource "google_pubsub_topic_iam_member" "replay_views_topic" {
  project = var.project_id
  topic   = google_pubsub_topic.orders.name
  role    = "roles/pubsub.viewer"
  member  = google_service_account.replay.member
}

# Alerts (the binary and the scheduled query): read the dataset (the alert views read
# sales, orders and inventory), run queries, write alert_log only, and publish (and
# check) the alerts topic.
resource "google_bigquery_dataset_iam_member" "alerts_reads" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.main.dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = google_service_account.alerts.member
}

resource "google_bigquery_table_iam_member" "alerts_logs" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.main.dataset_id
  table_id   = google_bigquery_table.tables["alert_log"].table_id
  role       = "roles/bigquery.dataEditor"
  member     = google_service_account.alerts.member
}

resource "google_project_iam_member" "alerts_runs_queries" {
  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = google_service_account.alerts.member
}

resource "google_pubsub_topic_iam_member" "alerts_publishes" {
  project = var.project_id
  topic   = google_pubsub_topic.alerts.name
  role    = "roles/pubsub.publisher"
  member  = google_service_account.alerts.member
}

resource "google_pubsub_topic_iam_member" "alerts_views_topic" {
  project = var.project_id
  topic   = google_pubsub_topic.alerts.name
  role    = "roles/pubsub.viewer"
  member  = google_service_account.alerts.member
}
