//! The local dashboard: the pages of the report definition ([`crate::dashboard::report`]) served by
//! axum, their data read from the BigQuery views with the same settings as every other
//! binary (the emulator when `BIGQUERY_EMULATOR_HOST` is set, Google Cloud otherwise).
//!
//! - `/` lists the pages; `/pages/<id>` is one page (HTML rendered by maud, which
//!   escapes every text); its script (`/assets/dashboard.js`) draws the charts with the
//!   vendored Apache ECharts and fetches each chart's data from
//!   `/api/pages/<page>/charts/<chart>`, all at once.
//! - A chart's data is the one SELECT its definition implies ([`Chart::query`]); the request
//!   names a page and a chart, nothing more, so no SQL and no parameter from the browser
//!   reaches BigQuery. Each query has a timeout, at most [`MAX_CONCURRENT_QUERIES`] run at
//!   once, and a failure is answered as JSON that the page shows on the chart's tile
//!   (with `unreachable` set when BigQuery did not answer at all, which the page shows
//!   once, at the top).
//! - Values are formatted here ([`Format::apply`]): money is exact text, never a float.
//! - Scorecards of one view share one query ([`Page::query_for`]), and answers are kept
//!   for a short while (moka, with one query in flight per SQL text however many tabs
//!   ask): `--cache-secs` on ordinary pages, at most half the refresh period on live ones.
//! - Nothing comes from a CDN: every asset is compiled into the binary.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, Query as AxumQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDate, Utc};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::dashboard::report::{Chart, Format, Kind, Page, Query, Report};
use crate::dashboard::selection::{BadParameter, FILTERS, Preset, Range, Selection};
use crate::platform::error::{Error, Result};
use crate::platform::gcp::{BigQuery, Gcp, QueryJob, QueryRows};
use crate::platform::settings::TimeZone;

/// Queries run at once; more wait their turn.
pub(crate) const MAX_CONCURRENT_QUERIES: usize = 8;
/// Requests handled at once by the server.
pub(crate) const MAX_CONCURRENT_REQUESTS: usize = 64;

/// Files served under `/assets/`, compiled in: the page script and style, and the
/// vendored libraries and map (see `assets/vendor/README.md`).
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "dashboard.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/dashboard.js"),
    ),
    (
        "dashboard.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/dashboard.css"),
    ),
    (
        "echarts.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/vendor/echarts.min.js"),
    ),
    (
        "topojson-client.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/vendor/topojson-client.min.js"),
    ),
    (
        "countries-110m.json",
        "application/json",
        include_bytes!("../../assets/vendor/countries-110m.json"),
    ),
];

/// The server's shared state.
struct Dashboard {
    report: Report,
    bq: BigQuery,
    project: String,
    dataset: String,
    timeout: Duration,
    time_zone: TimeZone,
    max_bytes_billed: Option<u64>,
    queries: Semaphore,
    /// Answers of ordinary pages, by request (SQL and parameters).
    cache: Option<moka::future::Cache<QueryJob, Arc<QueryRows>>>,
    /// Answers of live pages, by request, kept one refresh period.
    live_cache: Option<moka::future::Cache<QueryJob, Arc<QueryRows>>>,
    /// The values each filter may take ([`FILTER_VALUES_VIEW`]), kept a minute.
    filter_values: moka::future::Cache<(), Arc<BTreeMap<String, Vec<String>>>>,
}

/// The view of the values each page filter may take.
pub(crate) const FILTER_VALUES_VIEW: &str = "v_filter_values";

/// The table and columns of a page's freshness line: its newest sale in the range, when
/// the days it reads were last refreshed, and the date column the range filters.
const FRESHNESS: (&str, &str, &str, &str) = ("sales_facts", "ts", "refreshed_at", "sale_date");

/// A query failure: the sentence for the tile, and whether BigQuery did not answer.
type QueryError = (String, bool);

/// Why a chart request is not answered with data: a bad parameter (400), a query that
/// failed (502).
enum ChartError {
    Bad(BadParameter),
    Query(QueryError),
}

impl From<QueryError> for ChartError {
    fn from(e: QueryError) -> Self {
        ChartError::Query(e)
    }
}

