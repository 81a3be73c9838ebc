//! The one way to reach Google Cloud or the local emulators: builds the Pub/Sub,
//! BigQuery and Cloud Storage clients from [`GcpArgs`].
//!
//! Where [`Endpoints::resolve`] picked an emulator, the client talks to it with anonymous
//! credentials; otherwise with Application Default Credentials. Before a client is
//! handed out it is checked within seconds: an emulator that does not answer, or missing
//! credentials, is one [`Error`] that says what to do, never a hang.

use std::time::Duration;

use google_cloud_auth::credentials::{self, CacheableResource, Credentials};
use google_cloud_pubsub::client::{SchemaService, SubscriptionAdmin, TopicAdmin};
use google_cloud_storage::client::Storage;
use http::Extensions;

use crate::platform::error::{Error, Result};
pub use crate::platform::rest::Rest;
use crate::platform::settings::{Endpoint, Endpoints, GcpArgs};

/// How long an emulator may take to answer the first request.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long fetching a Google Cloud access token may take before we call it missing.
const CREDENTIALS_TIMEOUT: Duration = Duration::from_secs(15);
/// Connect timeout of every HTTP request.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Whole-request timeout of REST calls (queries carry their own, shorter, server-side limit).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Idle pooled connections are dropped before a server's keep-alive closes them (the
/// emulators' HTTP servers close after 5 s; reusing a connection the server is closing
/// fails the request).
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(4);
/// Longest one AppendRows call may take before it is retried.
const APPEND_TIMEOUT: Duration = Duration::from_secs(30);
/// Objects up to this size are uploaded in one request: the Cloud Storage emulator
/// mishandles resumable uploads (its upload URL loses the port).
pub(crate) const SINGLE_SHOT_UPLOAD_LIMIT: usize = 512 * 1024 * 1024;

/// Service names used in messages.
pub(crate) const PUBSUB: &str = "Pub/Sub";
/// BigQuery.
pub(crate) const BIGQUERY: &str = "BigQuery";
/// Cloud Storage.
pub(crate) const STORAGE: &str = "Cloud Storage";

/// The project and resolved endpoints; builds each client on demand.
#[derive(Debug, Clone)]
pub struct Gcp {
    /// The project every resource lives in.
    pub project: String,
    /// Where each service is.
    pub endpoints: Endpoints,
    http: reqwest::Client,
}

/// Pub/Sub's admin clients.
#[derive(Clone, Debug)]
pub struct PubSubAdmin {
    /// Topics.
    pub topics: TopicAdmin,
    /// Subscriptions.
    pub subscriptions: SubscriptionAdmin,
    /// Pub/Sub's IAM policy calls (`getIamPolicy`, `setIamPolicy`), which the service
    /// answers for topics and subscriptions as for schemas.
    pub iam: SchemaService,
}

/// BigQuery: the `gcp-bigquery-client` for jobs and rows, and a small REST helper for
/// resource metadata (the typed client cannot read a view's metadata).
#[derive(Clone)]
pub struct BigQuery {
    /// The typed client: queries, load jobs, insertAll.
    pub client: gcp_bigquery_client::Client,
    /// JSON REST calls relative to `.../bigquery/v2`.
    pub rest: Rest,
}

/// A query's answer: its columns (names and BigQuery types) and rows of cells as the
/// REST API gives them, text (NULL is `None`; TIMESTAMP is whole microseconds, BYTES is
/// base64, JSON is its text).
#[derive(Debug, Clone, Default)]
pub struct QueryRows {
    /// Column names, in order.
    pub names: Vec<String>,
    /// Column types, in order.
    pub types: Vec<String>,
    /// The rows.
    pub rows: Vec<Vec<Option<String>>>,
}

/// Resource Manager's REST API root, for the project number.
const RESOURCE_MANAGER: &str = "https://cloudresourcemanager.googleapis.com/v3";
/// Its name in errors.
const RESOURCE_MANAGER_NAME: &str = "Resource Manager";

/// A row BigQuery refused to store, by its index in the rows given, with BigQuery's
/// reason (the column and what is wrong with it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RowRefusal {
    /// Its index in the rows given.
    pub index: usize,
    /// BigQuery's reason.
    pub reason: String,
}

/// Rows per insertAll request: BigQuery recommends 500.
pub(crate) const INSERT_ALL_ROWS: usize = 500;
/// Largest insertAll request body we send: BigQuery refuses an HTTP request over 10 MB.
pub(crate) const MAX_INSERT_ALL_BYTES: usize = 9 * 1024 * 1024;

