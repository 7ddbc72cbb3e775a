//! What each step does on the nodes. Every action checks its own effect first where it
//! can, so running it again (on resume) is harmless.

use std::time::{Duration, Instant};

use color_eyre::eyre::{Result, WrapErr, eyre};
use mysql_async::Conn;
use mysql_async::prelude::Queryable;

use super::flow;
use super::journal::now_ms;
use super::{haproxy, sql};
use crate::config::NodeId;
use crate::db::replica::ReplicaStatus;
use crate::db::status::{DbStatus, Flavour, read_status};
use crate::db::versions::Watermark;
use crate::node::quote;
use crate::pair::Monitor;
use crate::pair::model::LastSync;
use crate::pair::roles::PairRoles;
use crate::sync::copy::Copier;
use crate::sync::events::SyncEvent;
use crate::sync::guardian::{Guardian, Restore};
use crate::sync::progress::Tracker;

/// What steps learn and later steps use (within one run of the flow).
#[derive(Default)]
pub(super) struct Ctx {
    /// The mirror's last heartbeat age at assessment (seconds).
    pub(super) last_beat_age: Option<f64>,
    /// How the old main was fenced.
    pub(super) fenced_by: Option<String>,
    /// The old main's journal point before the live copy: the final copy takes the
    /// versions created since (after a resume it is unknown, and the final copy plans).
    pub(super) watermark: Option<Watermark>,
    /// The freeze watchdogs on the old main (its writes, its OpenKM) and the new one (its
    /// OpenKM), from the freeze until they are disarmed just before promotion.
    pub(super) guards: Vec<Guardian>,
    /// Whether the old main answered SSH at the assessment (a failover's file salvage
    /// is not tried against a node that did not).
    pub(super) old_answered: Option<bool>,
    /// The flow's journal: lists written for the operator go beside it.
    pub(super) journal: Option<std::path::PathBuf>,
    /// The pair as probed while the flow took its locks (a failover's assessment uses
    /// it instead of waiting for a dead node a second time).
    pub(super) probed: Option<crate::pair::model::PairStatus>,
    /// The fence step found the old main answering neither SSH nor its database: the
    /// promotion's last look at it needs no long wait.
    pub(super) old_never_answered: bool,
}

/// Arms the watchdogs that give a frozen old main its writes and both OpenKMs back if
/// this console goes away before promotion.
pub(super) async fn arm_freeze_guards(
    m: &Monitor,
    old: NodeId,
    new: NodeId,
) -> Result<Vec<Guardian>> {
    let max = m.cfg.sync.freeze_max_secs;
    let (o, n) = (&m.nodes[old], &m.nodes[new]);
    let (a, b) = tokio::join!(
        Guardian::arm(
            &o.ssh,
            &o.cfg,
            "flow-old",
            Restore::DatabaseAndService,
            max,
            None
        ),
        Guardian::arm(&n.ssh, &n.cfg, "flow-new", Restore::Service, max, None)
    );
    Ok(vec![a?, b?])
}

/// Stands the freeze watchdogs down, each confirmed by its node; promotion must not
/// begin while one of them could still give the old main its writes back.
pub(super) async fn disarm_freeze_guards(ctx: &mut Ctx) -> Result<String> {
    if ctx.guards.is_empty() {
        return Ok(String::new());
    }
    let n = ctx.guards.len();
    for g in ctx.guards.drain(..) {
        g.release()
            .await
            .wrap_err("refusing to promote: a freeze watchdog could not be stood down")?;
    }
    Ok(format!("; {n} freeze watchdogs stood down"))
}

#[derive(Clone, Copy)]
pub(super) enum Svc {
    Start,
    Stop,
}

pub(super) async fn service(m: &Monitor, i: NodeId, what: Svc) -> Result<String> {
    let n = &m.nodes[i];
    let (cmd, word) = match what {
        Svc::Start => (&n.cfg.service.start, "start"),
        Svc::Stop => (&n.cfg.service.stop, "stop"),
    };
    let out = n
        .ssh
        .run(cmd, Duration::from_secs(300))
        .await
        .wrap_err_with(|| format!("{word} OpenKM on {}", n.cfg.name))?;
    if !out.success() {
        return Err(eyre!(
            "{word} OpenKM on {}: {} {}",
            n.cfg.name,
            out.stdout.trim(),
            out.stderr.trim()
        ));
    }
    Ok(format!("{}: {}", n.cfg.name, out.stdout.trim()))
}

pub(super) async fn status_of(m: &Monitor, i: NodeId) -> Result<(Conn, DbStatus)> {
    let mut c = m.connect_node(i).await?;
    let st = read_status(&mut c, &m.nodes[i].cfg.database.schema).await?;
    Ok((c, st))
}

pub(super) async fn run_sql(m: &Monitor, i: NodeId, stmts: &[String]) -> Result<()> {
    let mut c = m.connect_node(i).await?;
    for s in stmts {
        c.query_drop(s)
            .await
            .wrap_err_with(|| format!("on {}: {}", m.nodes[i].cfg.name, first_words(s)))?;
    }
    Ok(())
}

/// A statement's opening words, for errors (never the password part).
pub(super) fn first_words(s: &str) -> String {
    s.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// Which of a flow's two file copies.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum CopyPass {
    /// While the old main is live: a checked, planned and guarded copy.
    Live,
    /// While both OpenKMs are stopped: the versions created since the live copy, and
    /// the index (or, without that point, a checked, planned and guarded copy).
    Final,
}

