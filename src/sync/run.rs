//! A sync run: plan, guard, bulk pass while the main is live, a short frozen phase (OpenKM
//! stopped: the index's snapshot and the database caught up), the new journal files and
//! the index after the thaw, then SHA-256 verification and the last-sync record. The main
//! is always restarted, whatever fails after the freeze.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use color_eyre::eyre::{Result, eyre};
use serde::Serialize;
use tokio::sync::mpsc;

use super::copy::{self, Copier, bulk_list, is_cancelled, journal_watermark};
pub use super::events::SyncEvent;
use super::events::{Cancelled, is_cancelled_error};
use super::events::{Phase, PhaseKind};
use super::freeze;
use super::guard;
use super::index::Snapshot;
use super::manifest::{self, Mismatch};
use super::plan::{Pass, Plan, PlanTotals, Scope, peer_ssh};
use super::progress::Tracker;
use super::{Change, ChangeKind, EntryType};
use crate::config::{FreezeMode, NodeConfig, NodeId, PlanMode};
use crate::db::versions::{self, Watermark};
use crate::node::files::absent_on;
use crate::node::{NodeSsh, quote};
use crate::pair::Monitor;
use crate::pair::lock::{Lock, LockInfo, dead_here, lock_info_script, parse_lock_info};
use crate::pair::model::{LastSync, PairStatus};

/// The verify's phase: a flow's progress-aware deadline lets it run its length (its cost
/// is the datastores' size, not a stall).
pub const VERIFYING: &str = "verifying: SHA-256 of both datastores";

/// What the operator asked for.
#[derive(Debug, Clone, Default)]
pub struct SyncOptions {
    /// Plan and check only; nothing moves.
    pub dry_run: bool,
    /// The number of deletions the operator confirmed (deletion guard).
    pub allow_deletes: Option<u64>,
    /// Set to true to cancel: the running rsync is stopped by its PID, OpenKM restarted.
    pub cancel: Option<tokio::sync::watch::Receiver<bool>>,
}

/// How a run ended.
#[derive(Debug, Clone, Serialize)]
pub struct SyncReport {
    pub source: String,
    pub target: String,
    pub plan: PlanTotals,
    pub dry_run: bool,
    pub files: u64,
    pub bytes: u64,
    pub duration_ms: u64,
    pub main_downtime_ms: u64,
    pub gtid_position: Option<String>,
    pub verified: bool,
    pub verified_files: u64,
    pub mismatches: Vec<Mismatch>,
    /// Why the deletion guard would refuse this plan (dry runs report it, real runs stop).
    pub refusal: Option<String>,
    /// The operator cancelled: the main was restarted, nothing was verified or recorded.
    pub cancelled: bool,
    /// Files on the main that were created after the consistency point (not mismatches).
    pub newer_than_sync: u64,
    /// Time spent verifying once the final pass ended (part of `duration_ms`), repairs
    /// included. The main's manifest is made while the final pass runs.
    pub verify_ms: u64,
    /// How the bulk pass was planned (a journal plan falls back to a scan when it must).
    pub planned_by: PlanMode,
    /// Datastore files a journal plan's verify found missing, damaged or extra on the
    /// mirror, and copied or deleted.
    pub repaired: u64,
    /// Where the main's downtime went.
    pub downtime_parts: DowntimeParts,
}

/// Where the main's downtime went, in milliseconds, phase by phase, so anyone can see
/// what a freeze costs. The snapshot, the catch-up and the journal point run together:
/// the downtime is the freeze, the longest of those three (or the in-freeze final pass
/// and the two after it), and the thaw, plus the few statements between them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DowntimeParts {
    /// Stopping the main's OpenKM, or making its database read-only.
    pub freeze_ms: u64,
    /// The hard-link snapshot of the main's index (service freeze), taken together with
    /// the catch-up and the journal point.
    pub index_snapshot_ms: u64,
    /// A final pass inside the freeze: only when the journal cannot name the new files
    /// (it is planned by scan then). Otherwise they are copied after the thaw.
    pub final_pass_ms: u64,
    /// The mirror's database catching up (GTID wait, or the dump).
    pub catch_up_ms: u64,
    /// Reading the journal's consistency point.
    pub journal_point_ms: u64,
    /// Giving the main its writes back (OpenKM's start, or read_only off).
    pub thaw_ms: u64,
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

/// A step on a node that answers at once (the preflight, writing the record).
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs a sync (or a dry run) between the nodes, direction from live roles only. The
/// phases in order: roles and locks, preflight, plan (with its guard), then, for a real
/// run, the lock, the bulk pass and the frozen phase, the verify (and repair), and the
/// record. Once the lock is held, every way out releases it and starts the mirror's
/// OpenKM again; the main is always given its writes back by the frozen phase itself.
pub async fn run(
    monitor: Arc<Monitor>,
    opts: SyncOptions,
    events: mpsc::Sender<SyncEvent>,
) -> Result<SyncReport> {
    let started = Instant::now();
    let run = Run::start(&monitor, &opts, &events, started).await?;
    let copier = run.copier();
    // Independent checks, at once: the nodes reach each other, and the source is sound.
    let (reached, checked) = tokio::join!(run.preflight(), run.source_check(&copier));
    reached?;
    let planned = run.plan(&copier, checked?).await?;
    let mut report = run.first_report(&planned);
    if opts.dry_run {
        report.duration_ms = started.elapsed().as_millis() as u64;
        return Ok(report);
    }

    let lock = Lock::take(&run.s_ssh, &run.s_cfg.state_dir.display().to_string()).await?;
    let mut frozen = None;
    let copied = run
        .copy_and_freeze(&copier, &planned, &lock.path, &mut frozen)
        .await;
    let mut moved = match copied {
        Ok(moved) => moved,
        Err(e) => return run.stopped(e, frozen, lock, report).await,
    };
    report.main_downtime_ms = moved.downtime.as_millis() as u64;
    report.downtime_parts = std::mem::take(&mut moved.parts);
    report.gtid_position = Some(std::mem::take(&mut moved.position));

    let verifying = Phase {
        kind: PhaseKind::Verify,
        text: VERIFYING.into(),
    };
    let _ = run.events.send(SyncEvent::Phase(verifying)).await;
    let verify_started = Instant::now();
    let checked = run
        .verify_and_repair(&copier, &mut moved, frozen, &mut report)
        .await;
    let checked = match checked {
        Ok(c) => c,
        Err(e) => {
            lock.release(&run.s_ssh).await;
            return Err(e);
        }
    };
    run.fill_report(&mut report, &moved.tracker, checked, verify_started);
    // The record is the mirror's; the lock the main's: both at once.
    let ((), recorded) = tokio::join!(lock.release(&run.s_ssh), run.record(&report, moved.point));
    recorded?;
    Ok(report)
}

