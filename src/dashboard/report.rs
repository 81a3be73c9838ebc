//! The dashboards as code: `looker/report.json`, the one definition of the report's pages
//! and charts. The local `dashboard` serves it (`src/dashboard/server.rs`), and the Looker Studio
//! link that creates the same report is built from it ([`Report::looker_url`]).
//!
//! Loading checks it against the data model, naming the file, page and chart at fault:
//! every view exists in `bigquery/views/`, every chart has the fields its kind needs, and
//! names are plain identifiers. [`Report::check_columns`] then checks every field against
//! the columns the views really have (read from BigQuery by the dashboard at start).
//!
//! A chart implies exactly one query ([`Chart::query`]): its dimensions, its aggregated
//! metrics, fixed filters, sort and row limit, on its one view. Nothing else is ever run,
//! and nothing from a request reaches SQL. Values are formatted here
//! ([`Format::apply`]), exactly: money is parsed as a decimal, never a float.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::dashboard::selection::{Compare, FILTERS, Preset, Range, Selection};
use crate::model::DataModel;
use crate::platform::error::{Error, Result};
use crate::platform::gcp::{ParamValue, QueryJob};

/// The Looker Studio Linking API's entry point.
pub(crate) const LOOKER_CREATE_URL: &str = "https://lookerstudio.google.com/reporting/create";
/// Rows a chart may ask for at most.
pub(crate) const MAX_LIMIT: u32 = 10_000;

/// The whole report: its pages, in order.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// The report's name (also the Looker Studio report's).
    pub name: String,
    /// Views the Looker Studio link carries first, beside those the charts read: the
    /// unified `v_fact_sales_all`, which a Looker Studio user builds charts on and filters
    /// by date (`sale_date`, `ts`).
    #[serde(default)]
    pub data_sources: Vec<String>,
    /// Its pages.
    pub pages: Vec<Page>,
    /// The file it was read from.
    #[serde(skip)]
    pub file: PathBuf,
}

/// One page of the report.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    /// Its id, also its path (`/pages/<id>`).
    pub id: String,
    /// Its title.
    pub title: String,
    /// One sentence under the title.
    #[serde(default)]
    pub description: String,
    /// Reload the page's data every this many seconds (live pages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_seconds: Option<u32>,
    /// The date range a page opens with when its URL names none.
    #[serde(default = "default_range")]
    pub default_range: Preset,
    /// The comparison a page opens with when its URL names no range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_compare: Option<Compare>,
    /// Its charts, in reading order.
    pub charts: Vec<Chart>,
}

/// What a chart draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// One number per metric.
    Scorecard,
    /// Metrics over a date or time dimension; a second dimension breaks them down (a
    /// line per value), and a lower and an upper metric draw an interval band.
    TimeSeries,
    /// Bars per value of one dimension.
    Bar,
    /// Bars per value of the first dimension, stacked by the second or by metric.
    StackedBar,
    /// A world map coloured by one metric per country.
    Geo,
    /// Shares of one metric per value of one dimension.
    Pie,
    /// Rows of dimensions and metrics.
    Table,
    /// One metric by two dimensions: rows, columns.
    Pivot,
}

/// How a metric is aggregated over the rows of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Agg {
    /// SUM.
    Sum,
    /// MAX.
    Max,
    /// MIN.
    Min,
    /// AVG.
    Avg,
    /// COUNT of non-null values.
    Count,
    /// COUNT(DISTINCT).
    CountDistinct,
}

/// How a value reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Two decimals, thousands separated: `30,233,626.82`.
    Money,
    /// A whole number, thousands separated: `12,345`.
    Count,
    /// A value already in percent, two decimals: `12.34%`.
    Percent,
    /// Two decimals, thousands separated.
    Decimal,
    /// A date, `2026-11-22`.
    Date,
    /// A moment in UTC, `2026-11-22 21:57:06 UTC`.
    Datetime,
    /// As it comes.
    Text,
}

/// One metric of a chart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metric {
    /// The view's column.
    pub field: String,
    /// Its aggregation.
    pub agg: Agg,
    /// How it reads.
    pub format: Format,
    /// Its name in the chart's answer (default: the field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A ratio: the aggregation above divided by this one (`SAFE_DIVIDE`, so no rows
    /// read as no value), computed over the same rows: average order value is revenue
    /// divided by distinct completed orders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub divide_by: Option<Operand>,
    /// A running total over the chart's one dimension, in its order, within the range.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cumulative: bool,
    /// A bound of an interval a time series draws as a band (the forecast's 80%
    /// interval), not as a line of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub band: Option<Band>,
}

/// Which bound of a band a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Band {
    /// Its lower edge.
    Lower,
    /// Its upper edge.
    Upper,
}

/// The denominator of a ratio metric.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operand {
    /// The view's column.
    pub field: String,
    /// Its aggregation.
    pub agg: Agg,
}

impl Metric {
    /// Its name in the chart's answer.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.field)
    }

    /// Whether `other` computes the same values (scorecards share a query).
    fn same(&self, other: &Metric) -> bool {
        self.field == other.field
            && self.agg == other.agg
            && self.divide_by == other.divide_by
            && self.cumulative == other.cumulative
    }
}

/// Sort order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// Ascending.
    Asc,
    /// Descending.
    Desc,
}

/// One sort key: a dimension or a metric of the chart.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sort {
    /// The field.
    pub field: String,
    /// The order.
    pub order: Order,
    /// NULLs after every value, whatever the order (BigQuery puts them first ascending):
    /// products that sell nothing have no cover and go last.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub nulls_last: bool,
}

/// A fixed filter on the view's rows (fixed in the definition, never from a request).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// The view's column.
    pub field: String,
    /// Keep rows whose timestamp is within the last this many seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within_last_seconds: Option<u32>,
    /// Keep rows whose value is this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<String>,
    /// Keep rows whose number is at most this (the top five of a ranking).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_most: Option<i64>,
}

