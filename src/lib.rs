//! okmirror: keeps an OpenKM main server and its mirror in step, and moves the service
//! between them when the main dies.
//!
//! The engine (`config`, `node`, `db`) knows nothing of the terminal; `ui` and `cli` are
//! thin faces over it. Background work reaches the UI as typed messages on channels.

pub mod cli;
pub mod config;
pub mod db;
pub mod doctor;
pub mod failover;
pub mod format;
pub mod logging;
pub mod monitor;
pub mod node;
pub mod paths;
pub mod signals;
pub mod sync;
pub mod tasks;
pub mod ui;
