//! What a sync (or a flow's copy) tells its face while it runs.

use super::progress::Tracker;

/// Progress reported while a run goes on.
#[derive(Debug, Clone)]
pub enum SyncEvent {
    Phase(String),
    Progress(Tracker),
    Warning(String),
    /// The documents the plan's datastore files belong to (by version UUID), so a face
    /// can show `/okm:root/…/acme.pdf` instead of a UUID path.
    Documents(std::collections::HashMap<String, String>),
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
