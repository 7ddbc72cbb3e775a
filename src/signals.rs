//! SIGINT, SIGTERM and SIGHUP (what a dropped SSH session sends) end a run the same way:
//! as a cancel that gives back what the run froze. SIGKILL cannot be caught; the nodes'
//! own watchdogs (`sync::guardian`) cover that, and a cut link, too.

use color_eyre::eyre::{Result, WrapErr};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

/// A flag that turns true on the first SIGINT, SIGTERM or SIGHUP. From then on the
/// process no longer dies of those signals: it finishes its cancel (restores) and exits.
pub fn cancel_on_signals() -> Result<watch::Receiver<bool>> {
    let mut int = signal(SignalKind::interrupt()).wrap_err("handling SIGINT")?;
    let mut term = signal(SignalKind::terminate()).wrap_err("handling SIGTERM")?;
    let mut hup = signal(SignalKind::hangup()).wrap_err("handling SIGHUP")?;
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        loop {
            let why = tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = term.recv() => "SIGTERM",
                _ = hup.recv() => {
                    detach_terminal();
                    "SIGHUP"
                }
            };
            tracing::warn!("{why}: cancelling, giving back what was frozen");
            let _ = tx.send(true);
        }
    });
    Ok(rx)
}

/// The terminal hung up: standard input and output go to /dev/null, so no later write
/// fails (a failed `eprintln!` panics, which must not happen in the middle of a restore).
pub fn detach_terminal() {
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        let _ = rustix::stdio::dup2_stdin(&null);
        let _ = rustix::stdio::dup2_stdout(&null);
        let _ = rustix::stdio::dup2_stderr(&null);
    }
}
