# BigQuery: the dataset, every table of ../bigquery/schemas (columns via file()), and every
# view of ../bigquery/views (SQL via templatefile()), each view after what it reads.

resource "google_bigquery_dataset" "main" {
  project       = var.project_id
  dataset_id    = var.dataset_id
  location      = var.location
  description   = "InstaShop Analytics: batch and streaming e-commerce sales, and the views the dashboards read."
  labels        = merge(var.labels, { managed_by = "instashop" })
  friendly_name = "InstaShop Analytics"

  dynamic "default_encryption_configuration" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      kms_key_name = default_encryption_configuration.value
    }
  }
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
  labels              = merge(var.labels, { managed_by = "instashop" })

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
}

locals {
  view_vars = { project_id = var.project_id, dataset_id = var.dataset_id }
}

resource "google_bigquery_table" "views_tier1" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  for_each            = local.tier1
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = each.key
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile(local.views[each.key].template, local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.tables]
}

resource "google_bigquery_table" "views_tier2" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  for_each            = local.tier2
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = each.key
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile(local.views[each.key].template, local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.views_tier1]
}

resource "google_bigquery_table" "views_tier3" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  for_each            = local.tier3
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = each.key
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile(local.views[each.key].template, local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.views_tier2]
}

resource "google_bigquery_table" "views_tier4" {
  # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key
  for_each            = local.tier4
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = each.key
  deletion_protection = var.deletion_protection
  labels              = merge(var.labels, { managed_by = "instashop" })
  view {
    query          = templatefile(local.views[each.key].template, local.view_vars)
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.views_tier3]
}
