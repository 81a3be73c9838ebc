//! `stream-worker`: the Dataflow stand-in. Pulls from the subscription with bounded
//! flow control ([`Source`]), [`transform::validate`] each event, micro-batches flushed by
//! rows, bytes or time into BigQuery through the [`Sink`], and an ack only once BigQuery
//! holds the message's row (a sale or a dead letter). A write that fails after every
//! retry nacks its messages; Pub/Sub redelivers them, and after the subscription's
//! maximum delivery attempts moves them to the dead-letter topic.
//!
//! A write that fails for the whole table ([`Error::sink_wide`]: a revoked role, a
//! dropped table, an incompatible schema) nacks nothing: every later write would fail
//! too, and the messages would run out of delivery attempts. The worker stops pulling,
//! turns `/readyz` to 503, says once what is wrong and what to do, and keeps trying the
//! batches it holds (their leases extended) every few seconds; once BigQuery takes them
//! it pulls again. After `--sink-down-exit-secs` it exits non-zero, messages unacked, so
//! the platform restarts it with backoff.
//!
//! On shutdown the in-flight long-poll pull is not abandoned: it is let finish within
//! the grace period, and what it brings is handed back (`modifyAckDeadline` 0) so the
//! next worker gets it at once rather than after the ack deadline.
//!
//! Nothing correctness depends on lives in this process: rows are deduplicated by
//! `event_id` in the views, so redeliveries, a killed worker or several workers on one
//! subscription all give the same results.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::platform::error::{Error, Result};
use crate::platform::gcp::Gcp;
use crate::platform::retry::{self, RetryPolicy};
use crate::platform::settings::{BucketArg, DatasetArg, SubscriptionArg};
use crate::streaming::metrics::Metrics;
use crate::streaming::sink::{DEAD_LETTER_TABLE, DeadLetter, Delivery, SALES_TABLE, SaleRow, Sink, WriteMethod};
use crate::streaming::source::{Received, Settler, Source};
use crate::streaming::transform;

/// Default of `--batch-rows`.
pub(crate) const DEFAULT_BATCH_ROWS: usize = 1000;
/// Default of `--batch-bytes`.
pub(crate) const DEFAULT_BATCH_BYTES: usize = 4 * 1024 * 1024;
/// Default of `--flush-interval-ms`.
pub(crate) const DEFAULT_FLUSH_INTERVAL_MS: u64 = 1000;
/// Default of `--max-outstanding-messages`.
pub(crate) const DEFAULT_MAX_OUTSTANDING_MESSAGES: usize = 5000;
/// Default of `--max-outstanding-bytes`.
pub(crate) const DEFAULT_MAX_OUTSTANDING_BYTES: usize = 64 * 1024 * 1024;
/// Default of `--concurrent-writes`: two batches write while the next fills, enough to
/// hide a write's latency, and a bound on the rows held in memory.
pub(crate) const DEFAULT_CONCURRENT_WRITES: usize = 2;
/// Default of `--retry-budget-secs`.
pub(crate) const DEFAULT_RETRY_BUDGET_SECS: u64 = 120;
/// Default of `--stats-interval-secs`.
pub(crate) const DEFAULT_STATS_INTERVAL_SECS: u64 = 10;
/// Default of `--shutdown-grace-secs`: Cloud Run stops an instance 10 s after SIGTERM,
/// so the drain must end well before.
pub(crate) const DEFAULT_SHUTDOWN_GRACE_SECS: u64 = 7;
/// How long one pull may keep failing (transiently) before the worker gives up; the
/// wait for flow-control room before a pull does not count.
pub(crate) const PULL_RETRY_BUDGET: Duration = Duration::from_secs(60);
/// Default of `--sink-down-exit-secs`.
pub(crate) const DEFAULT_SINK_DOWN_EXIT_SECS: u64 = 600;
/// First pause before a write is tried again while BigQuery refuses every write; it
/// doubles up to [`SINK_PROBE_MAX`].
const SINK_PROBE_FIRST: Duration = Duration::from_secs(2);
/// Longest pause between those tries.
const SINK_PROBE_MAX: Duration = Duration::from_secs(30);

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
    /// Where the whole payloads of dead letters over 64 KiB are kept
    /// (`pipelines/dead-letters/`).
    #[command(flatten)]
    pub bucket: BucketArg,
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
    /// While BigQuery refuses every write (a revoked role, a dropped table), seconds the
    /// worker holds its messages and tries again before it exits non-zero (at most 3000:
    /// leases are extended for an hour at most).
    #[arg(long, env = "INSTASHOP_SINK_DOWN_EXIT_SECS", default_value_t = DEFAULT_SINK_DOWN_EXIT_SECS)]
    pub sink_down_exit_secs: u64,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            subscription: SubscriptionArg::default(),
            dataset: DatasetArg::default(),
            bucket: BucketArg::default(),
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
            sink_down_exit_secs: DEFAULT_SINK_DOWN_EXIT_SECS,
        }
    }
}

