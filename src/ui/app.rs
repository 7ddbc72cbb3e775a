//! The console's state and how it changes; drawing it is `render`'s job.

use std::collections::VecDeque;
use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::flow_state::{Choice, FlowCommand, FlowUi};
use super::keymap::{Action, Scope, action_for};
use super::sync_state::{SyncCommand, SyncUi};
use crate::config::Config;
use crate::failover::{FlowEvent, FlowReport};
use crate::pair::model::{Alert, PairStatus, Severity};
use crate::sync::run::{SyncEvent, SyncReport};
use crate::sync::{ChangeKind, Plan};
use crate::tasks::TaskResult;
use crate::tasks::engine::EngineEvent;

/// A node as configured (shown before the first probe answers).
#[derive(Debug, Clone, PartialEq)]
pub struct NodeRow {
    pub name: String,
    pub ssh: String,
}

/// Which screen is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Dashboard,
    Diffs,
    Sync,
    Flow,
}

/// The dashboard pane that has focus (Tab moves it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Nodes,
    Alerts,
}

impl Pane {
    /// The pane Tab moves the focus to.
    pub fn other(self) -> Pane {
        match self {
            Pane::Nodes => Pane::Alerts,
            Pane::Alerts => Pane::Nodes,
        }
    }
}

/// How the diffs list is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Path,
    SizeDesc,
    Kind,
}

impl SortKey {
    /// The order the sort key steps through.
    pub fn next(self) -> SortKey {
        match self {
            SortKey::Path => SortKey::SizeDesc,
            SortKey::SizeDesc => SortKey::Kind,
            SortKey::Kind => SortKey::Path,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            SortKey::Path => "path",
            SortKey::SizeDesc => "size",
            SortKey::Kind => "kind",
        }
    }
}

/// A line being typed at the bottom (`/` filter or `:` command).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    None,
    Filter(String),
    Command(String),
}

/// Most lag samples kept for the sparkline.
pub const LAG_HISTORY: usize = 240;
/// Most log lines kept.
pub const LOG_LINES: usize = 500;

/// Everything on screen.
#[derive(Debug, Clone)]
pub struct App {
    pub pair: String,
    pub config_path: String,
    pub nodes: Vec<NodeRow>,
    pub readonly: bool,
    pub should_quit: bool,
    pub show_help: bool,
    /// First help line shown (the overlay scrolls on a short terminal).
    pub help_scroll: usize,
    pub show_log: bool,
    pub view: View,
    pub pane: Pane,
    pub status: Option<Box<PairStatus>>,
    /// Heartbeat lag in milliseconds, oldest first.
    pub lag_history: VecDeque<u64>,
    pub plan: Option<Arc<Plan>>,
    pub planning: bool,
    pub plan_error: Option<String>,
    /// Indices into `plan.changes` after filter and sort.
    pub diff_rows: Vec<u32>,
    /// A big plan's filter or sort to compute off the UI task (the event loop takes it);
    /// its result comes back as `EngineEvent::DiffsFiltered` with the same generation.
    pub diffs_job: Option<DiffsJob>,
    /// The generation of the rows wanted now; results of older ones are dropped.
    pub diffs_generation: u64,
    pub diffs_pending: bool,
    pub diff_selected: usize,
    pub diff_offset: usize,
    pub sort: SortKey,
    pub filter: String,
    pub input: Input,
    pub alert_selected: usize,
    /// Active alerts with the time each was first seen, newest first.
    pub alerts: Vec<(u64, Alert)>,
    pub log: VecDeque<String>,
    /// Rows the diffs list shows at once (set from the terminal size).
    pub page_rows: usize,
    /// Set when the operator asked for a refresh; the event loop sends it on.
    pub refresh_requested: bool,
    /// Set by every key; the event loop tells the poller the operator is there.
    pub key_pressed: bool,
    /// While the console is idle (unattended, nothing critical): its probe interval in
    /// seconds.
    pub idle_every: Option<u64>,
    pub message: Option<String>,
    /// The sync view, while it is open.
    pub sync: Option<SyncUi>,
    /// Set when the operator opened the sync view: the event loop starts the dry run.
    pub sync_plan_requested: bool,
    /// A command from the sync view for the event loop (start, cancel).
    pub sync_command: Option<SyncCommand>,
    /// The failover/switchover/rejoin wizard, while it is open.
    pub flow: Option<FlowUi>,
    /// A command from the wizard for the event loop (plan, start, resume).
    pub flow_command: Option<FlowCommand>,
}

