//! The console's pending view: what a sync would move now, main -> mirror.
//!
//! Where the mirror's last sync verified, OpenKM's version journal names every datastore
//! file created since, and only those are looked for on the mirror: no walk, so the cost
//! follows the new documents, not the datastore (an rsync scan of a million files takes
//! minutes of the main's disk). The journal cannot see the rest of the Tomcat home, nor
//! a file damaged or deleted behind okmirror's back: the rsync scan (`r` in the console,
//! `status --diff`, and every sync's own plan) still sees all of it.

use std::time::{Duration, Instant};

use color_eyre::eyre::{Result, eyre};
use serde::Serialize;

use super::plan::{Plan, PlanTotals};
use super::{Change, ChangeKind, EntryType};
use crate::config::NodeId;
use crate::config::PlanMode;
use crate::db::versions;
use crate::pair::Monitor;
use crate::pair::behind::{self, FilesBehind};
use crate::pair::model::PairStatus;
use crate::pair::roles::PairRoles;

/// How a plan found its changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(tag = "by", rename_all = "lowercase")]
pub enum PlanBasis {
    /// An rsync dry run over the whole Tomcat home.
    #[default]
    Scan,
    /// The version journal since the mirror's last verified sync (`since`, as the
    /// database prints `NDV_CREATED`): datastore files only.
    Journal { since: String },
}

/// One plan for the console's planner to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingJob {
    pub main: NodeId,
    pub mirror: NodeId,
    pub basis: PlanBasis,
}

/// What the console's poller remembers to decide the next pending plan.
#[derive(Debug, Clone, Default)]
pub struct PendingSchedule {
    /// When the last scan was asked for.
    last_scan: Option<Instant>,
    /// A scan asked for by the operator (`r`) or at start-up without a journal point.
    scan_requested: bool,
    /// Until then the operator's scan stays on screen: no journal plan replaces it.
    scan_shown_until: Option<Instant>,
}

impl PendingSchedule {
    /// The operator asked for a scan of the whole tree (`r`).
    pub fn request_scan(&mut self) {
        self.scan_requested = true;
    }

    /// The plan to make after a probe at `now`, if any. `mode` is `[monitor] pending`;
    /// `scan_every` is `diff_interval_secs` (zero: scans only on request).
    pub fn next(
        &mut self,
        status: &PairStatus,
        mode: PlanMode,
        scan_every: Duration,
        now: Instant,
    ) -> Option<PendingJob> {
        let PairRoles::Normal { main, mirror } = status.roles else {
            return None;
        };
        let since = (mode == PlanMode::Journal)
            .then(|| journal_point(status, mirror))
            .flatten();
        let scan_due = match since {
            // With a journal point, scans run only when asked for.
            Some(_) => self.scan_requested,
            None => {
                self.scan_requested
                    || self.last_scan.is_none()
                    || (!scan_every.is_zero()
                        && self.last_scan.is_some_and(|t| now >= t + scan_every))
            }
        };
        if scan_due {
            self.scan_requested = false;
            self.last_scan = Some(now);
            self.scan_shown_until = since.is_some().then(|| now + SCAN_SHOWN.max(scan_every));
            return Some(PendingJob {
                main,
                mirror,
                basis: PlanBasis::Scan,
            });
        }
        let since = since?;
        if self.scan_shown_until.is_some_and(|t| now < t) {
            return None;
        }
        Some(PendingJob {
            main,
            mirror,
            basis: PlanBasis::Journal { since },
        })
    }

    /// The planner was busy and dropped `job`: ask again at the next probe.
    pub fn dropped(&mut self, job: &PendingJob) {
        if job.basis == PlanBasis::Scan {
            self.scan_requested = true;
        }
    }
}

/// How long an operator's scan stays on screen before journal plans resume (at least
/// `diff_interval_secs`).
const SCAN_SHOWN: Duration = Duration::from_secs(300);

/// The journal point the pending view starts from: the mirror's last sync, when it
/// verified (then every older file was checked on both sides).
pub fn journal_point(status: &PairStatus, mirror: NodeId) -> Option<String> {
    let last = status.nodes.get(mirror.index())?.last_sync.as_ref()?;
    if !last.verified {
        return None;
    }
    last.journal_point.clone()
}

/// Makes `job`'s plan: an rsync scan, or the journal's files the mirror lacks. Either
/// way its datastore files are named by document.
pub async fn plan(monitor: &Monitor, job: &PendingJob) -> Result<Plan> {
    let mut p = match &job.basis {
        PlanBasis::Scan => super::scan::plan_pair(monitor, job.main, job.mirror).await?,
        PlanBasis::Journal { since } => journal_plan(monitor, job.main, job.mirror, since).await?,
    };
    super::plan::name_plan(monitor, job.main, &mut p).await;
    Ok(p)
}

