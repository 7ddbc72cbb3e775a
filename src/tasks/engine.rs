//! The monitor running in the background for the console: polls the pair, keeps the
//! heartbeat writer going, plans pending diffs on a timer or on request, and reports
//! everything as typed messages on a channel. It never blocks its reader.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::pair::model::PairStatus;
use crate::pair::roles::PairRoles;
use crate::pair::{Monitor, spawn_heartbeat_writer};
use crate::sync::Plan;

/// What the background work tells the UI.
#[derive(Debug, Clone)]
pub enum EngineEvent {
    Snapshot(Box<PairStatus>),
    PlanStarted,
    PlanDone(Result<Arc<Plan>, String>),
    Log(String),
    /// A phase or warning of a running sync.
    Sync(crate::sync::run::SyncEvent),
    /// Progress of a running sync, with the milliseconds since it started.
    SyncProgress(crate::sync::progress::Tracker, u64),
    /// A sync (or its dry run) ended.
    SyncDone {
        dry_run: bool,
        result: Result<crate::sync::run::SyncReport, String>,
    },
    /// The steps of a flow the operator is reviewing.
    /// A flow's steps, and what it puts at stake for documents (review screen).
    FlowPlanned(Result<(Vec<crate::failover::Step>, Option<String>), String>),
    /// Progress (and questions) of a running flow.
    Flow(crate::failover::FlowEvent),
    /// A flow ended (its report comes from its journal).
    FlowDone(Result<crate::failover::FlowReport, String>),
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
        kind: crate::failover::FlowKind,
        old: usize,
        new: usize,
    },
    /// Plan and run, asking through the events.
    Run {
        kind: crate::failover::FlowKind,
        old: usize,
        new: usize,
    },
    /// Continue the flow journaled at this path.
    Resume(std::path::PathBuf),
    /// Undo the flow journaled at this path (before promotion only).
    RollBack(std::path::PathBuf),
}

/// Plans or runs a flow in the background; its events (questions included) go to `events`.
/// `stop` set (a signal to the console) stops the flow before promotion at its next
/// step, rolling it back; after promotion it goes on.
pub fn start_flow(
    monitor: Arc<Monitor>,
    job: FlowJob,
    events: mpsc::Sender<EngineEvent>,
    stop: Option<tokio::sync::watch::Receiver<bool>>,
) -> tokio::task::JoinHandle<()> {
    use crate::failover::exec::ChannelConfirmer;
    use crate::failover::{FlowEvent, Runner};
    tokio::spawn(async move {
        let (tx, mut rx) = mpsc::channel::<FlowEvent>(64);
        let forward = {
            let events = events.clone();
            tokio::spawn(async move {
                while let Some(ev) = rx.recv().await {
                    if events.send(EngineEvent::Flow(ev)).await.is_err() {
                        break;
                    }
                }
            })
        };
        let result = match job {
            FlowJob::Plan { kind, old, new } => {
                let stakes = crate::failover::files::stakes(&monitor, kind, old, new).await;
                let r = Runner::plan(monitor, kind, old, new).await;
                drop(tx);
                let _ = forward.await;
                let _ = events
                    .send(EngineEvent::FlowPlanned(Ok((r.steps, stakes))))
                    .await;
                return;
            }
            FlowJob::Run { kind, old, new } => {
                let mut r = Runner::plan(monitor, kind, old, new).await;
                r.stop = stop;
                let mut confirmer = ChannelConfirmer(tx.clone());
                r.run(&mut confirmer, &tx).await
            }
            FlowJob::RollBack(path) => match Runner::reopen(monitor, &path).await {
                Ok((r, j)) => r.roll_back(j).await,
                Err(e) => Err(e),
            },
            FlowJob::Resume(path) => match Runner::reopen(monitor, &path).await {
                Ok((mut r, j)) => {
                    r.stop = stop;
                    let mut confirmer = ChannelConfirmer(tx.clone());
                    r.execute(j, &mut confirmer, &tx).await
                }
                Err(e) => Err(e),
            },
        };
        drop(tx);
        let _ = forward.await;
        let _ = events
            .send(EngineEvent::FlowDone(result.map_err(|e| format!("{e:#}"))))
            .await;
    })
}

