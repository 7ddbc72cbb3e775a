//! The okmirror configuration: one pair, exactly two nodes, how to reach and drive each.
//!
//! The config never says which node is main: roles are detected live from the databases.
//! Loading is strict (unknown keys are errors) and every error names file, line, column
//! and key, because a typo in a DR tool's config must never be silently ignored.

mod error;
mod load;
mod locate;
mod node_id;
mod secret;
mod validate;

use std::path::PathBuf;

use serde::Deserialize;

pub use error::{ConfigError, ConfigErrors};
pub use load::{default_path, load_file, parse_str};
pub use node_id::NodeId;
pub use secret::{Secret, SecretSource};
pub use validate::warnings;

/// The annotated example printed by `okmirror config example`.
pub const EXAMPLE: &str = include_str!("../../assets/okmirror.example.toml");

/// A whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The pair's display name (shown in the title bar, reports and metrics labels).
    pub pair: String,
    /// Exactly two nodes; their order means nothing.
    #[serde(rename = "node")]
    pub nodes: Vec<NodeConfig>,
    #[serde(default)]
    pub traffic: TrafficConfig,
    #[serde(default)]
    pub sync: SyncConfig,
    #[serde(default)]
    pub monitor: MonitorConfig,
    /// How nodes replicate from each other after a switchover, failover or rejoin.
    pub replication: Option<ReplicationConfig>,
    #[serde(default)]
    pub failover: FailoverConfig,
    #[serde(default)]
    pub follow: FollowConfig,
}

/// `okmirror follow`: continuous shipping of new datastore files to the mirror.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowConfig {
    /// Milliseconds between two looks at the mirror's replicated version rows.
    #[serde(default = "default_follow_poll")]
    pub poll_ms: u64,
    /// rsync `--bwlimit` for the shipping, in KiB/s; unlimited when unset.
    pub bwlimit_kbps: Option<u64>,
    /// The most files one transfer ships (the rest go in the next one).
    #[serde(default = "default_follow_batch")]
    pub batch_max: usize,
}

impl Default for FollowConfig {
    fn default() -> Self {
        FollowConfig {
            poll_ms: default_follow_poll(),
            bwlimit_kbps: None,
            batch_max: default_follow_batch(),
        }
    }
}

fn default_follow_poll() -> u64 {
    400
}
fn default_follow_batch() -> usize {
    500
}

/// The replication account a demoted node uses to follow the new main.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicationConfig {
    pub user: String,
    pub password: Option<Secret>,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
}

impl ReplicationConfig {
    /// Where the replication password comes from; `Err` when none or several are given.
    pub fn password_source(&self) -> Result<SecretSource, &'static str> {
        SecretSource::from_keys(
            self.password.as_ref(),
            self.password_env.as_deref(),
            self.password_file.as_deref(),
        )
    }
}

/// Guided failover, switchover and rejoin.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailoverConfig {
    /// Run locally to isolate an unreachable old main before the mirror is promoted
    /// (power off, cut its network...); `{node}` is replaced by its name. Exit 0 = fenced.
    pub fence_command: Option<String>,
    /// A switchover refuses to start when the mirror is further behind than this.
    #[serde(default = "default_max_lag")]
    pub max_lag_secs: f64,
    /// ... or when a write transaction on the main has been open this long.
    #[serde(default = "default_long_trx")]
    pub long_transaction_secs: u64,
    /// Default timeout of a step, in seconds (each step may have its own floor).
    #[serde(default = "default_step_timeout")]
    pub step_timeout_secs: u64,
}

impl Default for FailoverConfig {
    fn default() -> Self {
        FailoverConfig {
            fence_command: None,
            max_lag_secs: default_max_lag(),
            long_transaction_secs: default_long_trx(),
            step_timeout_secs: default_step_timeout(),
        }
    }
}

fn default_max_lag() -> f64 {
    5.0
}
fn default_long_trx() -> u64 {
    30
}
fn default_step_timeout() -> u64 {
    120
}

