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
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::gcp::Gcp;
use crate::metrics::Metrics;
use crate::retry::{self, RetryPolicy};
use crate::settings::{DatasetArg, SubscriptionArg};
use crate::sink::{DeadLetter, Delivery, SaleRow, Sink, WriteMethod};
use crate::source::{Received, Settler, Source};
use crate::transform;

/// Default of `--batch-rows`.
pub const DEFAULT_BATCH_ROWS: usize = 1000;
/// Default of `--batch-bytes`.
pub const DEFAULT_BATCH_BYTES: usize = 4 * 1024 * 1024;
/// Default of `--flush-interval-ms`.
pub const DEFAULT_FLUSH_INTERVAL_MS: u64 = 1000;
/// Default of `--max-outstanding-messages`.
pub const DEFAULT_MAX_OUTSTANDING_MESSAGES: usize = 5000;
/// Default of `--max-outstanding-bytes`.
pub const DEFAULT_MAX_OUTSTANDING_BYTES: usize = 64 * 1024 * 1024;
/// Default of `--concurrent-writes`: two batches write while the next fills, enough to
/// hide a write's latency, and a bound on the rows held in memory.
pub const DEFAULT_CONCURRENT_WRITES: usize = 2;
/// Default of `--retry-budget-secs`.
pub const DEFAULT_RETRY_BUDGET_SECS: u64 = 120;
/// Default of `--stats-interval-secs`.
pub const DEFAULT_STATS_INTERVAL_SECS: u64 = 10;
/// Default of `--shutdown-grace-secs`: Cloud Run stops an instance 10 s after SIGTERM,
/// so the drain must end well before.
pub const DEFAULT_SHUTDOWN_GRACE_SECS: u64 = 7;
/// How long pulling may keep failing (transiently) before the worker gives up.
pub const PULL_RETRY_BUDGET: Duration = Duration::from_secs(60);

/// What the worker reads, where it writes, and how it batches: the `stream-worker`
/// flags, declared once here (each also an `INSTASHOP_*` environment variable).
#[derive(clap::Args, Debug, Clone)]
pub struct WorkerOptions {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub subscription: SubscriptionArg,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub dataset: DatasetArg,
    /// How sale rows reach BigQuery.
    #[arg(long = "write-method", env = "INSTASHOP_WRITE_METHOD", value_enum, default_value_t = WriteMethod::StorageWrite)]
    pub method: WriteMethod,
    /// Flush a batch at this many messages (1 to 50000)...
    #[arg(long, env = "INSTASHOP_BATCH_ROWS", default_value_t = DEFAULT_BATCH_ROWS)]
    pub batch_rows: usize,
    /// ...or this many payload bytes (1 KiB to 9 MiB)...
    #[arg(long, env = "INSTASHOP_BATCH_BYTES", default_value_t = DEFAULT_BATCH_BYTES)]
    pub batch_bytes: usize,
    /// ...or when its oldest message is this many milliseconds old.
    #[arg(long, env = "INSTASHOP_FLUSH_INTERVAL_MS", default_value_t = DEFAULT_FLUSH_INTERVAL_MS)]
    pub flush_interval_ms: u64,
    /// Flow control: most messages delivered and not yet acked.
    #[arg(long, env = "INSTASHOP_MAX_OUTSTANDING_MESSAGES", default_value_t = DEFAULT_MAX_OUTSTANDING_MESSAGES)]
    pub max_outstanding_messages: usize,
    /// Flow control: most bytes delivered and not yet acked.
    #[arg(long, env = "INSTASHOP_MAX_OUTSTANDING_BYTES", default_value_t = DEFAULT_MAX_OUTSTANDING_BYTES)]
    pub max_outstanding_bytes: usize,
    /// Batches written at once; more waits (backpressure up to the pull).
    #[arg(long, env = "INSTASHOP_CONCURRENT_WRITES", default_value_t = DEFAULT_CONCURRENT_WRITES)]
    pub concurrent_writes: usize,
    /// Exit 0 after this many seconds with no message and nothing in flight (for tests
    /// and catch-up runs).
    #[arg(long, env = "INSTASHOP_IDLE_TIMEOUT")]
    pub idle_timeout: Option<f64>,
    /// Seconds between stats lines.
    #[arg(long, env = "INSTASHOP_STATS_INTERVAL_SECS", default_value_t = DEFAULT_STATS_INTERVAL_SECS)]
    pub stats_interval_secs: u64,
    /// Seconds a failing write is retried before its messages are nacked.
    #[arg(long, env = "INSTASHOP_RETRY_BUDGET_SECS", default_value_t = DEFAULT_RETRY_BUDGET_SECS)]
    pub retry_budget_secs: u64,
    /// On shutdown, seconds in-flight writes may take before their messages are left
    /// unacked (Pub/Sub redelivers them).
    #[arg(long, env = "INSTASHOP_SHUTDOWN_GRACE_SECS", default_value_t = DEFAULT_SHUTDOWN_GRACE_SECS)]
    pub shutdown_grace_secs: u64,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            subscription: SubscriptionArg::default(),
            dataset: DatasetArg::default(),
            method: WriteMethod::StorageWrite,
            batch_rows: DEFAULT_BATCH_ROWS,
            batch_bytes: DEFAULT_BATCH_BYTES,
            flush_interval_ms: DEFAULT_FLUSH_INTERVAL_MS,
            max_outstanding_messages: DEFAULT_MAX_OUTSTANDING_MESSAGES,
            max_outstanding_bytes: DEFAULT_MAX_OUTSTANDING_BYTES,
            concurrent_writes: DEFAULT_CONCURRENT_WRITES,
            idle_timeout: None,
            stats_interval_secs: DEFAULT_STATS_INTERVAL_SECS,
            retry_budget_secs: DEFAULT_RETRY_BUDGET_SECS,
            shutdown_grace_secs: DEFAULT_SHUTDOWN_GRACE_SECS,
        }
    }
}

