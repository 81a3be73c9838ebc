# Everything read from ../bigquery/, the one definition of the data model.

locals {
  model_dir      = "${path.module}/../bigquery"
  bucket_folders = ["datasets/", "pipelines/"]

  # Per table: description, partitioning, clustering. Columns come from schemas/<table>.json.
  tables = jsondecode(file("${local.model_dir}/tables.json"))

  # Views: one per SQL file. Each is a resource of views.tf, generated from these files
  # (a precondition on the dataset fails the plan when the two sets differ).
  view_files = fileset("${local.model_dir}/views", "*.sql")
  view_names = toset([for f in local.view_files : trimsuffix(f, ".sql")])

  dead_letter_topic        = "${var.topic}-dead-letter"
  dead_letter_subscription = "${var.topic}-dead-letter-keep"
}
