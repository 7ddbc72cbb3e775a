//! The probe writer: a new document through the front door every `PROBE_EVERY`, each in
//! its own task (a request stuck in the freeze must not hide that the next ones are
//! answered again), every attempt recorded with its times and status, until stopped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Attempt;
use crate::failover::front_door::{Answer, FrontDoor, WRITE_WITHIN};
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
    /// Starts writing `<folder>/<n>.txt` through `door`, n = 0, 1, 2...
    pub(super) fn start(door: FrontDoor, folder: String, id: String) -> Probe {
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let started_ms = now_ms();
        let task = tokio::spawn(write_every_tick(
            Arc::new(door),
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
/// then waits for the writes in flight (each is bounded by `WRITE_WITHIN`), so their
/// outcome is known.
async fn write_every_tick(
    door: Arc<FrontDoor>,
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
        let (door, id, log) = (Arc::clone(&door), Arc::clone(&id), Arc::clone(&log));
        let path = format!("{folder}/{n}.txt");
        writes.spawn(async move {
            let attempt = write_once(&door, path, &id, n).await;
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

/// One POST of a small document, timed with the monotonic clock from its start on the
/// journals' clock (so it lines up with the flows' steps).
async fn write_once(door: &FrontDoor, path: String, id: &str, n: u64) -> Attempt {
    let start_ms = now_ms();
    let started = Instant::now();
    let answer = door
        .create(
            &path,
            format!("okmirror drill {id} document {n}"),
            WRITE_WITHIN,
        )
        .await;
    let took = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Attempt {
        n,
        acked: answer.acknowledged(),
        path,
        start_ms,
        end_ms: start_ms.saturating_add(took),
        status: status(&answer),
    }
}

/// The probe log's status: the HTTP status alone when the write was acknowledged,
/// else with what went wrong on the way, if anything (`000 <why>` without an answer).
fn status(answer: &Answer) -> String {
    let code = answer.code();
    if answer.acknowledged() || answer.complaint().is_empty() {
        code
    } else {
        format!("{code} {}", answer.complaint())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_is_the_code_and_any_complaint() {
        let http = |code: u16, cut: Option<&str>| Answer::Http {
            code,
            body: "a body the probe does not keep".into(),
            cut: cut.map(str::to_string),
        };
        assert_eq!(status(&http(200, None)), "200");
        // Acknowledged is acknowledged, even if the body's end was lost.
        assert_eq!(status(&http(200, Some("connection reset"))), "200");
        assert_eq!(status(&http(503, None)), "503");
        assert_eq!(
            status(&http(500, Some("connection reset"))),
            "500 connection reset"
        );
        assert_eq!(
            status(&Answer::Failed(
                "error sending request: operation timed out".into()
            )),
            "000 error sending request: operation timed out"
        );
    }
}
