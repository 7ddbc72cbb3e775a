//! `okmirror sync`: the sync run from the command line (operators and cron).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use color_eyre::eyre::{Result, eyre};
use tokio::sync::mpsc;

use crate::config::Config;
use crate::format;
use crate::pair::Monitor;
use crate::sync::run::{SyncEvent, SyncOptions, SyncReport, run};

/// Plans, asks (unless `yes`), runs, verifies. Exit 0 only when the run and its verify passed.
pub async fn sync(
    cfg: Config,
    dry_run: bool,
    yes: bool,
    json: bool,
    allow_deletes: Option<u64>,
) -> Result<ExitCode> {
    let monitor = Arc::new(Monitor::new(Arc::new(cfg)));
    let tty = std::io::stderr().is_terminal();
    if yes && !dry_run {
        // One plan only: the run plans, guards and says what it found before it moves a byte.
        return execute(monitor, allow_deletes, tty, json).await;
    }
    let plan = run_with_output(
        Arc::clone(&monitor),
        SyncOptions {
            dry_run: true,
            allow_deletes,
            cancel: None,
        },
        tty && !json,
    )
    .await?;
    let t = &plan.plan;
    let summary = format!("plan {} -> {}: {}", plan.source, plan.target, t.summary());
    if let Some(r) = &plan.refusal {
        if json {
            super::print_out(&format!("{}\n", serde_json::to_string_pretty(&plan)?))?;
        }
        eprintln!("{summary}\n{r}");
        return Ok(ExitCode::from(1));
    }
    if dry_run {
        if json {
            super::print_out(&format!("{}\n", serde_json::to_string_pretty(&plan)?))?;
        } else {
            eprintln!("{summary}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("{summary}");
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Err(eyre!("not a terminal: confirm with --yes to run the sync"));
        }
        let freeze = match monitor.cfg.sync.freeze {
            crate::config::FreezeMode::Service => "OpenKM stops on both nodes",
            crate::config::FreezeMode::Database => "the database is read-only",
        };
        eprint!(
            "Run this sync now? On {}, {freeze} for the final pass. [y/N] ",
            plan.source
        );
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            eprintln!("cancelled; nothing was changed");
            return Ok(ExitCode::from(1));
        }
    }
    execute(monitor, allow_deletes, tty, json).await
}

/// The real run, with Ctrl-C as a clean cancel; prints the report.
async fn execute(
    monitor: Arc<Monitor>,
    allow_deletes: Option<u64>,
    tty: bool,
    json: bool,
) -> Result<ExitCode> {
    // Ctrl-C, SIGTERM and SIGHUP (a dropped SSH session) cancel cleanly: rsync is
    // stopped by its PID and the main given back its writes.
    let cancel_rx = crate::signals::cancel_on_signals()?;
    {
        let mut rx = cancel_rx.clone();
        tokio::spawn(async move {
            if rx.wait_for(|c| *c).await.is_ok() {
                eprintln!("\nsync: cancelling (the main takes writes again if it was frozen)...");
            }
        });
    }
    let report = run_with_output(
        monitor,
        SyncOptions {
            dry_run: false,
            allow_deletes,
            cancel: Some(cancel_rx),
        },
        tty && !json,
    )
    .await?;
    if report.cancelled {
        eprintln!("sync cancelled; the mirror holds only complete files; nothing was recorded");
        return Ok(ExitCode::from(1));
    }
    if json {
        super::print_out(&format!("{}\n", serde_json::to_string_pretty(&report)?))?;
    } else {
        eprintln!(
            "synced {} -> {}: {} files, {} in {}; main down {}; verify: {}",
            report.source,
            report.target,
            report.files,
            format::bytes(report.bytes),
            format::duration_secs(report.duration_ms as f64 / 1000.0),
            format::duration_secs(report.main_downtime_ms as f64 / 1000.0),
            if report.verified && report.newer_than_sync > 0 {
                format!(
                    "OK, {} files identical ({} newer on the main, for the next sync)",
                    report.verified_files, report.newer_than_sync
                )
            } else if report.verified {
                format!("OK, {} files identical", report.verified_files)
            } else {
                format!("{} MISMATCHES", report.mismatches.len())
            }
        );
        eprintln!("  main down: {}", downtime_line(&report.downtime_parts));
        if report.repaired > 0 {
            eprintln!(
                "  the verify found {} datastore files the journal could not name; they were repaired",
                report.repaired
            );
        }
        if let Some(r) = &report.refusal {
            eprintln!("  {r}");
        }
        for m in report.mismatches.iter().take(50) {
            eprintln!("  {m:?}");
        }
    }
    Ok(if report.verified {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn run_with_output(
    monitor: Arc<Monitor>,
    opts: SyncOptions,
    bar: bool,
) -> Result<SyncReport> {
    let (tx, mut rx) = mpsc::channel(1024);
    let task = tokio::spawn(run(monitor, opts, tx));
    let started = Instant::now();
    let mut last_draw = Instant::now();
    while let Some(ev) = rx.recv().await {
        match ev {
            SyncEvent::Phase(p) => {
                if bar {
                    eprint!("\r\x1b[2K");
                }
                eprintln!("sync: {p}");
            }
            SyncEvent::Warning(w) => eprintln!("sync: rsync: {w}"),
            SyncEvent::Documents(_) => {}
            SyncEvent::Progress(t) if bar && last_draw.elapsed().as_millis() > 200 => {
                last_draw = Instant::now();
                let eta = t
                    .eta(started.elapsed())
                    .map_or("?".into(), |d| format::duration_secs(d.as_secs_f64()));
                let current = t.current.as_ref().map_or(String::new(), |(p, _)| p.clone());
                eprint!(
                    "\r\x1b[2K{:>5.1}% {}/{} files {}/{} ETA {eta} {}",
                    t.ratio() * 100.0,
                    t.files_done,
                    t.total_files,
                    format::bytes(t.bytes_done),
                    format::bytes(t.total_bytes),
                    current
                        .chars()
                        .rev()
                        .take(40)
                        .collect::<String>()
                        .chars()
                        .rev()
                        .collect::<String>()
                );
            }
            SyncEvent::Progress(_) => {}
        }
    }
    if bar {
        eprint!("\r\x1b[2K");
    }
    task.await.map_err(|e| eyre!("sync task failed: {e}"))?
}

/// Where the main's downtime went, for the closing line.
fn downtime_line(p: &crate::sync::run::DowntimeParts) -> String {
    let in_freeze = if p.final_pass_ms > 0 {
        format!("final pass {} ms, then", p.final_pass_ms)
    } else {
        format!("index snapshot {} ms, with", p.index_snapshot_ms)
    };
    format!(
        "freeze {} ms, {in_freeze} catch-up {} ms and journal point {} ms, thaw {} ms",
        p.freeze_ms, p.catch_up_ms, p.journal_point_ms, p.thaw_ms
    )
}
