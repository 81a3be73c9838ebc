//! `dashboard`: the report's pages (`looker/report.json`) served locally, read from the
//! BigQuery views; or, with `--looker-url`, the link that creates the same report in
//! Looker Studio.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use instashop::{
    dashboard::report::Report, dashboard::server, model::DataModel, platform::gcp::Gcp, platform::settings,
};

/// Serve the dashboards of looker/report.json at http://127.0.0.1:8080, or print the
/// Looker Studio link that creates them (--looker-url).
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
    log: instashop::platform::cli::LogArgs,
    /// Address to serve on (loopback only).
    #[arg(long, env = "INSTASHOP_DASHBOARD_ADDR", default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// The report definition; default looker/report.json beside the data model.
    #[arg(long, env = "INSTASHOP_REPORT")]
    report: Option<PathBuf>,
    /// The data model folder; default ./bigquery.
    #[arg(long, env = "INSTASHOP_MODEL_DIR")]
    model_dir: Option<PathBuf>,
    /// Seconds one chart's query may take before its tile shows an error.
    #[arg(long, env = "INSTASHOP_QUERY_TIMEOUT_SECS", default_value_t = 30)]
    query_timeout_secs: u64,
    /// Seconds an answer is kept for ordinary pages (0: every load queries BigQuery,
    /// live pages too); live pages keep theirs one refresh period.
    #[arg(long, env = "INSTASHOP_CACHE_SECS", default_value_t = 30)]
    cache_secs: u64,
    #[command(flatten)]
    time_zone: settings::TimeZoneArg,
    #[command(flatten)]
    max_bytes_billed: settings::MaxBytesBilledArg,
    /// A `Host` the dashboard answers for beside 127.0.0.1:PORT and localhost:PORT
    /// (the name a reverse proxy serves it under, with its port); repeatable. Requests
    /// for any other host get a 421 (DNS rebinding).
    #[arg(long = "allowed-host", env = "INSTASHOP_ALLOWED_HOSTS", value_delimiter = ',')]
    allowed_hosts: Vec<String>,
    /// Print the Looker Studio link that creates the report with every view it reads as
    /// a data source, and exit (needs no BigQuery).
    #[arg(long)]
    looker_url: bool,
    /// With --looker-url: a template report whose data sources the link replaces.
    #[arg(long, requires = "looker_url")]
    looker_template: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    instashop::platform::cli::run("dashboard", &args.log, async move {
        let dir = args.model_dir.unwrap_or_else(DataModel::default_dir);
        let model = DataModel::load(&dir).context("the data model in bigquery/ is invalid")?;
        let file = args.report.unwrap_or_else(|| Report::default_file(&dir));
        let report = Report::load(&file, &model)?;
        if args.looker_url {
            let project = args.project.project.clone();
            println!(
                "{}",
                report.looker_url(&project, &args.dataset.dataset, args.looker_template.as_deref())
            );
            return Ok(());
        }
        let gcp = Gcp::new(&settings::GcpArgs::from_flags(
            &args.project,
            None,
            Some(&args.bigquery),
            None,
        ))?;
        let options = server::QueryOptions {
            timeout: Duration::from_secs(args.query_timeout_secs.max(1)),
            cache: Duration::from_secs(args.cache_secs),
            time_zone: args.time_zone.time_zone.clone(),
            max_bytes_billed: args.max_bytes_billed.cap(),
            allowed_hosts: args.allowed_hosts.clone(),
        };
        let (bound, task) = server::serve(&gcp, &args.dataset.dataset, report, args.addr, options).await?;
        println!("dashboard: http://{bound}/ (Ctrl-C stops it)");
        tracing::info!(message = "dashboard serving", url = %format!("http://{bound}/"));
        tokio::select! {
            _ = instashop::streaming::worker::termination_signal() => {}
            _ = task => {}
        }
        Ok(())
    })
}
