//! `stream-worker`: Pub/Sub → validate → BigQuery, acking only what BigQuery holds.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use instashop::platform::settings::{BigQueryEmulatorArgs, GcpArgs, ProjectArg, PubSubEmulatorArg, StorageEmulatorArg};
use instashop::{platform::cli::LogArgs, platform::gcp::Gcp, streaming::metrics, streaming::worker};

/// Stream order events from the subscription into fact_sales_streaming (bad ones into
/// fact_sales_deadletter). SIGTERM or Ctrl-C: stop pulling, flush, ack, exit 0.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    #[command(flatten)]
    project: ProjectArg,
    #[command(flatten)]
    pubsub: PubSubEmulatorArg,
    #[command(flatten)]
    bigquery: BigQueryEmulatorArgs,
    #[command(flatten)]
    storage: StorageEmulatorArg,
    #[command(flatten)]
    worker: worker::WorkerOptions,
    /// Serve Prometheus metrics at http://ADDR/metrics, liveness at /healthz and
    /// readiness at /readyz (loopback only unless --metrics-all-interfaces), e.g.
    /// 127.0.0.1:9464.
    #[arg(long, env = "INSTASHOP_METRICS_ADDR")]
    metrics_addr: Option<SocketAddr>,
    /// Allow --metrics-addr on every interface (0.0.0.0:PORT): only in a container whose
    /// platform probes it from outside (a Cloud Run worker pool has no ingress).
    #[arg(long, env = "INSTASHOP_METRICS_ALL_INTERFACES")]
    metrics_all_interfaces: bool,
    #[command(flatten)]
    log: LogArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    instashop::platform::cli::run("stream-worker", &args.log, async move {
        args.worker.validate()?;
        let gcp = Gcp::new(&GcpArgs::from_flags(
            &args.project,
            Some(&args.pubsub),
            Some(&args.bigquery),
            Some(&args.storage),
        ))?;
        let m = metrics::Metrics::new();
        let _server = match args.metrics_addr {
            Some(addr) => {
                let (bound, task) = metrics::serve(addr, args.metrics_all_interfaces, m.clone()).await?;
                tracing::info!(message = "metrics", url = %format!("http://{bound}/metrics"));
                Some(task)
            }
            None => None,
        };
        worker::run(&gcp, &args.worker, m, worker::termination_signal()).await?;
        Ok(())
    })
}