impl App {
    /// The initial state for a config.
    pub fn new(cfg: &Config, config_path: &str, readonly: bool) -> App {
        App {
            pair: cfg.pair.clone(),
            config_path: config_path.to_string(),
            nodes: cfg
                .nodes
                .iter()
                .map(|n| NodeRow {
                    name: n.name.clone(),
                    ssh: format!("{}@{}:{}", n.ssh.user, n.ssh.host, n.ssh.port),
                })
                .collect(),
            readonly,
            should_quit: false,
            show_help: false,
            help_scroll: 0,
            show_log: false,
            view: View::Dashboard,
            pane: Pane::Nodes,
            status: None,
            lag_history: VecDeque::new(),
            plan: None,
            planning: false,
            plan_error: None,
            diff_rows: Vec::new(),
            diffs_job: None,
            diffs_generation: 0,
            diffs_pending: false,
            diff_selected: 0,
            diff_offset: 0,
            sort: SortKey::Path,
            filter: String::new(),
            input: Input::None,
            alert_selected: 0,
            alerts: Vec::new(),
            log: VecDeque::new(),
            page_rows: 10,
            refresh_requested: false,
            key_pressed: false,
            idle_every: None,
            message: None,
            sync: None,
            sync_plan_requested: false,
            sync_command: None,
            flow: None,
            flow_command: None,
        }
    }

    /// Which keys apply now: the view's, or its dialog's (footer and keys both ask).
    pub fn scope(&self) -> Scope {
        match self.view {
            View::Dashboard => Scope::Dashboard,
            View::Diffs => Scope::Diffs,
            View::Sync => self.sync.as_ref().map_or(Scope::Finished, SyncUi::scope),
            View::Flow => self.flow.as_ref().map_or(Scope::Finished, FlowUi::scope),
        }
    }

    /// Applies a message from the background work; returns true when the screen changes.
    pub fn on_engine(&mut self, ev: EngineEvent) -> bool {
        match ev {
            EngineEvent::Snapshot(s) => self.on_snapshot(s),
            EngineEvent::Idle(every) => self.idle_every = every,
            EngineEvent::PlanStarted => self.planning = true,
            EngineEvent::DiffsFiltered { generation, rows } => {
                return self.diffs_filtered(generation, rows);
            }
            EngineEvent::PlanDone(r) => self.on_plan_done(r),
            EngineEvent::Log(line) => self.push_log(line),
            EngineEvent::Sync(ev) => self.on_sync_event(ev),
            EngineEvent::SyncProgress(t, ms) => {
                if let Some(s) = self.sync.as_mut() {
                    s.on_progress(t, ms);
                }
            }
            EngineEvent::SyncDone { dry_run, result } => self.on_sync_done(dry_run, result),
            EngineEvent::FlowPlanned(r) => {
                if let Some(f) = self.flow.as_mut() {
                    f.on_planned(r);
                }
            }
            EngineEvent::Flow(ev) => self.on_flow_event(ev),
            EngineEvent::FlowDone(r) => self.on_flow_done(r),
        }
        true
    }

    /// A new probe of the pair: its lag joins the sparkline, its alerts the list.
    fn on_snapshot(&mut self, s: Box<PairStatus>) {
        if let Some(l) = s.lag.heartbeat_secs {
            if self.lag_history.len() == LAG_HISTORY {
                self.lag_history.pop_front();
            }
            self.lag_history.push_back((l * 1000.0).round() as u64);
        }
        self.track_alerts(&s.alerts, s.taken_at);
        self.status = Some(s);
        self.alert_selected = self
            .alert_selected
            .min(self.alert_count().saturating_sub(1));
    }

    /// The pending plan arrived (or failed: the last good one stays shown).
    fn on_plan_done(&mut self, r: TaskResult<Arc<Plan>>) {
        self.planning = false;
        match r {
            Ok(p) => {
                self.plan = Some(p);
                self.plan_error = None;
                self.rebuild_diffs();
            }
            Err(e) => self.plan_error = Some(e.to_string()),
        }
    }

    /// A sync's phase (logged) or warning.
    fn on_sync_event(&mut self, ev: SyncEvent) {
        if let SyncEvent::Phase(p) = &ev {
            self.push_log(format!("sync: {p}"));
        }
        if let Some(s) = self.sync.as_mut() {
            s.on_event(ev);
        }
    }

    /// A sync or its dry run ended; a real one changed the pair: probe again.
    fn on_sync_done(&mut self, dry_run: bool, result: TaskResult<SyncReport>) {
        if let Err(e) = &result {
            self.push_log(format!("sync failed: {e}"));
        }
        if let Some(s) = self.sync.as_mut() {
            s.on_done(dry_run, result);
        }
        if !dry_run {
            self.refresh_requested = true;
        }
    }

