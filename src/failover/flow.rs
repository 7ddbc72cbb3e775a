//! Flows as lists of steps: what each step will do (shown before it acts, and by
//! `--dry-run`), what it needs confirmed, and how long it may take. Pure: no I/O here.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::sql;
use crate::config::{Config, NodeConfig, NodeId};
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
    pub old: NodeId,
    /// The node that becomes the main (for rejoin: the current main).
    pub new: NodeId,
    pub flavour: Flavour,
}

impl Ends<'_> {
    fn name(&self, i: NodeId) -> &str {
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

/// One phase of a flow: adds its steps to the plan.
type Phase = fn(&mut Planner);

/// The steps of `kind` between the ends: its phases, in order.
pub fn plan(kind: FlowKind, e: &Ends) -> Vec<Step> {
    let phases: &[Phase] = match kind {
        FlowKind::Switchover => &[
            switchover_checks,
            switchover_freeze,
            switchover_promote,
            move_clients,
            switchover_demote,
        ],
        FlowKind::Failover => &[
            failover_fence,
            failover_save,
            failover_promote,
            move_clients,
            failover_loss,
        ],
        FlowKind::Rejoin => &[rejoin_fence, rejoin_errant, rejoin_repoint, rejoin_finish],
        // A reseed is a rejoin that gives up the node's errant transactions: it saves its
        // binlogs and replaces its database before repointing it.
        FlowKind::Reseed => &[
            rejoin_fence,
            rejoin_errant,
            reseed_database,
            rejoin_repoint,
            rejoin_finish,
        ],
    };
    let mut p = Planner::new(kind, e);
    for phase in phases {
        phase(&mut p);
    }
    p.steps
}

/// What a plan's phases share: the ends, their names, the SQL they show, and the steps
/// so far (numbered as they are added).
struct Planner<'a> {
    kind: FlowKind,
    e: &'a Ends<'a>,
    old: String,
    new: String,
    oc: &'a NodeConfig,
    nc: &'a NodeConfig,
    /// The limit of every step that is not a copy or a dump.
    short: Duration,
    fence_sql: String,
    promote_sql: String,
    steps: Vec<Step>,
}

impl<'a> Planner<'a> {
    fn new(kind: FlowKind, e: &'a Ends<'a>) -> Planner<'a> {
        Planner {
            kind,
            e,
            old: e.name(e.old).to_string(),
            new: e.name(e.new).to_string(),
            oc: &e.cfg.nodes[e.old],
            nc: &e.cfg.nodes[e.new],
            short: Duration::from_secs(e.cfg.failover.step_timeout_secs.max(10)),
            fence_sql: sql::fence(e.flavour).join("; "),
            promote_sql: sql::promote(e.flavour).join("; "),
            steps: Vec::new(),
        }
    }

    /// Adds a step; its id is its position and action.
    fn add(
        &mut self,
        action: Action,
        title: String,
        detail: String,
        confirm: Confirm,
        before: bool,
    ) {
        self.steps.push(Step {
            id: format!("{:02}-{}", self.steps.len() + 1, action_id(action)),
            action,
            title,
            detail,
            confirm,
            timeout: step_limit(action, self.short),
            before_promotion: before,
        });
    }

    /// The SQL that makes a node a replica of node `to` (password masked).
    fn repoint_sql(&self, to: NodeId) -> String {
        let source = replication_source(self.e.cfg, to);
        sql::shown(&sql::repoint(self.e.flavour, &source, "********"), "")
    }

    /// The SQL that sets node `i`'s `system.readonly` flag.
    fn flag(&self, i: NodeId, readonly: bool) -> String {
        sql::set_system_readonly(&self.e.cfg.nodes[i].database.schema, readonly).join("; ")
    }
}

