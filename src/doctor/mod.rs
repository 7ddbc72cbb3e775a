//! `okmirror doctor`: whether the pair meets okmirror's prerequisites, each failure named
//! with its fix (the exact command, SQL or config line). It only reads: nothing on a node
//! or in a database is changed.

mod db_checks;
pub mod grants;
mod node_checks;
mod render;

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use crate::config::Config;
use crate::pair::Monitor;

pub use render::{human, json};

/// One check's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Warn,
    Fail,
}

/// What a check looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Topic {
    Config,
    Secrets,
    Ssh,
    PeerSsh,
    Rsync,
    OpenkmHome,
    Datastore,
    Service,
    Binlog,
    Gtid,
    ReplicaUpdates,
    ServerIds,
    Roles,
    Grants,
    ReplicationUser,
    VersionTable,
    Clock,
    Disk,
    Haproxy,
    Agent,
    Flavour,
}

impl Topic {
    /// The name shown in the table.
    pub fn label(self) -> &'static str {
        match self {
            Topic::Config => "config",
            Topic::Secrets => "secrets",
            Topic::Ssh => "ssh",
            Topic::PeerSsh => "node-to-node ssh",
            Topic::Rsync => "rsync",
            Topic::OpenkmHome => "openkm_home",
            Topic::Datastore => "datastore",
            Topic::Service => "service status",
            Topic::Binlog => "binary log",
            Topic::Gtid => "gtid",
            Topic::ReplicaUpdates => "log_slave_updates",
            Topic::ServerIds => "server_id",
            Topic::Roles => "read-only flags",
            Topic::Grants => "grants",
            Topic::ReplicationUser => "replication user",
            Topic::VersionTable => "version table",
            Topic::Clock => "clock",
            Topic::Disk => "disk room",
            Topic::Haproxy => "haproxy",
            Topic::Agent => "agent",
            Topic::Flavour => "server tested",
        }
    }
}

/// A check: what, where, the verdict, what was found, and how to fix it.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub topic: Topic,
    pub node: Option<String>,
    pub verdict: Verdict,
    pub found: String,
    pub fix: Option<String>,
}

impl Check {
    pub fn pass(topic: Topic, node: Option<&str>, found: impl Into<String>) -> Check {
        Check {
            topic,
            node: node.map(str::to_string),
            verdict: Verdict::Pass,
            found: found.into(),
            fix: None,
        }
    }

    pub fn warn(topic: Topic, node: Option<&str>, found: impl Into<String>, fix: &str) -> Check {
        Check {
            verdict: Verdict::Warn,
            fix: (!fix.is_empty()).then(|| fix.to_string()),
            ..Check::pass(topic, node, found)
        }
    }

    pub fn fail(topic: Topic, node: Option<&str>, found: impl Into<String>, fix: &str) -> Check {
        Check {
            verdict: Verdict::Fail,
            ..Check::warn(topic, node, found, fix)
        }
    }
}

/// All checks of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub pair: String,
    pub checks: Vec<Check>,
}

impl Report {
    /// The worst verdict: 0 all passed, 1 warnings, 2 failures.
    pub fn exit_code(&self) -> u8 {
        match self.checks.iter().map(|c| c.verdict).max() {
            Some(Verdict::Fail) => 2,
            Some(Verdict::Warn) => 1,
            _ => 0,
        }
    }

    pub fn count(&self, v: Verdict) -> usize {
        self.checks.iter().filter(|c| c.verdict == v).count()
    }
}

/// Runs every check against the pair of `cfg` (read from `path`).
pub async fn run(cfg: Config, path: &Path) -> Report {
    let mut checks = config_checks(&cfg, path);
    let cfg = Arc::new(cfg);
    let monitor = Arc::new(Monitor::new(cfg.clone()));
    let (nodes, dbs) = tokio::join!(node_checks::run(&monitor), db_checks::run(&monitor));
    checks.extend(nodes.checks);
    checks.extend(dbs.checks);
    checks.extend(db_checks::pair_checks(&cfg, &dbs.facts));
    checks.extend(node_checks::disk_room(&cfg, &nodes.facts, &dbs.facts));
    checks.push(traffic_check(&cfg).await);
    Report {
        pair: cfg.pair.clone(),
        checks,
    }
}