impl WorkerOptions {
    /// When a partly filled batch is flushed.
    pub fn flush_interval(&self) -> Duration {
        Duration::from_millis(self.flush_interval_ms)
    }

    /// The idle timeout, if any.
    pub fn idle_timeout(&self) -> Option<Duration> {
        self.idle_timeout.map(Duration::from_secs_f64)
    }

    /// The write retry policy.
    pub fn retry(&self) -> RetryPolicy {
        RetryPolicy::WRITE.with_budget(Duration::from_secs(self.retry_budget_secs))
    }

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
        if self.idle_timeout.is_some_and(|t| !(t.is_finite() && t > 0.0)) {
            return bad(
                "--idle-timeout",
                format!("{:?}", self.idle_timeout),
                "must be a positive number of seconds",
            );
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
        &opts.subscription.subscription,
        opts.max_outstanding_messages,
        opts.max_outstanding_bytes,
    )
    .await?;
    let sink = Sink::new(gcp, &opts.dataset.dataset, opts.method, opts.retry(), metrics.clone()).await?;
    // Both tables must exist before the first message is taken: BigQuery answered.
    sink.check_tables().await?;
    metrics.set_ready(true);
    let settler = source.settler();
    tracing::info!(message = "worker started", subscription = %opts.subscription.subscription, method = ?opts.method, batch_rows = opts.batch_rows, ack_deadline_s = source.ack_deadline());

    // The puller feeds a bounded channel: when writes fall behind, flow control stops it.
    let (stop_tx, stop_rx) = watch::channel(false);
    let (tx, mut rx) = mpsc::channel::<Result<Received>>(opts.batch_rows);
    let source = Arc::new(source);
    let puller = tokio::spawn(pull_loop(source.clone(), tx, stop_rx, metrics.clone()));

    let permits = Arc::new(Semaphore::new(opts.concurrent_writes));
    let mut tasks: JoinSet<()> = JoinSet::new();
    let mut batch = Batch::new();
    // A batch ready to write while every write slot is busy. Waiting for a slot is one
    // more branch of the select below, so a shutdown is seen at once even while writes
    // are retrying through a BigQuery outage (backpressure, never blindness).
    let mut ready: Option<Batch> = None;
    let mut last_message = Instant::now();
    let mut stats = tokio::time::interval(Duration::from_secs(opts.stats_interval_secs.max(1)));
    stats.tick().await;
    let far = Duration::from_secs(365 * 24 * 3600);
    tokio::pin!(shutdown);
    let mut outcome = Ok(());

    loop {
        metrics.heartbeat();
        let flush_at = if batch.len() > 0 {
            batch.opened + opts.flush_interval()
        } else {
            Instant::now() + far
        };
        let idle_at = match opts.idle_timeout() {
            Some(idle) if batch.len() == 0 && ready.is_none() && tasks.is_empty() => last_message + idle,
            _ => Instant::now() + far,
        };
        tokio::select! {
            _ = &mut shutdown => {
                tracing::info!(message = "shutdown requested: draining", in_flight = tasks.len());
                break;
            }
            _ = tokio::time::sleep_until(idle_at) => {
                tracing::info!(message = "idle timeout: nothing received", seconds = opts.idle_timeout().unwrap_or_default().as_secs());
                break;
            }
            _ = tokio::time::sleep_until(flush_at), if ready.is_none() => {
                ready = Some(std::mem::replace(&mut batch, Batch::new()));
            }
            permit = permits.clone().acquire_owned(), if ready.is_some() => {
                let permit = permit.expect("the semaphore is never closed");
                let full = ready.take().expect("guarded by ready.is_some()");
                spawn_flush(&mut tasks, permit, &sink, &settler, &metrics, full);
            }
            _ = stats.tick() => tracing::info!(message = "stats", stats = %metrics.stats_line()),
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            next = rx.recv(), if ready.is_none() => match next {
                None => break,
                Some(Err(error)) => {
                    tracing::error!(message = "pulling from the subscription failed", error = %error.report());
                    outcome = Err(error);
                    break;
                }
                Some(Ok(msg)) => {
                    last_message = Instant::now();
                    accept(&mut batch, msg, &metrics);
                    if batch.len() >= opts.batch_rows || batch.bytes >= opts.batch_bytes {
                        ready = Some(std::mem::replace(&mut batch, Batch::new()));
                    }
                }
            }
        }
    }

