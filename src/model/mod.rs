//! The data model, read from `bigquery/`: the one definition of every table and view,
//! shared with Terraform.
//!
//! - `bigquery/schemas/<table>.json`: the table's columns in the `bq` JSON schema format
//!   (name, type, mode, description for every column).
//! - `bigquery/tables.json`: per table, its description, day partitioning and clustering
//!   (Terraform reads it with `jsondecode(file(...))`).
//! - `bigquery/views/<view>.sql`: the view's query, a Terraform `templatefile()` template
//!   whose only variables are `${project_id}`, `${dataset_id}`, `${time_zone}` (the
//!   shop's reporting time zone) and, for the alert views, the thresholds of
//!   [`crate::model::Thresholds::VARS`] ([`ViewVars`]: provision fills them from its
//!   flags, Terraform from its variables). Its leading `--` comment lines are the view's description.
//!
//! [`DataModel::load`] checks all of it and orders the views after what they read;
//! every error names the file at fault.

pub mod provision;
mod thresholds;

pub use thresholds::Thresholds;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::platform::error::{Error, Result};

/// The inside of an HCL quoted string: quotes and backslashes escaped, and `${`, `%{`
/// doubled so that Terraform does not read them as interpolation.
fn hcl_string(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
        .replace("${", "$${")
        .replace("%{", "%%{")
}

/// Column types a schema file may use (BigQuery's standard SQL names and their legacy
/// aliases). FLOAT64 is not among them on purpose: money is NUMERIC.
const TYPES: &[&str] = &[
    "STRING",
    "BYTES",
    "INT64",
    "INTEGER",
    "NUMERIC",
    "BIGNUMERIC",
    "BOOL",
    "BOOLEAN",
    "TIMESTAMP",
    "DATE",
    "TIME",
    "DATETIME",
    "JSON",
    "GEOGRAPHY",
];
const MODES: &[&str] = &["NULLABLE", "REQUIRED", "REPEATED"];
/// Fraction digits of BigQuery NUMERIC: a value with more is refused (or rounded) by
/// BigQuery, so every money amount and measure the project writes has at most these.
pub(crate) const NUMERIC_SCALE: u32 = 9;
/// BigQuery accepts at most four clustering columns.
const MAX_CLUSTERING: usize = 4;
/// The template variables a view may use, as Terraform's `templatefile()` spells them.
const PROJECT_VAR: &str = "${project_id}";
const DATASET_VAR: &str = "${dataset_id}";

/// One column of a table, exactly as the schema file gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// BigQuery type, e.g. `NUMERIC`.
    #[serde(rename = "type")]
    pub r#type: String,
    /// `NULLABLE`, `REQUIRED` or `REPEATED`.
    pub mode: String,
    /// What the column holds.
    pub description: String,
}

/// Table options from `bigquery/tables.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableOptions {
    /// The table's description.
    pub description: String,
    /// Time partitioning, if any.
    #[serde(default)]
    pub time_partitioning: Option<Partitioning>,
    /// Clustering columns, in order.
    #[serde(default)]
    pub clustering: Vec<String>,
    /// Refuse any query that does not filter on the partitioning column (a query of
    /// the whole history by mistake fails instead of billing it).
    #[serde(default)]
    pub require_partition_filter: bool,
}

/// Time partitioning of a table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partitioning {
    /// `DAY`, `HOUR`, `MONTH` or `YEAR`.
    #[serde(rename = "type")]
    pub r#type: String,
    /// The DATE or TIMESTAMP column partitioned on.
    pub field: String,
}

/// A table of the data model.
#[derive(Debug, Clone)]
pub struct TableDef {
    /// Table id.
    pub name: String,
    /// The schema file it came from.
    pub file: PathBuf,
    /// Its columns, in order.
    pub columns: Vec<Column>,
    /// Description, partitioning and clustering.
    pub options: TableOptions,
}