/// A flow's file copy, through the sync's one guarded transfer path (the source check,
/// the plan and the deletion guard are the sync's own).
/// What a flow's copy may delete, and what cancels it.
pub(super) struct CopyRules {
    pub allow_deletes: Option<u64>,
    pub cancel: Option<tokio::sync::watch::Receiver<bool>>,
}

pub(super) async fn copy_files(
    m: &Monitor,
    (from, to): (NodeId, NodeId),
    pass: CopyPass,
    rules: CopyRules,
    ctx: &mut Ctx,
) -> Result<String> {
    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    let drain = tokio::spawn(async move {
        let mut phases = Vec::new();
        while let Some(ev) = rx.recv().await {
            if let SyncEvent::Phase(p) = ev {
                phases.push(p.text);
            }
        }
        phases
    });
    let copier = Copier {
        monitor: m,
        src: from,
        dst: to,
        lock_dir: format!("{}/sync.lock", m.nodes[from].cfg.state_dir.display()),
        allow_deletes: rules.allow_deletes,
        cancel: rules.cancel,
        events: tx,
    };
    let mut tracker = Tracker::default();
    let r = match pass {
        CopyPass::Live => copier.live_copy(&mut tracker).await.map(|(plan, w)| {
            ctx.watermark = w;
            plan.totals.summary()
        }),
        CopyPass::Final => {
            copier
                .final_copy(ctx.watermark.as_ref(), true, &mut tracker)
                .await
        }
    };
    drop(copier);
    let mut lines = drain.await.unwrap_or_default();
    let did = r?;
    lines.push(format!(
        "{did}; {} files copied {} -> {}",
        tracker.files_done, m.nodes[from].cfg.name, m.nodes[to].cfg.name
    ));
    Ok(lines.join("; "))
}

/// Where the nodes stand now, for the journal after a failed step: each one's database
/// writability and replication, as read afresh.
pub(super) async fn nodes_now(m: &Monitor) -> String {
    let status = m.probe_pair_for_sync().await;
    let each: Vec<String> = status
        .nodes
        .iter()
        .map(|n| {
            let db = match (&n.db, &n.db_error) {
                (Some(d), _) if d.writable() => "database writable".to_string(),
                (Some(d), _) => format!(
                    "database read-only{}",
                    if d.replica.is_some() {
                        ", replicating"
                    } else {
                        ""
                    }
                ),
                (None, e) => format!(
                    "database not answering ({})",
                    e.as_deref().unwrap_or("unknown")
                ),
            };
            format!("{}: {db}", n.name)
        })
        .collect();
    format!("nodes now: {}", each.join("; "))
}

/// Every check runs and every failure is reported, so the operator fixes all at once.
pub(super) async fn preflight(m: &Monitor, old: NodeId, new: NodeId) -> Result<String> {
    let cfg = &m.cfg.failover;
    let status = m.probe_pair(Some(Duration::from_secs(2))).await;
    let ends = PreflightEnds {
        on: &m.nodes[old].cfg.name,
        nn: &m.nodes[new].cfg.name,
    };
    ends.check_roles(&status.roles, old, new)?;
    let mut c = Checks::default();
    c.ok.push(format!("roles: {} main, {} mirror", ends.on, ends.nn));
    ends.errant(&mut c, errant_list(m, new, old).await);
    let new_db = status.nodes[new].db.as_ref();
    ends.replication(&mut c, new_db.and_then(|d| d.replica.clone()));
    ends.lag(&mut c, status.lag.heartbeat_secs, cfg.max_lag_secs);
    let facts = |i: NodeId| status.nodes[i].facts.as_ref();
    ends.disk(
        &mut c,
        facts(old).and_then(|f| f.datastore_bytes),
        facts(new).and_then(|f| f.datastore_bytes),
        facts(new).and_then(|f| f.disk_free),
    );
    let max_age = m.cfg.monitor.last_sync_warning_hours * 3600.0;
    ends.last_sync(
        &mut c,
        status.nodes[new].last_sync.as_ref(),
        status.taken_at,
        max_age,
    );
    let long = long_write_transactions(m, old, cfg.long_transaction_secs).await;
    ends.long_transactions(&mut c, long, cfg.long_transaction_secs);
    c.verdict()
}

/// What a preflight found: what passed, and what stops the switchover.
#[derive(Debug, Default)]
struct Checks {
    ok: Vec<String>,
    bad: Vec<String>,
}

impl Checks {
    /// The passed checks, or every failure.
    fn verdict(self) -> Result<String> {
        if self.bad.is_empty() {
            Ok(self.ok.join("; "))
        } else {
            Err(eyre!("{}", self.bad.join("; ")))
        }
    }
}

/// The names of a switchover's old main (`on`) and new main (`nn`), for the preflight's
/// checks. The checks are pure: they judge what the probe and the queries found.
struct PreflightEnds<'a> {
    on: &'a str,
    nn: &'a str,
}

