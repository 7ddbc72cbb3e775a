//! Turning a snapshot into alerts and one severity: the rules an admin would apply.

use super::model::{Alert, NodeStatus, PairStatus, Severity};
use super::roles::{PairRoles, Role};
use crate::config::MonitorConfig;
use crate::db::replica::ThreadState;
use Severity::{Critical, Warning};

/// A health rule: the alerts one aspect of a snapshot raises, in the order it finds them.
type Rule = fn(&PairStatus, &MonitorConfig, u64) -> Vec<Alert>;

/// A rule about one node.
type NodeRule = fn(&NodeStatus, &MonitorConfig) -> Vec<Alert>;

/// The pair's rules, in the order their alerts are listed (the sort by severity keeps
/// that order among equals, and faces and snapshots rely on it).
const RULES: &[Rule] = &[
    roles_rule,
    nodes_rule,
    clone_rule,
    last_sync_rule,
    lag_rule,
    files_behind_rule,
    writer_rule,
    pending_rule,
    agents_rule,
];

/// Each node's rules, in order; applied node after node.
const NODE_RULES: &[NodeRule] = &[
    reach_rule,
    service_rule,
    http_rule,
    datastore_rule,
    disk_rule,
    readonly_flag_rule,
    replication_rule,
];

/// All alerts for a snapshot, worst first; the overall severity is the first one's.
pub fn evaluate(s: &PairStatus, m: &MonitorConfig, now: u64) -> Vec<Alert> {
    let mut out: Vec<Alert> = RULES.iter().flat_map(|rule| rule(s, m, now)).collect();
    out.sort_by_key(|a| std::cmp::Reverse(a.severity));
    out
}

fn alert(severity: Severity, node: Option<&str>, message: String) -> Alert {
    Alert {
        severity,
        node: node.map(str::to_string),
        message,
    }
}

/// Anything but one main and one mirror is critical.
fn roles_rule(s: &PairStatus, _: &MonitorConfig, _: u64) -> Vec<Alert> {
    let message = match &s.roles {
        PairRoles::SplitBrain => {
            "SPLIT BRAIN: both databases are writable; only one node may take writes".into()
        }
        PairRoles::NoneWritable => "no node is writable: OpenKM cannot take writes anywhere".into(),
        PairRoles::Unknown => "roles unknown: no database answers".into(),
        PairRoles::Partial { role, .. } => format!(
            "only one node's database answers (it is {}); the other node is down or unreachable",
            if *role == Role::Main {
                "the main"
            } else {
                "a read-only mirror"
            }
        ),
        PairRoles::Normal { .. } => return Vec::new(),
    };
    vec![alert(Critical, None, message)]
}

/// Every node's rules, node after node.
fn nodes_rule(s: &PairStatus, m: &MonitorConfig, _: u64) -> Vec<Alert> {
    s.nodes
        .iter()
        .flat_map(|n| NODE_RULES.iter().flat_map(move |rule| rule(n, m)))
        .collect()
}

/// The mirror's OpenKM being down matters less than the main's.
fn service_severity(n: &NodeStatus) -> Severity {
    if n.role == Role::Mirror {
        Warning
    } else {
        Critical
    }
}

/// The node's SSH and database errors.
fn reach_rule(n: &NodeStatus, _: &MonitorConfig) -> Vec<Alert> {
    let name = Some(n.name.as_str());
    let ssh = n
        .ssh_error
        .as_ref()
        .map(|e| alert(Critical, name, format!("SSH: {e}")));
    let db = n
        .db_error
        .as_ref()
        .map(|e| alert(Critical, name, format!("database: {e}")));
    ssh.into_iter().chain(db).collect()
}

/// OpenKM's service stopped.
fn service_rule(n: &NodeStatus, _: &MonitorConfig) -> Vec<Alert> {
    let Some(f) = n
        .facts
        .as_ref()
        .filter(|f| f.service_running == Some(false))
    else {
        return Vec::new();
    };
    vec![alert(
        service_severity(n),
        Some(&n.name),
        format!("OpenKM service is not running ({})", f.service_output),
    )]
}