/// Splits insertAll rows into requests of at most `max_rows` rows and, as the rows'
/// JSON measures, `max_bytes` bytes (a row alone over the bound goes in a request of
/// its own, so it cannot fail its neighbours).
pub(crate) fn insert_all_chunks(
    rows: &[(Option<String>, serde_json::Value)],
    max_rows: usize,
    max_bytes: usize,
) -> Vec<&[(Option<String>, serde_json::Value)]> {
    // Each row travels as {"insertId": "...", "json": {...}}, with a comma.
    let size = |(id, row): &(Option<String>, serde_json::Value)| {
        serde_json::to_vec(row).map_or(0, |v| v.len()) + id.as_ref().map_or(0, String::len) + 32
    };
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, r) in rows.iter().enumerate() {
        let n = size(r);
        if i > start && (i - start >= max_rows || bytes + n > max_bytes) {
            out.push(&rows[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += n;
    }
    if start < rows.len() {
        out.push(&rows[start..]);
    }
    out
}

impl BigQuery {
    /// Streams `rows` (each with its insertId, which BigQuery uses to drop a retried
    /// write) into `dataset.table` with insertAll (see [`BigQuery::insert_all`]); a row
    /// BigQuery refuses is an error naming the table and the first refusal.
    pub(crate) async fn insert_rows(
        &self,
        project: &str,
        dataset: &str,
        table: &str,
        rows: Vec<(Option<String>, serde_json::Value)>,
    ) -> Result<()> {
        let refused = self
            .insert_all(
                project,
                dataset,
                table,
                &rows,
                crate::platform::retry::RetryPolicy::WRITE,
                &|_| {},
                &|_| {},
            )
            .await?;
        match refused.first() {
            None => Ok(()),
            Some(first) => Err(Error::remote(
                BIGQUERY,
                "insertAll",
                table,
                crate::platform::error::Status::Other,
                format!(
                    "BigQuery refused {} row(s), first: row {}: {}",
                    refused.len(),
                    first.index,
                    first.reason
                ),
            )),
        }
    }

    /// The one insertAll path: `rows` go in requests of at most [`INSERT_ALL_ROWS`] rows
    /// and [`MAX_INSERT_ALL_BYTES`] (see [`insert_all_chunks`]), each sent under `policy`
    /// (`on_error` hears every failed attempt, `on_retry` every retry).
    ///
    /// BigQuery writes none of a request's rows when it refuses one of them (it answers
    /// `insertErrors`: `invalid` for the rows at fault, `stopped` for the others), so the
    /// rows it names are left out and the rest sent again. Returns the refused rows, by
    /// their index in `rows`, with BigQuery's reason; every other row is written.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn insert_all(
        &self,
        project: &str,
        dataset: &str,
        table: &str,
        rows: &[(Option<String>, serde_json::Value)],
        policy: crate::platform::retry::RetryPolicy,
        on_error: &(dyn Fn(&Error) + Sync),
        on_retry: &(dyn Fn(&Error) + Sync),
    ) -> Result<Vec<RowRefusal>> {
        use gcp_bigquery_client::model::table_data_insert_all_request::TableDataInsertAllRequest;
        let mut refused = Vec::new();
        let mut offset = 0;
        for chunk in insert_all_chunks(rows, INSERT_ALL_ROWS, MAX_INSERT_ALL_BYTES) {
            // Indexes into `chunk` still to write.
            let mut left: Vec<usize> = (0..chunk.len()).collect();
            while !left.is_empty() {
                let mut req = TableDataInsertAllRequest::new();
                for &i in &left {
                    let (id, row) = &chunk[i];
                    req.add_row(id.clone(), row).map_err(|e| {
                        Error::remote(
                            BIGQUERY,
                            "insertAll",
                            table,
                            crate::platform::error::Status::Other,
                            e.to_string(),
                        )
                    })?;
                }
                let resp = crate::platform::retry::retry(
                    policy,
                    "insertAll",
                    || async {
                        let r = self
                            .client
                            .tabledata()
                            .insert_all(project, dataset, table, req.clone())
                            .await
                            .map_err(|e| Error::api(BIGQUERY, "insertAll", table, e));
                        if let Err(e) = &r {
                            on_error(e);
                        }
                        r
                    },
                    |e| on_retry(e),
                )
                .await?;
                let errors = resp.insert_errors.unwrap_or_default();
                if errors.is_empty() {
                    break;
                }
                let mut at_fault = Vec::new();
                for e in &errors {
                    let reasons = e.errors.as_deref().unwrap_or_default();
                    let Some(bad) = reasons.iter().find(|r| r.reason.as_deref() != Some("stopped")) else {
                        continue;
                    };
                    let Some(i) = e
                        .index
                        .and_then(|i| usize::try_from(i).ok())
                        .filter(|&i| i < left.len())
                    else {
                        return Err(Error::remote(
                            BIGQUERY,
                            "insertAll",
                            table,
                            crate::platform::error::Status::Other,
                            format!("a refusal names no row of the request: {e:?}"),
                        ));
                    };
                    let reason = [bad.location.as_deref(), bad.message.as_deref()]
                        .into_iter()
                        .flatten()
                        .filter(|s| !s.is_empty())
                        .collect::<Vec<_>>()
                        .join(": ");
                    at_fault.push((i, reason));
                }
                if at_fault.is_empty() {
                    // Every row "stopped" and none at fault: not a refusal we can act on.
                    return Err(Error::remote(
                        BIGQUERY,
                        "insertAll",
                        table,
                        crate::platform::error::Status::Other,
                        format!(
                            "{} rows not written, none named at fault: {:?}",
                            errors.len(),
                            errors[0]
                        ),
                    ));
                }
                at_fault.sort_unstable_by_key(|(i, _)| *i);
                at_fault.dedup_by_key(|(i, _)| *i);
                for (i, reason) in at_fault.iter().rev() {
                    refused.push(RowRefusal {
                        index: offset + left[*i],
                        reason: if reason.is_empty() {
                            "refused by BigQuery".into()
                        } else {
                            reason.clone()
                        },
                    });
                    left.remove(*i);
                }
            }
            offset += chunk.len();
        }
        refused.sort_unstable_by_key(|r| r.index);
        Ok(refused)
    }

    /// Runs `sql` (GoogleSQL) in `project` with `jobs.query`, waiting up to `timeout`
    /// for it, and reads every page of the answer. A query that fails is an error with
    /// BigQuery's message, whether the API answers with an HTTP error (Google Cloud) or
    /// with the errors in a 200 answer (the emulator); one that does not finish in time
    /// is an error too.
    pub async fn query(&self, project: &str, sql: &str, timeout: Duration) -> Result<QueryRows> {
        self.query_paged(project, sql, timeout, None).await
    }

    /// [`BigQuery::query`] for a [`QueryJob`]: its named parameters and its cap on the
    /// bytes billed travel with the request.
    pub(crate) async fn query_job(&self, project: &str, job: &QueryJob, timeout: Duration) -> Result<QueryRows> {
        self.run_query(project, job, timeout, None).await
    }

    /// [`BigQuery::query`], asking for at most `page_rows` rows a page (BigQuery itself
    /// caps a page at about 10 MB). An answer with `jobComplete: false` is polled with
    /// `jobs.getQueryResults` until done or past `timeout`; the next pages are read with
    /// its `pageToken`, each call naming the job's location (required outside the US and
    /// EU multi-regions).
    pub async fn query_paged(
        &self,
        project: &str,
        sql: &str,
        timeout: Duration,
        page_rows: Option<u32>,
    ) -> Result<QueryRows> {
        let job = QueryJob {
            sql: sql.to_string(),
            ..QueryJob::default()
        };
        self.run_query(project, &job, timeout, page_rows).await
    }

    /// Runs `work` with a fresh staging table `dataset._staging_<what>_<uuid>` of
    /// `columns` (which expires by itself after a day if a crash leaves it), then drops
    /// the table whatever `work` returned; a failed drop is logged, not an error.
    pub(crate) async fn with_staging_table<T, F, Fut>(
        &self,
        project: &str,
        dataset: &str,
        what: &str,
        columns: &[impl serde::Serialize],
        work: F,
    ) -> Result<T>
    where
        F: FnOnce(String) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let staging = format!("_staging_{what}_{}", uuid::Uuid::new_v4().simple());
        let expires = (chrono::Utc::now() + chrono::Duration::hours(24))
            .timestamp_millis()
            .to_string();
        let body = serde_json::json!({
            "tableReference": {"projectId": project, "datasetId": dataset, "tableId": staging},
            "schema": {"fields": columns},
            "expirationTime": expires,
            "description": format!("staging for {what} (dropped after use)"),
        });
        self.rest
            .post(
                "create staging table",
                &format!("/projects/{project}/datasets/{dataset}/tables"),
                &body,
            )
            .await?;
        let result = work(staging.clone()).await;
        let path = format!("/projects/{project}/datasets/{dataset}/tables/{staging}");
        if let Err(e) = self.rest.delete("drop staging table", &path).await {
            tracing::warn!(message = "staging table left to expire", table = %staging, error = %e);
        }
        result
    }

    /// Inserts a job (`jobs.insert`; with `media`, the data and its media type, as an
    /// upload) and waits until it is done or `deadline` has passed, polling `jobs.get`
    /// with the job's location (required outside the US and EU multi-regions). A job that
    /// fails is an error with BigQuery's message, as `operation resource`. The job id is the
    /// caller's (`jobReference.jobId` of `body`), so a retried insert that BigQuery had
    /// already taken is answered 409 and only waited for, never run twice.
    pub(crate) async fn run_job(
        &self,
        project: &str,
        operation: &'static str,
        resource: &str,
        body: &serde_json::Value,
        media: Option<(&[u8], &str)>,
        deadline: Duration,
    ) -> Result<serde_json::Value> {
        use crate::platform::error::Status;
        use crate::platform::retry::{RetryPolicy, retry};
        let job_id = body["jobReference"]["jobId"].as_str().unwrap_or_default().to_string();
        let jobs = format!("/projects/{project}/jobs");
        log_sql(body);
        let inserted = retry(
            RetryPolicy::CONTROL,
            "insert job",
            || async {
                match media {
                    Some((data, media_type)) => self.rest.upload("insert job", &jobs, body, data, media_type).await,
                    None => self.rest.post("insert job", &jobs, body).await,
                }
            },
            |_| {},
        )
        .await;
        // The job as the answer names it (the emulator names an upload's job itself).
        let (job_id, location) = match inserted {
            Ok(job) => (
                job["jobReference"]["jobId"].as_str().map_or(job_id, str::to_string),
                job["jobReference"]["location"].as_str().map(str::to_string),
            ),
            Err(e) if e.status() == Some(Status::Http(409)) => (job_id, None),
            Err(e) => return Err(e),
        };
        let location = location.or_else(|| body["jobReference"]["location"].as_str().map(str::to_string));
        let mut job_path = format!("/projects/{project}/jobs/{}", crate::platform::rest::segment(&job_id));
        if let Some(l) = &location {
            job_path.push_str(&format!("?location={}", crate::platform::rest::url_encode(l)));
        }
        let started = std::time::Instant::now();
        loop {
            let job = retry(
                RetryPolicy::CONTROL,
                "get job",
                || self.rest.get("get job", &job_path),
                |_| {},
            )
            .await?
            .ok_or_else(|| Error::api(BIGQUERY, "get job", &job_id, "the job disappeared"))?;
            if job["status"]["state"] == "DONE" {
                if let Some(err) = job["status"]["errorResult"].as_object() {
                    return Err(Error::remote(
                        BIGQUERY,
                        operation,
                        resource,
                        Status::Other,
                        serde_json::Value::Object(err.clone()).to_string(),
                    ));
                }
                return Ok(job);
            }
            if started.elapsed() > deadline {
                return Err(Error::api(
                    BIGQUERY,
                    operation,
                    resource,
                    format!("job {job_id} not done after {} s", deadline.as_secs()),
                ));
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    async fn run_query(
        &self,
        project: &str,
        query: &QueryJob,
        timeout: Duration,
        page_rows: Option<u32>,
    ) -> Result<QueryRows> {
        let started = std::time::Instant::now();
        let path = format!("/projects/{project}/queries");
        let body = query.request(timeout, page_rows);
        let failed = |message: String| {
            Error::remote(
                BIGQUERY,
                "query",
                project,
                crate::platform::error::Status::Other,
                message,
            )
        };
        let check = |resp: &serde_json::Value| match resp["errors"].as_array().and_then(|e| e.first()) {
            Some(first) => Err(failed(
                first["message"].as_str().unwrap_or("the query failed").to_string(),
            )),
            None => Ok(()),
        };
        log_sql(&body);
        let mut resp = self.rest.post("query", &path, &body).await?;
        check(&resp)?;
        let job = resp["jobReference"]["jobId"].as_str().unwrap_or_default().to_string();
        let location = resp["jobReference"]["location"].as_str().map(str::to_string);
        let results = |token: Option<&str>| {
            let mut q = vec![
                "formatOptions.useInt64Timestamp=true".to_string(),
                format!(
                    "timeoutMs={}",
                    timeout.saturating_sub(started.elapsed()).as_millis().max(1)
                ),
            ];
            if let Some(l) = &location {
                q.push(format!("location={}", crate::platform::rest::url_encode(l)));
            }
            if let Some(n) = page_rows {
                q.push(format!("maxResults={n}"));
            }
            if let Some(t) = token {
                q.push(format!("pageToken={}", crate::platform::rest::url_encode(t)));
            }
            format!("/projects/{project}/queries/{job}?{}", q.join("&"))
        };
        while resp["jobComplete"] != true {
            if job.is_empty() || started.elapsed() >= timeout {
                return Err(failed(format!(
                    "the query did not finish within {} s",
                    timeout.as_secs()
                )));
            }
            resp = self
                .rest
                .get("query results", &results(None))
                .await?
                .ok_or_else(|| failed(format!("job {job} disappeared")))?;
            check(&resp)?;
        }
        let fields = resp["schema"]["fields"].as_array().cloned().unwrap_or_default();
        let text = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap_or_default().to_string();
        let mut out = QueryRows {
            names: fields.iter().map(|f| text(f, "name")).collect(),
            types: fields.iter().map(|f| text(f, "type")).collect(),
            rows: Vec::new(),
        };
        let mut last_token = String::new();
        loop {
            if let Some(rows) = resp["rows"].as_array() {
                out.rows.extend(rows.iter().map(|r| {
                    r["f"]
                        .as_array()
                        .map(|cells| cells.iter().map(|c| c["v"].as_str().map(str::to_string)).collect())
                        .unwrap_or_default()
                }));
            }
            let Some(token) = resp["pageToken"].as_str().filter(|t| !t.is_empty()).map(str::to_string) else {
                return Ok(out);
            };
            if job.is_empty() || token == last_token {
                return Err(failed(format!(
                    "the answer's page token {token:?} leads nowhere new (job {job:?}), after {} rows",
                    out.rows.len()
                )));
            }
            resp = self
                .rest
                .get("query results", &results(Some(&token)))
                .await?
                .ok_or_else(|| failed(format!("job {job} disappeared")))?;
            check(&resp)?;
            last_token = token;
        }
    }
}

/// One query parameter's value (GoogleSQL `@name`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ParamValue {
    /// A `DATE`.
    Date(chrono::NaiveDate),
    /// A `STRING`.
    String(String),
    /// A `TIMESTAMP`.
    Timestamp(chrono::DateTime<chrono::Utc>),
    /// An `ARRAY<STRING>` (for `IN UNNEST(@name)`).
    Strings(Vec<String>),
}

/// A BigQuery TIMESTAMP as the REST API returns it: whole microseconds since the epoch
/// (what the dashboard asks for, `formatOptions.useInt64Timestamp`, and what the emulator
/// always answers), seconds as a decimal or in scientific notation (the API's default),
/// or RFC 3339 text. The one reader of TIMESTAMP cells (dashboard, alerts).
pub fn timestamp(raw: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        return chrono::DateTime::from_timestamp_micros(raw.parse().ok()?);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(raw) {
        return Some(t.with_timezone(&chrono::Utc));
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(raw.trim_end_matches(" UTC"), "%Y-%m-%d %H:%M:%S%.f") {
        return Some(t.and_utc());
    }
    let secs = raw
        .parse::<rust_decimal::Decimal>()
        .or_else(|_| rust_decimal::Decimal::from_scientific(raw))
        .ok()?;
    let micros = (secs * rust_decimal::Decimal::from(1_000_000)).round();
    chrono::DateTime::from_timestamp_micros(i64::try_from(micros).ok()?)
}

impl ParamValue {
    /// Its GoogleSQL type, as the analyzer and the query log name it.
    pub fn type_name(&self) -> &'static str {
        match self {
            ParamValue::Date(_) => "DATE",
            ParamValue::String(_) => "STRING",
            ParamValue::Timestamp(_) => "TIMESTAMP",
            ParamValue::Strings(_) => "ARRAY<STRING>",
        }
    }
}

/// Diagnostic, off unless `INSTASHOP_SQL_LOG` names a folder: the query of a
/// `jobs.query` or `jobs.insert` request body is appended to `FOLDER/<pid>.jsonl` as one
/// line `{"sql": ..., "parameters": {name: type}}`, so that `tests/googlesql.rs` can check
/// every query a test run sent with the GoogleSQL analyzer (`scripts/test.sh` sets it).
/// A body that holds no query writes nothing; a log that cannot be written is a warning.
fn log_sql(body: &serde_json::Value) {
    let Some(dir) = std::env::var_os("INSTASHOP_SQL_LOG") else {
        return;
    };
    let query = if body["query"].is_string() {
        body
    } else {
        &body["configuration"]["query"]
    };
    let Some(sql) = query["query"].as_str() else {
        return;
    };
    let type_name = |t: &serde_json::Value| match t["type"].as_str() {
        Some("ARRAY") => format!("ARRAY<{}>", t["arrayType"]["type"].as_str().unwrap_or_default()),
        other => other.unwrap_or_default().to_string(),
    };
    let parameters: serde_json::Map<String, serde_json::Value> = query["queryParameters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or_default().to_string(),
                type_name(&p["parameterType"]).into(),
            )
        })
        .collect();
    let line = serde_json::json!({"sql": sql, "parameters": parameters}).to_string() + "\n";
    let file = std::path::Path::new(&dir).join(format!("{}.jsonl", std::process::id()));
    let written = std::fs::create_dir_all(&dir).and_then(|()| {
        use std::io::Write;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&file)?
            .write_all(line.as_bytes())
    });
    if let Err(error) = written {
        tracing::warn!(message = "query not logged", file = %file.display(), %error);
    }
}

