//! What every binary does at its edge: start logging, run, and turn an error into one
//! clear line on stderr and a non-zero exit code.

use std::future::Future;
use std::process::ExitCode;

/// Starts `tracing` (level from `RUST_LOG`, default `info`) on stderr.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Runs `main` on a Tokio runtime; an error prints as `<name>: <cause chain>` and exits 1.
pub fn run<F>(name: &str, main: F) -> ExitCode
where
    F: Future<Output = anyhow::Result<()>>,
{
    init_logging();
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
