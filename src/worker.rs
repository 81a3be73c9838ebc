//! `stream-worker`: the Dataflow stand-in. Streaming pull from the subscription with
//! bounded flow control, [`transform::validate`] each event, micro-batches flushed by
//! rows, bytes or time into BigQuery through the [`Sink`], and an ack only once BigQuery
//! holds the message's row (a sale or a dead letter). A write that fails after every
//! retry nacks its messages; Pub/Sub redelivers them, and after the subscription's
//! maximum delivery attempts moves them to the dead-letter topic.
//!
//! Nothing correctness depends on lives in this process: rows are deduplicated by
//! `event_id` in the views, so redeliveries, a killed worker or several workers on one
//! subscription all give the same results.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use chrono::{DateTime, Utc};
use google_cloud_pubsub::client::Subscriber;
use google_cloud_pubsub::subscriber::handler::Handler;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::gcp::{Gcp, PUBSUB};
use crate::metrics::Metrics;
use crate::sink::{DeadLetter, Delivery, RetryPolicy, SaleRow, Sink, WriteMethod};
use crate::transform;

/// What the worker reads, where it writes, and how it batches.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Subscription id.
    pub subscription: String,
    /// Dataset holding the fact and dead-letter tables.
    pub dataset: String,
    /// How sale rows are written.
    pub method: WriteMethod,
    /// Flush a batch at this many messages...
    pub batch_rows: usize,
    /// ...or this many payload bytes...
    pub batch_bytes: usize,
    /// ...or when its oldest message is this old.
    pub flush_interval: Duration,
    /// Pub/Sub flow control: messages delivered but not yet acked, at most.
    pub max_outstanding_messages: i64,
    /// Pub/Sub flow control: bytes delivered but not yet acked, at most.
    pub max_outstanding_bytes: i64,
    /// Batches being written at once; more waits (backpressure up to the pull).
    pub concurrent_writes: usize,
    /// Exit (0) after this long with no message and nothing in flight.
    pub idle_timeout: Option<Duration>,
    /// Period of the stats log line.
    pub stats_interval: Duration,
    /// On shutdown, how long in-flight writes may take before their messages are left
    /// unacked (Pub/Sub redelivers them).
    pub shutdown_grace: Duration,
    /// Write retries.
    pub retry: RetryPolicy,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            subscription: crate::settings::DEFAULT_SUBSCRIPTION.into(),
            dataset: crate::settings::DEFAULT_DATASET.into(),
            method: WriteMethod::StorageWrite,
            batch_rows: 1000,
            batch_bytes: 4 * 1024 * 1024,
            flush_interval: Duration::from_secs(1),
            max_outstanding_messages: 5000,
            max_outstanding_bytes: 64 * 1024 * 1024,
            // One batch writes while the next fills. More in parallel helps against
            // BigQuery itself, but deadlocks the BigQuery emulator (bqemulator 1.4).
            concurrent_writes: 1,
            idle_timeout: None,
            stats_interval: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(30),
            retry: RetryPolicy::default(),
        }
    }
}

impl WorkerOptions {
    /// Checks the options before anything connects.
    pub fn validate(&self) -> Result<()> {
        let bad = |name: &'static str, value: String, reason: &str| {
            Err(Error::Setting { name, value, reason: reason.into() })
        };
        if self.batch_rows == 0 || self.batch_rows > 50_000 {
            return bad("--batch-rows", self.batch_rows.to_string(), "must be 1 to 50000");
        }
        if self.batch_bytes < 1024 || self.batch_bytes > 9 * 1024 * 1024 {
            return bad("--batch-bytes", self.batch_bytes.to_string(), "must be 1 KiB to 9 MiB (BigQuery's request limit is 10 MB)");
        }
        if self.max_outstanding_messages < self.batch_rows as i64 {
            return bad("--max-outstanding-messages", self.max_outstanding_messages.to_string(), "must be at least --batch-rows, or batches never fill");
        }
        if self.concurrent_writes == 0 {
            return bad("--concurrent-writes", "0".into(), "must be at least 1");
        }
        Ok(())
    }
}

/// A batch being filled: rows and the handlers to ack once they are written.
struct Batch {
    sales: Vec<SaleRow>,
    sale_handlers: Vec<Handler>,
    dead: Vec<DeadLetter>,
    dead_handlers: Vec<Handler>,
    bytes: usize,
    opened: Instant,
}

