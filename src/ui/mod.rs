//! The console (TUI): a thin face over the engine. State lives in `app`, drawing in
//! `render`, keys in `keymap`; this module runs the event loop, which merges terminal
//! events with the engine's messages and redraws only when something changed.

pub mod app;
pub mod flow_state;
pub mod keymap;
pub mod render;
pub mod sync_state;
pub mod terminal;
pub mod theme;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use color_eyre::eyre::{Result, WrapErr};
use crossterm::event::{Event, EventStream, KeyEventKind};
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::config::Config;
use crate::pair::Monitor;
use crate::sync::run::SyncOptions;
use crate::tasks::engine::{self, EngineRequest, FlowJob};
use app::{App, View};
use flow_state::{FlowCommand, FlowUi};
use sync_state::SyncCommand;
use theme::Theme;

/// Frames are drawn at most this often, however fast events come (SSH-friendly).
const MIN_FRAME: Duration = Duration::from_millis(50);

/// Opens the console on a pair and runs it until the operator quits.
pub async fn run(cfg: Config, config_path: std::path::PathBuf, readonly: bool) -> Result<()> {
    let signals = crate::signals::cancel_on_signals()?;
    let mut terminal = terminal::enter()?;
    let mut running = None;
    let result = event_loop(
        &mut terminal,
        cfg,
        &config_path,
        readonly,
        signals,
        &mut running,
    )
    .await;
    terminal::leave();
    if let Some(r) = running {
        r.finish().await;
    }
    result
}

/// A sync or flow task with the flag that cancels (or stops) it.
struct Task {
    cancel: tokio::sync::watch::Sender<bool>,
    handle: tokio::task::JoinHandle<()>,
}

/// Syncs and flows still running when the console ends (quit, SIGTERM, SIGHUP): they
/// are cancelled (a flow before promotion stops and rolls back; a pending question is
/// answered no), and the console waits for them to give the main back its writes.
struct RunningSync {
    tasks: Vec<Task>,
    events: mpsc::Receiver<engine::EngineEvent>,
    limit: Duration,
}