    // Drain within the grace period: stop pulling, take what was already pulled, write
    // it, ack. What is not written by then stays unacked, and Pub/Sub redelivers it.
    metrics.set_ready(false);
    let _ = stop_tx.send(true);
    let grace = Duration::from_secs(opts.shutdown_grace_secs);
    let drained = tokio::time::timeout(grace, async {
        while let Some(next) = rx.recv().await {
            if let Ok(msg) = next {
                accept(&mut batch, msg, &metrics);
            }
        }
        let _ = puller.await;
        for b in [ready.take(), Some(batch)].into_iter().flatten() {
            if b.len() > 0 {
                let permit = permits
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed");
                spawn_flush(&mut tasks, permit, &sink, &settler, &metrics, b);
            }
        }
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            message = "writes still in flight at the end of the grace period; their messages stay unacked and will be redelivered",
            in_flight = tasks.len(),
            grace_s = grace.as_secs()
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
    metrics.received.inc();
    let delivery = Delivery {
        message_id: msg.message_id,
        publish_ts: msg.publish_ts,
    };
    if let Some(p) = delivery.publish_ts {
        metrics.lag_ms.set((now - p).num_milliseconds().max(0));
    }
    if batch.len() == 0 {
        batch.opened = Instant::now();
    }
    let size = msg.data.len();
    batch.bytes += size;
    let lease = (msg.ack_id, size);
    match transform::validate(&msg.data, now) {
        Ok(accepted) => {
            metrics.unknown_fields.inc_by(accepted.unknown_fields as u64);
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

/// Pulls until told to stop; each message goes to the channel. A failed pull is retried
/// under the control policy for up to [`PULL_RETRY_BUDGET`]; a permanent failure (the
/// subscription was deleted, permission denied) or a spent budget ends the worker.
async fn pull_loop(
    source: Arc<Source>,
    tx: mpsc::Sender<Result<Received>>,
    mut stop: watch::Receiver<bool>,
    metrics: Arc<Metrics>,
) {
    let policy = RetryPolicy::CONTROL.with_budget(PULL_RETRY_BUDGET);
    let mut empty = 0u32;
    while !*stop.borrow() {
        let pull = || {
            metrics.pulls.inc();
            source.pull()
        };
        let pulled = tokio::select! {
            _ = stop.changed() => break,
            r = retry::retry(policy, "pull", pull, |_| {}) => r,
        };
        match pulled {
            Ok(msgs) if msgs.is_empty() => {
                empty += 1;
                tokio::select! {
                    _ = stop.changed() => break,
                    _ = tokio::time::sleep(Source::empty_backoff(empty)) => {}
                }
            }
            Ok(msgs) => {
                empty = 0;
                for m in msgs {
                    if tx.send(Ok(m)).await.is_err() {
                        return;
                    }
                }
            }
            Err(error) => {
                let _ = tx.send(Err(error)).await;
                return;
            }
        }
    }
}

/// Writes `batch` in a task holding one of the write slots, then settles its messages.
fn spawn_flush(
    tasks: &mut JoinSet<()>,
    permit: OwnedSemaphorePermit,
    sink: &Sink,
    settler: &Settler,
    metrics: &Arc<Metrics>,
    batch: Batch,
) {
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
        metrics.batches.inc();
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
    result: Result<()>,
    handlers: Vec<Lease>,
    written: &prometheus_client::metrics::counter::Counter,
    what: &str,
) {
    if handlers.is_empty() {
        return;
    }
    let n = handlers.len() as u64;
    match result {
        Ok(()) => {
            written.inc_by(n);
            settler.ack(handlers).await;
            metrics.acked.inc_by(n);
        }
        Err(error) => {
            metrics.failed_batches.inc();
            tracing::error!(message = "write failed: nacking, Pub/Sub will redeliver", error = %error.report(), rows = n, what);
            settler.nack(handlers).await;
            metrics.nacked.inc_by(n);
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
