//! Guided switchover, failover and rejoin: flows of journaled, confirmable, resumable
//! steps that never let two nodes take writes.

mod actions;
pub mod choices;
pub mod drill;
pub mod exec;
pub mod files;
pub mod flow;
mod front_door;
pub mod haproxy;
pub mod journal;
pub mod outcome;
pub mod sql;

pub use exec::{Confirmer, FlowEvent, FlowReport, Runner};
pub use flow::{Action, Confirm, FlowKind, Step};
pub use outcome::{Outcome, StepState};
