//! `alerts`: the InstaShop alerts as signals. The alert views of `bigquery/views`
//! (`v_alert_critical_stock`, `v_alert_failed_payments`, `v_alert_revenue_anomaly`,
//! `v_alert_stockout_risk`) each
//! give one row per alert while it lasts, keyed by `alert_key`. An evaluation runs their
//! SQL with this run's [`Thresholds`](crate::model::Thresholds) (the views' templates, so the thresholds are the
//! only difference from the views), compares the alerts with the open ones
//! (`v_alerts_open`: the latest `alert_log` entry per key is `firing`) and
//! ([`plan`]):
//!
//! - publishes each new alert once to the alerts topic as a [`Notification`] (state
//!   `firing`), then records it in `alert_log`;
//! - publishes and records `resolved` for each open alert that is no longer in the views,
//!   so the same alert can fire again later;
//! - leaves alone the alerts still open.
//!
//! A run killed between a publish and its record publishes that alert again next time:
//! the topic is at-least-once, like every Pub/Sub topic, and a consumer that must not
//! notify twice keeps the last `(alert_key, state)` it saw.
//!
//! # The notification (JSON, one per message)
//! `{"schema": "instashop.alert.v1", "state": "firing" | "resolved", "alert_key",
//! "kind", "subject", "value", "threshold" (decimal strings, or null when resolved),
//! "window_start", "window_end" (RFC 3339, or null), "detail", "evaluated_at",
//! "run_id"}`; the attributes `alert_key`, `kind` and `state` repeat it for
//! subscription filters.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use google_cloud_pubsub::model::Message;
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Value, json};

use crate::model::DataModel;
use crate::platform::error::{Error, Result, Status};
use crate::platform::gcp::{BIGQUERY, BigQuery, Gcp, PUBSUB, QueryRows};

/// The alert views, one per kind.
pub(crate) const ALERT_VIEWS: [&str; 4] = [
    "v_alert_critical_stock",
    "v_alert_failed_payments",
    "v_alert_revenue_anomaly",
    "v_alert_stockout_risk",
];
/// The table of what was notified.
pub(crate) const LOG_TABLE: &str = "alert_log";
/// The view of the alerts notified and not resolved.
pub(crate) const OPEN_VIEW: &str = "v_alerts_open";
/// The `schema` field of every notification.
pub(crate) const NOTIFICATION_SCHEMA: &str = "instashop.alert.v1";
const QUERY_TIMEOUT: Duration = Duration::from_secs(120);

/// One alert, as the alert views give it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// One per alert while it lasts: `kind/subject`.
    pub alert_key: String,
    /// `critical_stock`, `failed_payments`, `revenue_anomaly`, `stockout_risk`.
    pub kind: String,
    /// A product id, `all`, `high` or `low`.
    pub subject: String,
    /// The measured value.
    pub value: Option<Decimal>,
    /// The threshold it reached.
    pub threshold: Option<Decimal>,
    /// Start of the measured window.
    pub window_start: Option<DateTime<Utc>>,
    /// End of the measured window.
    pub window_end: Option<DateTime<Utc>>,
    /// The alert in words.
    pub detail: Option<String>,
}

/// `firing` or `resolved`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum State {
    /// The alert started.
    Firing,
    /// It is no longer in the alert views.
    Resolved,
}

impl State {
    /// As stored and published.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Firing => "firing",
            State::Resolved => "resolved",
        }
    }
}

/// What one evaluation must notify: each new alert, then each open alert that ended.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// New alerts (not open): notify `firing`.
    pub fire: Vec<Alert>,
    /// Open alerts no longer current: notify `resolved`.
    pub resolve: Vec<Alert>,
    /// Alerts current and already open: nothing to do.
    pub still_open: usize,
}

/// Compares the current alerts with the open ones (pure).
pub fn plan(current: Vec<Alert>, open: Vec<Alert>) -> Plan {
    let open_keys: BTreeSet<&str> = open.iter().map(|a| a.alert_key.as_str()).collect();
    let current_keys: BTreeSet<String> = current.iter().map(|a| a.alert_key.clone()).collect();
    let mut seen = BTreeSet::new();
    let mut p = Plan::default();
    for a in current {
        if !seen.insert(a.alert_key.clone()) {
            continue; // one alert per key, whatever a view returns
        }
        if open_keys.contains(a.alert_key.as_str()) {
            p.still_open += 1;
        } else {
            p.fire.push(a);
        }
    }
    p.resolve = open
        .into_iter()
        .filter(|a| !current_keys.contains(&a.alert_key))
        .collect();
    p
}