/// A view of the data model.
#[derive(Debug, Clone)]
pub struct ViewDef {
    /// View id.
    pub name: String,
    /// The SQL file it came from.
    pub file: PathBuf,
    /// The query template (`${project_id}`, `${dataset_id}`).
    pub template: String,
    /// The leading comment of the file, as one paragraph.
    pub description: String,
    /// The tables and views it reads, by id.
    pub reads: BTreeSet<String>,
}

impl ViewDef {
    /// The query with the project and dataset filled in, and the other variables at
    /// their defaults.
    pub fn render(&self, project: &str, dataset: &str) -> String {
        render(&self.template, project, dataset)
    }
}

/// The template variable of the reporting time zone.
pub(crate) const TIME_ZONE_VAR: &str = "time_zone";

/// What a view template reads beside `${project_id}` and `${dataset_id}`: the
/// deployment's settings, as Terraform's `local.view_vars` holds them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ViewVars {
    /// `${time_zone}`: the shop's reporting time zone.
    pub time_zone: crate::platform::settings::TimeZone,
    /// The alert thresholds, `${alert_*}`.
    pub thresholds: crate::model::Thresholds,
}

impl ViewVars {
    /// The default thresholds, in `time_zone`.
    pub(crate) fn in_zone(time_zone: crate::platform::settings::TimeZone) -> Self {
        ViewVars {
            time_zone,
            ..ViewVars::default()
        }
    }

    /// Every variable's name, as templates spell it inside `${}`.
    pub fn names() -> impl Iterator<Item = &'static str> {
        std::iter::once(TIME_ZONE_VAR).chain(crate::model::Thresholds::VARS)
    }
}

/// Fills `${project_id}` and `${dataset_id}` in a view template, and the other variables
/// with their defaults ([`ViewVars::default`]).
pub fn render(template: &str, project: &str, dataset: &str) -> String {
    render_with(template, project, dataset, &ViewVars::default())
}

/// Fills a view template with the project, the dataset and these variables.
pub(crate) fn render_with(template: &str, project: &str, dataset: &str, vars: &ViewVars) -> String {
    let mut sql = template
        .replace(PROJECT_VAR, project)
        .replace(DATASET_VAR, dataset)
        .replace(&format!("${{{TIME_ZONE_VAR}}}"), vars.time_zone.name());
    for (name, value) in vars.thresholds.values() {
        sql = sql.replace(&format!("${{{name}}}"), &value);
    }
    sql
}

/// Whether `tail` starts with a template variable a view may use.
fn allowed_var(tail: &str) -> bool {
    tail.starts_with(PROJECT_VAR)
        || tail.starts_with(DATASET_VAR)
        || ViewVars::names().any(|v| {
            tail.strip_prefix("${")
                .and_then(|t| t.strip_prefix(v))
                .is_some_and(|t| t.starts_with('}'))
        })
}

/// Every table and view of `bigquery/`.
#[derive(Debug, Clone)]
pub struct DataModel {
    /// Tables, by file name order.
    pub tables: Vec<TableDef>,
    /// Views, each after everything it reads.
    pub views: Vec<ViewDef>,
}

impl DataModel {
    /// The `bigquery/` folder: `INSTASHOP_MODEL_DIR` if set, else `./bigquery` if it
    /// exists, else the one in the source tree this binary was built from.
    pub fn default_dir() -> PathBuf {
        if let Some(dir) = std::env::var_os("INSTASHOP_MODEL_DIR") {
            return dir.into();
        }
        let here = PathBuf::from("bigquery");
        if here.join("tables.json").is_file() {
            return here;
        }
        Path::new(env!("CARGO_MANIFEST_DIR")).join("bigquery")
    }

    /// Reads and checks the whole model under `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        let options_file = dir.join("tables.json");
        let mut options: BTreeMap<String, TableOptions> = serde_json::from_str(&read(&options_file)?)
            .map_err(|e| Error::model(&options_file, format!("not a valid table options file: {e}")))?;