/// What a run's phases share: the pair as probed at the start, the direction it gives,
/// the operator's options and the face's events.
struct Run<'a> {
    monitor: &'a Monitor,
    opts: &'a SyncOptions,
    events: &'a mpsc::Sender<SyncEvent>,
    started: Instant,
    /// The pair after the roles and locks phase (a dead freeze recovered).
    status: PairStatus,
    src: NodeId,
    dst: NodeId,
    s_cfg: NodeConfig,
    d_cfg: NodeConfig,
    s_ssh: Arc<NodeSsh>,
    d_ssh: Arc<NodeSsh>,
}

/// The plan phase's outcome.
struct Planned {
    plan: Plan,
    planned_by: PlanMode,
    /// The journal's watermark before the plan's scan (the final pass's start).
    watermark: Option<Watermark>,
    /// Why the deletion guard would refuse the plan (only a dry run gets this far).
    refusal: Option<String>,
}

/// What the bulk pass and the frozen phase leave for the verify and the report.
struct Moved {
    tracker: Tracker,
    /// How long the main took no writes.
    downtime: Duration,
    parts: DowntimeParts,
    /// The mirror database's position after the catch-up (its GTID, or "dump").
    position: String,
    /// The journal's consistency point: versions newer than it are the next sync's.
    point: Option<Watermark>,
    /// The main's manifest for the verify, made while the final pass ran.
    main_manifest: Option<Result<NodeManifest>>,
}

/// The pair's consistency point, reached in the freeze.
struct Consistent {
    /// The mirror database's position after the catch-up (its GTID, or "dump").
    position: String,
    /// The journal's consistency point: versions newer than it are the next sync's.
    point: Option<Watermark>,
    /// What is copied after the thaw: the versions since this watermark, and the index
    /// snapshot (service freeze). `None` when the final pass ran in the freeze.
    deferred: Option<(Watermark, Option<Snapshot>)>,
}

/// A step's outcome and how long it took, in milliseconds.
async fn timed<T>(step: impl std::future::Future<Output = T>) -> (T, u64) {
    let began = Instant::now();
    let out = step.await;
    (out, ms(began.elapsed()))
}

/// Sends a phase to the face.
async fn send_phase(events: &mpsc::Sender<SyncEvent>, s: &str) {
    let _ = events.send(SyncEvent::phase(s)).await;
}