impl RunningSync {
    async fn finish(mut self) {
        self.tasks.retain(|t| !t.handle.is_finished());
        if self.tasks.is_empty() {
            return;
        }
        eprintln!("okmirror: cancelling what still runs (a frozen main takes writes again)...");
        for t in &self.tasks {
            let _ = t.cancel.send(true);
        }
        let all = futures::future::join_all(self.tasks.iter_mut().map(|t| &mut t.handle));
        let drain = async {
            while self.events.recv().await.is_some() {}
            std::future::pending::<()>().await
        };
        tokio::select! {
            _ = all => {}
            _ = drain => {}
            _ = tokio::time::sleep(self.limit) => {
                eprintln!("okmirror: it did not end in time; the nodes' watchdogs restore what it froze");
            }
        }
    }
}

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    cfg: Config,
    config_path: &Path,
    readonly: bool,
    mut signals: tokio::sync::watch::Receiver<bool>,
    running: &mut Option<RunningSync>,
) -> Result<()> {
    let theme = Theme::from_env();
    let limit = Duration::from_secs(cfg.sync.freeze_max_secs + 60);
    let mut app = App::new(&cfg, &config_path.display().to_string(), readonly);
    let monitor = Arc::new(Monitor::new(Arc::new(cfg)));
    let (tx, mut rx) = mpsc::channel(256);
    let engine = engine::start(Arc::clone(&monitor), tx.clone());
    let mut cancel_sync: Option<tokio::sync::watch::Sender<bool>> = None;
    let mut sync_task: Option<tokio::task::JoinHandle<()>> = None;
    let mut flow_task: Option<Task> = None;
    if !readonly {
        offer_resume(&mut app, &monitor).await;
    }
    let mut events = EventStream::new();
    let diffs_latest = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut dirty = true;
    let mut last_frame = tokio::time::Instant::now() - MIN_FRAME;
    tracing::info!(pair = %app.pair, "console started");
    loop {
        if dirty {
            let wait = MIN_FRAME.saturating_sub(last_frame.elapsed());
            if wait.is_zero() {
                let size = terminal.size().wrap_err("reading the terminal size")?;
                app.page_rows = size.height.saturating_sub(render::DIFFS_CHROME) as usize;
                terminal
                    .draw(|f| render::render(&app, &theme, f))
                    .wrap_err("drawing the console")?;
                last_frame = tokio::time::Instant::now();
                dirty = false;
            }
        }
        let frame_due = async {
            if dirty {
                tokio::time::sleep(MIN_FRAME.saturating_sub(last_frame.elapsed())).await
            } else {
                std::future::pending::<()>().await
            }
        };
        tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(Event::Key(key))) if key.kind == KeyEventKind::Press => {
                    dirty |= app.on_key(&key);
                }
                Some(Ok(Event::Resize(..))) => dirty = true,
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e).wrap_err("reading terminal events"),
                None => break,
            },
            msg = rx.recv() => match msg {
                Some(m) => dirty |= app.on_engine(m),
                None => break,
            },
            _ = frame_due => {}
            _ = signals.wait_for(|c| *c) => break,
        }
        if let Some(job) = app.diffs_job.take() {
            filter_in_background(job, &diffs_latest, tx.clone());
        }
        if app.sync_plan_requested {
            app.sync_plan_requested = false;
            let opts = SyncOptions {
                dry_run: true,
                ..SyncOptions::default()
            };
            engine::start_sync(Arc::clone(&monitor), opts, tx.clone());
        }
        match app.sync_command.take() {
            Some(SyncCommand::Start { allow_deletes }) => {
                let (ctx, crx) = tokio::sync::watch::channel(false);
                cancel_sync = Some(ctx);
                let opts = SyncOptions {
                    dry_run: false,
                    allow_deletes,
                    cancel: Some(crx),
                };
                sync_task = Some(engine::start_sync(Arc::clone(&monitor), opts, tx.clone()));
            }
            Some(SyncCommand::Cancel) => {
                if let Some(c) = &cancel_sync {
                    let _ = c.send(true);
                }
            }
            Some(SyncCommand::Close) | None => {}
        }
        if let Some(cmd) = app.flow_command.take() {
            let job = match cmd {
                FlowCommand::Plan { kind, old, new } => Some(FlowJob::Plan { kind, old, new }),
                FlowCommand::Start { kind, old, new } => Some(FlowJob::Run { kind, old, new }),
                FlowCommand::Resume(p) => Some(FlowJob::Resume(p)),
                FlowCommand::RollBack(p) => Some(FlowJob::RollBack(p)),
                FlowCommand::Close => None,
            };
            if let Some(job) = job {
                let (stop, stop_rx) = tokio::sync::watch::channel(false);
                let handle =
                    engine::start_flow(Arc::clone(&monitor), job, tx.clone(), Some(stop_rx));
                flow_task = Some(Task {
                    cancel: stop,
                    handle,
                });
            }
        }
        if app.refresh_requested {
            app.refresh_requested = false;
            let _ = engine.requests.try_send(EngineRequest::Refresh);
        }
        if app.should_quit {
            break;
        }
    }
    drop(engine);
    let mut tasks: Vec<Task> = flow_task.into_iter().collect();
    if let (Some(cancel), Some(handle)) = (cancel_sync, sync_task) {
        tasks.push(Task { cancel, handle });
    }
    *running = Some(RunningSync {
        tasks,
        events: rx,
        limit,
    });
    tracing::info!("console closed");
    Ok(())
}

/// An unfinished flow (a console killed mid-flow) opens the wizard on its checklist,
/// offering to resume it from its first unfinished step.
async fn offer_resume(app: &mut App, monitor: &Arc<Monitor>) {
    let Ok(dir) = crate::failover::exec::journal_dir() else {
        return;
    };
    let Some(path) = crate::failover::journal::unfinished_flow(&dir)
        .ok()
        .flatten()
    else {
        return;
    };
    match crate::failover::Runner::reopen(Arc::clone(monitor), &path).await {
        Ok((r, j)) => {
            let title = format!(
                "unfinished {} {} -> {} (journal {})",
                r.kind.word(),
                monitor.nodes[r.old].cfg.name,
                monitor.nodes[r.new].cfg.name,
                path.display()
            );
            let done = r.still_done(&j);
            app.flow = Some(FlowUi::offer_resume(path, title, r.steps, &done));
            app.view = View::Flow;
        }
        Err(e) => app.push_log(format!("unfinished flow {}: {e:#}", path.display())),
    }
}

/// Filters a big plan's diffs on the blocking pool; a newer request makes an older one
/// stop early (it checks `latest` as it goes) and its result is dropped.
fn filter_in_background(
    job: app::DiffsJob,
    latest: &Arc<std::sync::atomic::AtomicU64>,
    tx: mpsc::Sender<engine::EngineEvent>,
) {
    use std::sync::atomic::Ordering;
    latest.store(job.generation, Ordering::SeqCst);
    let latest = Arc::clone(latest);
    tokio::task::spawn_blocking(move || {
        let stale = || latest.load(Ordering::SeqCst) != job.generation;
        if let Some(rows) = app::diff_rows(&job.plan, &job.filter, job.sort, &stale) {
            let _ = tx.blocking_send(engine::EngineEvent::DiffsFiltered {
                generation: job.generation,
                rows,
            });
        }
    });
}
