//! The sync view's state: plan, confirmation (Cancel focused by default; a typed number
//! when the deletion guard speaks), the running transfer (its phases with their times,
//! every file with its end state, a cursor over them), cancellation, the outcome.

use std::collections::{HashSet, VecDeque};
use std::ops::Range;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent};

use super::keymap::{Action, Scope, action_for};

use crate::db::versions::version_of;
use crate::sync::ChangeKind;
use crate::sync::manifest::Mismatch;
use crate::sync::progress::{FileLog, FileRecord, FileState, LogCounts, MIN_RATE_TIME, Tracker};
use crate::sync::run::{SyncEvent, SyncReport};
use crate::tasks::TaskResult;

/// Where the sync view is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Planning,
    Confirm,
    Running,
    ConfirmCancel,
    Done,
    Failed,
}

/// What the view asks the event loop to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncCommand {
    /// Start the real run, with this many deletions confirmed.
    Start {
        allow_deletes: Option<u64>,
    },
    Cancel,
    Close,
}

/// Rate samples kept for the sparkline.
pub const RATE_HISTORY: usize = 120;
/// Files a page key moves the file list's cursor by.
pub const FILES_PAGE: usize = 10;

/// A phase of the dry run or the run, and when it began (it ends when the next begins).
#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    pub title: String,
    pub started: Instant,
}

/// Where a phase of the checklist stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhaseState {
    Done,
    Running,
    Failed,
}

/// What became of a file of the run, as the view says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileOutcome {
    Moving,
    Copied,
    /// Copied, and the verify found it identical on both nodes (SHA-256).
    Verified,
    /// Copied, but the verify found it different or missing on the mirror.
    Mismatch,
    /// Only its attributes changed: no content moved.
    AttrsOnly,
    /// rsync went past it without sending it (it vanished from the source).
    Skipped,
    Deleted,
    /// It was moving when the run failed.
    Failed,
    /// It was moving when the operator cancelled.
    Cancelled,
}

impl FileOutcome {
    /// The word the file list shows (at most 10 characters wide with a percentage).
    pub fn label(self) -> &'static str {
        match self {
            FileOutcome::Moving => "moving",
            FileOutcome::Copied => "copied",
            FileOutcome::Verified => "verified",
            FileOutcome::Mismatch => "MISMATCH",
            FileOutcome::AttrsOnly => "attrs only",
            FileOutcome::Skipped => "skipped",
            FileOutcome::Deleted => "deleted",
            FileOutcome::Failed => "FAILED",
            FileOutcome::Cancelled => "cancelled",
        }
    }
}

/// Every file of the run: the logs of the trackers it reported (one for a sync), read
/// as one list.
#[derive(Debug, Clone, Default)]
pub struct FileList {
    logs: Vec<FileLog>,
}

impl FileList {
    /// Takes `log` in, unless it is the one followed already.
    fn follow(&mut self, log: &FileLog) {
        if !self.logs.last().is_some_and(|l| l.same(log)) {
            self.logs.push(log.clone());
        }
    }

    /// How many files are listed.
    pub fn len(&self) -> usize {
        self.logs.iter().map(|l| l.counts().listed).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What the logs counted together.
    pub fn counts(&self) -> LogCounts {
        self.logs
            .iter()
            .map(FileLog::counts)
            .fold(LogCounts::default(), |a, c| LogCounts {
                listed: a.listed + c.listed,
                copied: a.copied + c.copied,
                copied_bytes: a.copied_bytes + c.copied_bytes,
                unlisted: a.unlisted + c.unlisted,
            })
    }

    /// The files in `range` of the whole list.
    pub fn records(&self, range: Range<usize>) -> Vec<FileRecord> {
        let mut out = Vec::new();
        let mut base = 0;
        for log in &self.logs {
            let n = log.counts().listed;
            let from = range.start.clamp(base, base + n) - base;
            let to = range.end.clamp(base, base + n) - base;
            if from < to {
                out.extend(log.records(from..to));
            }
            base += n;
        }
        out
    }
}

/// The gauge's numbers: done of total, in files and bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub files_done: u64,
    pub files_total: u64,
    pub bytes_done: u64,
    pub bytes_total: u64,
}

