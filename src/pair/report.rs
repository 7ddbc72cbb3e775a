//! `PairStatus` as text for people (the `status` table) and for Prometheus' textfile
//! collector. Pure functions, so their output is tested exactly.

use std::fmt::Write;

use super::model::{NodeStatus, PairStatus};
use super::remote::RemoteFacts;
use super::roles::{PairRoles, Role};
use crate::db::replica::ThreadState;
use crate::format;

/// A node's role as a word.
pub fn role_word(r: Role) -> &'static str {
    match r {
        Role::Main => "main",
        Role::Mirror => "mirror",
        Role::SplitBrain => "SPLIT-BRAIN",
        Role::ReadOnly => "read-only",
        Role::Unknown => "unknown",
    }
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// The human table `okmirror status` prints.
pub fn human(s: &PairStatus, now: u64) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "okmirror: pair {} is {}", s.pair, s.severity.label());
    if s.roles == PairRoles::SplitBrain {
        let _ = writeln!(o, "!!! SPLIT BRAIN: both nodes are writable !!!");
    }
    let _ = writeln!(
        o,
        "{:<12} {:<11} {:<10} {:<8} {:<11} {:<9} {:<9} {:<10} DATASTORE",
        "NODE", "ROLE", "SSH", "SERVICE", "HTTP", "DB RO", "SYS.RO", "DISK FREE"
    );
    for n in &s.nodes {
        let _ = writeln!(o, "{}", node_row(n, now));
    }
    let _ = writeln!(o, "replication: {}", replication_line(s));
    let _ = writeln!(o, "last sync:   {}", last_sync_line(s, now));
    let _ = writeln!(o, "pending:     {}", pending_line(s));
    let _ = writeln!(o, "files behind: {}", files_behind_line(s));
    if s.alerts.is_empty() {
        let _ = writeln!(o, "alerts:      none");
    } else {
        let _ = writeln!(o, "alerts:");
        for a in &s.alerts {
            let who = a
                .node
                .as_deref()
                .map(|n| format!("{n}: "))
                .unwrap_or_default();
            let _ = writeln!(o, "  {:<8} {who}{}", a.severity.label(), a.message);
        }
    }
    o
}

fn node_row(n: &NodeStatus, now: u64) -> String {
    let ssh = match (&n.ssh_error, n.ssh_rtt_ms) {
        (Some(_), _) => "DOWN".to_string(),
        (None, Some(ms)) => format!("ok {ms:.0}ms"),
        (None, None) => "ok".into(),
    };
    let f = n.facts.as_ref();
    let service = match f.and_then(|f| f.service_running) {
        Some(true) => "running",
        Some(false) => "STOPPED",
        None => "?",
    };
    let http = match f.and_then(|f| f.http) {
        Some((0, _)) => "no answer".to_string(),
        Some((c, ms)) => format!("{c} {ms:.1}ms"),
        None => "?".into(),
    };
    let (ro, sys) = match &n.db {
        Some(d) => (
            yes_no(d.read_only).to_string(),
            d.system_readonly
                .map_or("missing".into(), |v| v.to_string()),
        ),
        None => ("DOWN".into(), "?".into()),
    };
    let disk = match f.and_then(|f| f.disk_total.zip(f.disk_free)) {
        Some((t, fr)) if t > 0 => format!("{:.1}%", fr as f64 * 100.0 / t as f64),
        _ => "?".into(),
    };
    let ds = f.map_or_else(|| "?".into(), |f| datastore_count(f, now));
    format!(
        "{:<12} {:<11} {:<10} {:<8} {:<11} {:<9} {:<9} {:<10} {}",
        n.name,
        role_word(n.role),
        ssh,
        service,
        http,
        ro,
        sys,
        disk,
        ds
    )
}

