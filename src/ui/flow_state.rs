//! The failover/switchover/rejoin wizard's state: choose a flow, review its plan (Cancel
//! focused), follow its checklist, answer its confirmations (a yes/no with Cancel
//! focused, or the node's name typed), read the outcome. Also offers to resume an
//! unfinished flow found at start-up.

use std::path::PathBuf;

use crossterm::event::{KeyCode, KeyEvent};

use super::keymap::{Action, Scope, action_for};

use crate::config::NodeId;
use crate::failover::exec::Reply;
use crate::failover::{Confirm, FlowEvent, FlowKind, FlowReport, Step};
use crate::tasks::TaskResult;

/// A flow the operator can pick (the engine's `failover::choices` finds them).
pub use crate::failover::choices::Choice;

/// Where the wizard is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Choose,
    Planning,
    Review,
    /// An unfinished flow was found: resume it?
    OfferResume,
    Running,
    Done,
    Failed,
}

/// What the wizard asks the event loop to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowCommand {
    Plan {
        kind: FlowKind,
        old: NodeId,
        new: NodeId,
    },
    Start {
        kind: FlowKind,
        old: NodeId,
        new: NodeId,
    },
    Resume(PathBuf),
    /// Undo the unfinished flow (refused by the engine after promotion began).
    RollBack(PathBuf),
    Close,
}

/// One step's state in the checklist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepState {
    Pending,
    Running,
    Done { ms: u64 },
    Failed { ms: u64 },
}

/// A confirmation on screen.
#[derive(Debug, Clone)]
pub struct Ask {
    pub step: Step,
    pub reply: Reply,
    /// For typed confirmations: what was typed so far.
    pub typed: String,
    /// For yes/no: focus on "Go on" (false: on "Cancel", the default).
    pub focus_go: bool,
}

/// Everything the wizard shows.
#[derive(Debug, Clone)]
pub struct FlowUi {
    pub stage: Stage,
    pub choices: Vec<Choice>,
    pub selected: usize,
    pub chosen: Option<Choice>,
    pub steps: Vec<Step>,
    pub states: Vec<StepState>,
    pub outputs: Vec<String>,
    /// Focus on "Start"/"Resume" (false: on "Cancel", the default).
    pub focus_go: bool,
    pub ask: Option<Ask>,
    pub notes: Vec<String>,
    /// What the flow puts at stake for documents, shown on the review.
    pub stakes: Option<String>,
    pub report: Option<FlowReport>,
    pub error: Option<String>,
    /// The journal of an unfinished flow (resume offer).
    pub resume_path: Option<PathBuf>,
}

impl FlowUi {
    /// A wizard offering `choices` (empty: nothing applies, with `why` in the notes).
    pub fn choose(choices: Vec<Choice>, why: Option<String>) -> FlowUi {
        FlowUi {
            stage: Stage::Choose,
            choices,
            selected: 0,
            chosen: None,
            steps: Vec::new(),
            states: Vec::new(),
            outputs: Vec::new(),
            focus_go: false,
            ask: None,
            notes: why.into_iter().collect(),
            stakes: None,
            report: None,
            error: None,
            resume_path: None,
        }
    }

    /// A wizard offering to resume the flow journaled at `path`, whose steps and done
    /// ones are known.
    pub fn offer_resume(path: PathBuf, title: String, steps: Vec<Step>, done: &[String]) -> FlowUi {
        let mut ui = FlowUi::choose(Vec::new(), Some(title));
        ui.notes.push(
            "resume it from its first unfinished step? Nothing runs until you choose Resume".into(),
        );
        ui.stage = Stage::OfferResume;
        ui.states = steps
            .iter()
            .map(|s| {
                if done.contains(&s.id) {
                    StepState::Done { ms: 0 }
                } else {
                    StepState::Pending
                }
            })
            .collect();
        ui.outputs = vec![String::new(); steps.len()];
        ui.steps = steps;
        ui.resume_path = Some(path);
        ui
    }

    /// The plan arrived (or failed).
    pub fn on_planned(&mut self, r: TaskResult<(Vec<Step>, Option<String>)>) {
        match r {
            Ok((steps, stakes)) => {
                self.stakes = stakes;
                self.states = vec![StepState::Pending; steps.len()];
                self.outputs = vec![String::new(); steps.len()];
                self.steps = steps;
                self.focus_go = false;
                self.stage = Stage::Review;
            }
            Err(e) => {
                self.error = Some(e.to_string());
                self.stage = Stage::Failed;
            }
        }
    }

