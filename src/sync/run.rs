//! A sync run: plan, guard, bulk pass while the main is live, a short frozen phase (OpenKM
//! stopped, final delta with the index, database caught up), then SHA-256 verification and
//! the last-sync record. The main is always restarted, whatever fails after the freeze.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use color_eyre::eyre::{Result, eyre};
use serde::Serialize;
use tokio::sync::mpsc;

use super::exit;
use super::guard;
use super::manifest::{self, Mismatch};
use super::plan::{Pass, PlanTotals, peer_ssh, quote, rsync_command};
use super::progress::{RunLine, Tracker, parse_run_line};
use crate::monitor::Monitor;
use crate::monitor::model::LastSync;

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

/// Progress reported while a run goes on.
#[derive(Debug, Clone)]
pub enum SyncEvent {
    Phase(String),
    Progress(Tracker),
    Warning(String),
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
}

/// Runs a sync (or a dry run) between the nodes, direction from live roles only.
pub async fn run(
    monitor: Arc<Monitor>,
    opts: SyncOptions,
    events: mpsc::Sender<SyncEvent>,
) -> Result<SyncReport> {
    let started = Instant::now();
    let phase = |s: &str| {
        let events = events.clone();
        let s = s.to_string();
        async move {
            let _ = events.send(SyncEvent::Phase(s)).await;
        }
    };
    phase("checking roles").await;
    let status = monitor.probe_pair(None).await;
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
    let s_ssh = Arc::clone(&monitor.nodes[src].ssh);
    let d_ssh = Arc::clone(&monitor.nodes[dst].ssh);
    let t = Duration::from_secs(30);

    phase(&format!(
        "preflight: {} can reach {} over SSH",
        s_cfg.name, d_cfg.name
    ))
    .await;
    let probe = format!(
        "{} {} true",
        peer_ssh(&s_cfg, &d_cfg),
        quote(&format!("{}@{}", d_cfg.ssh.user, d_cfg.ssh.host))
    );
    let out = s_ssh.run(&probe, t).await?;
    if !out.success() {
        return Err(eyre!(
            "preflight: {} cannot reach {} over SSH: {}",
            s_cfg.name,
            d_cfg.name,
            out.stderr.trim()
        ));
    }

    phase("planning").await;
    let plan = monitor.plan(src, dst).await?;
    let mirror_files = status.nodes[dst]
        .facts
        .as_ref()
        .and_then(|f| f.datastore_files)
        .unwrap_or(0);
    let refusal = guard::check_deletes(
        &plan.totals,
        mirror_files,
        &monitor.cfg.sync,
        opts.allow_deletes,
    )
    .err();
    if let (Some(r), false) = (&refusal, opts.dry_run) {
        return Err(eyre!("{r}"));
    }
    if let Some(free) = status.nodes[dst].facts.as_ref().and_then(|f| f.disk_free)
        && plan.totals.bytes() > free
    {
        return Err(eyre!(
            "preflight: the plan moves {} but {} has only {} free",
            crate::format::bytes(plan.totals.bytes()),
            d_cfg.name,
            crate::format::bytes(free)
        ));
    }
    let mut report = SyncReport {
        source: s_cfg.name.clone(),
        target: d_cfg.name.clone(),
        plan: plan.totals.clone(),
        dry_run: opts.dry_run,
        files: 0,
        bytes: 0,
        duration_ms: 0,
        main_downtime_ms: 0,
        gtid_position: None,
        verified: false,
        verified_files: 0,
        mismatches: Vec::new(),
        refusal,
        cancelled: false,
    };
    if opts.dry_run {
        report.duration_ms = started.elapsed().as_millis() as u64;
        return Ok(report);
    }

    let lock = Lock::take(&s_ssh, &s_cfg.state_dir.display().to_string()).await?;
    let result = async {
        phase("bulk pass (the main stays live)").await;
        let mut tracker = Tracker::new(&plan.totals);
        transfer(
            &s_ssh,
            &rsync_command(&s_cfg, &d_cfg, &monitor.cfg.sync, Pass::Live),
            true,
            &mut tracker,
            &events,
            &lock,
            &opts.cancel,
        )
        .await?;
        if is_cancelled(&opts.cancel) {
            return Err(eyre!(CANCELLED));
        }

        phase(&format!(
            "freezing: stopping OpenKM on {} and {}",
            s_cfg.name, d_cfg.name
        ))
        .await;
        // The mirror's own instance holds its index open: stop it before the
        // main freezes (it takes no writes), so the main's downtime does not include it.
        let _ = d_ssh
            .run(&d_cfg.service.stop, Duration::from_secs(120))
            .await;
        let frozen = Instant::now();
        let stop = s_ssh
            .run(&s_cfg.service.stop, Duration::from_secs(120))
            .await;
        let stop_failure = match &stop {
            Ok(o) if o.success() => None,
            Ok(o) => Some(o.stdout.trim().to_string()),
            Err(e) => Some(e.to_string()),
        };
        if let Some(why) = stop_failure {
            // Leave nothing half-changed: both services are started again (a start on a
            // running instance is harmless for init scripts).
            let _ = s_ssh
                .run(&s_cfg.service.start, Duration::from_secs(300))
                .await;
            let _ = d_ssh
                .run(&d_cfg.service.start, Duration::from_secs(300))
                .await;
            return Err(eyre!(
                "stopping OpenKM on {}: {why}; both services were started again",
                s_cfg.name
            ));
        }
        let frozen_work = async {
            phase("final pass (with the index)").await;
            transfer(
                &s_ssh,
                &rsync_command(&s_cfg, &d_cfg, &monitor.cfg.sync, Pass::Frozen),
                false,
                &mut tracker,
                &events,
                &lock,
                &opts.cancel,
            )
            .await?;
            match monitor.cfg.sync.database {
                crate::config::DbSyncMode::Replication => {
                    phase("waiting for the mirror's database to apply the main's position").await;
                    monitor
                        .wait_mirror_caught_up(src, dst, Duration::from_secs(60))
                        .await
                }
                crate::config::DbSyncMode::Dump => {
                    phase("dumping the main's database into the mirror").await;
                    super::dump::dump_into_mirror(&s_ssh, &s_cfg, &d_ssh, &d_cfg)
                        .await
                        .map(|()| "dump".to_string())
                }
            }
        }
        .await;
        phase(&format!("unfreezing: starting OpenKM on {}", s_cfg.name)).await;
        let start = s_ssh
            .run(&s_cfg.service.start, Duration::from_secs(300))
            .await;
        let downtime = frozen.elapsed();
        let _ = d_ssh
            .run(&d_cfg.service.start, Duration::from_secs(300))
            .await;
        match start {
            Ok(o) if o.success() => {}
            Ok(o) => {
                return Err(eyre!(
                    "OpenKM did not start again on {}: {}",
                    s_cfg.name,
                    o.stdout.trim()
                ));
            }
            Err(e) => return Err(eyre!("OpenKM did not start again on {}: {e}", s_cfg.name)),
        }
        let pos = frozen_work?;
        Ok::<_, color_eyre::eyre::Report>((tracker, downtime, pos))
    }
    .await;
    lock.release(&s_ssh).await;
    let (tracker, downtime, pos) = match result {
        Err(e) if e.to_string() == CANCELLED => {
            phase("cancelled: the mirror keeps only complete files; OpenKM runs on the main").await;
            report.cancelled = true;
            report.duration_ms = started.elapsed().as_millis() as u64;
            return Ok(report);
        }
        other => other?,
    };
    report.files = tracker.files_done;
    report.bytes = tracker.bytes_done;
    report.main_downtime_ms = downtime.as_millis() as u64;
    report.gtid_position = Some(pos);

    phase("verifying: SHA-256 of both datastores").await;
    let (s_ds, s_sd) = (
        s_cfg.datastore_path().display().to_string(),
        s_cfg.state_dir.display().to_string(),
    );
    let (d_ds, d_sd) = (
        d_cfg.datastore_path().display().to_string(),
        d_cfg.state_dir.display().to_string(),
    );
    let (a, b) = tokio::join!(
        manifest_of(&s_ssh, &s_ds, &s_sd),
        manifest_of(&d_ssh, &d_ds, &d_sd)
    );
    let (a, b) = (a?, b?);
    report.mismatches = manifest::compare(&a, &b);
    report.verified = report.mismatches.is_empty();
    report.verified_files = a.len() as u64;
    report.duration_ms = started.elapsed().as_millis() as u64;

    phase("recording the sync on the mirror").await;
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
    };
    let json = serde_json::to_string(&record)?;
    let dir = quote(&d_cfg.state_dir.display().to_string());
    let out = d_ssh
        .run_with_stdin(
            &format!("mkdir -p {dir} && cat > {dir}/last-sync.json.tmp && mv {dir}/last-sync.json.tmp {dir}/last-sync.json"),
            Some(json.as_bytes()),
            t,
        )
        .await?;
    if !out.success() {
        return Err(eyre!(
            "writing the last-sync record on {}: {}",
            d_cfg.name,
            out.stderr.trim()
        ));
    }
    if let Ok(dir) = crate::paths::data_dir() {
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(
            dir.join(format!("last-sync-{}.json", monitor.cfg.pair)),
            &json,
        );
    }
    Ok(report)
}