impl Dashboard {
    /// Runs `job` within the timeout, with the cap on bytes billed; the error is a
    /// sentence for the page.
    async fn query(&self, job: &QueryJob) -> std::result::Result<QueryRows, QueryError> {
        let _permit = self.queries.acquire().await.expect("the semaphore is never closed");
        let job = QueryJob {
            max_bytes_billed: self.max_bytes_billed,
            ..job.clone()
        };
        let answer = tokio::time::timeout(self.timeout, self.bq.query_job(&self.project, &job, self.timeout)).await;
        match answer {
            Err(_) => Err((
                format!("BigQuery did not answer within {} s", self.timeout.as_secs()),
                false,
            )),
            Ok(Err(e)) if matches!(e.status(), Some(crate::platform::error::Status::Transport)) => Err((
                format!(
                    "BigQuery is not answering ({e}): start it, or check its address; the charts come back once it answers"
                ),
                true,
            )),
            Ok(Err(e)) => {
                let text = match &e {
                    Error::Api { source, .. } => source.to_string(),
                    e => e.to_string(),
                };
                if text.contains("bytes billed") {
                    Err((
                        format!(
                            "this chart would bill more than the dashboard's cap of {} bytes (--max-bytes-billed): narrow the date range, or raise the cap ({text})",
                            self.max_bytes_billed.unwrap_or_default()
                        ),
                        false,
                    ))
                } else {
                    Err((text, false))
                }
            }
            Ok(Ok(r)) => Ok(r),
        }
    }

    /// Runs `job`, or takes its answer from the page's cache (one query in flight per
    /// request; failures are not kept).
    async fn cached(&self, page: &Page, job: &QueryJob) -> std::result::Result<Arc<QueryRows>, QueryError> {
        let cache = if page.refresh_seconds.is_some() {
            &self.live_cache
        } else {
            &self.cache
        };
        match cache {
            None => self.query(job).await.map(Arc::new),
            Some(cache) => cache
                .try_get_with(job.clone(), async { self.query(job).await.map(Arc::new) })
                .await
                .map_err(|e| (*e).clone()),
        }
    }

    /// Today in the reporting time zone.
    fn today(&self) -> NaiveDate {
        Utc::now().with_timezone(&self.time_zone.tz()).date_naive()
    }

    /// The values of each page filter, from [`FILTER_VALUES_VIEW`] (kept a minute).
    async fn filter_values(&self) -> std::result::Result<Arc<BTreeMap<String, Vec<String>>>, QueryError> {
        self.filter_values
            .try_get_with((), async {
                let job = QueryJob {
                    sql: format!(
                        "SELECT field, value FROM `{}.{}.{FILTER_VALUES_VIEW}` GROUP BY field, value ORDER BY field, value",
                        self.project, self.dataset
                    ),
                    ..QueryJob::default()
                };
                let rows = self.query(&job).await?;
                let mut out: BTreeMap<String, Vec<String>> =
                    FILTERS.iter().map(|f| (f.to_string(), Vec::new())).collect();
                for row in rows.rows {
                    if let (Some(Some(f)), Some(Some(v))) = (row.first(), row.get(1)) {
                        out.entry(f.clone()).or_default().push(v.clone());
                    }
                }
                Ok(Arc::new(out))
            })
            .await
            .map_err(|e: Arc<QueryError>| (*e).clone())
    }

    /// The selection a request's query pairs state for `page`, its filter values
    /// checked against the data.
    async fn selection(&self, page: &Page, pairs: &[(String, String)]) -> std::result::Result<Selection, ChartError> {
        let sel =
            Selection::parse(pairs, page.default_range, page.default_compare, self.today()).map_err(ChartError::Bad)?;
        if !sel.filters.is_empty() {
            let known = self.filter_values().await?;
            sel.check_values(&known).map_err(ChartError::Bad)?;
        }
        Ok(sel)
    }

