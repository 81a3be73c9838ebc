//! `alerts`: evaluates the InstaShop alerts and notifies each new one once.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use instashop::model::DataModel;
use instashop::model::Thresholds;
use instashop::ops::alerts;
use instashop::{platform::gcp::Gcp, platform::settings};
use rust_decimal::Decimal;

/// Evaluate the alert views (critical stock, failed payments, revenue anomaly, stock-out
/// risk) at these thresholds; publish each new alert once to the alerts topic
/// (`<topic>-alerts`) and each ended one as resolved, and log both in alert_log.
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
    time_zone: settings::TimeZoneArg,
    #[command(flatten)]
    log: instashop::platform::cli::LogArgs,
    /// Evaluate once and exit (the default).
    #[arg(long, conflicts_with = "every")]
    once: bool,
    /// Evaluate on this schedule until SIGTERM (e.g. 5m, 30s); a failed evaluation is
    /// logged and retried at the next tick.
    #[arg(long, value_parser = every)]
    every: Option<Duration>,
    /// Evaluate and report; publish and record nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    max_bytes_billed: settings::MaxBytesBilledArg,
    /// Failed payments: share of the last hour's live orders, in percent, at or above
    /// which the alert fires.
    #[arg(long, default_value_t = Thresholds::default().failed_payment_pct)]
    failed_payment_pct: Decimal,
    /// Failed payments: and at least this many times the trailing 28-day share (0 ignores it).
    #[arg(long, default_value_t = Thresholds::default().failed_payment_factor)]
    failed_payment_factor: Decimal,
    /// Failed payments: and over at least this many orders in the hour.
    #[arg(long, default_value_t = Thresholds::default().failed_payment_min_orders)]
    failed_payment_min_orders: u32,
    /// Revenue anomaly: standard deviations from the weekly mean of the same 24 hours.
    #[arg(long, default_value_t = Thresholds::default().revenue_z)]
    revenue_z: Decimal,
    /// Revenue anomaly: and at least this percent of that mean.
    #[arg(long, default_value_t = Thresholds::default().revenue_min_change_pct)]
    revenue_min_change_pct: Decimal,
    /// Revenue anomaly: earlier weeks (of 8) that must have sales before it is judged.
    #[arg(long, default_value_t = Thresholds::default().revenue_min_weeks)]
    revenue_min_weeks: u32,
    /// Stock-out risk: the supplier's lead time in days; a product whose days of cover
    /// are under it fires.
    #[arg(long, default_value_t = Thresholds::default().stockout_lead_days)]
    stockout_lead_days: u32,
    /// Stock-out risk: the review period in days, which a reorder covers beyond the lead
    /// time.
    #[arg(long, default_value_t = Thresholds::default().stockout_review_days)]
    stockout_review_days: u32,
}

fn every(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{s}: {e} (write it as 30s, 5m, 1h)"))?;
    if d < Duration::from_secs(1) {
        return Err(format!("{s} is under a second"));
    }
    Ok(d)
}

fn main() -> ExitCode {
    let args = Args::parse();
    instashop::platform::cli::run("alerts", &args.log, async move {
        let thresholds = Thresholds {
            failed_payment_pct: args.failed_payment_pct,
            failed_payment_factor: args.failed_payment_factor,
            failed_payment_min_orders: args.failed_payment_min_orders,
            revenue_z: args.revenue_z,
            revenue_min_change_pct: args.revenue_min_change_pct,
            revenue_min_weeks: args.revenue_min_weeks,
            stockout_lead_days: args.stockout_lead_days,
            stockout_review_days: args.stockout_review_days,
        };
        thresholds.check().map_err(|e| anyhow::anyhow!("{e}"))?;
        let model = DataModel::load(&DataModel::default_dir())?;
        let gcp = Gcp::new(&settings::GcpArgs::from_flags(
            &args.project,
            Some(&args.pubsub),
            Some(&args.bigquery),
            None,
        ))?;
        let names = settings::Names {
            topic: args.topic.topic.clone(),
            ..settings::Names::default()
        };
        let opts = alerts::Options {
            dataset: args.dataset.dataset,
            topic: names.alerts_topic(),
            vars: instashop::model::ViewVars {
                time_zone: args.time_zone.time_zone,
                thresholds,
            },
            dry_run: args.dry_run,
            max_bytes_billed: args.max_bytes_billed.cap(),
        };
        let evaluator = alerts::Evaluator::open(&gcp, &model, &opts).await?;
        let Some(period) = args.every else {
            let summary = evaluator.evaluate().await?;
            println!("{summary}");
            return Ok(());
        };
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let stop = instashop::streaming::worker::termination_signal();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => {
                    tracing::info!(message = "stopping: signal received");
                    return Ok(());
                }
                _ = tick.tick() => {}
            }
            // An evaluation is not cut by a signal: its publishes and records stay paired.
            match evaluator.evaluate().await {
                Ok(summary) => tracing::info!(message = "evaluated", summary = %summary),
                Err(e) => {
                    tracing::error!(message = "evaluation failed; retrying at the next tick", error = %e.report())
                }
            }
        }
    })
}