    /// Progress of the running flow.
    pub fn on_event(&mut self, ev: FlowEvent) {
        match ev {
            FlowEvent::Planned(steps) => {
                if steps.len() != self.steps.len() {
                    self.states = vec![StepState::Pending; steps.len()];
                    self.outputs = vec![String::new(); steps.len()];
                }
                self.steps = steps;
            }
            FlowEvent::AlreadyDone(ids) => {
                for (i, s) in self.steps.iter().enumerate() {
                    if ids.contains(&s.id) {
                        self.states[i] = StepState::Done { ms: 0 };
                    }
                }
            }
            FlowEvent::Started(i) => {
                if let Some(s) = self.states.get_mut(i) {
                    *s = StepState::Running;
                }
            }
            FlowEvent::Done {
                step,
                ok,
                output,
                ms,
            } => {
                if let Some(s) = self.states.get_mut(step) {
                    *s = if ok {
                        StepState::Done { ms }
                    } else {
                        StepState::Failed { ms }
                    };
                }
                if let Some(o) = self.outputs.get_mut(step) {
                    *o = output;
                }
            }
            FlowEvent::RolledBack(m) => self.notes.push(format!("rolled back: {m}")),
            FlowEvent::Ask { step, reply } => {
                self.ask = Some(Ask {
                    step: *step,
                    reply,
                    typed: String::new(),
                    focus_go: false,
                })
            }
        }
    }

    /// The flow ended.
    pub fn on_done(&mut self, r: TaskResult<FlowReport>) {
        if let Some(a) = self.ask.take() {
            a.reply.send(false);
        }
        match r {
            Ok(rep) => {
                let ok = rep.outcome.as_intended();
                self.stage = if ok { Stage::Done } else { Stage::Failed };
                if !ok {
                    self.error = Some(rep.outcome.to_string());
                }
                self.report = Some(rep);
            }
            Err(e) => {
                self.error = Some(e.to_string());
                self.stage = Stage::Failed;
            }
        }
    }

    /// The step to show in detail: the running one, else the first not done.
    pub fn focus_step(&self) -> Option<usize> {
        self.states
            .iter()
            .position(|s| *s == StepState::Running)
            .or_else(|| {
                self.states
                    .iter()
                    .position(|s| matches!(s, StepState::Pending | StepState::Failed { .. }))
            })
    }

    /// Which keys apply now (the one keymap's scope).
    pub fn scope(&self) -> Scope {
        match (&self.ask, self.stage) {
            (Some(a), _) if matches!(a.step.confirm, Confirm::TypedNode(_)) => Scope::Typed,
            (Some(_), _) => Scope::Ask,
            (None, Stage::Choose) => Scope::Choose,
            (None, Stage::Review) => Scope::Confirm,
            (None, Stage::OfferResume) => Scope::Resume,
            // A running flow is never abandoned from here: it stops at its next
            // confirmation (answer no) or finishes; the journal keeps it resumable.
            (None, Stage::Planning | Stage::Running) => Scope::FlowRunning,
            (None, Stage::Done | Stage::Failed) => Scope::Finished,
        }
    }

    /// A key in the wizard; returns a command for the event loop, if any.
    pub fn on_key(&mut self, key: &KeyEvent) -> Option<FlowCommand> {
        let action = action_for(key, self.scope());
        if let Some(ask) = self.ask.as_mut() {
            if let Some(yes) = answer_key(ask, key, action)
                && let Some(a) = self.ask.take()
            {
                a.reply.send(yes);
            }
            return None;
        }
        match (self.stage, action?) {
            (_, Action::Back) => Some(FlowCommand::Close),
            (Stage::Choose, Action::Up) => {
                self.selected = self.selected.saturating_sub(1);
                None
            }
            (Stage::Choose, Action::Down) => {
                self.selected = (self.selected + 1).min(self.choices.len().saturating_sub(1));
                None
            }
            (Stage::Choose, Action::Choose) => self.plan_chosen(),
            (_, Action::Switch) => {
                self.focus_go = !self.focus_go;
                None
            }
            (_, Action::Choose) if !self.focus_go => Some(FlowCommand::Close),
            (_, Action::Choose) => self.go(),
            (_, Action::RollBack) => {
                let p = self.resume_path.clone()?;
                self.stage = Stage::Running;
                Some(FlowCommand::RollBack(p))
            }
            _ => None,
        }
    }

    /// Enter on the list: plan the chosen flow (nothing runs yet).
    fn plan_chosen(&mut self) -> Option<FlowCommand> {
        let c = self.choices.get(self.selected)?.clone();
        self.stage = Stage::Planning;
        let cmd = FlowCommand::Plan {
            kind: c.kind,
            old: c.old,
            new: c.new,
        };
        self.chosen = Some(c);
        Some(cmd)
    }

    /// Go on the review or the resume offer.
    fn go(&mut self) -> Option<FlowCommand> {
        self.stage = Stage::Running;
        match (&self.resume_path, &self.chosen) {
            (Some(p), _) => Some(FlowCommand::Resume(p.clone())),
            (None, Some(c)) => Some(FlowCommand::Start {
                kind: c.kind,
                old: c.old,
                new: c.new,
            }),
            (None, None) => None,
        }
    }
}

