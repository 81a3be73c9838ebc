# Cloud Storage: the seed's bucket with its datasets/ and pipelines/ folders.

resource "google_storage_bucket" "data" {
  project                     = var.project_id
  name                        = var.bucket_name
  location                    = var.location
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false
  labels                      = var.labels

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.noncurrent_object_retention_days
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  dynamic "encryption" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      default_kms_key_name = encryption.value
    }
  }

  dynamic "logging" {
    for_each = var.access_log_bucket == null ? [] : [var.access_log_bucket]
    content {
      log_bucket = logging.value
    }
  }

  # The key's service agent must be granted it first (kms.tf).
  depends_on = [google_kms_crypto_key_iam_member.service_agents]
}

# A .keep object is how a folder exists in Cloud Storage (`provision` writes the same names).
resource "google_storage_bucket_object" "folders" {
  for_each = toset(local.bucket_folders)
  bucket   = google_storage_bucket.data.name
  name     = "${each.value}.keep"
  content  = " "
}
