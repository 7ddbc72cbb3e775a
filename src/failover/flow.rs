//! Flows as lists of steps: what each step will do (shown before it acts, and by
//! `--dry-run`), what it needs confirmed, and how long it may take. Pure: no I/O here.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::sql;
use crate::config::Config;
use crate::db::status::Flavour;

/// The guided flows (journaled by `word()`, which is also their serde name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlowKind {
    /// Planned move, both nodes up, zero data loss.
    Switchover,
    /// The main is down or unreachable: fence it, promote the mirror.
    Failover,
    /// A former main comes back as the new main's mirror.
    Rejoin,
    /// A rejoin that replaces the former main's database with a dump of the new main's
    /// (its own unreplicated transactions are saved with its binlogs, then given up).
    Reseed,
}

impl FlowKind {
    /// The word used in journals, commands and titles.
    pub fn word(self) -> &'static str {
        match self {
            FlowKind::Switchover => "switchover",
            FlowKind::Failover => "failover",
            FlowKind::Rejoin => "rejoin",
            FlowKind::Reseed => "reseed",
        }
    }

    /// Parses `word()`.
    pub fn from_word(s: &str) -> Option<FlowKind> {
        [
            FlowKind::Switchover,
            FlowKind::Failover,
            FlowKind::Rejoin,
            FlowKind::Reseed,
        ]
        .into_iter()
        .find(|k| k.word() == s)
    }
}

/// What a step does; the executor acts on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Preflight,
    Assess,
    LiveSync,
    FreezeOldMain,
    FenceOldMain,
    FinalSync,
    CatchUp,
    DrainRelay,
    ShipFiles,
    Salvage,
    Promote,
    Flags,
    StartNewMain,
    SwitchTraffic,
    CheckFrontDoor,
    DemoteOldMain,
    StartOldMain,
    ProveDirection,
    LossReport,
    FenceStale,
    ErrantCheck,
    Repoint,
    SyncFiles,
    StartRejoined,
    SaveBinlogs,
    Reseed,
}

/// What must be confirmed before a step acts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "node", rename_all = "kebab-case")]
pub enum Confirm {
    None,
    /// An ordinary yes (`--yes`).
    Yes,
    /// The node's name typed (`--confirm-node NAME`).
    TypedNode(String),
}

/// One step of a flow.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// Stable id (journal key).
    pub id: String,
    pub action: Action,
    pub title: String,
    /// What it will do: the commands and SQL, passwords masked.
    pub detail: String,
    pub confirm: Confirm,
    #[serde(serialize_with = "secs")]
    pub timeout: Duration,
    /// A failure here (or before) leaves the old main as main: roll it back to serving.
    pub before_promotion: bool,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_secs())
}

/// Names and configs of the two nodes in a flow.
pub struct Ends<'a> {
    pub cfg: &'a Config,
    /// The node that is (or was) the main.
    pub old: usize,
    /// The node that becomes the main (for rejoin: the current main).
    pub new: usize,
    pub flavour: Flavour,
}

impl Ends<'_> {
    fn name(&self, i: usize) -> &str {
        &self.cfg.nodes[i].name
    }
}

/// How long a step may take. File copies and dumps are bounded by their own stall
/// detection (rsync's `--timeout`, SSH keepalives on the peer link), not by a flat
/// limit that a large but healthy copy would overrun; everything else gets `short`.
pub fn step_limit(action: Action, short: Duration) -> Duration {
    match action {
        Action::LiveSync
        | Action::FinalSync
        | Action::SyncFiles
        | Action::Reseed
        | Action::ShipFiles
        | Action::Salvage => Duration::from_secs(24 * 3600),
        _ => short,
    }
}

