//! File sync between the nodes: planning (what rsync would change main -> mirror) now,
//! and the sync runs that build on it.

pub mod copy;
pub mod dump;
pub mod events;
pub mod exit;
pub mod follow;
pub mod freeze;
pub mod guard;
pub mod guardian;
pub mod index;
pub mod itemize;
pub mod manifest;
pub mod pending;
pub mod plan;
pub mod progress;
pub mod run;
pub mod scan;

pub use itemize::{Change, ChangeKind, EntryType};
pub use plan::{Pass, Plan, PlanTotals, plan};
