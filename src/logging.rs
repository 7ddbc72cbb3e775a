//! Logging to a file in the data dir: the terminal belongs to the TUI.

use color_eyre::eyre::{Result, WrapErr};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

/// Starts file logging; keep the guard alive until exit so the last lines are written.
/// `OKMIRROR_LOG` (or `RUST_LOG`) sets the filter, `info` by default.
pub fn init() -> Result<WorkerGuard> {
    let dir = crate::paths::data_dir()?;
    std::fs::create_dir_all(&dir).wrap_err_with(|| format!("creating {}", dir.display()))?;
    let appender = tracing_appender::rolling::never(&dir, "okmirror.log");
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter = std::env::var("OKMIRROR_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".into());
    let filter = EnvFilter::try_new(&filter)
        .wrap_err_with(|| format!("OKMIRROR_LOG/RUST_LOG: bad filter {filter:?}"))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .try_init()
        .map_err(|e| color_eyre::eyre::eyre!("starting the logger: {e}"))?;
    Ok(guard)
}
