//! `batch-loader`: historical CSVs from a folder or `gs://` into the batch tables.
//!
//! Every row is checked against the table's schema in `bigquery/` before anything is
//! loaded ([`check_csv`], pure): types, required fields, dates, decimals (NUMERIC scale).
//! Columns are matched by header name, so the seed's four-column files and `datagen`'s
//! wider ones both load; a header that matches no column stops everything. A bad row is
//! reported with file, line and reason; by default one refuses its table's load (the table
//! is left as it was), `--max-bad-rows N` skips up to N per table. The checked rows are
//! written as a normalised CSV (schema column order, UTF-8, LF) to
//! `gs://BUCKET/pipelines/batch-loader/`, and loaded by a BigQuery load job with the
//! explicit schema (never autodetect), replacing the table unless `--append`.
//!
//! Keys are kept true ([`PRIMARY_KEYS`], [`REFERENCES`]): a second row with a primary key
//! already seen is refused naming both lines, and a row whose reference (an order's
//! customer, an order line's order or product) is neither in the files being loaded nor
//! in the table already in BigQuery (with `--append`, or when that table's load is
//! refused) is refused as an orphan; both count against `--max-bad-rows` like any bad
//! row. `--append` replaces by key ([`REPLACED_BY`]): the file is loaded into a staging
//! table, then one transaction deletes the rows it replaces and inserts it, so appending
//! the same file twice leaves each key once, and an appended order's lines replace its
//! old ones; with `--append` only the files present are loaded (a new stock count is
//! `inventory.csv` alone). An inventory file without `snapshot_ts` is stamped with the
//! load time.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::json;

use crate::model::{DataModel, TableDef};
use crate::platform::error::{Error, Result};
use crate::platform::gcp::Gcp;
use crate::platform::progress::Progress;
use crate::platform::rest;
use crate::platform::retry::{self, RetryPolicy};

/// The batch tables, in load order; the first four are the seed's and must be present
/// unless `--append`.
pub(crate) const BATCH_TABLES: [&str; 5] = ["customers", "products", "orders", "order_items", "inventory"];
const REQUIRED: usize = 4;
/// Where the normalised files go in the bucket.
pub(crate) const STAGING_PREFIX: &str = "pipelines/batch-loader/";
/// The primary key of each batch table that has one: a value (or, for inventory, a
/// pair) appears once per file.
pub(crate) const PRIMARY_KEYS: [(&str, &[&str]); 4] = [
    ("customers", &["customer_id"]),
    ("products", &["product_id"]),
    ("orders", &["order_id"]),
    ("inventory", &["product_id", "warehouse", "snapshot_ts"]),
];
/// References between the batch tables: (table, column, referenced table), the
/// referenced column being that table's primary key.
pub(crate) const REFERENCES: [(&str, &str, &str); 3] = [
    ("orders", "customer_id", "customers"),
    ("order_items", "order_id", "orders"),
    ("order_items", "product_id", "products"),
];
/// With `--append`, a file's rows replace the table's rows with the same value of this
/// column: a customer, product or order by its id, and an order's lines all together.
/// Inventory appends: each snapshot is kept, and the views read the latest.
pub(crate) const REPLACED_BY: [(&str, &str); 4] = [
    ("customers", "customer_id"),
    ("products", "product_id"),
    ("orders", "order_id"),
    ("order_items", "order_id"),
];
/// Columns stamped with the load time when the file leaves them out or empty.
pub(crate) const STAMPED: [(&str, &str); 1] = [("inventory", "snapshot_ts")];

/// What a check knows beyond the file: the load time, and the keys each referenced
/// table will hold (a table absent from `known` is not checked against).
#[derive(Debug, Clone, Default)]
pub(crate) struct CheckContext {
    /// The load's time, stamped into [`STAMPED`] columns (UTC).
    pub loaded_at: chrono::DateTime<chrono::Utc>,
    /// Per referenced table, the primary keys it will hold once loaded.
    pub known: HashMap<String, HashSet<String>>,
}

