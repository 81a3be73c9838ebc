//! The stream worker's counters, its periodic stats line, and a Prometheus `/metrics`
//! endpoint on loopback (a few lines of HTTP over Tokio: no web framework needed).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::{Error, Result};
use crate::transform::RejectKind;

/// Upper bounds (seconds) of the write-latency histogram buckets.
pub const LATENCY_BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Counters shared by the worker's tasks; all monotonic but `lag_ms`.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Messages received from Pub/Sub.
    pub received: AtomicU64,
    /// Sale rows written to fact_sales_streaming.
    pub written: AtomicU64,
    /// Rejected events written to the dead-letter table.
    pub dead_lettered: AtomicU64,
    /// Messages acked (after their rows were written).
    pub acked: AtomicU64,
    /// Messages nacked (their write failed after every retry).
    pub nacked: AtomicU64,
    /// Write attempts retried.
    pub retried: AtomicU64,
    /// Batches flushed.
    pub batches: AtomicU64,
    /// Batches whose write failed after every retry.
    pub failed_batches: AtomicU64,
    /// Unknown fields ignored in valid events.
    pub unknown_fields: AtomicU64,
    /// Milliseconds between the newest message's publish time and its receipt.
    pub lag_ms: AtomicU64,
    rejects: [AtomicU64; RejectKind::ALL.len()],
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_us: AtomicU64,
}

impl Metrics {
    /// A fresh, shared set of counters.
    pub fn new() -> Arc<Self> {
        Arc::new(Metrics::default())
    }

    /// Counts a rejected event by kind.
    pub fn reject(&self, kind: RejectKind) {
        let i = RejectKind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
        self.rejects[i].fetch_add(1, Relaxed);
    }

    /// Records one batch write's latency.
    pub fn observe_write(&self, d: Duration) {
        let secs = d.as_secs_f64();
        for (i, le) in LATENCY_BUCKETS.iter().enumerate() {
            if secs <= *le {
                self.latency_buckets[i].fetch_add(1, Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Relaxed);
        self.latency_sum_us.fetch_add(d.as_micros() as u64, Relaxed);
    }

    /// The one-line summary logged periodically.
    pub fn stats_line(&self) -> String {
        format!(
            "received={} written={} dead_lettered={} acked={} nacked={} retried={} batches={} lag_ms={}",
            self.received.load(Relaxed),
            self.written.load(Relaxed),
            self.dead_lettered.load(Relaxed),
            self.acked.load(Relaxed),
            self.nacked.load(Relaxed),
            self.retried.load(Relaxed),
            self.batches.load(Relaxed),
            self.lag_ms.load(Relaxed),
        )
    }

    /// Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let counters: [(&str, &AtomicU64, &str); 9] = [
            ("received", &self.received, "Messages received from Pub/Sub."),
            ("written", &self.written, "Sale rows written to fact_sales_streaming."),
            (
                "dead_lettered",
                &self.dead_lettered,
                "Rejected events written to fact_sales_deadletter.",
            ),
            ("acked", &self.acked, "Messages acked after their rows were written."),
            (
                "nacked",
                &self.nacked,
                "Messages nacked after their write failed every retry.",
            ),
            ("retried", &self.retried, "Write attempts retried."),
            ("batches", &self.batches, "Batches flushed."),
            (
                "failed_batches",
                &self.failed_batches,
                "Batches whose write failed every retry.",
            ),
            (
                "unknown_fields",
                &self.unknown_fields,
                "Unknown fields ignored in valid events.",
            ),
        ];
        for (name, v, help) in counters {
            let _ = writeln!(s, "# HELP instashop_worker_{name}_total {help}");
            let _ = writeln!(s, "# TYPE instashop_worker_{name}_total counter");
            let _ = writeln!(s, "instashop_worker_{name}_total {}", v.load(Relaxed));
        }
        let _ = writeln!(s, "# HELP instashop_worker_rejected_total Rejected events by kind.");
        let _ = writeln!(s, "# TYPE instashop_worker_rejected_total counter");
        for (k, v) in RejectKind::ALL.iter().zip(&self.rejects) {
            let _ = writeln!(
                s,
                "instashop_worker_rejected_total{{kind=\"{}\"}} {}",
                k.as_str(),
                v.load(Relaxed)
            );
        }
        let _ = writeln!(
            s,
            "# HELP instashop_worker_lag_seconds Publish-to-receipt delay of the newest message."
        );
        let _ = writeln!(s, "# TYPE instashop_worker_lag_seconds gauge");
        let _ = writeln!(
            s,
            "instashop_worker_lag_seconds {}",
            self.lag_ms.load(Relaxed) as f64 / 1000.0
        );
        let _ = writeln!(
            s,
            "# HELP instashop_worker_write_seconds Latency of one batch write to BigQuery."
        );
        let _ = writeln!(s, "# TYPE instashop_worker_write_seconds histogram");
        for (le, v) in LATENCY_BUCKETS.iter().zip(&self.latency_buckets) {
            let _ = writeln!(
                s,
                "instashop_worker_write_seconds_bucket{{le=\"{le}\"}} {}",
                v.load(Relaxed)
            );
        }
        let count = self.latency_count.load(Relaxed);
        let _ = writeln!(s, "instashop_worker_write_seconds_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            s,
            "instashop_worker_write_seconds_sum {}",
            self.latency_sum_us.load(Relaxed) as f64 / 1e6
        );
        let _ = writeln!(s, "instashop_worker_write_seconds_count {count}");
        s
    }
}

/// Binds `/metrics` on `addr`, which must be a loopback address; returns the bound
/// address (port 0 picks a free one) and serves until the task is dropped.
pub async fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    if !addr.ip().is_loopback() {
        return Err(Error::Setting {
            name: "--metrics-addr",
            value: addr.to_string(),
            reason: "the metrics endpoint listens on loopback only (127.0.0.1)".into(),
        });
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Error::api("metrics", "bind", addr.to_string(), e))?;
    let bound = listener
        .local_addr()
        .map_err(|e| Error::api("metrics", "bind", addr.to_string(), e))?;
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                continue;
            };
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let n = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf))
                    .await
                    .ok()
                    .and_then(|r| r.ok())
                    .unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]);
                let response = if request.starts_with("GET /metrics ") {
                    let body = metrics.render();
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                } else {
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string()
                };
                let _ = conn.write_all(response.as_bytes()).await;
            });
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
        assert!(text.contains("instashop_worker_write_seconds_bucket{le=\"5\"} 2"));
        assert!(text.contains("instashop_worker_write_seconds_count 2"));
    }

    #[tokio::test]
    async fn metrics_are_served_on_loopback_only() {
        let m = Metrics::new();
        m.received.fetch_add(7, Relaxed);
        m.reject(RejectKind::BadQty);
        let (addr, task) = serve("127.0.0.1:0".parse().unwrap(), m).await.unwrap();
        let body = reqwest::get(format!("http://{addr}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(body.contains("instashop_worker_received_total 7"));
        assert!(body.contains("instashop_worker_rejected_total{kind=\"bad_qty\"} 1"));
        task.abort();
        let err = serve("0.0.0.0:0".parse().unwrap(), Metrics::new()).await.unwrap_err();
        assert!(err.to_string().contains("loopback"));
    }
}