impl Totals {
    /// The share done, in 0..=1.
    pub fn ratio(&self) -> f64 {
        if self.bytes_total > 0 {
            (self.bytes_done as f64 / self.bytes_total as f64).clamp(0.0, 1.0)
        } else if self.files_done >= self.files_total {
            1.0
        } else {
            0.0
        }
    }
}

/// Everything the sync view shows.
#[derive(Debug, Clone)]
pub struct SyncUi {
    pub stage: Stage,
    pub plan: Option<SyncReport>,
    pub typed: String,
    /// Focus on "Sync" (true) or "Cancel" (false, the default).
    pub focus_sync: bool,
    /// One checklist: the dry run's phases, then only the run's own once it starts.
    pub phases: Vec<Phase>,
    /// When the last phase ended (the dry run or the run is over).
    pub phases_ended: Option<Instant>,
    pub warnings: Vec<String>,
    pub tracker: Option<Tracker>,
    pub elapsed_ms: u64,
    /// Every file of the run, with its end state.
    pub files: FileList,
    /// The file list's cursor; `None` follows the newest file.
    pub files_cursor: Option<usize>,
    /// The documents the plan's datastore files belong to (by version UUID).
    pub documents: std::collections::HashMap<String, String>,
    /// The transfer's rate (bytes per second) between updates, oldest first.
    pub rates: VecDeque<u64>,
    /// Bytes done and when, at the last update: the next rate sample starts there.
    last_sample: Option<(u64, Instant)>,
    pub report: Option<SyncReport>,
    /// Names of the files the verify found different (datastore files are named by
    /// their version's UUID, unique in the datastore).
    mismatched: HashSet<String>,
    pub error: Option<String>,
}

impl SyncUi {
    /// A view waiting for its dry run.
    pub fn planning() -> SyncUi {
        SyncUi {
            stage: Stage::Planning,
            plan: None,
            typed: String::new(),
            focus_sync: false,
            phases: Vec::new(),
            phases_ended: None,
            warnings: Vec::new(),
            tracker: None,
            elapsed_ms: 0,
            files: FileList::default(),
            files_cursor: None,
            documents: Default::default(),
            rates: VecDeque::new(),
            last_sample: None,
            report: None,
            mismatched: HashSet::new(),
            error: None,
        }
    }

    /// A phase or warning arrived (now).
    pub fn on_event(&mut self, ev: SyncEvent) {
        self.on_event_at(ev, Instant::now());
    }

    /// A phase or warning arrived at `at`.
    pub fn on_event_at(&mut self, ev: SyncEvent, at: Instant) {
        match ev {
            SyncEvent::Phase(p) => self.phases.push(Phase {
                title: p.text,
                started: at,
            }),
            SyncEvent::Documents(d) => self.documents = d,
            SyncEvent::Warning(w) => {
                if self.warnings.len() < 200 {
                    self.warnings.push(w);
                }
            }
            SyncEvent::Progress(t) => self.on_progress(t, self.elapsed_ms),
        }
    }

    /// How a file is shown: its document when it is a named datastore file.
    pub fn file_label(&self, path: &str) -> String {
        crate::db::versions::version_of(path)
            .and_then(|v| self.documents.get(v))
            .map_or_else(
                || path.to_string(),
                |d| format!("{d}  ({})", crate::db::versions::short_file(path)),
            )
    }

    /// Progress arrived: the tracker's file log (shared with the run, so no file is
    /// missed however many updates were lost) joins the list.
    pub fn on_progress(&mut self, t: Tracker, elapsed_ms: u64) {
        self.files.follow(&t.files);
        self.sample_rate(&t);
        self.tracker = Some(t);
        self.elapsed_ms = elapsed_ms;
    }

    /// A sparkline sample: the bytes moved since the last update over the time between
    /// them (rsync's own figure for a file starts far too low).
    fn sample_rate(&mut self, t: &Tracker) {
        let Some(at) = t.last_at else {
            return;
        };
        let last = self.last_sample.replace((t.bytes_done, at));
        let Some((bytes, then)) = last else {
            return;
        };
        let took = at.saturating_duration_since(then);
        if took < MIN_RATE_TIME {
            // Too close to the last sample to say anything: the next one counts from it.
            self.last_sample = last;
            return;
        }
        if self.rates.len() == RATE_HISTORY {
            self.rates.pop_front();
        }
        let moved = t.bytes_done.saturating_sub(bytes);
        self.rates
            .push_back((moved as f64 / took.as_secs_f64()) as u64);
    }