/// A query as one `jobs.query` request: the SQL, its named parameters (values never
/// enter the SQL text) and the most bytes it may bill (`maximumBytesBilled`: a query
/// that would bill more fails, and bills nothing).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct QueryJob {
    /// The GoogleSQL text.
    pub sql: String,
    /// Named parameters, `@name` in the SQL.
    pub params: Vec<(String, ParamValue)>,
    /// The cap on bytes billed, if any.
    pub max_bytes_billed: Option<u64>,
}

impl QueryJob {
    /// The `jobs.query` request body.
    pub fn request(&self, timeout: Duration, page_rows: Option<u32>) -> serde_json::Value {
        let mut body = serde_json::json!({
            "query": self.sql,
            "useLegacySql": false,
            "timeoutMs": timeout.as_millis() as u64,
            // Timestamps as whole microseconds, exact (the default is float seconds).
            "formatOptions": {"useInt64Timestamp": true},
        });
        if let Some(n) = page_rows {
            body["maxResults"] = n.into();
        }
        if let Some(cap) = self.max_bytes_billed {
            // An int64 in JSON is a string.
            body["maximumBytesBilled"] = cap.to_string().into();
        }
        if !self.params.is_empty() {
            body["parameterMode"] = "NAMED".into();
            body["queryParameters"] = self
                .params
                .iter()
                .map(|(name, value)| {
                    let (kind, value) = match value {
                        ParamValue::Date(d) => (
                            serde_json::json!({"type": "DATE"}),
                            serde_json::json!({"value": d.to_string()}),
                        ),
                        ParamValue::String(s) => (
                            serde_json::json!({"type": "STRING"}),
                            serde_json::json!({"value": s}),
                        ),
                        ParamValue::Timestamp(t) => (
                            serde_json::json!({"type": "TIMESTAMP"}),
                            serde_json::json!({"value": t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)}),
                        ),
                        ParamValue::Strings(v) => (
                            serde_json::json!({"type": "ARRAY", "arrayType": {"type": "STRING"}}),
                            serde_json::json!({"arrayValues": v.iter().map(|s| serde_json::json!({"value": s})).collect::<Vec<_>>()}),
                        ),
                    };
                    serde_json::json!({"name": name, "parameterType": kind, "parameterValue": value})
                })
                .collect::<Vec<_>>()
                .into();
        }
        body
    }
}