/// One OpenKM server: its host, its Tomcat home and its database.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Free-form name used everywhere the node is shown or typed (e.g. typed confirmations).
    pub name: String,
    /// OpenKM's Tomcat home, the folder the recipe rsyncs.
    pub openkm_home: PathBuf,
    /// The datastore folder; defaults to `<openkm_home>/repository/datastore`.
    pub datastore: Option<PathBuf>,
    /// okmirror's own folder on the node (last-sync record, sync lock); outside the
    /// Tomcat home so a sync never touches it.
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    /// Where `okmirror agent install` puts this binary on the node, and where verify and
    /// the dashboard look for it first (then `okmirror` on the node's PATH).
    #[serde(default = "default_agent_path")]
    pub agent_path: PathBuf,
    pub ssh: SshConfig,
    #[serde(default)]
    pub service: ServiceConfig,
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    #[serde(default)]
    pub traffic: NodeTrafficConfig,
}

impl NodeConfig {
    /// This node's server name in the HAProxy backend (its own name unless set).
    pub fn haproxy_server(&self) -> String {
        self.traffic
            .haproxy_server
            .clone()
            .unwrap_or_else(|| self.name.clone())
    }

    /// The datastore folder, explicit or derived from the Tomcat home.
    pub fn datastore_path(&self) -> PathBuf {
        self.datastore
            .clone()
            .unwrap_or_else(|| self.openkm_home.join("repository").join("datastore"))
    }
}

/// How the console reaches a node over SSH.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshConfig {
    pub host: String,
    #[serde(default = "default_ssh_port")]
    pub port: u16,
    #[serde(default = "default_ssh_user")]
    pub user: String,
    /// Private key; when unset, ssh's own defaults and agent apply.
    pub identity_file: Option<PathBuf>,
    /// known_hosts to check the node's host key against; ssh's default when unset.
    pub known_hosts_file: Option<PathBuf>,
    /// Refuse unknown or changed host keys (never auto-accept). On by default.
    #[serde(default = "yes")]
    pub strict_host_key_checking: bool,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
    /// ssh_config file, on this node, that it uses to reach its peer (for node-to-node rsync).
    pub peer_ssh_config: Option<PathBuf>,
}

/// Commands that drive OpenKM on the node, run through its SSH session.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    #[serde(default = "default_start")]
    pub start: String,
    #[serde(default = "default_stop")]
    pub stop: String,
    /// Exit 0 means running, as LSB init scripts report it.
    #[serde(default = "default_status")]
    pub status: String,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            start: default_start(),
            stop: default_stop(),
            status: default_status(),
        }
    }
}

/// OpenKM's HTTP health check and the credentials it needs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Usually `.../OpenKM/services/rest/repository/getAppVersion`.
    pub health_url: String,
    #[serde(default = "default_okm_user")]
    pub user: String,
    #[serde(default)]
    pub password: Option<Secret>,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
}

impl HttpConfig {
    /// Where the OpenKM password comes from; `Err` when none or several are given.
    pub fn password_source(&self) -> Result<SecretSource, &'static str> {
        SecretSource::from_keys(
            self.password.as_ref(),
            self.password_env.as_deref(),
            self.password_file.as_deref(),
        )
    }
}

/// The node's MySQL/MariaDB, as the console connects to it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    #[serde(default = "default_db_host")]
    pub host: String,
    #[serde(default = "default_db_port")]
    pub port: u16,
    pub user: String,
    #[serde(default = "default_schema")]
    pub schema: String,
    #[serde(default)]
    pub password: Option<Secret>,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    /// Connect through the node's SSH session (host and port are then as seen from the node).
    #[serde(default)]
    pub tunnel: bool,
    /// Where the other node's database reaches this one for replication; defaults to
    /// `host` (or the SSH host when tunnelled) and `port`.
    pub replication_host: Option<String>,
    pub replication_port: Option<u16>,
    /// Encryption of a direct connection (a tunnel is already encrypted by SSH).
    #[serde(default)]
    pub tls: TlsMode,
    /// PEM file of the CA that signed the server's certificate; without it, `required`
    /// checks against the system's roots and `preferred` does not check at all.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain and key, for servers that `REQUIRE X509`.
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
}

/// How a direct database connection is encrypted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// TLS with the server's certificate and name verified; no connection otherwise.
    Required,
    /// TLS when the server offers it (verified only when `ca_file` is set), else plain.
    #[default]
    Preferred,
    /// Plain TCP: the credentials cross the network readable.
    Off,
}

impl DatabaseConfig {
    /// Where the database password comes from; `Err` when none or several are given.
    pub fn password_source(&self) -> Result<SecretSource, &'static str> {
        SecretSource::from_keys(
            self.password.as_ref(),
            self.password_env.as_deref(),
            self.password_file.as_deref(),
        )
    }
}