/// One rsync pass on the source, its output followed line by line.
async fn transfer(
    ssh: &crate::node::NodeSsh,
    cmd: &str,
    live: bool,
    tracker: &mut Tracker,
    events: &mpsc::Sender<SyncEvent>,
    lock: &Lock,
    cancel: &Option<tokio::sync::watch::Receiver<bool>>,
) -> Result<()> {
    let (tx, mut rx) = mpsc::channel::<String>(1024);
    // rsync's PID goes to the lock folder, so a cancel stops exactly that process.
    let pidfile = quote(&format!("{}/rsync.pid", lock.path));
    let cmd = format!("echo $$ > {pidfile}; exec env {cmd}");
    let run = ssh.stream(&cmd, Duration::from_secs(24 * 3600), tx);
    tokio::pin!(run);
    let mut last_line = String::new();
    let mut cancel = cancel.clone();
    let mut cancelled = false;
    let code = loop {
        tokio::select! {
            _ = wait_cancel(&mut cancel), if !cancelled => {
                cancelled = true;
                let _ = ssh.run(&format!("kill $(cat {pidfile})"), Duration::from_secs(10)).await;
            },
            line = rx.recv() => if let Some(l) = line {
                let parsed = parse_run_line(&l);
                if let RunLine::Other(text) = &parsed && !text.is_empty() {
                    last_line = text.clone();
                    let _ = events.send(SyncEvent::Warning(text.clone())).await;
                }
                tracker.update(&parsed);
                let _ = events.send(SyncEvent::Progress(tracker.clone())).await;
            },
            code = &mut run => break code?,
        }
    };
    while let Ok(l) = rx.try_recv() {
        tracker.update(&parse_run_line(&l));
    }
    if cancelled {
        return Err(eyre!(CANCELLED));
    }
    if exit::is_success(code, live) {
        Ok(())
    } else {
        Err(eyre!("rsync: {} ({last_line})", exit::describe(code)))
    }
}

