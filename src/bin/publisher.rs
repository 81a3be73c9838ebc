//! `publisher`: simulated live sales, published to Pub/Sub as order events.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use instashop::{platform::gcp::Gcp, platform::settings, streaming::publisher};

/// Publish simulated order events (one per order line) to the orders topic.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    #[command(flatten)]
    project: settings::ProjectArg,
    #[command(flatten)]
    pubsub: settings::PubSubEmulatorArg,
    #[command(flatten)]
    topic: settings::TopicArg,
    #[command(flatten)]
    log: instashop::platform::cli::LogArgs,
    /// Messages to publish (duplicates included).
    #[arg(long, conflicts_with = "duration")]
    count: Option<u64>,
    /// How long to publish, in seconds.
    #[arg(long, value_parser = parse_secs)]
    duration: Option<Duration>,
    /// Messages per second; 0 publishes as fast as the client can.
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// Seed of the master data: use datagen's --seed, so live sales sell the history's
    /// products to its customers.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Seed of the event stream (ids, orders, quantities): the same one gives the same
    /// events (but for event_ts, the clock). Default: --seed. Give a new one per run to
    /// add new sales on top of earlier runs'.
    #[arg(long)]
    events_seed: Option<u64>,
    /// Share of events made malformed (0 to 1), of many kinds.
    #[arg(long, default_value_t = 0.0)]
    invalid_ratio: f64,
    /// Share of events published twice (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    duplicate_ratio: f64,
    /// Share of orders whose payment fails (0 to 1): `payment_status` "failed" on each of
    /// their lines. 0.06 is the history's share; raise it to set off the failed-payment alert.
    #[arg(long, default_value_t = 0.06)]
    payment_failure_ratio: f64,
    /// Customers in the master data; match `datagen --customers`.
    #[arg(long, default_value_t = 1000)]
    customers: u32,
    /// Products in the master data; match `datagen --products`.
    #[arg(long, default_value_t = 200)]
    products: u32,
    /// Use each event's order id as its ordering key.
    #[arg(long)]
    ordering_key: bool,
    /// Print the events as JSON lines instead of publishing.
    #[arg(long)]
    dry_run: bool,
    /// Also write the summary as JSON to this file.
    #[arg(long)]
    summary_json: Option<PathBuf>,
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    s.trim_end_matches('s')
        .parse::<f64>()
        .map(Duration::from_secs_f64)
        .map_err(|e| format!("{s}: {e}"))
}

fn main() -> ExitCode {
    let args = Args::parse();
    instashop::platform::cli::run_single_threaded("publisher", &args.log, async move {
        for (name, v) in [
            ("--invalid-ratio", args.invalid_ratio),
            ("--duplicate-ratio", args.duplicate_ratio),
            ("--payment-failure-ratio", args.payment_failure_ratio),
        ] {
            anyhow::ensure!((0.0..=1.0).contains(&v), "{name} must be between 0 and 1, got {v}");
        }
        anyhow::ensure!(args.rate >= 0.0, "--rate must be 0 or more");
        anyhow::ensure!(
            args.customers > 0 && args.products > 0,
            "--customers and --products must be at least 1"
        );
        let count = match (args.count, args.duration) {
            (None, None) => Some(1000),
            (c, _) => c,
        };
        let opts = publisher::PublishOptions {
            topic: args.topic.topic,
            count,
            duration: args.duration,
            rate: args.rate,
            ordering_key: args.ordering_key,
            generator: publisher::GeneratorConfig {
                seed: args.seed,
                events_seed: args.events_seed,
                invalid_ratio: args.invalid_ratio,
                duplicate_ratio: args.duplicate_ratio,
                payment_failure_ratio: args.payment_failure_ratio,
                customers: args.customers,
                products: args.products,
            },
        };
        if args.dry_run {
            let n = publisher::dry_run(&opts, &mut std::io::stdout().lock())?;
            eprintln!("publisher: dry run, {n} events printed, nothing published");
            return Ok(());
        }
        let gcp = Gcp::new(&settings::GcpArgs::from_flags(
            &args.project,
            Some(&args.pubsub),
            None,
            None,
        ))?;
        let s = publisher::run(&gcp, &opts).await?;
        println!(
            "published {} messages in {:.1}s ({:.0}/s): {} valid events, {} malformed, {} duplicates; {} failed; gross of valid events {} (completed payments {})",
            s.published,
            s.seconds,
            s.events_per_second,
            s.valid_events,
            s.invalid_events,
            s.duplicates,
            s.failed,
            s.gross_total,
            s.completed_total
        );
        if let Some(path) = args.summary_json {
            std::fs::write(&path, serde_json::to_string_pretty(&s)?)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        anyhow::ensure!(s.failed == 0, "{} messages could not be published", s.failed);
        Ok(())
    })
}