impl PreflightEnds<'_> {
    /// The old main must be the writable main, the new one the read-only mirror.
    fn check_roles(&self, roles: &PairRoles, old: NodeId, new: NodeId) -> Result<()> {
        if *roles
            == (PairRoles::Normal {
                main: old,
                mirror: new,
            })
        {
            return Ok(());
        }
        Err(eyre!(
            "{} must be the writable main and {} the read-only mirror; the pair is {roles:?}",
            self.on,
            self.nn
        ))
    }

    /// Transactions written on the mirror only would be lost.
    fn errant(&self, c: &mut Checks, errant: Result<Vec<String>>) {
        let (on, nn) = (self.on, self.nn);
        match errant {
            Ok(e) if e.is_empty() => c.ok.push(format!("no errant transactions on {nn}")),
            Ok(e) => c.bad.push(format!(
                "errant transactions on {nn} (written there, never on {on}): {}; a switchover would lose them",
                e.join(", ")
            )),
            Err(e) => c.bad.push(format!("errant transaction check: {e:#}")),
        }
    }

    /// The mirror must replicate, both threads running.
    fn replication(&self, c: &mut Checks, replica: Option<ReplicaStatus>) {
        let (on, nn) = (self.on, self.nn);
        match replica {
            None => c.bad.push(format!("{nn} does not replicate from {on}")),
            Some(r) if !r.healthy() => c.bad.push(format!(
                "{nn}'s replication is not running (IO {}, SQL {}): {}",
                r.io.word(),
                r.sql.word(),
                r.last_sql_error.or(r.last_io_error).unwrap_or_default()
            )),
            Some(_) => c.ok.push("replication running".into()),
        }
    }

    /// The mirror's heartbeat lag must be under `max_lag_secs`.
    fn lag(&self, c: &mut Checks, heartbeat_secs: Option<f64>, max_lag_secs: f64) {
        match heartbeat_secs {
            Some(l) if l > max_lag_secs => c.bad.push(format!(
                "{} lags {l:.1} s behind (max_lag_secs = {max_lag_secs})",
                self.nn
            )),
            Some(l) => c.ok.push(format!("lag: {l:.3} s")),
            None => c.ok.push("lag: not measured (no heartbeat yet)".into()),
        }
    }

    /// Room on the new main for what its datastore still lacks (the sync steps copy it).
    fn disk(
        &self,
        c: &mut Checks,
        old_bytes: Option<u64>,
        new_bytes: Option<u64>,
        free: Option<u64>,
    ) {
        let (on, nn) = (self.on, self.nn);
        match (old_bytes, new_bytes, free) {
            (Some(o), Some(n), Some(free)) => {
                let need = o.saturating_sub(n);
                if need > free {
                    c.bad.push(format!(
                        "{nn} has {} free but its datastore lacks {} of {on}'s",
                        crate::format::bytes(free),
                        crate::format::bytes(need)
                    ));
                } else {
                    c.ok.push(format!("{nn} disk: {} free", crate::format::bytes(free)));
                }
            }
            // The sync steps check the room for their own plans again.
            _ => c.ok.push(format!(
                "disk room on {nn}: not known here (no datastore size from the last verify, or no disk figure); the sync steps check it"
            )),
        }
    }

    /// How stale the mirror's files may be: the flow's own syncs copy what is pending, but
    /// an old or failed last sync means a longer live sync, and the operator should know.
    /// Never a failure.
    fn last_sync(&self, c: &mut Checks, last: Option<&LastSync>, now: u64, max_age: f64) {
        let (on, nn) = (self.on, self.nn);
        c.ok.push(match last {
            Some(ls) if ls.source == on && ls.verified => {
                let age = now.saturating_sub(ls.finished_at) as f64;
                if age > max_age {
                    format!(
                        "last sync {on} -> {nn}: {:.1} h ago, over last_sync_warning_hours; the live sync has more to copy",
                        age / 3600.0
                    )
                } else {
                    format!("last sync {on} -> {nn}: {age:.0} s ago, verified")
                }
            }
            Some(ls) => format!(
                "last sync: {} -> {}, {}; the flow's own syncs copy what is pending",
                ls.source,
                ls.target,
                if ls.verified {
                    "verified"
                } else {
                    "NOT verified"
                }
            ),
            None => format!(
                "last sync: none recorded on {nn}; the flow's own syncs copy what is pending"
            ),
        });
    }

    /// No write transaction may stay open on the old main past the limit.
    fn long_transactions(&self, c: &mut Checks, open: Result<u64>, limit_secs: u64) {
        match open {
            Ok(0) => c.ok.push("no long write transactions on the main".into()),
            Ok(n) => c.bad.push(format!(
                "{n} write transaction(s) open on {} for more than {limit_secs} s; wait for them",
                self.on
            )),
            Err(e) => c.bad.push(format!("long transaction check: {e:#}")),
        }
    }
}

/// The write transactions open on node `i` for more than `secs`.
async fn long_write_transactions(m: &Monitor, i: NodeId, secs: u64) -> Result<u64> {
    m.db(i, async |c| {
        let n: Option<u64> = c
            .exec_first(
                "SELECT COUNT(*) FROM information_schema.innodb_trx \
                 WHERE trx_rows_modified > 0 AND trx_started < NOW() - INTERVAL ? SECOND",
                (secs,),
            )
            .await?;
        Ok(n.unwrap_or(0))
    })
    .await
}

/// Transactions on `candidate` that `main` never saw (GTID).
pub(super) async fn errant_list(
    m: &Monitor,
    candidate: NodeId,
    main: NodeId,
) -> Result<Vec<String>> {
    let (mut cc, cst) = status_of(m, candidate).await?;
    let (mut mc, _) = status_of(m, main).await?;
    match cst.flavour {
        Flavour::MariaDb => {
            let q = "SELECT @@gtid_binlog_state";
            let c: String = cc.query_first(q).await?.unwrap_or_default();
            let mm: String = mc.query_first(q).await?.unwrap_or_default();
            Ok(sql::errant_mariadb(&c, &mm))
        }
        Flavour::MySql => {
            let c: String = cc
                .query_first("SELECT @@gtid_executed")
                .await?
                .unwrap_or_default();
            let left: Option<String> = mc
                .exec_first("SELECT GTID_SUBTRACT(?, @@gtid_executed)", (c,))
                .await?;
            Ok(left
                .filter(|s| !s.trim().is_empty())
                .map(|s| vec![s.replace('\n', "")])
                .unwrap_or_default())
        }
    }
}