/// The pair's traffic switch: HAProxy's runtime API, or a hook command (e.g. for DNS).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficConfig {
    /// Unix socket of HAProxy's runtime API (`stats socket ... level admin`).
    pub haproxy_socket: Option<PathBuf>,
    /// Or its TCP address, `host:port`.
    pub haproxy_address: Option<String>,
    pub haproxy_backend: Option<String>,
    /// Command run locally to move traffic; `{to}` and `{from}` are replaced by node names.
    pub hook: Option<String>,
    /// The URL clients use (the front door), for end-to-end checks.
    pub front_url: Option<String>,
}

/// A node's name inside the traffic switch.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeTrafficConfig {
    pub haproxy_server: Option<String>,
}

/// How file syncs run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncConfig {
    /// Paths under the Tomcat home never copied (node-specific or regenerable).
    #[serde(default = "default_excludes")]
    pub excludes: Vec<String>,
    /// A plan deleting more files than this needs explicit confirmation of the number.
    #[serde(default = "default_delete_limit_count")]
    pub delete_limit_count: u64,
    /// Likewise for a share (percent) of the mirror's files.
    #[serde(default = "default_delete_limit_percent")]
    pub delete_limit_percent: f64,
    /// rsync `--bwlimit`, in KiB/s; unlimited when unset.
    pub bwlimit_kbps: Option<u64>,
    /// rsync `--timeout`: a transfer with no I/O for this long fails (a hung target).
    #[serde(default = "default_io_timeout")]
    pub io_timeout_secs: u64,
    /// How the mirror's database reaches the main's state at the consistency point.
    #[serde(default)]
    pub database: DbSyncMode,
    /// How the main is frozen for the final pass.
    #[serde(default)]
    pub freeze: FreezeMode,
    /// The final pass copies the versions created since the bulk pass began, minus this
    /// margin (for transactions that committed late), read from OpenKM's version table.
    #[serde(default = "default_journal_margin")]
    pub journal_margin_secs: u64,
    /// How the bulk pass finds what to copy (`okmirror sync --plan` overrides it).
    #[serde(default)]
    pub plan: PlanMode,
    /// The longest a node may stay frozen (a sync's freeze, a switchover's old main
    /// before promotion): its watchdog gives it back after this, console or not.
    #[serde(default = "default_freeze_max")]
    pub freeze_max_secs: u64,
}

fn default_freeze_max() -> u64 {
    900
}

/// How a sync plans its bulk pass.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum PlanMode {
    /// An rsync dry run over the whole Tomcat home: every change and deletion is known
    /// (and guarded) before a byte moves.
    #[default]
    Scan,
    /// The datastore's new files from OpenKM's version journal since the last verified
    /// sync (no walk of the datastore); the rest of the Tomcat home is still scanned.
    /// The verify's full manifests then find what the journal cannot name (deletions,
    /// damaged or missed files), and those are repaired under the deletion guard.
    Journal,
}

/// How the main stops taking writes at the consistency point.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FreezeMode {
    /// Stop OpenKM on both nodes: the Lucene index is copied too (OpenKM's own advice).
    #[default]
    Service,
    /// Set the main's database read-only (FLUSH TABLES WITH READ LOCK around it): OpenKM
    /// keeps serving reads and refuses writes for about a second. The index is in use
    /// and is not copied: the mirror's search index must be rebuilt after a failover.
    Database,
}

fn default_journal_margin() -> u64 {
    600
}

/// Replication (wait for the main's GTID position) or dump (the recipe's way, done safely).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DbSyncMode {
    #[default]
    Replication,
    /// `mysqldump --single-transaction` streamed into the mirror, credentials in private
    /// option files; `system.readonly` set back to true afterwards.
    Dump,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            excludes: default_excludes(),
            delete_limit_count: default_delete_limit_count(),
            delete_limit_percent: default_delete_limit_percent(),
            bwlimit_kbps: None,
            io_timeout_secs: default_io_timeout(),
            database: DbSyncMode::default(),
            freeze: FreezeMode::default(),
            journal_margin_secs: default_journal_margin(),
            plan: PlanMode::default(),
            freeze_max_secs: default_freeze_max(),
        }
    }
}