impl WorkerOptions {
    /// When a partly filled batch is flushed.
    pub(crate) fn flush_interval(&self) -> Duration {
        Duration::from_millis(self.flush_interval_ms)
    }

    /// The idle timeout, if any.
    pub(crate) fn idle_timeout(&self) -> Option<Duration> {
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
        if self.sink_down_exit_secs == 0 || self.sink_down_exit_secs > 3000 {
            return bad(
                "--sink-down-exit-secs",
                self.sink_down_exit_secs.to_string(),
                "must be 1 to 3000 (the leases of held messages are extended for an hour at most)",
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
    /// Each sale's payload and attributes, to dead-letter it if BigQuery refuses its row.
    sale_sources: Vec<(bytes::Bytes, HashMap<String, String>)>,
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
            sale_sources: Vec::new(),
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

/// BigQuery refusing every write: since when, where, why, and what to do.
#[derive(Debug, Clone)]
struct Outage {
    since: Instant,
    table: &'static str,
    cause: String,
    action: &'static str,
}

/// Whether BigQuery takes the worker's writes, shared by the write tasks (which report
/// it), the puller (which waits while it does not) and the main loop (which exits once
/// it has not for too long).
#[derive(Clone)]
struct SinkHealth {
    state: Arc<watch::Sender<Option<Outage>>>,
    metrics: Arc<Metrics>,
    exit_after: Duration,
}

impl SinkHealth {
    fn new(metrics: Arc<Metrics>, exit_after: Duration) -> Self {
        SinkHealth {
            state: Arc::new(watch::Sender::new(None)),
            metrics,
            exit_after,
        }
    }

    /// A write to `table` failed for the whole table; the first such failure of an
    /// outage says so, once.
    fn down(&self, table: &'static str, error: &Error, action: &'static str, held: usize) {
        let entered = self.state.send_if_modified(|state| {
            if state.is_some() {
                return false;
            }
            *state = Some(Outage {
                since: Instant::now(),
                table,
                cause: error.report(),
                action,
            });
            true
        });
        if entered {
            self.metrics.set_sink_down(true);
            let sentence = format!(
                "BigQuery refuses every write to {table}: {action}. The worker stops pulling, holds its {held} messages unacked with their leases extended, tries again every few seconds, and exits after {} s if this persists",
                self.exit_after.as_secs()
            );
            tracing::error!(message = %sentence, cause = %error.report());
        }
    }

    /// A write went through: if BigQuery was refusing them, it no longer is.
    fn up(&self) {
        let mut ended = None;
        self.state.send_if_modified(|state| {
            ended = state.take();
            ended.is_some()
        });
        if let Some(outage) = ended {
            self.metrics.set_sink_down(false);
            tracing::info!(
                message = "BigQuery takes writes again: pulling again",
                table = outage.table,
                down_s = outage.since.elapsed().as_secs()
            );
        }
    }

    fn watch(&self) -> watch::Receiver<Option<Outage>> {
        self.state.subscribe()
    }
}

/// Runs until `shutdown` resolves, the idle timeout passes, the subscription fails, or
/// BigQuery has refused every write for `--sink-down-exit-secs`; then stops pulling,
/// writes and acks what it holds (not in the last case), and returns.
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
        metrics.lease_extensions.clone(),
    )
    .await?;
    let sink = Sink::new(
        gcp,
        &opts.dataset.dataset,
        &opts.bucket.bucket,
        opts.method,
        opts.retry(),
        metrics.clone(),
    )
    .await?;
    // Both tables must exist before the first message is taken: BigQuery answered.
    sink.check_tables().await?;
    metrics.set_ready(true);
    let settler = source.settler();
    let health = SinkHealth::new(metrics.clone(), Duration::from_secs(opts.sink_down_exit_secs));
    let mut outage = health.watch();
    tracing::info!(message = "worker started", subscription = %opts.subscription.subscription, method = ?opts.method, batch_rows = opts.batch_rows, ack_deadline_s = source.ack_deadline());

    // The puller feeds a bounded channel: when writes fall behind, flow control stops it.
    let (stop_tx, stop_rx) = watch::channel(false);
    let (tx, mut rx) = mpsc::channel::<Result<Received>>(opts.batch_rows);
    let source = Arc::new(source);
    let mut puller = tokio::spawn(pull_loop(source.clone(), tx, stop_rx, health.watch(), metrics.clone()));

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
    let mut sink_gave_out = false;

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
        let give_up_at = match &*outage.borrow() {
            Some(o) => o.since + health.exit_after,
            None => Instant::now() + far,
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
            changed = outage.changed() => {
                // A write task reported BigQuery down or back: the deadline above moves,
                // and the idle time counts from now (nothing was pulled meanwhile).
                changed.expect("the health sender lives as long as this loop");
                last_message = Instant::now();
            }
            _ = tokio::time::sleep_until(give_up_at) => {
                let o = outage.borrow().clone().expect("a deadline exists only during an outage");
                let error = Error::SinkDown {
                    table: o.table.to_string(),
                    seconds: o.since.elapsed().as_secs(),
                    cause: o.cause,
                    action: o.action,
                };
                tracing::error!(message = %error, in_flight = tasks.len());
                outcome = Err(error);
                sink_gave_out = true;
                break;
            }
            _ = tokio::time::sleep_until(flush_at), if ready.is_none() => {
                ready = Some(std::mem::replace(&mut batch, Batch::new()));
            }
            permit = permits.clone().acquire_owned(), if ready.is_some() => {
                let permit = permit.expect("the semaphore is never closed");
                let full = ready.take().expect("guarded by ready.is_some()");
                spawn_flush(&mut tasks, permit, &sink, &settler, &health, full);
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
    // The puller closes the channel at once; its in-flight pull, let finish, hands back
    // what it brings. After BigQuery refused every write for too long, nothing more is
    // tried: the messages stay unacked.
    metrics.set_ready(false);
    let _ = stop_tx.send(true);
    let grace = Duration::from_secs(opts.shutdown_grace_secs);
    if sink_gave_out {
        tasks.abort_all();
    }
    let mut writes_done = false;
    let drained = tokio::time::timeout(grace, async {
        while let Some(next) = rx.recv().await {
            if let Ok(msg) = next {
                accept(&mut batch, msg, &metrics);
            }
        }
        if !sink_gave_out {
            for b in [ready.take(), Some(batch)].into_iter().flatten() {
                if b.len() > 0 {
                    let permit = permits
                        .clone()
                        .acquire_owned()
                        .await
                        .expect("the semaphore is never closed");
                    spawn_flush(&mut tasks, permit, &sink, &settler, &health, b);
                }
            }
        }
        while tasks.join_next().await.is_some() {}
        writes_done = true;
        let _ = (&mut puller).await;
    })
    .await;
    if drained.is_err() && writes_done {
        tracing::info!(
            message = "the last long poll was still open at the end of the grace period; what it may be handed stays leased until the ack deadline",
            grace_s = grace.as_secs()
        );
    } else if drained.is_err() {
        tracing::warn!(
            message = "writes still in flight at the end of the grace period; their messages stay unacked and will be redelivered",
            in_flight = tasks.len(),
            grace_s = grace.as_secs()
        );
    }
    if drained.is_err() {
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
        puller.abort();
        let _ = (&mut puller).await;
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
            batch.sale_sources.push((msg.data, msg.attributes));
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

/// Pulls until told to stop; each message goes to the channel. No pull is sent while
/// flow control has no room, nor while BigQuery refuses every write. A failed pull is
/// retried under the control policy for up to [`PULL_RETRY_BUDGET`] (the wait for room
/// does not count); a permanent failure (the subscription was deleted, permission
/// denied) or a spent budget ends the worker. Told to stop during a pull, it closes the
/// channel, lets the pull finish, and hands back what it brings.
async fn pull_loop(
    source: Arc<Source>,
    tx: mpsc::Sender<Result<Received>>,
    mut stop: watch::Receiver<bool>,
    mut outage: watch::Receiver<Option<Outage>>,
    metrics: Arc<Metrics>,
) {
    let policy = RetryPolicy::CONTROL.with_budget(PULL_RETRY_BUDGET);
    let mut empty = 0u32;
    while !*stop.borrow() {
        while outage.borrow_and_update().is_some() {
            tokio::select! {
                _ = stop.changed() => return,
                changed = outage.changed() => if changed.is_err() { return },
            }
        }
        tokio::select! {
            _ = stop.changed() => return,
            _ = source.wait_for_room() => {}
        }
        let pull = retry::retry(
            policy,
            "pull",
            || {
                metrics.pulls.inc();
                source.pull()
            },
            |_| {},
        );
        tokio::pin!(pull);
        let pulled = tokio::select! {
            _ = stop.changed() => {
                drop(tx);
                if let Ok(msgs) = pull.await {
                    hand_back(&source, &metrics, msgs).await;
                }
                return;
            }
            r = &mut pull => r,
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

/// Hands messages back to Pub/Sub at once (`modifyAckDeadline` 0): pulled after
/// shutdown began, they would otherwise stay leased to nobody until the ack deadline.
async fn hand_back(source: &Source, metrics: &Metrics, msgs: Vec<Received>) {
    if msgs.is_empty() {
        return;
    }
    let n = msgs.len();
    let leases = msgs.into_iter().map(|m| (m.ack_id, m.data.len())).collect();
    source.settler().nack(leases).await;
    metrics.handed_back.inc_by(n as u64);
    tracing::info!(
        message = "handed back what the last pull brought after shutdown began",
        count = n
    );
}

/// Writes `batch` in a task holding one of the write slots, then settles its messages.
/// A part (the sales, the dead letters) whose write fails for the whole table is not
/// settled: it is tried again, with growing pauses, until BigQuery takes it or the
/// worker gives up (the main loop then aborts this task, messages unacked).
fn spawn_flush(
    tasks: &mut JoinSet<()>,
    permit: OwnedSemaphorePermit,
    sink: &Sink,
    settler: &Settler,
    health: &SinkHealth,
    batch: Batch,
) {
    let sink = sink.clone();
    let settler = settler.clone();
    let health = health.clone();
    tasks.spawn(async move {
        let _permit = permit;
        let metrics = health.metrics.clone();
        let Batch {
            sales,
            sale_leases,
            sale_sources,
            dead,
            dead_leases,
            ..
        } = batch;
        // The leases of a part not yet settled (None once it is).
        let mut sale_leases = (!sale_leases.is_empty()).then_some(sale_leases);
        let mut dead_leases = (!dead_leases.is_empty()).then_some(dead_leases);
        let mut pause = SINK_PROBE_FIRST;
        metrics.batches.inc();
        loop {
            let started = std::time::Instant::now();
            let (sales_result, dead_result) = tokio::join!(
                async {
                    match &sale_leases {
                        Some(_) => Some(sink.write_sales(&sales).await),
                        None => None,
                    }
                },
                async {
                    match &dead_leases {
                        Some(_) => Some(sink.write_dead_letters(&dead).await),
                        None => None,
                    }
                },
            );
            metrics.observe_write(started.elapsed());
            let mut refused = None;
            let mut wrote = false;
            let parts = [
                (sales_result, &mut sale_leases, SALES_TABLE, &metrics.written, "sales"),
                (
                    dead_result.map(|r| r.map(|()| Vec::new())),
                    &mut dead_leases,
                    DEAD_LETTER_TABLE,
                    &metrics.dead_lettered,
                    "dead letters",
                ),
            ];
            for (result, part, table, written, what) in parts {
                let result = match result {
                    None => continue,
                    Some(Ok(rows_refused)) if !rows_refused.is_empty() => {
                        let leases = part.as_mut().expect("a result means the part was written");
                        dead_letter_refused(&sink, &settler, &metrics, rows_refused, &sales, &sale_sources, leases)
                            .await;
                        Ok(())
                    }
                    Some(Ok(_)) => Ok(()),
                    Some(Err(error)) => match error.sink_wide() {
                        Some(action) => {
                            refused = Some((table, action, error));
                            continue;
                        }
                        None => Err(error),
                    },
                };
                wrote |= result.is_ok();
                let leases = part.take().expect("a result means the part was written");
                settle(&settler, &metrics, result, leases, written, what).await;
            }
            match refused {
                None => {
                    if wrote {
                        health.up();
                    }
                    return;
                }
                Some((table, action, error)) => {
                    let held = sale_leases.as_ref().map_or(0, Vec::len) + dead_leases.as_ref().map_or(0, Vec::len);
                    health.down(table, &error, action, held);
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(SINK_PROBE_MAX);
                    metrics.sink_probes.inc();
                }
            }
        }
    });
}

/// The sales whose rows BigQuery refused to store (the rest are written): each becomes
/// a dead letter with its payload and BigQuery's reason, and its lease leaves `leases`
/// (which then holds the written ones). A refused row is acked once its dead letter is
/// written, and nacked if that write fails (a redelivery is refused and tried again).
async fn dead_letter_refused(
    sink: &Sink,
    settler: &Settler,
    metrics: &Metrics,
    refused: Vec<crate::platform::gcp::RowRefusal>,
    sales: &[SaleRow],
    sources: &[(bytes::Bytes, HashMap<String, String>)],
    leases: &mut Vec<Lease>,
) {
    let mut letters = Vec::with_capacity(refused.len());
    let mut at_fault = vec![false; leases.len()];
    for r in refused {
        let (raw, attributes) = &sources[r.index];
        let delivery = sales[r.index].delivery.clone();
        tracing::warn!(message = "BigQuery refused a row: dead-lettered", reason = %r.reason, message_id = %delivery.message_id);
        metrics.reject(transform::RejectKind::RefusedByBigQuery);
        letters.push(DeadLetter {
            raw: raw.clone(),
            attributes: attributes.clone(),
            reject: transform::Reject {
                kind: transform::RejectKind::RefusedByBigQuery,
                reason: format!("BigQuery refused the row: {}", r.reason),
            },
            delivery,
        });
        at_fault[r.index] = true;
    }
    let mut refused_leases = Vec::with_capacity(letters.len());
    let mut i = 0;
    leases.retain(|lease| {
        let keep = !at_fault[i];
        if !keep {
            refused_leases.push(lease.clone());
        }
        i += 1;
        keep
    });
    let written = sink.write_dead_letters(&letters).await;
    settle(
        settler,
        metrics,
        written,
        refused_leases,
        &metrics.dead_lettered,
        "refused rows' dead letters",
    )
    .await;
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