/// Cloud Storage: the object client, and the JSON API for buckets and listings (the
/// Rust client does those over gRPC, which the emulator does not serve).
#[derive(Clone, Debug)]
pub struct CloudStorage {
    /// Object reads and writes.
    pub objects: Storage,
    /// JSON REST calls relative to `.../storage/v1`.
    pub rest: Rest,
}

impl CloudStorage {
    /// Writes `data` to `gs://bucket/object` in one attempt (the caller retries).
    /// `only_if_absent` sends `ifGenerationMatch=0`, and an object already there counts
    /// as written (a redelivery writes the same name and bytes).
    ///
    /// The upload's future is boxed: it is large, and awaited in place it sits on the
    /// caller's stack (a debug build overflowed a 2 MiB runtime worker thread).
    pub(crate) async fn write(
        &self,
        bucket: &str,
        object: &str,
        data: bytes::Bytes,
        only_if_absent: bool,
    ) -> Result<()> {
        let mut write = self
            .objects
            .write_object(format!("projects/_/buckets/{bucket}"), object.to_string(), data);
        if only_if_absent {
            write = write.set_if_generation_match(0);
        }
        match Box::pin(write.send_buffered()).await {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = Error::api(STORAGE, "upload", format!("gs://{bucket}/{object}"), e);
                if only_if_absent && e.status() == Some(crate::platform::error::Status::Http(412)) {
                    Ok(())
                } else {
                    Err(e)
                }
            }
        }
    }
}

