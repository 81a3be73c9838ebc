# Pub/Sub: the orders topic, its dead-letter topic, the worker's subscription (retry and
# dead-letter policies), a subscription that keeps dead letters, and the alerts topic.

data "google_project" "this" {
  project_id = var.project_id
}

locals {
  retention            = "${var.message_retention_seconds}s"
  pubsub_service_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

resource "google_pubsub_topic" "orders" {
  project                    = var.project_id
  name                       = var.topic
  message_retention_duration = local.retention
  labels                     = var.labels
  kms_key_name               = var.kms_key_name

  # The key's service agent must be granted it first (kms.tf).
  depends_on = [google_kms_crypto_key_iam_member.service_agents]
}

resource "google_pubsub_topic" "dead_letter" {
  project                    = var.project_id
  name                       = local.dead_letter_topic
  message_retention_duration = local.retention
  labels                     = var.labels
  kms_key_name               = var.kms_key_name

  # The key's service agent must be granted it first (kms.tf).
  depends_on = [google_kms_crypto_key_iam_member.service_agents]
}

# The alerts binary notifies each new and each resolved alert here; notification tools
# subscribe to it.
resource "google_pubsub_topic" "alerts" {
  project                    = var.project_id
  name                       = local.alerts_topic
  message_retention_duration = local.retention
  labels                     = var.labels
  kms_key_name               = var.kms_key_name

  # The key's service agent must be granted it first (kms.tf).
  depends_on = [google_kms_crypto_key_iam_member.service_agents]
}

resource "google_pubsub_subscription" "worker" {
  project                      = var.project_id
  name                         = var.subscription
  topic                        = google_pubsub_topic.orders.id
  ack_deadline_seconds         = var.ack_deadline_seconds
  message_retention_duration   = local.retention
  enable_exactly_once_delivery = var.enable_exactly_once_delivery
  labels                       = var.labels

  expiration_policy {
    ttl = "" # never expires, however long the worker is stopped
  }

  retry_policy {
    minimum_backoff = "${var.min_backoff_seconds}s"
    maximum_backoff = "${var.max_backoff_seconds}s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = var.max_delivery_attempts
  }
}

# Without a subscription, messages published to the dead-letter topic are dropped.
resource "google_pubsub_subscription" "dead_letter_keep" {
  project                    = var.project_id
  name                       = local.dead_letter_subscription
  topic                      = google_pubsub_topic.dead_letter.id
  ack_deadline_seconds       = var.ack_deadline_seconds
  message_retention_duration = local.retention
  labels                     = var.labels

  expiration_policy {
    ttl = ""
  }
}

# Dead-lettering is done by Pub/Sub's service agent: it must publish to the dead-letter
# topic and subscribe on the source subscription, or dead letters silently never arrive.
resource "google_pubsub_topic_iam_member" "agent_publishes_dead_letters" {
  project = var.project_id
  topic   = google_pubsub_topic.dead_letter.name
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "agent_acks_dead_letters" {
  project      = var.project_id
  subscription = google_pubsub_subscription.worker.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}
