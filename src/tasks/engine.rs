//! The monitor running in the background for the console: polls the pair, keeps the
//! heartbeat writer going, plans pending diffs on a timer or on request, and reports
//! everything as typed messages on a channel. It never blocks its reader.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use color_eyre::eyre::Result;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::cadence::Cadence;
use super::error::{TaskError, TaskResult};
use crate::config::NodeId;
use crate::failover::exec::ChannelConfirmer;
use crate::failover::{FlowEvent, FlowKind, FlowReport, Runner, Step};
use crate::pair::model::{Alert, PairStatus, Severity};
use crate::pair::{Monitor, spawn_heartbeat_writer};
use crate::sync::Plan;
use crate::sync::pending::{self, PendingJob, PendingSchedule};
use crate::sync::run::{SyncEvent, SyncOptions, SyncReport};

/// What the background work tells the UI.
#[derive(Debug, Clone)]
pub enum EngineEvent {
    Snapshot(Box<PairStatus>),
    /// The console's probe cadence changed: `Some(secs)` while it is idle (unattended,
    /// nothing critical), `None` when it probes at the normal interval again.
    Idle(Option<u64>),
    PlanStarted,
    PlanDone(TaskResult<Arc<Plan>>),
    Log(String),
    /// A phase or warning of a running sync.
    Sync(SyncEvent),
    /// Progress of a running sync, with the milliseconds since it started.
    SyncProgress(crate::sync::progress::Tracker, u64),
    /// A sync (or its dry run) ended.
    SyncDone {
        dry_run: bool,
        result: TaskResult<SyncReport>,
    },
    /// A flow's steps, and what it puts at stake for documents (review screen).
    FlowPlanned(TaskResult<(Vec<Step>, Option<String>)>),
    /// Progress (and questions) of a running flow.
    Flow(FlowEvent),
    /// A flow ended (its report comes from its journal).
    FlowDone(TaskResult<FlowReport>),
    /// A big plan's diffs, filtered and sorted off the UI task (`generation` tells the
    /// latest request from stale ones).
    DiffsFiltered {
        generation: u64,
        rows: Vec<u32>,
    },
}

/// What to do with a flow in the background.
#[derive(Debug, Clone)]
pub enum FlowJob {
    /// Plan only (for the review screen).
    Plan {
        kind: FlowKind,
        old: NodeId,
        new: NodeId,
    },
    /// Plan and run, asking through the events.
    Run {
        kind: FlowKind,
        old: NodeId,
        new: NodeId,
    },
    /// Continue the flow journaled at this path.
    Resume(PathBuf),
    /// Undo the flow journaled at this path (before promotion only).
    RollBack(PathBuf),
}

/// Room for a flow's events (few, and the questions wait for their answer anyway).
const FLOW_EVENTS: usize = 64;
/// Room for a sync's events (rsync's progress lines come fast).
const SYNC_EVENTS: usize = 1024;
/// At most one progress message in this long reaches the UI (~10 a second).
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// The one way background work reports to its face: `work` runs in its own task
/// with a channel for its progress; each progress event goes to `events` as `progress`
/// makes it (`None` drops it), and once the work ended and all its progress went out,
/// its result goes as `done` makes it, so the end never overtakes the progress.
fn spawn_forwarding<E, P, R, W, F>(
    events: mpsc::Sender<E>,
    capacity: usize,
    mut progress: impl FnMut(P) -> Option<E> + Send + 'static,
    work: W,
    done: impl FnOnce(R) -> E + Send + 'static,
) -> JoinHandle<()>
where
    E: Send + 'static,
    P: Send + 'static,
    W: FnOnce(mpsc::Sender<P>) -> F + Send + 'static,
    F: Future<Output = R> + Send + 'static,
    R: Send + 'static,
{
    tokio::spawn(async move {
        let (tx, mut rx) = mpsc::channel::<P>(capacity);
        let forward = {
            let events = events.clone();
            tokio::spawn(async move {
                while let Some(p) = rx.recv().await {
                    let Some(ev) = progress(p) else { continue };
                    if events.send(ev).await.is_err() {
                        break;
                    }
                }
            })
        };
        // The work owns the sender: the forwarder ends once the work is done with it.
        let result = work(tx).await;
        let _ = forward.await;
        let _ = events.send(done(result)).await;
    })
}