/// The datastore files of versions created since `since` that the mirror lacks, as a
/// plan of new files (read from the mirror's replicated version rows).
async fn journal_plan(
    monitor: &Monitor,
    main: NodeId,
    mirror: NodeId,
    since: &str,
) -> Result<Plan> {
    let began = Instant::now();
    let cfg = &monitor.nodes[main].cfg;
    let prefix =
        versions::datastore_prefix(&cfg.openkm_home, &cfg.datastore_path()).ok_or_else(|| {
            eyre!(
                "{}'s datastore ({}) is not inside its Tomcat home ({}): the journal cannot \
                 name its files; set [monitor] pending = \"scan\"",
                cfg.name,
                cfg.datastore_path().display(),
                cfg.openkm_home.display()
            )
        })?;
    let found = behind::measure(monitor, mirror, Some(since)).await?;
    let names = (cfg.name.clone(), monitor.nodes[mirror].cfg.name.clone());
    Ok(plan_of_missing(
        names,
        &prefix,
        since,
        found,
        began.elapsed(),
    ))
}

/// The plan for the versions the mirror lacks: one new file each, under `prefix` (the
/// datastore relative to the Tomcat home). Pure.
pub fn plan_of_missing(
    (source, target): (String, String),
    prefix: &str,
    since: &str,
    found: FilesBehind,
    took: Duration,
) -> Plan {
    let mut totals = PlanTotals::default();
    let mut changes = Vec::with_capacity(found.missing.len());
    let mut documents = std::collections::HashMap::new();
    for row in found.missing {
        let Some(file) = versions::datastore_file(&row.uuid) else {
            continue;
        };
        let change = Change {
            kind: ChangeKind::New,
            entry: EntryType::File,
            path: format!("{prefix}/{file}"),
            size: row.size,
        };
        totals.add(&change);
        changes.push(change);
        documents.insert(row.uuid, row.document);
    }
    let warnings = if found.truncated {
        vec![format!(
            "the journal view looked at the first {} versions only; press r for a full scan",
            found.rows_checked
        )]
    } else {
        Vec::new()
    };
    Plan {
        source,
        target,
        changes,
        dirs: Vec::new(),
        totals,
        warnings,
        took_ms: took.as_millis(),
        documents,
        basis: PlanBasis::Journal {
            since: since.to_string(),
        },
        datastore_listed: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NodeId;

    const A: NodeId = NodeId::First;
    const B: NodeId = NodeId::Second;
    use crate::pair::behind::VersionRow;
    use crate::pair::model::{Lag, LastSync, NodeStatus, Severity};
    use crate::pair::roles::Role;

    const POINT: &str = "2026-12-03 10:00:00.000000";

    fn node(name: &str, role: Role, last_sync: Option<LastSync>) -> NodeStatus {
        NodeStatus {
            name: name.into(),
            host: name.into(),
            role,
            ssh_rtt_ms: None,
            ssh_error: None,
            facts: None,
            db: None,
            db_error: None,
            last_sync,
            last_sync_error: None,
        }
    }

    fn synced(verified: bool) -> LastSync {
        LastSync {
            finished_at: 0,
            source: "dms1".into(),
            target: "dms2".into(),
            files: 0,
            bytes: 0,
            duration_ms: 0,
            main_downtime_ms: 0,
            verified,
            journal_point: Some(POINT.into()),
        }
    }

    /// dms1 the main, dms2 its mirror with `last` as its last sync.
    fn pair(last: Option<LastSync>) -> PairStatus {
        PairStatus {
            pair: "p".into(),
            taken_at: 0,
            nodes: vec![
                node("dms1", Role::Main, None),
                node("dms2", Role::Mirror, last),
            ],
            roles: PairRoles::Normal { main: A, mirror: B },
            lag: Lag::default(),
            pending: None,
            pending_error: None,
            files_behind: None,
            alerts: Vec::new(),
            severity: Severity::Ok,
        }
    }

    fn journal() -> PlanBasis {
        PlanBasis::Journal {
            since: POINT.into(),
        }
    }

    const EVERY: Duration = Duration::from_secs(300);

    fn basis(
        s: &mut PendingSchedule,
        p: &PairStatus,
        mode: PlanMode,
        t: Instant,
    ) -> Option<PlanBasis> {
        s.next(p, mode, EVERY, t).map(|j| j.basis)
    }

    #[test]
    fn a_verified_sync_gives_a_journal_view_at_every_probe_and_no_scan() {
        let p = pair(Some(synced(true)));
        let mut s = PendingSchedule::default();
        let t0 = Instant::now();
        for k in 0..5 {
            let t = t0 + EVERY * k;
            assert_eq!(basis(&mut s, &p, PlanMode::Journal, t), Some(journal()));
        }
    }

    #[test]
    fn without_a_verified_sync_the_view_scans_at_start_and_by_the_timer() {
        let t0 = Instant::now();
        for last in [None, Some(synced(false))] {
            let p = pair(last);
            let mut s = PendingSchedule::default();
            assert_eq!(
                basis(&mut s, &p, PlanMode::Journal, t0),
                Some(PlanBasis::Scan)
            );
            let soon = t0 + Duration::from_secs(10);
            assert_eq!(basis(&mut s, &p, PlanMode::Journal, soon), None);
            assert_eq!(
                basis(&mut s, &p, PlanMode::Journal, t0 + EVERY),
                Some(PlanBasis::Scan)
            );
        }
    }

    #[test]
    fn scan_mode_never_reads_the_journal() {
        let p = pair(Some(synced(true)));
        let mut s = PendingSchedule::default();
        let t0 = Instant::now();
        assert_eq!(basis(&mut s, &p, PlanMode::Scan, t0), Some(PlanBasis::Scan));
        assert_eq!(
            basis(&mut s, &p, PlanMode::Scan, t0 + Duration::from_secs(2)),
            None
        );
    }

    #[test]
    fn an_operators_scan_stays_on_screen_then_the_journal_resumes() {
        let p = pair(Some(synced(true)));
        let mut s = PendingSchedule::default();
        let t0 = Instant::now();
        s.request_scan();
        assert_eq!(
            basis(&mut s, &p, PlanMode::Journal, t0),
            Some(PlanBasis::Scan)
        );
        let later = t0 + Duration::from_secs(60);
        assert_eq!(basis(&mut s, &p, PlanMode::Journal, later), None);
        assert_eq!(
            basis(&mut s, &p, PlanMode::Journal, t0 + EVERY),
            Some(journal())
        );
    }

    #[test]
    fn a_scan_the_busy_planner_dropped_is_asked_again() {
        let p = pair(Some(synced(true)));
        let mut s = PendingSchedule::default();
        let t0 = Instant::now();
        s.request_scan();
        let job = s.next(&p, PlanMode::Journal, EVERY, t0).expect("a scan");
        s.dropped(&job);
        let next = t0 + Duration::from_secs(2);
        assert_eq!(
            basis(&mut s, &p, PlanMode::Journal, next),
            Some(PlanBasis::Scan)
        );
    }

    #[test]
    fn no_plan_without_a_main_and_a_mirror() {
        let mut p = pair(Some(synced(true)));
        p.roles = PairRoles::SplitBrain;
        let mut s = PendingSchedule::default();
        assert_eq!(basis(&mut s, &p, PlanMode::Journal, Instant::now()), None);
    }

    #[test]
    fn missing_versions_become_new_files_named_by_document() {
        let uuid = "3f2a9c1e-0b7d-4e55-9a61-2c8f0d4b7e10";
        let row = |uuid: &str, size| VersionRow {
            uuid: uuid.into(),
            created: POINT.into(),
            size,
            document: "/okm:root/a.pdf".into(),
            age_secs: 1.0,
        };
        let found = FilesBehind {
            missing: vec![row(uuid, 2048), row("not-a-uuid", 5)],
            rows_checked: 7,
            since: Some(POINT.into()),
            truncated: true,
        };
        let names = ("dms1".to_string(), "dms2".to_string());
        let plan = plan_of_missing(names, "repository/datastore", POINT, found, Duration::ZERO);
        assert_eq!(plan.changes.len(), 1);
        let c = &plan.changes[0];
        assert_eq!(c.path, format!("repository/datastore/3f/2a/9c/1e/{uuid}"));
        assert_eq!((c.kind, c.size), (ChangeKind::New, 2048));
        assert_eq!((plan.totals.new_files, plan.totals.new_bytes), (1, 2048));
        assert_eq!(plan.document_of(&c.path), Some("/okm:root/a.pdf"));
        assert_eq!(plan.basis, journal());
        assert!(
            plan.warnings[0].contains("first 7 versions"),
            "{:?}",
            plan.warnings
        );
    }
}