/// The JSON published on the alerts topic (see the module doc).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct Notification {
    /// Always [`NOTIFICATION_SCHEMA`].
    pub schema: &'static str,
    /// Firing or resolved.
    pub state: State,
    /// The alert's key.
    pub alert_key: String,
    /// Its kind.
    pub kind: String,
    /// Its subject.
    pub subject: String,
    /// Measured value, exact decimal text (null when resolved).
    pub value: Option<String>,
    /// Threshold, exact decimal text (null when resolved).
    pub threshold: Option<String>,
    /// RFC 3339.
    pub window_start: Option<String>,
    /// RFC 3339.
    pub window_end: Option<String>,
    /// In words.
    pub detail: Option<String>,
    /// When this evaluation ran, RFC 3339.
    pub evaluated_at: String,
    /// This evaluation.
    pub run_id: String,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

impl Notification {
    /// The notification of `alert` entering `state`.
    pub fn new(alert: &Alert, state: State, evaluated_at: DateTime<Utc>, run_id: &str) -> Self {
        let firing = state == State::Firing;
        Notification {
            schema: NOTIFICATION_SCHEMA,
            state,
            alert_key: alert.alert_key.clone(),
            kind: alert.kind.clone(),
            subject: alert.subject.clone(),
            value: alert.value.filter(|_| firing).map(|d| d.to_string()),
            threshold: alert.threshold.filter(|_| firing).map(|d| d.to_string()),
            window_start: alert.window_start.filter(|_| firing).map(rfc3339),
            window_end: alert.window_end.filter(|_| firing).map(rfc3339),
            detail: if firing {
                alert.detail.clone()
            } else {
                Some(format!("{} is no longer alerting", alert.alert_key))
            },
            evaluated_at: rfc3339(evaluated_at),
            run_id: run_id.to_string(),
        }
    }

    /// The `alert_log` row of this notification.
    fn log_row(&self, message_id: Option<&str>) -> Value {
        json!({
            "alert_key": self.alert_key,
            "kind": self.kind,
            "subject": self.subject,
            "state": self.state.as_str(),
            "value": self.value,
            "threshold": self.threshold,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "detail": self.detail,
            "evaluated_at": self.evaluated_at,
            "message_id": message_id,
            "run_id": self.run_id,
            "source": "alerts",
        })
    }
}

/// One evaluation's settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// Dataset of the views and `alert_log`.
    pub dataset: String,
    /// The alerts topic.
    pub topic: String,
    /// The thresholds, and the reporting time zone of the views' days (provision's).
    pub vars: crate::model::ViewVars,
    /// Evaluate and report; publish and record nothing.
    pub dry_run: bool,
    /// The most bytes one evaluation query may bill (`maximumBytesBilled`); none: no cap.
    pub max_bytes_billed: Option<u64>,
}

/// Runs `sql` with the evaluation's cap on bytes billed.
async fn capped(bq: &BigQuery, project: &str, sql: String, opts: &Options) -> Result<crate::platform::gcp::QueryRows> {
    let job = crate::platform::gcp::QueryJob {
        sql,
        params: Vec::new(),
        max_bytes_billed: opts.max_bytes_billed,
    };
    bq.query_job(project, &job, QUERY_TIMEOUT).await
}

/// What one evaluation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Alerts notified as firing (or that would be, in a dry run), by key.
    pub fired: Vec<String>,
    /// Alerts notified as resolved, by key.
    pub resolved: Vec<String>,
    /// Alerts still open, already notified.
    pub still_open: usize,
    /// Whether nothing was published or recorded.
    pub dry_run: bool,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = |v: &[String]| {
            if v.is_empty() {
                String::new()
            } else {
                format!(" ({})", v.join(", "))
            }
        };
        write!(
            f,
            "{}{} new alert{}{}, {} resolved{}, {} still open",
            if self.dry_run {
                "dry run, nothing published: "
            } else {
                ""
            },
            self.fired.len(),
            if self.fired.len() == 1 { "" } else { "s" },
            keys(&self.fired),
            self.resolved.len(),
            keys(&self.resolved),
            self.still_open
        )
    }
}

/// A measure as `alert_log` stores it: NUMERIC, so at most 9 decimals. A NUMERIC cell
/// already has at most 9, and rounding leaves it as it is; the BigQuery emulator answers
/// `SQRT(NUMERIC)` as a FLOAT64 (BigQuery answers NUMERIC), so the anomaly's threshold
/// can come with float digits (`402422.41000000003`), which a NUMERIC column refuses.
fn decimal(cell: &Option<String>) -> Option<Decimal> {
    cell.as_deref()
        .and_then(|s| Decimal::from_str(s).or_else(|_| Decimal::from_scientific(s)).ok())
        .map(|d| {
            d.round_dp_with_strategy(
                crate::model::NUMERIC_SCALE,
                rust_decimal::RoundingStrategy::MidpointAwayFromZero,
            )
            .normalize()
        })
}

