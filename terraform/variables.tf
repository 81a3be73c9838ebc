# Inputs. Defaults match `provision`'s (src/platform/settings.rs, src/model/provision.rs); the test in
# tests/terraform.rs fails when they drift apart.

variable "project_id" {
  description = "Google Cloud project that owns every resource."
  type        = string
}

variable "location" {
  description = "Location of the dataset and bucket (a multi-region such as US or EU, or a region such as southamerica-west1)."
  type        = string
  default     = "US"
}

variable "dataset_id" {
  description = "BigQuery dataset holding every table and view."
  type        = string
  default     = "data_ecommerce_demo"
}

variable "bucket_name" {
  description = "Cloud Storage bucket for the CSVs (datasets/) and pipeline files (pipelines/). Bucket names are global: change it if taken."
  type        = string
  default     = "ecommerce-demo-bucket"
}

variable "topic" {
  description = "Pub/Sub topic of the order events; its dead-letter topic is <topic>-dead-letter."
  type        = string
  default     = "orders"
}

variable "subscription" {
  description = "The stream worker's subscription on the topic."
  type        = string
  default     = "orders-stream-worker"
}

variable "ack_deadline_seconds" {
  description = "Seconds the stream worker has to ack a message before Pub/Sub redelivers it."
  type        = number
  default     = 60
  validation {
    condition     = var.ack_deadline_seconds >= 10 && var.ack_deadline_seconds <= 600
    error_message = "Pub/Sub accepts 10 to 600 seconds."
  }
}

variable "max_delivery_attempts" {
  description = "Deliveries of one message before Pub/Sub moves it to the dead-letter topic."
  type        = number
  default     = 10
}

variable "min_backoff_seconds" {
  description = "Shortest redelivery backoff after a nack."
  type        = number
  default     = 10
}

variable "max_backoff_seconds" {
  description = "Longest redelivery backoff after a nack."
  type        = number
  default     = 600
}

variable "message_retention_seconds" {
  description = "How long the topic and subscriptions keep messages (7 days at most for subscriptions)."
  type        = number
  default     = 604800
}

variable "enable_exactly_once_delivery" {
  description = "Pub/Sub exactly-once delivery on the worker's subscription. Results are exactly-once without it (rows are deduplicated by event_id); it costs latency."
  type        = bool
  default     = false
}

variable "kms_key_name" {
  description = "Customer-managed key (projects/P/locations/L/keyRings/R/cryptoKeys/K) for the bucket, the dataset and its tables, and the topics; its service agents are granted it (kms.tf). null uses Google-managed keys."
  type        = string
  default     = null
}

variable "deletion_protection" {
  description = "Refuse to delete tables on destroy (set false for throwaway environments)."
  type        = bool
  default     = true
}

variable "noncurrent_object_retention_days" {
  description = "Days a replaced or deleted object version is kept before the lifecycle rule deletes it."
  type        = number
  default     = 30
}

variable "access_log_bucket" {
  description = "Bucket that receives the data bucket's access logs; null disables access logging."
  type        = string
  default     = null
}

variable "service_account_prefix" {
  description = "Prefix of the service-account ids (<prefix>-publisher, <prefix>-stream-worker, ...): change it to deploy several copies in one project."
  type        = string
  default     = "instashop"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.service_account_prefix))
    error_message = "Use 2 to 16 lowercase letters, digits or dashes, starting with a letter (ids are at most 30 characters)."
  }
}

variable "labels" {
  description = "Labels on every resource that takes them."
  type        = map(string)
  default     = { app = "instashop-analytics" }
}

variable "region" {
  description = "Region of the Artifact Registry repository and the Cloud Run worker pool (a region, not a multi-region: pick one inside var.location)."
  type        = string
  default     = "us-central1"
}

variable "artifact_repository" {
  description = "Artifact Registry (Docker) repository that holds the image."
  type        = string
  default     = "instashop"
}

variable "worker_image" {
  description = "Image of the stream worker (REGION-docker.pkg.dev/PROJECT/REPOSITORY/instashop-analytics:TAG). null on the first apply: the worker pool is created once the image is pushed and this is set."
  type        = string
  default     = null
}

