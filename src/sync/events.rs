//! What a sync (or a flow's copy) tells its face while it runs.

use super::progress::Tracker;

/// Progress reported while a run goes on.
#[derive(Debug, Clone)]
pub enum SyncEvent {
    Phase(Phase),
    Progress(Tracker),
    Warning(String),
    /// The documents the plan's datastore files belong to (by version UUID), so a face
    /// can show `/okm:root/…/acme.pdf` instead of a UUID path.
    Documents(std::collections::HashMap<String, String>),
}

impl SyncEvent {
    /// A step of the run, in words for people.
    pub fn phase(text: impl Into<String>) -> SyncEvent {
        SyncEvent::Phase(Phase {
            kind: PhaseKind::Step,
            text: text.into(),
        })
    }
}

/// A phase of a run: what kind, and its words for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phase {
    pub kind: PhaseKind,
    pub text: String,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// What a phase does, where a watcher must know: the verify hashes both datastores and
/// reports nothing until it ends, so silence then is not a stall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhaseKind {
    Step,
    Verify,
}

/// The error a cancelled run ends with; recognised by type (`is_cancelled_error`),
/// never by its text.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("cancelled by the operator")]
pub struct Cancelled;

/// Whether `e` is (or wraps) a cancel.
pub fn is_cancelled_error(e: &color_eyre::eyre::Report) -> bool {
    e.chain().any(|c| c.downcast_ref::<Cancelled>().is_some())
}
