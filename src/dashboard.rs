//! The local dashboard: the pages of the report definition ([`crate::report`]) served by
//! axum, their data read from the BigQuery views with the same settings as every other
//! binary (the emulator when `BIGQUERY_EMULATOR_HOST` is set, Google Cloud otherwise).
//!
//! - `/` lists the pages; `/pages/<id>` is one page (HTML rendered by maud, which
//!   escapes every text); its script (`/assets/dashboard.js`) draws the charts with the
//!   vendored Apache ECharts and fetches each chart's data from
//!   `/api/pages/<page>/charts/<chart>`, all at once.
//! - A chart's data is the one SELECT its definition implies ([`Chart::sql`]); the request
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

use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::error::{Error, Result};
use crate::gcp::{BigQuery, Gcp, QueryRows};
use crate::report::{Chart, Format, Page, Query, Report};

/// Queries run at once; more wait their turn.
pub const MAX_CONCURRENT_QUERIES: usize = 8;
/// Requests handled at once by the server.
pub const MAX_CONCURRENT_REQUESTS: usize = 64;

/// Files served under `/assets/`, compiled in: the page script and style, and the
/// vendored libraries and map (see `assets/vendor/README.md`).
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "dashboard.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/dashboard.js"),
    ),
    (
        "dashboard.css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/dashboard.css"),
    ),
    (
        "echarts.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/vendor/echarts.min.js"),
    ),
    (
        "topojson-client.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/vendor/topojson-client.min.js"),
    ),
    (
        "countries-110m.json",
        "application/json",
        include_bytes!("../assets/vendor/countries-110m.json"),
    ),
];

/// The server's shared state.
struct Dashboard {
    report: Report,
    bq: BigQuery,
    project: String,
    dataset: String,
    timeout: Duration,
    queries: Semaphore,
    /// Answers of ordinary pages, by SQL text.
    cache: Option<moka::future::Cache<String, Arc<QueryRows>>>,
    /// Answers of live pages (shorter-lived), by SQL text.
    live_cache: Option<moka::future::Cache<String, Arc<QueryRows>>>,
}

/// A query failure: the sentence for the tile, and whether BigQuery did not answer.
type QueryError = (String, bool);

impl Dashboard {
    /// Runs `sql` within the timeout; the error is a sentence for the page.
    async fn query(&self, sql: &str) -> std::result::Result<QueryRows, QueryError> {
        let _permit = self.queries.acquire().await.expect("the semaphore is never closed");
        let answer = tokio::time::timeout(self.timeout, self.bq.query(&self.project, sql, self.timeout)).await;
        match answer {
            Err(_) => Err((
                format!("BigQuery did not answer within {} s", self.timeout.as_secs()),
                false,
            )),
            Ok(Err(e)) if matches!(e.status(), Some(crate::error::Status::Transport)) => Err((
                format!(
                    "BigQuery is not answering ({e}): start it, or check its address; the charts come back once it answers"
                ),
                true,
            )),
            Ok(Err(Error::Api { source, .. })) => Err((source.to_string(), false)),
            Ok(Err(e)) => Err((e.to_string(), false)),
            Ok(Ok(r)) => Ok(r),
        }
    }

    /// Runs `sql`, or takes its answer from the page's cache (one query in flight per
    /// SQL text; failures are not kept).
    async fn cached(&self, page: &Page, sql: &str) -> std::result::Result<Arc<QueryRows>, QueryError> {
        let cache = if page.refresh_seconds.is_some() {
            &self.live_cache
        } else {
            &self.cache
        };
        match cache {
            None => self.query(sql).await.map(Arc::new),
            Some(cache) => cache
                .try_get_with(sql.to_string(), async { self.query(sql).await.map(Arc::new) })
                .await
                .map_err(|e| (*e).clone()),
        }
    }

    /// The data of one chart, as the page draws it.
    async fn chart_data(&self, page: &Page, chart: &Chart) -> std::result::Result<Value, QueryError> {
        let started = Instant::now();
        let Query { sql, metrics } = page.query_for(chart, &self.project, &self.dataset);
        let result = self.cached(page, &sql).await?;
        let dims = chart.dimensions.len();
        // The query's columns in the chart's order: its dimensions, then its metrics
        // (a shared scorecard query holds other charts' metrics too).
        let picks: Vec<usize> = (0..dims).chain(metrics.iter().map(|m| dims + m)).collect();
        let mut columns = Vec::new();
        let mut formats = Vec::new();
        for (i, d) in chart.dimensions.iter().enumerate() {
            let format = dimension_format(result.types.get(i).map(String::as_str).unwrap_or("STRING"));
            formats.push(format);
            columns.push(json!({"name": d, "role": "dimension", "format": format}));
        }
        for m in &chart.metrics {
            formats.push(m.format);
            columns.push(json!({"name": m.field, "role": "metric", "format": m.format, "agg": m.agg}));
        }
        let rows: Vec<Value> = result
            .rows
            .iter()
            .map(|row| {
                Value::Array(
                    formats
                        .iter()
                        .zip(&picks)
                        .map(|(f, i)| cell(*f, row.get(*i).and_then(|c| c.as_deref())))
                        .collect(),
                )
            })
            .collect();
        Ok(json!({
            "chart": chart.id,
            "columns": columns,
            "rows": rows,
            "elapsed_ms": started.elapsed().as_millis() as u64,
        }))
    }
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
        Some(r) if format == Format::Datetime => crate::report::timestamp(r)
            .map(|t| Value::from(t.to_rfc3339()))
            .unwrap_or_else(|| Value::from(r)),
        Some(r) => Value::from(r),
    };
    json!({"v": v, "t": t})
}