    /// The rows of `chart` over `range`, as (columns, formats, cells) in the chart's
    /// order.
    async fn rows(
        &self,
        page: &Page,
        chart: &Chart,
        sel: &Selection,
        range: Range,
    ) -> std::result::Result<(Vec<Value>, Vec<Format>, Vec<Vec<Option<String>>>), QueryError> {
        let Query { job, metrics } = page.query_for(chart, &self.project, &self.dataset, sel, range);
        let result = self.cached(page, &job).await?;
        let dims = chart.dimensions.len();
        // The query's columns in the chart's order: its dimensions, then its metrics
        // (a shared scorecard query holds other charts' metrics too).
        let picks: Vec<usize> = (0..dims).chain(metrics.iter().map(|m| dims + m)).collect();
        let mut columns = Vec::new();
        let mut formats = Vec::new();
        for (i, d) in chart.dimensions.iter().enumerate() {
            let format = dimension_format(result.types.get(i).map(String::as_str).unwrap_or("STRING"));
            formats.push(format);
            columns.push(json!({"name": d, "role": "dimension", "format": format,
                "filter": FILTERS.contains(&d.as_str()).then_some(d)}));
        }
        for m in &chart.metrics {
            formats.push(m.format);
            columns.push(
                json!({"name": m.name(), "role": "metric", "format": m.format, "agg": m.agg,
                "cumulative": m.cumulative, "band": m.band}),
            );
        }
        let rows = result
            .rows
            .iter()
            .map(|row| picks.iter().map(|i| row.get(*i).cloned().flatten()).collect())
            .collect();
        Ok((columns, formats, rows))
    }

    /// The data of one chart for `sel`, as the page draws it: its rows, and with a
    /// comparison, the compared period's (scorecards: each value's change; time series:
    /// the compared days moved onto the range's, to draw over them).
    async fn chart_data(&self, page: &Page, chart: &Chart, sel: &Selection) -> std::result::Result<Value, QueryError> {
        let started = Instant::now();
        let (columns, formats, rows) = self.rows(page, chart, sel, sel.range).await?;
        let cells = |rows: &[Vec<Option<String>>]| -> Vec<Value> {
            rows.iter()
                .map(|r| Value::Array(formats.iter().zip(r).map(|(f, raw)| cell(*f, raw.as_deref())).collect()))
                .collect()
        };
        let mut out = json!({
            "chart": chart.id,
            "columns": columns,
            "rows": cells(&rows),
            "range": sel.range,
            "reads_range": chart.date.is_some(),
            "ignored_filters": sel.filters.keys().filter(|f| chart.ignores.contains(f)).collect::<Vec<_>>(),
        });
        let comparable = chart.date.is_some() && matches!(chart.kind, Kind::Scorecard | Kind::TimeSeries);
        if let (true, Some(compared)) = (comparable, sel.compared()) {
            let (_, _, before) = self.rows(page, chart, sel, compared).await?;
            let mut compare = json!({"range": compared, "compare": sel.compare});
            if chart.kind == Kind::Scorecard {
                let now = rows.first();
                let then = before.first();
                let value = |r: Option<&Vec<Option<String>>>, i: usize| r.and_then(|r| r.get(i).cloned().flatten());
                compare["cells"] = formats
                    .iter()
                    .enumerate()
                    .map(|(i, f)| cell(*f, value(then, i).as_deref()))
                    .collect();
                compare["change"] = formats
                    .iter()
                    .enumerate()
                    .map(|(i, _)| {
                        change(value(now, i).as_deref(), value(then, i).as_deref()).map_or(Value::Null, Value::from)
                    })
                    .collect();
            } else {
                let shift = |raw: &str| -> Option<String> {
                    let d: NaiveDate = raw.get(..10)?.parse().ok()?;
                    let moved = match sel.compare? {
                        crate::dashboard::selection::Compare::Previous => {
                            let days = (sel.range.from? - compared.from?).num_days();
                            d.checked_add_signed(chrono::Duration::days(days))?
                        }
                        crate::dashboard::selection::Compare::Year => d.checked_add_months(chrono::Months::new(12))?,
                    };
                    Some(moved.to_string())
                };
                let moved: Vec<Value> = before
                    .iter()
                    .filter_map(|r| {
                        let at = shift(r.first()?.as_deref()?)?;
                        let mut cells: Vec<Value> =
                            formats.iter().zip(r).map(|(f, raw)| cell(*f, raw.as_deref())).collect();
                        // Drawn at the range's day; read as its own.
                        cells[0]["v"] = Value::from(at);
                        Some(Value::Array(cells))
                    })
                    .collect();
                compare["rows"] = Value::Array(moved);
            }
            out["compare"] = compare;
        }
        out["elapsed_ms"] = (started.elapsed().as_millis() as u64).into();
        Ok(out)
    }