/// The steps of `kind` between the ends.
pub fn plan(kind: FlowKind, e: &Ends) -> Vec<Step> {
    let (old, new) = (e.name(e.old).to_string(), e.name(e.new).to_string());
    let oc = &e.cfg.nodes[e.old];
    let nc = &e.cfg.nodes[e.new];
    let t = Duration::from_secs(e.cfg.failover.step_timeout_secs.max(10));
    let fence_sql = sql::fence(e.flavour).join("; ");
    let promote_sql = sql::promote(e.flavour).join("; ");
    let source = |i: usize| replication_source(e.cfg, i);
    let repoint_sql = |to: usize| sql::shown(&sql::repoint(e.flavour, &source(to), "********"), "");
    let flag =
        |i: usize, v: bool| sql::set_system_readonly(&e.cfg.nodes[i].database.schema, v).join("; ");
    let traffic = traffic_detail(e.cfg, &old, &new);
    let mut steps = Vec::new();
    let mut add =
        |action: Action, title: String, detail: String, confirm: Confirm, before: bool| {
            steps.push(Step {
                id: format!("{:02}-{}", steps.len() + 1, action_id(action)),
                action,
                title,
                detail,
                confirm,
                timeout: step_limit(action, t),
                before_promotion: before,
            });
        };
    match kind {
        FlowKind::Switchover => {
            add(
                Action::Preflight,
                format!("preflight: {old} is the main, {new} a healthy mirror"),
                format!(
                    "checks: roles from live writability; {new} replicates and lags under {} s; no errant transactions on {new}; no write transaction open on {old} longer than {} s; room on {new}'s disk for what its datastore lacks; the last sync's age",
                    e.cfg.failover.max_lag_secs, e.cfg.failover.long_transaction_secs
                ),
                Confirm::None,
                true,
            );
            add(
                Action::LiveSync,
                format!("copy new files {old} -> {new} while {old} is live"),
                "rsync on the main, pushing to the mirror (without the index)".into(),
                Confirm::None,
                true,
            );
            add(
                Action::FreezeOldMain,
                format!("freeze {old}: writes stop here"),
                format!(
                    "on {old}: {}; on {new}: {}; SQL on {old}: {fence_sql}",
                    oc.service.stop, nc.service.stop
                ),
                Confirm::Yes,
                true,
            );
            add(
                Action::FinalSync,
                format!("final file sync {old} -> {new}, with the index"),
                "rsync of the whole Tomcat home (excludes kept) while both OpenKMs are stopped"
                    .into(),
                Confirm::None,
                true,
            );
            add(
                Action::CatchUp,
                format!("wait until {new} has applied {old}'s last transaction"),
                "MASTER_GTID_WAIT(@@gtid_binlog_pos of the old main) / WAIT_FOR_EXECUTED_GTID_SET"
                    .into(),
                Confirm::None,
                true,
            );
            add(
                Action::Promote,
                format!("promote {new}'s database"),
                format!("SQL on {new}: {promote_sql}"),
                Confirm::TypedNode(new.clone()),
                false,
            );
            add(
                Action::Flags,
                "flip system.readonly".into(),
                format!(
                    "on {new}: {}; on {old}: {}",
                    flag(e.new, false),
                    flag(e.old, true)
                ),
                Confirm::None,
                false,
            );
            add(
                Action::StartNewMain,
                format!("start OpenKM on {new} (the new main)"),
                nc.service.start.clone(),
                Confirm::None,
                false,
            );
            add(
                Action::SwitchTraffic,
                format!("move clients to {new}"),
                traffic.clone(),
                Confirm::None,
                false,
            );
            add(
                Action::CheckFrontDoor,
                format!("check that a write through the front door lands on {new}"),
                "POST a marker document to the front URL; find its row in the new main's database"
                    .into(),
                Confirm::None,
                false,
            );
            add(
                Action::DemoteOldMain,
                format!("make {old} a replica of {new}"),
                format!("SQL on {old}: {}", repoint_sql(e.new)),
                Confirm::None,
                false,
            );
            add(
                Action::StartOldMain,
                format!("start OpenKM on {old} (read-only mirror)"),
                oc.service.start.clone(),
                Confirm::None,
                false,
            );
            add(
                Action::ProveDirection,
                format!("prove replication {new} -> {old} with a marker row"),
                format!("a heartbeat row written on {new} must appear on {old}"),
                Confirm::None,
                false,
            );
        }
        FlowKind::Failover => {
            add(
                Action::Assess,
                format!("assess: {old} unreachable, {new} a reachable replica"),
                format!(
                    "probe {old} (SSH, database) and {new}; {new}'s replication threads and last heartbeat"
                ),
                Confirm::None,
                true,
            );
            let how = match &e.cfg.failover.fence_command {
                Some(c) => format!(
                    "if reachable: {}; SQL: {fence_sql}; otherwise run `{}`",
                    oc.service.stop,
                    c.replace("{node}", &old)
                ),
                None => format!(
                    "if reachable: {}; SQL: {fence_sql}; otherwise your typed attestation that {old} is down or isolated",
                    oc.service.stop
                ),
            };
            add(
                Action::FenceOldMain,
                format!("fence {old}: it must never take writes again"),
                how,
                Confirm::TypedNode(old.clone()),
                true,
            );
            add(
                Action::DrainRelay,
                format!("let {new} apply what it has received"),
                "wait until the applied position covers the received one (relay log drained)"
                    .into(),
                Confirm::None,
                true,
            );
            add(
                Action::ShipFiles,
                format!("copy the documents {new} lists but lacks from {old}'s datastore"),
                format!(
                    "{new}'s version rows since its last verified point, its files looked for; \
                     the missing ones pulled from {old} if its SSH answers (never deleting, \
                     never replacing); what cannot be copied is listed"
                ),
                Confirm::None,
                true,
            );
            add(
                Action::Promote,
                format!("promote {new}'s database"),
                format!(
                    "refused while {old} is reachable and writable; SQL on {new}: {promote_sql}"
                ),
                Confirm::TypedNode(new.clone()),
                false,
            );
            add(
                Action::Flags,
                "flip system.readonly".into(),
                format!("on {new}: {}", flag(e.new, false)),
                Confirm::None,
                false,
            );
            add(
                Action::StartNewMain,
                format!("restart OpenKM on {new} (the new main)"),
                format!("{}; {}", nc.service.stop, nc.service.start),
                Confirm::None,
                false,
            );
            add(
                Action::SwitchTraffic,
                format!("move clients to {new}"),
                traffic,
                Confirm::None,
                false,
            );
            add(
                Action::CheckFrontDoor,
                format!("check that a write through the front door lands on {new}"),
                "POST a marker document to the front URL; find its row in the new main's database"
                    .into(),
                Confirm::None,
                false,
            );
            add(
                Action::LossReport,
                "estimate what was lost".into(),
                format!(
                    "{new}'s last heartbeat from {old} before the failure; the documents still \
                     without content on {new}, by name (saved beside the journal)"
                ),
                Confirm::None,
                false,
            );
        }
        FlowKind::Rejoin | FlowKind::Reseed => {
            // A reseed is a rejoin that gives up the node's errant transactions: it saves
            // its binlogs and replaces its database before repointing it.
            let reseed = kind == FlowKind::Reseed;
            add(
                Action::Assess,
                format!("assess: {new} is the main, {old} is back"),
                "both reachable; the main writable".into(),
                Confirm::None,
                true,
            );
            add(
                Action::FenceStale,
                format!("fence {old}: stop its OpenKM, database read-only"),
                format!("on {old}: {}; SQL: {fence_sql}", oc.service.stop),
                Confirm::TypedNode(old.clone()),
                true,
            );
            let (title, outcome) = if reseed {
                (
                    format!("list {old}'s transactions {new} never saw"),
                    "they are kept in the saved binlogs",
                )
            } else {
                (
                    format!("check {old} for transactions {new} never saw"),
                    "any errant transaction stops the rejoin",
                )
            };
            add(
                Action::ErrantCheck,
                title,
                format!("compare {old}'s GTID state with {new}'s; {outcome}"),
                Confirm::None,
                true,
            );
            add(
                Action::Salvage,
                format!("salvage {old}'s files {new} lacks, before anything is deleted"),
                format!(
                    "scan {new} -> {old}; files on {old} that {new}'s rows reference are copied to \
                     {new}; files no row references are moved to {}/quarantine/<time>/ on {old} \
                     with a manifest (SHA-256, document); nothing is deleted",
                    oc.state_dir.display()
                ),
                Confirm::None,
                true,
            );
            if reseed {
                add(
                    Action::SaveBinlogs,
                    format!("save {old}'s binlogs (its own transactions)"),
                    format!(
                        "copy @@log_bin_basename.* to {}/binlogs-<time>/ on {old}",
                        oc.state_dir.display()
                    ),
                    Confirm::None,
                    true,
                );
                add(
                    Action::Reseed,
                    format!("replace {old}'s database with a dump of {new}'s"),
                    format!(
                        "SQL on {old}: {}; then mysqldump --single-transaction (GTID position) of {} and okmirror from {new}, imported out of the binlog",
                        sql::reseed_reset(e.flavour).join("; "),
                        nc.database.schema
                    ),
                    Confirm::TypedNode(old.clone()),
                    true,
                );
            }
            let (repoint, confirm) = if reseed {
                (
                    format!(
                        "SQL on {old}: {} (from the dump's position)",
                        sql::shown(
                            &sql::repoint_from(e.flavour, &source(e.new), "********", false),
                            ""
                        )
                    ),
                    Confirm::None,
                )
            } else {
                (
                    format!("SQL on {old}: {}", repoint_sql(e.new)),
                    Confirm::Yes,
                )
            };
            add(
                Action::Repoint,
                format!("make {old} a replica of {new}"),
                repoint,
                confirm,
                true,
            );
            add(
                Action::CatchUp,
                format!("wait until {old} has applied {new}'s position"),
                "MASTER_GTID_WAIT / WAIT_FOR_EXECUTED_GTID_SET".into(),
                Confirm::None,
                true,
            );
            add(
                Action::SyncFiles,
                format!("sync files {new} -> {old} and verify"),
                "okmirror sync (deletion guard, freeze, SHA-256 verify)".into(),
                Confirm::None,
                true,
            );
            add(
                Action::StartRejoined,
                format!("{old}: system.readonly true, start OpenKM"),
                format!("{}; {}", flag(e.old, true), oc.service.start),
                Confirm::None,
                true,
            );
        }
    }
    steps
}