/// Plans or runs a flow in the background; its events (questions included) go to `events`.
/// `stop` set (a signal to the console) stops the flow before promotion at its next
/// step, rolling it back; after promotion it goes on.
pub fn start_flow(
    monitor: Arc<Monitor>,
    job: FlowJob,
    events: mpsc::Sender<EngineEvent>,
    stop: Option<watch::Receiver<bool>>,
) -> JoinHandle<()> {
    match job {
        FlowJob::Plan { kind, old, new } => spawn_forwarding(
            events,
            FLOW_EVENTS,
            |ev| Some(EngineEvent::Flow(ev)),
            move |_| plan_flow(monitor, kind, old, new),
            |planned| EngineEvent::FlowPlanned(Ok(planned)),
        ),
        FlowJob::Run { kind, old, new } => spawn_flow(events, move |tx| async move {
            let mut r = Runner::plan(monitor, kind, old, new).await;
            r.stop = stop;
            let mut confirmer = ChannelConfirmer(tx.clone());
            r.run(&mut confirmer, &tx).await
        }),
        FlowJob::Resume(path) => spawn_flow(events, move |tx| async move {
            let (mut r, j) = Runner::reopen(monitor, &path).await?;
            r.stop = stop;
            let mut confirmer = ChannelConfirmer(tx.clone());
            r.execute(j, &mut confirmer, &tx).await
        }),
        FlowJob::RollBack(path) => spawn_flow(events, move |_| async move {
            let (r, j) = Runner::reopen(monitor, &path).await?;
            r.roll_back(j).await
        }),
    }
}

/// A flow's steps and what it puts at stake (for the review screen).
async fn plan_flow(
    monitor: Arc<Monitor>,
    kind: FlowKind,
    old: NodeId,
    new: NodeId,
) -> (Vec<Step>, Option<String>) {
    let stakes = crate::failover::files::stakes(&monitor, kind, old, new).await;
    let r = Runner::plan(monitor, kind, old, new).await;
    (r.steps, stakes)
}

/// Runs a flow's `work` in the background: its events reach the console as they come,
/// its report (or why there is none) at the end.
fn spawn_flow<W, F>(events: mpsc::Sender<EngineEvent>, work: W) -> JoinHandle<()>
where
    W: FnOnce(mpsc::Sender<FlowEvent>) -> F + Send + 'static,
    F: Future<Output = Result<FlowReport>> + Send + 'static,
{
    spawn_forwarding(
        events,
        FLOW_EVENTS,
        |ev| Some(EngineEvent::Flow(ev)),
        work,
        |r| EngineEvent::FlowDone(r.map_err(TaskError::from)),
    )
}

/// Starts a sync (or its dry run) in the background; its events go to `events`.
pub fn start_sync(
    monitor: Arc<Monitor>,
    opts: SyncOptions,
    events: mpsc::Sender<EngineEvent>,
) -> JoinHandle<()> {
    let dry_run = opts.dry_run;
    spawn_forwarding(
        events,
        SYNC_EVENTS,
        sync_progress(),
        move |tx| crate::sync::run::run(monitor, opts, tx),
        move |r| EngineEvent::SyncDone {
            dry_run,
            result: r.map_err(TaskError::from),
        },
    )
}

/// Turns a sync's events into the console's, dropping progress that comes faster than
/// the screen can use (`PROGRESS_EVERY`).
fn sync_progress() -> impl FnMut(SyncEvent) -> Option<EngineEvent> + Send + 'static {
    let started = std::time::Instant::now();
    let mut last: Option<std::time::Instant> = None;
    move |ev| match ev {
        SyncEvent::Progress(t) => {
            if last.is_some_and(|l| l.elapsed() < PROGRESS_EVERY) {
                return None;
            }
            last = Some(std::time::Instant::now());
            Some(EngineEvent::SyncProgress(
                t,
                started.elapsed().as_millis() as u64,
            ))
        }
        other => Some(EngineEvent::Sync(other)),
    }
}