/// A row refused by the check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    /// CSV file name.
    pub file: String,
    /// 1-based line where the record starts.
    pub line: u64,
    /// What is wrong.
    pub reason: String,
}

impl std::fmt::Display for BadRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.reason)
    }
}

/// The outcome of checking one file.
#[derive(Debug, Clone)]
pub(crate) struct Checked {
    /// The good rows as a normalised CSV, with a header.
    pub normalized: Vec<u8>,
    /// Good rows.
    pub good: u64,
    /// Bad rows.
    pub bad: Vec<BadRow>,
    /// The primary keys of the good rows (the first key column), for the tables that
    /// reference this one.
    pub keys: HashSet<String>,
}

/// A TIMESTAMP as the normalised CSV writes it: UTC `YYYY-MM-DD HH:MM:SS.ffffff`, which
/// BigQuery's CSV load reads. The loader reads one as events do
/// ([`crate::model::parse_utc_ts`]).
fn timestamp_text(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
}

fn check_value(ty: &str, v: &str) -> std::result::Result<(), String> {
    match ty {
        "INT64" | "INTEGER" => v
            .parse::<i64>()
            .map(|_| ())
            .map_err(|_| format!("{v:?} is not an integer")),
        "NUMERIC" | "BIGNUMERIC" => match Decimal::from_str_exact(v) {
            Ok(d) if d.scale() <= crate::model::NUMERIC_SCALE => Ok(()),
            Ok(_) => Err(format!(
                "{v:?} has more than {} decimal places",
                crate::model::NUMERIC_SCALE
            )),
            Err(_) => Err(format!("{v:?} is not a decimal number")),
        },
        "DATE" => NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .map(|_| ())
            .map_err(|_| format!("{v:?} is not a date (YYYY-MM-DD)")),
        "BOOL" | "BOOLEAN" => match v.to_ascii_lowercase().as_str() {
            "true" | "false" => Ok(()),
            _ => Err(format!("{v:?} is not true or false")),
        },
        _ => Ok(()),
    }
}

