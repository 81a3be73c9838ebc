//! The stream worker's metrics (`prometheus-client`, the Prometheus project's Rust
//! client), its periodic stats line, and the HTTP server (`axum`) that serves them on
//! loopback at `/metrics`.
//!
//! The server is bounded: at most [`MAX_CONCURRENT_REQUESTS`] requests are handled at
//! once (more wait), each within [`REQUEST_TIMEOUT`]; accept errors (out of file
//! descriptors, say) pause the accept loop instead of spinning (axum's listener).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::error::{Error, Result};
use crate::transform::RejectKind;

/// Upper bounds (seconds) of the write-latency histogram buckets.
pub const LATENCY_BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
/// Requests handled at once by the metrics server; more wait their turn.
pub const MAX_CONCURRENT_REQUESTS: usize = 16;
/// Longest a metrics request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The label of rejected events.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    /// The [`RejectKind`], as its snake-case name.
    pub kind: &'static str,
}

/// The worker's metrics, shared by its tasks; every counter is monotonic.
#[derive(Debug)]
pub struct Metrics {
    /// Messages received from Pub/Sub.
    pub received: Counter,
    /// Pull requests sent to Pub/Sub (empty ones included).
    pub pulls: Counter,
    /// Sale rows written to fact_sales_streaming.
    pub written: Counter,
    /// Rejected events written to the dead-letter table.
    pub dead_lettered: Counter,
    /// Messages acked (after their rows were written).
    pub acked: Counter,
    /// Messages nacked (their write failed after every retry).
    pub nacked: Counter,
    /// Write attempts that failed (each one retried or given up on).
    pub write_errors: Counter,
    /// Write attempts retried.
    pub retried: Counter,
    /// Batches flushed.
    pub batches: Counter,
    /// Batches whose write failed after every retry.
    pub failed_batches: Counter,
    /// Unknown fields ignored in valid events.
    pub unknown_fields: Counter,
    /// Milliseconds between the newest message's publish time and its receipt.
    pub lag_ms: Gauge,
    rejected: Family<KindLabel, Counter>,
    write_seconds: Histogram,
    registry: Registry,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut m = Metrics {
            received: Counter::default(),
            pulls: Counter::default(),
            written: Counter::default(),
            dead_lettered: Counter::default(),
            acked: Counter::default(),
            nacked: Counter::default(),
            write_errors: Counter::default(),
            retried: Counter::default(),
            batches: Counter::default(),
            failed_batches: Counter::default(),
            unknown_fields: Counter::default(),
            lag_ms: Gauge::default(),
            rejected: Family::default(),
            write_seconds: Histogram::new(LATENCY_BUCKETS),
            registry: Registry::with_prefix("instashop_worker"),
        };
        // The registry holds clones: each shares its value with the field above.
        let counters: [(&str, &str, Counter); 11] = [
            ("received", "Messages received from Pub/Sub.", m.received.clone()),
            (
                "pulls",
                "Pull requests sent to Pub/Sub, empty ones included.",
                m.pulls.clone(),
            ),
            (
                "written",
                "Sale rows written to fact_sales_streaming.",
                m.written.clone(),
            ),
            (
                "dead_lettered",
                "Rejected events written to fact_sales_deadletter.",
                m.dead_lettered.clone(),
            ),
            (
                "acked",
                "Messages acked after their rows were written.",
                m.acked.clone(),
            ),
            (
                "nacked",
                "Messages nacked after their write failed every retry.",
                m.nacked.clone(),
            ),
            (
                "write_errors",
                "Write attempts to BigQuery that failed.",
                m.write_errors.clone(),
            ),
            ("retried", "Write attempts retried.", m.retried.clone()),
            ("batches", "Batches flushed.", m.batches.clone()),
            (
                "failed_batches",
                "Batches whose write failed every retry.",
                m.failed_batches.clone(),
            ),
            (
                "unknown_fields",
                "Unknown fields ignored in valid events.",
                m.unknown_fields.clone(),
            ),
        ];
        for (name, help, c) in counters {
            m.registry.register(name, help, c);
        }
        m.registry
            .register("rejected", "Rejected events by kind.", m.rejected.clone());
        m.registry.register(
            "lag_milliseconds",
            "Publish-to-receipt delay of the newest message.",
            m.lag_ms.clone(),
        );
        m.registry.register(
            "write_seconds",
            "Latency of one batch write to BigQuery.",
            m.write_seconds.clone(),
        );
        m
    }
}

