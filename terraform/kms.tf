# Customer-managed encryption (optional, var.kms_key_name): each Google service that
# encrypts with the key does so as its own service agent, which must be granted the key,
# or creating the bucket, the dataset and tables, or the topics fails.

data "google_storage_project_service_account" "gcs" {
  count   = var.kms_key_name == null ? 0 : 1
  project = var.project_id
}

data "google_bigquery_default_service_account" "bq" {
  count   = var.kms_key_name == null ? 0 : 1
  project = var.project_id
}

locals {
  key_users = var.kms_key_name == null ? {} : {
    storage  = "serviceAccount:${data.google_storage_project_service_account.gcs[0].email_address}"
    bigquery = "serviceAccount:${data.google_bigquery_default_service_account.bq[0].email}"
    pubsub   = local.pubsub_service_agent
  }
}

resource "google_kms_crypto_key_iam_member" "service_agents" {
  for_each      = local.key_users
  crypto_key_id = var.kms_key_name
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = each.value
}