pub(super) async fn assess_failover(
    m: &Monitor,
    old: NodeId,
    new: NodeId,
    ctx: &mut Ctx,
) -> Result<String> {
    let status = match ctx.probed.take() {
        Some(s) => s,
        None => m.probe_pair(None).await,
    };
    let (o, n) = (&status.nodes[old], &status.nodes[new]);
    let nst = n.db.as_ref().ok_or_else(|| {
        eyre!(
            "{} is not reachable either: {}",
            n.name,
            n.db_error.clone().unwrap_or_default()
        )
    })?;
    if nst.writable() {
        return Err(eyre!("{} is already writable: nothing to promote", n.name));
    }
    let mut lines = Vec::new();
    lines.push(match (&o.ssh_error, &o.db_error) {
        (Some(s), Some(d)) => format!("{}: SSH fails ({s}); database fails ({d})", o.name),
        (None, Some(d)) => format!("{}: SSH answers; database fails ({d})", o.name),
        (Some(s), None) => format!("{}: SSH fails ({s}); database answers", o.name),
        (None, None) => format!("{}: reachable (it will be fenced before promotion)", o.name),
    });
    if let Some(r) = &nst.replica {
        lines.push(format!(
            "{}: replication IO {} ({}), SQL {}",
            n.name,
            r.io.word(),
            r.last_io_error
                .clone()
                .unwrap_or_else(|| r.io_state.clone()),
            r.sql.word()
        ));
    }
    ctx.last_beat_age = status.lag.last_beat_age_secs.or(status.lag.heartbeat_secs);
    ctx.old_answered = Some(o.ssh_error.is_none());
    if let Some(fb) = &status.files_behind {
        lines.push(match (&fb.error, fb.oldest_age_secs) {
            (Some(e), _) => format!("{}: documents without content unknown ({e})", n.name),
            (None, None) => format!("{}: every document has its content", n.name),
            (None, Some(age)) => format!(
                "{}: {} document(s) without content, the oldest from {} ago",
                n.name,
                fb.count,
                crate::format::duration_secs(age)
            ),
        });
    }
    if let Some(a) = ctx.last_beat_age {
        lines.push(format!(
            "{}'s last heartbeat from {} is {a:.1} s old",
            n.name, o.name
        ));
    }
    Ok(lines.join("; "))
}

pub(super) async fn assess_rejoin(m: &Monitor, old: NodeId, new: NodeId) -> Result<String> {
    let status = m.probe_pair(None).await;
    let (o, n) = (&status.nodes[old], &status.nodes[new]);
    if n.writable() != Some(true) {
        return Err(eyre!(
            "{} is not a writable main (its database: {:?})",
            n.name,
            n.db_error
        ));
    }
    if o.ssh_error.is_some() && o.db_error.is_some() {
        return Err(eyre!("{} is not reachable: nothing to rejoin yet", o.name));
    }
    Ok(format!(
        "{} is the main; {} is back ({})",
        n.name,
        o.name,
        match o.writable() {
            Some(true) => "WRITABLE: split brain until fenced",
            Some(false) => "read-only",
            None => "database not answering",
        }
    ))
}

/// What fencing the old main could see of it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct FenceSeen {
    /// It answered on SSH or its database at some point.
    pub answered: bool,
    /// `read_only` (and `super_read_only` on MySQL) seen ON over a fresh connection.
    pub read_only_proven: bool,
    /// Its OpenKM seen stopped (the status command exits non-zero).
    pub service_stopped: bool,
}

/// How an old main counts as fenced, from what was seen (pure, so it is unit tested):
/// a node that answered at any point needs proof (read-only seen, OpenKM stopped) or
/// the fence command; only a node that never answered may be attested by the operator.
pub(super) fn fence_verdict(seen: FenceSeen, has_command: bool) -> FenceVerdict {
    if seen.read_only_proven && seen.service_stopped {
        FenceVerdict::Proven
    } else if has_command {
        FenceVerdict::RunCommand
    } else if seen.answered {
        FenceVerdict::Refuse
    } else {
        FenceVerdict::Attested
    }
}

/// What fencing decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FenceVerdict {
    Proven,
    RunCommand,
    /// It answered but is not proven fenced, and there is no fence command.
    Refuse,
    /// It never answered: the operator typed its name to attest it is down or isolated.
    Attested,
}

