# Cloud Monitoring: alerts on what needs a person. The worker falling behind (its
# subscription's oldest unacked message), events dead-lettered by Pub/Sub after every
# delivery failed, and errors logged by the worker.

resource "google_monitoring_alert_policy" "worker_behind" {
  project               = var.project_id
  display_name          = "InstaShop: stream worker behind on ${google_pubsub_subscription.worker.name}"
  combiner              = "OR"
  notification_channels = var.notification_channels
  user_labels           = var.labels

  conditions {
    display_name = "Oldest unacked message older than ${var.alert_oldest_unacked_seconds} s"
    condition_threshold {
      filter          = "resource.type = \"pubsub_subscription\" AND resource.labels.subscription_id = \"${google_pubsub_subscription.worker.name}\" AND metric.type = \"pubsub.googleapis.com/subscription/oldest_unacked_message_age\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.alert_oldest_unacked_seconds
      duration        = "300s"
      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "The stream worker is not keeping up, or not running. Check the worker pool's instances and logs, and BigQuery's status; messages are kept ${var.message_retention_seconds} s."
  }
}

resource "google_monitoring_alert_policy" "dead_letters" {
  project               = var.project_id
  display_name          = "InstaShop: messages dead-lettered to ${google_pubsub_topic.dead_letter.name}"
  combiner              = "OR"
  notification_channels = var.notification_channels
  user_labels           = var.labels

  conditions {
    display_name = "Messages published to the dead-letter topic"
    condition_threshold {
      filter          = "resource.type = \"pubsub_topic\" AND resource.labels.topic_id = \"${google_pubsub_topic.dead_letter.name}\" AND metric.type = \"pubsub.googleapis.com/topic/send_message_operation_count\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period   = "300s"
        per_series_aligner = "ALIGN_SUM"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Pub/Sub gave up on messages after ${var.max_delivery_attempts} deliveries (their write kept failing). They wait in ${google_pubsub_subscription.dead_letter_keep.name}. Bad events are not these: they are rows of fact_sales_deadletter."
  }
}

resource "google_monitoring_alert_policy" "worker_errors" {
  project               = var.project_id
  display_name          = "InstaShop: stream worker errors"
  combiner              = "OR"
  notification_channels = var.notification_channels
  user_labels           = var.labels

  conditions {
    display_name = "An ERROR logged by the stream worker"
    condition_matched_log {
      filter = "resource.type = \"cloud_run_worker_pool\" AND resource.labels.worker_pool_name = \"${local.worker_pool}\" AND severity >= ERROR"
    }
  }

  # A log-match alert needs a rate limit: one notification per 5 minutes.
  alert_strategy {
    notification_rate_limit {
      period = "300s"
    }
    auto_close = "1800s"
  }

  documentation {
    mime_type = "text/markdown"
    content   = "The worker logged an error (a write that failed every retry, a lost subscription). Its log line names the cause; nacked messages are redelivered."
  }
}