impl<'a> Run<'a> {
    /// Roles and locks: the lock folders and the live roles at once, over sessions
    /// opened for both nodes together (a run's first second is most of its overhead
    /// against a bare rsync); then the direction, and a target that takes no writes.
    async fn start(
        monitor: &'a Monitor,
        opts: &'a SyncOptions,
        events: &'a mpsc::Sender<SyncEvent>,
        started: Instant,
    ) -> Result<Run<'a>> {
        send_phase(events, "checking roles and locks").await;
        let (locks, mut status) = tokio::join!(read_locks(monitor), monitor.probe_pair_for_sync());
        if let Some(msg) = recover_dead_freeze(monitor, &locks, &status).await {
            send_phase(events, &msg).await;
            status = monitor.probe_pair_for_sync().await;
        }
        if !opts.dry_run {
            refuse_held_locks(monitor, &locks)?;
        }
        let (src, dst) = guard::direction(&status.roles).map_err(|e| eyre!(e))?;
        let (s_cfg, d_cfg) = (
            monitor.nodes[src].cfg.clone(),
            monitor.nodes[dst].cfg.clone(),
        );
        if status.nodes[dst].writable() != Some(false) {
            return Err(eyre!(
                "refusing to sync: the target {} is writable",
                d_cfg.name
            ));
        }
        Ok(Run {
            monitor,
            opts,
            events,
            started,
            status,
            src,
            dst,
            s_cfg,
            d_cfg,
            s_ssh: Arc::clone(&monitor.nodes[src].ssh),
            d_ssh: Arc::clone(&monitor.nodes[dst].ssh),
        })
    }

    async fn phase(&self, s: &str) {
        send_phase(self.events, s).await;
    }

    /// Preflight: the source reaches the target over SSH (the passes' own path).
    async fn preflight(&self) -> Result<()> {
        let (s_cfg, d_cfg) = (&self.s_cfg, &self.d_cfg);
        self.phase(&format!(
            "preflight: {} can reach {} over SSH",
            s_cfg.name, d_cfg.name
        ))
        .await;
        let probe = format!(
            "mkdir -p {} && {} {} true",
            quote(&s_cfg.state_dir.display().to_string()),
            peer_ssh(s_cfg, d_cfg),
            quote(&format!("{}@{}", d_cfg.ssh.user, d_cfg.ssh.host))
        );
        let out = self.s_ssh.run(&probe, STEP_TIMEOUT).await?;
        if !out.success() {
            return Err(eyre!(
                "preflight: {} cannot reach {} over SSH: {}",
                s_cfg.name,
                d_cfg.name,
                out.stderr.trim()
            ));
        }
        Ok(())
    }

    /// The run's one copier: its lists and rsync PIDs live in the source's lock folder.
    fn copier(&self) -> Copier<'a> {
        Copier {
            monitor: self.monitor,
            src: self.src,
            dst: self.dst,
            lock_dir: format!("{}/sync.lock", self.s_cfg.state_dir.display()),
            allow_deletes: self.opts.allow_deletes,
            cancel: self.opts.cancel.clone(),
            events: self.events.clone(),
        }
    }

    /// Plan choice and guard: the source checked, the journal's watermark taken before
    /// the plan's scan (every version created after the scan began is then in the final
    /// pass's list), the plan named for the face, the deletion guard (a real run stops at
    /// its refusal) and the target's free space.
    /// The source check, with the journal's watermark read before any plan scans (the
    /// final pass's start).
    async fn source_check(&self, copier: &Copier<'_>) -> Result<Option<Watermark>> {
        let (checked, watermark) = tokio::join!(
            copier.source_check(),
            journal_watermark(self.monitor, self.src)
        );
        self.phase(&format!("source check: {}", checked?)).await;
        Ok(watermark)
    }

    /// The plan (scan or journal), named, guarded, and checked against the target's room.
    async fn plan(&self, copier: &Copier<'_>, watermark: Option<Watermark>) -> Result<Planned> {
        let last = self.status.nodes[self.dst].last_sync.as_ref();
        let (mut plan, planned_by) = choose_plan(copier, last).await?;
        super::plan::name_plan(self.monitor, self.src, &mut plan).await;
        if !plan.documents.is_empty() {
            let _ = self
                .events
                .send(SyncEvent::Documents(plan.documents.clone()))
                .await;
        }
        let refusal = self.deletion_refusal(&plan).await?;
        self.phase(&format!(
            "plan {} -> {}: {}{}",
            self.s_cfg.name,
            self.d_cfg.name,
            plan.totals.summary(),
            match planned_by {
                PlanMode::Journal =>
                    " (datastore from the journal; its deletions are found by the verify)",
                PlanMode::Scan if plan.datastore_listed =>
                    " (datastore compared from both nodes' listings)",
                PlanMode::Scan => "",
            }
        ))
        .await;
        if let (Some(r), false) = (&refusal, self.opts.dry_run) {
            return Err(eyre!("{r}"));
        }
        self.check_free_space(&plan)?;
        Ok(Planned {
            plan,
            planned_by,
            watermark,
            refusal,
        })
    }

    /// Why the deletion guard would refuse `plan`, with what it deletes. The guard's
    /// share needs the mirror's file count only when the plan deletes.
    async fn deletion_refusal(&self, plan: &Plan) -> Result<Option<String>> {
        let mirror_files = match self.status.nodes[self.dst]
            .facts
            .as_ref()
            .and_then(|f| f.datastore_files)
        {
            Some(n) => n,
            None if plan.totals.deleted > 0 => copy::count_files(&self.d_ssh, &self.d_cfg).await?,
            None => 0,
        };
        Ok(guard::check_deletes(
            &plan.totals,
            mirror_files,
            &self.monitor.cfg.sync,
            self.opts.allow_deletes,
        )
        .err()
        .map(|r| format!("{r}{}", guard::what_is_deleted(plan))))
    }

    /// The target must have room for what the plan moves, where its free space is known.
    fn check_free_space(&self, plan: &Plan) -> Result<()> {
        let free = self.status.nodes[self.dst]
            .facts
            .as_ref()
            .and_then(|f| f.disk_free);
        match free {
            Some(free) if plan.totals.bytes() > free => Err(eyre!(
                "preflight: the plan moves {} but {} has only {} free",
                crate::format::bytes(plan.totals.bytes()),
                self.d_cfg.name,
                crate::format::bytes(free)
            )),
            _ => Ok(()),
        }
    }

    /// The report as planning leaves it (a dry run's whole report).
    fn first_report(&self, planned: &Planned) -> SyncReport {
        SyncReport {
            source: self.s_cfg.name.clone(),
            target: self.d_cfg.name.clone(),
            plan: planned.plan.totals.clone(),
            dry_run: self.opts.dry_run,
            files: 0,
            bytes: 0,
            duration_ms: 0,
            main_downtime_ms: 0,
            gtid_position: None,
            verified: false,
            verified_files: 0,
            mismatches: Vec::new(),
            refusal: planned.refusal.clone(),
            cancelled: false,
            newer_than_sync: 0,
            verify_ms: 0,
            planned_by: planned.planned_by,
            repaired: 0,
            downtime_parts: DowntimeParts::default(),
        }
    }

    /// The bulk pass while the main stays live, then (unless cancelled) the frozen
    /// phase. `frozen` keeps the frozen pair even when this fails, so the mirror's
    /// OpenKM is started again.
    async fn copy_and_freeze(
        &self,
        copier: &Copier<'_>,
        planned: &Planned,
        lock_path: &str,
        frozen: &mut Option<freeze::Frozen>,
    ) -> Result<Moved> {
        let mut tracker = Tracker::new(&planned.plan.totals);
        let bulk = bulk_list(&planned.plan);
        // With the journal's watermark nothing is copied in the freeze, so with a database
        // freeze nothing needs copying before it either: the plan's paths wait for the
        // thaw and go with the journal's new files, in one transfer. A service freeze
        // keeps the mirror's OpenKM stopped until the verify, so its plan is copied
        // before, while the mirror still serves reads.
        let after =
            planned.watermark.is_some() && self.monitor.cfg.sync.freeze == FreezeMode::Database;
        if bulk.is_empty() {
            self.phase("bulk pass: nothing to copy").await;
        } else if after {
            self.phase("the plan's files are copied after the freeze, with the journal's new ones")
                .await;
        } else {
            self.phase("bulk pass (the main stays live)").await;
            copier
                .copy_listed(Pass::Live, "bulk", &bulk, &mut tracker)
                .await?;
        }
        if is_cancelled(&self.opts.cancel) {
            return Err(color_eyre::eyre::Report::new(Cancelled));
        }
        let mut parts = DowntimeParts::default();
        let watermark = planned.watermark.as_ref();
        let (downtime, consistent) = self
            .frozen_phase(
                copier,
                watermark,
                lock_path,
                &mut tracker,
                &mut parts,
                frozen,
            )
            .await?;
        // The main's manifest is made while the final pass copies to the mirror.
        let planned_after = if after { bulk.as_slice() } else { &[] };
        let (copied, early) = tokio::join!(
            self.after_thaw(copier, consistent.deferred, planned_after, &mut tracker),
            node_manifest(self.monitor, self.src)
        );
        copied?;
        Ok(Moved {
            tracker,
            downtime,
            parts,
            position: consistent.position,
            point: consistent.point,
            main_manifest: Some(early),
        })
    }

    /// Freeze, consistency point, thaw. A database freeze is marked in the lock until
    /// it is undone (by this run, or by the main's watchdog), so the next run can still
    /// recover a main left read-only (`recover_dead_freeze`), the second line of
    /// defence. The main is thawed whatever the frozen work did.
    async fn frozen_phase(
        &self,
        copier: &Copier<'_>,
        watermark: Option<&Watermark>,
        lock_path: &str,
        tracker: &mut Tracker,
        parts: &mut DowntimeParts,
        frozen: &mut Option<freeze::Frozen>,
    ) -> Result<(Duration, Consistent)> {
        let mode = self.monitor.cfg.sync.freeze;
        if mode == FreezeMode::Service && watermark.is_some() {
            // A snapshot left by a run that died goes before the clock starts.
            copier.drop_index_snapshot().await;
        }
        self.phase(&match mode {
            FreezeMode::Service => format!(
                "freezing: stopping OpenKM on {} and {}",
                self.s_cfg.name, self.d_cfg.name
            ),
            FreezeMode::Database => format!("freezing: {}'s database read-only", self.s_cfg.name),
        })
        .await;
        let marker = format!("{lock_path}/frozen");
        if mode == FreezeMode::Database {
            self.s_ssh
                .run(
                    &format!("echo database > {}", quote(&marker)),
                    Duration::from_secs(30),
                )
                .await?;
        }
        let mark = (mode == FreezeMode::Database).then_some(marker.as_str());
        let mut pair = freeze::freeze(self.monitor, mode, (self.src, self.dst), mark).await?;
        let lap = Instant::now();
        parts.freeze_ms = ms(lap.duration_since(pair.began));
        let frozen_work = match watermark {
            Some(w) => self.consistency_point(copier, w, parts).await,
            None => self.final_and_catch_up(copier, tracker, parts, lap).await,
        };
        let (thawed, downtime) = self.thaw(&mut pair, &marker, parts).await;
        *frozen = Some(pair);
        thawed?;
        Ok((downtime, frozen_work?))
    }

    /// The frozen work when the journal names the new files: only what must see the main
    /// stopped, all at once. The index's hard-link snapshot (service freeze), the mirror's
    /// database caught up, and the journal's consistency point. The new files are
    /// immutable, so they are copied after the thaw (`after_thaw`), before the verify.
    async fn consistency_point(
        &self,
        copier: &Copier<'_>,
        since: &Watermark,
        parts: &mut DowntimeParts,
    ) -> Result<Consistent> {
        let service = self.monitor.cfg.sync.freeze == FreezeMode::Service;
        self.phase(if service {
            "consistency point: the index's snapshot, the mirror's database caught up"
        } else {
            "consistency point: the mirror's database caught up"
        })
        .await;
        let snapshot = timed(async {
            match service {
                true => copier.snapshot_index().await.map(Some),
                false => Ok(None),
            }
        });
        let caught_up = timed(self.catch_up());
        let point = timed(journal_watermark(self.monitor, self.src));
        let ((snapshot, snap_ms), (position, catch_ms), (point, point_ms)) =
            tokio::join!(snapshot, caught_up, point);
        parts.index_snapshot_ms = snap_ms;
        parts.catch_up_ms = catch_ms;
        parts.journal_point_ms = point_ms;
        Ok(Consistent {
            position: position?,
            point,
            deferred: Some((since.clone(), snapshot?)),
        })
    }

    /// The frozen work without the journal: a final pass planned by scan (with a service
    /// freeze, the index too), then the mirror's database caught up and the journal's
    /// consistency point. `lap` began with the freeze.
    async fn final_and_catch_up(
        &self,
        copier: &Copier<'_>,
        tracker: &mut Tracker,
        parts: &mut DowntimeParts,
        mut lap: Instant,
    ) -> Result<Consistent> {
        let with_index = self.monitor.cfg.sync.freeze == FreezeMode::Service;
        self.phase("final pass").await;
        let did = copier.final_copy(None, with_index, tracker).await?;
        parts.final_pass_ms = ms(lap.elapsed());
        lap = Instant::now();
        self.phase(&format!("final pass: {did}")).await;
        let position = self.catch_up().await?;
        parts.catch_up_ms = ms(lap.elapsed());
        lap = Instant::now();
        // Versions newer than this were written after the consistency point.
        let point = journal_watermark(self.monitor, self.src).await;
        parts.journal_point_ms = ms(lap.elapsed());
        Ok(Consistent {
            position,
            point,
            deferred: None,
        })
    }

    /// Once the main takes writes again: the index snapshot into the mirror's index
    /// (its OpenKM is still stopped), then the plan's paths (`planned`) with the
    /// datastore files of the versions created since the plan began. The snapshot and
    /// the datastore files are frozen content; the rest of the plan was always live.
    async fn after_thaw(
        &self,
        copier: &Copier<'_>,
        deferred: Option<(Watermark, Option<Snapshot>)>,
        planned: &[String],
        tracker: &mut Tracker,
    ) -> Result<()> {
        let Some((since, snapshot)) = deferred else {
            return Ok(());
        };
        if snapshot == Some(Snapshot::Taken) {
            self.phase("index: copying the frozen snapshot into the mirror's index")
                .await;
            copier.copy_index_snapshot(tracker).await?;
        }
        self.phase("final pass (the main takes writes again)").await;
        let did = copier
            .final_copy_with(Some(&since), false, planned, tracker)
            .await?;
        self.phase(&format!("final pass: {did}")).await;
        Ok(())
    }

    /// The mirror's database catches up with the frozen main: it applies the main's
    /// position (a cancel ends the wait: the main's writes come first), or is dumped.
    async fn catch_up(&self) -> Result<String> {
        match self.monitor.cfg.sync.database {
            crate::config::DbSyncMode::Replication => {
                self.phase("waiting for the mirror's database to apply the main's position")
                    .await;
                let mut cancel = self.opts.cancel.clone();
                tokio::select! {
                    r = self.monitor.wait_mirror_caught_up(self.src, self.dst, Duration::from_secs(60)) => r,
                    _ = copy::wait_cancel(&mut cancel) => Err(color_eyre::eyre::Report::new(Cancelled)),
                }
            }
            crate::config::DbSyncMode::Dump => {
                self.phase("dumping the main's database into the mirror")
                    .await;
                super::dump::dump_into_mirror(&self.s_ssh, &self.s_cfg, &self.d_ssh, &self.d_cfg)
                    .await?;
                Ok("dump".to_string())
            }
        }
    }

    /// Gives the main its writes back; returns how that went and the main's downtime.
    /// A database freeze's marker goes once the main is thawed.
    async fn thaw(
        &self,
        pair: &mut freeze::Frozen,
        marker: &str,
        parts: &mut DowntimeParts,
    ) -> (Result<Instant>, Duration) {
        self.phase(&format!("unfreezing {}", self.s_cfg.name)).await;
        let thaw_began = Instant::now();
        let thawed = freeze::thaw_main(self.monitor, pair).await;
        if let Ok(back) = &thawed {
            parts.thaw_ms = ms(back.duration_since(thaw_began));
        }
        let downtime = match &thawed {
            Ok(back) => back.duration_since(pair.began),
            Err(_) => pair.began.elapsed(),
        };
        if thawed.is_ok() && self.monitor.cfg.sync.freeze == FreezeMode::Database {
            let _ = self
                .s_ssh
                .run(&format!("rm -f {}", quote(marker)), Duration::from_secs(30))
                .await;
        }
        (thawed, downtime)
    }

    /// The mirror's OpenKM (stopped by a service freeze) starts again whatever happened.
    async fn resume_mirror(&self, frozen: Option<freeze::Frozen>) {
        if let Some(p) = frozen {
            freeze::resume_mirror(self.monitor, p).await;
        }
    }

    /// After the lock was taken, the copy or the freeze stopped: the mirror's OpenKM
    /// starts again and the lock goes. A cancel is a report (nothing verified or
    /// recorded), anything else the error.
    async fn stopped(
        &self,
        e: color_eyre::eyre::Report,
        frozen: Option<freeze::Frozen>,
        lock: Lock,
        mut report: SyncReport,
    ) -> Result<SyncReport> {
        self.resume_mirror(frozen).await;
        lock.release(&self.s_ssh).await;
        if !is_cancelled_error(&e) {
            return Err(e);
        }
        self.phase("cancelled: the mirror keeps only complete files; the main takes writes")
            .await;
        report.cancelled = true;
        report.duration_ms = self.started.elapsed().as_millis() as u64;
        Ok(report)
    }

    /// Verify and repair: both datastores' SHA-256, while the mirror's OpenKM starts
    /// again. After a journal plan, what the verify found is repaired and verified again.
    async fn verify_and_repair(
        &self,
        copier: &Copier<'_>,
        moved: &mut Moved,
        frozen: Option<freeze::Frozen>,
        report: &mut SyncReport,
    ) -> Result<Verified> {
        let (tracker, point) = (&mut moved.tracker, moved.point.as_ref());
        let early = moved.main_manifest.take();
        let ((), first) = tokio::join!(
            self.resume_mirror(frozen),
            verify(self.monitor, (self.src, self.dst), point, early)
        );
        let mut check = first?;
        if report.planned_by == PlanMode::Journal && !check.mismatches.is_empty() {
            let (fixed, refusal) = repair(copier, &check, tracker).await?;
            if fixed > 0 {
                self.phase(&format!(
                    "repaired {fixed} datastore files the journal could not name; verifying again"
                ))
                .await;
                check = verify(self.monitor, (self.src, self.dst), point, None).await?;
            }
            report.repaired = fixed;
            report.refusal = refusal;
        }
        Ok(check)
    }

    /// What was copied and what the verify found.
    fn fill_report(
        &self,
        report: &mut SyncReport,
        tracker: &Tracker,
        check: Verified,
        verify_started: Instant,
    ) {
        report.files = tracker.files_done;
        report.bytes = tracker.bytes_done;
        report.mismatches = check.mismatches;
        report.newer_than_sync = check.newer;
        report.verified = report.mismatches.is_empty();
        report.verified_files = check.identical;
        report.duration_ms = self.started.elapsed().as_millis() as u64;
        report.verify_ms = verify_started.elapsed().as_millis() as u64;
    }

    /// Record: the last-sync record on the mirror (the next journal plan's start), and
    /// a copy in this machine's data dir.
    async fn record(&self, report: &SyncReport, point: Option<Watermark>) -> Result<()> {
        self.phase("recording the sync on the mirror").await;
        let record = LastSync {
            finished_at: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            source: report.source.clone(),
            target: report.target.clone(),
            files: report.files,
            bytes: report.bytes,
            duration_ms: report.duration_ms,
            main_downtime_ms: report.main_downtime_ms,
            verified: report.verified,
            journal_point: point.and_then(|w| w.0),
        };
        let json = serde_json::to_string(&record)?;
        let dir = quote(&self.d_cfg.state_dir.display().to_string());
        let out = self.d_ssh
            .run_with_stdin(
                &format!("mkdir -p {dir} && cat > {dir}/last-sync.json.tmp && mv {dir}/last-sync.json.tmp {dir}/last-sync.json"),
                Some(json.as_bytes()),
                STEP_TIMEOUT,
            )
            .await?;
        if !out.success() {
            return Err(eyre!(
                "writing the last-sync record on {}: {}",
                self.d_cfg.name,
                out.stderr.trim()
            ));
        }
        if let Ok(dir) = crate::paths::data_dir() {
            let _ = std::fs::create_dir_all(&dir);
            let _ = std::fs::write(
                dir.join(format!("last-sync-{}.json", self.monitor.cfg.pair)),
                &json,
            );
        }
        Ok(())
    }
}