/// One chart.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chart {
    /// Its id, unique in its page.
    pub id: String,
    /// What it draws.
    pub kind: Kind,
    /// Its title.
    pub title: String,
    /// The view it reads (one of `bigquery/views/`).
    pub view: String,
    /// Grouping columns.
    #[serde(default)]
    pub dimensions: Vec<String>,
    /// Aggregated columns.
    pub metrics: Vec<Metric>,
    /// Sort keys, first first.
    #[serde(default)]
    pub sort: Vec<Sort>,
    /// Most rows shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// Fixed filters.
    #[serde(default)]
    pub filters: Vec<Filter>,
    /// The view's DATE column the page's date range filters (in the reporting time
    /// zone's days); none: the chart reads its view whatever the range (stock now,
    /// lifetime value, cohorts), and says so on its tile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// The page filters ([`FILTERS`]) this chart does not apply (its view has no such
    /// column); every other filter is a column of its view.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignores: Vec<String>,
}

fn default_range() -> Preset {
    Preset::Last28Days
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= 128
}

impl Report {
    /// The report's default file: `looker/report.json` beside the data model.
    pub fn default_file(model_dir: &Path) -> PathBuf {
        model_dir
            .parent()
            .map(|p| p.join("looker/report.json"))
            .unwrap_or_else(|| PathBuf::from("looker/report.json"))
    }

    /// Reads `file` and checks it against `model`.
    pub fn load(file: &Path, model: &DataModel) -> Result<Self> {
        let text = std::fs::read_to_string(file).map_err(|e| Error::model(file, format!("cannot be read: {e}")))?;
        Report::parse(file, &text, model)
    }

    /// Parses and checks a report definition (`file` names it in errors).
    pub fn parse(file: &Path, text: &str, model: &DataModel) -> Result<Self> {
        let mut report: Report =
            serde_json::from_str(text).map_err(|e| Error::model(file, format!("not a report definition: {e}")))?;
        report.file = file.to_path_buf();
        report.check(model)?;
        Ok(report)
    }

    fn check(&self, model: &DataModel) -> Result<()> {
        let fail = |at: String, what: String| Err(Error::model(&self.file, format!("{at}: {what}")));
        if self.pages.is_empty() {
            return fail("report".into(), "has no page".into());
        }
        for v in &self.data_sources {
            if model.view(v).is_none() {
                return fail(
                    "data_sources".into(),
                    format!("names view {v}, which is not in bigquery/views/"),
                );
            }
        }
        let mut page_ids = BTreeSet::new();
        for page in &self.pages {
            if !is_identifier(&page.id) || !page_ids.insert(&page.id) {
                return fail(format!("page {:?}", page.id), "ids are unique identifiers".into());
            }
            let mut chart_ids = BTreeSet::new();
            for c in &page.charts {
                let at = format!("page {}, chart {}", page.id, c.id);
                if !is_identifier(&c.id) || !chart_ids.insert(&c.id) {
                    return fail(at, "chart ids are unique identifiers within a page".into());
                }
                if model.view(&c.view).is_none() && model.table(&c.view).is_none() {
                    return fail(
                        at,
                        format!(
                            "reads view {}, which is not in bigquery/views/ nor a table of bigquery/schemas/",
                            c.view
                        ),
                    );
                }
                if let Some(t) = model.table(&c.view)
                    && t.options.require_partition_filter
                {
                    let field = t.options.time_partitioning.as_ref().map(|p| p.field.as_str());
                    if c.date.as_deref() != field || field.is_none() {
                        return fail(
                            at,
                            format!(
                                "reads table {}, which refuses a query without a filter on {}: set \"date\": {:?}",
                                c.view,
                                field.unwrap_or("its partitioning column"),
                                field.unwrap_or_default()
                            ),
                        );
                    }
                }
                for f in &c.ignores {
                    if !FILTERS.contains(&f.as_str()) {
                        return fail(
                            at,
                            format!("ignores {f:?}, which is not a page filter ({})", FILTERS.join(", ")),
                        );
                    }
                }
                for m in &c.metrics {
                    if m.name.as_deref().is_some_and(|n| !is_identifier(n)) {
                        return fail(at, format!("metric name {:?} is not an identifier", m.name()));
                    }
                    if m.cumulative && !(c.dimensions.len() == 1 && matches!(c.kind, Kind::TimeSeries | Kind::Bar)) {
                        return fail(
                            at,
                            "a cumulative metric needs a time series or bar chart of one dimension".into(),
                        );
                    }
                }
                let names: BTreeSet<&str> = c.metrics.iter().map(Metric::name).collect();
                if names.len() != c.metrics.len() {
                    return fail(at, "two metrics have one name: give one a \"name\"".into());
                }
                for f in c.fields() {
                    if !is_identifier(f) {
                        return fail(at, format!("{f:?} is not a column name"));
                    }
                }
                if let Err(why) = c.shape() {
                    return fail(at, why);
                }
                for s in &c.sort {
                    if !c.dimensions.contains(&s.field) && !c.metrics.iter().any(|m| m.name() == s.field) {
                        return fail(
                            at,
                            format!(
                                "sorts by {}, which is neither a dimension nor a metric of the chart",
                                s.field
                            ),
                        );
                    }
                }
                if c.limit.is_some_and(|l| l == 0 || l > MAX_LIMIT) {
                    return fail(at, format!("limit is 1 to {MAX_LIMIT}"));
                }
                for f in &c.filters {
                    let kinds = [f.within_last_seconds.is_some(), f.equals.is_some(), f.at_most.is_some()];
                    if kinds.into_iter().filter(|k| *k).count() != 1 {
                        return fail(
                            at,
                            format!(
                                "filter on {} needs exactly one of within_last_seconds, equals, at_most",
                                f.field
                            ),
                        );
                    }
                }
                let bands: Vec<Band> = c.metrics.iter().filter_map(|m| m.band).collect();
                if !bands.is_empty()
                    && (c.kind != Kind::TimeSeries
                        || bands.len() != 2
                        || !bands.contains(&Band::Lower)
                        || !bands.contains(&Band::Upper))
                {
                    return fail(at, "a band is one lower and one upper metric of a time series".into());
                }
            }
        }
        Ok(())
    }