    /// How long phase `i` took, or has taken up to the last update while it runs.
    pub fn phase_took(&self, i: usize) -> Option<Duration> {
        let started = self.phases.get(i)?.started;
        let until = match self.phases.get(i + 1) {
            Some(next) => next.started,
            None => self.phases_ended?,
        };
        Some(until.saturating_duration_since(started))
    }

    /// Where phase `i` stands: all but the last are done; the last runs until the
    /// dry run or the run ends, and failed with it.
    pub fn phase_state(&self, i: usize) -> PhaseState {
        let last = i + 1 >= self.phases.len();
        match (last, self.phases_ended, self.stage) {
            (false, _, _) => PhaseState::Done,
            (true, _, Stage::Failed) => PhaseState::Failed,
            (true, Some(_), _) => PhaseState::Done,
            (true, None, _) => PhaseState::Running,
        }
    }

    /// Whether the view shows a run (its gauge and files), not just the dry run.
    pub fn shows_run(&self) -> bool {
        match self.stage {
            Stage::Running | Stage::ConfirmCancel | Stage::Done => true,
            Stage::Failed => self.tracker.is_some(),
            Stage::Planning | Stage::Confirm => false,
        }
    }

    /// Whether the run is over (done, cancelled or failed).
    pub fn ended(&self) -> bool {
        matches!(self.stage, Stage::Done | Stage::Failed)
    }

    /// Whether the run ended well: its report says neither cancelled nor failed.
    fn ended_well(&self) -> bool {
        self.stage == Stage::Done && self.report.as_ref().is_some_and(|r| !r.cancelled)
    }

    /// What became of a file, given how the run ended.
    pub fn outcome(&self, r: &FileRecord) -> FileOutcome {
        let not_sent = if r.kind == ChangeKind::Attributes {
            FileOutcome::AttrsOnly
        } else {
            FileOutcome::Skipped
        };
        match r.state {
            FileState::Deleted => FileOutcome::Deleted,
            FileState::NotSent => not_sent,
            FileState::Moving if self.ended_well() => not_sent,
            FileState::Moving if self.report.as_ref().is_some_and(|r| r.cancelled) => {
                FileOutcome::Cancelled
            }
            FileState::Moving if self.stage == Stage::Failed => FileOutcome::Failed,
            FileState::Moving => FileOutcome::Moving,
            FileState::Copied if self.ended_well() && version_of(&r.path).is_some() => {
                let name = r.path.rsplit('/').next().unwrap_or(&r.path);
                if self.mismatched.contains(name) {
                    FileOutcome::Mismatch
                } else {
                    FileOutcome::Verified
                }
            }
            FileState::Copied => FileOutcome::Copied,
        }
    }

    /// The gauge's numbers: the tracker's while the run goes on; once it is over, what
    /// the file log counted (the last updates may never have reached the view). More
    /// files than planned (a final pass's) raise the total, so it is never exceeded.
    pub fn totals(&self) -> Totals {
        let t = self.tracker.clone().unwrap_or_default();
        let (files_done, bytes_done) = if self.ended() {
            let c = self.files.counts();
            (c.copied, c.copied_bytes)
        } else {
            (t.files_done, t.bytes_done)
        };
        Totals {
            files_done,
            files_total: t.total_files.max(files_done),
            bytes_done,
            bytes_total: t.total_bytes.max(bytes_done),
        }
    }

    /// The file list's cursor moves; `Bottom` goes back to following the newest file.
    fn scroll(&mut self, action: Action) {
        let Some(last) = self.files.len().checked_sub(1) else {
            self.files_cursor = None;
            return;
        };
        let at = self.files_cursor;
        self.files_cursor = match action {
            Action::Down => at.map(|i| (i + 1).min(last)),
            Action::PageDown => at.map(|i| (i + FILES_PAGE).min(last)),
            Action::Up => Some(at.unwrap_or(last).saturating_sub(1)),
            Action::PageUp => Some(at.unwrap_or(last).saturating_sub(FILES_PAGE)),
            Action::Top => Some(0),
            Action::Bottom => None,
            _ => at,
        };
    }

