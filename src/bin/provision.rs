//! `provision`: creates every bucket folder, dataset, table, view, topic and
//! subscription of the data model, idempotently, in the emulators or in a project.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use instashop::{model::DataModel, model::provision, platform::gcp::Gcp, platform::settings};

/// Create (or check) every resource of InstaShop Analytics: a second run changes nothing.
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
    storage: settings::StorageEmulatorArg,
    #[command(flatten)]
    dataset: settings::DatasetArg,
    #[command(flatten)]
    bucket: settings::BucketArg,
    #[command(flatten)]
    topic: settings::TopicArg,
    #[command(flatten)]
    subscription: settings::SubscriptionArg,
    #[command(flatten)]
    time_zone: settings::TimeZoneArg,
    #[command(flatten)]
    log: instashop::platform::cli::LogArgs,
    /// Location of the dataset and bucket.
    #[arg(long, env = "INSTASHOP_LOCATION", default_value = settings::DEFAULT_LOCATION)]
    location: String,
    /// The data model folder (schemas/, views/, tables.json); default ./bigquery.
    #[arg(long, env = "INSTASHOP_MODEL_DIR")]
    model_dir: Option<PathBuf>,
    /// Seconds the stream worker has to ack a message before Pub/Sub redelivers it (10 to 600).
    #[arg(long, env = "INSTASHOP_ACK_DEADLINE_SECS", default_value_t = provision::ACK_DEADLINE_SECONDS)]
    ack_deadline_secs: i32,
    /// Print what would be created or updated, and change nothing.
    #[arg(long)]
    dry_run: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    instashop::platform::cli::run("provision", &args.log, async move {
        let dir = args.model_dir.unwrap_or_else(DataModel::default_dir);
        let model = DataModel::load(&dir).context("the data model in bigquery/ is invalid")?;
        let gcp = Gcp::new(&settings::GcpArgs::from_flags(
            &args.project,
            Some(&args.pubsub),
            Some(&args.bigquery),
            Some(&args.storage),
        ))?;
        let opts = provision::Options {
            names: settings::Names::from_flags(&args.dataset, &args.bucket, &args.topic, &args.subscription),
            location: args.location,
            ack_deadline_secs: args.ack_deadline_secs,
            time_zone: args.time_zone.time_zone,
            dry_run: args.dry_run,
        };
        let report = provision::run(&gcp, &model, &opts).await?;
        println!("{report}");
        Ok(())
    })
}
