# BigQuery: the dataset and every table of ../bigquery/schemas (columns via file()). Every
# view of ../bigquery/views (SQL via templatefile()) is in views.tf.

resource "google_bigquery_dataset" "main" {
  project       = var.project_id
  dataset_id    = var.dataset_id
  location      = var.location
  description   = "InstaShop Analytics: batch and streaming e-commerce sales, and the views the dashboards read."
  labels        = merge(var.labels, { managed_by = "instashop" })
  friendly_name = "InstaShop Analytics"

  lifecycle {
    # views.tf is generated from ../bigquery/views; a view added, renamed or removed there
    # without regenerating it would silently not be deployed.
    precondition {
      condition     = length(setsymmetricdifference(local.view_names, local.generated_views)) == 0
      error_message = "terraform/views.tf does not match bigquery/views: regenerate it with `UPDATE_TERRAFORM=1 cargo test --test terraform`."
    }
  }

  dynamic "default_encryption_configuration" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      kms_key_name = default_encryption_configuration.value
    }
  }

  # The key's service agent must be granted it first (kms.tf).
  depends_on = [google_kms_crypto_key_iam_member.service_agents]
}

resource "google_bigquery_table" "tables" {
  for_each            = local.tables
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = each.key
  description         = each.value.description
  schema              = file("${local.model_dir}/schemas/${each.key}.json")
  clustering          = try(each.value.clustering, null)
  deletion_protection = var.deletion_protection
  # Tables every reader filters by date refuse an unfiltered query (tables.json).
  require_partition_filter = try(each.value.require_partition_filter, false)
  labels                   = merge(var.labels, { managed_by = "instashop" })

  dynamic "time_partitioning" {
    for_each = try([each.value.time_partitioning], [])
    content {
      type  = time_partitioning.value.type
      field = time_partitioning.value.field
    }
  }

  dynamic "encryption_configuration" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      kms_key_name = encryption_configuration.value
    }
  }

  # The key's service agent must be granted it first (kms.tf).
  depends_on = [google_kms_crypto_key_iam_member.service_agents]
}

locals {
  # The views' template variables: where they live, and the alert views' thresholds.
  view_vars = merge({ project_id = var.project_id, dataset_id = var.dataset_id, time_zone = var.time_zone }, var.alert_thresholds)
}

# The views are in views.tf, generated from ../bigquery/views.

# Staging tables of `batch-loader --append` and the forecast job (--staging-dataset):
# their accounts may create and drop tables here, and only read or write named tables of
# the main dataset.
resource "google_bigquery_dataset" "staging" {
  project                     = var.project_id
  dataset_id                  = "${var.dataset_id}_staging"
  location                    = var.location
  description                 = "InstaShop Analytics: staging tables of batch-loader --append and the forecast job, dropped after each run (a crash's expire within a day)."
  labels                      = merge(var.labels, { managed_by = "instashop" })
  default_table_expiration_ms = 86400000

  dynamic "default_encryption_configuration" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      kms_key_name = default_encryption_configuration.value
    }
  }

  # The key's service agent must be granted it first (kms.tf).
  depends_on = [google_kms_crypto_key_iam_member.service_agents]
}

moved {
  from = google_bigquery_dataset.staging[0]
  to   = google_bigquery_dataset.staging
}
