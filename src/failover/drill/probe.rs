//! The probe writer: a new document through the front door every `PROBE_EVERY`, each in
//! its own task (a request stuck in the freeze must not hide that the next ones are
//! answered again), every attempt recorded with its times and status, until stopped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::Attempt;
use crate::failover::journal::now_ms;

/// How often the probe starts a write (each runs on its own, so a request stuck in the
/// freeze does not delay the next).
pub(super) const PROBE_EVERY: Duration = Duration::from_millis(100);

/// The running probe: its writes go on in a task until `stop`.
pub(super) struct Probe {
    pub(super) started_ms: u64,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Attempt>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Probe {
    /// Starts writing `<folder>/<n>.txt` to `url` (curl's config `creds` on its stdin),
    /// n = 0, 1, 2...
    pub(super) fn start(url: String, folder: String, id: String, creds: String) -> Probe {
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let started_ms = now_ms();
        let task = tokio::spawn(write_every_tick(
            Arc::new((url, creds)),
            folder,
            Arc::new(id),
            Arc::clone(&stop),
            Arc::clone(&log),
        ));
        Probe {
            started_ms,
            stop,
            log,
            task,
        }
    }

    pub(super) fn acknowledged(&self) -> usize {
        self.log
            .lock()
            .map_or(0, |l| l.iter().filter(|a| a.acked).count())
    }

    /// Stops starting writes, waits for those in flight, and returns the log in order.
    pub(super) async fn stop(self) -> Vec<Attempt> {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.task.await;
        let mut log = self.log.lock().map(|l| l.clone()).unwrap_or_default();
        log.sort_by_key(|a| a.n);
        log
    }
}

/// The probe's loop: one write started every tick, each in its own task, until `stop`;
/// then waits for the writes in flight (curl's --max-time bounds them), so their outcome
/// is known.
async fn write_every_tick(
    url_creds: Arc<(String, String)>,
    folder: String,
    id: Arc<String>,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Attempt>>>,
) {
    let mut tick = tokio::time::interval(PROBE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut writes = tokio::task::JoinSet::new();
    let mut n = 0u64;
    loop {
        tick.tick().await;
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let (url_creds, id, log) = (Arc::clone(&url_creds), Arc::clone(&id), Arc::clone(&log));
        let path = format!("{folder}/{n}.txt");
        writes.spawn(async move {
            let start_ms = now_ms();
            let status = write_once(&url_creds.0, &path, &id, n, &url_creds.1).await;
            let attempt = Attempt {
                n,
                acked: status == "200",
                path,
                start_ms,
                end_ms: now_ms(),
                status,
            };
            if let Ok(mut l) = log.lock() {
                l.push(attempt);
            }
        });
        // Reap finished writes so the set stays small.
        while writes.try_join_next().is_some() {}
        n += 1;
    }
    while writes.join_next().await.is_some() {}
}

/// One POST of a small document; returns the HTTP status (`200` = acknowledged), or
/// what went wrong. The credentials go to curl on its stdin, never on its command line.
async fn write_once(url: &str, path: &str, id: &str, n: u64, creds: &str) -> String {
    use tokio::io::AsyncWriteExt;
    let child = tokio::process::Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "5",
            "-K",
            "-",
            "-F",
            &format!("docPath={path}"),
            "-F",
            &format!("content=okmirror drill {id} document {n}"),
            url,
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return format!("curl did not start: {e}"),
    };
    if let Some(mut stdin) = child.stdin.take()
        && let Err(e) = stdin.write_all(creds.as_bytes()).await
    {
        return format!("curl's stdin: {e}");
    }
    match child.wait_with_output().await {
        Ok(out) => {
            let code = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if code == "200" {
                code
            } else {
                let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
                if err.is_empty() {
                    code
                } else {
                    format!("{code} {err}")
                }
            }
        }
        Err(e) => format!("curl: {e}"),
    }
}
