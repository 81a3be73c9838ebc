//! `refresh`: brings the dashboard's date-partitioned facts (`sales_facts`) up to date,
//! with the per-customer tables and the live units sold since each product's snapshot.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use instashop::dashboard::refresh::{self, Days};
use instashop::model::DataModel;
use instashop::{platform::gcp::Gcp, platform::settings};

/// Re-derive the last days of sales_facts from v_sales_facts (the SQL that the
/// scheduled query runs on BigQuery), or every day with --all (after loading history);
/// and count the live units sold per product since its snapshot (inventory_sold).
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    #[command(flatten)]
    project: settings::ProjectArg,
    #[command(flatten)]
    bigquery: settings::BigQueryEmulatorArgs,
    #[command(flatten)]
    dataset: settings::DatasetArg,
    #[command(flatten)]
    time_zone: settings::TimeZoneArg,
    #[command(flatten)]
    log: instashop::platform::cli::LogArgs,
    /// Re-derive today and this many days before it.
    #[arg(long, default_value_t = refresh::DEFAULT_DAYS, conflicts_with = "all")]
    days: u32,
    /// Re-derive every day (after loading or appending history).
    #[arg(long)]
    all: bool,
    /// Count in inventory_sold the live sales written at least this many seconds before
    /// the run; the stock's view adds the later ones.
    #[arg(long, default_value_t = refresh::DEFAULT_STOCK_SETTLE_SECS)]
    stock_settle_secs: u32,
    /// The data model folder; default ./bigquery.
    #[arg(long, env = "INSTASHOP_MODEL_DIR")]
    model_dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    instashop::platform::cli::run("refresh", &args.log, async move {
        let dir = args.model_dir.unwrap_or_else(DataModel::default_dir);
        let model = DataModel::load(&dir).context("the data model in bigquery/ is invalid")?;
        let gcp = Gcp::new(&settings::GcpArgs::from_flags(
            &args.project,
            None,
            Some(&args.bigquery),
            None,
        ))?;
        let days = if args.all { Days::All } else { Days::Last(args.days) };
        let started = std::time::Instant::now();
        let done = refresh::refresh(
            &gcp,
            &model,
            &dir,
            &args.dataset.dataset,
            &args.time_zone.time_zone,
            refresh::Options {
                days,
                stock_settle_secs: args.stock_settle_secs,
            },
        )
        .await?;
        println!(
            "refresh: {}.{}: {} rows over {} days from {}, {}: {} customer-months from {}, {}: {} units sold live over {} products, re-derived in {:.1} s",
            args.dataset.dataset,
            refresh::TABLE,
            done.rows,
            done.days,
            done.since,
            refresh::MONTHS_TABLE,
            done.customer_months,
            done.since_month,
            refresh::SOLD_TABLE,
            done.sold_live,
            done.products,
            started.elapsed().as_secs_f64()
        );
        Ok(())
    })
}