pub(super) async fn fence_old_main(
    m: &Monitor,
    old: NodeId,
    flavour: Flavour,
    ctx: &mut Ctx,
) -> Result<String> {
    let n = &m.nodes[old];
    let mut seen = fence_attempts(m, old, flavour).await;
    // Proof, read afresh after the attempts: a new connection, and the status command.
    // A node that took neither an SSH session nor a database connection just now has
    // nothing to prove (it is attested or fenced by the command, and promotion reads it
    // once more): it costs one connect timeout, not one per attempt.
    if seen.answered {
        let (status, svc) = tokio::join!(
            tokio::time::timeout(Duration::from_secs(5), status_of(m, old)),
            tokio::time::timeout(
                Duration::from_secs(10),
                n.ssh.run(&n.cfg.service.status, Duration::from_secs(10)),
            )
        );
        if let Ok(Ok((_, st))) = &status {
            seen.read_only_proven = !st.writable();
        }
        if let Ok(Ok(o)) = &svc {
            seen.service_stopped = !o.success();
        }
    }
    let how = match fence_verdict(seen, m.cfg.failover.fence_command.is_some()) {
        FenceVerdict::Proven => {
            "read-only seen over a fresh connection; OpenKM stopped".to_string()
        }
        FenceVerdict::RunCommand => run_fence_command(m, old).await?,
        FenceVerdict::Attested => {
            "unreachable; the operator attested it is down or isolated".into()
        }
        FenceVerdict::Refuse => {
            return Err(eyre!(
                "{name} answers but is not proven fenced (read-only seen: {ro}, OpenKM stopped: {sv}); \
                 refusing to promote: two writable mains would follow. Stop {name}'s OpenKM and \
                 make its database read-only (or power it off), or configure [failover] \
                 fence_command, then resume",
                name = n.cfg.name,
                ro = seen.read_only_proven,
                sv = seen.service_stopped
            ));
        }
    };
    ctx.fenced_by = Some(how.clone());
    ctx.old_never_answered = !seen.answered;
    Ok(format!("{}: {how}", n.cfg.name))
}

/// The fence attempts on `old`, together: OpenKM stopped over SSH, the database made
/// read-only. Their results are not proof; `answered` says whether the node took an SSH
/// session or a database connection at all.
async fn fence_attempts(m: &Monitor, old: NodeId, flavour: Flavour) -> FenceSeen {
    let n = &m.nodes[old];
    let t = Duration::from_secs(15);
    let stop = tokio::time::timeout(t, n.ssh.run(&n.cfg.service.stop, Duration::from_secs(60)));
    // Connected counts as answered, even when the statements then hang.
    let connected = std::sync::atomic::AtomicBool::new(false);
    let sql = tokio::time::timeout(t, async {
        let mut c = m.connect_node(old).await?;
        connected.store(true, std::sync::atomic::Ordering::SeqCst);
        for s in sql::fence(flavour) {
            c.query_drop(&s).await?;
        }
        Ok::<(), color_eyre::eyre::Report>(())
    });
    let (stop, _) = tokio::join!(stop, sql);
    FenceSeen {
        answered: matches!(stop, Ok(Ok(_))) || connected.load(std::sync::atomic::Ordering::SeqCst),
        ..FenceSeen::default()
    }
}

/// Runs `[failover] fence_command` here; only its success fences.
async fn run_fence_command(m: &Monitor, old: NodeId) -> Result<String> {
    let name = &m.nodes[old].cfg.name;
    let cmd = m
        .cfg
        .failover
        .fence_command
        .as_deref()
        .ok_or_else(|| eyre!("no fence_command configured"))?
        .replace("{node}", name);
    let run = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&cmd)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .map_err(|_| eyre!("the fence command did not finish in 120 s; {name} is not fenced"))?
        .wrap_err("running the fence command")?;
    if !out.status.success() {
        return Err(eyre!(
            "the fence command failed ({}): {}; {name} is not fenced",
            out.status,
            crate::format::mask_secrets(String::from_utf8_lossy(&out.stderr).trim())
        ));
    }
    Ok("fenced by the fence command".into())
}

pub(super) async fn drain_relay(m: &Monitor, new: NodeId, timeout: Duration) -> Result<String> {
    let (mut c, st) = status_of(m, new).await?;
    let Some(r) = st.replica else {
        return Ok("no replication configured (already promoted?)".into());
    };
    let received = r.retrieved_gtid.trim().to_string();
    if received.is_empty() {
        return Ok("nothing received to apply".into());
    }
    let sql = match st.flavour {
        Flavour::MariaDb => "SELECT MASTER_GTID_WAIT(?, ?)",
        Flavour::MySql => "SELECT WAIT_FOR_EXECUTED_GTID_SET(?, ?)",
    };
    let secs = timeout.as_secs().saturating_sub(5).max(1);
    // The server's own limit, and one here for a server that stops answering.
    let r: Option<i64> = tokio::time::timeout(
        Duration::from_secs(secs + 3),
        c.exec_first(sql, (received.clone(), secs)),
    )
    .await
    .map_err(|_| eyre!("{} did not answer its GTID wait", m.nodes[new].cfg.name))??;
    if r != Some(0) {
        return Err(eyre!(
            "{} did not apply its received position {received} in time",
            m.nodes[new].cfg.name
        ));
    }
    Ok(format!("applied everything received ({received})"))
}

pub(super) async fn promote(
    m: &Monitor,
    (old, new): (NodeId, NodeId),
    flavour: Flavour,
    unreadable_ok: bool,
    never_answered: bool,
) -> Result<String> {
    let (on, nn) = (&m.nodes[old].cfg.name, &m.nodes[new].cfg.name);
    // Never two writable mains: refuse while the old main answers and takes writes, and
    // when it cannot be read at all, unless a failover's fence step settled that. An old
    // main that answered nothing seconds ago gets a short last look: a database that is
    // back answers a connection well within it.
    let look = if unreadable_ok && never_answered {
        Duration::from_millis(1500)
    } else {
        Duration::from_secs(5)
    };
    match tokio::time::timeout(look, status_of(m, old)).await {
        Ok(Ok((_, st))) if st.writable() => {
            return Err(eyre!(
                "refusing to promote {nn}: {on} is reachable and writable (fence it first)"
            ));
        }
        Ok(Ok(_)) => {}
        Ok(Err(_)) | Err(_) if unreadable_ok => {}
        Ok(Err(e)) => {
            return Err(eyre!(
                "refusing to promote {nn}: {on}'s state cannot be read ({e:#}); a switchover needs it read-only"
            ));
        }
        Err(_) => {
            return Err(eyre!(
                "refusing to promote {nn}: {on}'s database did not answer in 5 s; a switchover needs it read-only"
            ));
        }
    }
    let (_, st) = status_of(m, new).await?;
    if st.writable() && st.replica.is_none() {
        return Ok(format!("{nn} is already a writable main"));
    }
    run_sql(m, new, &sql::promote(flavour)).await?;
    Ok(format!("{nn} promoted: replication reset, writable"))
}