    /// The dry run (plan) or the real run ended (now).
    pub fn on_done(&mut self, dry_run: bool, result: TaskResult<SyncReport>) {
        self.on_done_at(dry_run, result, Instant::now());
    }

    /// The dry run (plan) or the real run ended at `at`.
    pub fn on_done_at(&mut self, dry_run: bool, result: TaskResult<SyncReport>, at: Instant) {
        self.phases_ended = Some(at);
        match (dry_run, result) {
            (true, Ok(plan)) => {
                self.plan = Some(plan);
                self.stage = Stage::Confirm;
            }
            (false, Ok(report)) => {
                self.mismatched = report
                    .mismatches
                    .iter()
                    .map(|m| {
                        let (Mismatch::MissingOnTarget { path }
                        | Mismatch::ExtraOnTarget { path }
                        | Mismatch::Differs { path }) = m;
                        path.rsplit('/').next().unwrap_or(path).to_string()
                    })
                    .collect();
                self.report = Some(report);
                self.stage = Stage::Done;
            }
            (_, Err(e)) => {
                self.error = Some(e.to_string());
                self.stage = Stage::Failed;
            }
        }
    }

    /// How many deletions must be typed to go ahead, if the guard spoke.
    pub fn deletes_to_confirm(&self) -> Option<u64> {
        let p = self.plan.as_ref()?;
        p.refusal.as_ref().map(|_| p.plan.deleted)
    }

    /// The real run starts: the dry run's phases make way for its own (which repeat
    /// the dry run's first ones), so the checklist holds each phase once.
    fn start_running(&mut self) {
        self.stage = Stage::Running;
        self.phases.clear();
        self.phases_ended = None;
        self.files_cursor = None;
    }

    /// Which keys apply now (the one keymap's scope).
    pub fn scope(&self) -> Scope {
        match self.stage {
            Stage::Confirm => Scope::Confirm,
            Stage::Running => Scope::SyncRunning,
            Stage::ConfirmCancel => Scope::CancelAsk,
            Stage::Done => Scope::SyncDone,
            Stage::Failed if self.shows_run() => Scope::SyncDone,
            Stage::Planning | Stage::Failed => Scope::Finished,
        }
    }

    /// A key in the sync view; returns a command for the event loop, if any.
    pub fn on_key(&mut self, key: &KeyEvent) -> Option<SyncCommand> {
        let action = action_for(key, self.scope());
        match (self.stage, action) {
            (Stage::Confirm, Some(Action::Switch)) => self.focus_sync = !self.focus_sync,
            (Stage::Confirm, Some(Action::Erase)) => {
                self.typed.pop();
            }
            (Stage::Confirm, Some(Action::Choose)) => return self.choose(),
            (Stage::Confirm, None) => match key.code {
                KeyCode::Char(c) if c.is_ascii_digit() && self.deletes_to_confirm().is_some() => {
                    self.typed.push(c)
                }
                _ => {}
            },
            // Quitting mid-run could leave the main frozen: every exit asks first.
            (Stage::Running, Some(Action::Back)) => self.stage = Stage::ConfirmCancel,
            (Stage::ConfirmCancel, Some(Action::Yes)) => {
                self.stage = Stage::Running;
                self.phases.push(Phase {
                    title: "cancelling…".into(),
                    started: Instant::now(),
                });
                return Some(SyncCommand::Cancel);
            }
            (
                _,
                Some(
                    a @ (Action::Up
                    | Action::Down
                    | Action::PageUp
                    | Action::PageDown
                    | Action::Top
                    | Action::Bottom),
                ),
            ) => self.scroll(a),
            (Stage::ConfirmCancel, Some(Action::No)) => self.stage = Stage::Running,
            (_, Some(Action::Back)) => return Some(SyncCommand::Close),
            _ => {}
        }
        None
    }