    /// Checks every field of every chart against `columns` (view → its columns, as
    /// BigQuery reports them); the error names the chart, the field and the view.
    pub(crate) fn check_columns(&self, columns: &BTreeMap<String, BTreeSet<String>>) -> Result<()> {
        for page in &self.pages {
            for c in &page.charts {
                let Some(have) = columns.get(&c.view) else {
                    return Err(Error::model(
                        &self.file,
                        format!(
                            "page {}, chart {}: view {} was not found in the dataset",
                            page.id, c.id, c.view
                        ),
                    ));
                };
                for f in c.fields() {
                    if !have.contains(f) {
                        return Err(Error::model(
                            &self.file,
                            format!(
                                "page {}, chart {}: {f} is not a column of {} (it has: {})",
                                page.id,
                                c.id,
                                c.view,
                                have.iter().cloned().collect::<Vec<_>>().join(", ")
                            ),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Every view the report reads, sorted, each once.
    pub fn views(&self) -> Vec<String> {
        let set: BTreeSet<&String> = self.pages.iter().flat_map(|p| &p.charts).map(|c| &c.view).collect();
        set.into_iter().cloned().collect()
    }

    /// The page `id`.
    pub fn page(&self, id: &str) -> Option<&Page> {
        self.pages.iter().find(|p| p.id == id)
    }

    /// The views of the Looker Studio link: [`Report::data_sources`] first, then every
    /// other view the charts read, by name (Terraform's `local.looker_views`).
    pub fn looker_views(&self) -> Vec<String> {
        let mut out = self.data_sources.clone();
        for v in self.views() {
            if !out.contains(&v) {
                out.push(v);
            }
        }
        out
    }

    /// The Looker Studio Linking API URL that creates this report with every view of
    /// [`Report::looker_views`] as a BigQuery data source, each under the alias [`alias`];
    /// with a template report id, the template's data sources of those aliases are
    /// replaced.
    pub fn looker_url(&self, project: &str, dataset: &str, template: Option<&str>) -> String {
        let mut params: Vec<(String, String)> = vec![("c.mode".into(), "edit".into())];
        if let Some(t) = template {
            params.push(("c.reportId".into(), t.into()));
        }
        params.push(("r.reportName".into(), self.name.clone()));
        for view in self.looker_views() {
            let a = alias(&view);
            for (k, v) in [
                ("connector", "bigQuery".to_string()),
                ("type", "TABLE".to_string()),
                ("projectId", project.to_string()),
                ("datasetId", dataset.to_string()),
                ("tableId", view.clone()),
                ("datasourceName", format!("InstaShop {a}")),
            ] {
                params.push((format!("ds.{a}.{k}"), v));
            }
        }
        let query: String = params
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    crate::platform::rest::url_encode(k),
                    crate::platform::rest::url_encode(v)
                )
            })
            .collect::<Vec<_>>()
            .join("&");
        format!("{LOOKER_CREATE_URL}?{query}")
    }
}

/// What the dashboard runs for one chart: a query, and which of its metric columns
/// (`m0..`) are the chart's, in the chart's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// The request: SQL and parameters.
    pub job: QueryJob,
    /// For each metric of the chart, the index of its column among the query's metrics.
    pub metrics: Vec<usize>,
}

impl Page {
    /// The query behind `chart` for `selection` over `range`. Scorecards of one view
    /// with the same filters, date column and ignored filters share one query computing
    /// all their metrics (four scorecards on one view are one query, not four); every
    /// other chart has a query of its own ([`Chart::query`]).
    pub fn query_for(&self, chart: &Chart, project: &str, dataset: &str, selection: &Selection, range: Range) -> Query {
        if chart.kind != Kind::Scorecard {
            return Query {
                job: chart.query(project, dataset, selection, range),
                metrics: (0..chart.metrics.len()).collect(),
            };
        }
        let group = |c: &Chart| {
            (
                serde_json::to_string(&c.filters).unwrap_or_default(),
                c.view.clone(),
                c.date.clone(),
                c.ignores.clone(),
            )
        };
        let mut union: Vec<Metric> = Vec::new();
        for c in self
            .charts
            .iter()
            .filter(|c| c.kind == Kind::Scorecard && group(c) == group(chart))
        {
            for m in &c.metrics {
                if !union.iter().any(|u| u.same(m)) {
                    union.push(m.clone());
                }
            }
        }
        let metrics = chart
            .metrics
            .iter()
            .map(|m| {
                union
                    .iter()
                    .position(|u| u.same(m))
                    .expect("the chart is in its own group")
            })
            .collect();
        // Each metric of the shared query under a name of its own.
        let union = union
            .into_iter()
            .enumerate()
            .map(|(i, m)| Metric {
                name: Some(format!("u{i}")),
                ..m
            })
            .collect();
        let combined = Chart {
            metrics: union,
            sort: Vec::new(),
            limit: None,
            ..chart.clone()
        };
        Query {
            job: combined.query(project, dataset, selection, range),
            metrics,
        }
    }
}

impl Report {
    /// The Markdown tables of `looker/README.md`'s generated part: per page, each chart
    /// with its kind, view, dimensions, metrics (aggregation and format), sort and limit.
    #[cfg(test)]
    pub(crate) fn markdown_tables(&self) -> String {
        let mut out = String::new();
        for p in &self.pages {
            out.push_str(&format!(
                "### Page: {} (`/pages/{}`)\n\n{}",
                p.title, p.id, p.description
            ));
            if let Some(r) = p.refresh_seconds {
                out.push_str(&format!(" Refreshes every {r} s while shown."));
            }
            out.push_str(&format!(" Opens on `{}`", p.default_range.id()));
            if let Some(c) = p.default_compare {
                out.push_str(&format!(", compared with the `{}` period", spelling(&c)));
            }
            out.push('.');
            out.push_str(
                "\n\n| chart | kind | view | dimensions | metrics | sort, limit |\n|---|---|---|---|---|---|\n",
            );
            for c in &p.charts {
                let kind = spelling(&c.kind);
                let dims = if c.dimensions.is_empty() {
                    "-".to_string()
                } else {
                    c.dimensions
                        .iter()
                        .map(|d| format!("`{d}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let metrics = c
                    .metrics
                    .iter()
                    .map(|m| {
                        let agg = spelling(&m.agg);
                        let format = spelling(&m.format);
                        let mut e = format!("{agg}(`{}`)", m.field);
                        if let Some(d) = &m.divide_by {
                            e = format!("{e} / {}(`{}`)", spelling(&d.agg), d.field);
                        }
                        if m.cumulative {
                            e = format!("running total of {e}");
                        }
                        if let Some(b) = m.band {
                            e = format!("{e}, band's {}", spelling(&b));
                        }
                        let name = m.name.as_ref().map(|n| format!(" `{n}`")).unwrap_or_default();
                        format!("{e}{name} as {format}")
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                let mut sort: Vec<String> = c
                    .sort
                    .iter()
                    .map(|s| {
                        let nulls = if s.nulls_last { " nulls last" } else { "" };
                        format!(
                            "`{}` {}{nulls}",
                            s.field,
                            if s.order == Order::Asc { "asc" } else { "desc" }
                        )
                    })
                    .collect();
                if let Some(l) = c.limit {
                    sort.push(format!("{l} rows"));
                }
                for f in &c.filters {
                    match (&f.within_last_seconds, &f.equals) {
                        (Some(s), _) => sort.push(format!("`{}` in the last {s} s", f.field)),
                        (None, Some(v)) => sort.push(format!("`{}` = {v}", f.field)),
                        _ => {
                            if let Some(n) = f.at_most {
                                sort.push(format!("`{}` ≤ {n}", f.field));
                            }
                        }
                    }
                }
                match &c.date {
                    Some(d) => sort.push(format!("period on `{d}`")),
                    None => sort.push("all time".into()),
                }
                if c.ignores.len() == FILTERS.len() {
                    sort.push("no filters".into());
                } else if !c.ignores.is_empty() {
                    sort.push(format!("ignores {}", c.ignores.join(", ")));
                }
                out.push_str(&format!(
                    "| {} | {kind} | `{}` | {dims} | {metrics} | {} |\n",
                    c.title,
                    c.view,
                    if sort.is_empty() { "-".into() } else { sort.join(", ") }
                ));
            }
            out.push('\n');
        }
        out
    }
}

/// How the definition spells a kind, aggregation or format (`time_series`, `count_distinct`).
pub fn spelling<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => s,
        _ => String::new(),
    }
}

/// The data source alias of a view in the Looker Studio link: its name without `v_`.
pub(crate) fn alias(view: &str) -> &str {
    view.strip_prefix("v_").unwrap_or(view)
}

impl Chart {
    /// Every column the chart reads.
    pub fn fields(&self) -> Vec<&str> {
        self.dimensions
            .iter()
            .chain(self.metrics.iter().map(|m| &m.field))
            .chain(
                self.metrics
                    .iter()
                    .filter_map(|m| m.divide_by.as_ref().map(|d| &d.field)),
            )
            .chain(self.filters.iter().map(|f| &f.field))
            .chain(self.date.iter())
            .map(String::as_str)
            .chain(self.applied_filters())
            .collect()
    }

    /// The page filters this chart applies: [`FILTERS`] less what it ignores.
    pub(crate) fn applied_filters<'a>(&'a self) -> impl Iterator<Item = &'a str> + 'a {
        FILTERS
            .into_iter()
            .filter(move |f| !self.ignores.iter().any(|i| i == f))
            .map(|f| -> &'a str { f })
    }

    /// Whether the dimensions and metrics fit the kind.
    fn shape(&self) -> std::result::Result<(), String> {
        let (d, m) = (self.dimensions.len(), self.metrics.len());
        let ok = match self.kind {
            Kind::Scorecard => d == 0 && m >= 1,
            Kind::TimeSeries => (d == 1 || d == 2) && m >= 1,
            Kind::Bar => d == 1 && m >= 1,
            Kind::Geo | Kind::Pie => d == 1 && m == 1,
            Kind::StackedBar => (d == 1 && m >= 1) || (d == 2 && m == 1),
            Kind::Pivot => d == 2 && m == 1,
            Kind::Table => d + m >= 1,
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "a {:?} chart takes {}; this one has {d} dimensions and {m} metrics",
                self.kind,
                match self.kind {
                    Kind::Scorecard => "no dimension and one metric or more",
                    Kind::TimeSeries => "one dimension (and a breakdown) and one metric or more",
                    Kind::Bar => "one dimension and one metric or more",
                    Kind::Geo | Kind::Pie => "one dimension and one metric",
                    Kind::StackedBar => "one dimension and metrics, or two dimensions and one metric",
                    Kind::Pivot => "two dimensions (rows, columns) and one metric",
                    Kind::Table => "at least one dimension or metric",
                }
            ))
        }
    }

    /// The one query this chart implies over all time, with no page filter: the
    /// chart's [`Chart::query`] for no selection (what the unit tests read).
    #[cfg(test)]
    pub fn sql(&self, project: &str, dataset: &str) -> String {
        self.build(project, dataset, None).sql
    }

    /// The one query this chart implies for `selection` over the days of `range` (the
    /// selection's own, or the compared ones), on `project.dataset.view`. Columns come
    /// out as `d0..` (dimensions) and `m0..` (metrics), in the definition's order. The
    /// range filters the chart's [`Chart::date`] column and each filter it applies keeps
    /// its values (`IN UNNEST(@country)`); every value is a named query parameter, so
    /// nothing from a request is in the SQL text, and on a view over a date-partitioned
    /// table the range prunes partitions.
    pub fn query(&self, project: &str, dataset: &str, selection: &Selection, range: Range) -> QueryJob {
        self.build(project, dataset, Some((selection, range)))
    }

    fn aggregate(agg: Agg, f: &str) -> String {
        match agg {
            Agg::Sum => format!("SUM(`{f}`)"),
            Agg::Max => format!("MAX(`{f}`)"),
            Agg::Min => format!("MIN(`{f}`)"),
            Agg::Avg => format!("AVG(`{f}`)"),
            Agg::Count => format!("COUNT(`{f}`)"),
            Agg::CountDistinct => format!("COUNT(DISTINCT `{f}`)"),
        }
    }

    fn build(&self, project: &str, dataset: &str, selection: Option<(&Selection, Range)>) -> QueryJob {
        let mut select: Vec<String> = self
            .dimensions
            .iter()
            .enumerate()
            .map(|(i, d)| format!("`{d}` AS d{i}"))
            .collect();
        for (i, m) in self.metrics.iter().enumerate() {
            let mut e = Chart::aggregate(m.agg, &m.field);
            if let Some(d) = &m.divide_by {
                e = format!("SAFE_DIVIDE({e}, {})", Chart::aggregate(d.agg, &d.field));
            }
            if m.cumulative {
                // By the grouped column: BigQuery does not let a window's ORDER BY name a
                // select-list alias (d0), which the emulator takes.
                let d = &self.dimensions[0];
                e = format!("SUM({e}) OVER (ORDER BY `{d}` ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)");
            }
            select.push(format!("{e} AS m{i}"));
        }
        let mut sql = format!("SELECT {} FROM `{project}.{dataset}.{}`", select.join(", "), self.view);
        let mut filters: Vec<String> = self
            .filters
            .iter()
            .map(|f| match (&f.within_last_seconds, &f.equals) {
                (Some(s), _) => format!(
                    "`{}` >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL {s} SECOND)",
                    f.field
                ),
                (None, Some(v)) => format!("`{}` = '{}'", f.field, v.replace('\\', "\\\\").replace('\'', "\\'")),
                (None, None) => match f.at_most {
                    Some(n) => format!("`{}` <= {n}", f.field),
                    None => "TRUE".into(),
                },
            })
            .collect();
        let mut params = Vec::new();
        if let Some((sel, range)) = selection {
            if let Some(d) = &self.date {
                params.push(("to".to_string(), ParamValue::Date(range.to)));
                match range.from {
                    Some(from) => {
                        filters.push(format!("`{d}` BETWEEN @from AND @to"));
                        params.insert(0, ("from".to_string(), ParamValue::Date(from)));
                    }
                    None => filters.push(format!("`{d}` <= @to")),
                }
            }
            for f in self.applied_filters() {
                if let Some(values) = sel.filters.get(f) {
                    filters.push(format!("`{f}` IN UNNEST(@{f})"));
                    params.push((f.to_string(), ParamValue::Strings(values.clone())));
                }
            }
        }
        if !filters.is_empty() {
            sql.push_str(&format!(" WHERE {}", filters.join(" AND ")));
        }
        if !self.dimensions.is_empty() {
            let groups: Vec<String> = (0..self.dimensions.len()).map(|i| format!("d{i}")).collect();
            sql.push_str(&format!(" GROUP BY {}", groups.join(", ")));
        }
        let order: Vec<String> = self
            .sort
            .iter()
            .filter_map(|s| {
                let col = match self.dimensions.iter().position(|d| *d == s.field) {
                    Some(i) => format!("d{i}"),
                    None => format!("m{}", self.metrics.iter().position(|m| m.name() == s.field)?),
                };
                let nulls = if s.nulls_last { " NULLS LAST" } else { "" };
                Some(format!(
                    "{col} {}{nulls}",
                    if s.order == Order::Asc { "ASC" } else { "DESC" }
                ))
            })
            .collect();
        if !order.is_empty() {
            sql.push_str(&format!(" ORDER BY {}", order.join(", ")));
        }
        if let Some(l) = self.limit {
            sql.push_str(&format!(" LIMIT {l}"));
        }
        QueryJob {
            sql,
            params,
            max_bytes_billed: None,
        }
    }
}

/// Thousands separated, `dp` decimals (rounded half away from zero).
fn grouped(d: Decimal, dp: u32) -> String {
    let d = d.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero);
    let text = format!("{:.*}", dp as usize, d.abs());
    let (int, frac) = text
        .split_once('.')
        .map_or((text.as_str(), None), |(i, f)| (i, Some(f)));
    let mut out = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if let Some(f) = frac {
        out.push('.');
        out.push_str(f);
    }
    if d.is_sign_negative() && !d.is_zero() {
        out.insert(0, '-');
    }
    out
}

impl Format {
    /// The value as it reads on a page; `None` (SQL NULL) reads `–`. A value that does
    /// not parse as its format is shown as it came.
    pub fn apply(self, raw: Option<&str>) -> String {
        let Some(raw) = raw else {
            return "–".into();
        };
        let number = || raw.parse::<Decimal>().or_else(|_| Decimal::from_scientific(raw));
        match self {
            Format::Money | Format::Decimal => number().map(|d| grouped(d, 2)).unwrap_or_else(|_| raw.into()),
            Format::Count => number().map(|d| grouped(d, 0)).unwrap_or_else(|_| raw.into()),
            Format::Percent => number()
                .map(|d| format!("{}%", grouped(d, 2)))
                .unwrap_or_else(|_| raw.into()),
            Format::Date => raw.get(..10).unwrap_or(raw).into(),
            Format::Datetime => crate::platform::gcp::timestamp(raw)
                .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                .unwrap_or_else(|| raw.into()),
            Format::Text => raw.into(),
        }
    }

    /// The value as a CSV download holds it: what the page shows, as plain data. Money
    /// and decimals with two decimals and no separators (`1234.50`), counts whole,
    /// percents as their number (`12.35`), dates `YYYY-MM-DD`, moments RFC 3339 UTC;
    /// NULL is empty.
    pub fn plain(self, raw: Option<&str>) -> String {
        let Some(raw) = raw else {
            return String::new();
        };
        let number = || raw.parse::<Decimal>().or_else(|_| Decimal::from_scientific(raw));
        let fixed = |dp: u32| {
            number()
                .map(|d| {
                    let d = d.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero);
                    format!("{:.*}", dp as usize, d)
                })
                .unwrap_or_else(|_| raw.into())
        };
        match self {
            Format::Money | Format::Decimal | Format::Percent => fixed(2),
            Format::Count => fixed(0),
            Format::Date => raw.get(..10).unwrap_or(raw).into(),
            Format::Datetime => crate::platform::gcp::timestamp(raw)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
                .unwrap_or_else(|| raw.into()),
            Format::Text => raw.into(),
        }
    }

    /// Whether values of this format are numbers (drawn by magnitude).
    pub(crate) fn is_numeric(self) -> bool {
        matches!(self, Format::Money | Format::Count | Format::Percent | Format::Decimal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> DataModel {
        DataModel::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("bigquery")).unwrap()
    }

    fn file() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("looker/report.json")
    }

    fn with_chart(chart: &str) -> String {
        format!(r#"{{"name": "R", "pages": [{{"id": "p", "title": "P", "charts": [{chart}]}}]}}"#)
    }

    #[test]
    fn the_report_of_the_repository_loads_with_four_pages() {
        let r = Report::load(&file(), &model()).unwrap();
        let ids: Vec<&str> = r.pages.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["batch", "streaming", "instashop", "inventory"]);
        assert!(r.views().contains(&"sales_facts".to_string()));
        assert_eq!(r.page("instashop").unwrap().default_compare, Some(Compare::Previous));
        assert_eq!(r.page("streaming").unwrap().default_range, Preset::Today);
        assert_eq!(r.page("streaming").unwrap().refresh_seconds, Some(5));
    }

    #[test]
    fn a_view_that_does_not_exist_is_refused_with_its_chart_and_file() {
        let text = with_chart(
            r#"{"id": "c", "kind": "scorecard", "title": "T", "view": "v_nope",
                "metrics": [{"field": "revenue", "agg": "sum", "format": "money"}]}"#,
        );
        let err = Report::parse(Path::new("looker/report.json"), &text, &model())
            .unwrap_err()
            .to_string();
        assert!(err.contains("looker/report.json"), "{err}");
        assert!(err.contains("page p, chart c: reads view v_nope"), "{err}");
    }

    #[test]
    fn a_field_that_is_not_a_column_is_refused_with_its_name() {
        let r = Report::load(&file(), &model()).unwrap();
        let mut columns: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for page in &r.pages {
            for c in &page.charts {
                columns
                    .entry(c.view.clone())
                    .or_default()
                    .extend(c.fields().into_iter().map(str::to_string));
            }
        }
        r.check_columns(&columns).unwrap();
        columns.get_mut("sales_facts").unwrap().remove("completed_order_id");
        let err = r.check_columns(&columns).unwrap_err().to_string();
        assert!(
            err.contains("page batch, chart total_orders: completed_order_id is not a column of sales_facts"),
            "{err}"
        );
        // A filter the chart applies is a column it needs.
        columns
            .get_mut("sales_facts")
            .unwrap()
            .insert("completed_order_id".into());
        columns.get_mut("sales_facts").unwrap().remove("plan");
        let err = r.check_columns(&columns).unwrap_err().to_string();
        assert!(err.contains("plan is not a column of sales_facts"), "{err}");
    }

    #[test]
    fn shapes_sorts_limits_and_filters_are_checked() {
        for (chart, want) in [
            (
                r#"{"id": "c", "kind": "pivot", "title": "T", "view": "v_cohort_retention", "dimensions": ["cohort_month"],
                    "metrics": [{"field": "retention_pct", "agg": "max", "format": "percent"}]}"#,
                "two dimensions (rows, columns) and one metric",
            ),
            (
                r#"{"id": "c", "kind": "bar", "title": "T", "view": "v_revenue_by_category", "dimensions": ["category"],
                    "metrics": [{"field": "revenue", "agg": "sum", "format": "money"}], "sort": [{"field": "rank", "order": "asc"}]}"#,
                "sorts by rank",
            ),
            (
                r#"{"id": "c", "kind": "table", "title": "T", "view": "v_top_products", "dimensions": ["product_name"],
                    "metrics": [], "limit": 0}"#,
                "limit is 1 to",
            ),
            (
                r#"{"id": "c", "kind": "scorecard", "title": "T", "view": "v_kpi_overview",
                    "metrics": [{"field": "revenue; DROP TABLE x", "agg": "sum", "format": "money"}]}"#,
                "is not a column name",
            ),
            (
                r#"{"id": "c", "kind": "scorecard", "title": "T", "view": "v_kpi_overview",
                    "metrics": [{"field": "revenue", "agg": "median", "format": "money"}]}"#,
                "unknown variant `median`",
            ),
            (
                r#"{"id": "c", "kind": "scorecard", "title": "T", "view": "sales_facts",
                    "metrics": [{"field": "revenue", "agg": "sum", "format": "money"}]}"#,
                "reads table sales_facts, which refuses a query without a filter on sale_date",
            ),
            (
                r#"{"id": "c", "kind": "scorecard", "title": "T", "view": "v_kpi_overview", "ignores": ["city"],
                    "metrics": [{"field": "revenue", "agg": "sum", "format": "money"}]}"#,
                "ignores \"city\", which is not a page filter",
            ),
        ] {
            let err = Report::parse(Path::new("r.json"), &with_chart(chart), &model())
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{want}: {err}");
        }
    }

    fn selection(pairs: &[(&str, &str)]) -> Selection {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Selection::parse(&pairs, Preset::Last28Days, None, "2026-12-02".parse().unwrap()).unwrap()
    }

    #[test]
    fn a_chart_implies_one_select_on_its_view() {
        let r = Report::load(&file(), &model()).unwrap();
        let charts = &r.page("streaming").unwrap().charts;
        let c = charts.iter().find(|c| c.id == "sales_last_minute").unwrap();
        assert_eq!(
            c.sql("p", "d"),
            "SELECT COUNT(`event_id`) AS m0 FROM `p.d.v_streaming_recent` \
             WHERE `event_ts` >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL 60 SECOND)"
        );
        let c = r
            .page("batch")
            .unwrap()
            .charts
            .iter()
            .find(|c| c.id == "revenue_by_client")
            .unwrap();
        assert_eq!(
            c.sql("p", "d"),
            "SELECT `customer_id` AS d0, `customer_name` AS d1, `country` AS d2, `category` AS d3, \
             SUM(`revenue`) AS m0, COUNT(DISTINCT `completed_order_id`) AS m1 FROM `p.d.sales_facts` \
             GROUP BY d0, d1, d2, d3 ORDER BY m0 DESC, d0 ASC, d3 ASC LIMIT 50"
        );
        let quoted = Chart {
            filters: vec![Filter {
                field: "source".into(),
                within_last_seconds: None,
                equals: Some("it's \\".into()),
                at_most: None,
            }],
            ..c.clone()
        };
        assert!(quoted.sql("p", "d").contains(r"WHERE `source` = 'it\'s \\'"));
    }

    #[test]
    fn the_inventory_page_puts_no_cover_last_and_draws_the_top_five_with_a_band() {
        let r = Report::load(&file(), &model()).unwrap();
        let page = r.page("inventory").unwrap();
        let chart = |id: &str| page.charts.iter().find(|c| c.id == id).unwrap();
        let risk = chart("at_risk").sql("p", "d");
        assert!(risk.ends_with("ORDER BY m0 ASC NULLS LAST, d0 ASC LIMIT 25"), "{risk}");
        let forecast = chart("demand_forecast");
        let sql = forecast.sql("p", "d");
        assert!(
            sql.contains("FROM `p.d.v_demand_forecast` WHERE `demand_rank` <= 5 GROUP BY d0, d1"),
            "{sql}"
        );
        let bands: Vec<Option<Band>> = forecast.metrics.iter().map(|m| m.band).collect();
        assert_eq!(bands, [None, None, Some(Band::Lower), Some(Band::Upper)]);
        // A band belongs to a time series, with both its edges.
        let text = with_chart(
            r#"{"id": "c", "kind": "bar", "title": "T", "view": "v_demand_forecast", "dimensions": ["day"],
                "metrics": [{"field": "forecast_lower", "agg": "sum", "format": "decimal", "band": "lower"},
                            {"field": "forecast_upper", "agg": "sum", "format": "decimal", "band": "upper"}]}"#,
        );
        let err = Report::parse(Path::new("r.json"), &text, &model())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("a band is one lower and one upper metric of a time series"),
            "{err}"
        );
        let text = with_chart(
            r#"{"id": "c", "kind": "time_series", "title": "T", "view": "v_demand_forecast", "dimensions": ["day"],
                "metrics": [{"field": "forecast_lower", "agg": "sum", "format": "decimal", "band": "lower"}]}"#,
        );
        let err = Report::parse(Path::new("r.json"), &text, &model())
            .unwrap_err()
            .to_string();
        assert!(err.contains("a band is one lower and one upper metric"), "{err}");
    }

    #[test]
    fn a_period_and_filters_reach_bigquery_as_parameters_only() {
        let r = Report::load(&file(), &model()).unwrap();
        let batch = r.page("batch").unwrap();
        let chart = batch.charts.iter().find(|c| c.id == "revenue_by_category").unwrap();
        let hostile = "' OR 1=1 --";
        let accents = "O'Brien \"Ñandú\"";
        let sel = selection(&[
            ("from", "2026-11-01"),
            ("to", "2026-11-30"),
            ("country", hostile),
            ("country", accents),
            ("plan", "Premium"),
        ]);
        let q = batch.query_for(chart, "p", "d", &sel, sel.range);
        assert_eq!(
            q.job.sql,
            "SELECT `category` AS d0, SUM(`revenue`) AS m0 FROM `p.d.sales_facts` \
             WHERE `sale_date` BETWEEN @from AND @to AND `country` IN UNNEST(@country) AND `plan` IN UNNEST(@plan) \
             GROUP BY d0 ORDER BY m0 DESC LIMIT 20"
        );
        assert!(!q.job.sql.contains("1=1") && !q.job.sql.contains("Ñandú"));
        assert_eq!(
            q.job.params,
            vec![
                ("from".to_string(), ParamValue::Date("2026-11-01".parse().unwrap())),
                ("to".to_string(), ParamValue::Date("2026-11-30".parse().unwrap())),
                (
                    "country".to_string(),
                    ParamValue::Strings(vec![hostile.into(), accents.into()])
                ),
                ("plan".to_string(), ParamValue::Strings(vec!["Premium".into()])),
            ]
        );
        // The request body carries them as named parameters, typed.
        let body = q.job.request(std::time::Duration::from_secs(5), None);
        assert_eq!(body["parameterMode"], "NAMED");
        assert_eq!(
            body["queryParameters"][2]["parameterType"]["arrayType"]["type"],
            "STRING"
        );
        assert_eq!(
            body["queryParameters"][2]["parameterValue"]["arrayValues"][0]["value"],
            hostile
        );
        assert_eq!(body["queryParameters"][0]["parameterType"]["type"], "DATE");
        let capped = QueryJob {
            max_bytes_billed: Some(crate::platform::settings::DEFAULT_MAX_BYTES_BILLED),
            ..q.job.clone()
        };
        let body = capped.request(std::time::Duration::from_secs(5), None);
        assert_eq!(
            body["maximumBytesBilled"], "21474836480",
            "an int64 travels as a string"
        );
        // A range with no first day reads up to its last; a chart that ignores a filter
        // or the period does not apply it.
        let open = selection(&[("to", "2026-11-30"), ("source", "batch")]);
        let q = batch.query_for(chart, "p", "d", &open, open.range);
        assert!(
            q.job
                .sql
                .contains("WHERE `sale_date` <= @to AND `source` IN UNNEST(@source)"),
            "{}",
            q.job.sql
        );
        let insta = r.page("instashop").unwrap();
        let stock = insta.charts.iter().find(|c| c.id == "inventory_status").unwrap();
        let q = insta.query_for(stock, "p", "d", &sel, sel.range);
        assert!(q.job.params.is_empty() && !q.job.sql.contains('@'), "{}", q.job.sql);
        let ltv = insta.charts.iter().find(|c| c.id == "lifetime_value").unwrap();
        let q = insta.query_for(ltv, "p", "d", &sel, sel.range);
        assert!(
            q.job
                .sql
                .contains("WHERE `country` IN UNNEST(@country) AND `plan` IN UNNEST(@plan)"),
            "{}",
            q.job.sql
        );
        assert!(!q.job.sql.contains("@from"), "lifetime value ignores the period");
    }

    #[test]
    fn ratios_and_running_totals_are_computed_in_the_query() {
        let r = Report::load(&file(), &model()).unwrap();
        let batch = r.page("batch").unwrap();
        let sel = selection(&[("from", "2026-11-01"), ("to", "2026-11-30")]);
        let over = batch.charts.iter().find(|c| c.id == "revenue_over_time").unwrap();
        let q = batch.query_for(over, "p", "d", &sel, sel.range);
        assert!(
            q.job.sql.contains(
                "SUM(SUM(`revenue`)) OVER (ORDER BY `sale_date` ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS m1"
            ),
            "{}",
            q.job.sql
        );
        let aov = batch.charts.iter().find(|c| c.id == "average_order_value").unwrap();
        let q = batch.query_for(aov, "p", "d", &sel, sel.range);
        assert!(
            q.job
                .sql
                .contains("SAFE_DIVIDE(SUM(`revenue`), COUNT(DISTINCT `completed_order_id`))"),
            "{}",
            q.job.sql
        );
    }

    /// looker/README.md explains the report; its tables of charts are generated from the
    /// definition, so the two never disagree. `UPDATE_LOOKER=1` rewrites them.
    #[test]
    fn the_looker_readme_tables_are_generated_from_the_definition() {
        const MARK: &str = "<!-- generated from report.json";
        let r = Report::load(&file(), &model()).unwrap();
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("looker/README.md");
        let text = std::fs::read_to_string(&path).unwrap();
        let at = text.find(MARK).expect("the README has its generated part");
        let head_end = at + text[at..].find('\n').unwrap() + 1;
        let want = format!("{}\n{}", &text[..head_end], r.markdown_tables());
        if std::env::var_os("UPDATE_LOOKER").is_some() {
            std::fs::write(&path, &want).unwrap();
        }
        let have = std::fs::read_to_string(&path).unwrap();
        assert!(
            have == want,
            "looker/README.md's tables are stale: run `UPDATE_LOOKER=1 cargo test --lib report`"
        );
        for p in &r.pages {
            for c in &p.charts {
                assert!(have.contains(&format!("| {} |", c.title)), "{}", c.title);
            }
        }
    }

    #[test]
    fn scorecards_of_one_view_share_one_query() {
        let r = Report::load(&file(), &model()).unwrap();
        let batch = r.page("batch").unwrap();
        let sel = selection(&[("from", "2026-11-01"), ("to", "2026-11-30")]);
        let queries: Vec<Query> = batch
            .charts
            .iter()
            .filter(|c| c.kind == Kind::Scorecard)
            .map(|c| batch.query_for(c, "p", "d", &sel, sel.range))
            .collect();
        assert_eq!(queries.len(), 6);
        assert!(queries.iter().all(|q| q.job == queries[0].job), "{queries:?}");
        assert_eq!(
            queries[0].job.sql,
            "SELECT SUM(`revenue`) AS m0, COUNT(DISTINCT `completed_order_id`) AS m1, \
             COUNT(DISTINCT `completed_customer_id`) AS m2, \
             SAFE_DIVIDE(SUM(`revenue`), COUNT(DISTINCT `completed_order_id`)) AS m3, \
             SUM(`failed_amount`) AS m4, SUM(`refunded_amount`) AS m5 FROM `p.d.sales_facts` \
             WHERE `sale_date` BETWEEN @from AND @to"
        );
        let metrics: Vec<Vec<usize>> = queries.iter().map(|q| q.metrics.clone()).collect();
        assert_eq!(metrics, [vec![0], vec![1], vec![2], vec![3], vec![4], vec![5]]);
        // A filter makes another group; a chart that is not a scorecard keeps its own query.
        let streaming = r.page("streaming").unwrap();
        let by_id = |id: &str| streaming.charts.iter().find(|c| c.id == id).unwrap();
        let q = |id: &str| streaming.query_for(by_id(id), "p", "d", &sel, sel.range).job;
        assert_ne!(q("sales_last_minute"), q("streaming_sales"));
        assert_eq!(q("streaming_sales"), q("newest_sale"));
        let table = by_id("batch_against_streaming");
        assert_eq!(q("batch_against_streaming"), table.query("p", "d", &sel, sel.range));
    }

    #[test]
    fn numbers_read_by_the_documented_rules() {
        assert_eq!(Format::Money.apply(Some("30233626.820000000")), "30,233,626.82");
        assert_eq!(Format::Money.apply(Some("0.005")), "0.01");
        assert_eq!(Format::Money.apply(Some("-1234.5")), "-1,234.50");
        assert_eq!(Format::Money.apply(Some("999")), "999.00");
        assert_eq!(Format::Count.apply(Some("1234567")), "1,234,567");
        assert_eq!(Format::Count.apply(Some("12")), "12");
        assert_eq!(Format::Percent.apply(Some("12.345")), "12.35%");
        assert_eq!(Format::Percent.apply(None), "–");
        assert_eq!(Format::Date.apply(Some("2026-11-22")), "2026-11-22");
        assert_eq!(
            Format::Datetime.apply(Some("1.7953850428E9")),
            "2026-11-22 22:04:02 UTC"
        );
        assert_eq!(
            Format::Datetime.apply(Some("1795385042800000")),
            "2026-11-22 22:04:02 UTC"
        );
        assert_eq!(
            Format::Datetime.apply(Some("2026-11-22T22:04:02Z")),
            "2026-11-22 22:04:02 UTC"
        );
        assert_eq!(Format::Text.apply(Some("Chile")), "Chile");
    }

    #[test]
    fn the_looker_link_carries_every_view_under_its_alias_encoded() {
        let r = Report::load(&file(), &model()).unwrap();
        let link = r.looker_url("my-project", "data_ecommerce_demo", Some("abc-123"));
        let (base, query) = link.split_once('?').unwrap();
        assert_eq!(base, LOOKER_CREATE_URL);
        let params: BTreeMap<String, String> = query
            .split('&')
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                let decode = |s: &str| {
                    percent_encoding::percent_decode_str(&s.replace('+', " "))
                        .decode_utf8()
                        .unwrap()
                        .to_string()
                };
                (decode(k), decode(v))
            })
            .collect();
        assert_eq!(params["c.reportId"], "abc-123");
        assert_eq!(params["r.reportName"], "InstaShop Analytics");
        assert!(query.contains("r.reportName=InstaShop+Analytics"), "{query}");
        assert_eq!(r.looker_views()[0], "v_fact_sales_all", "the unified view comes first");
        assert!(
            query.contains("&ds.fact_sales_all.connector=bigQuery&"),
            "under the alias fact_sales_all: {query}"
        );
        let first_ds = query.find("&ds.").unwrap();
        assert!(query[first_ds..].starts_with("&ds.fact_sales_all."), "{query}");
        for view in r.looker_views() {
            let a = alias(&view);
            assert_eq!(params[&format!("ds.{a}.connector")], "bigQuery");
            assert_eq!(params[&format!("ds.{a}.type")], "TABLE");
            assert_eq!(params[&format!("ds.{a}.projectId")], "my-project");
            assert_eq!(params[&format!("ds.{a}.datasetId")], "data_ecommerce_demo");
            assert_eq!(params[&format!("ds.{a}.tableId")], view);
        }
        assert_eq!(params.len(), 3 + 6 * r.looker_views().len());
        assert_eq!(crate::platform::rest::url_encode("a b/c~d*"), "a+b%2Fc~d%2A");
    }
}