/// What the UI may ask of the background work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineRequest {
    /// Probe now and plan again.
    Refresh,
    /// The operator pressed a key: probe now if the console was idle, and keep the
    /// normal cadence.
    Key,
}

/// Handles to the running background tasks; dropping it stops them.
pub struct EngineHandle {
    pub requests: mpsc::Sender<EngineRequest>,
    tasks: Vec<JoinHandle<()>>,
    /// Stops (and is known stopped) when the handle goes.
    _writer: crate::pair::HeartbeatWriter,
}

impl Drop for EngineHandle {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Starts polling, the heartbeat writer and the planner; events go to `events`.
pub fn start(monitor: Arc<Monitor>, events: mpsc::Sender<EngineEvent>) -> EngineHandle {
    let (req_tx, req_rx) = mpsc::channel::<EngineRequest>(8);
    let (plan_tx, plan_rx) = mpsc::channel::<PendingJob>(1);
    let writer = spawn_heartbeat_writer(Arc::clone(&monitor));
    let planner = spawn_planner(Arc::clone(&monitor), events.clone(), plan_rx);
    let poller = tokio::spawn(poll(monitor, events, req_rx, plan_tx));
    EngineHandle {
        requests: req_tx,
        tasks: vec![planner, poller],
        _writer: writer,
    }
}

/// The planner: one plan at a time; requests while one runs are dropped (the poller
/// `try_send`s into a channel of one).
fn spawn_planner(
    monitor: Arc<Monitor>,
    events: mpsc::Sender<EngineEvent>,
    mut plan_rx: mpsc::Receiver<PendingJob>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(job) = plan_rx.recv().await {
            let _ = events.send(EngineEvent::PlanStarted).await;
            let result = pending::plan(&monitor, &job)
                .await
                .map(Arc::new)
                .map_err(TaskError::from);
            if let Err(e) = &result {
                let _ = events
                    .send(EngineEvent::Log(format!("plan failed: {e}")))
                    .await;
            }
            let _ = events.send(EngineEvent::PlanDone(result)).await;
        }
    })
}

/// What the poller remembers between probes.
struct PollState {
    /// Which pending plan is due (journal every probe, scans on request or by timer).
    pending: PendingSchedule,
    /// The alerts last logged, to log only changes.
    previous: Option<String>,
    /// The pair's last severity (an idle console slows down only while nothing is
    /// critical).
    severity: Severity,
    /// Whether the last wait was at the idle cadence.
    idle: bool,
}

/// Why the poller probes again.
enum Wake {
    Probe,
    Refresh,
}

/// Waits `wait`, or for the UI: a refresh probes and scans now; a key probes now only if
/// the console was idle (else it only marks the operator present). `None`: the UI is
/// gone.
async fn wake(
    req_rx: &mut mpsc::Receiver<EngineRequest>,
    wait: Duration,
    cadence: &mut Cadence,
    idle: bool,
) -> Option<Wake> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => return Some(Wake::Probe),
            r = req_rx.recv() => match r? {
                EngineRequest::Refresh => return Some(Wake::Refresh),
                EngineRequest::Key => {
                    cadence.key(Instant::now());
                    if idle {
                        return Some(Wake::Probe);
                    }
                }
            },
        }
    }
}