    /// A chart's rows as CSV (RFC 4180): a header of its columns, then each value as
    /// the chart shows it, as plain data ([`Format::plain`]: money `1234.50`).
    async fn chart_csv(&self, page: &Page, chart: &Chart, sel: &Selection) -> std::result::Result<Vec<u8>, QueryError> {
        let (columns, formats, rows) = self.rows(page, chart, sel, sel.range).await?;
        let mut w = csv::Writer::from_writer(Vec::new());
        let header: Vec<&str> = columns.iter().map(|c| c["name"].as_str().unwrap_or_default()).collect();
        let fail = |e: csv::Error| (format!("the CSV could not be written: {e}"), false);
        w.write_record(&header).map_err(fail)?;
        for r in &rows {
            let record: Vec<String> = formats.iter().zip(r).map(|(f, raw)| f.plain(raw.as_deref())).collect();
            w.write_record(&record).map_err(fail)?;
        }
        w.into_inner()
            .map_err(|e| (format!("the CSV could not be written: {e}"), false))
    }
}

/// The change from `then` to `now` in percent, two decimals, signed (`+12.34%`); none
/// when either is not a number or `then` is zero.
fn change(now: Option<&str>, then: Option<&str>) -> Option<String> {
    let now: Decimal = now?.parse().ok()?;
    let then: Decimal = then?.parse().ok()?;
    if then.is_zero() {
        return None;
    }
    let pct = ((now - then) / then.abs() * Decimal::from(100))
        .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    let text = Format::Percent.apply(Some(&pct.to_string()));
    Some(if pct.is_sign_positive() && !pct.is_zero() {
        format!("+{text}")
    } else {
        text
    })
}

/// How a dimension of a BigQuery type reads.
fn dimension_format(bq_type: &str) -> Format {
    match bq_type {
        "DATE" => Format::Date,
        "TIMESTAMP" | "DATETIME" => Format::Datetime,
        "INTEGER" | "INT64" => Format::Count,
        "NUMERIC" | "BIGNUMERIC" | "FLOAT" | "FLOAT64" => Format::Decimal,
        _ => Format::Text,
    }
}

/// One cell: `v` what the chart draws with (a number for numeric formats, an RFC 3339
/// time for timestamps, the text otherwise), `t` what a person reads.
fn cell(format: Format, raw: Option<&str>) -> Value {
    let t = format.apply(raw);
    let v = match raw {
        None => Value::Null,
        // Magnitudes only position marks on a chart; every number a person reads is `t`.
        Some(r) if format.is_numeric() => r.parse::<f64>().map(Value::from).unwrap_or(Value::Null),
        Some(r) if format == Format::Datetime => crate::platform::gcp::timestamp(r)
            .map(|t| Value::from(t.to_rfc3339()))
            .unwrap_or_else(|| Value::from(r)),
        Some(r) => Value::from(r),
    };
    json!({"v": v, "t": t})
}

