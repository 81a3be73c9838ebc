//! `datagen`: historical CSVs (customers, products, orders, order_items, inventory) and
//! a manifest with row counts and the exact revenue total.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{Duration, NaiveDate, Utc};
use clap::Parser;
use instashop::batch::datagen;
use instashop::platform::progress::Progress;

/// Generate the shop's history as CSVs: same seed, same bytes.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Output folder.
    #[arg(long, default_value = "data/out")]
    out: PathBuf,
    /// Seed (the publisher's --seed with the same --customers/--products uses the same master data).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Customers.
    #[arg(long, default_value_t = 1000)]
    customers: u32,
    /// Products.
    #[arg(long, default_value_t = 200)]
    products: u32,
    /// Orders (1 to 4 lines each).
    #[arg(long, default_value_t = 10_000)]
    orders: u64,
    /// First order date (default: two years before --end).
    #[arg(long)]
    start: Option<NaiveDate>,
    /// Last order date (default: today in the reporting time zone).
    #[arg(long)]
    end: Option<NaiveDate>,
    #[command(flatten)]
    time_zone: instashop::platform::settings::TimeZoneArg,
    #[command(flatten)]
    log: instashop::platform::cli::LogArgs,
}

fn main() -> ExitCode {
    let a = Args::parse();
    instashop::platform::cli::run("datagen", &a.log, async move {
        // Order dates are days of the shop's calendar: "today" is today there.
        let end = a
            .end
            .unwrap_or_else(|| Utc::now().with_timezone(&a.time_zone.time_zone.tz()).date_naive());
        let start = a.start.unwrap_or(end - Duration::days(730));
        anyhow::ensure!(start <= end, "--start {start} is after --end {end}");
        anyhow::ensure!(
            a.customers > 0 && a.products > 0,
            "--customers and --products must be at least 1"
        );
        let o = datagen::DatagenOptions {
            seed: a.seed,
            customers: a.customers,
            products: a.products,
            orders: a.orders,
            start,
            end,
        };
        let started = std::time::Instant::now();
        let progress = Progress::new("datagen", "orders", Some(a.orders));
        let m = datagen::generate(&a.out, &o, |n| progress.set(n, ""))?;
        progress.finish(a.orders);
        let secs = started.elapsed().as_secs_f64();
        let rows: u64 = m.rows.values().sum();
        println!(
            "wrote {} rows to {} in {secs:.2}s ({:.0} rows/s): {:?}; gross total {}",
            rows,
            a.out.display(),
            rows as f64 / secs,
            m.rows,
            m.gross_total
        );
        Ok(())
    })
}