/// Switchover: the checks, then a copy while the old main is live.
fn switchover_checks(p: &mut Planner) {
    let (old, new) = (p.old.clone(), p.new.clone());
    let f = &p.e.cfg.failover;
    let checks = format!(
        "checks: roles from live writability; {new} replicates and lags under {} s; no errant transactions on {new}; no write transaction open on {old} longer than {} s; room on {new}'s disk for what its datastore lacks; the last sync's age",
        f.max_lag_secs, f.long_transaction_secs
    );
    p.add(
        Action::Preflight,
        format!("preflight: {old} is the main, {new} a healthy mirror"),
        checks,
        Confirm::None,
        true,
    );
    p.add(
        Action::LiveSync,
        format!("copy new files {old} -> {new} while {old} is live"),
        "rsync on the main, pushing to the mirror (without the index)".into(),
        Confirm::None,
        true,
    );
}

/// Switchover: writes stop on the old main, the last files and transactions follow.
fn switchover_freeze(p: &mut Planner) {
    let (old, new) = (p.old.clone(), p.new.clone());
    let freeze = format!(
        "on {old}: {}; on {new}: {}; SQL on {old}: {}",
        p.oc.service.stop, p.nc.service.stop, p.fence_sql
    );
    p.add(
        Action::FreezeOldMain,
        format!("freeze {old}: writes stop here"),
        freeze,
        Confirm::Yes,
        true,
    );
    p.add(
        Action::FinalSync,
        format!("final file sync {old} -> {new}, with the index"),
        "rsync of the whole Tomcat home (excludes kept) while both OpenKMs are stopped".into(),
        Confirm::None,
        true,
    );
    p.add(
        Action::CatchUp,
        format!("wait until {new} has applied {old}'s last transaction"),
        "MASTER_GTID_WAIT(@@gtid_binlog_pos of the old main) / WAIT_FOR_EXECUTED_GTID_SET".into(),
        Confirm::None,
        true,
    );
}

/// Switchover: the new main takes writes, the old one's flag follows.
fn switchover_promote(p: &mut Planner) {
    let (old, new) = (p.old.clone(), p.new.clone());
    let (e_old, e_new) = (p.e.old, p.e.new);
    p.add(
        Action::Promote,
        format!("promote {new}'s database"),
        format!("SQL on {new}: {}", p.promote_sql),
        Confirm::TypedNode(new.clone()),
        false,
    );
    let flags = format!(
        "on {new}: {}; on {old}: {}",
        p.flag(e_new, false),
        p.flag(e_old, true)
    );
    p.add(
        Action::Flags,
        "flip system.readonly".into(),
        flags,
        Confirm::None,
        false,
    );
    p.add(
        Action::StartNewMain,
        format!("start OpenKM on {new} (the new main)"),
        p.nc.service.start.clone(),
        Confirm::None,
        false,
    );
}

/// Switchover and failover: clients move, a write through the front door proves it.
fn move_clients(p: &mut Planner) {
    let new = p.new.clone();
    p.add(
        Action::SwitchTraffic,
        format!("move clients to {new}"),
        traffic_detail(p.e.cfg, &p.old, &new),
        Confirm::None,
        false,
    );
    p.add(
        Action::CheckFrontDoor,
        format!("check that a write through the front door lands on {new}"),
        "POST a marker document to the front URL; find its row in the new main's database".into(),
        Confirm::None,
        false,
    );
}

/// Switchover: the old main becomes the new one's mirror, proven by a marker row.
fn switchover_demote(p: &mut Planner) {
    let (old, new) = (p.old.clone(), p.new.clone());
    let demote = format!("SQL on {old}: {}", p.repoint_sql(p.e.new));
    p.add(
        Action::DemoteOldMain,
        format!("make {old} a replica of {new}"),
        demote,
        Confirm::None,
        false,
    );
    p.add(
        Action::StartOldMain,
        format!("start OpenKM on {old} (read-only mirror)"),
        p.oc.service.start.clone(),
        Confirm::None,
        false,
    );
    p.add(
        Action::ProveDirection,
        format!("prove replication {new} -> {old} with a marker row"),
        format!("a heartbeat row written on {new} must appear on {old}"),
        Confirm::None,
        false,
    );
}