/// A key in a confirmation dialog: `Some(answer)` when it is answered. A typed
/// confirmation takes every other character as text.
fn answer_key(ask: &mut Ask, key: &KeyEvent, action: Option<Action>) -> Option<bool> {
    match (action, &ask.step.confirm) {
        (Some(Action::No), _) => Some(false),
        (Some(Action::Choose), Confirm::TypedNode(name)) => Some(ask.typed == *name),
        (Some(Action::Erase), _) => {
            ask.typed.pop();
            None
        }
        (None, Confirm::TypedNode(_)) => {
            if let KeyCode::Char(c) = key.code {
                ask.typed.push(c);
            }
            None
        }
        (Some(Action::Switch), _) => {
            ask.focus_go = !ask.focus_go;
            None
        }
        (Some(Action::Choose), _) => Some(ask.focus_go),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NodeId;

    const A: NodeId = NodeId::First;
    const B: NodeId = NodeId::Second;
    use std::time::Duration;

    fn step(confirm: Confirm) -> Step {
        Step {
            id: "06-promote".into(),
            action: crate::failover::Action::Promote,
            title: "promote bravo's database".into(),
            detail: "STOP SLAVE".into(),
            confirm,
            timeout: Duration::from_secs(10),
            before_promotion: false,
        }
    }

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, crossterm::event::KeyModifiers::NONE)
    }

    fn asking(confirm: Confirm) -> (FlowUi, tokio::sync::oneshot::Receiver<bool>) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let mut ui = FlowUi::choose(Vec::new(), None);
        ui.stage = Stage::Running;
        ui.on_event(FlowEvent::Ask {
            step: Box::new(step(confirm)),
            reply: Reply::new(tx),
        });
        (ui, rx)
    }

    #[test]
    fn enter_on_a_yes_no_dialog_cancels_unless_the_focus_was_moved() {
        let (mut ui, mut rx) = asking(Confirm::Yes);
        ui.on_key(&key(KeyCode::Enter));
        assert_eq!(rx.try_recv(), Ok(false));
        let (mut ui, mut rx) = asking(Confirm::Yes);
        ui.on_key(&key(KeyCode::Tab));
        ui.on_key(&key(KeyCode::Enter));
        assert_eq!(rx.try_recv(), Ok(true));
    }

    #[test]
    fn only_the_exact_name_confirms_a_typed_step() {
        let (mut ui, mut rx) = asking(Confirm::TypedNode("bravo".into()));
        for c in "brav".chars() {
            ui.on_key(&key(KeyCode::Char(c)));
        }
        ui.on_key(&key(KeyCode::Enter));
        assert_eq!(rx.try_recv(), Ok(false));
        assert!(ui.ask.is_none());
        let (mut ui, mut rx) = asking(Confirm::TypedNode("bravo".into()));
        for c in "bravo".chars() {
            ui.on_key(&key(KeyCode::Char(c)));
        }
        ui.on_key(&key(KeyCode::Enter));
        assert_eq!(rx.try_recv(), Ok(true));
    }

    #[test]
    fn an_unfinished_flow_can_be_resumed_or_rolled_back_never_by_default() {
        let path = std::path::PathBuf::from("/tmp/x.jsonl");
        let mut ui = FlowUi::offer_resume(path.clone(), "t".into(), vec![step(Confirm::None)], &[]);
        assert_eq!(ui.on_key(&key(KeyCode::Enter)), Some(FlowCommand::Close));
        let mut ui = FlowUi::offer_resume(path.clone(), "t".into(), vec![step(Confirm::None)], &[]);
        assert_eq!(
            ui.on_key(&key(KeyCode::Char('b'))),
            Some(FlowCommand::RollBack(path.clone()))
        );
        let mut ui = FlowUi::offer_resume(path.clone(), "t".into(), vec![step(Confirm::None)], &[]);
        ui.on_key(&key(KeyCode::Tab));
        assert_eq!(
            ui.on_key(&key(KeyCode::Enter)),
            Some(FlowCommand::Resume(path))
        );
    }

    #[test]
    fn the_review_starts_only_after_the_focus_moves_to_start() {
        let mut ui = FlowUi::choose(
            vec![Choice {
                kind: FlowKind::Switchover,
                old: A,
                new: B,
                label: "switchover to bravo".into(),
                why: String::new(),
            }],
            None,
        );
        assert_eq!(
            ui.on_key(&key(KeyCode::Enter)),
            Some(FlowCommand::Plan {
                kind: FlowKind::Switchover,
                old: A,
                new: B
            })
        );
        ui.on_planned(Ok((vec![step(Confirm::None)], None)));
        assert_eq!(ui.on_key(&key(KeyCode::Enter)), Some(FlowCommand::Close));
        ui.stage = Stage::Review;
        ui.on_key(&key(KeyCode::Tab));
        assert_eq!(
            ui.on_key(&key(KeyCode::Enter)),
            Some(FlowCommand::Start {
                kind: FlowKind::Switchover,
                old: A,
                new: B
            })
        );
        assert_eq!(ui.stage, Stage::Running);
    }
}
