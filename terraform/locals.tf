# Everything read from ../bigquery/, the one definition of the data model.

locals {
  model_dir      = "${path.module}/../bigquery"
  bucket_folders = ["datasets/", "pipelines/"]

  # Per table: description, partitioning, clustering. Columns come from schemas/<table>.json.
  tables = jsondecode(file("${local.model_dir}/tables.json"))

  # Views: the SQL template of each, and the tables or views it reads.
  view_files = fileset("${local.model_dir}/views", "*.sql")
  views = {
    for f in local.view_files : trimsuffix(f, ".sql") => {
      template = "${local.model_dir}/views/${f}"
      reads    = toset(flatten(regexall("\\$\\{dataset_id\\}\\.([A-Za-z0-9_]+)", file("${local.model_dir}/views/${f}"))))
    }
  }

  # A view is created after everything it reads: tier 1 reads only tables, tier n reads
  # tables and views of earlier tiers. Four tiers are enough for the model (a check below
  # fails if a view fits none).
  table_names = toset(keys(local.tables))
  tier1       = toset([for k, v in local.views : k if length(setsubtract(v.reads, local.table_names)) == 0])
  tier2 = toset([for k, v in local.views : k if !contains(local.tier1, k) &&
  length(setsubtract(v.reads, setunion(local.table_names, local.tier1))) == 0])
  tier3 = toset([for k, v in local.views : k if !contains(setunion(local.tier1, local.tier2), k) &&
  length(setsubtract(v.reads, setunion(local.table_names, local.tier1, local.tier2))) == 0])
  tier4 = toset([for k, v in local.views : k if !contains(setunion(local.tier1, local.tier2, local.tier3), k) &&
  length(setsubtract(v.reads, setunion(local.table_names, local.tier1, local.tier2, local.tier3))) == 0])

  dead_letter_topic        = "${var.topic}-dead-letter"
  dead_letter_subscription = "${var.topic}-dead-letter-keep"
}

check "every_view_has_a_tier" {
  assert {
    condition     = length(setunion(local.tier1, local.tier2, local.tier3, local.tier4)) == length(local.views)
    error_message = "A view in bigquery/views reads an unknown name or sits deeper than four views: add a tier in locals.tf."
  }
}