fn micros(cell: &Option<String>) -> Option<DateTime<Utc>> {
    cell.as_deref().and_then(crate::platform::gcp::timestamp)
}

/// The alerts of a query's rows, read by column name.
fn alerts_of(rows: QueryRows, what: &str) -> Result<Vec<Alert>> {
    let col = |name: &str| {
        rows.names.iter().position(|n| n == name).ok_or_else(|| {
            Error::remote(
                BIGQUERY,
                "read alerts",
                what,
                Status::Other,
                format!("the answer has no column {name}"),
            )
        })
    };
    let [key, kind, subject, value, threshold, start, end, detail] = [
        col("alert_key")?,
        col("kind")?,
        col("subject")?,
        col("value")?,
        col("threshold")?,
        col("window_start")?,
        col("window_end")?,
        col("detail")?,
    ];
    Ok(rows
        .rows
        .iter()
        .map(|r| {
            let text = |i: usize| r.get(i).cloned().flatten().unwrap_or_default();
            Alert {
                alert_key: text(key),
                kind: text(kind),
                subject: text(subject),
                value: decimal(&r[value]),
                threshold: decimal(&r[threshold]),
                window_start: micros(&r[start]),
                window_end: micros(&r[end]),
                detail: r[detail].clone(),
            }
        })
        .collect())
}

/// The current alerts, from the alert views' SQL at `thresholds`.
pub(crate) async fn current(bq: &BigQuery, project: &str, model: &DataModel, opts: &Options) -> Result<Vec<Alert>> {
    let mut all = Vec::new();
    for name in ALERT_VIEWS {
        let view = model.view(name).ok_or_else(|| {
            Error::model(
                DataModel::default_dir().join("views"),
                format!("has no {name}.sql, which the alerts evaluate"),
            )
        })?;
        let sql = crate::model::render_with(&view.template, project, &opts.dataset, &opts.vars);
        all.extend(alerts_of(capped(bq, project, sql, opts).await?, name)?);
    }
    all.sort_by(|a, b| a.alert_key.cmp(&b.alert_key));
    Ok(all)
}

/// The alerts notified and not resolved.
pub async fn open(bq: &BigQuery, project: &str, opts: &Options) -> Result<Vec<Alert>> {
    let dataset = &opts.dataset;
    let sql = format!("SELECT * FROM `{project}.{dataset}.{OPEN_VIEW}` ORDER BY alert_key");
    alerts_of(capped(bq, project, sql, opts).await?, OPEN_VIEW)
}

/// What every evaluation of a run shares: the BigQuery client and the publisher (which
/// checked the topic), opened once, not once per `--every` tick.
pub struct Evaluator<'a> {
    gcp: &'a Gcp,
    model: &'a DataModel,
    opts: &'a Options,
    bq: BigQuery,
    publisher: Option<google_cloud_pubsub::client::Publisher>,
}

impl<'a> Evaluator<'a> {
    /// Opens the clients (no publisher in a dry run).
    pub async fn open(gcp: &'a Gcp, model: &'a DataModel, opts: &'a Options) -> Result<Self> {
        Ok(Evaluator {
            gcp,
            model,
            opts,
            bq: gcp.bigquery().await?,
            publisher: if opts.dry_run {
                None
            } else {
                Some(crate::streaming::publisher::open(gcp, &opts.topic).await?)
            },
        })
    }

