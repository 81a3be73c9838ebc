# What `terraform apply` created, and how to use it.

output "bucket" {
  description = "The data bucket (CSVs under datasets/)."
  value       = google_storage_bucket.data.name
}

output "dataset" {
  description = "project.dataset holding every table and view."
  value       = "${var.project_id}.${google_bigquery_dataset.main.dataset_id}"
}

output "tables" {
  description = "Table ids."
  value       = sort(keys(google_bigquery_table.tables))
}

output "views" {
  description = "View ids."
  value       = sort(concat(keys(google_bigquery_table.views_tier1), keys(google_bigquery_table.views_tier2), keys(google_bigquery_table.views_tier3), keys(google_bigquery_table.views_tier4)))
}

output "pubsub" {
  description = "Topic and subscription names."
  value = {
    topic                    = google_pubsub_topic.orders.name
    dead_letter_topic        = google_pubsub_topic.dead_letter.name
    subscription             = google_pubsub_subscription.worker.name
    dead_letter_subscription = google_pubsub_subscription.dead_letter_keep.name
  }
}

output "service_accounts" {
  description = "The service account of each job."
  value = {
    publisher        = google_service_account.publisher.email
    stream_worker    = google_service_account.stream_worker.email
    batch_loader     = google_service_account.batch_loader.email
    dashboard_reader = google_service_account.dashboard_reader.email
  }
}

output "env" {
  description = "Environment for the binaries against this project (no *_EMULATOR_HOST: Application Default Credentials)."
  value       = <<-EOT
    export GOOGLE_CLOUD_PROJECT=${var.project_id}
    export INSTASHOP_DATASET=${google_bigquery_dataset.main.dataset_id}
    export INSTASHOP_BUCKET=${google_storage_bucket.data.name}
    export INSTASHOP_TOPIC=${google_pubsub_topic.orders.name}
    export INSTASHOP_SUBSCRIPTION=${google_pubsub_subscription.worker.name}
    unset PUBSUB_EMULATOR_HOST BIGQUERY_EMULATOR_HOST BIGQUERY_STORAGE_EMULATOR_HOST STORAGE_EMULATOR_HOST
  EOT
}

output "impersonation" {
  description = "How to run each binary as its service account."
  value = {
    publisher     = "gcloud auth application-default login --impersonate-service-account=${google_service_account.publisher.email}"
    stream_worker = "gcloud auth application-default login --impersonate-service-account=${google_service_account.stream_worker.email}"
    batch_loader  = "gcloud auth application-default login --impersonate-service-account=${google_service_account.batch_loader.email}"
  }
}

output "looker_studio_url" {
  description = "Opens a new Looker Studio report on v_fact_sales_all (Linking API)."
  value = join("", [
    "https://lookerstudio.google.com/reporting/create?c.mode=edit",
    "&ds.ds0.connector=bigQuery&ds.ds0.type=TABLE",
    "&ds.ds0.projectId=${var.project_id}",
    "&ds.ds0.datasetId=${google_bigquery_dataset.main.dataset_id}",
    "&ds.ds0.tableId=v_fact_sales_all",
    "&ds.ds0.datasourceName=InstaShop%20sales%20(batch%20%2B%20streaming)",
    "&r.reportName=InstaShop%20Analytics",
  ])
}