impl Gcp {
    /// Resolves the endpoints; no network traffic yet.
    pub fn new(args: &GcpArgs) -> Result<Self> {
        if args.project.trim().is_empty() {
            return Err(Error::Setting {
                name: "GOOGLE_CLOUD_PROJECT",
                value: args.project.clone(),
                reason: "a project id is required".into(),
            });
        }
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build()
            .map_err(|e| Error::api("HTTP", "build", "client", e))?;
        Ok(Gcp {
            project: args.project.clone(),
            endpoints: Endpoints::resolve(args)?,
            http,
        })
    }

    /// Credentials for `endpoint`, checked: anonymous for an emulator that answers,
    /// Application Default Credentials that yield a token for Google Cloud.
    pub(crate) async fn credentials(
        &self,
        service: &'static str,
        endpoint: &Endpoint,
        probe_path: &str,
    ) -> Result<Credentials> {
        match endpoint {
            Endpoint::Emulator { url, variable } => {
                let probe = format!("{url}{probe_path}");
                match self.http.get(&probe).timeout(PROBE_TIMEOUT).send().await {
                    Ok(_) => Ok(credentials::anonymous::Builder::new().build()),
                    Err(e) => Err(Error::EmulatorUnreachable {
                        service,
                        variable,
                        address: url.clone(),
                        detail: short_transport_error(&e),
                    }),
                }
            }
            Endpoint::Cloud { .. } => {
                let creds = credentials::Builder::default()
                    .build()
                    .map_err(|e| Error::Credentials {
                        service,
                        detail: e.to_string(),
                    })?;
                match tokio::time::timeout(CREDENTIALS_TIMEOUT, creds.headers(Extensions::new())).await {
                    Ok(Ok(_)) => Ok(creds),
                    Ok(Err(e)) => Err(Error::Credentials {
                        service,
                        detail: e.to_string(),
                    }),
                    Err(_) => Err(Error::Credentials {
                        service,
                        detail: format!("no token within {}s", CREDENTIALS_TIMEOUT.as_secs()),
                    }),
                }
            }
        }
    }