    /// A running flow's progress (finished steps logged) or question.
    fn on_flow_event(&mut self, ev: FlowEvent) {
        if let FlowEvent::Done {
            step, ok, output, ..
        } = &ev
        {
            let title = self
                .flow
                .as_ref()
                .and_then(|f| f.steps.get(*step))
                .map_or(String::new(), |s| s.title.clone());
            let word = if *ok { "done" } else { "FAILED" };
            self.push_log(format!("flow: {title}: {word}: {output}"));
        }
        match self.flow.as_mut() {
            Some(f) => f.on_event(ev),
            // No wizard to answer: a question is answered no.
            None => {
                if let FlowEvent::Ask { reply, .. } = ev {
                    reply.send(false);
                }
            }
        }
    }

    /// A flow ended; it changed the pair: probe again.
    fn on_flow_done(&mut self, r: TaskResult<FlowReport>) {
        match &r {
            Ok(rep) => self.push_log(format!("flow {}: {}", rep.kind.word(), rep.outcome)),
            Err(e) => self.push_log(format!("flow failed: {e}")),
        }
        if let Some(f) = self.flow.as_mut() {
            f.on_done(r);
        }
        self.refresh_requested = true;
    }

    /// Adds a line to the bounded log.
    pub fn push_log(&mut self, line: String) {
        if self.log.len() == LOG_LINES {
            self.log.pop_front();
        }
        self.log.push_back(line);
    }

    fn alert_count(&self) -> usize {
        self.alerts.len()
    }

    /// Keeps each alert's first-seen time across snapshots; cleared alerts disappear.
    fn track_alerts(&mut self, current: &[Alert], now: u64) {
        let mut next: Vec<(u64, Alert)> = current
            .iter()
            .map(|a| {
                let since = self
                    .alerts
                    .iter()
                    .find(|(_, old)| alert_key(old) == alert_key(a))
                    .map_or(now, |(t, _)| *t);
                (since, a.clone())
            })
            .collect();
        // Newest first; among alerts raised together, the worst first.
        next.sort_by(|(ta, a), (tb, b)| tb.cmp(ta).then(b.severity.cmp(&a.severity)));
        self.alerts = next;
    }

    /// Applies a key press; returns true when the screen must be redrawn.
    pub fn on_key(&mut self, key: &KeyEvent) -> bool {
        self.key_pressed = true;
        if self.input != Input::None {
            return self.on_input_key(key);
        }
        if self.view == View::Flow
            && let Some(flow) = self.flow.as_mut()
        {
            if self.show_help {
                self.show_help = false;
                return true;
            }
            match flow.on_key(key) {
                Some(FlowCommand::Close) => {
                    self.flow = None;
                    self.view = View::Dashboard;
                }
                Some(cmd) => self.flow_command = Some(cmd),
                None => {}
            }
            return true;
        }
        if self.view == View::Sync
            && let Some(sync) = self.sync.as_mut()
        {
            if self.show_help {
                self.show_help = false;
                return true;
            }
            match sync.on_key(key) {
                Some(SyncCommand::Close) => {
                    self.sync = None;
                    self.view = View::Dashboard;
                }
                Some(cmd) => self.sync_command = Some(cmd),
                None => {}
            }
            return true;
        }
        match action_for(key, self.scope()) {
            Some(a) => self.apply(a),
            None => false,
        }
    }