/// Checks that every field the report reads is a column of its view, reading each view's
/// columns from BigQuery (`SELECT * ... LIMIT 0`).
pub(crate) async fn check_columns(report: &Report, bq: &BigQuery, project: &str, dataset: &str) -> Result<()> {
    // Which views exist; a missing one is reported by the check below, by chart.
    let listing = bq
        .rest
        .get(
            "list tables",
            &format!("/projects/{project}/datasets/{dataset}/tables?maxResults=10000"),
        )
        .await?
        .unwrap_or_default();
    // Each one's kind: a table's columns are in its schema (free metadata; a query of a
    // table that requires a partition filter would be refused), a view's come from a
    // query that reads no row.
    let existing: BTreeMap<&str, &str> = listing["tables"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter_map(|t| {
                    Some((
                        t["tableReference"]["tableId"].as_str()?,
                        t["type"].as_str().unwrap_or("TABLE"),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut wanted = report.views();
    wanted.extend([FILTER_VALUES_VIEW.to_string(), FRESHNESS.0.to_string()]);
    wanted.sort();
    wanted.dedup();
    let views: Vec<(String, bool)> = wanted
        .into_iter()
        .filter_map(|v| existing.get(v.as_str()).map(|kind| (v.clone(), *kind == "VIEW")))
        .collect();
    let reads = views.iter().map(|(view, is_view)| async move {
        let names: Result<Vec<String>> = if *is_view {
            let sql = format!("SELECT * FROM `{project}.{dataset}.{view}` LIMIT 0");
            bq.query(project, &sql, Duration::from_secs(60)).await.map(|a| a.names)
        } else {
            let path = format!("/projects/{project}/datasets/{dataset}/tables/{view}");
            bq.rest.get("get table", &path).await.map(|t| {
                t.unwrap_or_default()["schema"]["fields"]
                    .as_array()
                    .map(|f| {
                        f.iter()
                            .filter_map(|f| f["name"].as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default()
            })
        };
        (view.clone(), names)
    });
    let mut columns: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (view, answer) in futures::future::join_all(reads).await {
        columns.insert(view, answer?.into_iter().collect());
    }
    for (view, needs) in [
        (FILTER_VALUES_VIEW, vec!["field", "value"]),
        (FRESHNESS.0, vec![FRESHNESS.1, FRESHNESS.2, FRESHNESS.3]),
    ] {
        let have = columns.get(view);
        if let Some(missing) = needs.iter().find(|c| !have.is_some_and(|h| h.contains(**c))) {
            return Err(Error::model(
                &report.file,
                format!("the dashboard reads {missing} of view {view}, which the dataset lacks: run provision"),
            ));
        }
    }
    report.check_columns(&columns)
}

/// How the dashboard runs its queries.
#[derive(Debug, Clone)]
pub struct QueryOptions {
    /// Longest a query may take.
    pub timeout: Duration,
    /// How long an answer is kept for ordinary pages (zero: never); live pages keep theirs
    /// one refresh period, so a refresh finds the answer the previous one fetched.
    pub cache: Duration,
    /// The reporting time zone: its today ends the presets.
    pub time_zone: TimeZone,
    /// The most bytes one query may bill (`maximumBytesBilled`); none: no cap.
    pub max_bytes_billed: Option<u64>,
    /// `Host` values answered beside the bound address's own (`127.0.0.1:PORT`,
    /// `localhost:PORT`): the names a reverse proxy in front serves it under.
    pub allowed_hosts: Vec<String>,
}

fn cache(ttl: Duration) -> Option<moka::future::Cache<QueryJob, Arc<QueryRows>>> {
    (!ttl.is_zero()).then(|| {
        moka::future::Cache::builder()
            .max_capacity(1000)
            .time_to_live(ttl)
            .build()
    })
}

/// Starts the dashboard on `addr` (loopback only) after checking the report's columns;
/// returns the bound address and the server task.
pub async fn serve(
    gcp: &Gcp,
    dataset: &str,
    report: Report,
    addr: SocketAddr,
    options: QueryOptions,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    if !addr.ip().is_loopback() {
        return Err(Error::Setting {
            name: "--addr",
            value: addr.to_string(),
            reason: "the dashboard listens on loopback only (127.0.0.1); put a proxy in front and name it with --allowed-host".into(),
        });
    }
    let bq = gcp.bigquery().await?;
    check_columns(&report, &bq, &gcp.project, dataset).await?;
    let longest_refresh = report.pages.iter().filter_map(|p| p.refresh_seconds).max();
    // A live page keeps an answer one refresh period, so every refresh of every open tab
    // finds the one its first load fetched; `--cache-secs 0` keeps nothing anywhere.
    let live_ttl = match longest_refresh {
        Some(r) if !options.cache.is_zero() => Duration::from_secs(u64::from(r)),
        _ => options.cache,
    };
    let state = Arc::new(Dashboard {
        report,
        bq,
        project: gcp.project.clone(),
        dataset: dataset.to_string(),
        timeout: options.timeout,
        time_zone: options.time_zone.clone(),
        max_bytes_billed: options.max_bytes_billed,
        queries: Semaphore::new(MAX_CONCURRENT_QUERIES),
        cache: cache(options.cache),
        live_cache: cache(live_ttl),
        filter_values: moka::future::Cache::builder()
            .max_capacity(1)
            .time_to_live(Duration::from_secs(60))
            .build(),
    });
    let extra = options.allowed_hosts.clone();
    crate::platform::cli::serve_http_with(addr, "--addr", "dashboard", move |bound| {
        let mut hosts = vec![
            format!("127.0.0.1:{}", bound.port()),
            format!("localhost:{}", bound.port()),
            format!("[::1]:{}", bound.port()),
        ];
        hosts.extend(extra.iter().map(|h| h.to_ascii_lowercase()));
        router(state, Arc::new(hosts))
    })
    .await
}

/// The headers of every answer: no script but the dashboard's own files, no framing, no
/// sniffing, no referrer beyond the origin.
const SECURITY_HEADERS: [(&str, &str); 4] = [
    (
        "content-security-policy",
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
    ("x-frame-options", "DENY"),
];

/// Answers only requests addressed to one of `hosts` (a DNS-rebinding page sends its own
/// name: 421), and adds [`SECURITY_HEADERS`] to every answer.
async fn guard(
    State(hosts): State<Arc<Vec<String>>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_ascii_lowercase);
    let mut resp = match host {
        Some(h) if hosts.contains(&h) => next.run(req).await,
        other => {
            tracing::warn!(
                message = "request for another host refused",
                host = other.as_deref().unwrap_or("")
            );
            (
                StatusCode::MISDIRECTED_REQUEST,
                format!(
                    "this dashboard answers only for {}; start it with --allowed-host to serve another name\n",
                    hosts.join(", ")
                ),
            )
                .into_response()
        }
    };
    for (k, v) in SECURITY_HEADERS {
        resp.headers_mut()
            .insert(header::HeaderName::from_static(k), header::HeaderValue::from_static(v));
    }
    resp
}

fn router(state: Arc<Dashboard>, hosts: Arc<Vec<String>>) -> axum::Router {
    axum::Router::new()
        .route("/", axum::routing::get(index))
        .route("/pages/{page}", axum::routing::get(page))
        .route("/api/filters", axum::routing::get(filters))
        .route("/api/pages/{page}/freshness", axum::routing::get(freshness))
        .route("/api/pages/{page}/charts/{chart}", axum::routing::get(chart))
        .route("/assets/{file}", axum::routing::get(asset))
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(hosts, guard))
        .layer(tower::limit::ConcurrencyLimitLayer::new(MAX_CONCURRENT_REQUESTS))
}

fn layout(report: &Report, title: &str, current: Option<&str>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (report.name) }
                link rel="stylesheet" href="/assets/dashboard.css";
            }
            body {
                header {
                    a.brand href="/" { (report.name) }
                    nav {
                        @for p in &report.pages {
                            a href={ "/pages/" (p.id) } class=[(current == Some(p.id.as_str())).then_some("current")] { (p.title) }
                        }
                    }
                }
                (body)
            }
        }
    }
}

async fn index(State(d): State<Arc<Dashboard>>) -> Markup {
    let r = &d.report;
    layout(
        r,
        "Pages",
        None,
        html! {
            main.index {
                h1 { (r.name) }
                p.lede { "Dataset " code { (d.project) "." (d.dataset) } ". Every number comes from a view of " code { "bigquery/views/" } "; the charts are defined in " code { "looker/report.json" } ". Each page takes a period and filters in its URL: " code { "?from=2026-11-01&to=2026-11-30&compare=previous&country=Chile" } "." }
                ul.pages {
                    @for p in &r.pages {
                        li {
                            a href={ "/pages/" (p.id) } { (p.title) }
                            " — " (p.description) " (" (p.charts.len()) " charts)"
                        }
                    }
                }
            }
        },
    )
}

/// A 400 page naming the parameter.
fn bad_page(report: &Report, page: &Page, bad: &BadParameter) -> Response {
    (
        StatusCode::BAD_REQUEST,
        layout(
            report,
            "Bad parameter",
            Some(&page.id),
            html! { main { h1 { "This page cannot be shown" } p.error data-parameter=(bad.name) { (bad.to_string()) } p { a href={ "/pages/" (page.id) } { "Open " (page.title) " with its default period" } } } },
        ),
    )
        .into_response()
}

async fn page(
    State(d): State<Arc<Dashboard>>,
    UrlPath(id): UrlPath<String>,
    AxumQuery(pairs): AxumQuery<Vec<(String, String)>>,
) -> Response {
    let Some(p) = d.report.page(&id) else {
        return (
            StatusCode::NOT_FOUND,
            layout(
                &d.report,
                "Not found",
                None,
                html! { main { h1 { "No page " (id) } p { a href="/" { "All pages" } } } },
            ),
        )
            .into_response();
    };
    // One today for the whole answer: the presets and the selection agree across midnight.
    let today = d.today();
    let sel = match Selection::parse(&pairs, p.default_range, p.default_compare, today) {
        Ok(sel) => sel,
        Err(bad) => return bad_page(&d.report, p, &bad),
    };
    if !sel.filters.is_empty() {
        // Unknown values are refused here when the data can be read; otherwise the
        // charts say what is wrong.
        if let Ok(known) = d.filter_values().await
            && let Err(bad) = sel.check_values(&known)
        {
            return bad_page(&d.report, p, &bad);
        }
    }
    // The page's definition and state for its script, as JSON that cannot close the
    // script tag.
    let presets: Vec<Value> = Preset::ALL
        .iter()
        .map(|preset| {
            let (from, to) = preset.range(today);
            json!({"id": preset.id(), "from": from, "to": to})
        })
        .collect();
    let state = json!({
        "page": p,
        "selection": sel,
        "today": today,
        "time_zone": d.time_zone.name(),
        "presets": presets,
        "filters": FILTERS,
    });
    let definition = serde_json::to_string(&state)
        .expect("a page serialises")
        .replace("</", "<\\/");
    layout(&d.report, &p.title, Some(&p.id), page_body(p, &definition)).into_response()
}

fn page_body(p: &Page, definition: &str) -> Markup {
    html! {
        main.page data-page=(p.id) {
            div.banner hidden {}
            h1 { (p.title) }
            p.lede {
                (p.description)
                span.updated {}
            }
            form.controls autocomplete="off" {
                label { "Period " select name="preset" {} }
                label { "From " input type="date" name="from"; }
                label { "To " input type="date" name="to"; }
                label { "Compare " select name="compare" {
                    option value="" { "no comparison" }
                    option value="previous" { "previous period" }
                    option value="year" { "same period last year" }
                } }
                @for f in FILTERS {
                    details.filter data-filter=(f) { summary { (f) } div.values {} }
                }
            }
            div.chips {}
            p.freshness {}
            section.grid {
                @for c in &p.charts {
                    article class={ "tile kind-" (crate::dashboard::report::spelling(&c.kind)) } data-chart=(c.id) data-state="loading" {
                        h2 { (c.title) }
                        div.body { div.status { "Loading…" } }
                        footer.source {
                            (c.view)
                            @if c.date.is_none() { span.scope { " · all time: ignores the period" } }
                            " · " a.csv href={ "/api/pages/" (p.id) "/charts/" (c.id) ".csv" } { "CSV" }
                        }
                    }
                }
            }
        }
        script type="application/json" id="page-definition" { (PreEscaped(definition)) }
        script src="/assets/echarts.min.js" {}
        script src="/assets/topojson-client.min.js" {}
        script src="/assets/dashboard.js" {}
    }
}

fn bad_json(bad: &BadParameter) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"error": bad.to_string(), "parameter": bad.name})),
    )
        .into_response()
}