/// One line about replication and lag.
pub fn replication_line(s: &PairStatus) -> String {
    let (Some(main), Some(mirror)) = (s.main(), s.mirror()) else {
        if let Some(age) = s.lag.last_beat_age_secs {
            return format!(
                "main unknown; the mirror's last heartbeat is {} old",
                format::duration_secs(age)
            );
        }
        return "unknown (roles are not clear)".into();
    };
    let mut line = format!("{} <- {}", mirror.name, main.name);
    match mirror.db.as_ref().and_then(|d| d.replica.as_ref()) {
        Some(r) => {
            let _ = write!(line, ": IO {}, SQL {}", r.io.word(), r.sql.word());
        }
        None => line.push_str(": not configured"),
    }
    match s.lag.heartbeat_secs {
        Some(l) => {
            let _ = write!(line, ", lag {} (heartbeat)", format::duration_secs(l));
        }
        None => line.push_str(", lag unknown"),
    }
    if let Some(t) = s.lag.transactions_behind {
        let _ = write!(line, ", {t} transactions behind");
    }
    if let Some(n) = &s.lag.note {
        let _ = write!(line, " ({n})");
    }
    line
}

/// One line about the last sync recorded on the mirror.
/// The datastore's files and bytes as the last verify counted them, with the count's
/// age (the console never walks a datastore to count it).
pub fn datastore_count(f: &super::remote::RemoteFacts, now: u64) -> String {
    match (f.datastore_files, f.datastore_bytes, f.datastore_counted_at) {
        _ if f.datastore_missing => "MISSING".into(),
        (Some(files), b, Some(at)) => format!(
            "{files} files{} (verified {} ago)",
            b.map_or(String::new(), |b| format!(", {}", format::bytes(b))),
            format::duration_secs(now.saturating_sub(at) as f64)
        ),
        _ => "not counted yet (each verify counts)".into(),
    }
}

pub fn last_sync_line(s: &PairStatus, now: u64) -> String {
    let Some(mirror) = s.mirror() else {
        return "unknown (no mirror)".into();
    };
    match &mirror.last_sync {
        None => "never".into(),
        Some(l) => format!(
            "{} ago, {} -> {}, {} files, {}, main down {}, {}",
            format::duration_secs(now.saturating_sub(l.finished_at) as f64),
            l.source,
            l.target,
            l.files,
            format::bytes(l.bytes),
            format::duration_secs(l.main_downtime_ms as f64 / 1000.0),
            if l.verified {
                "verified"
            } else {
                "NOT verified"
            }
        ),
    }
}

/// One line about the pending file diffs.
pub fn pending_line(s: &PairStatus) -> String {
    match (&s.pending, &s.pending_error) {
        (Some(t), _) if t.is_empty() => "none: the mirror's files match the main's".into(),
        (Some(t), _) => format!("{}, {} attribute-only", t.summary(), t.attribute_only),
        (None, Some(e)) => format!("unknown ({e})"),
        (None, None) => "not computed".into(),
    }
}

/// One line about the files behind and `okmirror follow`.
pub fn files_behind_line(s: &PairStatus) -> String {
    let Some(fb) = &s.files_behind else {
        return "unknown (no mirror)".into();
    };
    let follow = match (&fb.follow, fb.follow_running) {
        (Some(r), true) => match &r.paused {
            Some(p) => format!("follow paused on {}: {p}", r.host),
            None => format!("follow runs on {} (pid {})", r.host, r.pid),
        },
        (Some(_), false) => "follow stopped".to_string(),
        (None, _) => "follow not running".to_string(),
    };
    match (&fb.error, fb.oldest_age_secs) {
        (Some(e), _) => format!("unknown ({e}); {follow}"),
        (None, None) => format!("none on {}; {follow}", fb.node),
        (None, Some(age)) => format!(
            "{}{} document{} on {} (oldest {}); {follow}",
            if fb.truncated { "at least " } else { "" },
            fb.count,
            if fb.count == 1 { "" } else { "s" },
            fb.node,
            format::duration_secs(age)
        ),
    }
}

