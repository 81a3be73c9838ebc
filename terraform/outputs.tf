# What `terraform apply` created, and how to use it.

output "bucket" {
  description = "The data bucket (CSVs under datasets/)."
  value       = google_storage_bucket.data.name
}

output "dataset" {
  description = "project.dataset holding every table and view."
  value       = "${var.project_id}.${google_bigquery_dataset.main.dataset_id}"
}

output "staging_dataset" {
  description = "The dataset of staging tables: pass it as batch-loader --staging-dataset (INSTASHOP_STAGING_DATASET) with --append."
  value       = google_bigquery_dataset.staging.dataset_id
}

output "tables" {
  description = "Table ids."
  value       = sort(keys(google_bigquery_table.tables))
}

output "views" {
  description = "View ids."
  value       = sort(local.generated_views)
}

output "pubsub" {
  description = "Topic and subscription names."
  value = {
    topic                    = google_pubsub_topic.orders.name
    dead_letter_topic        = google_pubsub_topic.dead_letter.name
    subscription             = google_pubsub_subscription.worker.name
    dead_letter_subscription = google_pubsub_subscription.dead_letter_keep.name
    alerts_topic             = google_pubsub_topic.alerts.name
  }
}

output "service_accounts" {
  description = "The service account of each job."
  value = {
    publisher        = google_service_account.publisher.email
    stream_worker    = google_service_account.stream_worker.email
    batch_loader     = google_service_account.batch_loader.email
    dashboard_reader = google_service_account.dashboard_reader.email
    autoscaler       = google_service_account.autoscaler.email
    replay           = google_service_account.replay.email
    alerts           = google_service_account.alerts.email
  }
}

output "image_repository" {
  description = "Where to push the image (then set worker_image and apply again)."
  value       = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"
}

output "worker_pool" {
  description = "The stream worker's Cloud Run worker pool (null until worker_image is set)."
  value       = one(google_cloud_run_v2_worker_pool.stream_worker[*].id)
}

output "autoscaling" {
  description = "Scaling the worker on backlog with Cloud Run's external-metrics autoscaler (KEDA-based): the scaled object to give it, to run as the autoscaler service account. Deploying the autoscaler is not automated."
  value = {
    service_account = google_service_account.autoscaler.email
    scaled_object   = <<-EOT
      # KEDA ScaledObject for the worker pool: one instance per
      # ${var.autoscaling_target_backlog} undelivered messages, 0 to ${max(var.worker_instances, 10)} instances.
      spec:
        scaleTargetRef:
          name: projects/${var.project_id}/locations/${var.region}/workerpools/${local.worker_pool}
        minReplicaCount: 0
        maxReplicaCount: ${max(var.worker_instances, 10)}
        triggers:
          - type: gcp-pubsub
            metadata:
              subscriptionName: projects/${var.project_id}/subscriptions/${google_pubsub_subscription.worker.name}
              mode: SubscriptionSize
              value: "${var.autoscaling_target_backlog}"
    EOT
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
    replay        = "gcloud auth application-default login --impersonate-service-account=${google_service_account.replay.email}"
  }
}

output "looker_studio_url" {
  description = "Creates the Looker Studio report of looker/report.json (Linking API) with v_fact_sales_all first and every view it reads as data sources; the same link as `dashboard --looker-url`."
  value = join("", concat(
    ["https://lookerstudio.google.com/reporting/create?c.mode=edit&r.reportName=${urlencode(local.report.name)}"],
    [for v in local.looker_views : join("", [
      "&ds.${trimprefix(v, "v_")}.connector=bigQuery",
      "&ds.${trimprefix(v, "v_")}.type=TABLE",
      "&ds.${trimprefix(v, "v_")}.projectId=${urlencode(var.project_id)}",
      "&ds.${trimprefix(v, "v_")}.datasetId=${urlencode(google_bigquery_dataset.main.dataset_id)}",
      "&ds.${trimprefix(v, "v_")}.tableId=${urlencode(v)}",
      "&ds.${trimprefix(v, "v_")}.datasourceName=${urlencode("InstaShop ${trimprefix(v, "v_")}")}",
    ])],
  ))
}