fn failed_json(chart: &str, (error, unreachable): QueryError) -> Response {
    (
        StatusCode::BAD_GATEWAY,
        axum::Json(json!({"chart": chart, "error": error, "unreachable": unreachable})),
    )
        .into_response()
}

async fn chart(
    State(d): State<Arc<Dashboard>>,
    UrlPath((page, chart)): UrlPath<(String, String)>,
    AxumQuery(pairs): AxumQuery<Vec<(String, String)>>,
) -> Response {
    let (chart, csv) = match chart.strip_suffix(".csv") {
        Some(c) => (c.to_string(), true),
        None => (chart, false),
    };
    let found = d
        .report
        .page(&page)
        .and_then(|p| p.charts.iter().find(|c| c.id == chart).map(|c| (p, c)));
    let Some((p, c)) = found else {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": "no such page or chart"})),
        )
            .into_response();
    };
    let sel = match d.selection(p, &pairs).await {
        Ok(sel) => sel,
        Err(ChartError::Bad(bad)) => return bad_json(&bad),
        Err(ChartError::Query(e)) => return failed_json(&c.id, e),
    };
    if csv {
        return match d.chart_csv(p, c, &sel).await {
            Ok(body) => {
                let name = format!(
                    "attachment; filename=\"{}-{}-{}-{}.csv\"",
                    p.id,
                    c.id,
                    sel.range.from.map_or("start".to_string(), |f| f.to_string()),
                    sel.range.to
                );
                (
                    [
                        (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                        (header::CONTENT_DISPOSITION, name),
                    ],
                    body,
                )
                    .into_response()
            }
            Err(e) => failed_json(&c.id, e),
        };
    }
    match d.chart_data(p, c, &sel).await {
        Ok(data) => axum::Json(data).into_response(),
        Err(e) => {
            tracing::warn!(message = "chart query failed", page, chart, error = e.0);
            failed_json(&c.id, e)
        }
    }
}