/// The error text of a cancelled run.
const CANCELLED: &str = "cancelled by the operator";

/// Resolves when the cancel flag turns true (never, without a flag).
async fn wait_cancel(cancel: &mut Option<tokio::sync::watch::Receiver<bool>>) {
    match cancel {
        Some(rx) => {
            if rx.wait_for(|c| *c).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending::<()>().await,
    }
}

fn is_cancelled(cancel: &Option<tokio::sync::watch::Receiver<bool>>) -> bool {
    cancel.as_ref().is_some_and(|c| *c.borrow())
}

/// The manifest of a node's datastore: `okmirror agent` where installed, else sha256sum.
async fn manifest_of(
    ssh: &crate::node::NodeSsh,
    datastore: &str,
    state_dir: &str,
) -> Result<manifest::Manifest> {
    let ds = quote(datastore);
    let cache = quote(&format!("{state_dir}/manifest-cache.tsv"));
    let script = format!(
        "if command -v okmirror >/dev/null 2>&1; then mkdir -p {sd} && echo AGENT && okmirror agent manifest --root {ds} --cache {cache}; \
         else echo SHA256SUM && cd {ds} && find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum; fi",
        sd = quote(state_dir)
    );
    let out = ssh.run(&script, Duration::from_secs(6 * 3600)).await?;
    if !out.success() {
        return Err(eyre!("manifest of {datastore}: {}", out.stderr.trim()));
    }
    let (head, body) = out.stdout.split_once('\n').unwrap_or((&out.stdout, ""));
    match head {
        "AGENT" => manifest::parse(body).map_err(|e| eyre!(e)),
        _ => manifest::parse_sha256sum(body).map_err(|e| eyre!(e)),
    }
}

/// One sync at a time per pair: a lock folder in the source's state dir, holding who took it.
struct Lock {
    path: String,
}

impl Lock {
    async fn take(ssh: &crate::node::NodeSsh, state_dir: &str) -> Result<Lock> {
        let path = format!("{state_dir}/sync.lock");
        let p = quote(&path);
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "okmirror".into());
        let me = format!("{host}:{}", std::process::id());
        let claim = |how: &str| {
            format!(
                "mkdir -p {sd} && if mkdir {p} 2>/dev/null; then echo {me} > {p}/owner; echo TAKEN; \
                 elif [ {how} ]; then echo {me} > {p}/owner; touch {p}; echo STALE; \
                 else echo HELD; cat {p}/owner 2>/dev/null; fi",
                sd = quote(state_dir),
                me = quote(&me)
            )
        };
        // Stale: taken more than 12 h ago, or by a console on this host that is gone.
        let out = ssh
            .run(
                &claim(&format!("-n \"$(find {p} -maxdepth 0 -mmin +720)\"")),
                Duration::from_secs(30),
            )
            .await?;
        let owner = out
            .stdout
            .lines()
            .nth(1)
            .unwrap_or("unknown")
            .trim()
            .to_string();
        match out.stdout.lines().next() {
            Some("TAKEN") | Some("STALE") => return Ok(Lock { path }),
            _ => {}
        }
        let dead_here = owner
            .split_once(':')
            .is_some_and(|(h, pid)| h == host && !Path::new(&format!("/proc/{pid}")).exists());
        if dead_here {
            let out = ssh
                .run(
                    &claim(&format!("\"$(cat {p}/owner)\" = {}", quote(&owner))),
                    Duration::from_secs(30),
                )
                .await?;
            if matches!(out.stdout.lines().next(), Some("TAKEN") | Some("STALE")) {
                return Ok(Lock { path });
            }
        }
        Err(eyre!(
            "another sync holds the lock {path} (owner {owner}); if none runs, remove that folder"
        ))
    }

    async fn release(self, ssh: &crate::node::NodeSsh) {
        let p = quote(&self.path);
        let _ = ssh
            .run(&format!("rm -rf {p}"), Duration::from_secs(30))
            .await;
    }
}
