//! `stream-worker`: the Dataflow stand-in. Pulls from the subscription with bounded
//! flow control ([`Source`]), [`transform::validate`] each event, micro-batches flushed by
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

use chrono::Utc;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::gcp::Gcp;
use crate::metrics::Metrics;
use crate::sink::{DeadLetter, Delivery, RetryPolicy, SaleRow, Sink, WriteMethod};
use crate::source::{Received, Settler, Source};
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
    pub max_outstanding_messages: usize,
    /// Pub/Sub flow control: bytes delivered but not yet acked, at most.
    pub max_outstanding_bytes: usize,
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
            // Two batches write while the next fills: enough to hide a write's latency,
            // and a bound on the rows held in memory.
            concurrent_writes: 2,
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
            Err(Error::Setting {
                name,
                value,
                reason: reason.into(),
            })
        };
        if self.batch_rows == 0 || self.batch_rows > 50_000 {
            return bad("--batch-rows", self.batch_rows.to_string(), "must be 1 to 50000");
        }
        if self.batch_bytes < 1024 || self.batch_bytes > 9 * 1024 * 1024 {
            return bad(
                "--batch-bytes",
                self.batch_bytes.to_string(),
                "must be 1 KiB to 9 MiB (BigQuery's request limit is 10 MB)",
            );
        }
        if self.max_outstanding_messages < self.batch_rows {
            return bad(
                "--max-outstanding-messages",
                self.max_outstanding_messages.to_string(),
                "must be at least --batch-rows, or batches never fill",
            );
        }
        if self.concurrent_writes == 0 {
            return bad("--concurrent-writes", "0".into(), "must be at least 1");
        }
        Ok(())
    }
}

/// An ack id and the message's size (for flow control).
type Lease = (String, usize);

/// A batch being filled: rows and the leases to ack once they are written.
struct Batch {
    sales: Vec<SaleRow>,
    sale_leases: Vec<Lease>,
    dead: Vec<DeadLetter>,
    dead_leases: Vec<Lease>,
    bytes: usize,
    opened: Instant,
}

impl Batch {
    fn new() -> Self {
        Batch {
            sales: Vec::new(),
            sale_leases: Vec::new(),
            dead: Vec::new(),
            dead_leases: Vec::new(),
            bytes: 0,
            opened: Instant::now(),
        }
    }
    fn len(&self) -> usize {
        self.sale_leases.len() + self.dead_leases.len()
    }
}

/// Runs until `shutdown` resolves, the idle timeout passes, or the subscription fails;
/// then stops pulling, writes and acks what it holds, and returns.
pub async fn run(
    gcp: &Gcp,
    opts: &WorkerOptions,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    opts.validate()?;
    let source = Source::open(
        gcp,
        &opts.subscription,
        opts.max_outstanding_messages,
        opts.max_outstanding_bytes,
    )
    .await?;
    let sink = Sink::new(gcp, &opts.dataset, opts.method, opts.retry).await?;
    let settler = source.settler();
    tracing::info!(message = "worker started", subscription = %opts.subscription, method = ?opts.method, batch_rows = opts.batch_rows, ack_deadline_s = source.ack_deadline());

    // The puller feeds a bounded channel: when writes fall behind, flow control stops it.
    let (stop_tx, stop_rx) = watch::channel(false);
    let (tx, mut rx) = mpsc::channel::<Result<Received>>(opts.batch_rows);
    let source = Arc::new(source);
    let puller = tokio::spawn(pull_loop(source.clone(), tx, stop_rx));

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
        let flush_at = if batch.len() > 0 {
            batch.opened + opts.flush_interval
        } else {
            Instant::now() + far
        };
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
                spawn_flush(&mut tasks, &permits, &sink, &settler, &metrics, full).await;
            }
            _ = stats.tick() => tracing::info!(message = "stats", stats = %metrics.stats_line()),
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            next = rx.recv() => match next {
                None => break,
                Some(Err(error)) => {
                    tracing::error!(message = "pulling from the subscription failed", %error);
                    outcome = Err(error);
                    break;
                }
                Some(Ok(msg)) => {
                    last_message = Instant::now();
                    accept(&mut batch, msg, &metrics);
                    if batch.len() >= opts.batch_rows || batch.bytes >= opts.batch_bytes {
                        let full = std::mem::replace(&mut batch, Batch::new());
                        spawn_flush(&mut tasks, &permits, &sink, &settler, &metrics, full).await;
                    }
                }
            }
        }
    }

    // Drain: stop pulling, take what was already pulled, write it, ack, send the acks.
    let _ = stop_tx.send(true);
    while let Some(next) = rx.recv().await {
        if let Ok(msg) = next {
            accept(&mut batch, msg, &metrics);
        }
    }
    let _ = puller.await;
    if batch.len() > 0 {
        spawn_flush(&mut tasks, &permits, &sink, &settler, &metrics, batch).await;
    }
    let drained = tokio::time::timeout(opts.shutdown_grace, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            message = "writes still in flight at the end of the grace period; their messages stay unacked and will be redelivered",
            in_flight = tasks.len()
        );
        tasks.abort_all();
    }
    drop(settler);
    match Arc::try_unwrap(source) {
        Ok(source) => source.close().await,
        Err(_) => tracing::warn!(message = "source still shared at exit; pending acks are dropped"),
    }
    tracing::info!(message = "worker stopped", stats = %metrics.stats_line());
    outcome
}