/// Every filter's values, for the page's controls.
async fn filters(State(d): State<Arc<Dashboard>>) -> Response {
    match d.filter_values().await {
        Ok(values) => axum::Json(json!(*values)).into_response(),
        Err(e) => failed_json("filters", e),
    }
}

/// How fresh the page's data is for its selection: the newest sale in the range and
/// filters, and when those days of `sales_facts` were last refreshed.
async fn freshness(
    State(d): State<Arc<Dashboard>>,
    UrlPath(page): UrlPath<String>,
    AxumQuery(pairs): AxumQuery<Vec<(String, String)>>,
) -> Response {
    let Some(p) = d.report.page(&page) else {
        return (StatusCode::NOT_FOUND, axum::Json(json!({"error": "no such page"}))).into_response();
    };
    let sel = match d.selection(p, &pairs).await {
        Ok(sel) => sel,
        Err(ChartError::Bad(bad)) => return bad_json(&bad),
        Err(ChartError::Query(e)) => return failed_json("freshness", e),
    };
    let (view, field, refreshed, date) = FRESHNESS;
    let probe = Chart {
        id: "freshness".into(),
        kind: Kind::Scorecard,
        title: String::new(),
        view: view.into(),
        dimensions: Vec::new(),
        metrics: [field, refreshed]
            .into_iter()
            .map(|f| crate::dashboard::report::Metric {
                field: f.into(),
                agg: crate::dashboard::report::Agg::Max,
                format: Format::Datetime,
                name: None,
                divide_by: None,
                cumulative: false,
                band: None,
            })
            .collect(),
        sort: Vec::new(),
        limit: None,
        filters: Vec::new(),
        date: Some(date.into()),
        ignores: Vec::new(),
    };
    let job = probe.query(&d.project, &d.dataset, &sel, sel.range);
    match d.cached(p, &job).await {
        Ok(rows) => {
            let at = |i: usize| rows.rows.first().and_then(|r| r.get(i).cloned().flatten());
            axum::Json(json!({
                "newest_sale": cell(Format::Datetime, at(0).as_deref()),
                "refreshed_at": cell(Format::Datetime, at(1).as_deref()),
                "source": view,
            }))
            .into_response()
        }
        Err(e) => failed_json("freshness", e),
    }
}