/// Prometheus text exposition format (for node_exporter's textfile collector).
pub fn prometheus(s: &PairStatus) -> String {
    let mut o = String::new();
    let pair = esc(&s.pair);
    for family in FAMILIES.iter().flat_map(|families| families(s)) {
        family.write(&mut o, &pair);
    }
    o
}

/// The metric families by topic, in the order they are exported.
const FAMILIES: &[fn(&PairStatus) -> Vec<Family>] = &[
    pair_families,
    node_reach_families,
    node_openkm_families,
    lag_families,
    files_behind_families,
    transactions_families,
    mirror_families,
    pending_families,
];

/// One gauge: its name (after `okmirror_`), its help, and its samples (the labels after
/// `pair`, and the value). A family without samples still has its header.
struct Family {
    name: &'static str,
    help: &'static str,
    samples: Vec<(String, f64)>,
}

impl Family {
    fn new(name: &'static str, help: &'static str, samples: Vec<(String, f64)>) -> Family {
        Family {
            name,
            help,
            samples,
        }
    }

    /// One sample without labels but the pair's.
    fn single(name: &'static str, help: &'static str, v: f64) -> Family {
        Family::new(name, help, vec![(String::new(), v)])
    }

    fn write(&self, o: &mut String, pair: &str) {
        let name = self.name;
        let _ = writeln!(o, "# HELP okmirror_{name} {}", self.help);
        let _ = writeln!(o, "# TYPE okmirror_{name} gauge");
        for (labels, v) in &self.samples {
            let _ = writeln!(o, "okmirror_{name}{{pair=\"{pair}\"{labels}}} {v}");
        }
    }
}

/// One sample per node that has a value, labelled with the node.
fn per_node(s: &PairStatus, f: impl Fn(&NodeStatus) -> Option<f64>) -> Vec<(String, f64)> {
    s.nodes
        .iter()
        .filter_map(|n| f(n).map(|v| (format!(",node=\"{}\"", esc(&n.name)), v)))
        .collect()
}

fn flag(b: bool) -> f64 {
    b as u8 as f64
}

/// The pair's overall state.
fn pair_families(s: &PairStatus) -> Vec<Family> {
    vec![
        Family::single(
            "status",
            "Overall state as a monitoring plugin exit code (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).",
            s.severity.exit_code() as f64,
        ),
        Family::single(
            "split_brain",
            "1 when both databases are writable.",
            flag(s.roles == PairRoles::SplitBrain),
        ),
    ]
}

/// Each node's role, and whether its SSH and database answer (and their flags).
fn node_reach_families(s: &PairStatus) -> Vec<Family> {
    let roles = s
        .nodes
        .iter()
        .map(|n| {
            (
                format!(",node=\"{}\",role=\"{}\"", esc(&n.name), role_word(n.role)),
                1.0,
            )
        })
        .collect();
    vec![
        Family::new("node_role", "1 for the node's detected role.", roles),
        Family::new(
            "ssh_up",
            "1 when the node answers over SSH.",
            per_node(s, |n| Some(flag(n.ssh_error.is_none()))),
        ),
        Family::new(
            "db_up",
            "1 when the node's database answers.",
            per_node(s, |n| Some(flag(n.db.is_some()))),
        ),
        Family::new(
            "db_read_only",
            "The database's read_only flag.",
            per_node(s, |n| n.db.as_ref().map(|d| flag(d.read_only))),
        ),
        Family::new(
            "openkm_system_readonly",
            "OKM_CONFIG system.readonly (missing counts as 0).",
            per_node(s, |n| {
                n.db.as_ref()
                    .map(|d| flag(d.system_readonly.unwrap_or(false)))
            }),
        ),
    ]
}