/// Checks that every field the report reads is a column of its view, reading each view's
/// columns from BigQuery (`SELECT * ... LIMIT 0`).
pub async fn check_columns(report: &Report, bq: &BigQuery, project: &str, dataset: &str) -> Result<()> {
    // Which views exist; a missing one is reported by the check below, by chart.
    let listing = bq
        .rest
        .get(
            "list tables",
            &format!("/projects/{project}/datasets/{dataset}/tables?maxResults=10000"),
        )
        .await?
        .unwrap_or_default();
    let existing: BTreeSet<&str> = listing["tables"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter_map(|t| t["tableReference"]["tableId"].as_str())
                .collect()
        })
        .unwrap_or_default();
    let views: Vec<String> = report
        .views()
        .into_iter()
        .filter(|v| existing.contains(v.as_str()))
        .collect();
    let reads = views.iter().map(|view| async move {
        let sql = format!("SELECT * FROM `{project}.{dataset}.{view}` LIMIT 0");
        (view.clone(), bq.query(project, &sql, Duration::from_secs(60)).await)
    });
    let mut columns: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (view, answer) in futures::future::join_all(reads).await {
        columns.insert(view, answer?.names.into_iter().collect());
    }
    report.check_columns(&columns)
}

/// How the dashboard runs its queries.
#[derive(Debug, Clone, Copy)]
pub struct QueryOptions {
    /// Longest a query may take.
    pub timeout: Duration,
    /// How long an answer is kept for ordinary pages (zero: never); live pages keep theirs
    /// at most half their refresh period.
    pub cache: Duration,
}

fn cache(ttl: Duration) -> Option<moka::future::Cache<String, Arc<QueryRows>>> {
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
            reason: "the dashboard listens on loopback only (127.0.0.1)".into(),
        });
    }
    let bq = gcp.bigquery().await?;
    check_columns(&report, &bq, &gcp.project, dataset).await?;
    let shortest_refresh = report.pages.iter().filter_map(|p| p.refresh_seconds).min();
    let live_ttl = shortest_refresh.map_or(options.cache, |r| {
        options.cache.min(Duration::from_millis(500 * u64::from(r)))
    });
    let state = Arc::new(Dashboard {
        report,
        bq,
        project: gcp.project.clone(),
        dataset: dataset.to_string(),
        timeout: options.timeout,
        queries: Semaphore::new(MAX_CONCURRENT_QUERIES),
        cache: cache(options.cache),
        live_cache: cache(live_ttl),
    });
    crate::cli::serve_http(addr, "--addr", "dashboard", router(state)).await
}

fn router(state: Arc<Dashboard>) -> axum::Router {
    axum::Router::new()
        .route("/", axum::routing::get(index))
        .route("/pages/{page}", axum::routing::get(page))
        .route("/api/pages/{page}/charts/{chart}", axum::routing::get(chart))
        .route("/assets/{file}", axum::routing::get(asset))
        .with_state(state)
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
                p.lede { "Dataset " code { (d.project) "." (d.dataset) } ". Every number comes from a view of " code { "bigquery/views/" } "; the charts are defined in " code { "looker/report.json" } "." }
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

async fn page(State(d): State<Arc<Dashboard>>, UrlPath(id): UrlPath<String>) -> Response {
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
    // The page's definition for its script, as JSON that cannot close the script tag.
    let definition = serde_json::to_string(p)
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
            section.grid {
                @for c in &p.charts {
                    article class={ "tile kind-" (crate::report::spelling(&c.kind)) } data-chart=(c.id) data-state="loading" {
                        h2 { (c.title) }
                        div.body { div.status { "Loading…" } }
                        footer.source { (c.view) }
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

async fn chart(State(d): State<Arc<Dashboard>>, UrlPath((page, chart)): UrlPath<(String, String)>) -> Response {
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
    match d.chart_data(p, c).await {
        Ok(data) => axum::Json(data).into_response(),
        Err((error, unreachable)) => {
            tracing::warn!(message = "chart query failed", page, chart, error);
            (
                StatusCode::BAD_GATEWAY,
                axum::Json(json!({"chart": c.id, "error": error, "unreachable": unreachable})),
            )
                .into_response()
        }
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
