//! The forecast's fitting at scale: `forecast_all` (what a `forecast` run does between its
//! one query and its writes) over 2,000 products x 365 days of daily units, on every
//! core. Prints one table: wall time, per product, and the process's peak RSS.
//! `cargo bench --bench forecast` (optionally `-- PRODUCTS DAYS`).

use std::collections::BTreeMap;
use std::time::Instant;

use instashop::ops::forecast::{Options, forecast_all};
use instashop::platform::progress::{Mode, Progress};
use rand::{Rng, SeedableRng};

/// Peak resident memory of this process, from /proc (MiB).
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() {
    // `cargo bench` passes `--bench`; the numbers are what follows it, if any. Under
    // `cargo test` (no `--bench`, a debug build) it runs a small size, as a smoke check
    // that the benchmark still works, not a measurement.
    let benching = std::env::args().any(|a| a == "--bench");
    let nums: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let products = nums.first().copied().unwrap_or(if benching { 2_000 } else { 20 });
    let days = nums.get(1).copied().unwrap_or(365);
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    // Each product: its own level, a weekly pattern, a slow trend and noise; a tenth of
    // them start selling within the last 20 days (the 28-day average), as a shop's new
    // products do.
    let series: BTreeMap<String, Vec<f64>> = (0..products)
        .map(|p| {
            let level = rng.random_range(0.5..40.0);
            let weekend = rng.random_range(1.0..3.0);
            let trend = rng.random_range(-0.01..0.02);
            let len = if p % 10 == 0 { rng.random_range(1..20) } else { days };
            let y = (0..len)
                .map(|d| {
                    let season = if d % 7 >= 5 { weekend } else { 1.0 };
                    let v =
                        level * season * (1.0 + trend * d as f64 / 30.0) + rng.random_range(-1.0..1.0) * level * 0.2;
                    v.max(0.0).round()
                })
                .collect();
            (format!("P{p:05}"), y)
        })
        .collect();
    let opts = Options::default();
    let progress = Progress::with_mode(Mode::Plain, "forecast", "products", Some(products as u64));
    let before = peak_rss_mib();
    let started = Instant::now();
    let out = forecast_all(series, &opts, &progress);
    let wall = started.elapsed().as_secs_f64();
    let mut methods: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, f) in &out {
        *methods.entry(f.method.as_str()).or_default() += 1;
    }
    println!("| products | days | horizon | threads | wall s | ms per product | peak RSS MiB (before) | methods |");
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| {products} | {days} | {} | {} | {wall:.2} | {:.2} | {:.1} ({before:.1}) | {} |",
        opts.horizon,
        rayon::current_num_threads(),
        wall * 1000.0 / products as f64,
        peak_rss_mib(),
        methods
            .iter()
            .map(|(m, n)| format!("{m} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
}