variable "worker_instances" {
  description = "Instances of the stream worker (manual scaling; see the autoscaling output to scale on backlog)."
  type        = number
  default     = 1
  validation {
    condition     = var.worker_instances >= 0 && var.worker_instances <= 100
    error_message = "Use 0 (paused) to 100 instances."
  }
}

variable "worker_cpu" {
  description = "CPU of one worker instance."
  type        = string
  default     = "1"
}

variable "worker_memory" {
  description = "Memory of one worker instance (its flow control holds at most 64 MiB of messages by default)."
  type        = string
  default     = "512Mi"
}

variable "notification_channels" {
  description = "Cloud Monitoring notification channel ids (projects/P/notificationChannels/N) that receive the alerts; empty: alerts are recorded, nobody is told."
  type        = list(string)
  default     = []
}

variable "alert_oldest_unacked_seconds" {
  description = "Alert when the worker subscription's oldest unacked message is older than this for 5 minutes."
  type        = number
  default     = 600
}

variable "autoscaling_target_backlog" {
  description = "Undelivered messages per worker instance that the backlog autoscaler aims for."
  type        = number
  default     = 1000
}

variable "time_zone" {
  description = "The shop's reporting time zone, an IANA name (America/Santiago): the days of every view (sale_date, daily revenue, 30-day windows, cohorts) are its calendar days, as provision's --time-zone does. A batch order_date is a day in it."
  type        = string
  default     = "UTC"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}$", var.time_zone))
    error_message = "time_zone: an IANA name such as UTC, America/Santiago or America/Argentina/Buenos_Aires (provision checks it against the IANA database)."
  }
}

variable "alert_thresholds" {
  description = "Thresholds of the alert views (bigquery/views/v_alert_*.sql), the same as the alerts binary's defaults: failed share of the last hour's orders in percent, times the trailing 28-day share, orders in the hour; revenue standard deviations, percent of the mean, earlier weeks with sales; the supplier's lead time in days (stock-out risk fires under it) and the review period a reorder also covers (v_inventory_forecast)."
  type = object({
    alert_failed_payment_pct        = number
    alert_failed_payment_factor     = number
    alert_failed_payment_min_orders = number
    alert_revenue_z                 = number
    alert_revenue_min_change_pct    = number
    alert_revenue_min_weeks         = number
    alert_stockout_lead_days        = number
    alert_stockout_review_days      = number
  })
  default = {
    alert_failed_payment_pct        = 20
    alert_failed_payment_factor     = 2
    alert_failed_payment_min_orders = 20
    alert_revenue_z                 = 3
    alert_revenue_min_change_pct    = 30
    alert_revenue_min_weeks         = 4
    alert_stockout_lead_days        = 7
    alert_stockout_review_days      = 7
  }

  validation {
    condition = (
      var.alert_thresholds.alert_failed_payment_pct >= 0.01 && var.alert_thresholds.alert_failed_payment_pct <= 100 &&
      var.alert_thresholds.alert_failed_payment_factor >= 0 &&
      var.alert_thresholds.alert_failed_payment_min_orders >= 1 &&
      var.alert_thresholds.alert_revenue_z > 0 &&
      var.alert_thresholds.alert_revenue_min_change_pct >= 0 && var.alert_thresholds.alert_revenue_min_change_pct <= 100 &&
      var.alert_thresholds.alert_revenue_min_weeks >= 2 && var.alert_thresholds.alert_revenue_min_weeks <= 8 &&
      var.alert_thresholds.alert_stockout_lead_days >= 1 && var.alert_thresholds.alert_stockout_lead_days <= 365 &&
      floor(var.alert_thresholds.alert_stockout_lead_days) == var.alert_thresholds.alert_stockout_lead_days &&
      var.alert_thresholds.alert_stockout_review_days >= 0 && var.alert_thresholds.alert_stockout_review_days <= 365 &&
      floor(var.alert_thresholds.alert_stockout_review_days) == var.alert_thresholds.alert_stockout_review_days
    )
    error_message = "alert_thresholds: percents from 0.01 (failed payments) or 0 (revenue) to 100, a factor of 0 or more, at least 1 order, a z above 0, 2 to 8 weeks, a lead time of 1 to 365 whole days and a review period of 0 to 365 (the alerts binary refuses the same)."
  }
}

