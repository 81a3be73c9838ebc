//! `provision`: creates every bucket folder, dataset, table, view, topic and
//! subscription of the data model, idempotently, in the emulators or in a project.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use instashop::{gcp::Gcp, model::DataModel, provision, settings};

/// Create (or check) every resource of InstaShop Analytics: a second run changes nothing.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    #[command(flatten)]
    gcp: settings::GcpArgs,
    #[command(flatten)]
    names: settings::Names,
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
    instashop::cli::run("provision", async move {
        let dir = args.model_dir.unwrap_or_else(DataModel::default_dir);
        let model = DataModel::load(&dir).context("the data model in bigquery/ is invalid")?;
        let gcp = Gcp::new(&args.gcp)?;
        let opts = provision::Options {
            names: args.names,
            location: args.location,
            ack_deadline_secs: args.ack_deadline_secs,
            dry_run: args.dry_run,
        };
        let report = provision::run(&gcp, &model, &opts).await?;
        println!("{report}");
        Ok(())
    })
}