/// OpenKM's HTTP answer (or that it cannot be asked).
fn http_rule(n: &NodeStatus, _: &MonitorConfig) -> Vec<Alert> {
    let Some(f) = &n.facts else {
        return Vec::new();
    };
    let (name, sev) = (Some(n.name.as_str()), service_severity(n));
    match f.http {
        Some((200, _)) => Vec::new(),
        Some((0, _)) => vec![alert(sev, name, "OpenKM HTTP: no answer".into())],
        Some((code, _)) => vec![alert(sev, name, format!("OpenKM HTTP: status {code}"))],
        None => vec![alert(
            Warning,
            name,
            "OpenKM HTTP: curl is not installed on the node".into(),
        )],
    }
}

/// The datastore folder is gone.
fn datastore_rule(n: &NodeStatus, _: &MonitorConfig) -> Vec<Alert> {
    if !n.facts.as_ref().is_some_and(|f| f.datastore_missing) {
        return Vec::new();
    }
    vec![alert(
        Critical,
        Some(&n.name),
        "datastore folder is missing".into(),
    )]
}

/// The datastore's disk: a warning under the threshold, critical under half of it.
fn disk_rule(n: &NodeStatus, m: &MonitorConfig) -> Vec<Alert> {
    let Some((total, free)) = n
        .facts
        .as_ref()
        .and_then(|f| f.disk_total.zip(f.disk_free))
        .filter(|(total, _)| *total > 0)
    else {
        return Vec::new();
    };
    let pct = free as f64 * 100.0 / total as f64;
    let severity = if pct < m.disk_free_warning_percent / 2.0 {
        Critical
    } else if pct < m.disk_free_warning_percent {
        Warning
    } else {
        return Vec::new();
    };
    vec![alert(
        severity,
        Some(&n.name),
        format!("datastore disk {pct:.1}% free"),
    )]
}

/// OpenKM's own `system.readonly` must match the node's role, or a restart changes
/// what it takes.
fn readonly_flag_rule(n: &NodeStatus, _: &MonitorConfig) -> Vec<Alert> {
    let Some(db) = &n.db else {
        return Vec::new();
    };
    let name = Some(n.name.as_str());
    match (n.role, db.system_readonly) {
        (Role::Main, Some(true)) => vec![alert(
            Critical,
            name,
            "main's OKM_CONFIG system.readonly is true: OpenKM refuses writes after a restart"
                .into(),
        )],
        (Role::Mirror, Some(false) | None) => vec![alert(
            Warning,
            name,
            "mirror's OKM_CONFIG system.readonly is not true: its OpenKM would take writes \
             after a restart"
                .into(),
        )],
        _ => Vec::new(),
    }
}

/// The mirror must replicate, both threads running.
fn replication_rule(n: &NodeStatus, _: &MonitorConfig) -> Vec<Alert> {
    let Some(db) = n.db.as_ref().filter(|_| n.role == Role::Mirror) else {
        return Vec::new();
    };
    let name = Some(n.name.as_str());
    let Some(r) = &db.replica else {
        return vec![alert(
            Critical,
            name,
            "mirror is not replicating (no replica configured)".into(),
        )];
    };
    let mut out = Vec::new();
    if r.io != ThreadState::Yes {
        let why = r
            .last_io_error
            .clone()
            .unwrap_or_else(|| r.io_state.clone());
        out.push(alert(
            Critical,
            name,
            format!("replication IO thread {}: {why}", r.io.word()),
        ));
    }
    if r.sql != ThreadState::Yes {
        let why = r
            .last_sql_error
            .as_ref()
            .map_or(String::new(), |e| format!(": {e}"));
        out.push(alert(
            Critical,
            name,
            format!("replication SQL thread {}{why}", r.sql.word()),
        ));
    }
    out
}

/// The mirror is a clone of the main: their repository UUIDs are the same.
fn clone_rule(s: &PairStatus, _: &MonitorConfig, _: u64) -> Vec<Alert> {
    let (Some(main), Some(mirror)) = (s.main(), s.mirror()) else {
        return Vec::new();
    };
    let uuid = |n: &NodeStatus| n.facts.as_ref().and_then(|f| f.repository_uuid.clone());
    match (uuid(main), uuid(mirror)) {
        (Some(a), Some(b)) if a != b => vec![alert(
            Critical,
            None,
            format!(
                "repository UUIDs differ ({} {a}, {} {b}): the mirror is not a clone",
                main.name, mirror.name
            ),
        )],
        _ => Vec::new(),
    }
}