/// Each node's OpenKM service, HTTP answer, disk and datastore.
fn node_openkm_families(s: &PairStatus) -> Vec<Family> {
    let facts = |f: fn(&RemoteFacts) -> Option<f64>| per_node(s, |n| n.facts.as_ref().and_then(f));
    vec![
        Family::new(
            "openkm_service_up",
            "1 when the service status command succeeds.",
            facts(|f| f.service_running.map(flag)),
        ),
        Family::new(
            "openkm_http_status",
            "HTTP status of the health call (0: no answer).",
            facts(|f| f.http.map(|(c, _)| c as f64)),
        ),
        Family::new(
            "disk_free_bytes",
            "Free bytes on the datastore's filesystem.",
            facts(|f| f.disk_free.map(|v| v as f64)),
        ),
        Family::new(
            "datastore_files",
            "Files in the datastore at the last verify (the console never walks it).",
            facts(|f| f.datastore_files.map(|v| v as f64)),
        ),
        Family::new(
            "datastore_bytes",
            "Bytes in the datastore at the last verify.",
            facts(|f| f.datastore_bytes.map(|v| v as f64)),
        ),
    ]
}

/// The heartbeat's replication lag, when measured.
fn lag_families(s: &PairStatus) -> Vec<Family> {
    s.lag
        .heartbeat_secs
        .map(|l| Family::single("replication_lag_seconds", "Heartbeat replication lag.", l))
        .into_iter()
        .collect()
}

/// Files behind on the mirror and whether follow ships them, when known.
fn files_behind_families(s: &PairStatus) -> Vec<Family> {
    let Some(fb) = s.files_behind.as_ref().filter(|f| f.error.is_none()) else {
        return Vec::new();
    };
    let node = format!(",node=\"{}\"", esc(&fb.node));
    vec![
        Family::new(
            "files_behind",
            "Document versions whose row the mirror has and whose file it lacks.",
            vec![(node.clone(), fb.count as f64)],
        ),
        Family::new(
            "files_behind_oldest_seconds",
            "Age of the oldest document version whose file the mirror lacks (0: none).",
            vec![(node.clone(), fb.oldest_age_secs.unwrap_or(0.0))],
        ),
        Family::new(
            "follow_running",
            "1 when okmirror follow ships files to the mirror.",
            vec![(node, f64::from(u8::from(fb.follow_running)))],
        ),
    ]
}

/// GTID transactions the mirror has yet to apply, when known.
fn transactions_families(s: &PairStatus) -> Vec<Family> {
    s.lag
        .transactions_behind
        .map(|t| {
            Family::single(
                "transactions_behind",
                "GTID transactions the mirror has not applied.",
                t as f64,
            )
        })
        .into_iter()
        .collect()
}

/// The mirror's replication threads and its last sync, when it has them.
fn mirror_families(s: &PairStatus) -> Vec<Family> {
    let Some(m) = s.mirror() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(r) = m.db.as_ref().and_then(|d| d.replica.as_ref()) {
        out.push(Family::new(
            "replication_threads_running",
            "1 when the replica's thread runs.",
            vec![
                (",thread=\"io\"".into(), flag(r.io == ThreadState::Yes)),
                (",thread=\"sql\"".into(), flag(r.sql == ThreadState::Yes)),
            ],
        ));
    }
    if let Some(ls) = &m.last_sync {
        out.push(Family::single(
            "last_sync_timestamp_seconds",
            "When the last sync finished.",
            ls.finished_at as f64,
        ));
    }
    out
}

/// What a sync would change, when planned.
fn pending_families(s: &PairStatus) -> Vec<Family> {
    let Some(t) = &s.pending else {
        return Vec::new();
    };
    vec![
        Family::new(
            "pending_files",
            "Files a sync would change on the mirror.",
            vec![
                (",kind=\"new\"".into(), t.new_files as f64),
                (",kind=\"changed\"".into(), t.changed_files as f64),
                (",kind=\"deleted\"".into(), t.deleted as f64),
            ],
        ),
        Family::single(
            "pending_bytes",
            "Bytes a sync would transfer.",
            t.bytes() as f64,
        ),
    ]
}

fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NodeId;

    const A: NodeId = NodeId::First;
    const B: NodeId = NodeId::Second;
    use crate::db::replica::{ReplicaStatus, ThreadState};
    use crate::db::{DbStatus, Flavour};
    use crate::pair::model::{FilesBehindStatus, Lag, LastSync, PlanTotals, Severity};
    use crate::pair::remote::RemoteFacts;

    fn db(read_only: bool, replica: Option<ReplicaStatus>) -> DbStatus {
        DbStatus {
            version: "10.11".into(),
            flavour: Flavour::MariaDb,
            server_id: 1,
            read_only,
            super_read_only: None,
            system_readonly: read_only.then_some(true),
            gtid_binlog: String::new(),
            gtid_applied: String::new(),
            replica,
        }
    }

    fn node(name: &str, role: Role, facts: RemoteFacts, db: Option<DbStatus>) -> NodeStatus {
        NodeStatus {
            name: name.into(),
            host: name.into(),
            role,
            ssh_rtt_ms: Some(2.0),
            ssh_error: None,
            facts: Some(facts),
            db,
            db_error: None,
            last_sync: None,
            last_sync_error: None,
        }
    }

    /// A pair with every metric family present, and names that need escaping.
    fn full_pair() -> PairStatus {
        let main = node(
            "al\"pha",
            Role::Main,
            RemoteFacts {
                service_running: Some(true),
                disk_free: Some(5_000),
                datastore_files: Some(120),
                datastore_bytes: Some(48_000),
                http: Some((200, 4.0)),
                ..Default::default()
            },
            Some(db(false, None)),
        );
        let replica = ReplicaStatus {
            io: ThreadState::Yes,
            sql: ThreadState::No,
            seconds_behind: None,
            source_host: "alpha".into(),
            source_port: None,
            io_state: String::new(),
            sql_state: String::new(),
            last_io_error: None,
            last_sql_error: None,
            gtid_mode: true,
            retrieved_gtid: String::new(),
        };
        let mut mirror = node(
            "bravo",
            Role::Mirror,
            RemoteFacts {
                service_running: Some(false),
                datastore_files: Some(118),
                ..Default::default()
            },
            Some(db(true, Some(replica))),
        );
        mirror.last_sync = Some(LastSync {
            finished_at: 1_795_900_000,
            source: "al\"pha".into(),
            target: "bravo".into(),
            files: 1,
            bytes: 2,
            duration_ms: 3,
            main_downtime_ms: 4,
            verified: true,
            journal_point: None,
        });
        PairStatus {
            pair: "prod\\1".into(),
            taken_at: 0,
            nodes: vec![main, mirror],
            roles: PairRoles::Normal { main: A, mirror: B },
            lag: Lag {
                heartbeat_secs: Some(0.25),
                transactions_behind: Some(12),
                ..Lag::default()
            },
            pending: Some(PlanTotals {
                new_files: 3,
                new_bytes: 300,
                changed_files: 1,
                changed_bytes: 50,
                deleted: 2,
                ..PlanTotals::default()
            }),
            pending_error: None,
            files_behind: Some(FilesBehindStatus {
                node: "bravo".into(),
                count: 2,
                oldest_age_secs: Some(42.5),
                follow_running: true,
                ..Default::default()
            }),
            alerts: Vec::new(),
            severity: Severity::Warning,
        }
    }

    #[test]
    fn prometheus_text_is_pinned_byte_for_byte() {
        assert_eq!(prometheus(&full_pair()), FULL_TEXT);
    }

    #[test]
    fn prometheus_leaves_out_the_families_it_cannot_know() {
        let mut s = full_pair();
        s.roles = PairRoles::SplitBrain;
        s.severity = Severity::Critical;
        for n in &mut s.nodes {
            n.role = Role::SplitBrain;
            n.facts = None;
            n.db = None;
            n.ssh_error = Some("down".into());
        }
        s.lag = Lag::default();
        s.pending = None;
        s.files_behind.as_mut().unwrap().error = Some("no answer".into());
        assert_eq!(prometheus(&s), BARE_TEXT);
    }

    /// What `full_pair` exports, every family in its order.
    const FULL_TEXT: &str = r#"# HELP okmirror_status Overall state as a monitoring plugin exit code (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).
