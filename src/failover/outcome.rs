//! How a flow and its steps ended, as types. Journals and JSON reports keep today's
//! words ("done", "completed", "rolled back by the operator: ..."), so journals written
//! by earlier versions load and scripts reading reports see no change.

use serde::{Deserialize, Serialize};

/// A step as the journal tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepState {
    #[serde(rename = "done")]
    Done,
    #[serde(rename = "failed")]
    Failed,
    /// Started, never finished: okmirror died or lost the node mid-step.
    #[serde(rename = "interrupted")]
    Interrupted,
    #[serde(rename = "not run")]
    NotRun,
}

impl StepState {
    /// The journal's word, for tables.
    pub fn word(self) -> &'static str {
        match self {
            StepState::Done => "done",
            StepState::Failed => "failed",
            StepState::Interrupted => "interrupted",
            StepState::NotRun => "not run",
        }
    }
}

/// How a flow ended (or that it has not).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum Outcome {
    Completed,
    /// The operator took the way back before promotion; what was undone.
    RolledBackByOperator(String),
    /// Closed by the operator without running more.
    Abandoned,
    /// A step failed before promotion: the whole sentence (which step, why, and whether
    /// the old main got its writes back).
    Failed(String),
    /// The journal is open: what stopped it and how to go on.
    Unfinished(String),
}

const ROLLED_BACK: &str = "rolled back by the operator: ";
const ABANDONED: &str = "abandoned by the operator";
const UNFINISHED: &str = "unfinished: ";

impl Outcome {
    /// Only a completed flow moved the service as planned.
    pub fn completed(&self) -> bool {
        *self == Outcome::Completed
    }

    /// Ended as the operator asked (completed, or rolled back on purpose).
    pub fn as_intended(&self) -> bool {
        matches!(self, Outcome::Completed | Outcome::RolledBackByOperator(_))
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Completed => f.write_str("completed"),
            Outcome::RolledBackByOperator(what) => write!(f, "{ROLLED_BACK}{what}"),
            Outcome::Abandoned => f.write_str(ABANDONED),
            Outcome::Failed(s) => f.write_str(s),
            Outcome::Unfinished(s) => write!(f, "{UNFINISHED}{s}"),
        }
    }
}

impl From<Outcome> for String {
    fn from(o: Outcome) -> String {
        o.to_string()
    }
}

/// Reads a journal's words back (the one place they are compared).
impl From<String> for Outcome {
    fn from(s: String) -> Outcome {
        if s == "completed" {
            Outcome::Completed
        } else if s == ABANDONED {
            Outcome::Abandoned
        } else if let Some(what) = s.strip_prefix(ROLLED_BACK) {
            Outcome::RolledBackByOperator(what.to_string())
        } else if let Some(rest) = s.strip_prefix(UNFINISHED) {
            Outcome::Unfinished(rest.to_string())
        } else {
            Outcome::Failed(s)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_keep_their_journal_words_both_ways() {
        for o in [
            Outcome::Completed,
            Outcome::RolledBackByOperator("alpha takes writes again".into()),
            Outcome::Abandoned,
            Outcome::Failed("failed at freeze: timeout; nothing was promoted".into()),
            Outcome::Unfinished("resume with `okmirror resume`".into()),
        ] {
            let json = serde_json::to_string(&o).unwrap();
            assert_eq!(serde_json::from_str::<Outcome>(&json).unwrap(), o, "{json}");
        }
        assert_eq!(
            serde_json::to_string(&Outcome::Abandoned).unwrap(),
            "\"abandoned by the operator\""
        );
        assert_eq!(
            serde_json::to_string(&StepState::NotRun).unwrap(),
            "\"not run\""
        );
    }
}

#[cfg(test)]
mod journal_fixture {
    use super::*;
    use crate::failover::exec::report;
    use crate::failover::journal::{Entry, Journal};
    use crate::failover::{Action, Confirm, FlowKind, Step};

    const OLD: &str = include_str!("../../tests/samples/journal-0.1-failover-rolled-back.jsonl");

    fn step(id: &str) -> Step {
        Step {
            id: id.into(),
            title: id.into(),
            action: Action::Preflight,
            detail: String::new(),
            confirm: Confirm::Yes,
            timeout: std::time::Duration::from_secs(1),
            before_promotion: true,
        }
    }

    #[test]
    fn a_journal_written_by_0_1_loads_as_types_and_writes_back_the_same_words() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("20261201T093000-failover.jsonl");
        std::fs::write(&path, OLD).unwrap();
        let j = Journal::open(&path).unwrap();
        assert_eq!(j.entries.len(), 6);
        let again: Vec<String> = j
            .entries
            .iter()
            .map(|e| serde_json::to_string(e).unwrap())
            .collect();
        assert_eq!(
            again.join("\n") + "\n",
            OLD,
            "the same bytes once written again"
        );
        let steps: Vec<Step> = ["preflight", "assess", "fence"].map(step).into();
        let r = report(&path, &j.entries, &steps);
        assert_eq!(r.kind, FlowKind::Failover);
        assert!(matches!(r.outcome, Outcome::RolledBackByOperator(_)));
        assert!(r.outcome.as_intended() && !r.ok);
        let states: Vec<StepState> = r.steps.iter().map(|s| s.state).collect();
        assert_eq!(
            states,
            [StepState::Done, StepState::Failed, StepState::NotRun]
        );
        assert!(matches!(
            j.entries[0],
            Entry::Flow {
                kind: FlowKind::Failover,
                ..
            }
        ));
    }
}
