//! Talking to a node over SSH: one multiplexed session per node, commands with timeouts,
//! streamed output, and errors an operator can act on.

pub mod agent;
mod error;
pub mod files;
mod ssh;

pub use error::SshError;
pub use ssh::{Held, NodeSsh, Output};

/// Shell-quotes one word for a script run on a node (the one quoting rule; a string
/// shlex cannot quote, one with a NUL byte, becomes an empty word).
pub fn quote(s: &str) -> String {
    shlex::try_quote(s)
        .map(|c| c.into_owned())
        .unwrap_or_else(|_| "''".into())
}
