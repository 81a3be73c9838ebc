//! `replay`: dead letters back into the flow after a fix.

use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::Parser;
use instashop::ops::replay::{self, Repair, Selection};
use instashop::streaming::transform::RejectKind;
use instashop::{platform::gcp::Gcp, platform::settings};

/// Republish dead letters that today's rules accept (optionally after explicit repairs),
/// each once: what was replayed is recorded in fact_sales_replay and skipped next time.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    #[command(flatten)]
    project: settings::ProjectArg,
    #[command(flatten)]
    pubsub: settings::PubSubEmulatorArg,
    #[command(flatten)]
    bigquery: settings::BigQueryEmulatorArgs,
    #[command(flatten)]
    dataset: settings::DatasetArg,
    #[command(flatten)]
    topic: settings::TopicArg,
    #[command(flatten)]
    log: instashop::platform::cli::LogArgs,
    /// Only dead letters of this error kind (repeat for several), e.g. bad_event_ts.
    #[arg(long = "kind", value_parser = kind)]
    kinds: Vec<RejectKind>,
    /// Only dead letters written at or after this time (RFC 3339).
    #[arg(long)]
    since: Option<DateTime<Utc>>,
    /// Only dead letters written before this time (RFC 3339).
    #[arg(long)]
    until: Option<DateTime<Utc>>,
    /// Only this dead letter, by its message id (repeat for several).
    #[arg(long = "message-id")]
    message_ids: Vec<String>,
    /// Apply this explicit repair before validating (repeat for several).
    #[arg(long = "repair", value_enum)]
    repairs: Vec<Repair>,
    /// Decide and report; publish and record nothing.
    #[arg(long)]
    dry_run: bool,
    /// Replay what Pub/Sub itself dead-lettered (delivery failures), from the dead-letter
    /// topic's keep-subscription, instead of the worker's dead-letter rows.
    #[arg(long, conflicts_with_all = ["kinds", "since", "until", "message_ids"])]
    from_topic: bool,
}

fn kind(s: &str) -> Result<RejectKind, String> {
    s.parse().map_err(|_| {
        let all: Vec<&str> = RejectKind::ALL.iter().map(|k| k.as_str()).collect();
        format!("not an error kind; one of: {}", all.join(", "))
    })
}

fn main() -> ExitCode {
    let args = Args::parse();
    instashop::platform::cli::run("replay", &args.log, async move {
        let gcp = Gcp::new(&settings::GcpArgs::from_flags(
            &args.project,
            Some(&args.pubsub),
            Some(&args.bigquery),
            None,
        ))?;
        let opts = replay::Options {
            dataset: args.dataset.dataset,
            topic: args.topic.topic,
            selection: Selection {
                kinds: args.kinds,
                since: args.since,
                until: args.until,
                message_ids: args.message_ids,
            },
            repairs: args.repairs,
            dry_run: args.dry_run,
            from_topic: args.from_topic,
        };
        let summary = replay::run(&gcp, &opts).await?;
        println!("{summary}");
        Ok(())
    })
}