impl Metrics {
    /// A fresh, shared set of metrics.
    pub fn new() -> Arc<Self> {
        Arc::new(Metrics::default())
    }

    /// Counts a rejected event by kind.
    pub fn reject(&self, kind: RejectKind) {
        self.rejected.get_or_create(&KindLabel { kind: kind.as_str() }).inc();
    }

    /// Rejected events of `kind` so far.
    pub fn rejected(&self, kind: RejectKind) -> u64 {
        self.rejected.get_or_create(&KindLabel { kind: kind.as_str() }).get()
    }

    /// Records one batch write's latency.
    pub fn observe_write(&self, d: Duration) {
        self.write_seconds.observe(d.as_secs_f64());
    }

    /// The one-line summary logged periodically.
    pub fn stats_line(&self) -> String {
        format!(
            "received={} written={} dead_lettered={} acked={} nacked={} write_errors={} retried={} batches={} pulls={} lag_ms={}",
            self.received.get(),
            self.written.get(),
            self.dead_lettered.get(),
            self.acked.get(),
            self.nacked.get(),
            self.write_errors.get(),
            self.retried.get(),
            self.batches.get(),
            self.pulls.get(),
            self.lag_ms.get(),
        )
    }

    /// The OpenMetrics text exposition (which Prometheus reads).
    pub fn render(&self) -> String {
        let mut s = String::new();
        prometheus_client::encoding::text::encode(&mut s, &self.registry).expect("encoding into a String cannot fail");
        s
    }
}

async fn metrics_handler(State(m): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        m.render(),
    )
}

/// Binds `addr`, which must be a loopback address, and serves `/metrics` until the task
/// is dropped; returns the bound address (port 0 picks a free one).
pub async fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    if !addr.ip().is_loopback() {
        return Err(Error::Setting {
            name: "--metrics-addr",
            value: addr.to_string(),
            reason: "the metrics endpoint listens on loopback only (127.0.0.1)".into(),
        });
    }
    let bind_err = |source| Error::Bind {
        addr: addr.to_string(),
        flag: "--metrics-addr",
        source,
    };
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(bind_err)?;
    let bound = listener.local_addr().map_err(bind_err)?;
    let app = axum::Router::new()
        .route("/metrics", axum::routing::get(metrics_handler))
        .with_state(metrics)
        .layer(tower::limit::ConcurrencyLimitLayer::new(MAX_CONCURRENT_REQUESTS))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ));
    let task = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(message = "metrics server stopped", %error);
        }
    });
    Ok((bound, task))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let m = Metrics::default();
        m.observe_write(Duration::from_millis(30));
        m.observe_write(Duration::from_secs(3));
        let text = m.render();
        assert!(
            text.contains("instashop_worker_write_seconds_bucket{le=\"0.025\"} 0"),
            "{text}"
        );
        assert!(text.contains("instashop_worker_write_seconds_bucket{le=\"0.05\"} 1"));
        assert!(text.contains("instashop_worker_write_seconds_bucket{le=\"5.0\"} 2"));
        assert!(text.contains("instashop_worker_write_seconds_count 2"));
    }

    #[tokio::test]
    async fn metrics_are_served_on_loopback_only() {
        let m = Metrics::new();
        m.received.inc_by(7);
        m.reject(RejectKind::BadQty);
        let (addr, task) = serve("127.0.0.1:0".parse().unwrap(), m).await.unwrap();
        let resp = reqwest::get(format!("http://{addr}/metrics")).await.unwrap();
        assert_eq!(resp.status(), 200);
        let body = resp.text().await.unwrap();
        assert!(body.contains("instashop_worker_received_total 7"), "{body}");
        assert!(body.contains("instashop_worker_rejected_total{kind=\"bad_qty\"} 1"));
        let missing = reqwest::get(format!("http://{addr}/nothing")).await.unwrap();
        assert_eq!(missing.status(), 404);
        task.abort();
        let err = serve("0.0.0.0:0".parse().unwrap(), Metrics::new()).await.unwrap_err();
        assert!(err.to_string().contains("loopback"));
    }

    #[tokio::test]
    async fn a_port_in_use_is_a_bind_error_naming_the_flag() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let err = serve(taken.local_addr().unwrap(), Metrics::new()).await.unwrap_err();
        assert!(matches!(err, Error::Bind { .. }), "{err}");
        assert!(err.to_string().contains("--metrics-addr"), "{err}");
    }
}