/// Validates one pulled message into the batch (a sale or a dead letter).
fn accept(batch: &mut Batch, msg: Received, metrics: &Metrics) {
    let now = Utc::now();
    metrics.received.fetch_add(1, Relaxed);
    let delivery = Delivery {
        message_id: msg.message_id,
        publish_ts: msg.publish_ts,
    };
    if let Some(p) = delivery.publish_ts {
        metrics
            .lag_ms
            .store((now - p).num_milliseconds().max(0) as u64, Relaxed);
    }
    if batch.len() == 0 {
        batch.opened = Instant::now();
    }
    let size = msg.data.len();
    batch.bytes += size;
    let lease = (msg.ack_id, size);
    match transform::validate(&msg.data, now) {
        Ok(accepted) => {
            metrics
                .unknown_fields
                .fetch_add(accepted.unknown_fields as u64, Relaxed);
            batch.sales.push(SaleRow {
                sale: accepted.sale,
                delivery,
            });
            batch.sale_leases.push(lease);
        }
        Err(reject) => {
            tracing::debug!(message = "event rejected", kind = reject.kind.as_str(), reason = %reject.reason, message_id = %delivery.message_id);
            metrics.reject(reject.kind);
            batch.dead.push(DeadLetter {
                raw: msg.data,
                attributes: msg.attributes,
                reject,
                delivery,
            });
            batch.dead_leases.push(lease);
        }
    }
}

/// Pulls until told to stop; each message goes to the channel. A missing subscription,
/// or 20 failed pulls in a row, ends the worker; other failures are retried with backoff.
async fn pull_loop(source: Arc<Source>, tx: mpsc::Sender<Result<Received>>, mut stop: watch::Receiver<bool>) {
    let mut empty = 0u32;
    let mut failures = 0u32;
    while !*stop.borrow() {
        let pulled = tokio::select! {
            _ = stop.changed() => break,
            r = source.pull() => r,
        };
        match pulled {
            Ok(None) => {
                let gone = Error::api(
                    crate::gcp::PUBSUB,
                    "pull",
                    source.name(),
                    "the subscription no longer exists",
                );
                let _ = tx.send(Err(gone)).await;
                return;
            }
            Ok(Some(msgs)) if msgs.is_empty() => {
                failures = 0;
                empty += 1;
                tokio::select! {
                    _ = stop.changed() => break,
                    _ = tokio::time::sleep(Source::empty_backoff(empty)) => {}
                }
            }
            Ok(Some(msgs)) => {
                failures = 0;
                empty = 0;
                for m in msgs {
                    if tx.send(Ok(m)).await.is_err() {
                        return;
                    }
                }
            }
            Err(error) if failures >= 20 => {
                let _ = tx.send(Err(error)).await;
                return;
            }
            Err(error) => {
                failures += 1;
                tracing::warn!(message = "pull failed, retrying", %error, attempt = failures);
                tokio::time::sleep(Duration::from_millis(200) * failures.min(25)).await;
            }
        }
    }
}

async fn spawn_flush(
    tasks: &mut JoinSet<()>,
    permits: &Arc<Semaphore>,
    sink: &Sink,
    settler: &Settler,
    metrics: &Arc<Metrics>,
    batch: Batch,
) {
    // Waiting for a permit stops the pull loop: backpressure instead of buffering.
    let permit = permits
        .clone()
        .acquire_owned()
        .await
        .expect("the semaphore is never closed");
    let sink = sink.clone();
    let settler = settler.clone();
    let metrics = metrics.clone();
    tasks.spawn(async move {
        let _permit = permit;
        let started = std::time::Instant::now();
        let Batch {
            sales,
            sale_leases,
            dead,
            dead_leases,
            ..
        } = batch;
        let (sales_result, dead_result) = tokio::join!(sink.write_sales(&sales), sink.write_dead_letters(&dead));
        metrics.observe_write(started.elapsed());
        metrics.batches.fetch_add(1, Relaxed);
        settle(&settler, &metrics, sales_result, sale_leases, &metrics.written, "sales").await;
        settle(
            &settler,
            &metrics,
            dead_result,
            dead_leases,
            &metrics.dead_lettered,
            "dead letters",
        )
        .await;
    });
}

/// Acks the messages whose rows are written; nacks them if the write failed.
async fn settle(
    settler: &Settler,
    metrics: &Metrics,
    result: Result<u32>,
    handlers: Vec<Lease>,
    written: &std::sync::atomic::AtomicU64,
    what: &str,
) {
    if handlers.is_empty() {
        return;
    }
    let n = handlers.len() as u64;
    match result {
        Ok(retries) => {
            metrics.retried.fetch_add(retries as u64, Relaxed);
            written.fetch_add(n, Relaxed);
            settler.ack(handlers).await;
            metrics.acked.fetch_add(n, Relaxed);
        }
        Err(error) => {
            metrics.failed_batches.fetch_add(1, Relaxed);
            tracing::error!(message = "write failed after every retry: nacking, Pub/Sub will redeliver", %error, rows = n, what);
            settler.nack(handlers).await;
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
        let o = WorkerOptions {
            batch_rows: 0,
            ..Default::default()
        };
        assert!(o.validate().unwrap_err().to_string().contains("--batch-rows"));
        let o = WorkerOptions {
            batch_bytes: 20 * 1024 * 1024,
            ..Default::default()
        };
        assert!(o.validate().unwrap_err().to_string().contains("--batch-bytes"));
        let o = WorkerOptions {
            max_outstanding_messages: 10,
            batch_rows: 100,
            ..Default::default()
        };
        assert!(
            o.validate()
                .unwrap_err()
                .to_string()
                .contains("--max-outstanding-messages")
        );
    }
}
