//! `batch-loader`: check the historical CSVs against bigquery/ and load them with load jobs.

use std::process::ExitCode;

use clap::Parser;
use instashop::platform::cli::LogArgs;
use instashop::platform::settings::{
    BigQueryEmulatorArgs, BucketArg, DatasetArg, GcpArgs, ProjectArg, StagingDatasetArg, StorageEmulatorArg,
};
use instashop::{batch::loader, model::DataModel, platform::gcp::Gcp};

/// Load customers, products, orders, order_items (and inventory) CSVs into BigQuery.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    #[command(flatten)]
    project: ProjectArg,
    #[command(flatten)]
    bigquery: BigQueryEmulatorArgs,
    #[command(flatten)]
    storage: StorageEmulatorArg,
    #[command(flatten)]
    dataset: DatasetArg,
    #[command(flatten)]
    bucket: BucketArg,
    #[command(flatten)]
    staging: StagingDatasetArg,
    #[command(flatten)]
    log: LogArgs,
    /// A local folder (uploaded to gs://BUCKET/datasets/ first) or gs://bucket/prefix/.
    #[arg(long)]
    source: String,
    /// Skip up to N bad rows per table (listed) instead of refusing the table.
    #[arg(long, default_value_t = 0)]
    max_bad_rows: u64,
    /// Append to the tables instead of replacing them (by key; only the files present).
    #[arg(long)]
    append: bool,
}

fn main() -> ExitCode {
    let a = Args::parse();
    instashop::platform::cli::run("batch-loader", &a.log, async move {
        let model = DataModel::load(&DataModel::default_dir())?;
        let gcp = Gcp::new(&GcpArgs::from_flags(
            &a.project,
            None,
            Some(&a.bigquery),
            Some(&a.storage),
        ))?;
        let o = loader::LoadOptions {
            source: loader::SourceDir::parse(&a.source),
            dataset: a.dataset.dataset,
            bucket: a.bucket.bucket,
            max_bad_rows: a.max_bad_rows,
            append: a.append,
            staging_dataset: a.staging.staging_dataset,
        };
        let reports = loader::run(&gcp, &model, &o).await?;
        let mut refused = Vec::new();
        println!(
            "{:<12} {:>10} {:>8} {:>8} {:>8} {:>8}",
            "table", "loaded", "bad", "check_s", "upload_s", "load_s"
        );
        for r in &reports {
            let loaded = r.loaded.map_or_else(|| "-".to_string(), |n| n.to_string());
            println!(
                "{:<12} {:>10} {:>8} {:>8.2} {:>8.2} {:>8.2}",
                r.table,
                loaded,
                r.bad.len(),
                r.timings.0,
                r.timings.1,
                r.timings.2
            );
            for b in r.bad.iter().take(20) {
                println!("  {} {b}", if r.loaded.is_some() { "skipped" } else { "bad" });
            }
            if r.bad.len() > 20 {
                println!("  ... and {} more", r.bad.len() - 20);
            }
            if r.loaded.is_none() && !r.bad.is_empty() {
                refused.push(r.table.clone());
            }
        }
        anyhow::ensure!(
            refused.is_empty(),
            "refused (left as they were): {}; fix the rows above or pass --max-bad-rows",
            refused.join(", ")
        );
        Ok(())
    })
}