/// Probes the pair every `interval` (or on a refresh), logs changed alerts, asks the
/// planner for a plan when due, and sends each snapshot; ends when the UI is gone.
async fn poll(
    monitor: Arc<Monitor>,
    events: mpsc::Sender<EngineEvent>,
    mut req_rx: mpsc::Receiver<EngineRequest>,
    plan_tx: mpsc::Sender<PendingJob>,
) {
    let diff_every = Duration::from_secs(monitor.cfg.monitor.diff_interval_secs);
    let mut cadence = Cadence::new(&monitor.cfg.monitor, Instant::now());
    let mode = monitor.cfg.monitor.pending;
    let mut state = PollState {
        pending: PendingSchedule::default(),
        previous: None,
        severity: Severity::Ok,
        idle: false,
    };
    let mut first = true;
    loop {
        if !std::mem::take(&mut first) {
            let wait = cadence.wait(state.severity, Instant::now());
            let idle = cadence.idle(state.severity, Instant::now());
            if idle != state.idle {
                state.idle = idle;
                let every = idle.then_some(wait.as_secs());
                let _ = events.send(EngineEvent::Idle(every)).await;
            }
            match wake(&mut req_rx, wait, &mut cadence, state.idle).await {
                Some(Wake::Refresh) => state.pending.request_scan(),
                Some(Wake::Probe) => {}
                None => break,
            }
        }
        let status = monitor.probe_pair(None).await;
        let status = monitor.finish(status, None);
        state.severity = status.severity;
        if let Some(line) = alerts_changed(status.severity, &status.alerts, &mut state.previous) {
            let _ = events.send(EngineEvent::Log(line)).await;
        }
        if let Some(job) = state
            .pending
            .next(&status, mode, diff_every, Instant::now())
            && let Err(e) = plan_tx.try_send(job)
        {
            let job = match e {
                mpsc::error::TrySendError::Full(j) | mpsc::error::TrySendError::Closed(j) => j,
            };
            state.pending.dropped(&job);
        }
        if events
            .send(EngineEvent::Snapshot(Box::new(status)))
            .await
            .is_err()
        {
            break;
        }
    }
}

/// The log line for the alerts when they differ from the `previous` ones (which it
/// then remembers); `None` when nothing changed.
fn alerts_changed(
    severity: Severity,
    alerts: &[Alert],
    previous: &mut Option<String>,
) -> Option<String> {
    let summary = alerts
        .iter()
        .map(|a| a.message.clone())
        .collect::<Vec<_>>()
        .join("; ");
    if previous.as_deref() == Some(summary.as_str()) {
        return None;
    }
    let line = format!(
        "{}: {}",
        severity.label(),
        if summary.is_empty() {
            "all good"
        } else {
            &summary
        }
    );
    *previous = Some(summary);
    Some(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(message: &str) -> Alert {
        Alert {
            severity: Severity::Warning,
            node: None,
            message: message.into(),
        }
    }

    #[test]
    fn alerts_are_logged_once_per_change() {
        let mut previous = None;
        assert_eq!(
            alerts_changed(Severity::Ok, &[], &mut previous).as_deref(),
            Some("OK: all good")
        );
        assert_eq!(alerts_changed(Severity::Ok, &[], &mut previous), None);
        let lag = [alert("lag 3 s"), alert("disk 91%")];
        assert_eq!(
            alerts_changed(Severity::Warning, &lag, &mut previous).as_deref(),
            Some("WARNING: lag 3 s; disk 91%")
        );
        assert_eq!(alerts_changed(Severity::Warning, &lag, &mut previous), None);
    }

    #[tokio::test]
    async fn the_end_comes_after_every_forwarded_event() {
        let (events, mut rx) = mpsc::channel(4);
        let task = spawn_forwarding(
            events,
            2,
            |n: u32| {
                n.is_multiple_of(2)
                    .then(|| EngineEvent::Log(format!("event {n}")))
            },
            |tx| async move {
                for n in 0..6 {
                    let _ = tx.send(n).await;
                }
                Err::<(), _>(color_eyre::eyre::Report::new(
                    crate::sync::events::Cancelled,
                ))
            },
            |r| EngineEvent::FlowPlanned(r.map(|()| (Vec::new(), None)).map_err(TaskError::from)),
        );
        let mut seen = Vec::new();
        while let Some(ev) = rx.recv().await {
            seen.push(ev);
        }
        task.await.unwrap();
        let logs: Vec<&str> = seen
            .iter()
            .filter_map(|e| match e {
                EngineEvent::Log(l) => Some(l.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(logs, ["event 0", "event 2", "event 4"]);
        assert!(matches!(
            seen.last(),
            Some(EngineEvent::FlowPlanned(Err(TaskError::Cancelled)))
        ));
        assert_eq!(seen.len(), 4);
    }
}