        let mut tables = Vec::new();
        for file in list(&dir.join("schemas"), "json")? {
            let name = stem(&file);
            let columns: Vec<Column> = serde_json::from_str(&read(&file)?).map_err(|e| {
                Error::model(
                    &file,
                    format!("not a bq JSON schema (a list of {{name, type, mode, description}}): {e}"),
                )
            })?;
            let opts = options.remove(&name).ok_or_else(|| {
                Error::model(
                    &options_file,
                    format!("has no entry for table {name} (bigquery/schemas/{name}.json)"),
                )
            })?;
            let table = TableDef {
                name,
                file,
                columns,
                options: opts,
            };
            check_table(&table, &options_file)?;
            tables.push(table);
        }
        if let Some(orphan) = options.keys().next() {
            return Err(Error::model(
                &options_file,
                format!("names table {orphan}, which has no bigquery/schemas/{orphan}.json"),
            ));
        }

        let mut views = Vec::new();
        for file in list(&dir.join("views"), "sql")? {
            let template = read(&file)?;
            views.push(parse_view(stem(&file), file, template)?);
        }
        let views = order_views(&tables, views)?;
        Ok(DataModel { tables, views })
    }

    /// `terraform/views.tf`, generated from the views: one resource per view, named
    /// after it and created after what it reads, so that a view's address never changes
    /// when its dependencies do; and a `moved` block from the address each view had when
    /// views were grouped in tiers (`views_tier<N>`), so an existing deployment is moved,
    /// not destroyed. `tests/terraform.rs` fails when the file is not this text.
    pub fn terraform_views(&self) -> String {
        let table_names: BTreeSet<&str> = self.tables.iter().map(|t| t.name.as_str()).collect();
        let mut tier: BTreeMap<&str, usize> = BTreeMap::new();
        for v in &self.views {
            // Views are ordered after what they read, so every tier read is known.
            let t = 1 + v
                .reads
                .iter()
                .filter_map(|r| tier.get(r.as_str()))
                .max()
                .copied()
                .unwrap_or(0);
            tier.insert(&v.name, t);
        }
        let mut out = String::from(
            "# GENERATED from bigquery/views by `UPDATE_TERRAFORM=1 cargo test --test terraform`:\n\
             # edit the SQL files, not this one. One resource per view, named after it and created\n\
             # after the tables and views it reads (its address never changes when they do).\n\n\
             locals {\n  generated_views = [\n",
        );
        for v in &self.views {
            out.push_str(&format!("    \"{}\",\n", v.name));
        }
        out.push_str("  ]\n}\n");
        for v in &self.views {
            let mut deps = vec!["google_bigquery_table.tables".to_string()];
            deps.extend(
                v.reads
                    .iter()
                    .filter(|r| !table_names.contains(r.as_str()))
                    .map(|r| format!("google_bigquery_table.{r}")),
            );
            out.push_str(&format!(
                "\nresource \"google_bigquery_table\" \"{name}\" {{\n  \
                 # checkov:skip=CKV_GCP_80: a view stores no data; the tables it reads carry the key\n  \
                 project             = var.project_id\n  \
                 dataset_id          = google_bigquery_dataset.main.dataset_id\n  \
                 table_id            = \"{name}\"\n  \
                 description         = \"{description}\"\n  \
                 deletion_protection = var.deletion_protection\n  \
                 labels              = merge(var.labels, {{ managed_by = \"instashop\" }})\n  \
                 view {{\n    \
                 query          = templatefile(\"${{local.model_dir}}/views/{name}.sql\", local.view_vars)\n    \
                 use_legacy_sql = false\n  \
                 }}\n  \
                 depends_on = [{deps}]\n\
                 }}\n\n\
                 moved {{\n  \
                 from = google_bigquery_table.views_tier{tier}[\"{name}\"]\n  \
                 to   = google_bigquery_table.{name}\n\
                 }}\n",
                name = v.name,
                description = hcl_string(&v.description),
                deps = deps.join(", "),
                tier = tier[v.name.as_str()],
            ));
        }
        out
    }

    /// The table called `name`.
    pub fn table(&self, name: &str) -> Option<&TableDef> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// The view called `name`.
    pub fn view(&self, name: &str) -> Option<&ViewDef> {
        self.views.iter().find(|v| v.name == name)
    }
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::model(path, format!("cannot read: {e}")))
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The files with extension `ext` in `dir`, sorted; anything else there is an error, so a
/// misnamed file is not silently ignored.
fn list(dir: &Path, ext: &str) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::model(dir, format!("cannot list: {e}")))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| Error::model(dir, format!("cannot list: {e}")))?
            .path();
        if path.extension().and_then(|e| e.to_str()) != Some(ext) {
            return Err(Error::model(
                &path,
                format!("unexpected file: this folder holds only .{ext} files"),
            ));
        }
        let name = stem(&path);
        if !is_identifier(&name) {
            return Err(Error::model(
                &path,
                "the file name must be a BigQuery id (letters, digits, _)",
            ));
        }
        files.push(path);
    }
    files.sort();
    Ok(files)
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn check_table(t: &TableDef, options_file: &Path) -> Result<()> {
    let err = |reason: String| Err(Error::model(&t.file, reason));
    if t.columns.is_empty() {
        return err("has no columns".into());
    }
    let mut seen = BTreeSet::new();
    for c in &t.columns {
        if !is_identifier(&c.name) {
            return err(format!("column {:?} is not a valid column name", c.name));
        }
        if !seen.insert(c.name.to_ascii_lowercase()) {
            return err(format!("column {} is declared twice", c.name));
        }
        if !TYPES.contains(&c.r#type.as_str()) {
            return err(format!(
                "column {} has type {:?}; use one of {} (money is NUMERIC, never FLOAT64)",
                c.name,
                c.r#type,
                TYPES.join(", ")
            ));
        }
        if !MODES.contains(&c.mode.as_str()) {
            return err(format!(
                "column {} has mode {:?}; use one of {}",
                c.name,
                c.mode,
                MODES.join(", ")
            ));
        }
        if c.description.trim().is_empty() {
            return err(format!("column {} has no description", c.name));
        }
    }
    let opt_err = |reason: String| Err(Error::model(options_file, format!("table {}: {reason}", t.name)));
    if t.options.description.trim().is_empty() {
        return opt_err("has no description".into());
    }
    if let Some(p) = &t.options.time_partitioning {
        if !["DAY", "HOUR", "MONTH", "YEAR"].contains(&p.r#type.as_str()) {
            return opt_err(format!(
                "partitioning type {:?} is not DAY, HOUR, MONTH or YEAR",
                p.r#type
            ));
        }
        match t.columns.iter().find(|c| c.name == p.field) {
            Some(c) if ["DATE", "TIMESTAMP", "DATETIME"].contains(&c.r#type.as_str()) => {}
            Some(c) => {
                return opt_err(format!(
                    "partitions on {}, a {} column; use a DATE or TIMESTAMP column",
                    c.name, c.r#type
                ));
            }
            None => return opt_err(format!("partitions on {}, which is not a column", p.field)),
        }
    }
    if t.options.clustering.len() > MAX_CLUSTERING {
        return opt_err(format!(
            "clusters on {} columns; BigQuery allows {MAX_CLUSTERING}",
            t.options.clustering.len()
        ));
    }
    for f in &t.options.clustering {
        if !t.columns.iter().any(|c| &c.name == f) {
            return opt_err(format!("clusters on {f}, which is not a column"));
        }
    }
    Ok(())
}

/// Checks a view's template and finds what it reads.
fn parse_view(name: String, file: PathBuf, template: String) -> Result<ViewDef> {
    let err = |reason: String| Err(Error::model(&file, reason));
    if template.trim().is_empty() {
        return err("is empty".into());
    }
    // Terraform's templatefile() treats every `${` and `%{` as a directive: allow only ours.
    let mut rest = template.as_str();
    while let Some(i) = rest.find(['$', '%']) {
        let tail = &rest[i..];
        if tail[1..].starts_with('{') && !allowed_var(tail) {
            let end = tail.find('}').map_or(tail.len().min(20), |e| e + 1);
            return err(format!(
                "uses {}; the only template variables are {PROJECT_VAR}, {DATASET_VAR} and {}",
                &tail[..end],
                ViewVars::names()
                    .map(|v| format!("${{{v}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        rest = &tail[1..];
    }
    let description = template
        .lines()
        .map(str::trim)
        .take_while(|l| l.starts_with("--"))
        .map(|l| l.trim_start_matches('-').trim())
        .collect::<Vec<_>>()
        .join(" ")
        .trim()
        .to_string();
    if description.is_empty() {
        return err("starts with no `--` comment saying what the view answers".into());
    }
    let body: String = template
        .lines()
        .map(|l| l.split_once("--").map_or(l, |(code, _)| code))
        .collect::<Vec<_>>()
        .join("\n");
    if body.trim_start().to_ascii_uppercase().starts_with("CREATE") {
        return err(
            "holds a CREATE statement; a view file holds only the SELECT (provision and Terraform create the view)"
                .into(),
        );
    }
    // Every backquoted name must be `${project_id}.${dataset_id}.<id>`: a hard-coded
    // project or dataset would break every other environment.
    let prefix = format!("{PROJECT_VAR}.{DATASET_VAR}.");
    let mut reads = BTreeSet::new();
    let mut parts = body.split('`');
    parts.next();
    while let Some(quoted) = parts.next() {
        match quoted.strip_prefix(&prefix) {
            Some(id) if is_identifier(id) => {
                reads.insert(id.to_string());
            }
            _ => {
                return err(format!("reads `{quoted}`; write every table as `{prefix}<table>`"));
            }
        }
        parts.next();
    }
    if reads.is_empty() {
        return err(format!("reads no table; write every table as `{prefix}<table>`"));
    }
    Ok(ViewDef {
        name,
        file,
        template,
        description,
        reads,
    })
}

/// Orders views so that each comes after what it reads; refuses unknown names and cycles.
fn order_views(tables: &[TableDef], views: Vec<ViewDef>) -> Result<Vec<ViewDef>> {
    let table_names: BTreeSet<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    let view_names: BTreeSet<String> = views.iter().map(|v| v.name.clone()).collect();
    for v in &views {
        if table_names.contains(v.name.as_str()) {
            return Err(Error::model(
                &v.file,
                format!("{} is also a table in bigquery/schemas/", v.name),
            ));
        }
        if let Some(unknown) = v
            .reads
            .iter()
            .find(|r| !table_names.contains(r.as_str()) && !view_names.contains(*r))
        {
            return Err(Error::model(
                &v.file,
                format!("reads {unknown}, which is neither a table in bigquery/schemas/ nor a view in bigquery/views/"),
            ));
        }
    }
    let mut placed: BTreeSet<String> = BTreeSet::new();
    let mut pending = views;
    let mut ordered = Vec::new();
    while !pending.is_empty() {
        let (ready, waiting): (Vec<_>, Vec<_>) = pending.into_iter().partition(|v| {
            v.reads
                .iter()
                .all(|r| table_names.contains(r.as_str()) || placed.contains(r))
        });
        if ready.is_empty() {
            let v = &waiting[0];
            return Err(Error::model(
                &v.file,
                format!(
                    "is part of a cycle of views ({})",
                    waiting.iter().map(|v| v.name.as_str()).collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        placed.extend(ready.iter().map(|v| v.name.clone()));
        ordered.extend(ready);
        pending = waiting;
    }
    Ok(ordered)
}

/// The daily units per product the refresh keeps from `sales_facts`, which the
/// forecast reads.
pub(crate) const UNITS_TABLE: &str = "product_daily_units";

/// The seed's `YYYY-MM-DD HH:MM:SS[.f]`, with the format parsed once (parsing it per
/// event was a tenth of the rules' time).
fn parse_seed_ts(s: &str) -> chrono::ParseResult<chrono::NaiveDateTime> {
    use chrono::format::{Item, Parsed, StrftimeItems};
    static ITEMS: std::sync::LazyLock<Vec<Item<'static>>> = std::sync::LazyLock::new(|| {
        StrftimeItems::new("%Y-%m-%d %H:%M:%S%.f")
            .parse_to_owned()
            .expect("a valid format")
    });
    let mut parsed = Parsed::new();
    chrono::format::parse(&mut parsed, s, ITEMS.iter())?;
    parsed.to_naive_datetime_with_offset(0)
}

/// A moment as the project's inputs write it: the seed's `YYYY-MM-DD HH:MM:SS[.f]` in
/// UTC, or RFC 3339 with an offset (converted to UTC). Events' `event_ts` and the
/// loader's TIMESTAMP columns (`inventory.snapshot_ts`) both read it.
pub(crate) fn parse_utc_ts(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    parse_seed_ts(s)
        .map(|n| n.and_utc())
        .or_else(|_| chrono::DateTime::parse_from_rfc3339(s).map(|d| d.with_timezone(&chrono::Utc)))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_model() -> DataModel {
        DataModel::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("bigquery")).unwrap()
    }

    /// A copy of the repository's model in a temporary folder, to break on purpose.
    fn copy_model() -> tempdir::TempModel {
        tempdir::TempModel::copy_of(&Path::new(env!("CARGO_MANIFEST_DIR")).join("bigquery"))
    }

    mod tempdir {
        use std::path::{Path, PathBuf};
        pub(crate) struct TempModel(pub PathBuf);
        impl TempModel {
            pub(crate) fn copy_of(src: &Path) -> Self {
                let dir = std::env::temp_dir().join(format!("instashop-model-{}", uuid::Uuid::new_v4()));
                for sub in ["schemas", "views"] {
                    std::fs::create_dir_all(dir.join(sub)).unwrap();
                    for e in std::fs::read_dir(src.join(sub)).unwrap() {
                        let p = e.unwrap().path();
                        std::fs::copy(&p, dir.join(sub).join(p.file_name().unwrap())).unwrap();
                    }
                }
                std::fs::copy(src.join("tables.json"), dir.join("tables.json")).unwrap();
                TempModel(dir)
            }
        }
        impl Drop for TempModel {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn every_schema_file_parses_and_has_the_seed_columns_first() {
        let m = repo_model();
        let names = |t: &str| -> Vec<String> { m.table(t).unwrap().columns.iter().map(|c| c.name.clone()).collect() };
        assert_eq!(
            names("customers")[..4],
            ["customer_id", "name", "country", "signup_date"]
        );
        assert_eq!(names("orders")[..3], ["order_id", "customer_id", "order_date"]);
        assert_eq!(names("order_items"), ["order_id", "product_id", "qty", "unit_price"]);
        assert_eq!(names("products")[..3], ["product_id", "category", "price"]);
        assert_eq!(
            names("inventory")[..4],
            ["product_id", "warehouse", "stock", "reorder_point"]
        );
        // The InstaShop columns come after the seed's and are nullable, so the seed's own
        // four-column CSVs still load.
        for (t, extra) in [
            ("inventory", "snapshot_ts"),
            ("customers", "plan"),
            ("orders", "payment_method"),
            ("orders", "status"),
            ("products", "name"),
        ] {
            let c = m.table(t).unwrap().columns.iter().find(|c| c.name == extra).unwrap();
            assert_eq!(c.mode, "NULLABLE", "{t}.{extra}");
        }
        assert_eq!(
            m.tables.len(),
            15,
            "the seven of the data flow, fact_sales_replay, alert_log, sales_facts, product_daily_units, customer_months, customer_lifetime, inventory_sold and forecast_demand"
        );
        let facts = m.table("sales_facts").unwrap();
        assert!(facts.options.require_partition_filter);
        assert_eq!(facts.options.time_partitioning.as_ref().unwrap().field, "sale_date");
        let months = m
            .table("customer_months")
            .unwrap()
            .options
            .time_partitioning
            .as_ref()
            .unwrap();
        assert_eq!((months.r#type.as_str(), months.field.as_str()), ("MONTH", "month"));
    }

    #[test]
    fn money_is_numeric_everywhere() {
        let m = repo_model();
        for (t, c) in [
            ("order_items", "unit_price"),
            ("products", "price"),
            ("fact_sales_streaming", "unit_price"),
            ("fact_sales_streaming", "gross_amount"),
        ] {
            assert_eq!(
                m.table(t).unwrap().columns.iter().find(|x| x.name == c).unwrap().r#type,
                "NUMERIC",
                "{t}.{c}"
            );
        }
    }

    #[test]
    fn streaming_table_is_partitioned_by_event_day() {
        let m = repo_model();
        let p = m
            .table("fact_sales_streaming")
            .unwrap()
            .options
            .time_partitioning
            .clone()
            .unwrap();
        assert_eq!((p.r#type.as_str(), p.field.as_str()), ("DAY", "event_ts"));
    }

    #[test]
    fn every_view_reads_only_what_the_model_defines_and_comes_after_it() {
        let m = repo_model();
        let mut seen: BTreeSet<&str> = m.tables.iter().map(|t| t.name.as_str()).collect();
        for v in &m.views {
            for r in &v.reads {
                assert!(seen.contains(r.as_str()), "{} reads {r} before it exists", v.name);
            }
            seen.insert(&v.name);
        }
        for v in ["v_fact_sales_batch", "v_fact_sales_all"] {
            assert!(m.view(v).is_some(), "{v} missing");
        }
        assert!(
            m.view("v_fact_sales_all")
                .unwrap()
                .reads
                .contains("v_fact_sales_streaming")
        );
    }

    #[test]
    fn alert_templates_render_their_thresholds() {
        let t = crate::model::Thresholds {
            failed_payment_pct: rust_decimal::Decimal::new(125, 1),
            ..Default::default()
        };
        let sql = render_with(
            "x >= NUMERIC '${alert_failed_payment_pct}' AND n >= ${alert_revenue_min_weeks}",
            "p",
            "d",
            &ViewVars {
                thresholds: t,
                ..ViewVars::default()
            },
        );
        assert_eq!(sql, "x >= NUMERIC '12.5' AND n >= 4");
        let model = repo_model();
        for v in &model.views {
            let sql = v.render("p", "d");
            assert!(!sql.contains("${"), "{} left a variable: {sql}", v.name);
        }
    }

    #[test]
    fn the_time_zone_reaches_every_day_of_the_fact_views() {
        let vars = ViewVars::in_zone("America/Santiago".parse().unwrap());
        let m = repo_model();
        for v in [
            "v_fact_sales_batch",
            "v_fact_sales_all",
            "v_revenue_30d",
            "v_active_customers",
        ] {
            let sql = render_with(&m.view(v).unwrap().template, "p", "d", &vars);
            assert!(sql.contains("'America/Santiago'"), "{v}: {sql}");
            assert!(!sql.contains("${"), "{v}: {sql}");
        }
    }

    #[test]
    fn templates_render_project_and_dataset() {
        assert_eq!(
            render("`${project_id}.${dataset_id}.orders` ${project_id}", "p-1", "d_1"),
            "`p-1.d_1.orders` p-1"
        );
        let m = repo_model();
        let sql = m.view("v_fact_sales_batch").unwrap().render("p-1", "d_1");
        assert!(sql.contains("`p-1.d_1.orders`") && !sql.contains("${"), "{sql}");
    }

    #[test]
    fn views_keep_numeric_casts_out() {
        // The BigQuery emulator rounds `CAST(x AS NUMERIC)` to three decimals.
        for v in &repo_model().views {
            assert!(
                !v.template.to_ascii_uppercase().contains("AS NUMERIC"),
                "{} casts to NUMERIC",
                v.name
            );
        }
    }

    fn load_err(tweak: impl FnOnce(&Path)) -> String {
        let tmp = copy_model();
        tweak(&tmp.0);
        DataModel::load(&tmp.0).unwrap_err().to_string()
    }

    #[test]
    fn a_broken_schema_file_is_refused_with_its_name() {
        let e = load_err(|d| std::fs::write(d.join("schemas/orders.json"), "[{\"name\": \"order_id\",").unwrap());
        assert!(e.contains("orders.json") && e.contains("not a bq JSON schema"), "{e}");
        let e = load_err(|d| {
            std::fs::write(
                d.join("schemas/orders.json"),
                r#"[{"name":"x","type":"FLOAT64","mode":"NULLABLE","description":"d"}]"#,
            )
            .unwrap()
        });
        assert!(e.contains("orders.json") && e.contains("FLOAT64"), "{e}");
        let e = load_err(|d| {
            std::fs::write(
                d.join("schemas/orders.json"),
                r#"[{"name":"x","type":"STRING","mode":"NULLABLE","description":" "}]"#,
            )
            .unwrap()
        });
        assert!(e.contains("orders.json") && e.contains("no description"), "{e}");
        let e = load_err(|d| {
            std::fs::write(
                d.join("schemas/extra.json"),
                r#"[{"name":"x","type":"STRING","mode":"NULLABLE","description":"d"}]"#,
            )
            .unwrap()
        });
        assert!(e.contains("tables.json") && e.contains("extra"), "{e}");
        let e = load_err(|d| std::fs::write(d.join("schemas/notes.txt"), "hi").unwrap());
        assert!(e.contains("notes.txt"), "{e}");
    }

    #[test]
    fn a_broken_view_file_is_refused_with_its_name() {
        let cases = [
            ("-- x\nSELECT * FROM `${project_id}.${dataset_id}.nope`", "nope"),
            (
                "-- x\nSELECT * FROM `data-ecommerce-demo.data_ecommerce_demo.orders`",
                "write every table",
            ),
            (
                "-- x\nSELECT '${other}' FROM `${project_id}.${dataset_id}.orders`",
                "${other}",
            ),
            (
                "-- x\nSELECT '%{ if x }' FROM `${project_id}.${dataset_id}.orders`",
                "%{ if x }",
            ),
            ("SELECT * FROM `${project_id}.${dataset_id}.orders`", "comment"),
            (
                "-- x\nCREATE VIEW v AS SELECT * FROM `${project_id}.${dataset_id}.orders`",
                "CREATE",
            ),
            ("-- x\nSELECT * FROM `${project_id}.${dataset_id}.v_loop`", "cycle"),
        ];
        for (sql, want) in cases {
            let e = load_err(|d| std::fs::write(d.join("views/v_loop.sql"), sql).unwrap());
            assert!(e.contains("v_loop.sql") && e.contains(want), "{sql}: {e}");
        }
    }

    #[test]
    fn bad_table_options_are_refused() {
        let e = load_err(|d| {
            let p = d.join("tables.json");
            let s = std::fs::read_to_string(&p)
                .unwrap()
                .replace("\"field\": \"event_ts\"", "\"field\": \"qty\"");
            std::fs::write(p, s).unwrap();
        });
        assert!(e.contains("tables.json") && e.contains("qty"), "{e}");
    }
}
