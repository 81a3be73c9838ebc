# The stream worker on Cloud Run: an Artifact Registry repository for the image, and a
# worker pool (made for pull-based work: no ingress, no requests) running the worker as
# its own service account, configured only through environment variables.

locals {
  # The port of /metrics, /healthz and /readyz inside the container (the platform probes
  # it from outside the container's loopback; a worker pool has no ingress).
  worker_port = 9464
  worker_pool = "${var.service_account_prefix}-stream-worker"
  worker_env = {
    GOOGLE_CLOUD_PROJECT             = var.project_id
    INSTASHOP_SUBSCRIPTION           = google_pubsub_subscription.worker.name
    INSTASHOP_DATASET                = google_bigquery_dataset.main.dataset_id
    INSTASHOP_BUCKET                 = google_storage_bucket.data.name
    INSTASHOP_LOG_FORMAT             = "json"
    INSTASHOP_METRICS_ADDR           = "0.0.0.0:${local.worker_port}"
    INSTASHOP_METRICS_ALL_INTERFACES = "true"
    # Cloud Run stops an instance 10 s after SIGTERM: drain within 7.
    INSTASHOP_SHUTDOWN_GRACE_SECS = "7"
    RUST_LOG                      = "info"
  }
}

resource "google_artifact_registry_repository" "images" {
  # checkov:skip=CKV_GCP_84: the image holds code, no customer data; Google-managed encryption
  project       = var.project_id
  location      = var.region
  repository_id = var.artifact_repository
  format        = "DOCKER"
  description   = "InstaShop Analytics container images."
  labels        = var.labels

  docker_config {
    immutable_tags = true
  }
}

resource "google_cloud_run_v2_worker_pool" "stream_worker" {
  count               = var.worker_image == null ? 0 : 1
  project             = var.project_id
  name                = local.worker_pool
  location            = var.region
  launch_stage        = "BETA"
  deletion_protection = var.deletion_protection
  labels              = var.labels

  scaling {
    scaling_mode          = "MANUAL"
    manual_instance_count = var.worker_instances
  }

  template {
    service_account = google_service_account.stream_worker.email
    labels          = var.labels

    containers {
      name  = "stream-worker"
      image = var.worker_image

      dynamic "env" {
        for_each = local.worker_env
        content {
          name  = env.key
          value = env.value
        }
      }

      resources {
        limits = {
          cpu    = var.worker_cpu
          memory = var.worker_memory
        }
      }

      # Ready once Pub/Sub and BigQuery answered and both tables exist.
      startup_probe {
        period_seconds    = 2
        timeout_seconds   = 1
        failure_threshold = 30
        http_get {
          path = "/readyz"
          port = local.worker_port
        }
      }

      # Restarted when its main loop stops turning for a minute.
      liveness_probe {
        period_seconds    = 15
        timeout_seconds   = 2
        failure_threshold = 4
        http_get {
          path = "/healthz"
          port = local.worker_port
        }
      }
    }
  }

  # The worker checks its subscription and tables at start: grant first.
  depends_on = [
    google_pubsub_subscription_iam_member.worker_subscribes,
    google_pubsub_subscription_iam_member.worker_views_subscription,
    google_bigquery_table_iam_member.worker_writes,
  ]
}

# Scaling on backlog: Cloud Run's external-metrics autoscaler (KEDA-based) runs as its
# own service account, reads the subscription's backlog from Cloud Monitoring and sets
# the pool's instance count. The account and its grants are here; the autoscaler itself
# is deployed from the `autoscaling` output (not automated yet, see the README).
resource "google_service_account" "autoscaler" {
  project      = var.project_id
  account_id   = "${var.service_account_prefix}-autoscaler"
  display_name = "InstaShop autoscaler: scales the stream worker on the subscription's backlog"
}

# Cloud Monitoring metrics can only be read at project level.
resource "google_project_iam_member" "autoscaler_reads_metrics" {
  project = var.project_id
  role    = "roles/monitoring.viewer"
  member  = google_service_account.autoscaler.member
}

resource "google_cloud_run_v2_worker_pool_iam_member" "autoscaler_scales_worker" {
  count    = var.worker_image == null ? 0 : 1
  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_worker_pool.stream_worker[0].name
  role     = "roles/run.developer"
  member   = google_service_account.autoscaler.member
}
