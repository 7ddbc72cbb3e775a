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
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use color_eyre::eyre::{Result, WrapErr};
use crossterm::event::{Event, EventStream, KeyEventKind};
use futures::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::Config;
use crate::pair::Monitor;
use crate::sync::run::SyncOptions;
use crate::tasks::engine::{self, EngineEvent, EngineHandle, EngineRequest, FlowJob};
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
    cancel: watch::Sender<bool>,
    handle: JoinHandle<()>,
}

impl Task {
    /// Starts a job, handing it the receiving end of its own cancel flag.
    fn start(job: impl FnOnce(watch::Receiver<bool>) -> JoinHandle<()>) -> Task {
        let (cancel, cancelled) = watch::channel(false);
        Task {
            cancel,
            handle: job(cancelled),
        }
    }
}

/// Syncs and flows still running when the console ends (quit, SIGTERM, SIGHUP): they
/// are cancelled (a flow before promotion stops and rolls back; a pending question is
/// answered no), and the console waits for them to give the main back its writes.
struct RunningSync {
    tasks: Vec<Task>,
    events: mpsc::Receiver<EngineEvent>,
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

/// The console's background work: the engine, and the syncs and flows the operator
/// started; the event loop hands it what the app asked for.
struct Work {
    monitor: Arc<Monitor>,
    events: mpsc::Sender<EngineEvent>,
    engine: EngineHandle,
    sync: Option<Task>,
    flow: Option<Task>,
    /// The generation of the latest diffs filter asked for (older ones stop early).
    diffs_latest: Arc<AtomicU64>,
}

impl Work {
    /// Starts the engine; its messages, and those of what starts later, go to `events`.
    fn start(monitor: Arc<Monitor>, events: mpsc::Sender<EngineEvent>) -> Work {
        Work {
            engine: engine::start(Arc::clone(&monitor), events.clone()),
            monitor,
            events,
            sync: None,
            flow: None,
            diffs_latest: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Starts what the app asked for since the last event.
    fn serve(&mut self, app: &mut App) {
        if let Some(job) = app.diffs_job.take() {
            filter_in_background(job, &self.diffs_latest, self.events.clone());
        }
        if std::mem::take(&mut app.sync_plan_requested) {
            let opts = SyncOptions {
                dry_run: true,
                ..SyncOptions::default()
            };
            engine::start_sync(Arc::clone(&self.monitor), opts, self.events.clone());
        }
        if let Some(cmd) = app.sync_command.take() {
            self.on_sync_command(cmd);
        }
        if let Some(cmd) = app.flow_command.take() {
            self.on_flow_command(cmd);
        }
        if std::mem::take(&mut app.refresh_requested) {
            let _ = self.engine.requests.try_send(EngineRequest::Refresh);
        }
        if std::mem::take(&mut app.key_pressed) {
            let _ = self.engine.requests.try_send(EngineRequest::Key);
        }
    }

    /// The sync view's start (a real run, cancellable) or cancel.
    fn on_sync_command(&mut self, cmd: SyncCommand) {
        match cmd {
            SyncCommand::Start { allow_deletes } => {
                self.sync = Some(Task::start(|cancel| {
                    let opts = SyncOptions {
                        dry_run: false,
                        allow_deletes,
                        cancel: Some(cancel),
                    };
                    engine::start_sync(Arc::clone(&self.monitor), opts, self.events.clone())
                }));
            }
            SyncCommand::Cancel => {
                if let Some(t) = &self.sync {
                    let _ = t.cancel.send(true);
                }
            }
            SyncCommand::Close => {}
        }
    }

    /// The wizard's plan, start, resume or rollback, run with a stop flag.
    fn on_flow_command(&mut self, cmd: FlowCommand) {
        let job = match cmd {
            FlowCommand::Plan { kind, old, new } => FlowJob::Plan { kind, old, new },
            FlowCommand::Start { kind, old, new } => FlowJob::Run { kind, old, new },
            FlowCommand::Resume(p) => FlowJob::Resume(p),
            FlowCommand::RollBack(p) => FlowJob::RollBack(p),
            FlowCommand::Close => return,
        };
        self.flow = Some(Task::start(|stop| {
            engine::start_flow(
                Arc::clone(&self.monitor),
                job,
                self.events.clone(),
                Some(stop),
            )
        }));
    }

    /// Stops the engine and hands over what still runs, to be cancelled and waited for
    /// once the terminal is given back.
    fn into_running(self, events: mpsc::Receiver<EngineEvent>, limit: Duration) -> RunningSync {
        let Work {
            engine, sync, flow, ..
        } = self;
        drop(engine);
        RunningSync {
            tasks: flow.into_iter().chain(sync).collect(),
            events,
            limit,
        }
    }
}

/// When the screen was last drawn, and whether it must be drawn again.
struct Frames {
    dirty: bool,
    last: Instant,
}

impl Frames {
    fn new() -> Frames {
        Frames {
            dirty: true,
            last: Instant::now() - MIN_FRAME,
        }
    }

    /// Draws a changed screen, unless the last frame is too recent (`due` then wakes
    /// the loop when it may be drawn).
    fn draw(
        &mut self,
        terminal: &mut ratatui::DefaultTerminal,
        app: &mut App,
        theme: &Theme,
    ) -> Result<()> {
        if !self.dirty || !MIN_FRAME.saturating_sub(self.last.elapsed()).is_zero() {
            return Ok(());
        }
        let size = terminal.size().wrap_err("reading the terminal size")?;
        app.page_rows = size.height.saturating_sub(render::DIFFS_CHROME) as usize;
        terminal
            .draw(|f| render::render(app, theme, f))
            .wrap_err("drawing the console")?;
        self.last = Instant::now();
        self.dirty = false;
        Ok(())
    }

    /// Resolves when a held-back frame may be drawn; never when nothing changed.
    fn due(&self) -> impl std::future::Future<Output = ()> + use<> {
        let (dirty, last) = (self.dirty, self.last);
        async move {
            if dirty {
                tokio::time::sleep(MIN_FRAME.saturating_sub(last.elapsed())).await
            } else {
                std::future::pending::<()>().await
            }
        }
    }
}

/// The console's inputs: the terminal, the engine's messages, and the signals.
struct Inputs {
    terminal: EventStream,
    engine: mpsc::Receiver<EngineEvent>,
    signals: watch::Receiver<bool>,
}

impl Inputs {
    /// Waits for the next key, resize, engine message, due frame or signal and applies
    /// it to the app; false when the console must end (input closed, a signal).
    async fn next(&mut self, app: &mut App, frames: &mut Frames) -> Result<bool> {
        let frame_due = frames.due();
        tokio::select! {
            ev = self.terminal.next() => match ev {
                Some(Ok(Event::Key(key))) if key.kind == KeyEventKind::Press => {
                    frames.dirty |= app.on_key(&key);
                }
                Some(Ok(Event::Resize(..))) => frames.dirty = true,
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e).wrap_err("reading terminal events"),
                None => return Ok(false),
            },
            msg = self.engine.recv() => match msg {
                Some(m) => frames.dirty |= app.on_engine(m),
                None => return Ok(false),
            },
            _ = frame_due => {}
            _ = self.signals.wait_for(|c| *c) => return Ok(false),
        }
        Ok(true)
    }
}

/// Runs the console until the operator quits, the input ends or a signal comes; what
/// still runs then is left in `running`, finished once the terminal is given back.
async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    cfg: Config,
    config_path: &Path,
    readonly: bool,
    signals: watch::Receiver<bool>,
    running: &mut Option<RunningSync>,
) -> Result<()> {
    let theme = Theme::from_env();
    let limit = Duration::from_secs(cfg.sync.freeze_max_secs + 60);
    let mut app = App::new(&cfg, &config_path.display().to_string(), readonly);
    let monitor = Arc::new(Monitor::new(Arc::new(cfg)));
    let (tx, rx) = mpsc::channel(256);
    let mut work = Work::start(Arc::clone(&monitor), tx);
    if !readonly {
        offer_resume(&mut app, &monitor).await;
    }
    let mut inputs = Inputs {
        terminal: EventStream::new(),
        engine: rx,
        signals,
    };
    let mut frames = Frames::new();
    tracing::info!(pair = %app.pair, "console started");
    loop {
        frames.draw(terminal, &mut app, &theme)?;
        if !inputs.next(&mut app, &mut frames).await? {
            break;
        }
        work.serve(&mut app);
        if app.should_quit {
            break;
        }
    }
    *running = Some(work.into_running(inputs.engine, limit));
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
    latest: &Arc<AtomicU64>,
    tx: mpsc::Sender<EngineEvent>,
) {
    use std::sync::atomic::Ordering;
    latest.store(job.generation, Ordering::SeqCst);
    let latest = Arc::clone(latest);
    tokio::task::spawn_blocking(move || {
        let stale = || latest.load(Ordering::SeqCst) != job.generation;
        if let Some(rows) = app::diff_rows(&job.plan, &job.filter, job.sort, &stale) {
            let _ = tx.blocking_send(EngineEvent::DiffsFiltered {
                generation: job.generation,
                rows,
            });
        }
    });
}