    /// Enter on the confirmation: Cancel closes; Sync starts when any deletions the
    /// guard named were typed.
    fn choose(&mut self) -> Option<SyncCommand> {
        if !self.focus_sync {
            return Some(SyncCommand::Close);
        }
        let allow_deletes = match self.deletes_to_confirm() {
            None => None,
            Some(n) if self.typed == n.to_string() => Some(n),
            Some(_) => return None,
        };
        self.start_running();
        Some(SyncCommand::Start { allow_deletes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::TaskError;

    #[test]
    fn a_named_datastore_file_shows_its_document_and_others_their_path() {
        let mut s = SyncUi::planning();
        let v = "1a3ea0ac-0b7d-4e55-9a61-2c8f0d4b7e10";
        s.on_event(SyncEvent::Documents(
            [(v.to_string(), "/okm:root/acme.pdf".to_string())].into(),
        ));
        assert_eq!(
            s.file_label(&format!("repository/datastore/1a/3e/a0/ac/{v}")),
            "/okm:root/acme.pdf  (datastore 1a3ea0ac…)"
        );
        assert_eq!(s.file_label("conf/server.xml"), "conf/server.xml");
    }

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn a_phase_lasts_until_the_next_and_the_last_until_the_run_ends() {
        let t0 = Instant::now();
        let mut s = SyncUi::planning();
        s.on_event_at(SyncEvent::phase("checking"), at(t0, 0));
        s.on_event_at(SyncEvent::phase("planning"), at(t0, 250));
        assert_eq!(s.phase_took(0), Some(Duration::from_millis(250)));
        assert_eq!(s.phase_took(1), None);
        assert_eq!(s.phase_state(1), PhaseState::Running);
        s.on_done_at(false, Err(TaskError::Failed("boom".into())), at(t0, 900));
        assert_eq!(s.phase_took(1), Some(Duration::from_millis(650)));
        assert_eq!(s.phase_state(0), PhaseState::Done);
        assert_eq!(s.phase_state(1), PhaseState::Failed);
    }

    /// A view with a run of `n` copied files, only the first update of which arrived.
    fn ran(n: usize) -> (SyncUi, Tracker) {
        use crate::sync::progress::parse_run_line;
        let t0 = Instant::now();
        let mut s = SyncUi::planning();
        s.stage = Stage::Running;
        let mut t = Tracker::default();
        t.total_files = n as u64;
        t.total_bytes = n as u64 * 100;
        for i in 0..n {
            let ms = i as u64 * 10;
            t.update_at(
                &parse_run_line(&format!(">f+++++++++ 100 f{i}")),
                at(t0, ms),
            );
            if i == 0 {
                s.on_progress(t.clone(), 0);
            }
            let done = format!("  100 100%  1.00kB/s  0:00:00 (xfr#{i}, to-chk=0/{n})");
            t.update_at(&parse_run_line(&done), at(t0, ms + 5));
        }
        (s, t)
    }

    #[test]
    fn the_run_ends_on_what_its_file_log_counted() {
        let (mut s, _) = ran(12);
        assert_eq!(s.totals().files_done, 0, "the one update it had");
        assert_eq!(s.files.len(), 12, "the log holds every file");
        s.on_done(false, Err(TaskError::Failed("the verify failed".into())));
        let n = s.totals();
        assert_eq!((n.files_done, n.files_total), (12, 12));
        assert_eq!((n.bytes_done, n.bytes_total), (1200, 1200));
        let files = s.files.records(0..12);
        assert!(files.iter().all(|r| s.outcome(r) == FileOutcome::Copied));
    }

    #[test]
    fn the_cursor_stays_in_the_list_and_bottom_follows_the_newest() {
        let (mut s, _) = ran(25);
        let mut press = |a| {
            s.scroll(a);
            s.files_cursor
        };
        assert_eq!(press(Action::Down), None, "already on the newest");
        assert_eq!(press(Action::Up), Some(23));
        assert_eq!(press(Action::PageDown), Some(24));
        assert_eq!(press(Action::PageUp), Some(14));
        assert_eq!(press(Action::Top), Some(0));
        assert_eq!(press(Action::Up), Some(0));
        assert_eq!(press(Action::Bottom), None);
    }
}
