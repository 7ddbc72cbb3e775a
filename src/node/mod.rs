//! Talking to a node over SSH: one multiplexed session per node, commands with timeouts,
//! streamed output, and errors an operator can act on.

pub mod agent;
mod error;
mod ssh;

pub use error::SshError;
pub use ssh::{Held, NodeSsh, Output};