fn action_id(a: Action) -> String {
    serde_json::to_value(a)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "step".into())
}

/// How traffic moves, in words and commands.
pub fn traffic_detail(cfg: &Config, old: &str, new: &str) -> String {
    let server = |n: &str| {
        cfg.nodes
            .iter()
            .find(|c| c.name == n)
            .map_or_else(|| n.to_string(), crate::config::NodeConfig::haproxy_server)
    };
    let mut parts = Vec::new();
    if cfg.traffic.haproxy_socket.is_some() || cfg.traffic.haproxy_address.is_some() {
        let be = cfg.traffic.haproxy_backend.as_deref().unwrap_or("openkm");
        parts.push(format!(
            "HAProxy runtime API: {}",
            super::haproxy::switch_commands(be, &server(old), &server(new)).join("; ")
        ));
    }
    if let Some(h) = &cfg.traffic.hook {
        parts.push(format!(
            "run `{}`",
            h.replace("{from}", old).replace("{to}", new)
        ));
    }
    if parts.is_empty() {
        "nothing configured ([traffic]): move clients yourself".into()
    } else {
        parts.join("; then ")
    }
}

/// Where node `i`'s database is reached by the other node for replication.
pub fn replication_source(cfg: &Config, i: usize) -> sql::Source {
    let n = &cfg.nodes[i];
    let host = n.database.replication_host.clone().unwrap_or_else(|| {
        if n.database.tunnel {
            n.ssh.host.clone()
        } else {
            n.database.host.clone()
        }
    });
    sql::Source {
        host,
        port: n.database.replication_port.unwrap_or(n.database.port),
        user: cfg
            .replication
            .as_ref()
            .map_or_else(|| "repl".to_string(), |r| r.user.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        crate::config::parse_str(crate::config::EXAMPLE, std::path::Path::new("x.toml")).unwrap()
    }

    #[test]
    fn a_switchover_freezes_before_it_promotes_and_types_the_new_mains_name() {
        let c = cfg();
        let steps = plan(
            FlowKind::Switchover,
            &Ends {
                cfg: &c,
                old: 0,
                new: 1,
                flavour: Flavour::MariaDb,
            },
        );
        let ids: Vec<&str> = steps.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids[0], "01-preflight");
        let pos = |a: Action| steps.iter().position(|s| s.action == a).unwrap();
        assert!(pos(Action::FreezeOldMain) < pos(Action::FinalSync));
        assert!(pos(Action::CatchUp) < pos(Action::Promote));
        assert!(pos(Action::Promote) < pos(Action::SwitchTraffic));
        let promote = &steps[pos(Action::Promote)];
        assert_eq!(promote.confirm, Confirm::TypedNode("dms2".into()));
        assert!(!promote.before_promotion);
        assert!(steps[pos(Action::CatchUp)].before_promotion);
        assert!(
            steps[pos(Action::SwitchTraffic)]
                .detail
                .contains("set server openkm/dms2 state ready")
        );
        // The replication password is never part of what is shown.
        let demote = &steps[pos(Action::DemoteOldMain)].detail;
        assert!(demote.contains("MASTER_PASSWORD='********'"), "{demote}");
    }

    #[test]
    fn a_failover_fences_with_the_old_mains_name_before_promotion() {
        let c = cfg();
        let steps = plan(
            FlowKind::Failover,
            &Ends {
                cfg: &c,
                old: 0,
                new: 1,
                flavour: Flavour::MySql,
            },
        );
        let fence = steps
            .iter()
            .position(|s| s.action == Action::FenceOldMain)
            .unwrap();
        let promote = steps
            .iter()
            .position(|s| s.action == Action::Promote)
            .unwrap();
        assert!(fence < promote);
        assert_eq!(steps[fence].confirm, Confirm::TypedNode("dms1".into()));
        assert!(steps[promote].detail.contains("RESET REPLICA ALL"));
        assert!(steps[fence].detail.contains("typed attestation"));
    }

    #[test]
    fn a_rejoin_checks_errant_transactions_before_repointing() {
        let c = cfg();
        let steps = plan(
            FlowKind::Rejoin,
            &Ends {
                cfg: &c,
                old: 0,
                new: 1,
                flavour: Flavour::MariaDb,
            },
        );
        let p = |a: Action| steps.iter().position(|s| s.action == a).unwrap();
        assert!(p(Action::FenceStale) < p(Action::ErrantCheck));
        assert!(p(Action::ErrantCheck) < p(Action::Repoint));
        assert!(p(Action::Repoint) < p(Action::SyncFiles));
        assert_eq!(FlowKind::from_word("rejoin"), Some(FlowKind::Rejoin));
    }
}