    fn on_input_key(&mut self, key: &KeyEvent) -> bool {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            self.should_quit = true;
            return true;
        }
        let mut input = std::mem::replace(&mut self.input, Input::None);
        let (Input::Filter(text) | Input::Command(text)) = &mut input else {
            return false;
        };
        match key.code {
            KeyCode::Esc => {
                if matches!(input, Input::Filter(_)) {
                    self.filter.clear();
                    self.rebuild_diffs();
                }
                return true;
            }
            KeyCode::Enter => {
                if let Input::Command(cmd) = &input {
                    let cmd = cmd.clone();
                    self.run_command(&cmd);
                }
                return true;
            }
            KeyCode::Backspace => {
                text.pop();
            }
            KeyCode::Char(c) => text.push(c),
            _ => {}
        }
        if let Input::Filter(t) = &input {
            self.filter = t.clone();
            self.rebuild_diffs();
        }
        self.input = input;
        true
    }

    fn run_command(&mut self, cmd: &str) {
        use super::keymap::{Command, command_for, command_list};
        self.message = None;
        match command_for(cmd) {
            Some(Command::Quit) => self.should_quit = true,
            Some(Command::Diffs) => self.view = View::Diffs,
            Some(Command::Dashboard) => self.view = View::Dashboard,
            Some(Command::Log) => self.show_log = !self.show_log,
            Some(Command::Refresh) => self.refresh_requested = true,
            Some(Command::SortPath) => self.set_sort(SortKey::Path),
            Some(Command::SortSize) => self.set_sort(SortKey::SizeDesc),
            Some(Command::SortKind) => self.set_sort(SortKey::Kind),
            None if cmd.trim().is_empty() => {}
            None => self.message = Some(format!("unknown command :{cmd} (try {})", command_list())),
        }
    }

    fn set_sort(&mut self, s: SortKey) {
        self.sort = s;
        self.rebuild_diffs();
    }

    /// Moving keys scroll the help overlay while it is shown.
    fn scroll_help(&mut self, action: Action) -> bool {
        // More than the help's lines past a page: the overlay clamps it when drawn.
        let max = super::keymap::BINDINGS.len();
        let s = &mut self.help_scroll;
        match action {
            Action::Down => *s = (*s + 1).min(max),
            Action::Up => *s = s.saturating_sub(1),
            Action::PageDown => *s = (*s + 10).min(max),
            Action::PageUp => *s = s.saturating_sub(10),
            Action::Top => *s = 0,
            Action::Bottom => *s = max,
            _ => return false,
        }
        true
    }

    /// Applies an action; returns true when something changed.
    pub fn apply(&mut self, action: Action) -> bool {
        self.message = None;
        if self.show_help && self.scroll_help(action) {
            return true;
        }
        match action {
            Action::Quit => self.should_quit = true,
            Action::Help => {
                self.show_help = !self.show_help;
                self.help_scroll = 0;
            }
            Action::Back => self.back(),
            Action::Log => self.show_log = !self.show_log,
            Action::Diffs => self.view = View::Diffs,
            Action::Sync => self.open_sync(),
            Action::Flow | Action::Rejoin => self.open_flow(action),
            Action::Refresh => self.refresh_requested = true,
            Action::Filter => self.input = Input::Filter(self.filter.clone()),
            Action::Command => self.input = Input::Command(String::new()),
            Action::Sort => self.set_sort(self.sort.next()),
            Action::NextPane => self.pane = self.pane.other(),
            Action::Up
            | Action::Down
            | Action::PageUp
            | Action::PageDown
            | Action::Top
            | Action::Bottom => self.move_cursor(action),
            // The dialogs' actions are taken by their own views (sync_state, flow_state).
            Action::Switch
            | Action::Choose
            | Action::Yes
            | Action::No
            | Action::Erase
            | Action::RollBack => return false,
        }
        true
    }

    /// Esc closes the topmost thing: help, then the log, then the diffs view.
    fn back(&mut self) {
        if self.show_help {
            self.show_help = false;
        } else if self.show_log {
            self.show_log = false;
        } else if self.view == View::Diffs {
            self.view = View::Dashboard;
        }
    }

    /// Shows the sync view; opening it starts its dry run.
    fn open_sync(&mut self) {
        if self.readonly {
            self.message = Some("read-only console: sync is not available".into());
        } else if self.sync.is_none() {
            self.sync = Some(SyncUi::planning());
            self.sync_plan_requested = true;
            self.view = View::Sync;
        } else {
            self.view = View::Sync;
        }
    }

    /// Shows the wizard; opening it offers the flows that apply (only the rejoins for
    /// `Action::Rejoin`).
    fn open_flow(&mut self, action: Action) {
        if self.readonly {
            self.message = Some("read-only console: failover is not available".into());
        } else if self.flow.is_some() {
            self.view = View::Flow;
        } else {
            let (mut choices, why) = flow_choices(self.status.as_deref(), &self.nodes);
            if action == Action::Rejoin {
                use crate::failover::FlowKind;
                choices.retain(|c| matches!(c.kind, FlowKind::Rejoin | FlowKind::Reseed));
            }
            let why = if choices.is_empty() {
                Some(why.unwrap_or_else(|| "no flow applies to the pair as it is now".into()))
            } else {
                why
            };
            self.flow = Some(FlowUi::choose(choices, why));
            self.view = View::Flow;
        }
    }

    fn move_cursor(&mut self, action: Action) {
        let (len, sel) = match self.view {
            View::Diffs => (self.diff_rows.len(), self.diff_selected),
            View::Dashboard | View::Sync | View::Flow => (self.alert_count(), self.alert_selected),
        };
        let page = self.page_rows.max(1);
        let last = len.saturating_sub(1);
        let new = match action {
            Action::Up => sel.saturating_sub(1),
            Action::Down => (sel + 1).min(last),
            Action::PageUp => sel.saturating_sub(page),
            Action::PageDown => (sel + page).min(last),
            Action::Top => 0,
            Action::Bottom => last,
            _ => sel,
        };
        match self.view {
            View::Diffs => {
                self.diff_selected = new;
                self.diff_offset = scroll_to(self.diff_offset, new, page);
            }
            View::Dashboard | View::Sync | View::Flow => self.alert_selected = new,
        }
    }

    /// Recomputes the visible diff rows after a new plan, filter or sort.
    /// Filters and sorts the diffs again: inline for a small plan, off the UI task for
    /// a big one (a keystroke in the filter must never stall the screen).
    pub fn rebuild_diffs(&mut self) {
        self.diffs_generation += 1;
        let Some(plan) = &self.plan else {
            self.diff_rows.clear();
            return;
        };
        if plan.changes.len() > INLINE_DIFFS {
            self.diffs_job = Some(DiffsJob {
                generation: self.diffs_generation,
                plan: Arc::clone(plan),
                filter: self.filter.clone(),
                sort: self.sort,
            });
            self.diffs_pending = true;
            return;
        }
        let rows = diff_rows(plan, &self.filter, self.sort, &|| false).unwrap_or_default();
        self.set_diff_rows(rows);
    }

    /// A computed filter arrived; only the latest generation counts.
    pub fn diffs_filtered(&mut self, generation: u64, rows: Vec<u32>) -> bool {
        if generation != self.diffs_generation {
            return false;
        }
        self.diffs_pending = false;
        self.set_diff_rows(rows);
        true
    }

    fn set_diff_rows(&mut self, rows: Vec<u32>) {
        self.diff_rows = rows;
        self.diff_selected = self
            .diff_selected
            .min(self.diff_rows.len().saturating_sub(1));
        self.diff_offset = scroll_to(
            self.diff_offset.min(self.diff_selected),
            self.diff_selected,
            self.page_rows,
        );
    }
}