/// The config's own warnings, and whether every secret it names can be read.
fn config_checks(cfg: &Config, path: &Path) -> Vec<Check> {
    let mut out = Vec::new();
    let warnings = crate::config::warnings(cfg);
    if warnings.is_empty() {
        out.push(Check::pass(
            Topic::Config,
            None,
            format!("{} is valid", path.display()),
        ));
    }
    for w in warnings {
        out.push(Check::warn(
            Topic::Config,
            None,
            w,
            "see `okmirror config example`",
        ));
    }
    let mut secrets = Vec::new();
    for n in &cfg.nodes {
        secrets.push((n.name.clone(), "database", n.database.password_source()));
        secrets.push((n.name.clone(), "http", n.http.password_source()));
    }
    if let Some(r) = &cfg.replication {
        secrets.push(("-".into(), "replication", r.password_source()));
    }
    let mut bad = 0;
    for (node, what, src) in secrets {
        let node = (node != "-").then_some(node);
        match src.map_err(str::to_string).and_then(|s| s.resolve()) {
            Ok(_) => {}
            Err(e) => {
                bad += 1;
                out.push(Check::fail(
                    Topic::Secrets,
                    node.as_deref(),
                    format!("{what} password: {e}"),
                    "give exactly one of password_file (mode 0600), password_env or password",
                ));
            }
        }
    }
    if bad == 0 {
        out.push(Check::pass(
            Topic::Secrets,
            None,
            "every password can be read",
        ));
    }
    out
}

/// HAProxy's runtime API answers, and its backend holds both nodes' server names.
async fn traffic_check(cfg: &Config) -> Check {
    let t = &cfg.traffic;
    if t.haproxy_socket.is_none() && t.haproxy_address.is_none() {
        return match &t.hook {
            Some(h) => Check::pass(
                Topic::Haproxy,
                None,
                format!("no HAProxy; hook {h:?} moves clients"),
            ),
            None => Check::warn(
                Topic::Haproxy,
                None,
                "no HAProxy and no hook: a failover cannot move clients",
                "set [traffic] haproxy_socket and haproxy_backend (or hook)",
            ),
        };
    }
    let backend = t.haproxy_backend.as_deref().unwrap_or("openkm");
    let answer = match crate::failover::haproxy::command(
        t,
        &format!("show servers state {backend}"),
    )
    .await
    {
        Ok(a) => a,
        Err(e) => {
            return Check::fail(
                Topic::Haproxy,
                None,
                format!("the runtime API does not answer: {e:#}"),
                "HAProxy needs `stats socket /run/haproxy/admin.sock mode 600 level admin` in its global section",
            );
        }
    };
    let servers: Vec<String> = crate::failover::haproxy::parse_servers_state(&answer, backend)
        .into_iter()
        .map(|(name, _, _)| name)
        .collect();
    if servers.is_empty() {
        return Check::fail(
            Topic::Haproxy,
            None,
            format!(
                "backend {backend:?} not found or empty: {}",
                answer.lines().next().unwrap_or("")
            ),
            "set [traffic] haproxy_backend to the backend that serves OpenKM",
        );
    }
    let missing: Vec<_> = cfg
        .nodes
        .iter()
        .filter(|n| !servers.contains(&n.haproxy_server()))
        .map(|n| format!("{} (haproxy_server {:?})", n.name, n.haproxy_server()))
        .collect();
    if missing.is_empty() {
        Check::pass(
            Topic::Haproxy,
            None,
            format!("backend {backend} has servers {}", servers.join(", ")),
        )
    } else {
        Check::fail(
            Topic::Haproxy,
            None,
            format!("backend {backend} has no server for {}", missing.join(", ")),
            &format!(
                "set [node.traffic] haproxy_server to one of: {}",
                servers.join(", ")
            ),
        )
    }
}
