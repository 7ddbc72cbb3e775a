//! Turning a snapshot into alerts and one severity: the rules an admin would apply.

use super::model::{Alert, PairStatus, Severity};
use super::roles::{PairRoles, Role};
use crate::config::MonitorConfig;
use crate::db::replica::ThreadState;

/// All alerts for a snapshot, worst first; the overall severity is the first one's.
pub fn evaluate(s: &PairStatus, m: &MonitorConfig, now: u64) -> Vec<Alert> {
    let mut out = Vec::new();
    let mut push = |severity, node: Option<&str>, message: String| {
        out.push(Alert {
            severity,
            node: node.map(str::to_string),
            message,
        })
    };
    use Severity::*;
    match &s.roles {
        PairRoles::SplitBrain => push(
            Critical,
            None,
            "SPLIT BRAIN: both databases are writable; only one node may take writes".into(),
        ),
        PairRoles::NoneWritable => push(
            Critical,
            None,
            "no node is writable: OpenKM cannot take writes anywhere".into(),
        ),
        PairRoles::Unknown => push(Critical, None, "roles unknown: no database answers".into()),
        PairRoles::Partial { role, .. } => push(
            Critical,
            None,
            format!(
                "only one node's database answers (it is {}); the other node is down or unreachable",
                if *role == Role::Main {
                    "the main"
                } else {
                    "a read-only mirror"
                }
            ),
        ),
        PairRoles::Normal { .. } => {}
    }
    for n in &s.nodes {
        let name = Some(n.name.as_str());
        // The mirror's OpenKM being down matters less than the main's.
        let service_sev = if n.role == Role::Mirror {
            Warning
        } else {
            Critical
        };
        if let Some(e) = &n.ssh_error {
            push(Critical, name, format!("SSH: {e}"));
        }
        if let Some(e) = &n.db_error {
            push(Critical, name, format!("database: {e}"));
        }
        if let Some(f) = &n.facts {
            if f.service_running == Some(false) {
                push(
                    service_sev,
                    name,
                    format!("OpenKM service is not running ({})", f.service_output),
                );
            }
            match f.http {
                Some((200, _)) => {}
                Some((0, _)) => push(service_sev, name, "OpenKM HTTP: no answer".into()),
                Some((code, _)) => push(service_sev, name, format!("OpenKM HTTP: status {code}")),
                None => push(
                    Warning,
                    name,
                    "OpenKM HTTP: curl is not installed on the node".into(),
                ),
            }
            if f.datastore_missing {
                push(Critical, name, "datastore folder is missing".into());
            }
            if let (Some(total), Some(free)) = (f.disk_total, f.disk_free)
                && total > 0
            {
                let pct = free as f64 * 100.0 / total as f64;
                if pct < m.disk_free_warning_percent / 2.0 {
                    push(Critical, name, format!("datastore disk {pct:.1}% free"));
                } else if pct < m.disk_free_warning_percent {
                    push(Warning, name, format!("datastore disk {pct:.1}% free"));
                }
            }
        }
        if let Some(db) = &n.db {
            match (n.role, db.system_readonly) {
                (Role::Main, Some(true)) => push(
                    Critical,
                    name,
                    "main's OKM_CONFIG system.readonly is true: OpenKM refuses writes after a restart"
                        .into(),
                ),
                (Role::Mirror, Some(false) | None) => push(
                    Warning,
                    name,
                    "mirror's OKM_CONFIG system.readonly is not true: its OpenKM would take writes \
                     after a restart"
                        .into(),
                ),
                _ => {}
            }
            if n.role == Role::Mirror {
                match &db.replica {
                    None => push(
                        Critical,
                        name,
                        "mirror is not replicating (no replica configured)".into(),
                    ),
                    Some(r) => {
                        if r.io != ThreadState::Yes {
                            let why = r
                                .last_io_error
                                .clone()
                                .unwrap_or_else(|| r.io_state.clone());
                            push(
                                Critical,
                                name,
                                format!("replication IO thread {}: {why}", r.io.word()),
                            );
                        }
                        if r.sql != ThreadState::Yes {
                            let why = r
                                .last_sql_error
                                .as_ref()
                                .map_or(String::new(), |e| format!(": {e}"));
                            push(
                                Critical,
                                name,
                                format!("replication SQL thread {}{why}", r.sql.word()),
                            );
                        }
                    }
                }
            }
        }
    }
    if let (Some(main), Some(mirror)) = (s.main(), s.mirror()) {
        let uuid =
            |n: &super::model::NodeStatus| n.facts.as_ref().and_then(|f| f.repository_uuid.clone());
        if let (Some(a), Some(b)) = (uuid(main), uuid(mirror))
            && a != b
        {
            push(
                Critical,
                None,
                format!(
                    "repository UUIDs differ ({} {a}, {} {b}): the mirror is not a clone",
                    main.name, mirror.name
                ),
            );
        }
        match &mirror.last_sync {
            None if mirror.last_sync_error.is_none() => push(
                Warning,
                Some(&mirror.name),
                "no sync has ever been recorded".into(),
            ),
            Some(ls) => {
                let hours = now.saturating_sub(ls.finished_at) as f64 / 3600.0;
                if hours > m.last_sync_warning_hours {
                    push(
                        Warning,
                        Some(&mirror.name),
                        format!("last sync is {hours:.1} h old"),
                    );
                }
                if !ls.verified {
                    push(
                        Warning,
                        Some(&mirror.name),
                        "last sync was not verified".into(),
                    );
                }
            }
            None => {}
        }
        if let Some(e) = &mirror.last_sync_error {
            push(
                Warning,
                Some(&mirror.name),
                format!("last-sync record unreadable: {e}"),
            );
        }
    }
    if let Some(lag) = s.lag.heartbeat_secs {
        if lag >= m.lag_critical_secs {
            push(
                Critical,
                None,
                format!(
                    "replication lag {lag:.1} s (critical at {} s)",
                    m.lag_critical_secs
                ),
            );
        } else if lag >= m.lag_warning_secs {
            push(
                Warning,
                None,
                format!(
                    "replication lag {lag:.1} s (warning at {} s)",
                    m.lag_warning_secs
                ),
            );
        }
    }
    if let Some(fb) = &s.files_behind {
        files_behind_alerts(fb, m, &mut push);
    }
    if s.lag.writer_stalled {
        push(
            Warning,
            None,
            "heartbeat writer stalled: the main's sequence stopped moving".into(),
        );
    }
    if let Some(e) = &s.pending_error {
        push(Warning, None, format!("pending diffs: {e}"));
    }
    for n in &s.nodes {
        if let Some(m) = agent_mismatch(n) {
            push(Warning, Some(n.name.as_str()), m);
        }
    }
    out.sort_by_key(|a| std::cmp::Reverse(a.severity));
    out
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
    use crate::pair::model::{FilesBehindStatus, NodeStatus};
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
}
