//! What a sync (or a flow's copy) tells its face while it runs.

use super::progress::Tracker;

/// Progress reported while a run goes on.
#[derive(Debug, Clone)]
pub enum SyncEvent {
    Phase(String),
    Progress(Tracker),
    Warning(String),
}

/// The error text of a cancelled run.
pub const CANCELLED: &str = "cancelled by the operator";