/// A flow (switchover...) holds the lock on both nodes: say so before the roles it is
/// changing make a confusing refusal.
fn refuse_held_locks(monitor: &Monitor, locks: &[Option<LockInfo>]) -> Result<()> {
    for (n, l) in monitor.nodes.iter().zip(locks) {
        if let Some(owner) = l.as_ref().and_then(LockInfo::live_owner) {
            return Err(eyre!(
                "another sync or flow holds the lock on {} (owner {owner}); wait for it to finish",
                n.cfg.name
            ));
        }
    }
    Ok(())
}

/// What one verify of both datastores found.
struct Verified {
    /// Differences, less the versions the main created after the consistency point.
    mismatches: Vec<Mismatch>,
    /// Those newer versions (for the next sync).
    newer: u64,
    /// Files identical on both.
    identical: u64,
    /// Files on the mirror (the deletion guard's base).
    target_files: u64,
}

/// A node's manifest and its datastore's bytes (when the manifest had sizes).
type NodeManifest = (manifest::Manifest, Option<u64>);

/// The SHA-256 manifest of `node`'s datastore, made on the node.
async fn node_manifest(monitor: &Monitor, node: NodeId) -> Result<NodeManifest> {
    let n = &monitor.nodes[node];
    manifest_of(
        &n.ssh,
        &n.cfg.datastore_path().display().to_string(),
        &n.cfg.state_dir.display().to_string(),
        &n.cfg.agent_path.display().to_string(),
    )
    .await
}

