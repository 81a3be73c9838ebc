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

  # The dashboards (../looker/report.json): its data_sources (the unified
  # v_fact_sales_all) first, then every view the charts read, are the data sources of
  # the Looker Studio link (outputs.tf), as in `dashboard --looker-url`.
  report       = jsondecode(file("${path.module}/../looker/report.json"))
  looker_views = distinct(concat(local.report.data_sources, sort(distinct(flatten([for p in local.report.pages : [for c in p.charts : c.view]])))))

  dead_letter_topic        = "${var.topic}-dead-letter"
  alerts_topic             = "${var.topic}-alerts"
  dead_letter_subscription = "${var.topic}-dead-letter-keep"
}