/// Plans up to this many changes are filtered on the UI task (well under a frame).
pub const INLINE_DIFFS: usize = 20_000;

/// A filter and sort to compute in the background.
#[derive(Debug, Clone)]
pub struct DiffsJob {
    pub generation: u64,
    pub plan: Arc<Plan>,
    pub filter: String,
    pub sort: SortKey,
}

/// The indices of `plan.changes` matching `filter` (path or document name, any case),
/// in `sort` order; `None` once `stale()` says a newer request replaced this one.
pub fn diff_rows(
    plan: &Plan,
    filter: &str,
    sort: SortKey,
    stale: &dyn Fn() -> bool,
) -> Option<Vec<u32>> {
    let needle = filter.to_lowercase();
    let mut rows = Vec::new();
    for (i, c) in plan.changes.iter().enumerate() {
        if i % 65_536 == 0 && stale() {
            return None;
        }
        let hit = needle.is_empty()
            || c.path.to_lowercase().contains(&needle)
            || plan
                .document_of(&c.path)
                .is_some_and(|d| d.to_lowercase().contains(&needle));
        if hit {
            rows.push(i as u32);
        }
    }
    let ch = &plan.changes;
    match sort {
        SortKey::Path => {} // rsync lists in path order already
        SortKey::SizeDesc => rows.sort_by(|a, b| ch[*b as usize].size.cmp(&ch[*a as usize].size)),
        SortKey::Kind => rows.sort_by_key(|i| kind_rank(ch[*i as usize].kind)),
    }
    Some(rows)
}

/// What makes two alerts "the same" across snapshots: numbers (lag, percentages) change.
fn alert_key(a: &Alert) -> (Severity, Option<String>, String) {
    let text: String = a.message.chars().filter(|c| !c.is_ascii_digit()).collect();
    (a.severity, a.node.clone(), text)
}

fn kind_rank(k: ChangeKind) -> u8 {
    match k {
        ChangeKind::Deleted => 0,
        ChangeKind::New => 1,
        ChangeKind::Changed => 2,
        ChangeKind::Attributes => 3,
    }
}

/// The first visible row so that `selected` stays on screen with the least movement.
pub fn scroll_to(offset: usize, selected: usize, page: usize) -> usize {
    let page = page.max(1);
    if selected < offset {
        selected
    } else if selected >= offset + page {
        selected + 1 - page
    } else {
        offset
    }
}

/// The flows the wizard offers: the engine's rule (`failover::choices`), named with the
/// console's nodes.
pub fn flow_choices(
    status: Option<&PairStatus>,
    nodes: &[NodeRow],
) -> (Vec<Choice>, Option<String>) {
    let names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    let a = crate::failover::choices::applicable(status, &names);
    (a.choices, a.note)
}