    /// One evaluation: current against open alerts, then a notification and a log entry
    /// for each new and each resolved alert (nothing in a dry run).
    pub async fn evaluate(&self) -> Result<Summary> {
        let Evaluator {
            gcp,
            model,
            opts,
            bq,
            publisher,
        } = self;
        let now = Utc::now();
        let run_id = uuid::Uuid::new_v4().to_string();
        let current = current(bq, &gcp.project, model, opts).await?;
        let open = open(bq, &gcp.project, opts).await?;
        let plan = plan(current, open);
        let mut summary = Summary {
            still_open: plan.still_open,
            dry_run: opts.dry_run,
            ..Summary::default()
        };
        let work = plan
            .fire
            .iter()
            .map(|a| (a, State::Firing))
            .chain(plan.resolve.iter().map(|a| (a, State::Resolved)));
        for (alert, state) in work {
            let n = Notification::new(alert, state, now, &run_id);
            match state {
                State::Firing => summary.fired.push(alert.alert_key.clone()),
                State::Resolved => summary.resolved.push(alert.alert_key.clone()),
            }
            let Some(publisher) = publisher else {
                tracing::info!(
                    message = "would notify",
                    state = state.as_str(),
                    alert_key = alert.alert_key,
                    detail = n.detail
                );
                continue;
            };
            let data = serde_json::to_vec(&n).expect("a notification always serialises");
            let msg = Message::new().set_data(bytes::Bytes::from(data)).set_attributes([
                ("alert_key", n.alert_key.clone()),
                ("kind", n.kind.clone()),
                ("state", state.as_str().to_string()),
            ]);
            let message_id = publisher
                .publish(msg)
                .await
                .map_err(|e| Error::remote(PUBSUB, "publish", &opts.topic, Status::Other, e.to_string()))?;
            match state {
                State::Firing => tracing::warn!(
                    message = "alert",
                    alert_key = n.alert_key,
                    value = n.value,
                    threshold = n.threshold,
                    detail = n.detail,
                    message_id
                ),
                State::Resolved => tracing::info!(message = "alert resolved", alert_key = n.alert_key, message_id),
            }
            let insert_id = format!("{run_id}:{}:{}", n.alert_key, state.as_str());
            bq.insert_rows(
                &gcp.project,
                &opts.dataset,
                LOG_TABLE,
                vec![(Some(insert_id), n.log_row(Some(&message_id)))],
            )
            .await?;
        }
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(key: &str) -> Alert {
        let (kind, subject) = key.split_once('/').unwrap();
        Alert {
            alert_key: key.into(),
            kind: kind.into(),
            subject: subject.into(),
            value: Some(Decimal::new(345, 1)),
            threshold: Some(Decimal::from(20)),
            window_start: DateTime::from_timestamp(1_790_000_000, 0),
            window_end: DateTime::from_timestamp(1_790_003_600, 0),
            detail: Some("d".into()),
        }
    }

    #[test]
    fn measures_are_read_at_numeric_scale() {
        let d = |s: &str| decimal(&Some(s.to_string())).unwrap().to_string();
        assert_eq!(d("402422.41000000003"), "402422.41", "a FLOAT64 sum from the emulator");
        assert_eq!(d("49.180000000"), "49.18");
        assert_eq!(
            d("0.1234567895"),
            "0.12345679",
            "rounded half away from zero at 9 decimals"
        );
        assert_eq!(d("6.5E1"), "65");
        assert_eq!(decimal(&None), None);
    }

    #[test]
    fn a_new_alert_fires_an_open_one_stays_quiet_and_one_gone_resolves() {
        let p = plan(
            vec![
                alert("failed_payments/all"),
                alert("critical_stock/P1"),
                alert("critical_stock/P1"),
            ],
            vec![alert("critical_stock/P1"), alert("revenue_anomaly/high")],
        );
        assert_eq!(p.fire, vec![alert("failed_payments/all")]);
        assert_eq!(p.still_open, 1, "a key returned twice is one alert");
        assert_eq!(p.resolve, vec![alert("revenue_anomaly/high")]);
        assert_eq!(plan(vec![], vec![]), Plan::default());
    }

    #[test]
    fn notifications_carry_exact_decimals_and_resolved_ones_no_measure() {
        let now = DateTime::from_timestamp(1_790_003_601, 0).unwrap();
        let f = serde_json::to_value(Notification::new(
            &alert("failed_payments/all"),
            State::Firing,
            now,
            "r1",
        ))
        .unwrap();
        assert_eq!(f["schema"], NOTIFICATION_SCHEMA);
        assert_eq!(f["state"], "firing");
        assert_eq!(f["value"], "34.5");
        assert_eq!(f["threshold"], "20");
        assert_eq!(f["window_end"], "2026-09-21T15:13:20.000000Z");
        assert_eq!(f["evaluated_at"], "2026-09-21T15:13:21.000000Z");
        let r = serde_json::to_value(Notification::new(
            &alert("failed_payments/all"),
            State::Resolved,
            now,
            "r2",
        ))
        .unwrap();
        assert_eq!(r["state"], "resolved");
        assert!(r["value"].is_null() && r["threshold"].is_null() && r["window_start"].is_null());
        let keys: BTreeSet<String> = f.as_object().unwrap().keys().cloned().collect();
        let documented = [
            "schema",
            "state",
            "alert_key",
            "kind",
            "subject",
            "value",
            "threshold",
            "window_start",
            "window_end",
            "detail",
            "evaluated_at",
            "run_id",
        ];
        assert_eq!(
            keys,
            documented.iter().map(|s| s.to_string()).collect(),
            "the module doc's schema"
        );
    }

    #[test]
    fn the_summary_reads_as_one_line() {
        let s = Summary {
            fired: vec!["failed_payments/all".into()],
            resolved: vec![],
            still_open: 3,
            dry_run: false,
        };
        assert_eq!(
            s.to_string(),
            "1 new alert (failed_payments/all), 0 resolved, 3 still open"
        );
    }
}