/// Fences `i` (read-only; `super_read_only` too on MySQL) and proves it over a fresh
/// connection.
pub(super) async fn ensure_fenced(m: &Monitor, i: NodeId, flavour: Flavour) -> Result<()> {
    run_sql(m, i, &sql::fence(flavour)).await?;
    let (_, st) = status_of(m, i).await?;
    if st.writable() {
        return Err(eyre!(
            "{} is still writable after fencing; make it read-only by hand before going on",
            m.nodes[i].cfg.name
        ));
    }
    Ok(())
}

/// Sets OpenKM's flag on one node, out of the binlog; a read-only server is opened for
/// that one statement (OpenKM is stopped there, so nothing else can write).
pub(super) async fn set_flag(m: &Monitor, i: NodeId, readonly: bool) -> Result<()> {
    let (mut c, st) = status_of(m, i).await?;
    if st.system_readonly == Some(readonly) {
        return Ok(());
    }
    let stmts = sql::set_system_readonly(&m.nodes[i].cfg.database.schema, readonly);
    let first = async {
        for s in &stmts {
            c.query_drop(s).await?;
        }
        Ok::<_, mysql_async::Error>(())
    }
    .await;
    match first {
        Ok(()) => Ok(()),
        Err(mysql_async::Error::Server(e)) if e.code == 1290 || e.code == 1836 => {
            // On this one connection: lift what blocks okmirror's own write, write,
            // fence again. On MySQL only super_read_only is lifted (read_only stays ON,
            // so OpenKM's user can never write meanwhile).
            for s in sql::lift_for_flag(st.flavour) {
                c.query_drop(s).await?;
            }
            let r = async {
                for s in &stmts {
                    c.query_drop(s).await?;
                }
                Ok::<_, mysql_async::Error>(())
            }
            .await;
            for s in sql::fence(st.flavour) {
                c.query_drop(s).await?;
            }
            r.wrap_err("setting system.readonly")
        }
        Err(e) => Err(e).wrap_err("setting system.readonly"),
    }
}

pub(super) async fn switch_traffic(m: &Monitor, old: NodeId, new: NodeId) -> Result<String> {
    let t = &m.cfg.traffic;
    let (o, n) = (&m.nodes[old].cfg, &m.nodes[new].cfg);
    let mut done = Vec::new();
    if t.haproxy_socket.is_some() || t.haproxy_address.is_some() {
        let be = t.haproxy_backend.as_deref().unwrap_or("openkm");
        let srv = crate::config::NodeConfig::haproxy_server;
        haproxy::switch(t, be, &srv(o), &srv(n)).await?;
        done.push(format!(
            "HAProxy {be}: {} ready, {} in maintenance",
            srv(n),
            srv(o)
        ));
    }
    if let Some(h) = &t.hook {
        let cmd = h.replace("{from}", &o.name).replace("{to}", &n.name);
        let out = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(&cmd)
            .output()
            .await
            .wrap_err_with(|| format!("running the traffic hook {cmd:?}"))?;
        if !out.status.success() {
            return Err(eyre!(
                "the traffic hook failed ({}): {}",
                out.status,
                crate::format::mask_secrets(String::from_utf8_lossy(&out.stderr).trim())
            ));
        }
        done.push("the traffic hook ran".to_string());
    }
    if done.is_empty() {
        done.push("no traffic switch configured: move clients yourself".into());
    }
    Ok(done.join("; "))
}