/// Checks one CSV against `table`'s schema and keys; see the module doc. Errs (and
/// nothing may be loaded) when the header cannot be matched.
pub(crate) fn check_csv(table: &TableDef, file: &str, bytes: &[u8], ctx: &CheckContext) -> Result<Checked> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(bytes);
    let header = rdr
        .headers()
        .map_err(|e| Error::input(file, format!("unreadable header: {e}")))?
        .clone();
    if header.is_empty() || header.iter().all(|h| h.trim().is_empty()) {
        return Err(Error::input(file, "has no header line"));
    }
    let columns: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
    let mut index: HashMap<usize, usize> = HashMap::new(); // schema column -> csv column
    for (i, h) in header.iter().enumerate() {
        let h = h.trim();
        let Some(c) = columns.iter().position(|c| c.eq_ignore_ascii_case(h)) else {
            return Err(Error::input(
                file,
                format!(
                    "header column {h:?} matches no column of table {} ({})",
                    table.name,
                    columns.join(", ")
                ),
            ));
        };
        if index.insert(c, i).is_some() {
            return Err(Error::input(file, format!("header names column {h:?} twice")));
        }
    }
    for (c, col) in table.columns.iter().enumerate() {
        if col.mode == "REQUIRED" && !index.contains_key(&c) {
            return Err(Error::input(
                file,
                format!("required column {} is missing from the header", col.name),
            ));
        }
    }
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    out.write_record(&columns)
        .map_err(|e| Error::input(file, format!("cannot write the normalised CSV: {e}")))?;
    let position = |name: &str| columns.iter().position(|c| *c == name);
    let stamped: Vec<usize> = STAMPED
        .iter()
        .filter(|(t, _)| *t == table.name)
        .filter_map(|(_, c)| position(c))
        .collect();
    let stamp = timestamp_text(ctx.loaded_at);
    let primary: Vec<usize> = PRIMARY_KEYS
        .iter()
        .find(|(t, _)| *t == table.name)
        .map(|(_, cols)| cols.iter().filter_map(|c| position(c)).collect())
        .unwrap_or_default();
    let references: Vec<(usize, &str, &HashSet<String>)> = REFERENCES
        .iter()
        .filter(|(t, _, _)| *t == table.name)
        .filter_map(|(_, col, parent)| Some((position(col)?, *parent, ctx.known.get(*parent)?)))
        .collect();
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut keys = HashSet::new();
    let mut good = 0;
    let mut bad = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        let line = rdr.position().line();
        match rdr.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                bad.push(BadRow {
                    file: file.into(),
                    line,
                    reason: format!("unreadable record: {e}"),
                });
                continue;
            }
        }
        let line = record.position().map_or(line, |p| p.line());
        if record.len() != header.len() {
            bad.push(BadRow {
                file: file.into(),
                line,
                reason: format!("{} fields, the header has {}", record.len(), header.len()),
            });
            continue;
        }
        let mut row: Vec<std::borrow::Cow<str>> = Vec::with_capacity(columns.len());
        let mut reason = None;
        for (c, col) in table.columns.iter().enumerate() {
            let v = index.get(&c).map_or("", |&i| record.get(i).unwrap_or("")).trim();
            if v.is_empty() {
                if stamped.contains(&c) {
                    row.push(stamp.as_str().into());
                    continue;
                }
                if col.mode == "REQUIRED" {
                    reason = Some(format!("{} is required", col.name));
                    break;
                }
            } else if col.r#type == "TIMESTAMP" {
                // Read once, written back in UTC.
                match crate::model::parse_utc_ts(v) {
                    Some(t) => {
                        row.push(timestamp_text(t).into());
                        continue;
                    }
                    None => {
                        reason = Some(format!(
                            "{}: {v:?} is not a timestamp (RFC 3339, or YYYY-MM-DD HH:MM:SS in UTC)",
                            col.name
                        ));
                        break;
                    }
                }
            } else if let Err(why) = check_value(&col.r#type, v) {
                reason = Some(format!("{}: {why}", col.name));
                break;
            }
            row.push(v.into());
        }
        if reason.is_none() {
            reason = references.iter().find_map(|(c, parent, known)| {
                let v: &str = &row[*c];
                (!known.contains(v)).then(|| {
                    format!(
                        "{} {v:?} is not in {parent} (neither in {parent}.csv nor in the table): an orphan row",
                        columns[*c]
                    )
                })
            });
        }
        if reason.is_none() && !primary.is_empty() {
            let key: Vec<&str> = primary.iter().map(|&c| &*row[c]).collect();
            let text = key.join("\u{1f}");
            match seen.get(&text) {
                Some(first) => {
                    let names: Vec<&str> = primary.iter().map(|&c| columns[c]).collect();
                    reason = Some(format!(
                        "{} {:?} repeats line {first}: a primary key appears once (line {first} is kept)",
                        names.join(", "),
                        key.join(", ")
                    ));
                }
                None => {
                    seen.insert(text, line);
                }
            }
        }
        match reason {
            Some(reason) => bad.push(BadRow {
                file: file.into(),
                line,
                reason,
            }),
            None => {
                out.write_record(row.iter().map(|v| v.as_bytes()))
                    .map_err(|e| Error::input(file, format!("cannot write the normalised CSV: {e}")))?;
                if let Some(&c) = primary.first() {
                    keys.insert(row[c].to_string());
                }
                good += 1;
            }
        }
    }
    let normalized = out
        .into_inner()
        .map_err(|e| Error::input(file, format!("cannot write the normalised CSV: {e}")))?;
    Ok(Checked {
        normalized,
        good,
        bad,
        keys,
    })
}

/// Where the CSVs come from.
#[derive(Debug, Clone)]
pub enum SourceDir {
    /// A local folder (uploaded to `gs://BUCKET/datasets/` first).
    Local(PathBuf),
    /// `gs://bucket/prefix/`.
    Gcs {
        /// Bucket.
        bucket: String,
        /// Prefix ending in `/` (or empty).
        prefix: String,
    },
}