/// SHA-256 manifests of both datastores, made on their own nodes at once, and compared.
/// `early` is the main's, when it was made while the final pass ran (the main's files
/// up to the consistency point no longer change; newer ones are counted apart).
async fn verify(
    monitor: &Monitor,
    (src, dst): (NodeId, NodeId),
    point: Option<&Watermark>,
    early: Option<Result<NodeManifest>>,
) -> Result<Verified> {
    let (s, d) = (&monitor.nodes[src], &monitor.nodes[dst]);
    let (s_sd, d_sd) = (
        s.cfg.state_dir.display().to_string(),
        d.cfg.state_dir.display().to_string(),
    );
    let main = async {
        match early {
            Some(m) => m,
            None => node_manifest(monitor, src).await,
        }
    };
    let (a, b) = tokio::join!(main, node_manifest(monitor, dst));
    let ((a, a_bytes), (b, b_bytes)) = (a?, b?);
    // Each node keeps its datastore's count as this verify saw it: the dashboard shows
    // that instead of walking a big datastore every minute.
    // The counts are written while the manifests are compared.
    let census = async {
        tokio::join!(
            write_census(&s.ssh, &s_sd, &a, a_bytes),
            write_census(&d.ssh, &d_sd, &b, b_bytes)
        )
    };
    let (_, verified) = tokio::join!(census, judge(monitor, src, &a, &b, point));
    Ok(verified)
}