/// Writes a marker document through the front door and finds it in the new main's
/// database; retried while HAProxy's checks notice the change.
pub(super) async fn check_front_door(
    m: &Monitor,
    new: NodeId,
    timeout: Duration,
) -> Result<String> {
    let Some(front) = m.cfg.traffic.front_url.clone() else {
        return Ok("no front_url configured; skipped".into());
    };
    let n = &m.nodes[new].cfg;
    let door = super::front_door::FrontDoor::for_node(&front, n)?;
    let path = format!("/okm:root/okmirror-check/{}.txt", now_ms());
    let deadline = Instant::now() + timeout.saturating_sub(Duration::from_secs(2));
    let mut last = String::new();
    while Instant::now() < deadline {
        let answer = door
            .create(
                &path,
                "okmirror front door check".into(),
                super::front_door::WRITE_WITHIN,
            )
            .await;
        if answer.acknowledged() {
            if front_door_marker_on(m, new, &path).await? {
                return Ok(format!("{path} written through {front} is on {}", n.name));
            }
            return Err(eyre!(
                "a write through {front} succeeded but is not on {}: traffic goes elsewhere",
                n.name
            ));
        }
        last = format!(
            "HTTP {} {} {}",
            answer.code(),
            answer.body_head(200).trim(),
            answer.complaint().trim()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let state = front_door_new_main_state(m, new).await;
    Err(eyre!(
        "no write through {front} succeeded in time (last: {last}); {state}"
    ))
}

/// Whether the front-door check's marker document `path` is in node `i`'s database.
async fn front_door_marker_on(m: &Monitor, i: NodeId, path: &str) -> Result<bool> {
    let schema = m.nodes[i].cfg.database.schema.clone();
    let p = path.to_string();
    let found = m
        .db(i, async |c| {
            let k: Option<u64> = c
                .exec_first(
                    format!(
                        "SELECT COUNT(*) FROM `{}`.OKM_NODE_DOCUMENT_VERSION WHERE NDV_PATH = ?",
                        schema.replace('`', "``")
                    ),
                    (p,),
                )
                .await?;
            Ok(k.unwrap_or(0))
        })
        .await?;
    Ok(found > 0)
}

/// What the new main looks like when no write got through: the usual causes are there.
async fn front_door_new_main_state(m: &Monitor, new: NodeId) -> String {
    let name = &m.nodes[new].cfg.name;
    match status_of(m, new).await {
        Ok((_, st)) => format!(
            "{name}: database read_only {}, system.readonly {:?}",
            st.read_only, st.system_readonly
        ),
        Err(e) => format!("{name}: database not answering ({e:#})"),
    }
}

pub(super) async fn repoint(
    m: &Monitor,
    old: NodeId,
    new: NodeId,
    flavour: Flavour,
    timeout: Duration,
    from_own_binlog: bool,
) -> Result<String> {
    let (on, nn) = (&m.nodes[old].cfg.name, &m.nodes[new].cfg.name);
    let src = flow::replication_source(&m.cfg, new);
    let (_, st) = status_of(m, old).await?;
    let already = st.replica.as_ref().is_some_and(|r| {
        r.healthy() && r.source_host == src.host && r.source_port == Some(src.port)
    });
    if !already {
        if st.writable() {
            return Err(eyre!("{on} is writable: fence it before it replicates"));
        }
        let repl = m.cfg.replication.as_ref().ok_or_else(|| {
            eyre!("no [replication] section: okmirror does not know the replication account")
        })?;
        let password = repl
            .password_source()
            .map_err(|e| eyre!("replication password: {e}"))?
            .resolve()
            .map_err(|e| eyre!("replication password: {e}"))?;
        run_sql(
            m,
            old,
            &sql::repoint_from(flavour, &src, password.expose(), from_own_binlog),
        )
        .await?;
    }
    let deadline = Instant::now() + timeout.saturating_sub(Duration::from_secs(2));
    loop {
        let (_, st) = status_of(m, old).await?;
        match st.replica {
            Some(r) if r.healthy() => {
                return Ok(format!(
                    "{on} replicates from {nn} ({}:{})",
                    src.host, src.port
                ));
            }
            Some(r) if Instant::now() >= deadline => {
                return Err(eyre!(
                    "{on}'s replication from {nn} does not run: IO {} SQL {} {}",
                    r.io.word(),
                    r.sql.word(),
                    r.last_io_error.or(r.last_sql_error).unwrap_or_default()
                ));
            }
            None if Instant::now() >= deadline => {
                return Err(eyre!("{on} has no replication configured"));
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

pub(super) async fn prove_direction(
    m: &Monitor,
    main: NodeId,
    replica: NodeId,
    timeout: Duration,
) -> Result<String> {
    let seq = m.beat(main).await?;
    let (_, st) = status_of(m, main).await?;
    let deadline = Instant::now() + timeout.saturating_sub(Duration::from_secs(2));
    while Instant::now() < deadline {
        let seen = m
            .db(replica, async |c| {
                crate::db::heartbeat::read(c, st.server_id).await
            })
            .await?;
        if seen.as_ref().is_some_and(|(_, s)| *s >= seq) {
            return Ok(format!(
                "marker {seq} written on {} arrived on {}",
                m.nodes[main].cfg.name, m.nodes[replica].cfg.name
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(eyre!(
        "marker {seq} written on {} did not arrive on {}",
        m.nodes[main].cfg.name,
        m.nodes[replica].cfg.name
    ))
}

/// Copies the node's binlogs (its own transactions included) into its state dir, before
/// a reseed resets them: nothing written there is ever discarded silently.
pub(super) async fn save_binlogs(m: &Monitor, i: NodeId) -> Result<String> {
    let n = &m.nodes[i];
    let base: Option<Option<String>> = m
        .db(i, async |c| {
            Ok(c.query_first("SELECT @@log_bin_basename").await?)
        })
        .await?;
    let Some(base) = base.flatten().filter(|b| !b.is_empty()) else {
        return Ok(format!(
            "{}: binary logging is off; nothing to save",
            n.cfg.name
        ));
    };
    let dir = format!("{}/binlogs-{}", n.cfg.state_dir.display(), now_ms());
    let script = format!(
        "mkdir -p {d} && cp -p {b}.[0-9]* {b}.index {d}/ && ls {d} | wc -l",
        d = quote(&dir),
        b = quote(&base)
    );
    let out = n.ssh.run(&script, Duration::from_secs(3600)).await?;
    if !out.success() {
        return Err(eyre!(
            "saving {}'s binlogs to {dir}: {}",
            n.cfg.name,
            out.stderr.trim()
        ));
    }
    Ok(format!(
        "{} files saved to {dir} on {} (mysqlbinlog reads them)",
        out.stdout.trim(),
        n.cfg.name
    ))
}

pub(super) async fn errant_check(m: &Monitor, old: NodeId, new: NodeId) -> Result<String> {
    let errant = errant_list(m, old, new).await?;
    let (on, nn) = (&m.nodes[old].cfg.name, &m.nodes[new].cfg.name);
    if errant.is_empty() {
        return Ok(format!("{on} has nothing {nn} lacks"));
    }
    Err(eyre!(
        "errant transactions on {on}, never seen by {nn}: {}. They were written on {on} and \
         would be lost; nothing was changed. Reconcile them by hand, or give them up with \
         `okmirror rejoin {on} --reseed` (its binlogs are saved first, then its database is \
         replaced by a dump of {nn}'s)",
        errant.join(", ")
    ))
}

pub(super) async fn loss_report(m: &Monitor, old: NodeId, new: NodeId, ctx: &Ctx) -> String {
    let on = &m.nodes[old].cfg.name;
    let mut parts = Vec::new();
    match ctx.last_beat_age {
        Some(a) => parts.push(format!(
            "database: transactions on {on} in the last {a:.1} s before the failure may be lost"
        )),
        None => parts.push("database: no heartbeat measured; the loss window is unknown".into()),
    }
    if let Some(f) = &ctx.fenced_by {
        parts.push(format!("fencing: {f}"));
    }
    parts.push(super::files::missing_report(m, new, ctx.journal.as_deref()).await);
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NodeId;

    const A: NodeId = NodeId::First;
    const B: NodeId = NodeId::Second;

    #[test]
    fn a_node_that_answered_needs_proof_or_the_fence_command() {
        let seen = |answered, ro, stopped| FenceSeen {
            answered,
            read_only_proven: ro,
            service_stopped: stopped,
        };
        use FenceVerdict::*;
        assert_eq!(fence_verdict(seen(true, true, true), false), Proven);
        // The fence SQL hung, the service stop worked: not proof.
        assert_eq!(fence_verdict(seen(true, false, true), false), Refuse);
        assert_eq!(fence_verdict(seen(true, true, false), false), Refuse);
        assert_eq!(fence_verdict(seen(true, false, true), true), RunCommand);
        // Never answered: the command if there is one, else the operator's word.
        assert_eq!(fence_verdict(seen(false, false, false), true), RunCommand);
        assert_eq!(fence_verdict(seen(false, false, false), false), Attested);
    }

    #[test]
    fn on_mysql_the_flag_write_never_lifts_read_only() {
        assert_eq!(
            sql::lift_for_flag(Flavour::MySql),
            vec!["SET GLOBAL super_read_only = OFF"]
        );
    }

    const ENDS: PreflightEnds<'static> = PreflightEnds {
        on: "dms1",
        nn: "dms2",
    };

    #[test]
    fn a_preflight_needs_the_old_main_as_main_and_the_new_one_as_mirror() {
        let normal = PairRoles::Normal { main: A, mirror: B };
        assert!(ENDS.check_roles(&normal, A, B).is_ok());
        let e = ENDS.check_roles(&normal, B, A).unwrap_err().to_string();
        assert!(e.starts_with("dms1 must be the writable main"), "{e}");
        assert!(ENDS.check_roles(&PairRoles::SplitBrain, A, B).is_err());
    }

    #[test]
    fn preflight_checks_report_every_failure_together() {
        let mut c = Checks::default();
        ENDS.errant(&mut c, Ok(vec!["0-2-7".into()]));
        ENDS.replication(&mut c, None);
        ENDS.lag(&mut c, Some(12.0), 5.0);
        // The new main lacks 3 GiB and has 1 GiB free.
        ENDS.disk(&mut c, Some(5 << 30), Some(2 << 30), Some(1 << 30));
        ENDS.long_transactions(&mut c, Ok(2), 30);
        assert_eq!(c.bad.len(), 5, "{:?}", c.bad);
        assert!(c.bad[0].contains("0-2-7"), "{}", c.bad[0]);
        assert_eq!(c.bad[1], "dms2 does not replicate from dms1");
        assert_eq!(c.bad[2], "dms2 lags 12.0 s behind (max_lag_secs = 5)");
        assert!(c.bad[3].contains("1.0 GiB free"), "{}", c.bad[3]);
        assert!(c.bad[4].starts_with("2 write transaction(s) open on dms1"));
        let e = c.verdict().unwrap_err().to_string();
        assert!(e.matches("; ").count() >= 4, "{e}");
    }

    #[test]
    fn preflight_checks_pass_and_unknowns_do_not_stop_it() {
        let mut c = Checks::default();
        ENDS.errant(&mut c, Ok(Vec::new()));
        ENDS.lag(&mut c, None, 5.0);
        ENDS.disk(&mut c, None, Some(1), Some(1));
        let ls = LastSync {
            finished_at: 1_000,
            source: "dms1".into(),
            target: "dms2".into(),
            files: 1,
            bytes: 1,
            duration_ms: 1,
            main_downtime_ms: 0,
            verified: true,
            journal_point: None,
        };
        ENDS.last_sync(&mut c, Some(&ls), 1_060, 3600.0);
        ENDS.last_sync(&mut c, Some(&ls), 1_000 + 7200, 3600.0);
        ENDS.last_sync(&mut c, None, 0, 3600.0);
        ENDS.long_transactions(&mut c, Ok(0), 30);
        assert!(c.bad.is_empty(), "{:?}", c.bad);
        assert_eq!(c.ok[3], "last sync dms1 -> dms2: 60 s ago, verified");
        assert!(c.ok[4].contains("2.0 h ago, over last_sync_warning_hours"));
        assert!(c.ok[5].starts_with("last sync: none recorded on dms2"));
        assert!(c.verdict().is_ok());
    }
}
