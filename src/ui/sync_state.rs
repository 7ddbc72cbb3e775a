//! The sync view's state: plan, confirmation (Cancel focused by default; a typed number
//! when the deletion guard speaks), the running transfer, cancellation, the outcome.

use std::collections::VecDeque;

use crossterm::event::{KeyCode, KeyEvent};

use super::keymap::{Action, Scope, action_for};

use crate::sync::progress::Tracker;
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

/// Files shown in the moving list.
pub const RECENT_FILES: usize = 200;
/// Rate samples kept for the sparkline.
pub const RATE_HISTORY: usize = 120;

/// Everything the sync view shows.
#[derive(Debug, Clone)]
pub struct SyncUi {
    pub stage: Stage,
    pub plan: Option<SyncReport>,
    pub typed: String,
    /// Focus on "Sync" (true) or "Cancel" (false, the default).
    pub focus_sync: bool,
    pub phases: Vec<String>,
    pub warnings: Vec<String>,
    pub tracker: Option<Tracker>,
    pub elapsed_ms: u64,
    /// Recent files: path and whether it is done.
    pub files: VecDeque<(String, bool)>,
    /// The tracker's `started` count at the last update taken in.
    files_seen: u64,
    /// The documents the plan's datastore files belong to (by version UUID).
    pub documents: std::collections::HashMap<String, String>,
    pub rates: VecDeque<u64>,
    pub report: Option<SyncReport>,
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
            warnings: Vec::new(),
            tracker: None,
            elapsed_ms: 0,
            files: VecDeque::new(),
            files_seen: 0,
            documents: Default::default(),
            rates: VecDeque::new(),
            report: None,
            error: None,
        }
    }

    /// A phase or warning arrived.
    pub fn on_event(&mut self, ev: SyncEvent) {
        match ev {
            SyncEvent::Phase(p) => self.phases.push(p),
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

    /// Progress arrived: the files started since the last update join the list (each
    /// update names the last few, so missed updates cost no names), and only the
    /// tracker's current file is still moving.
    pub fn on_progress(&mut self, t: Tracker, elapsed_ms: u64) {
        // A flow's next copy starts a new tracker: its count starts again.
        if t.started < self.files_seen {
            self.files_seen = 0;
        }
        let new = (t.started - self.files_seen).min(t.recent.len() as u64) as usize;
        for path in t.recent.iter().skip(t.recent.len() - new) {
            if self.files.len() == RECENT_FILES {
                self.files.pop_front();
            }
            self.files.push_back((path.clone(), true));
        }
        self.files_seen = t.started;
        let moving = t.current.as_ref().map(|(p, _)| p.as_str());
        for (p, done) in self.files.iter_mut().rev().take(new + 1) {
            *done = Some(p.as_str()) != moving;
        }
        if self.rates.len() == RATE_HISTORY {
            self.rates.pop_front();
        }
        self.rates.push_back(t.current_rate as u64);
        self.tracker = Some(t);
        self.elapsed_ms = elapsed_ms;
    }

    /// The dry run (plan) or the real run ended.
    pub fn on_done(&mut self, dry_run: bool, result: TaskResult<SyncReport>) {
        match (dry_run, result) {
            (true, Ok(plan)) => {
                self.plan = Some(plan);
                self.stage = Stage::Confirm;
            }
            (false, Ok(report)) => {
                if let Some(last) = self.files.back_mut() {
                    last.1 = true;
                }
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

    /// The real run starts: the dry run's phases made way for its own.
    fn start_running(&mut self) {
        self.stage = Stage::Running;
        self.phases.clear();
        self.phases.push("confirmed: the sync starts".into());
    }

    /// Which keys apply now (the one keymap's scope).
    pub fn scope(&self) -> Scope {
        match self.stage {
            Stage::Confirm => Scope::Confirm,
            Stage::Running => Scope::SyncRunning,
            Stage::ConfirmCancel => Scope::CancelAsk,
            Stage::Planning | Stage::Done | Stage::Failed => Scope::Finished,
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
                self.phases.push("cancelling…".into());
                return Some(SyncCommand::Cancel);
            }
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
}