impl Batch {
    fn new() -> Self {
        Batch { sales: Vec::new(), sale_handlers: Vec::new(), dead: Vec::new(), dead_handlers: Vec::new(), bytes: 0, opened: Instant::now() }
    }
    fn len(&self) -> usize {
        self.sale_handlers.len() + self.dead_handlers.len()
    }
}

fn to_chrono(t: &google_cloud_wkt::Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.seconds(), t.nanos().max(0) as u32)
}

/// Runs until `shutdown` resolves, the idle timeout passes, or the subscription fails;
/// then stops pulling, writes and acks what it holds, and returns.
pub async fn run(gcp: &Gcp, opts: &WorkerOptions, metrics: Arc<Metrics>, shutdown: impl Future<Output = ()>) -> Result<()> {
    opts.validate()?;
    let subscription = format!("projects/{}/subscriptions/{}", gcp.project, opts.subscription);
    let admin = gcp.pubsub_admin().await?;
    if let Err(e) = admin.subscriptions.get_subscription().set_subscription(&subscription).send().await {
        let detail = if e.http_status_code() == Some(404) {
            "it does not exist: run `provision` first, or pass the right --subscription".to_string()
        } else {
            e.to_string()
        };
        return Err(Error::api(PUBSUB, "find subscription", &subscription, detail));
    }
    let sink = Sink::new(gcp, &opts.dataset, opts.method, opts.retry).await?;
    let (endpoint, creds) = gcp.pubsub_credentials().await?;
    let subscriber = Subscriber::builder()
        .with_endpoint(endpoint)
        .with_credentials(creds)
        .build()
        .await
        .map_err(|e| Error::api(PUBSUB, "build", "subscriber", e))?;
    let mut stream = subscriber
        .subscribe(&subscription)
        .set_max_outstanding_messages(opts.max_outstanding_messages)
        .set_max_outstanding_bytes(opts.max_outstanding_bytes)
        .build();
    let token = stream.shutdown_token();
    tracing::info!(message = "worker started", %subscription, method = ?opts.method, batch_rows = opts.batch_rows);

    let permits = Arc::new(Semaphore::new(opts.concurrent_writes));
    let mut tasks: JoinSet<()> = JoinSet::new();
    let mut batch = Batch::new();
    let mut last_message = Instant::now();
    let mut stats = tokio::time::interval(opts.stats_interval);
    stats.tick().await;
    let far = Duration::from_secs(365 * 24 * 3600);
    tokio::pin!(shutdown);
    let mut outcome = Ok(());

    loop {
        let flush_at = if batch.len() > 0 { batch.opened + opts.flush_interval } else { Instant::now() + far };
        let idle_at = match opts.idle_timeout {
            Some(idle) if batch.len() == 0 && tasks.is_empty() => last_message + idle,
            _ => Instant::now() + far,
        };
        tokio::select! {
            _ = &mut shutdown => {
                tracing::info!(message = "shutdown requested: draining");
                break;
            }
            _ = tokio::time::sleep_until(idle_at) => {
                tracing::info!(message = "idle timeout: nothing received", seconds = opts.idle_timeout.unwrap_or_default().as_secs());
                break;
            }
            _ = tokio::time::sleep_until(flush_at) => {
                let full = std::mem::replace(&mut batch, Batch::new());
                spawn_flush(&mut tasks, &permits, &sink, &metrics, full).await;
            }
            _ = stats.tick() => tracing::info!(message = "stats", stats = %metrics.stats_line()),
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            next = stream.next() => match next {
                None => break,
                Some(Err(error)) => {
                    tracing::error!(message = "subscription stream failed", %error);
                    outcome = Err(Error::api(PUBSUB, "pull", &subscription, error));
                    break;
                }
                Some(Ok((msg, handler))) => {
                    last_message = Instant::now();
                    let now = Utc::now();
                    metrics.received.fetch_add(1, Relaxed);
                    let delivery = Delivery { message_id: msg.message_id.clone(), publish_ts: msg.publish_time.as_ref().and_then(to_chrono) };
                    if let Some(p) = delivery.publish_ts {
                        metrics.lag_ms.store((now - p).num_milliseconds().max(0) as u64, Relaxed);
                    }
                    if batch.len() == 0 {
                        batch.opened = Instant::now();
                    }
                    batch.bytes += msg.data.len();
                    match transform::validate(&msg.data, now) {
                        Ok(accepted) => {
                            metrics.unknown_fields.fetch_add(accepted.unknown_fields as u64, Relaxed);
                            batch.sales.push(SaleRow { sale: accepted.sale, delivery });
                            batch.sale_handlers.push(handler);
                        }
                        Err(reject) => {
                            tracing::debug!(message = "event rejected", kind = reject.kind.as_str(), reason = %reject.reason, message_id = %delivery.message_id);
                            metrics.reject(reject.kind);
                            batch.dead.push(DeadLetter { raw: msg.data, attributes: msg.attributes, reject, delivery });
                            batch.dead_handlers.push(handler);
                        }
                    }
                    if batch.len() >= opts.batch_rows || batch.bytes >= opts.batch_bytes {
                        let full = std::mem::replace(&mut batch, Batch::new());
                        spawn_flush(&mut tasks, &permits, &sink, &metrics, full).await;
                    }
                }
            }
        }
    }

    // Drain: stop pulling, write what we hold, ack, then let the client finish its acks.
    if batch.len() > 0 {
        spawn_flush(&mut tasks, &permits, &sink, &metrics, batch).await;
    }
    let drained = tokio::time::timeout(opts.shutdown_grace, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(message = "writes still in flight at the end of the grace period; their messages stay unacked and will be redelivered", in_flight = tasks.len());
        tasks.abort_all();
    }
    drop(stream);
    if tokio::time::timeout(Duration::from_secs(10), token.shutdown()).await.is_err() {
        tracing::warn!(message = "Pub/Sub client did not confirm shutdown within 10s");
    }
    tracing::info!(message = "worker stopped", stats = %metrics.stats_line());
    outcome
}