/// Compares the manifests. Versions the main created after the consistency point are
/// not the mirror's flaw: they are counted apart, for the next sync.
async fn judge(
    monitor: &Monitor,
    src: NodeId,
    a: &manifest::Manifest,
    b: &manifest::Manifest,
    point: Option<&Watermark>,
) -> Verified {
    let mut mismatches = manifest::compare(a, b);
    let mut newer = 0;
    if let Some(point) = point
        && mismatches
            .iter()
            .any(|m| matches!(m, Mismatch::MissingOnTarget { .. }))
    {
        let created = newer_versions(monitor, src, point).await;
        let before = mismatches.len();
        mismatches.retain(|m| match m {
            Mismatch::MissingOnTarget { path } => !path
                .rsplit('/')
                .next()
                .is_some_and(|name| created.contains(name)),
            _ => true,
        });
        newer = (before - mismatches.len()) as u64;
    }
    Verified {
        mismatches,
        newer,
        identical: a
            .iter()
            .filter(|(p, e)| b.get(*p).is_some_and(|t| manifest::same(t, e)))
            .count() as u64,
        target_files: b.len() as u64,
    }
}

/// After a journal plan, the verify names what the journal could not: files the mirror
/// lacks or holds damaged are copied again, and files the main no longer has are deleted,
/// if the deletion guard allows that many (else they stay, and the guard's refusal is
/// returned). All of it runs live: datastore files are immutable. Returns how many paths
/// were repaired.
async fn repair(
    copier: &Copier<'_>,
    found: &Verified,
    tracker: &mut Tracker,
) -> Result<(u64, Option<String>)> {
    let monitor = copier.monitor;
    let s = &monitor.nodes[copier.src];
    let prefix = versions::datastore_prefix(&s.cfg.openkm_home, &s.cfg.datastore_path())
        .ok_or_else(|| eyre!("the datastore is not inside the Tomcat home"))?;
    let extra = found
        .mismatches
        .iter()
        .filter(|m| matches!(m, Mismatch::ExtraOnTarget { .. }))
        .count() as u64;
    let deletions = PlanTotals {
        deleted: extra,
        ..PlanTotals::default()
    };
    let refusal = copier
        .guard(&deletions, Some(found.target_files))
        .await
        .err()
        .map(|e| e.to_string());
    let paths: Vec<String> = found
        .mismatches
        .iter()
        .filter_map(|m| match m {
            Mismatch::MissingOnTarget { path } | Mismatch::Differs { path } => Some(path),
            Mismatch::ExtraOnTarget { path } => refusal.is_none().then_some(path),
        })
        .map(|p| format!("{prefix}/{p}"))
        .collect();
    copier
        .copy_listed(Pass::Repair, "repair", &paths, tracker)
        .await?;
    Ok((paths.len() as u64, refusal))
}

/// The bulk pass's plan: from OpenKM's journal when configured and a verified sync in
/// this direction gives its start, else (and when the journal plan fails) by scan.
async fn choose_plan(copier: &Copier<'_>, last: Option<&LastSync>) -> Result<(Plan, PlanMode)> {
    let (s, d) = (
        &copier.monitor.nodes[copier.src].cfg,
        &copier.monitor.nodes[copier.dst].cfg,
    );
    let phase = |m: String| copier.events.send(SyncEvent::phase(m));
    let start = journal_start(last, &s.name, &d.name);
    match (copier.monitor.cfg.sync.plan, start) {
        (PlanMode::Journal, Ok(since)) => {
            let _ = phase(
                "planning: the datastore from OpenKM's version journal, the rest by scan".into(),
            )
            .await;
            match journal_plan(copier.monitor, copier.src, copier.dst, &since).await {
                Ok(p) => return Ok((p, PlanMode::Journal)),
                Err(e) => {
                    let _ =
                        phase(format!("the journal plan failed ({e:#}); planning by scan")).await;
                }
            }
        }
        (PlanMode::Journal, Err(why)) => {
            let _ = phase(format!("no journal plan: {why}; planning by scan")).await;
        }
        (PlanMode::Scan, _) => {
            let _ = phase("planning".into()).await;
        }
    }
    Ok((copier.scan_plan().await?, PlanMode::Scan))
}

/// Where a journal plan starts: the consistency point of the last verified sync in this
/// direction, from its record on the mirror. `Err` says why a scan is needed instead.
fn journal_start(
    last: Option<&LastSync>,
    src: &str,
    dst: &str,
) -> std::result::Result<Watermark, String> {
    let last = last.ok_or_else(|| format!("{dst} holds no last-sync record"))?;
    if last.source != src || last.target != dst {
        return Err(format!(
            "the last sync went {} -> {}, not {src} -> {dst}",
            last.source, last.target
        ));
    }
    if !last.verified {
        return Err("the last sync did not verify".into());
    }
    let point = last
        .journal_point
        .clone()
        .ok_or_else(|| "the last sync recorded no journal point".to_string())?;
    Ok(Watermark(Some(point)))
}