async fn asset(UrlPath(file): UrlPath<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, mime, bytes)) => (
            [(header::CONTENT_TYPE, *mime), (header::CACHE_CONTROL, "max-age=3600")],
            *bytes,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_carry_exact_text_and_a_drawable_value() {
        let c = cell(Format::Money, Some("30233626.820000000"));
        assert_eq!(c["t"], "30,233,626.82");
        assert_eq!(c["v"], 30233626.82);
        let c = cell(Format::Datetime, Some("1.7953850428E9"));
        assert_eq!(c["v"], "2026-11-22T22:04:02.800+00:00");
        assert_eq!(cell(Format::Count, None), json!({"v": null, "t": "–"}));
        assert_eq!(dimension_format("TIMESTAMP"), Format::Datetime);
        assert_eq!(dimension_format("DATE"), Format::Date);
        assert_eq!(dimension_format("STRING"), Format::Text);
    }

    #[test]
    fn every_asset_is_compiled_in() {
        for (name, _, bytes) in ASSETS {
            assert!(bytes.len() > 100, "{name}");
        }
        let echarts = ASSETS.iter().find(|a| a.0 == "echarts.min.js").unwrap().2;
        assert!(
            std::str::from_utf8(&echarts[..2000])
                .unwrap_or_default()
                .contains("Apache")
        );
    }
}
