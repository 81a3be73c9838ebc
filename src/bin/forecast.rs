//! `forecast`: the demand forecast per product, into `forecast_demand`.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use instashop::model::DataModel;
use instashop::ops::forecast::{self, Options};
use instashop::{platform::gcp::Gcp, platform::settings};

/// Forecast each product's daily units (completed sales, batch and live, by sale_date)
/// from its history in sales_facts: MSTL with a weekly period and an ETS trend, ETS alone
/// under two weeks, the 28-day average under --min-history-days. Writes --horizon days
/// from tomorrow, with an 80% interval, to forecast_demand under today's date; a second
/// run of a day replaces the first, and a run supersedes what earlier runs said of the
/// days ahead. Run it after refresh.
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
    max_bytes_billed: settings::MaxBytesBilledArg,
    #[command(flatten)]
    log: instashop::platform::cli::LogArgs,
    /// Days to forecast, from tomorrow.
    #[arg(long, default_value_t = forecast::DEFAULT_HORIZON)]
    horizon: u32,
    /// Days of history to read, up to yesterday.
    #[arg(long, default_value_t = forecast::DEFAULT_HISTORY_DAYS)]
    history_days: u32,
    /// A product with fewer days since its first sale is forecast at its 28-day average.
    #[arg(long, default_value_t = forecast::DEFAULT_MIN_HISTORY_DAYS)]
    min_history_days: u32,
    #[command(flatten)]
    staging: settings::StagingDatasetArg,
}

fn main() -> ExitCode {
    let args = Args::parse();
    instashop::platform::cli::run("forecast", &args.log, async move {
        let opts = Options {
            horizon: args.horizon,
            history_days: args.history_days,
            min_history_days: args.min_history_days,
            staging_dataset: args.staging.staging_dataset,
        };
        opts.check().map_err(|e| anyhow::anyhow!("{e}"))?;
        let model = DataModel::load(&DataModel::default_dir()).context("the data model in bigquery/ is invalid")?;
        let gcp = Gcp::new(&settings::GcpArgs::from_flags(
            &args.project,
            None,
            Some(&args.bigquery),
            None,
        ))?;
        let started = std::time::Instant::now();
        let ran = forecast::run(
            &gcp,
            &model,
            &args.dataset.dataset,
            &args.time_zone.time_zone,
            &opts,
            args.max_bytes_billed.cap(),
        )
        .await?;
        let methods: Vec<String> = ran.by_method.iter().map(|(m, n)| format!("{n} {m}")).collect();
        println!(
            "forecast: {}.{}: {} products ({}), {} days from {} ({} rows, run {}{}), history {} to {}, in {:.1} s",
            args.dataset.dataset,
            forecast::TABLE,
            ran.products(),
            if methods.is_empty() {
                "none with sales".to_string()
            } else {
                methods.join(", ")
            },
            opts.horizon,
            ran.run_date.succ_opt().expect("a date has a next"),
            ran.rows,
            ran.run_date,
            [
                (ran.replaced > 0).then(|| format!(", replacing its earlier {} rows", ran.replaced)),
                (ran.superseded > 0).then(|| format!(
                    ", superseding {} rows of earlier runs for the days ahead",
                    ran.superseded
                )),
            ]
            .into_iter()
            .flatten()
            .collect::<String>(),
            ran.history.0,
            ran.history.1,
            started.elapsed().as_secs_f64()
        );
        Ok(())
    })
}