# TYPE okmirror_status gauge
okmirror_status{pair="prod\\1"} 1
# HELP okmirror_split_brain 1 when both databases are writable.
# TYPE okmirror_split_brain gauge
okmirror_split_brain{pair="prod\\1"} 0
# HELP okmirror_node_role 1 for the node's detected role.
# TYPE okmirror_node_role gauge
okmirror_node_role{pair="prod\\1",node="al\"pha",role="main"} 1
okmirror_node_role{pair="prod\\1",node="bravo",role="mirror"} 1
# HELP okmirror_ssh_up 1 when the node answers over SSH.
# TYPE okmirror_ssh_up gauge
okmirror_ssh_up{pair="prod\\1",node="al\"pha"} 1
okmirror_ssh_up{pair="prod\\1",node="bravo"} 1
# HELP okmirror_db_up 1 when the node's database answers.
# TYPE okmirror_db_up gauge
okmirror_db_up{pair="prod\\1",node="al\"pha"} 1
okmirror_db_up{pair="prod\\1",node="bravo"} 1
# HELP okmirror_db_read_only The database's read_only flag.
# TYPE okmirror_db_read_only gauge
okmirror_db_read_only{pair="prod\\1",node="al\"pha"} 0
okmirror_db_read_only{pair="prod\\1",node="bravo"} 1
# HELP okmirror_openkm_system_readonly OKM_CONFIG system.readonly (missing counts as 0).
# TYPE okmirror_openkm_system_readonly gauge
okmirror_openkm_system_readonly{pair="prod\\1",node="al\"pha"} 0
okmirror_openkm_system_readonly{pair="prod\\1",node="bravo"} 1
# HELP okmirror_openkm_service_up 1 when the service status command succeeds.
# TYPE okmirror_openkm_service_up gauge
okmirror_openkm_service_up{pair="prod\\1",node="al\"pha"} 1
okmirror_openkm_service_up{pair="prod\\1",node="bravo"} 0
# HELP okmirror_openkm_http_status HTTP status of the health call (0: no answer).
# TYPE okmirror_openkm_http_status gauge
okmirror_openkm_http_status{pair="prod\\1",node="al\"pha"} 200
# HELP okmirror_disk_free_bytes Free bytes on the datastore's filesystem.
# TYPE okmirror_disk_free_bytes gauge
okmirror_disk_free_bytes{pair="prod\\1",node="al\"pha"} 5000
# HELP okmirror_datastore_files Files in the datastore at the last verify (the console never walks it).
# TYPE okmirror_datastore_files gauge
okmirror_datastore_files{pair="prod\\1",node="al\"pha"} 120
okmirror_datastore_files{pair="prod\\1",node="bravo"} 118
# HELP okmirror_datastore_bytes Bytes in the datastore at the last verify.
# TYPE okmirror_datastore_bytes gauge
okmirror_datastore_bytes{pair="prod\\1",node="al\"pha"} 48000
# HELP okmirror_replication_lag_seconds Heartbeat replication lag.
# TYPE okmirror_replication_lag_seconds gauge
okmirror_replication_lag_seconds{pair="prod\\1"} 0.25
# HELP okmirror_files_behind Document versions whose row the mirror has and whose file it lacks.
# TYPE okmirror_files_behind gauge
okmirror_files_behind{pair="prod\\1",node="bravo"} 2
# HELP okmirror_files_behind_oldest_seconds Age of the oldest document version whose file the mirror lacks (0: none).
# TYPE okmirror_files_behind_oldest_seconds gauge
okmirror_files_behind_oldest_seconds{pair="prod\\1",node="bravo"} 42.5
# HELP okmirror_follow_running 1 when okmirror follow ships files to the mirror.
# TYPE okmirror_follow_running gauge
okmirror_follow_running{pair="prod\\1",node="bravo"} 1
# HELP okmirror_transactions_behind GTID transactions the mirror has not applied.
# TYPE okmirror_transactions_behind gauge
okmirror_transactions_behind{pair="prod\\1"} 12
# HELP okmirror_replication_threads_running 1 when the replica's thread runs.
# TYPE okmirror_replication_threads_running gauge
okmirror_replication_threads_running{pair="prod\\1",thread="io"} 1
okmirror_replication_threads_running{pair="prod\\1",thread="sql"} 0
# HELP okmirror_last_sync_timestamp_seconds When the last sync finished.
# TYPE okmirror_last_sync_timestamp_seconds gauge
okmirror_last_sync_timestamp_seconds{pair="prod\\1"} 1795900000
# HELP okmirror_pending_files Files a sync would change on the mirror.
# TYPE okmirror_pending_files gauge
okmirror_pending_files{pair="prod\\1",kind="new"} 3
okmirror_pending_files{pair="prod\\1",kind="changed"} 1
okmirror_pending_files{pair="prod\\1",kind="deleted"} 2
# HELP okmirror_pending_bytes Bytes a sync would transfer.
# TYPE okmirror_pending_bytes gauge
okmirror_pending_bytes{pair="prod\\1"} 350
"#;

    /// What a pair that answers nothing exports: the always-there families, empty ones
    /// with their header only.
    const BARE_TEXT: &str = r#"# HELP okmirror_status Overall state as a monitoring plugin exit code (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).