impl SourceDir {
    /// Where `name` is in it (`""`: the folder itself), for a message.
    pub fn place(&self, name: &str) -> String {
        match self {
            SourceDir::Local(d) => d.join(name).display().to_string(),
            SourceDir::Gcs { bucket, prefix } => format!("gs://{bucket}/{prefix}{name}"),
        }
    }

    /// `gs://bucket/prefix` or a path.
    pub fn parse(s: &str) -> SourceDir {
        match s.strip_prefix("gs://") {
            Some(rest) => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                let prefix = if prefix.is_empty() || prefix.ends_with('/') {
                    prefix.to_string()
                } else {
                    format!("{prefix}/")
                };
                SourceDir::Gcs {
                    bucket: bucket.to_string(),
                    prefix,
                }
            }
            None => SourceDir::Local(PathBuf::from(s)),
        }
    }
}

/// What batch-loader does.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Where the CSVs are.
    pub source: SourceDir,
    /// Dataset of the batch tables.
    pub dataset: String,
    /// Bucket for uploads and staging.
    pub bucket: String,
    /// Bad rows skipped per table before the table is refused.
    pub max_bad_rows: u64,
    /// Append instead of replacing.
    pub append: bool,
    /// Where an append's staging tables go (default: `dataset`).
    pub staging_dataset: Option<String>,
}

/// The outcome for one table.
#[derive(Debug, Clone)]
pub struct TableReport {
    /// Table id.
    pub table: String,
    /// Rows loaded (None when the table was refused or its file absent).
    pub loaded: Option<u64>,
    /// Rows skipped or refusing the load.
    pub bad: Vec<BadRow>,
    /// Seconds checking, uploading, and in the load job.
    pub timings: (f64, f64, f64),
}

