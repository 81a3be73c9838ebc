//! The stream worker's metrics (`prometheus-client`, the Prometheus project's Rust
//! client), its periodic stats line, its health, and the HTTP server (`axum`) that
//! serves them: `/metrics`; `/healthz` (liveness: the worker's main loop has turned
//! within [`LIVENESS_STALE_AFTER`]); `/readyz` (readiness: Pub/Sub and BigQuery
//! answered, the worker is not draining, and BigQuery takes its writes). It listens on loopback unless told it runs
//! in a container whose platform probes it from outside (Cloud Run).
//!
//! The server is bounded: at most [`MAX_CONCURRENT_REQUESTS`] requests are handled at
//! once (more wait), each within [`REQUEST_TIMEOUT`]; accept errors (out of file
//! descriptors, say) pause the accept loop instead of spinning (axum's listener).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::platform::error::{Error, Result};
use crate::streaming::transform::RejectKind;

/// Upper bounds (seconds) of the write-latency histogram buckets.
pub(crate) const LATENCY_BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
/// Requests handled at once by the metrics server; more wait their turn.
pub(crate) const MAX_CONCURRENT_REQUESTS: usize = 16;
/// Longest a metrics request may take.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// `/healthz` fails when the worker's main loop has not turned for this long (it turns
/// at least every stats interval, 10 s by default, even when idle).
pub(crate) const LIVENESS_STALE_AFTER: Duration = Duration::from_secs(60);