# TYPE okmirror_status gauge
okmirror_status{pair="prod\\1"} 2
# HELP okmirror_split_brain 1 when both databases are writable.
# TYPE okmirror_split_brain gauge
okmirror_split_brain{pair="prod\\1"} 1
# HELP okmirror_node_role 1 for the node's detected role.
# TYPE okmirror_node_role gauge
okmirror_node_role{pair="prod\\1",node="al\"pha",role="SPLIT-BRAIN"} 1
okmirror_node_role{pair="prod\\1",node="bravo",role="SPLIT-BRAIN"} 1
# HELP okmirror_ssh_up 1 when the node answers over SSH.
# TYPE okmirror_ssh_up gauge
okmirror_ssh_up{pair="prod\\1",node="al\"pha"} 0
okmirror_ssh_up{pair="prod\\1",node="bravo"} 0
# HELP okmirror_db_up 1 when the node's database answers.
# TYPE okmirror_db_up gauge
okmirror_db_up{pair="prod\\1",node="al\"pha"} 0
okmirror_db_up{pair="prod\\1",node="bravo"} 0
# HELP okmirror_db_read_only The database's read_only flag.
# TYPE okmirror_db_read_only gauge
# HELP okmirror_openkm_system_readonly OKM_CONFIG system.readonly (missing counts as 0).
# TYPE okmirror_openkm_system_readonly gauge
# HELP okmirror_openkm_service_up 1 when the service status command succeeds.
# TYPE okmirror_openkm_service_up gauge
# HELP okmirror_openkm_http_status HTTP status of the health call (0: no answer).
# TYPE okmirror_openkm_http_status gauge
# HELP okmirror_disk_free_bytes Free bytes on the datastore's filesystem.
# TYPE okmirror_disk_free_bytes gauge
# HELP okmirror_datastore_files Files in the datastore at the last verify (the console never walks it).
# TYPE okmirror_datastore_files gauge
# HELP okmirror_datastore_bytes Bytes in the datastore at the last verify.
# TYPE okmirror_datastore_bytes gauge
"#;
}