variable "alerts_scheduled_query" {
  description = "Also evaluate the alerts as a BigQuery scheduled query (bigquery/scheduled/evaluate_alerts.sql), which logs them in alert_log without a process to run; it does not publish to the alerts topic (the alerts binary does)."
  type        = bool
  default     = false
}

variable "alerts_job" {
  description = "Run the alerts binary on a schedule as a Cloud Run job started by Cloud Scheduler, once worker_image is set (the same image): it publishes new and resolved alerts to the alerts topic and logs them in alert_log."
  type        = bool
  default     = true
}

variable "alerts_job_schedule" {
  description = "When the alerts job runs (cron, in time_zone)."
  type        = string
  default     = "*/5 * * * *"
  validation {
    condition     = length(split(" ", var.alerts_job_schedule)) == 5
    error_message = "alerts_job_schedule is a five-field cron expression, such as \"*/5 * * * *\"."
  }
}

variable "alerts_schedule" {
  description = "How often the scheduled query evaluates the alerts (BigQuery Data Transfer schedule syntax)."
  type        = string
  default     = "every 15 minutes"
}

variable "sales_facts_scheduled_refresh" {
  description = "Keep sales_facts (the dashboard's date-partitioned facts) current with a BigQuery scheduled query (bigquery/scheduled/refresh_sales_facts.sql). Off: run the refresh binary on your own schedule."
  type        = bool
  default     = true
}

variable "sales_facts_schedule" {
  description = "How often the scheduled query refreshes sales_facts (BigQuery Data Transfer schedule syntax); the pages' figures are as fresh as its last run."
  type        = string
  default     = "every 15 minutes"
}

variable "sales_facts_refresh_days" {
  description = "Days before today that each refresh re-derives (late live sales and re-sends of those days are taken in)."
  type        = number
  default     = 3

  validation {
    condition     = var.sales_facts_refresh_days >= 0 && var.sales_facts_refresh_days <= 400 && floor(var.sales_facts_refresh_days) == var.sales_facts_refresh_days
    error_message = "sales_facts_refresh_days is a whole number of days from 0 to 400."
  }
}

variable "stock_settle_seconds" {
  description = "How long before a refresh a live sale must have been written to count in inventory_sold; v_inventory_now adds the sales written after that from the last 7 days' partitions."
  type        = number
  default     = 60

  validation {
    condition     = var.stock_settle_seconds >= 0 && var.stock_settle_seconds <= 3600 && floor(var.stock_settle_seconds) == var.stock_settle_seconds
    error_message = "stock_settle_seconds is a whole number of seconds from 0 to 3600."
  }
}

variable "forecast_scheduled_query" {
  description = "Write forecast_demand daily with BigQuery ML (bigquery/scheduled/forecast_demand_arima.sql, an ARIMA_PLUS model per product) as a scheduled query. Off: the forecast job runs the forecast binary (MSTL + ETS) instead (forecast_job)."
  type        = bool
  default     = false
}

variable "forecast_job" {
  description = "Run the forecast binary daily as a Cloud Run job started by Cloud Scheduler, once worker_image is set (the same image). Ignored when forecast_scheduled_query writes forecast_demand instead."
  type        = bool
  default     = true
}

variable "forecast_job_schedule" {
  description = "When the forecast job runs (cron, in time_zone): daily, after a refresh of sales_facts, as the table's run_date key expects."
  type        = string
  default     = "30 5 * * *"
  validation {
    condition     = length(split(" ", var.forecast_job_schedule)) == 5
    error_message = "forecast_job_schedule is a five-field cron expression, such as \"30 5 * * *\"."
  }
}

variable "forecast_job_cpu" {
  description = "CPUs of the forecast job (products are fitted on every core)."
  type        = string
  default     = "2"
}

variable "forecast_job_memory" {
  description = "Memory of the forecast job."
  type        = string
  default     = "1Gi"
}

variable "forecast_schedule" {
  description = "How often the BigQuery ML forecast runs (BigQuery Data Transfer schedule syntax); once a day is what the table's run_date key expects."
  type        = string
  default     = "every 24 hours"
}