/// The mirror's last-sync record: there, recent, verified and readable.
fn last_sync_rule(s: &PairStatus, m: &MonitorConfig, now: u64) -> Vec<Alert> {
    let (Some(_), Some(mirror)) = (s.main(), s.mirror()) else {
        return Vec::new();
    };
    let name = Some(mirror.name.as_str());
    let mut out = Vec::new();
    match &mirror.last_sync {
        None if mirror.last_sync_error.is_none() => out.push(alert(
            Warning,
            name,
            "no sync has ever been recorded".into(),
        )),
        Some(ls) => {
            let hours = now.saturating_sub(ls.finished_at) as f64 / 3600.0;
            if hours > m.last_sync_warning_hours {
                out.push(alert(
                    Warning,
                    name,
                    format!("last sync is {hours:.1} h old"),
                ));
            }
            if !ls.verified {
                out.push(alert(Warning, name, "last sync was not verified".into()));
            }
        }
        None => {}
    }
    if let Some(e) = &mirror.last_sync_error {
        out.push(alert(
            Warning,
            name,
            format!("last-sync record unreadable: {e}"),
        ));
    }
    out
}

/// The heartbeat's replication lag by the thresholds.
fn lag_rule(s: &PairStatus, m: &MonitorConfig, _: u64) -> Vec<Alert> {
    let Some(lag) = s.lag.heartbeat_secs else {
        return Vec::new();
    };
    let message = if lag >= m.lag_critical_secs {
        (
            Critical,
            format!(
                "replication lag {lag:.1} s (critical at {} s)",
                m.lag_critical_secs
            ),
        )
    } else if lag >= m.lag_warning_secs {
        (
            Warning,
            format!(
                "replication lag {lag:.1} s (warning at {} s)",
                m.lag_warning_secs
            ),
        )
    } else {
        return Vec::new();
    };
    vec![alert(message.0, None, message.1)]
}

/// Documents whose file the mirror lacks (`files_behind_alerts`).
fn files_behind_rule(s: &PairStatus, m: &MonitorConfig, _: u64) -> Vec<Alert> {
    let mut out = Vec::new();
    if let Some(fb) = &s.files_behind {
        files_behind_alerts(fb, m, &mut |severity, node, message| {
            out.push(alert(severity, node, message))
        });
    }
    out
}

/// The main's heartbeat writer runs but its sequence stopped.
fn writer_rule(s: &PairStatus, _: &MonitorConfig, _: u64) -> Vec<Alert> {
    if !s.lag.writer_stalled {
        return Vec::new();
    }
    vec![alert(
        Warning,
        None,
        "heartbeat writer stalled: the main's sequence stopped moving".into(),
    )]
}

/// The pending diffs could not be planned.
fn pending_rule(s: &PairStatus, _: &MonitorConfig, _: u64) -> Vec<Alert> {
    s.pending_error
        .iter()
        .map(|e| alert(Warning, None, format!("pending diffs: {e}")))
        .collect()
}

/// Agents of another version than this console (`agent_mismatch`), node by node.
fn agents_rule(s: &PairStatus, _: &MonitorConfig, _: u64) -> Vec<Alert> {
    s.nodes
        .iter()
        .filter_map(|n| agent_mismatch(n).map(|m| alert(Warning, Some(n.name.as_str()), m)))
        .collect()
}

/// An agent of another version builds manifests and answers follow differently from
/// this console: say so, with the fix. No agent at all is fine (sha256sum is used).
fn agent_mismatch(n: &super::model::NodeStatus) -> Option<String> {
    let v = n.facts.as_ref()?.agent_version.as_deref()?;
    (v != crate::node::agent::VERSION).then(|| {
        format!(
            "okmirror agent {v} differs from this console's {}; run: okmirror agent install {}",
            crate::node::agent::VERSION,
            n.name
        )
    })
}

/// Files behind: unknown is a warning (never "none"), an old missing file a warning or
/// critical by the thresholds.
fn files_behind_alerts(
    fb: &super::model::FilesBehindStatus,
    m: &MonitorConfig,
    push: &mut impl FnMut(Severity, Option<&str>, String),
) {
    let node = Some(fb.node.as_str());
    if let Some(e) = &fb.error {
        push(
            Severity::Warning,
            node,
            format!("files behind unknown: {e}"),
        );
        return;
    }
    let (Some(age), severity) = (fb.oldest_age_secs, files_behind_severity(fb, m)) else {
        return;
    };
    let limit = match severity {
        Severity::Critical => m.files_behind_critical_secs,
        Severity::Warning => m.files_behind_warning_secs,
        _ => return,
    };
    push(
        severity,
        node,
        format!(
            "{} document{} without content on {} (oldest {}; {} at {limit} s)",
            fb.count,
            if fb.count == 1 { "" } else { "s" },
            fb.node,
            crate::format::duration_secs(age),
            severity.label().to_lowercase()
        ),
    );
}

