//! okmirror: keeps an OpenKM main server and its mirror in step, and moves the service
//! between them when the main dies.
//!
//! The modules form layers, lowest first; each uses only its own layer and those below
//! it (`scripts/check-layers` holds the order and fails on an upward import):
//!
//! 1. `config`, `format`, `paths`, `signals`, `logging`: plain building blocks;
//! 2. `node`: SSH sessions, shell quoting, the agent, file checks on a node;
//! 3. `db`: connections, status, replica aliases, GTID, the heartbeat, OpenKM's
//!    version journal;
//! 4. `pair`: the pair handle: probes, roles, health rules, reports, locks, files behind;
//! 5. `sync`: plans, the one guarded transfer, freezes, verify, a sync's phases, follow;
//! 6. `failover`: flows, their steps, the journal and runner, drills;
//! 7. `doctor`: the prerequisite checks;
//! 8. `tasks`: background runs for the faces, reporting through typed events;
//! 9. `ui` and `cli`: the two thin faces.

// Layer 1
pub mod config;
pub mod format;
pub mod logging;
pub mod paths;
pub mod signals;
// Layer 2
pub mod node;
// Layer 3
pub mod db;
// Layer 4
pub mod pair;
// Layer 5
pub mod sync;
// Layer 6
pub mod failover;
// Layer 7
pub mod doctor;
// Layer 8
pub mod tasks;
// Layer 9
pub mod cli;
pub mod ui;