    /// Pub/Sub's topic and subscription admin clients.
    pub async fn pubsub_admin(&self) -> Result<PubSubAdmin> {
        let (endpoint, creds) = self.pubsub_credentials().await?;
        let topics = TopicAdmin::builder()
            .with_endpoint(endpoint.clone())
            .with_credentials(creds.clone())
            .build()
            .await
            .map_err(|e| Error::api(PUBSUB, "build", "topic admin client", e))?;
        let subscriptions = SubscriptionAdmin::builder()
            .with_endpoint(endpoint.clone())
            .with_credentials(creds.clone())
            .build()
            .await
            .map_err(|e| Error::api(PUBSUB, "build", "subscription admin client", e))?;
        let iam = SchemaService::builder()
            .with_endpoint(endpoint)
            .with_credentials(creds)
            .build()
            .await
            .map_err(|e| Error::api(PUBSUB, "build", "IAM policy client", e))?;
        Ok(PubSubAdmin {
            topics,
            subscriptions,
            iam,
        })
    }

    /// The project's number (Resource Manager `projects.get`), which names its service
    /// agents. Google Cloud only: the emulators have no project numbers.
    pub(crate) async fn project_number(&self) -> Result<String> {
        let endpoint = Endpoint::Cloud {
            url: RESOURCE_MANAGER.to_string(),
        };
        let creds = self.credentials(RESOURCE_MANAGER_NAME, &endpoint, "").await?;
        let rest = Rest::new(
            RESOURCE_MANAGER_NAME,
            self.http.clone(),
            RESOURCE_MANAGER.to_string(),
            creds,
        );
        let path = format!("/projects/{}", self.project);
        let project = rest.get("get project", &path).await?.ok_or_else(|| {
            Error::remote(
                RESOURCE_MANAGER_NAME,
                "get project",
                &self.project,
                crate::platform::error::Status::Http(404),
                "no such project: check --project",
            )
        })?;
        project["name"]
            .as_str()
            .and_then(|n| n.strip_prefix("projects/"))
            .map(str::to_string)
            .ok_or_else(|| {
                Error::remote(
                    RESOURCE_MANAGER_NAME,
                    "get project",
                    &self.project,
                    crate::platform::error::Status::Other,
                    format!("the answer names no project number: {project}"),
                )
            })
    }