/// The files behind's severity by the thresholds; unknown is a warning.
pub fn files_behind_severity(fb: &super::model::FilesBehindStatus, m: &MonitorConfig) -> Severity {
    match (&fb.error, fb.oldest_age_secs) {
        (Some(_), _) => Severity::Warning,
        (None, Some(a)) if a >= m.files_behind_critical_secs => Severity::Critical,
        (None, Some(a)) if a >= m.files_behind_warning_secs => Severity::Warning,
        _ => Severity::Ok,
    }
}

/// The overall severity of a list of alerts.
pub fn overall(alerts: &[Alert]) -> Severity {
    alerts
        .iter()
        .map(|a| a.severity)
        .max()
        .unwrap_or(Severity::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NodeId;

    const A: NodeId = NodeId::First;
    const B: NodeId = NodeId::Second;
    use crate::db::replica::ReplicaStatus;
    use crate::db::{DbStatus, Flavour};
    use crate::pair::model::{FilesBehindStatus, Lag, LastSync, NodeStatus};
    use crate::pair::remote::RemoteFacts;

    #[test]
    fn an_agent_of_another_version_is_named_with_its_fix_and_none_is_fine() {
        let node = |agent: Option<&str>| NodeStatus {
            name: "bravo".into(),
            host: "bravo".into(),
            role: Role::Mirror,
            ssh_rtt_ms: None,
            ssh_error: None,
            facts: Some(RemoteFacts {
                agent_version: agent.map(str::to_string),
                ..Default::default()
            }),
            db: None,
            db_error: None,
            last_sync: None,
            last_sync_error: None,
        };
        assert_eq!(agent_mismatch(&node(None)), None);
        assert_eq!(
            agent_mismatch(&node(Some(crate::node::agent::VERSION))),
            None
        );
        assert_eq!(
            agent_mismatch(&node(Some("0.0.1"))).unwrap(),
            format!(
                "okmirror agent 0.0.1 differs from this console's {}; run: okmirror agent install bravo",
                crate::node::agent::VERSION
            )
        );
    }

    #[test]
    fn files_behind_go_warning_then_critical_by_the_oldest_age_and_unknown_is_never_ok() {
        let m = MonitorConfig::default(); // 60 s / 3600 s
        let fb = |age: Option<f64>, error: Option<&str>| FilesBehindStatus {
            node: "bravo".into(),
            count: usize::from(age.is_some()),
            oldest_age_secs: age,
            error: error.map(str::to_string),
            ..Default::default()
        };
        assert_eq!(files_behind_severity(&fb(None, None), &m), Severity::Ok);
        assert_eq!(
            files_behind_severity(&fb(Some(59.0), None), &m),
            Severity::Ok
        );
        assert_eq!(
            files_behind_severity(&fb(Some(61.0), None), &m),
            Severity::Warning
        );
        assert_eq!(
            files_behind_severity(&fb(Some(4000.0), None), &m),
            Severity::Critical
        );
        assert_eq!(
            files_behind_severity(&fb(None, Some("database did not answer")), &m),
            Severity::Warning
        );
        let mut alerts = Vec::new();
        files_behind_alerts(
            &fb(Some(4000.0), None),
            &m,
            &mut |s, n: Option<&str>, msg| alerts.push((s, n.map(str::to_string), msg)),
        );
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].0, Severity::Critical);
        assert!(
            alerts[0]
                .2
                .starts_with("1 document without content on bravo (oldest 1.1 h;"),
            "{}",
            alerts[0].2
        );
    }

    /// One line per alert, in the order `evaluate` lists them.
    fn lines(alerts: &[Alert]) -> Vec<String> {
        alerts
            .iter()
            .map(|a| {
                format!(
                    "{:?} {} {}",
                    a.severity,
                    a.node.as_deref().unwrap_or("-"),
                    a.message
                )
            })
            .collect()
    }

    fn db_status(read_only: bool, replica: Option<ReplicaStatus>) -> DbStatus {
        DbStatus {
            version: "10.11".into(),
            flavour: Flavour::MariaDb,
            server_id: 1,
            read_only,
            super_read_only: None,
            system_readonly: Some(!read_only),
            gtid_binlog: String::new(),
            gtid_applied: String::new(),
            replica,
        }
    }

    fn replica(io: ThreadState, sql: ThreadState) -> ReplicaStatus {
        ReplicaStatus {
            io,
            sql,
            seconds_behind: None,
            source_host: "alpha".into(),
            source_port: None,
            io_state: "Connecting to source".into(),
            sql_state: String::new(),
            last_io_error: None,
            last_sql_error: Some("Duplicate entry".into()),
            gtid_mode: true,
            retrieved_gtid: String::new(),
        }
    }

    fn sick_node(name: &str, role: Role, http: Option<(u16, f64)>, free: u64) -> NodeStatus {
        NodeStatus {
            name: name.into(),
            host: name.into(),
            role,
            ssh_rtt_ms: None,
            ssh_error: Some("timed out".into()),
            facts: Some(RemoteFacts {
                service_running: Some(false),
                service_output: "inactive".into(),
                disk_total: Some(100),
                disk_free: Some(free),
                datastore_missing: true,
                http,
                repository_uuid: Some(format!("uuid-{name}")),
                agent_version: Some("0.0.1".into()),
                ..Default::default()
            }),
            db: None,
            db_error: Some("refused".into()),
            last_sync: None,
            last_sync_error: None,
        }
    }

    fn sick_pair() -> PairStatus {
        let mut main = sick_node("alpha", Role::Main, Some((500, 1.0)), 3);
        main.db = Some(db_status(false, None));
        let mut mirror = sick_node("bravo", Role::Mirror, Some((0, 0.0)), 8);
        mirror.db = Some(db_status(
            true,
            Some(replica(ThreadState::No, ThreadState::No)),
        ));
        mirror.last_sync = Some(LastSync {
            finished_at: 1_000,
            source: "alpha".into(),
            target: "bravo".into(),
            files: 0,
            bytes: 0,
            duration_ms: 0,
            main_downtime_ms: 0,
            verified: false,
            journal_point: None,
        });
        mirror.last_sync_error = Some("bad json".into());
        PairStatus {
            pair: "p".into(),
            taken_at: 0,
            nodes: vec![main, mirror],
            roles: PairRoles::SplitBrain,
            lag: Lag {
                heartbeat_secs: Some(500.0),
                writer_stalled: true,
                ..Lag::default()
            },
            pending: None,
            pending_error: Some("rsync failed".into()),
            files_behind: Some(FilesBehindStatus {
                node: "bravo".into(),
                error: Some("no answer".into()),
                ..Default::default()
            }),
            alerts: Vec::new(),
            severity: Severity::Ok,
        }
    }

    #[test]
    fn every_rule_speaks_in_its_order_worst_first() {
        let m = MonitorConfig::default();
        let got = lines(&evaluate(&sick_pair(), &m, 100_000));
        let agent = |n: &str| {
            format!(
                "Warning {n} okmirror agent 0.0.1 differs from this console's {}; run: okmirror agent install {n}",
                crate::node::agent::VERSION
            )
        };
        let want = [
            "Critical - SPLIT BRAIN: both databases are writable; only one node may take writes",
            "Critical alpha SSH: timed out",
            "Critical alpha database: refused",
            "Critical alpha OpenKM service is not running (inactive)",
            "Critical alpha OpenKM HTTP: status 500",
            "Critical alpha datastore folder is missing",
            "Critical alpha datastore disk 3.0% free",
            "Critical alpha main's OKM_CONFIG system.readonly is true: OpenKM refuses writes after a restart",
            "Critical bravo SSH: timed out",
            "Critical bravo database: refused",
            "Critical bravo datastore folder is missing",
            "Critical bravo replication IO thread stopped: Connecting to source",
            "Critical bravo replication SQL thread stopped: Duplicate entry",
            "Critical - repository UUIDs differ (alpha uuid-alpha, bravo uuid-bravo): the mirror is not a clone",
            "Critical - replication lag 500.0 s (critical at 60 s)",
            "Warning bravo OpenKM service is not running (inactive)",
            "Warning bravo OpenKM HTTP: no answer",
            "Warning bravo datastore disk 8.0% free",
            "Warning bravo mirror's OKM_CONFIG system.readonly is not true: its OpenKM would take writes after a restart",
            "Warning bravo last sync is 27.5 h old",
            "Warning bravo last sync was not verified",
            "Warning bravo last-sync record unreadable: bad json",
            "Warning bravo files behind unknown: no answer",
            "Warning - heartbeat writer stalled: the main's sequence stopped moving",
            "Warning - pending diffs: rsync failed",
        ];
        let mut want: Vec<String> = want.iter().map(|l| l.to_string()).collect();
        want.extend([agent("alpha"), agent("bravo")]);
        assert_eq!(got, want);
    }

    #[test]
    fn the_milder_branches_of_each_rule() {
        let m = MonitorConfig::default();
        let mut s = sick_pair();
        s.roles = PairRoles::Partial {
            known: A,
            role: Role::Mirror,
        };
        for n in &mut s.nodes {
            n.ssh_error = None;
            n.db_error = None;
            n.facts = Some(RemoteFacts {
                service_running: Some(true),
                disk_total: Some(100),
                disk_free: Some(7),
                http: None,
                agent_version: Some(crate::node::agent::VERSION.into()),
                ..Default::default()
            });
            n.last_sync = None;
            n.last_sync_error = None;
        }
        s.nodes[0].db = Some(db_status(false, None));
        s.nodes[0].db.as_mut().unwrap().system_readonly = None;
        s.nodes[1].db = Some(db_status(true, None));
        s.nodes[1].db.as_mut().unwrap().system_readonly = None;
        s.lag = Lag {
            heartbeat_secs: Some(m.lag_warning_secs),
            ..Lag::default()
        };
        s.pending_error = None;
        s.files_behind = Some(FilesBehindStatus {
            node: "bravo".into(),
            count: 2,
            oldest_age_secs: Some(m.files_behind_warning_secs + 1.0),
            ..Default::default()
        });
        let got = lines(&evaluate(&s, &m, 0));
        assert_eq!(
            got,
            [
                "Critical - only one node's database answers (it is a read-only mirror); the other node is down or unreachable",
                "Critical bravo mirror is not replicating (no replica configured)",
                "Warning alpha OpenKM HTTP: curl is not installed on the node",
                "Warning alpha datastore disk 7.0% free",
                "Warning bravo OpenKM HTTP: curl is not installed on the node",
                "Warning bravo datastore disk 7.0% free",
                "Warning bravo mirror's OKM_CONFIG system.readonly is not true: its OpenKM would take writes after a restart",
                "Warning bravo no sync has ever been recorded",
                "Warning - replication lag 5.0 s (warning at 5 s)",
                "Warning bravo 2 documents without content on bravo (oldest 1 min; warning at 60 s)",
            ]
        );
        for (roles, first) in [
            (
                PairRoles::NoneWritable,
                "no node is writable: OpenKM cannot take writes anywhere",
            ),
            (PairRoles::Unknown, "roles unknown: no database answers"),
            (
                PairRoles::Partial {
                    known: A,
                    role: Role::Main,
                },
                "only one node's database answers (it is the main); the other node is down or unreachable",
            ),
        ] {
            s.roles = roles;
            assert_eq!(
                lines(&evaluate(&s, &m, 0))[0],
                format!("Critical - {first}")
            );
        }
        s.roles = PairRoles::Normal { main: A, mirror: B };
        s.nodes[1].db = Some(db_status(
            true,
            Some(replica(ThreadState::Yes, ThreadState::Yes)),
        ));
        s.nodes[1].db.as_mut().unwrap().system_readonly = Some(true);
        s.nodes[1].last_sync_error = Some("bad json".into());
        s.lag.heartbeat_secs = Some(0.0);
        s.files_behind = None;
        for n in &mut s.nodes {
            let f = n.facts.as_mut().unwrap();
            (f.http, f.disk_free) = (Some((200, 1.0)), Some(50));
        }
        assert_eq!(
            lines(&evaluate(&s, &m, 0)),
            ["Warning bravo last-sync record unreadable: bad json"]
        );
        s.nodes[1].last_sync_error = None;
        s.nodes[1].last_sync = Some(LastSync {
            finished_at: 3_600,
            source: "alpha".into(),
            target: "bravo".into(),
            files: 0,
            bytes: 0,
            duration_ms: 0,
            main_downtime_ms: 0,
            verified: true,
            journal_point: None,
        });
        assert_eq!(lines(&evaluate(&s, &m, 7_200)), Vec::<String>::new());
    }
}