/// Failover: what answers, then the old main fenced (by proof, command or attestation).
fn failover_fence(p: &mut Planner) {
    let (old, new) = (p.old.clone(), p.new.clone());
    p.add(
        Action::Assess,
        format!("assess: {old} unreachable, {new} a reachable replica"),
        format!(
            "probe {old} (SSH, database) and {new}; {new}'s replication threads and last heartbeat"
        ),
        Confirm::None,
        true,
    );
    let (stop, fence_sql) = (&p.oc.service.stop, &p.fence_sql);
    let how = match &p.e.cfg.failover.fence_command {
        Some(c) => format!(
            "if reachable: {stop}; SQL: {fence_sql}; otherwise run `{}`",
            c.replace("{node}", &old)
        ),
        None => format!(
            "if reachable: {stop}; SQL: {fence_sql}; otherwise your typed attestation that {old} is down or isolated"
        ),
    };
    p.add(
        Action::FenceOldMain,
        format!("fence {old}: it must never take writes again"),
        how,
        Confirm::TypedNode(old.clone()),
        true,
    );
}

/// Failover: the new main applies what it received and gets the files it lacks.
fn failover_save(p: &mut Planner) {
    let (old, new) = (p.old.clone(), p.new.clone());
    p.add(
        Action::DrainRelay,
        format!("let {new} apply what it has received"),
        "wait until the applied position covers the received one (relay log drained)".into(),
        Confirm::None,
        true,
    );
    p.add(
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
}

/// Failover: the new main takes writes and restarts to read its flag.
fn failover_promote(p: &mut Planner) {
    let (old, new) = (p.old.clone(), p.new.clone());
    p.add(
        Action::Promote,
        format!("promote {new}'s database"),
        format!(
            "refused while {old} is reachable and writable; SQL on {new}: {}",
            p.promote_sql
        ),
        Confirm::TypedNode(new.clone()),
        false,
    );
    let flag = format!("on {new}: {}", p.flag(p.e.new, false));
    p.add(
        Action::Flags,
        "flip system.readonly".into(),
        flag,
        Confirm::None,
        false,
    );
    p.add(
        Action::StartNewMain,
        format!("restart OpenKM on {new} (the new main)"),
        format!("{}; {}", p.nc.service.stop, p.nc.service.start),
        Confirm::None,
        false,
    );
}

/// Failover: what was lost, estimated.
fn failover_loss(p: &mut Planner) {
    let (old, new) = (p.old.clone(), p.new.clone());
    p.add(
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

/// Rejoin and reseed: the main is checked, the stale former main fenced.
fn rejoin_fence(p: &mut Planner) {
    let (old, new) = (p.old.clone(), p.new.clone());
    p.add(
        Action::Assess,
        format!("assess: {new} is the main, {old} is back"),
        "both reachable; the main writable".into(),
        Confirm::None,
        true,
    );
    let fence = format!("on {old}: {}; SQL: {}", p.oc.service.stop, p.fence_sql);
    p.add(
        Action::FenceStale,
        format!("fence {old}: stop its OpenKM, database read-only"),
        fence,
        Confirm::TypedNode(old.clone()),
        true,
    );
}

/// Rejoin and reseed: the former main's own transactions (which stop a rejoin), then
/// its files the main lacks, saved before anything is deleted.
fn rejoin_errant(p: &mut Planner) {
    let (old, new) = (p.old.clone(), p.new.clone());
    let (title, outcome) = if p.kind == FlowKind::Reseed {
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
    p.add(
        Action::ErrantCheck,
        title,
        format!("compare {old}'s GTID state with {new}'s; {outcome}"),
        Confirm::None,
        true,
    );
    let salvage = format!(
        "scan {new} -> {old}; files on {old} that {new}'s rows reference are copied to \
         {new}; files no row references are moved to {}/quarantine/<time>/ on {old} \
         with a manifest (SHA-256, document); nothing is deleted",
        p.oc.state_dir.display()
    );
    p.add(
        Action::Salvage,
        format!("salvage {old}'s files {new} lacks, before anything is deleted"),
        salvage,
        Confirm::None,
        true,
    );
}

/// Reseed: the former main's binlogs saved, its database replaced by the main's.
fn reseed_database(p: &mut Planner) {
    let (old, new) = (p.old.clone(), p.new.clone());
    let save = format!(
        "copy @@log_bin_basename.* to {}/binlogs-<time>/ on {old}",
        p.oc.state_dir.display()
    );
    p.add(
        Action::SaveBinlogs,
        format!("save {old}'s binlogs (its own transactions)"),
        save,
        Confirm::None,
        true,
    );
    let reseed = format!(
        "SQL on {old}: {}; then mysqldump --single-transaction (GTID position) of {} and okmirror from {new}, imported out of the binlog",
        sql::reseed_reset(p.e.flavour).join("; "),
        p.nc.database.schema
    );
    p.add(
        Action::Reseed,
        format!("replace {old}'s database with a dump of {new}'s"),
        reseed,
        Confirm::TypedNode(old.clone()),
        true,
    );
}

/// Rejoin and reseed: the former main replicates from the main and catches up.
fn rejoin_repoint(p: &mut Planner) {
    let (old, new) = (p.old.clone(), p.new.clone());
    let (repoint, confirm) = if p.kind == FlowKind::Reseed {
        let source = replication_source(p.e.cfg, p.e.new);
        let stmts = sql::repoint_from(p.e.flavour, &source, "********", false);
        (
            format!(
                "SQL on {old}: {} (from the dump's position)",
                sql::shown(&stmts, "")
            ),
            Confirm::None,
        )
    } else {
        (
            format!("SQL on {old}: {}", p.repoint_sql(p.e.new)),
            Confirm::Yes,
        )
    };
    p.add(
        Action::Repoint,
        format!("make {old} a replica of {new}"),
        repoint,
        confirm,
        true,
    );
    p.add(
        Action::CatchUp,
        format!("wait until {old} has applied {new}'s position"),
        "MASTER_GTID_WAIT / WAIT_FOR_EXECUTED_GTID_SET".into(),
        Confirm::None,
        true,
    );
}

/// Rejoin and reseed: files synced and verified, the rejoined node started read-only.
fn rejoin_finish(p: &mut Planner) {
    let (old, new) = (p.old.clone(), p.new.clone());
    p.add(
        Action::SyncFiles,
        format!("sync files {new} -> {old} and verify"),
        "okmirror sync (deletion guard, freeze, SHA-256 verify)".into(),
        Confirm::None,
        true,
    );
    let start = format!("{}; {}", p.flag(p.e.old, true), p.oc.service.start);
    p.add(
        Action::StartRejoined,
        format!("{old}: system.readonly true, start OpenKM"),
        start,
        Confirm::None,
        true,
    );
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
pub fn replication_source(cfg: &Config, i: NodeId) -> sql::Source {
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
    use crate::config::NodeId;

    const A: NodeId = NodeId::First;
    const B: NodeId = NodeId::Second;

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
                old: A,
                new: B,
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
                old: A,
                new: B,
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
                old: A,
                new: B,
                flavour: Flavour::MariaDb,
            },
        );
        let p = |a: Action| steps.iter().position(|s| s.action == a).unwrap();
        assert!(p(Action::FenceStale) < p(Action::ErrantCheck));
        assert!(p(Action::ErrantCheck) < p(Action::Repoint));
        assert!(p(Action::Repoint) < p(Action::SyncFiles));
        assert_eq!(FlowKind::from_word("rejoin"), Some(FlowKind::Rejoin));
    }

    #[test]
    fn a_reseed_saves_the_binlogs_and_replaces_the_database_before_repointing() {
        let c = cfg();
        let steps = plan(
            FlowKind::Reseed,
            &Ends {
                cfg: &c,
                old: B,
                new: A,
                flavour: Flavour::MariaDb,
            },
        );
        let p = |a: Action| steps.iter().position(|s| s.action == a).unwrap();
        assert!(p(Action::ErrantCheck) < p(Action::SaveBinlogs));
        assert!(p(Action::SaveBinlogs) < p(Action::Reseed));
        assert!(p(Action::Reseed) < p(Action::Repoint));
        assert_eq!(
            steps[p(Action::Reseed)].confirm,
            Confirm::TypedNode("dms2".into())
        );
        // The dump carries its position: the repoint needs no second yes.
        assert_eq!(steps[p(Action::Repoint)].confirm, Confirm::None);
        let ids: Vec<&str> = steps.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids[0], "01-assess");
        assert_eq!(ids.last(), Some(&"10-start-rejoined"));
    }
}