/// Dashboard and `status` thresholds and cadence.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorConfig {
    /// Seconds between two probes of a node.
    #[serde(default = "default_interval")]
    pub interval_secs: u64,
    /// The console's probes slow to `idle_interval_secs` once nobody pressed a key for
    /// this long and nothing is critical (a key probes at once); 0 in
    /// `idle_interval_secs` keeps `interval_secs` always.
    #[serde(default = "default_idle_after")]
    pub idle_after_secs: u64,
    #[serde(default = "default_idle_interval")]
    pub idle_interval_secs: u64,
    /// A probe that takes longer marks the node unreachable.
    #[serde(default = "default_probe_timeout")]
    pub probe_timeout_secs: u64,
    /// Replication lag (heartbeat) that raises a warning / goes critical.
    #[serde(default = "default_lag_warning")]
    pub lag_warning_secs: f64,
    #[serde(default = "default_lag_critical")]
    pub lag_critical_secs: f64,
    /// A last sync older than this is a warning.
    #[serde(default = "default_sync_age")]
    pub last_sync_warning_hours: f64,
    /// How the console finds the pending diffs: `journal` (the default) reads OpenKM's
    /// version journal since the mirror's last verified sync, every probe, without
    /// walking the datastore; without a verified sync it scans. `scan` always runs an
    /// rsync dry run over the whole Tomcat home.
    #[serde(default = "default_pending")]
    pub pending: PlanMode,
    /// Seconds between two scans of the pending diffs in the console when they are
    /// scanned (0: only on `r`).
    #[serde(default = "default_diff_interval")]
    pub diff_interval_secs: u64,
    /// Free space on the datastore's filesystem below this share is a warning.
    #[serde(default = "default_disk_warning")]
    pub disk_free_warning_percent: f64,
    /// Files behind: a document whose content has been missing on the mirror for this
    /// long (seconds) raises a warning / goes critical.
    #[serde(default = "default_files_behind_warning")]
    pub files_behind_warning_secs: f64,
    #[serde(default = "default_files_behind_critical")]
    pub files_behind_critical_secs: f64,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            interval_secs: default_interval(),
            idle_after_secs: default_idle_after(),
            idle_interval_secs: default_idle_interval(),
            probe_timeout_secs: default_probe_timeout(),
            lag_warning_secs: default_lag_warning(),
            lag_critical_secs: default_lag_critical(),
            last_sync_warning_hours: default_sync_age(),
            pending: default_pending(),
            diff_interval_secs: default_diff_interval(),
            disk_free_warning_percent: default_disk_warning(),
            files_behind_warning_secs: default_files_behind_warning(),
            files_behind_critical_secs: default_files_behind_critical(),
        }
    }
}

fn default_interval() -> u64 {
    2
}
fn default_idle_after() -> u64 {
    60
}
fn default_idle_interval() -> u64 {
    10
}
fn default_probe_timeout() -> u64 {
    5
}
fn default_lag_warning() -> f64 {
    5.0
}
fn default_lag_critical() -> f64 {
    60.0
}
fn default_sync_age() -> f64 {
    24.0
}
fn default_pending() -> PlanMode {
    PlanMode::Journal
}
fn default_diff_interval() -> u64 {
    300
}
fn default_disk_warning() -> f64 {
    10.0
}
fn default_files_behind_warning() -> f64 {
    60.0
}
fn default_files_behind_critical() -> f64 {
    3600.0
}
fn default_io_timeout() -> u64 {
    120
}
fn default_agent_path() -> PathBuf {
    PathBuf::from("/usr/local/lib/okmirror/okmirror")
}
fn default_state_dir() -> PathBuf {
    PathBuf::from("/var/lib/okmirror")
}
fn default_ssh_port() -> u16 {
    22
}
fn default_ssh_user() -> String {
    "root".into()
}
fn yes() -> bool {
    true
}
fn default_connect_timeout() -> u64 {
    5
}
fn default_start() -> String {
    "/etc/init.d/openkm start".into()
}
fn default_stop() -> String {
    "/etc/init.d/openkm stop".into()
}
fn default_status() -> String {
    "/etc/init.d/openkm status".into()
}
fn default_okm_user() -> String {
    "okmAdmin".into()
}
fn default_db_host() -> String {
    "127.0.0.1".into()
}
fn default_db_port() -> u16 {
    3306
}
fn default_schema() -> String {
    "okmdb".into()
}
fn default_excludes() -> Vec<String> {
    vec!["repository/.system.key".into(), "logs".into()]
}
fn default_delete_limit_count() -> u64 {
    100
}
fn default_delete_limit_percent() -> f64 {
    5.0
}
