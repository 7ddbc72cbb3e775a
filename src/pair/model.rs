//! What the monitor knows about the pair at one moment; the UI and the CLI only read this.

use serde::{Deserialize, Serialize};

use super::behind::VersionRow;
use super::remote::RemoteFacts;
use super::roles::{PairRoles, Role};
use crate::db::DbStatus;

/// Nagios-style severity; the order is the order of precedence for the exit code.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    #[default]
    Ok,
    Warning,
    Unknown,
    Critical,
}

impl Severity {
    /// The monitoring-plugin exit code: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    pub fn exit_code(self) -> u8 {
        match self {
            Severity::Ok => 0,
            Severity::Warning => 1,
            Severity::Critical => 2,
            Severity::Unknown => 3,
        }
    }

    /// The word monitoring systems expect.
    pub fn label(self) -> &'static str {
        match self {
            Severity::Ok => "OK",
            Severity::Warning => "WARNING",
            Severity::Critical => "CRITICAL",
            Severity::Unknown => "UNKNOWN",
        }
    }
}

/// Something the operator should know, worst first in lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert {
    pub severity: Severity,
    /// The node it concerns, if one.
    pub node: Option<String>,
    pub message: String,
}

/// The last-sync record a sync leaves on the mirror (`<state_dir>/last-sync.json`).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct LastSync {
    /// Unix seconds when the sync finished.
    pub finished_at: u64,
    pub source: String,
    pub target: String,
    pub files: u64,
    pub bytes: u64,
    pub duration_ms: u64,
    pub main_downtime_ms: u64,
    pub verified: bool,
    /// The newest document version on the main at the consistency point (its database's
    /// own clock): a journal plan copies the versions created since. Absent in records
    /// of older okmirror versions, and then the next sync scans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal_point: Option<String>,
}

/// A datastore's files and bytes as the last verify counted them (manifests walk it
/// anyway); kept on the node so the dashboard never walks it itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Census {
    pub files: u64,
    /// Their bytes, when the manifest had sizes (the agent's has; coreutils `sha256sum`
    /// gives none, and an unknown size is never counted as zero).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// Unix seconds of the count.
    pub at: u64,
}

/// The census's file name in a node's state folder.
pub const CENSUS_FILE: &str = "datastore-count.json";

/// A node as probed.
#[derive(Debug, Clone, Serialize)]
pub struct NodeStatus {
    pub name: String,
    pub host: String,
    pub role: Role,
    /// SSH round trip (without the probe's own work), when reachable.
    pub ssh_rtt_ms: Option<f64>,
    pub ssh_error: Option<String>,
    pub facts: Option<RemoteFacts>,
    pub db: Option<DbStatus>,
    pub db_error: Option<String>,
    pub last_sync: Option<LastSync>,
    pub last_sync_error: Option<String>,
}

impl NodeStatus {
    /// The database's writability, if it answered.
    pub fn writable(&self) -> Option<bool> {
        self.db.as_ref().map(DbStatus::writable)
    }
}

/// Replication lag as measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Lag {
    /// Heartbeat lag: the main's clock now minus the replicated beat's timestamp.
    pub heartbeat_secs: Option<f64>,
    /// When the main is down: how old the mirror's last beat is (mirror's clock).
    pub last_beat_age_secs: Option<f64>,
    /// The main's heartbeat sequence did not move although the writer runs.
    pub writer_stalled: bool,
    pub seconds_behind_source: Option<u64>,
    pub transactions_behind: Option<u64>,
    pub note: Option<String>,
}

/// Files behind on the mirror (or on the only node left, when it is a mirror), and
/// whether `okmirror follow` ships them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FilesBehindStatus {
    pub node: String,
    pub count: usize,
    pub oldest_age_secs: Option<f64>,
    /// The look hit its row cap: `count` is a lower bound.
    pub truncated: bool,
    pub rows_checked: usize,
    /// The oldest missing documents (at most `SHOWN`), for people.
    pub oldest: Vec<VersionRow>,
    pub follow: Option<FollowRecord>,
    pub follow_running: bool,
    /// Why the figure is unknown (never read as "none behind").
    pub error: Option<String>,
    /// By `[monitor] files_behind_*_secs` (unknown is a warning).
    pub severity: Severity,
}

impl FilesBehindStatus {
    /// How many missing documents a status carries by name.
    pub const SHOWN: usize = 20;
}

/// The pair at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct PairStatus {
    pub pair: String,
    /// Unix seconds.
    pub taken_at: u64,
    pub nodes: Vec<NodeStatus>,
    pub roles: PairRoles,
    pub lag: Lag,
    pub pending: Option<PlanTotals>,
    pub pending_error: Option<String>,
    /// Documents whose row the mirror has and whose file it lacks.
    pub files_behind: Option<FilesBehindStatus>,
    pub alerts: Vec<Alert>,
    pub severity: Severity,
}

impl PairStatus {
    /// The main, when known.
    pub fn main(&self) -> Option<&NodeStatus> {
        self.nodes.iter().find(|n| n.role == Role::Main)
    }

    /// The mirror, when known.
    pub fn mirror(&self) -> Option<&NodeStatus> {
        self.nodes.iter().find(|n| n.role == Role::Mirror)
    }
}
/// A record not refreshed for this long belongs to a follow that no longer runs.
pub const FOLLOW_STALE_SECS: u64 = 15;

/// What `follow` leaves on the mirror (`<state_dir>/follow.json`), for the console,
/// `status` and the next start.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FollowRecord {
    /// Where it runs: host name and PID (one follow per pair).
    pub host: String,
    pub pid: u32,
    pub main: String,
    pub mirror: String,
    /// Unix seconds.
    pub started_at: u64,
    pub updated_at: u64,
    /// Every version created before this point (`NDV_CREATED`, the database's own
    /// format) has its file on the mirror.
    pub complete_through: Option<String>,
    pub last_shipped_at: Option<u64>,
    pub shipped_files: u64,
    pub shipped_bytes: u64,
    /// Versions whose file is still missing on the mirror, and the oldest one's time.
    pub backlog: u64,
    pub oldest_backlog: Option<String>,
    /// Why it waits instead of shipping (roles unclear, main unreachable, …).
    pub paused: Option<String>,
    pub last_error: Option<String>,
}

impl FollowRecord {
    /// Whether the follow that wrote it still runs (it refreshes the record).
    pub fn running(&self, now_unix: u64) -> bool {
        self.updated_at + FOLLOW_STALE_SECS >= now_unix
    }
}

/// Counts and bytes of a plan (sync's planner fills it; the status shows it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PlanTotals {
    pub new_files: u64,
    pub new_bytes: u64,
    pub changed_files: u64,
    pub changed_bytes: u64,
    pub attribute_only: u64,
    pub deleted: u64,
    pub new_dirs: u64,
}