/// Checks every file, then loads each acceptable table; see the module doc.
pub async fn run(gcp: &Gcp, model: &DataModel, o: &LoadOptions) -> Result<Vec<TableReport>> {
    let gcs = gcp.storage().await?;
    let bq = gcp.bigquery().await?;
    if o.append
        && let Some(staging) = &o.staging_dataset
    {
        // Before anything is loaded: a missing one would stop the run between tables.
        let path = format!("/projects/{}/datasets/{staging}", gcp.project);
        if bq.rest.get("get dataset", &path).await?.is_none() {
            return Err(Error::api(
                crate::platform::gcp::BIGQUERY,
                "find staging dataset",
                &path,
                format!(
                    "{staging} does not exist: create it (Terraform makes <dataset>_staging), or leave out --staging-dataset"
                ),
            ));
        }
    }
    // Three steps a table: read, check, load.
    let progress = Progress::new("batch-loader", "steps", Some(3 * BATCH_TABLES.len() as u64));
    let mut step = 0;
    // 1. Read every file (a missing seed file is one clear error before any load).
    let mut files: Vec<(&TableDef, String, Option<Vec<u8>>)> = Vec::new();
    for (i, t) in BATCH_TABLES.iter().enumerate() {
        progress.set(step, &format!("reading {t}.csv"));
        step += 1;
        let table = model
            .table(t)
            .ok_or_else(|| Error::model("bigquery/schemas", format!("no table {t}")))?;
        let name = format!("{t}.csv");
        let bytes = match &o.source {
            SourceDir::Local(dir) => match std::fs::read(dir.join(&name)) {
                Ok(b) => Some(b),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(Error::io("read", dir.join(&name), e)),
            },
            SourceDir::Gcs { bucket, prefix } => {
                let media = format!("{}?alt=media", rest::object_path(bucket, &format!("{prefix}{name}")));
                let call = || gcs.rest.get_bytes("read object", &media);
                retry::retry(RetryPolicy::CONTROL, "read object", call, |_| {}).await?
            }
        };
        if bytes.is_none() && i < REQUIRED && !o.append {
            return Err(Error::input(
                o.source.place(&name),
                "missing: the seed's four files (customers, products, orders, order_items) are required",
            ));
        }
        files.push((table, name, bytes));
    }
    if files.iter().all(|(_, _, b)| b.is_none()) {
        return Err(Error::input(
            o.source.place(""),
            "none of customers, products, orders, order_items or inventory .csv is here",
        ));
    }
    // 2. Check everything first, referenced tables before the tables that reference
    // them (BATCH_TABLES is in that order): a header error stops the whole run.
    let mut ctx = CheckContext {
        loaded_at: chrono::Utc::now(),
        known: HashMap::new(),
    };
    let mut checked = Vec::new();
    for (table, name, bytes) in &files {
        progress.set(step, &format!("checking {name}"));
        step += 1;
        let started = Instant::now();
        let c = match bytes {
            Some(b) => Some(check_csv(table, name, b, &ctx)?),
            None => None,
        };
        if REFERENCES.iter().any(|(_, _, parent)| *parent == table.name) {
            // The keys the table will hold: the file's when it loads (plus the table's
            // own with --append), the table's as it is when the file is refused or absent.
            let loads = c.as_ref().is_some_and(|c| c.bad.len() as u64 <= o.max_bad_rows);
            let mut keys = match (&c, loads) {
                (Some(c), true) => c.keys.clone(),
                _ => HashSet::new(),
            };
            if o.append || !loads {
                keys.extend(existing_keys(gcp, &bq, &o.dataset, table).await?);
            }
            ctx.known.insert(table.name.clone(), keys);
        }
        checked.push((started.elapsed().as_secs_f64(), c));
    }
    // 3. Upload originals (local source), then stage and load each acceptable table.
    let mut reports = Vec::new();
    for ((table, name, bytes), (check_secs, c)) in files.iter().zip(checked) {
        progress.set(step, &format!("loading {}", table.name));
        step += 1;
        let mut report = TableReport {
            table: table.name.clone(),
            loaded: None,
            bad: Vec::new(),
            timings: (check_secs, 0.0, 0.0),
        };
        let Some(c) = c else {
            tracing::info!(message = "no file, table left as it was", table = %table.name, file = %name);
            reports.push(report);
            continue;
        };
        report.bad = c.bad.clone();
        if c.bad.len() as u64 > o.max_bad_rows {
            tracing::warn!(message = "table refused: bad rows", table = %table.name, bad = c.bad.len(), max = o.max_bad_rows);
            reports.push(report);
            continue;
        }
        let started = Instant::now();
        if let (SourceDir::Local(_), Some(b)) = (&o.source, bytes) {
            upload(&gcs, &o.bucket, &format!("datasets/{name}"), b.clone()).await?;
        }
        let staged = format!("{STAGING_PREFIX}{name}");
        upload(&gcs, &o.bucket, &staged, c.normalized).await?;
        report.timings.1 = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let uri = format!("gs://{}/{staged}", o.bucket);
        match REPLACED_BY.iter().find(|(t, _)| *t == table.name) {
            Some((_, key)) if o.append => {
                let staging = o.staging_dataset.as_deref().unwrap_or(&o.dataset);
                replace_by_key(gcp, &bq, table, &o.dataset, &uri, key, staging).await?
            }
            _ => load(gcp, &bq, table, &o.dataset, &table.name, &uri, o.append).await?,
        }
        report.timings.2 = started.elapsed().as_secs_f64();
        report.loaded = Some(c.good);
        tracing::info!(message = "table loaded", table = %table.name, rows = c.good, skipped = report.bad.len());
        reports.push(report);
    }
    progress.finish(step);
    Ok(reports)
}

async fn upload(gcs: &crate::platform::gcp::CloudStorage, bucket: &str, object: &str, data: Vec<u8>) -> Result<()> {
    let data = bytes::Bytes::from(data);
    let once = || gcs.write(bucket, object, data.clone(), false);
    retry::retry(RetryPolicy::CONTROL, "upload", once, |_| {}).await
}

