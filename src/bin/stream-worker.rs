//! `stream-worker`: Pub/Sub → validate → BigQuery, acking only what BigQuery holds.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use instashop::{gcp::Gcp, metrics, settings, sink, worker};

/// Stream order events from the subscription into fact_sales_streaming (bad ones into
/// fact_sales_deadletter). SIGTERM or Ctrl-C: stop pulling, flush, ack, exit 0.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    #[command(flatten)]
    gcp: settings::GcpArgs,
    /// The subscription to pull from.
    #[arg(long, env = "INSTASHOP_SUBSCRIPTION", default_value = settings::DEFAULT_SUBSCRIPTION)]
    subscription: String,
    /// Dataset holding fact_sales_streaming and fact_sales_deadletter.
    #[arg(long, env = "INSTASHOP_DATASET", default_value = settings::DEFAULT_DATASET)]
    dataset: String,
    /// How sale rows reach BigQuery.
    #[arg(long, value_enum, default_value_t = sink::WriteMethod::StorageWrite)]
    write_method: sink::WriteMethod,
    /// Exit 0 after this many seconds with no message (for tests and catch-up runs).
    #[arg(long)]
    idle_timeout: Option<f64>,
    /// Flush a batch at this many messages.
    #[arg(long, default_value_t = 1000)]
    batch_rows: usize,
    /// Flush a batch at this many payload bytes.
    #[arg(long, default_value_t = 4 * 1024 * 1024)]
    batch_bytes: usize,
    /// Flush a batch when its oldest message is this many milliseconds old.
    #[arg(long, default_value_t = 1000)]
    flush_interval_ms: u64,
    /// Flow control: most messages delivered and not yet acked.
    #[arg(long, default_value_t = 5000)]
    max_outstanding_messages: usize,
    /// Flow control: most bytes delivered and not yet acked.
    #[arg(long, default_value_t = 64 * 1024 * 1024)]
    max_outstanding_bytes: usize,
    /// Batches written at once.
    #[arg(long, default_value_t = 2)]
    concurrent_writes: usize,
    /// Seconds a failing write is retried before its messages are nacked.
    #[arg(long, default_value_t = 120)]
    retry_budget_secs: u64,
    /// Seconds between stats lines.
    #[arg(long, default_value_t = 10)]
    stats_interval_secs: u64,
    /// Serve Prometheus metrics at http://ADDR/metrics (loopback only), e.g. 127.0.0.1:9464.
    #[arg(long, env = "INSTASHOP_METRICS_ADDR")]
    metrics_addr: Option<SocketAddr>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    instashop::cli::run("stream-worker", async move {
        let opts = worker::WorkerOptions {
            subscription: args.subscription,
            dataset: args.dataset,
            method: args.write_method,
            batch_rows: args.batch_rows,
            batch_bytes: args.batch_bytes,
            flush_interval: Duration::from_millis(args.flush_interval_ms),
            max_outstanding_messages: args.max_outstanding_messages,
            max_outstanding_bytes: args.max_outstanding_bytes,
            concurrent_writes: args.concurrent_writes,
            idle_timeout: args.idle_timeout.map(Duration::from_secs_f64),
            stats_interval: Duration::from_secs(args.stats_interval_secs.max(1)),
            retry: sink::RetryPolicy {
                budget: Duration::from_secs(args.retry_budget_secs),
                ..Default::default()
            },
            ..Default::default()
        };
        opts.validate()?;
        let gcp = Gcp::new(&args.gcp)?;
        let m = metrics::Metrics::new();
        let _server = match args.metrics_addr {
            Some(addr) => {
                let (bound, task) = metrics::serve(addr, m.clone()).await?;
                tracing::info!(message = "metrics", url = %format!("http://{bound}/metrics"));
                Some(task)
            }
            None => None,
        };
        worker::run(&gcp, &opts, m, worker::termination_signal()).await?;
        Ok(())
    })
}