    /// The Pub/Sub endpoint and checked credentials, for the publisher and subscriber
    /// clients built elsewhere.
    pub async fn pubsub_credentials(&self) -> Result<(String, Credentials)> {
        let probe = format!("/v1/projects/{}/topics?pageSize=1", self.project);
        let creds = self.credentials(PUBSUB, &self.endpoints.pubsub, &probe).await?;
        Ok((self.endpoints.pubsub.url().to_string(), creds))
    }

    /// Pub/Sub's REST API (`.../v1`), for the stream worker's pull, acknowledge and
    /// modifyAckDeadline calls.
    pub async fn pubsub_rest(&self) -> Result<Rest> {
        let (endpoint, creds) = self.pubsub_credentials().await?;
        Ok(Rest::new(PUBSUB, self.http.clone(), format!("{endpoint}/v1"), creds))
    }

    /// The BigQuery clients.
    pub async fn bigquery(&self) -> Result<BigQuery> {
        let endpoint = &self.endpoints.bigquery;
        let probe = format!("/projects/{}/datasets?maxResults=1", self.project);
        let creds = self.credentials(BIGQUERY, endpoint, &probe).await?;
        let auth = std::sync::Arc::new(GoogleAuth(creds.clone()));
        let client = gcp_bigquery_client::client_builder::ClientBuilder::new()
            .with_v2_base_url(endpoint.url().to_string())
            .with_client(self.http.clone())
            .build_from_authenticator(auth)
            .await
            .map_err(|e| Error::api(BIGQUERY, "build", "client", e))?;
        Ok(BigQuery {
            client,
            rest: Rest::new(BIGQUERY, self.http.clone(), endpoint.url().to_string(), creds),
        })
    }

    /// A gRPC channel to the BigQuery Storage Write API, and the credentials whose token
    /// each call must carry (none for the emulator). Connects lazily.
    pub(crate) async fn bigquery_write_channel(&self) -> Result<(tonic::transport::Channel, Option<Credentials>)> {
        let endpoint = &self.endpoints.bigquery_storage;
        let bad = |e: tonic::transport::Error| Error::api(BIGQUERY, "connect", endpoint.url(), e);
        let mut ch = tonic::transport::Endpoint::from_shared(endpoint.url().to_string())
            .map_err(bad)?
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(APPEND_TIMEOUT);
        let auth = match endpoint {
            Endpoint::Emulator { .. } => {
                // The REST probe of the same emulator tells whether it is up.
                let probe = format!("/projects/{}/datasets?maxResults=1", self.project);
                self.credentials(BIGQUERY, &self.endpoints.bigquery, &probe).await?;
                None
            }
            Endpoint::Cloud { .. } => {
                ch = ch
                    .tls_config(tonic::transport::ClientTlsConfig::new().with_native_roots())
                    .map_err(bad)?;
                Some(self.credentials(BIGQUERY, endpoint, "").await?)
            }
        };
        Ok((ch.connect_lazy(), auth))
    }

    /// The Cloud Storage clients.
    pub async fn storage(&self) -> Result<CloudStorage> {
        let endpoint = &self.endpoints.storage;
        let probe = format!("/storage/v1/b?project={}&maxResults=1", self.project);
        let creds = self.credentials(STORAGE, endpoint, &probe).await?;
        let objects = Storage::builder()
            .with_endpoint(endpoint.url().to_string())
            .with_credentials(creds.clone())
            .with_resumable_upload_threshold(SINGLE_SHOT_UPLOAD_LIMIT)
            .build()
            .await
            .map_err(|e| Error::api(STORAGE, "build", "client", e))?;
        Ok(CloudStorage {
            objects,
            rest: Rest::new(
                STORAGE,
                self.http.clone(),
                format!("{}/storage/v1", endpoint.url()),
                creds,
            ),
        })
    }
}