/// A journal plan: the datastore files of the versions created since `since` (minus the
/// margin) that the mirror lacks, plus an rsync dry run over the rest of the Tomcat home.
/// Deletions and damage inside the datastore are left to the verify (`repair`).
async fn journal_plan(
    monitor: &Monitor,
    src: NodeId,
    dst: NodeId,
    since: &Watermark,
) -> Result<Plan> {
    let started = Instant::now();
    let (s, d) = (&monitor.nodes[src], &monitor.nodes[dst]);
    let prefix = versions::datastore_prefix(&s.cfg.openkm_home, &s.cfg.datastore_path())
        .ok_or_else(|| eyre!("the datastore is not inside the Tomcat home"))?;
    let schema = s.cfg.database.schema.clone();
    let margin = monitor.cfg.sync.journal_margin_secs;
    let rest = super::plan::plan_scope(
        &s.cfg,
        &d.cfg,
        &monitor.cfg.sync,
        &s.ssh,
        Duration::from_secs(600),
        Scope::TreeWithout(&prefix),
    );
    let versions = monitor.db(src, async |c| {
        versions::versions_since(c, &schema, since, margin).await
    });
    let (rest, versions) = tokio::join!(rest, versions);
    let mut plan = rest?;
    let sizes: std::collections::HashMap<String, u64> = versions?
        .into_iter()
        .filter_map(|v| {
            versions::datastore_file(&v.uuid).map(|f| (format!("{prefix}/{f}"), v.size))
        })
        .collect();
    let mut absent = absent_on(&d.ssh, &d.cfg, sizes.keys().cloned().collect()).await?;
    absent.sort();
    for path in absent {
        let change = Change {
            kind: ChangeKind::New,
            entry: EntryType::File,
            size: sizes.get(&path).copied().unwrap_or(0),
            path,
        };
        plan.totals.add(&change);
        plan.changes.push(change);
    }
    plan.took_ms = started.elapsed().as_millis();
    Ok(plan)
}

/// Version UUIDs created after the consistency point (empty if the journal fails).
async fn newer_versions(
    monitor: &Monitor,
    main: NodeId,
    point: &Watermark,
) -> std::collections::HashSet<String> {
    let schema = monitor.nodes[main].cfg.database.schema.clone();
    monitor
        .db(main, async |c| {
            use mysql_async::prelude::Queryable;
            let Some(w) = &point.0 else {
                let all = versions::versions_since(c, &schema, point, 0).await?;
                return Ok(all.into_iter().map(|v| v.uuid).collect());
            };
            let q = format!(
                "SELECT NDV_UUID FROM `{}`.OKM_NODE_DOCUMENT_VERSION WHERE NDV_CREATED > CAST(? AS DATETIME(6))",
                schema.replace('`', "``")
            );
            Ok(c.exec(q, (w,)).await?)
        })
        .await
        .map(|v| v.into_iter().collect())
        .unwrap_or_default()
}

/// Writes `<state_dir>/datastore-count.json` (files, bytes when known, when) from a
/// manifest; a failure only leaves the dashboard's figure older, so it is logged, not
/// raised.
async fn write_census(
    ssh: &crate::node::NodeSsh,
    state_dir: &str,
    m: &manifest::Manifest,
    bytes: Option<u64>,
) {
    let census = crate::pair::model::Census {
        files: m.len() as u64,
        bytes,
        at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    };
    let Ok(json) = serde_json::to_string(&census) else {
        return;
    };
    let path = format!("{state_dir}/{}", crate::pair::model::CENSUS_FILE);
    let script = format!(
        "mkdir -p {sd} && cat > {tmp} && mv -f {tmp} {p}",
        sd = quote(state_dir),
        tmp = quote(&format!("{path}.new")),
        p = quote(&path)
    );
    match ssh
        .run_with_stdin(&script, Some(json.as_bytes()), Duration::from_secs(30))
        .await
    {
        Ok(o) if o.success() => {}
        Ok(o) => tracing::warn!(%path, "datastore count not saved: {}", o.stderr.trim()),
        Err(e) => tracing::warn!(%path, "datastore count not saved: {e}"),
    }
}

/// Hashes every file under the current folder with coreutils, in a stable order. A file
/// that vanishes between `find` and `sha256sum` (a live datastore's temporary files) is
/// not in the datastore any more and is left out; any other error fails it. sha256sum
/// gives no sizes: a last line `BYTES <n>` gives their total (a stat walk, cheap beside
/// the hashing), for the datastore's count and the flows' disk checks.
const SHA256SUM_LIVE: &str = "err=$(mktemp) || exit 1; \
     find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum 2>\"$err\"; rc=$?; \
     if [ $rc -ne 0 ] && { [ $rc -ne 123 ] || [ ! -s \"$err\" ] || \
     grep -qv ': No such file or directory$' \"$err\"; }; then cat \"$err\" >&2; rm -f \"$err\"; exit 1; fi; \
     rm -f \"$err\"; \
     printf 'BYTES %s\\n' \"$(find . -type f -printf '%s\\n' | awk '{ s += $1 } END { print s + 0 }')\"";

/// The manifest of a node's datastore: `okmirror agent` where installed, else sha256sum;
/// and its files' total bytes, when known (sha256sum's entries have no sizes: they read
/// 0, so the total comes from its `BYTES` line).
async fn manifest_of(
    ssh: &crate::node::NodeSsh,
    datastore: &str,
    state_dir: &str,
    agent_path: &str,
) -> Result<(manifest::Manifest, Option<u64>)> {
    let ds = quote(datastore);
    // A folder since the cache learnt folders. The single file an older agent kept is
    // removed (a folder, if a newer agent was once given the old path by an older console).
    let cache = quote(&manifest::cache_dir(state_dir));
    let old_cache = quote(&format!("{state_dir}/manifest-cache.tsv"));
    let script = format!(
        "{locate}\nif [ -n \"$OKM_AGENT\" ]; then mkdir -p {sd} && rm -rf {old_cache} && echo AGENT && \"$OKM_AGENT\" agent manifest --root {ds} --cache {cache}; \
         else echo SHA256SUM && cd {ds} && {SHA256SUM_LIVE}; fi",
        locate = crate::node::agent::locate_line(agent_path),
        sd = quote(state_dir)
    );
    let out = ssh.run(&script, Duration::from_secs(6 * 3600)).await?;
    if !out.success() {
        return Err(eyre!("manifest of {datastore}: {}", out.stderr.trim()));
    }
    let (head, body) = out.stdout.split_once('\n').unwrap_or((&out.stdout, ""));
    match head {
        "AGENT" => manifest::parse(body)
            .map(|m| {
                let bytes = m.values().map(|(_, size)| size).sum();
                (m, Some(bytes))
            })
            .map_err(|e| eyre!(e)),
        _ => {
            let (sums, bytes) = split_bytes_line(body);
            manifest::parse_sha256sum(sums)
                .map(|m| (m, bytes))
                .map_err(|e| eyre!(e))
        }
    }
}