/// The label of rejected events.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct KindLabel {
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
    /// Messages the last pull brought after shutdown began, handed back at once.
    pub handed_back: Counter,
    /// Writes tried again while BigQuery refused every write.
    pub sink_probes: Counter,
    /// Leases extended: each held message's ack deadline pushed back once counts one.
    pub lease_extensions: Counter,
    /// Milliseconds between the newest message's publish time and its receipt.
    pub lag_ms: Gauge,
    /// 1 while the worker is ready (Pub/Sub and BigQuery answered, not draining, and
    /// BigQuery takes its writes).
    pub ready: Gauge,
    /// Started and not draining (what [`Metrics::set_ready`] says).
    started_not_draining: AtomicBool,
    /// BigQuery refuses every write (what [`Metrics::set_sink_down`] says).
    sink_down: AtomicBool,
    rejected: Family<KindLabel, Counter>,
    write_seconds: Histogram,
    registry: Registry,
    started: Instant,
    /// Milliseconds after `started` of the main loop's last turn.
    heartbeat_ms: AtomicU64,
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
            handed_back: Counter::default(),
            sink_probes: Counter::default(),
            lease_extensions: Counter::default(),
            lag_ms: Gauge::default(),
            ready: Gauge::default(),
            started_not_draining: AtomicBool::new(false),
            sink_down: AtomicBool::new(false),
            rejected: Family::default(),
            write_seconds: Histogram::new(LATENCY_BUCKETS),
            registry: Registry::with_prefix("instashop_worker"),
            started: Instant::now(),
            heartbeat_ms: AtomicU64::new(0),
        };
        // The registry holds clones: each shares its value with the field above.
        let counters: [(&str, &str, Counter); 14] = [
            ("received", "Messages received from Pub/Sub.", m.received.clone()),
            (
                "lease_extensions",
                "Leases of held messages extended (one per message and extension).",
                m.lease_extensions.clone(),
            ),
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
            (
                "handed_back",
                "Messages the last pull brought after shutdown began, handed back (modifyAckDeadline 0) for the next worker.",
                m.handed_back.clone(),
            ),
            (
                "sink_probes",
                "Writes tried again while BigQuery refused every write (the worker was not pulling).",
                m.sink_probes.clone(),
            ),
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
            "ready",
            "1 while the worker is ready: Pub/Sub and BigQuery answered, not draining, BigQuery takes its writes.",
            m.ready.clone(),
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
    pub(crate) fn reject(&self, kind: RejectKind) {
        self.rejected.get_or_create(&KindLabel { kind: kind.as_str() }).inc();
    }

    /// Rejected events of `kind` so far.
    pub fn rejected(&self, kind: RejectKind) -> u64 {
        self.rejected.get_or_create(&KindLabel { kind: kind.as_str() }).get()
    }

    /// Marks the worker ready (or not: starting, draining).
    pub(crate) fn set_ready(&self, ready: bool) {
        self.started_not_draining.store(ready, Ordering::SeqCst);
        self.update_ready();
    }

    /// Marks BigQuery as refusing every write (or taking them again): not ready meanwhile.
    pub(crate) fn set_sink_down(&self, down: bool) {
        self.sink_down.store(down, Ordering::SeqCst);
        self.update_ready();
    }

    fn update_ready(&self) {
        let ready = self.started_not_draining.load(Ordering::SeqCst) && !self.is_sink_down();
        self.ready.set(i64::from(ready));
    }

    /// Whether BigQuery refuses every write.
    pub(crate) fn is_sink_down(&self) -> bool {
        self.sink_down.load(Ordering::SeqCst)
    }

    /// Whether the worker is ready.
    pub(crate) fn is_ready(&self) -> bool {
        self.ready.get() == 1
    }

    /// The main loop turned: it is alive.
    pub(crate) fn heartbeat(&self) {
        self.heartbeat_ms
            .store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// How long since the main loop last turned (since start if it never did).
    pub(crate) fn since_heartbeat(&self) -> Duration {
        self.started
            .elapsed()
            .saturating_sub(Duration::from_millis(self.heartbeat_ms.load(Ordering::Relaxed)))
    }

    /// Records one batch write's latency.
    pub(crate) fn observe_write(&self, d: Duration) {
        self.write_seconds.observe(d.as_secs_f64());
    }

    /// The one-line summary logged periodically.
    pub(crate) fn stats_line(&self) -> String {
        format!(
            "received={} written={} dead_lettered={} acked={} nacked={} write_errors={} retried={} batches={} pulls={} handed_back={} sink_probes={} lease_extensions={} lag_ms={}",
            self.received.get(),
            self.written.get(),
            self.dead_lettered.get(),
            self.acked.get(),
            self.nacked.get(),
            self.write_errors.get(),
            self.retried.get(),
            self.batches.get(),
            self.pulls.get(),
            self.handed_back.get(),
            self.sink_probes.get(),
            self.lease_extensions.get(),
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

async fn healthz(State(m): State<Arc<Metrics>>) -> (StatusCode, String) {
    liveness(m.since_heartbeat())
}

/// The liveness answer when the main loop last turned `since` ago.
fn liveness(since: Duration) -> (StatusCode, String) {
    if since > LIVENESS_STALE_AFTER {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("stalled: the main loop has not turned for {} s\n", since.as_secs()),
        )
    } else {
        (StatusCode::OK, "alive\n".into())
    }
}

async fn readyz(State(m): State<Arc<Metrics>>) -> (StatusCode, &'static str) {
    if m.is_ready() {
        (StatusCode::OK, "ready\n")
    } else if m.is_sink_down() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: BigQuery refuses every write (the log says why and what to do); not pulling, messages left unacked\n",
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: starting (Pub/Sub and BigQuery not answered yet) or draining\n",
        )
    }
}

/// The server's routes, bounded in concurrency and time.
pub(crate) fn router(metrics: Arc<Metrics>) -> axum::Router {
    axum::Router::new()
        .route("/metrics", axum::routing::get(metrics_handler))
        .route("/healthz", axum::routing::get(healthz))
        .route("/readyz", axum::routing::get(readyz))
        .with_state(metrics)
        .layer(tower::limit::ConcurrencyLimitLayer::new(MAX_CONCURRENT_REQUESTS))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
}

/// Binds `addr` and serves [`router`] until the task is dropped; returns the bound
/// address (port 0 picks a free one). `addr` must be a loopback address unless
/// `all_interfaces` says the worker runs in a container probed from outside it.
pub async fn serve(
    addr: SocketAddr,
    all_interfaces: bool,
    metrics: Arc<Metrics>,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    if !addr.ip().is_loopback() && !all_interfaces {
        return Err(Error::Setting {
            name: "--metrics-addr",
            value: addr.to_string(),
            reason: "the metrics endpoint listens on loopback only (127.0.0.1); in a container probed from outside it (Cloud Run), also pass --metrics-all-interfaces".into(),
        });
    }
    crate::platform::cli::serve_http(addr, "--metrics-addr", "metrics", router(metrics)).await
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
        let (addr, task) = serve("127.0.0.1:0".parse().unwrap(), false, m).await.unwrap();
        let resp = reqwest::get(format!("http://{addr}/metrics")).await.unwrap();
        assert_eq!(resp.status(), 200);
        let body = resp.text().await.unwrap();
        assert!(body.contains("instashop_worker_received_total 7"), "{body}");
        assert!(body.contains("instashop_worker_rejected_total{kind=\"bad_qty\"} 1"));
        let missing = reqwest::get(format!("http://{addr}/nothing")).await.unwrap();
        assert_eq!(missing.status(), 404);
        task.abort();
        let err = serve("0.0.0.0:0".parse().unwrap(), false, Metrics::new())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("loopback"));
        assert!(err.to_string().contains("--metrics-all-interfaces"), "{err}");
    }

    #[tokio::test]
    async fn readyz_follows_the_worker_and_healthz_its_main_loop() {
        let m = Metrics::new();
        let (addr, task) = serve("127.0.0.1:0".parse().unwrap(), false, m.clone()).await.unwrap();
        let get = |path: &'static str| async move {
            let r = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        };
        let (code, body) = get("/readyz").await;
        assert_eq!(code, 503, "not ready before Pub/Sub and BigQuery answered: {body}");
        m.set_ready(true);
        assert_eq!(get("/readyz").await.0, 200);
        assert!(m.render().contains("instashop_worker_ready 1"));
        m.set_sink_down(true);
        let (code, body) = get("/readyz").await;
        assert_eq!(code, 503, "{body}");
        assert!(body.contains("BigQuery refuses every write"), "{body}");
        assert!(m.render().contains("instashop_worker_ready 0"));
        m.set_sink_down(false);
        assert_eq!(get("/readyz").await.0, 200);
        m.set_ready(false); // draining
        m.set_sink_down(true);
        m.set_sink_down(false);
        assert_eq!(
            get("/readyz").await.0,
            503,
            "a sink back while draining does not make it ready"
        );
        m.heartbeat();
        assert_eq!(get("/healthz").await, (200, "alive\n".to_string()));
        task.abort();
        let (code, body) = liveness(LIVENESS_STALE_AFTER + Duration::from_secs(5));
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("has not turned for 65 s"), "{body}");
        assert_eq!(liveness(Duration::from_secs(1)).0, StatusCode::OK);
    }

    #[tokio::test]
    async fn a_port_in_use_is_a_bind_error_naming_the_flag() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let err = serve(taken.local_addr().unwrap(), false, Metrics::new())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Bind { .. }), "{err}");
        assert!(err.to_string().contains("--metrics-addr"), "{err}");
    }
}