/// How long a key read or the replacing transaction may take.
const QUERY_TIMEOUT: Duration = Duration::from_secs(600);
/// The primary keys `table` holds in BigQuery now (every page of the answer).
async fn existing_keys(
    gcp: &Gcp,
    bq: &crate::platform::gcp::BigQuery,
    dataset: &str,
    table: &TableDef,
) -> Result<HashSet<String>> {
    let Some((_, cols)) = PRIMARY_KEYS.iter().find(|(t, _)| *t == table.name) else {
        return Ok(HashSet::new());
    };
    let sql = format!(
        "SELECT DISTINCT `{}` AS k FROM `{}.{dataset}.{}`",
        cols[0], gcp.project, table.name
    );
    let rows = bq.query(&gcp.project, &sql, QUERY_TIMEOUT).await?;
    Ok(rows.rows.into_iter().filter_map(|mut r| r.pop().flatten()).collect())
}

/// `--append` for a table with a key: the staged file is loaded into a staging table
/// (which expires by itself if a crash leaves it), then one transaction deletes the
/// table's rows whose `key` the file holds and inserts the file's rows; the staging
/// table is dropped. Appending a file twice leaves each key once.
async fn replace_by_key(
    gcp: &Gcp,
    bq: &crate::platform::gcp::BigQuery,
    table: &TableDef,
    dataset: &str,
    uri: &str,
    key: &str,
    staging_dataset: &str,
) -> Result<()> {
    let p = &gcp.project;
    bq.with_staging_table(p, staging_dataset, &table.name, &table.columns, |staging| async move {
        load(gcp, bq, table, staging_dataset, &staging, uri, false).await?;
        let (t, s) = (
            format!("`{p}.{dataset}.{}`", table.name),
            format!("`{p}.{staging_dataset}.{staging}`"),
        );
        let sql = format!(
            "BEGIN TRANSACTION;\n\
             DELETE FROM {t} WHERE `{key}` IN (SELECT `{key}` FROM {s});\n\
             INSERT INTO {t} SELECT * FROM {s};\n\
             COMMIT TRANSACTION;"
        );
        bq.query(p, &sql, QUERY_TIMEOUT).await.map(|_| ())
    })
    .await
}