/// The first line of a transport error, without the URL noise.
fn short_transport_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return format!("no answer within {}s", PROBE_TIMEOUT.as_secs());
    }
    if e.is_connect() {
        return "connection refused".into();
    }
    e.to_string()
}

/// Bearer token from Google credentials, for `gcp-bigquery-client`. Anonymous
/// credentials (emulators) yield an empty token.
#[derive(Clone)]
struct GoogleAuth(Credentials);

#[async_trait::async_trait]
impl gcp_bigquery_client::auth::Authenticator for GoogleAuth {
    async fn access_token(&self) -> Result<String, gcp_bigquery_client::error::BQError> {
        match self.0.headers(Extensions::new()).await {
            Ok(CacheableResource::New { data, .. }) => Ok(bearer(&data).unwrap_or_default()),
            // Only returned when the caller passes an entity tag, which we never do.
            Ok(CacheableResource::NotModified) => Ok(String::new()),
            Err(error) => {
                tracing::warn!(message = "credentials refused a token", %error);
                Err(gcp_bigquery_client::error::BQError::NoToken)
            }
        }
    }
}

fn bearer(headers: &http::HeaderMap) -> Option<String> {
    let v = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    Some(v.strip_prefix("Bearer ").unwrap_or(v).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_all_requests_are_cut_by_rows_and_by_bytes() {
        let row = |n: usize| (Some("id".to_string()), serde_json::json!({ "s": "x".repeat(n) }));
        let rows: Vec<_> = (0..1200).map(|_| row(10)).collect();
        let sizes: Vec<usize> = insert_all_chunks(&rows, 500, MAX_INSERT_ALL_BYTES)
            .iter()
            .map(|c| c.len())
            .collect();
        assert_eq!(sizes, [500, 500, 200]);
        // Twenty rows of 1 MiB: eight per request under 9 MiB, and a row over the bound alone.
        let mut big: Vec<_> = (0..20).map(|_| row(1 << 20)).collect();
        big.insert(5, row(12 << 20));
        let chunks = insert_all_chunks(&big, 500, MAX_INSERT_ALL_BYTES);
        let sizes: Vec<usize> = chunks.iter().map(|c| c.len()).collect();
        assert_eq!(sizes, [5, 1, 8, 7]);
        for c in &chunks {
            let body: usize = c.iter().map(|(_, v)| serde_json::to_vec(v).unwrap().len()).sum();
            assert!(c.len() == 1 || body <= MAX_INSERT_ALL_BYTES, "{body}");
        }
        assert_eq!(chunks.iter().map(|c| c.len()).sum::<usize>(), 21);
        assert!(insert_all_chunks(&[], 500, MAX_INSERT_ALL_BYTES).is_empty());
    }

    /// Every shape of a TIMESTAMP cell the REST API answers reads as the same instant;
    /// the alerts' window (whole microseconds from the emulator, seconds from BigQuery by
    /// default) goes through the same reader as the dashboard's.
    #[test]
    fn a_timestamp_cell_reads_the_same_in_every_shape_the_api_answers() {
        let want = chrono::DateTime::parse_from_rfc3339("2026-11-30T23:59:58.123456Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        for raw in [
            "1796083198123456",
            "1796083198.123456",
            "1.796083198123456E9",
            "2026-11-30T23:59:58.123456Z",
            "2026-11-30 23:59:58.123456 UTC",
        ] {
            assert_eq!(timestamp(raw), Some(want), "{raw}");
        }
        assert_eq!(timestamp("-1"), chrono::DateTime::from_timestamp_micros(-1));
        assert_eq!(timestamp("soon"), None);
        assert_eq!(timestamp(""), None);
    }

    #[test]
    fn bearer_token_is_read_from_the_authorization_header() {
        let mut h = http::HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(http::header::AUTHORIZATION, "Bearer abc.def".parse().unwrap());
        assert_eq!(bearer(&h).as_deref(), Some("abc.def"));
    }

    #[tokio::test]
    async fn an_emulator_that_does_not_answer_is_one_clear_error_within_seconds() {
        // Bind then drop a listener: its port is free and refuses connections.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let args = GcpArgs {
            project: "p".into(),
            pubsub_emulator_host: Some(format!("127.0.0.1:{port}")),
            ..GcpArgs::default()
        };
        let gcp = Gcp::new(&args).unwrap();
        let started = std::time::Instant::now();
        let err = gcp.pubsub_admin().await.unwrap_err().to_string();
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(
            err.contains("Pub/Sub emulator")
                && err.contains("scripts/emulators.sh start")
                && err.contains("PUBSUB_EMULATOR_HOST"),
            "{err}"
        );
    }
}
