//! `okmirror follow`: continuous file shipping in the foreground (a progress line on a
//! terminal, log lines otherwise), or one pass with `--once` (cron).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;

use color_eyre::eyre::Result;
use tokio::sync::mpsc;

use crate::config::Config;
use crate::format;
use crate::pair::Monitor;
use crate::pair::model::FollowRecord;
use crate::sync::follow::{FollowEvent, FollowOptions, run};

/// Follows until SIGINT/SIGTERM/SIGHUP (or one pass with `once`). Exit 0 on a clean
/// stop; 1 when `once` left files missing or failed.
pub async fn follow(cfg: Config, once: bool, bwlimit: Option<u64>, json: bool) -> Result<ExitCode> {
    let bwlimit_kbps = bwlimit.or(cfg.follow.bwlimit_kbps);
    let monitor = Arc::new(Monitor::new(Arc::new(cfg)));
    let cancel = crate::signals::cancel_on_signals()?;
    let (tx, mut rx) = mpsc::channel(256);
    let opts = FollowOptions {
        once,
        bwlimit_kbps,
        cancel: Some(cancel),
    };
    let tty = std::io::stderr().is_terminal() && !json;
    let task = tokio::spawn(run(monitor, opts, tx));
    let mut last = FollowRecord::default();
    while let Some(ev) = rx.recv().await {
        show(&ev, tty, &mut last);
    }
    if tty {
        eprintln!();
    }
    let record = task.await??;
    if json {
        super::print_out(&format!("{}\n", serde_json::to_string_pretty(&record)?))?;
    } else {
        eprintln!("{}", line(&record));
    }
    let clean = !once || (record.backlog == 0 && record.paused.is_none());
    Ok(if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The one-line state: `alpha -> bravo · shipped 12 (3.4 MiB) · behind 0`.
fn line(r: &FollowRecord) -> String {
    let mut s = format!(
        "{} -> {} · shipped {} ({}) · behind {}",
        r.main,
        r.mirror,
        r.shipped_files,
        format::bytes(r.shipped_bytes),
        r.backlog
    );
    if let Some(p) = &r.paused {
        s.push_str(&format!(" · paused: {p}"));
    }
    s
}

fn show(ev: &FollowEvent, tty: bool, last: &mut FollowRecord) {
    let mut err = std::io::stderr().lock();
    match ev {
        FollowEvent::State(r) => {
            *last = (**r).clone();
            if tty {
                let _ = write!(err, "\r\x1b[2K{}", line(r));
            }
        }
        FollowEvent::Shipped { files, bytes, took } => {
            if tty {
                let _ = write!(
                    err,
                    "\r\x1b[2K{} · last batch {files} ({}) in {} ms",
                    line(last),
                    format::bytes(*bytes),
                    took.as_millis()
                );
            } else {
                tracing::info!(files, bytes, ms = took.as_millis() as u64, "shipped");
            }
        }
        FollowEvent::Paused(why) => {
            if tty {
                let _ = writeln!(err, "\r\x1b[2Kpaused: {why}");
            }
            tracing::warn!("paused: {why}");
        }
        FollowEvent::Error(e) => {
            if tty {
                let _ = writeln!(err, "\r\x1b[2Kerror: {e} (trying again)");
            }
            tracing::warn!("follow: {e}");
        }
    }
}