/// Runs one load job of `uri` into `dataset.destination` with `table`'s explicit
/// schema and waits for it.
async fn load(
    gcp: &Gcp,
    bq: &crate::platform::gcp::BigQuery,
    table: &TableDef,
    dataset: &str,
    destination: &str,
    uri: &str,
    append: bool,
) -> Result<()> {
    let job_id = format!("instashop_load_{}_{}", table.name, uuid::Uuid::new_v4().simple());
    let p = &gcp.project;
    let body = json!({
        "jobReference": {"projectId": p, "jobId": job_id},
        "configuration": {"load": {
            "sourceUris": [uri],
            "destinationTable": {"projectId": p, "datasetId": dataset, "tableId": destination},
            "schema": {"fields": table.columns},
            "sourceFormat": "CSV",
            "skipLeadingRows": 1,
            "allowQuotedNewlines": true,
            "encoding": "UTF-8",
            "writeDisposition": if append { "WRITE_APPEND" } else { "WRITE_TRUNCATE" },
            "createDisposition": "CREATE_NEVER",
        }},
    });
    bq.run_job(
        p,
        "load",
        &format!("{dataset}.{}", table.name),
        &body,
        None,
        Duration::from_secs(1800),
    )
    .await
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> DataModel {
        DataModel::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bigquery")).unwrap()
    }

    fn ctx() -> CheckContext {
        CheckContext {
            loaded_at: "2026-03-01T12:00:00Z".parse().unwrap(),
            known: HashMap::new(),
        }
    }

    fn reasons(c: &Checked) -> Vec<String> {
        c.bad.iter().map(|b| b.to_string()).collect()
    }

    #[test]
    fn a_second_row_with_a_primary_key_is_refused_naming_both_lines() {
        let m = model();
        let csv = "order_id,customer_id,order_date,status\nO1,C1,2024-01-01,completed\nO2,C1,2024-01-01,\nO1,C2,2024-01-02,failed\n";
        let c = check_csv(m.table("orders").unwrap(), "orders.csv", csv.as_bytes(), &ctx()).unwrap();
        assert_eq!(c.good, 2);
        assert_eq!(
            reasons(&c),
            ["orders.csv:4: order_id \"O1\" repeats line 2: a primary key appears once (line 2 is kept)"]
        );
        assert_eq!(c.keys, HashSet::from(["O1".to_string(), "O2".to_string()]));
        let text = String::from_utf8(c.normalized).unwrap();
        assert_eq!(text.matches("O1,").count(), 1, "{text}");
        // A pair is the key of a snapshot: the same product in two warehouses is not a repeat.
        let csv = "product_id,warehouse,stock,reorder_point\nP1,Lima,5,2\nP1,Bogotá,5,2\nP1,Lima,7,2\n";
        let c = check_csv(m.table("inventory").unwrap(), "inventory.csv", csv.as_bytes(), &ctx()).unwrap();
        assert_eq!(c.good, 2);
        assert_eq!(reasons(&c).len(), 1);
        assert!(reasons(&c)[0].starts_with("inventory.csv:4: product_id, warehouse, snapshot_ts \"P1, Lima, 2026-03-01 12:00:00.000000\" repeats line 2"), "{:?}", reasons(&c));
    }

    #[test]
    fn orphan_rows_are_refused_with_file_line_and_the_missing_key() {
        let m = model();
        let mut ctx = ctx();
        ctx.known.insert("orders".into(), HashSet::from(["O1".to_string()]));
        ctx.known.insert("products".into(), HashSet::from(["P1".to_string()]));
        let csv = "order_id,product_id,qty,unit_price\nO1,P1,1,2.50\nO9,P1,1,2.50\nO1,P9,1,2.50\n";
        let c = check_csv(m.table("order_items").unwrap(), "order_items.csv", csv.as_bytes(), &ctx).unwrap();
        assert_eq!(c.good, 1);
        assert_eq!(
            reasons(&c),
            [
                "order_items.csv:3: order_id \"O9\" is not in orders (neither in orders.csv nor in the table): an orphan row",
                "order_items.csv:4: product_id \"P9\" is not in products (neither in products.csv nor in the table): an orphan row",
            ]
        );
        ctx.known.insert("customers".into(), HashSet::from(["C1".to_string()]));
        let csv = "order_id,customer_id,order_date\nO1,C1,2024-01-01\nO2,C7,2024-01-01\n";
        let c = check_csv(m.table("orders").unwrap(), "orders.csv", csv.as_bytes(), &ctx).unwrap();
        assert_eq!(c.good, 1);
        assert!(
            reasons(&c)[0].starts_with("orders.csv:3: customer_id \"C7\" is not in customers"),
            "{:?}",
            reasons(&c)
        );
    }

    #[test]
    fn an_inventory_without_snapshot_ts_is_stamped_and_one_with_it_is_read_in_utc() {
        let m = model();
        let t = m.table("inventory").unwrap();
        let c = check_csv(
            t,
            "inventory.csv",
            b"product_id,warehouse,stock,reorder_point\nP1,Lima,5,2\n",
            &ctx(),
        )
        .unwrap();
        let text = String::from_utf8(c.normalized).unwrap();
        assert_eq!(
            text,
            "product_id,warehouse,stock,reorder_point,snapshot_ts\nP1,Lima,5,2,2026-03-01 12:00:00.000000\n"
        );
        let csv = "product_id,warehouse,stock,reorder_point,snapshot_ts\nP1,Lima,5,2,2026-03-01T09:30:00-03:00\nP2,Lima,5,2,2026-03-01 12:31:02.5\nP3,Lima,5,2,\nP4,Lima,5,2,yesterday\n";
        let c = check_csv(t, "inventory.csv", csv.as_bytes(), &ctx()).unwrap();
        let text = String::from_utf8(c.normalized.clone()).unwrap();
        assert!(text.contains("P1,Lima,5,2,2026-03-01 12:30:00.000000\n"), "{text}");
        assert!(text.contains("P2,Lima,5,2,2026-03-01 12:31:02.500000\n"), "{text}");
        assert!(text.contains("P3,Lima,5,2,2026-03-01 12:00:00.000000\n"), "{text}");
        assert_eq!(reasons(&c).len(), 1);
        assert!(
            reasons(&c)[0].starts_with("inventory.csv:5: snapshot_ts: \"yesterday\" is not a timestamp"),
            "{:?}",
            reasons(&c)
        );
    }

    #[test]
    fn the_seed_shape_with_quotes_accents_crlf_and_bom_checks_clean() {
        let m = model();
        let csv = "\u{feff}customer_id,name,country,signup_date\r\nC001,\"Peña, José\",Chile,2024-01-02\r\nC002,\"Ana \"\"La Rápida\"\" Díaz\nsegunda línea\",Argentina,2024-02-03\r\n";
        let c = check_csv(m.table("customers").unwrap(), "customers.csv", csv.as_bytes(), &ctx()).unwrap();
        assert_eq!((c.good, c.bad.len()), (2, 0), "{:?}", c.bad);
        let text = String::from_utf8(c.normalized).unwrap();
        assert!(
            text.starts_with("customer_id,name,country,signup_date,plan\n"),
            "{text}"
        );
        assert!(text.contains("\"Peña, José\""));
    }

    #[test]
    fn bad_rows_are_reported_with_file_line_and_reason() {
        let m = model();
        let csv =
            "order_id,product_id,qty,unit_price\nO1,P1,2,10.50\nO2,P1,two,1\nO3,,1,1\nO4,P2,1,1.0000000001\nO5,P3,1\n";
        let c = check_csv(
            m.table("order_items").unwrap(),
            "order_items.csv",
            csv.as_bytes(),
            &ctx(),
        )
        .unwrap();
        assert_eq!(c.good, 1);
        let got: Vec<String> = c.bad.iter().map(|b| b.to_string()).collect();
        assert_eq!(got.len(), 4, "{got:?}");
        assert!(got[0].starts_with("order_items.csv:3: qty"), "{got:?}");
        assert!(
            got[1].starts_with("order_items.csv:4: product_id is required"),
            "{got:?}"
        );
        assert!(
            got[2].contains(":5: unit_price") && got[2].contains("9 decimal"),
            "{got:?}"
        );
        assert!(got[3].contains(":6:") && got[3].contains("fields"), "{got:?}");
    }

    #[test]
    fn a_header_that_matches_no_column_is_refused() {
        let m = model();
        let e = check_csv(
            m.table("orders").unwrap(),
            "orders.csv",
            b"order_id,client,order_date\nO1,C1,2024-01-01\n",
            &ctx(),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("orders.csv") && e.to_string().contains("\"client\""),
            "{e}"
        );
        let e = check_csv(
            m.table("orders").unwrap(),
            "orders.csv",
            b"order_id,order_date\nO1,2024-01-01\n",
            &ctx(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("required column customer_id"), "{e}");
        let c = check_csv(
            m.table("orders").unwrap(),
            "orders.csv",
            b"order_id,customer_id,order_date\n",
            &ctx(),
        )
        .unwrap();
        assert_eq!(
            (c.good, c.bad.len()),
            (0, 0),
            "a header-only file is empty, not an error"
        );
    }

    #[test]
    fn sources_parse() {
        assert!(
            matches!(SourceDir::parse("gs://b/datasets"), SourceDir::Gcs { ref bucket, ref prefix } if bucket == "b" && prefix == "datasets/")
        );
        assert!(matches!(SourceDir::parse("data/out"), SourceDir::Local(_)));
    }
}