/// Starts a sync (or its dry run) in the background; its events go to `events`.
pub fn start_sync(
    monitor: Arc<Monitor>,
    opts: crate::sync::run::SyncOptions,
    events: mpsc::Sender<EngineEvent>,
) -> tokio::task::JoinHandle<()> {
    use crate::sync::run::{SyncEvent, run};
    tokio::spawn(async move {
        let dry_run = opts.dry_run;
        let (tx, mut rx) = mpsc::channel::<SyncEvent>(1024);
        let started = std::time::Instant::now();
        let forward = {
            let events = events.clone();
            tokio::spawn(async move {
                let mut last = std::time::Instant::now() - Duration::from_secs(1);
                while let Some(ev) = rx.recv().await {
                    let msg = match ev {
                        SyncEvent::Progress(t) => {
                            // At most ~10 progress messages a second reach the UI.
                            if last.elapsed() < Duration::from_millis(100) {
                                continue;
                            }
                            last = std::time::Instant::now();
                            EngineEvent::SyncProgress(t, started.elapsed().as_millis() as u64)
                        }
                        other => EngineEvent::Sync(other),
                    };
                    if events.send(msg).await.is_err() {
                        break;
                    }
                }
            })
        };
        let result = run(monitor, opts, tx).await.map_err(|e| format!("{e:#}"));
        let _ = forward.await;
        let _ = events.send(EngineEvent::SyncDone { dry_run, result }).await;
    })
}

/// What the UI may ask of the background work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineRequest {
    /// Probe now and plan again.
    Refresh,
}

/// Handles to the running background tasks; dropping it stops them.
pub struct EngineHandle {
    pub requests: mpsc::Sender<EngineRequest>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
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
    let (req_tx, mut req_rx) = mpsc::channel::<EngineRequest>(8);
    let (plan_tx, mut plan_rx) = mpsc::channel::<(usize, usize)>(1);
    let interval = Duration::from_secs(monitor.cfg.monitor.interval_secs);
    let diff_every = monitor.cfg.monitor.diff_interval_secs;
    let writer = spawn_heartbeat_writer(Arc::clone(&monitor));

    // Planner: one plan at a time; requests while one runs are dropped (try_send).
    let planner = {
        let monitor = Arc::clone(&monitor);
        let events = events.clone();
        tokio::spawn(async move {
            while let Some((main, mirror)) = plan_rx.recv().await {
                let _ = events.send(EngineEvent::PlanStarted).await;
                let result = match crate::sync::plan::plan_pair(&monitor, main, mirror).await {
                    Ok(mut p) => {
                        crate::sync::plan::name_plan(&monitor, main, &mut p).await;
                        Ok(Arc::new(p))
                    }
                    Err(e) => Err(format!("{e:#}")),
                };
                if let Err(e) = &result {
                    let _ = events
                        .send(EngineEvent::Log(format!("plan failed: {e}")))
                        .await;
                }
                let _ = events.send(EngineEvent::PlanDone(result)).await;
            }
        })
    };

    let poller = {
        let monitor = Arc::clone(&monitor);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last_plan: Option<tokio::time::Instant> = None;
            let mut force_plan = true;
            let mut previous: Option<String> = None;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    r = req_rx.recv() => match r {
                        Some(EngineRequest::Refresh) => force_plan = true,
                        None => break,
                    },
                }
                let status = monitor.probe_pair(None).await;
                let status = monitor.finish(status, None);
                let summary = status
                    .alerts
                    .iter()
                    .map(|a| a.message.clone())
                    .collect::<Vec<_>>()
                    .join("; ");
                if previous.as_deref() != Some(summary.as_str()) {
                    let line = format!(
                        "{}: {}",
                        status.severity.label(),
                        if summary.is_empty() {
                            "all good"
                        } else {
                            &summary
                        }
                    );
                    let _ = events.send(EngineEvent::Log(line)).await;
                    previous = Some(summary);
                }
                let due = diff_every > 0
                    && last_plan.is_none_or(|t| t.elapsed() >= Duration::from_secs(diff_every));
                if let PairRoles::Normal { main, mirror } = status.roles
                    && (force_plan || due)
                    && plan_tx.try_send((main, mirror)).is_ok()
                {
                    last_plan = Some(tokio::time::Instant::now());
                    force_plan = false;
                }
                if events
                    .send(EngineEvent::Snapshot(Box::new(status)))
                    .await
                    .is_err()
                {
                    break;
                }
            }
        })
    };
    EngineHandle {
        requests: req_tx,
        tasks: vec![planner, poller],
        _writer: writer,
    }
}