async fn spawn_flush(tasks: &mut JoinSet<()>, permits: &Arc<Semaphore>, sink: &Sink, metrics: &Arc<Metrics>, batch: Batch) {
    // Waiting for a permit stops the pull loop: backpressure instead of buffering.
    let permit = permits.clone().acquire_owned().await.expect("the semaphore is never closed");
    let sink = sink.clone();
    let metrics = metrics.clone();
    tasks.spawn(async move {
        let _permit = permit;
        let started = std::time::Instant::now();
        let Batch { sales, sale_handlers, dead, dead_handlers, .. } = batch;
        // One after the other: the BigQuery emulator deadlocks on concurrent writes.
        let sales_result = sink.write_sales(&sales).await;
        let dead_result = sink.write_dead_letters(&dead).await;
        metrics.observe_write(started.elapsed());
        metrics.batches.fetch_add(1, Relaxed);
        settle(&metrics, sales_result, sale_handlers, &metrics.written, "sales");
        settle(&metrics, dead_result, dead_handlers, &metrics.dead_lettered, "dead letters");
    });
}

/// Acks the handlers whose rows are written; nacks them if the write failed.
fn settle(metrics: &Metrics, result: Result<u32>, handlers: Vec<Handler>, written: &std::sync::atomic::AtomicU64, what: &str) {
    if handlers.is_empty() {
        return;
    }
    let n = handlers.len() as u64;
    match result {
        Ok(retries) => {
            metrics.retried.fetch_add(retries as u64, Relaxed);
            written.fetch_add(n, Relaxed);
            for h in handlers {
                h.ack();
            }
            metrics.acked.fetch_add(n, Relaxed);
        }
        Err(error) => {
            metrics.failed_batches.fetch_add(1, Relaxed);
            tracing::error!(message = "write failed after every retry: nacking, Pub/Sub will redeliver", %error, rows = n, what);
            for h in handlers {
                h.nack();
            }
            metrics.nacked.fetch_add(n, Relaxed);
        }
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn termination_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked() {
        WorkerOptions::default().validate().unwrap();
        let o = WorkerOptions { batch_rows: 0, ..Default::default() };
        assert!(o.validate().unwrap_err().to_string().contains("--batch-rows"));
        let o = WorkerOptions { batch_bytes: 20 * 1024 * 1024, ..Default::default() };
        assert!(o.validate().unwrap_err().to_string().contains("--batch-bytes"));
        let o = WorkerOptions { max_outstanding_messages: 10, batch_rows: 100, ..Default::default() };
        assert!(o.validate().unwrap_err().to_string().contains("--max-outstanding-messages"));
    }
}
