//! What every binary does at its edge: start logging, run, and turn an error into one
//! clear line on stderr and a non-zero exit code.
//!
//! Logs go to stderr: as text, coloured only when stderr is a terminal, or with
//! `--log-format json` as one JSON object per line with the `severity`, `message` and
//! `time` fields Cloud Logging reads (for Cloud Run and other Google Cloud runtimes).

use std::future::Future;
use std::io::IsTerminal;
use std::process::ExitCode;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (coloured on a terminal).
    #[default]
    Text,
    /// One JSON object per line, with Cloud Logging's `severity`.
    Json,
}

/// `--log-format`, shared by every binary.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct LogArgs {
    /// Log format: text, or json for Cloud Logging (level from RUST_LOG, default info).
    #[arg(long, env = "INSTASHOP_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// Starts `tracing` on stderr in `format` (level from `RUST_LOG`, default `info`).
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let _ = match format {
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(std::io::stderr().is_terminal())
                    .with_target(false),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(tracing_stackdriver::layer().with_writer(std::io::stderr))
            .try_init(),
    };
}

/// Runs `main` on a Tokio runtime; an error prints as `<name>: <cause chain>` and exits 1.
pub fn run<F>(name: &str, log: &LogArgs, main: F) -> ExitCode
where
    F: Future<Output = anyhow::Result<()>>,
{
    init_logging(log.log_format);
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{name}: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(main) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e:#}");
            ExitCode::FAILURE
        }
    }
}