/// The coreutils manifest's hash lines, and the total of its `BYTES` last line (`None`
/// when it is missing or unreadable: never taken as 0).
fn split_bytes_line(body: &str) -> (&str, Option<u64>) {
    let trimmed = body.trim_end_matches('\n');
    match trimmed.rsplit_once('\n') {
        Some((sums, last)) if last.starts_with("BYTES ") => (sums, last[6..].trim().parse().ok()),
        None if trimmed.starts_with("BYTES ") => ("", trimmed[6..].trim().parse().ok()),
        _ => (body, None),
    }
}

/// Both nodes' lock folders, read concurrently; `None` where there is none or the node
/// does not answer.
async fn read_locks(monitor: &Monitor) -> Vec<Option<LockInfo>> {
    let reads = monitor.nodes.iter().map(|n| async move {
        let t = Duration::from_secs(monitor.cfg.monitor.probe_timeout_secs.max(1));
        let script = lock_info_script(&n.cfg.state_dir.display().to_string());
        n.ssh
            .run(&script, t)
            .await
            .ok()
            .and_then(|o| parse_lock_info(&o.stdout))
    });
    futures::future::join_all(reads).await
}

/// A sync that died during a database freeze left its main read-only (a `frozen` mark in
/// its lock, owned by a console of this host that is gone). When the pair is exactly in
/// that state (that node read-only and replicating from nobody, the other read-only
/// too), the node gets its writes back. Anything else is left for the operator.
async fn recover_dead_freeze(
    monitor: &Monitor,
    locks: &[Option<LockInfo>],
    status: &crate::pair::model::PairStatus,
) -> Option<String> {
    let (i, lock) = NodeId::BOTH.into_iter().zip(locks).find_map(|(i, l)| {
        l.as_ref()
            .filter(|l| l.frozen.as_deref() == Some("database") && dead_here(&l.owner))
            .map(|l| (i, l))
    })?;
    let n = &monitor.nodes[i];
    let me = status.nodes[i].db.as_ref()?;
    let other = status.nodes[i.other()].db.as_ref()?;
    if me.writable() || me.replica.is_some() || other.writable() {
        return None;
    }
    freeze::unfreeze(monitor, FreezeMode::Database, i)
        .await
        .ok()?;
    let mark = format!("{}/sync.lock/frozen", n.cfg.state_dir.display());
    let _ = n
        .ssh
        .run(&format!("rm -f {}", quote(&mark)), Duration::from_secs(30))
        .await;
    Some(format!(
        "recovered: a sync (console {}, gone) had left {}'s database read-only; it takes writes again",
        lock.owner, n.cfg.name
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `SHA256SUM_LIVE` in `dir` with a `sha256sum` stand-in first on PATH that
    /// first does `before` (as a live datastore would, between the listing and the hash).
    fn live_sums(dir: &std::path::Path, before: &str) -> std::process::Output {
        let bin = dir.join(".bin");
        std::fs::create_dir_all(&bin).unwrap();
        let real = String::from_utf8(
            std::process::Command::new("sh")
                .args(["-c", "command -v sha256sum"])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        let shim = bin.join("sha256sum");
        std::fs::write(
            &shim,
            format!("#!/bin/sh\n{before}\nexec {} \"$@\"\n", real.trim()),
        )
        .unwrap();
        std::fs::set_permissions(&shim, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
        std::process::Command::new("sh")
            .args(["-c", SHA256SUM_LIVE])
            .current_dir(dir.join("ds"))
            .env("PATH", path)
            .output()
            .unwrap()
    }

    #[test]
    fn the_coreutils_total_is_read_from_its_last_line_and_never_made_up() {
        let h = "a".repeat(64);
        let body = format!("{h}  ./x\nBYTES 42\n");
        assert_eq!(
            split_bytes_line(&body),
            (format!("{h}  ./x").as_str(), Some(42))
        );
        assert_eq!(split_bytes_line("BYTES 0\n"), ("", Some(0)));
        let old = format!("{h}  ./x\n");
        assert_eq!(split_bytes_line(&old), (old.as_str(), None));
        assert_eq!(split_bytes_line(&format!("{h}  ./x\nBYTES ?\n")).1, None);
    }

    #[test]
    fn the_coreutils_manifest_leaves_out_a_file_that_vanishes_and_fails_on_other_errors() {
        let dir = tempfile::tempdir().unwrap();
        let ds = dir.path().join("ds");
        std::fs::create_dir_all(ds.join("ab")).unwrap();
        for f in ["ab/keep", "ab/.gone.tmp", "ab/locked"] {
            std::fs::write(ds.join(f), f).unwrap();
        }
        let out = live_sums(dir.path(), "rm -f ab/.gone.tmp");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{out:?}");
        assert!(
            text.contains("./ab/keep") && text.contains("./ab/locked"),
            "{text}"
        );
        assert!(!text.contains("gone"), "{text}");
        // The sizes of what is there now: "ab/keep" and "ab/locked", 7 and 9 bytes.
        let (sums, bytes) = split_bytes_line(&text);
        assert_eq!(bytes, Some(16), "{text}");
        assert_eq!(
            manifest::parse_sha256sum(sums).map(|m| m.len()),
            Ok(2),
            "{text}"
        );

        std::fs::write(ds.join("ab/.gone.tmp"), "again").unwrap();
        let out = live_sums(dir.path(), "rm ab/locked && mkdir ab/locked");
        assert!(
            !out.status.success(),
            "a file that became a folder must fail the manifest: {out:?}"
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("locked"),
            "{out:?}"
        );
    }

    #[test]
    fn a_journal_plan_starts_only_at_a_verified_sync_in_the_same_direction() {
        let rec = |source: &str, verified, point: Option<&str>| LastSync {
            finished_at: 0,
            source: source.into(),
            target: if source == "a" { "b" } else { "a" }.into(),
            files: 0,
            bytes: 0,
            duration_ms: 0,
            main_downtime_ms: 0,
            verified,
            journal_point: point.map(str::to_string),
        };
        let p = "2026-12-02 06:00:00.000000";
        assert_eq!(
            journal_start(Some(&rec("a", true, Some(p))), "a", "b"),
            Ok(Watermark(Some(p.into())))
        );
        assert!(
            journal_start(None, "a", "b")
                .unwrap_err()
                .contains("no last-sync record")
        );
        assert!(
            journal_start(Some(&rec("b", true, Some(p))), "a", "b")
                .unwrap_err()
                .contains("went b -> a")
        );
        assert!(
            journal_start(Some(&rec("a", false, Some(p))), "a", "b")
                .unwrap_err()
                .contains("did not verify")
        );
        assert!(
            journal_start(Some(&rec("a", true, None)), "a", "b")
                .unwrap_err()
                .contains("no journal point")
        );
    }
}
