//! Runs a flow: each step is journaled before and after it acts, confirmed when it must
//! be, bounded by its timeout, and written so that running it twice is harmless (it
//! checks its own effect first). A failure before promotion gives the old main back
//! its writes; a failure after it stops and says where, for `okmirror resume`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use color_eyre::eyre::{Result, eyre};
use mysql_async::prelude::Queryable;
use serde::Serialize;
use tokio::sync::mpsc;

use super::actions::*;
use super::flow::{self, Action, Confirm, Ends, FlowKind, Step};
use super::journal::{self, Entry, Journal, now_ms};
use super::outcome::{Outcome, StepState};
use super::sql;
use crate::config::NodeId;
use crate::db::status::{Flavour, read_status};
use crate::pair::Monitor;
use crate::sync::events::{Phase, PhaseKind};

/// Progress of a flow, for the faces.
#[derive(Debug, Clone)]
pub enum FlowEvent {
    /// The steps, before anything runs (index = position).
    Planned(Vec<Step>),
    /// Steps already done in an earlier run of this flow (resume).
    AlreadyDone(Vec<String>),
    Started(usize),
    Done {
        step: usize,
        ok: bool,
        output: String,
        ms: u64,
    },
    /// A rollback ran after a failure before promotion.
    RolledBack(String),
    /// The operator must answer before `step` acts (see `ChannelConfirmer`).
    Ask {
        step: Box<Step>,
        reply: Reply,
    },
}

/// The answer slot of an `Ask` (cloneable, answered once).
#[derive(Debug, Clone)]
pub struct Reply(Arc<std::sync::Mutex<Option<tokio::sync::oneshot::Sender<bool>>>>);

impl Reply {
    /// Wraps the sender half of a one-shot answer.
    pub fn new(tx: tokio::sync::oneshot::Sender<bool>) -> Reply {
        Reply(Arc::new(std::sync::Mutex::new(Some(tx))))
    }

    /// Answers; later answers are ignored.
    pub fn send(&self, yes: bool) {
        if let Some(tx) = self.0.lock().ok().and_then(|mut g| g.take()) {
            let _ = tx.send(yes);
        }
    }
}

/// Asks the operator before a step that needs confirmation.
pub trait Confirmer {
    /// `true` to go on with `step`. For `Confirm::TypedNode`, only the exact name counts.
    fn confirm(&mut self, step: &Step) -> impl std::future::Future<Output = bool> + Send;
}

/// Asks through the event channel, so questions arrive in order with the progress:
/// the face answers each `FlowEvent::Ask` (the CLI from flags or a prompt, the TUI from
/// a dialog). A face that goes away counts as "no".
pub struct ChannelConfirmer(pub mpsc::Sender<FlowEvent>);

impl Confirmer for ChannelConfirmer {
    async fn confirm(&mut self, step: &Step) -> bool {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let ask = FlowEvent::Ask {
            step: Box::new(step.clone()),
            reply: Reply::new(tx),
        };
        if self.0.send(ask).await.is_err() {
            return false;
        }
        rx.await.unwrap_or(false)
    }
}

/// How a flow ended, built from its journal.
#[derive(Debug, Clone, Serialize)]
pub struct FlowReport {
    pub id: String,
    pub kind: FlowKind,
    pub from: String,
    pub to: String,
    pub outcome: Outcome,
    pub ok: bool,
    pub journal: PathBuf,
    pub steps: Vec<StepReport>,
}

/// One step as journaled.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    pub id: String,
    pub title: String,
    pub state: StepState,
    pub output: String,
    pub started_ms: Option<u64>,
    pub ended_ms: Option<u64>,
}

/// Where flow journals live.
pub fn journal_dir() -> Result<PathBuf> {
    Ok(crate::paths::data_dir()?.join("flows"))
}

/// The database flavour of `node` (for the SQL a plan shows).
pub async fn flavour_of(monitor: &Monitor, node: NodeId) -> Result<Flavour> {
    monitor
        .db(node, async |c| {
            let v: String = c.query_first("SELECT VERSION()").await?.unwrap_or_default();
            Ok(Flavour::of_version(&v))
        })
        .await
}

/// Finds a node by name (case-insensitive), with a clear error.
pub fn node_id(monitor: &Monitor, name: &str) -> Result<NodeId> {
    monitor
        .nodes
        .iter()
        .position(|n| n.cfg.name.eq_ignore_ascii_case(name))
        .and_then(NodeId::from_index)
        .ok_or_else(|| {
            eyre!(
                "no node named {name:?}; the nodes are {} and {}",
                monitor.nodes[0].cfg.name,
                monitor.nodes[1].cfg.name
            )
        })
}

/// A flow ready to run (new or resumed).
pub struct Runner {
    pub monitor: Arc<Monitor>,
    pub kind: FlowKind,
    pub old: NodeId,
    pub new: NodeId,
    pub steps: Vec<Step>,
    pub flavour: Flavour,
    /// The number of deletions the operator confirmed for the flow's copies.
    pub allow_deletes: Option<u64>,
    /// Set by a signal (SIGINT, SIGTERM, SIGHUP): before promotion the flow stops at the
    /// next step (its copies are cancelled) and rolls back; after it, it goes on.
    pub stop: Option<tokio::sync::watch::Receiver<bool>>,
}

impl Runner {
    /// Plans a flow; `flavour` comes from whichever node answers (MariaDB if none).
    pub async fn plan(monitor: Arc<Monitor>, kind: FlowKind, old: NodeId, new: NodeId) -> Runner {
        let flavour = match flavour_of(&monitor, new).await {
            Ok(f) => f,
            Err(_) => flavour_of(&monitor, old).await.unwrap_or(Flavour::MariaDb),
        };
        let steps = flow::plan(
            kind,
            &Ends {
                cfg: &monitor.cfg,
                old,
                new,
                flavour,
            },
        );
        Runner {
            monitor,
            kind,
            old,
            new,
            steps,
            flavour,
            allow_deletes: None,
            stop: None,
        }
    }

    /// Starts the flow with a new journal and runs it.
    pub async fn run<C: Confirmer>(
        self,
        confirmer: &mut C,
        events: &mpsc::Sender<FlowEvent>,
    ) -> Result<FlowReport> {
        let dir = journal_dir()?;
        if let Some(p) = journal::unfinished_flow(&dir)? {
            return Err(eyre!(
                "an unfinished flow is journaled in {}: finish it with `okmirror resume` (or `okmirror abandon` after checking the nodes by hand)",
                p.display()
            ));
        }
        let id = format!(
            "{}-{}-{}-to-{}",
            now_ms(),
            self.kind.word(),
            self.monitor.nodes[self.old].cfg.name,
            self.monitor.nodes[self.new].cfg.name
        );
        let j = Journal::create(
            &dir,
            Entry::Flow {
                id,
                kind: self.kind,
                from: self.monitor.nodes[self.old].cfg.name.clone(),
                to: self.monitor.nodes[self.new].cfg.name.clone(),
                steps: self.steps.iter().map(|s| s.id.clone()).collect(),
                at_ms: now_ms(),
            },
        )?;
        self.execute(j, confirmer, events).await
    }

    /// Reopens an unfinished journal and plans the same flow again.
    pub async fn reopen(monitor: Arc<Monitor>, path: &Path) -> Result<(Runner, Journal)> {
        let j = Journal::open(path)?;
        let Some(Entry::Flow {
            kind,
            from,
            to,
            steps,
            ..
        }) = j.entries.first().cloned()
        else {
            return Err(eyre!("{}: no flow at its start", path.display()));
        };
        let (old, new) = (node_id(&monitor, &from)?, node_id(&monitor, &to)?);
        let r = Runner::plan(monitor, kind, old, new).await;
        let ids: Vec<String> = r.steps.iter().map(|s| s.id.clone()).collect();
        if ids != steps {
            return Err(eyre!(
                "{}: the journaled steps differ from this okmirror's {} (a different version?); finish by hand",
                path.display(),
                kind.word()
            ));
        }
        Ok((r, j))
    }

    /// Runs the steps not yet done in `j`.
    pub async fn execute<C: Confirmer>(
        self,
        mut j: Journal,
        confirmer: &mut C,
        events: &mpsc::Sender<FlowEvent>,
    ) -> Result<FlowReport> {
        let _ = events.send(FlowEvent::Planned(self.steps.clone())).await;
        let done = self.still_done(&j);
        if !done.is_empty() {
            let _ = events.send(FlowEvent::AlreadyDone(done.clone())).await;
        }
        // No sync (cron, another console) may run while the flow moves the service: the
        // sync lock is held on every node that answers, for the whole run.
        // A failover's assessment probes the pair while the locks are taken: a dead old
        // main then costs one connect timeout, not two.
        let assess_next = self
            .steps
            .iter()
            .find(|s| !done.contains(&s.id))
            .is_some_and(|s| s.action == Action::Assess && self.kind == FlowKind::Failover);
        let (locks, probed) = tokio::join!(self.lock_nodes(), async {
            match assess_next {
                true => Some(self.monitor.probe_pair(None).await),
                false => None,
            }
        });
        let locks = locks?;
        // A rollback after a failure runs under the locks too.
        let outcome = match self
            .run_steps(&mut j, &done, probed, confirmer, events)
            .await
        {
            Ok(Some((i, why))) => self.fail(j, i, why, events).await,
            Ok(None) => j
                .append(Entry::End {
                    outcome: Outcome::Completed,
                    at_ms: now_ms(),
                })
                .map(|()| report(&j.path, &j.entries, &self.steps)),
            Err(e) => Err(e),
        };
        for (i, l) in locks {
            l.release(&self.monitor.nodes[i].ssh).await;
        }
        outcome
    }

    /// What the flow's copies may do, and what cancels them.
    fn copy_rules(&self) -> CopyRules {
        CopyRules {
            allow_deletes: self.allow_deletes,
            cancel: self.stop.clone(),
        }
    }

    /// The journal's done steps, less the old main's freeze and what follows it when
    /// promotion has not begun: the console that froze it is gone, and its watchdogs
    /// gave the old main its writes back, so a resume freezes it again.
    pub fn still_done(&self, j: &Journal) -> Vec<String> {
        let done = j.done_steps();
        let started = |id: &str| {
            j.entries
                .iter()
                .any(|e| matches!(e, Entry::Start { step, .. } if step == id))
        };
        let promoting = self
            .steps
            .iter()
            .any(|s| !s.before_promotion && started(&s.id));
        let freeze = self
            .steps
            .iter()
            .position(|s| s.action == Action::FreezeOldMain);
        match freeze {
            Some(at) if !promoting && done.contains(&self.steps[at].id) => {
                let again: Vec<&str> = self.steps[at..].iter().map(|s| s.id.as_str()).collect();
                done.into_iter()
                    .filter(|id| !again.contains(&id.as_str()))
                    .collect()
            }
            _ => done,
        }
    }

    /// Takes the sync lock on each node that answers SSH (an unreachable old main in a
    /// failover is skipped: it is being fenced).
    async fn lock_nodes(&self) -> Result<Vec<(usize, crate::pair::lock::Lock)>> {
        let mut locks = Vec::new();
        // Which nodes answer, asked of both at once.
        let answer = |n: &Arc<crate::pair::NodeLink>| {
            let ssh = Arc::clone(&n.ssh);
            async move {
                matches!(ssh.run("true", std::time::Duration::from_secs(5)).await, Ok(o) if o.success())
            }
        };
        let (a, b) = tokio::join!(
            answer(&self.monitor.nodes[0]),
            answer(&self.monitor.nodes[1])
        );
        for (i, n) in self.monitor.nodes.iter().enumerate() {
            if ![a, b][i] {
                continue;
            }
            let state_dir = n.cfg.state_dir.display().to_string();
            match crate::pair::lock::Lock::take(&n.ssh, &state_dir).await {
                Ok(l) => locks.push((i, l)),
                Err(e) => {
                    for (k, l) in locks {
                        l.release(&self.monitor.nodes[k].ssh).await;
                    }
                    return Err(e.wrap_err(format!("{}: the flow cannot start", n.cfg.name)));
                }
            }
        }
        Ok(locks)
    }

    /// Runs the steps not done yet; `Some((step, why))` when one failed or was declined.
    async fn run_steps<C: Confirmer>(
        &self,
        j: &mut Journal,
        done: &[String],
        probed: Option<crate::pair::model::PairStatus>,
        confirmer: &mut C,
        events: &mpsc::Sender<FlowEvent>,
    ) -> Result<Option<(usize, String)>> {
        let mut ctx = Ctx {
            journal: Some(j.path.clone()),
            probed,
            ..Ctx::default()
        };
        for (i, step) in self.steps.iter().enumerate() {
            if done.contains(&step.id) {
                continue;
            }
            if step.before_promotion && crate::sync::copy::is_cancelled(&self.stop) {
                return Ok(Some((i, "stopped by a signal before this step".into())));
            }
            if step.confirm != Confirm::None && !confirmer.confirm(step).await {
                let why = format!("not confirmed: {}", step.title);
                j.append(Entry::Done {
                    step: step.id.clone(),
                    ok: false,
                    output: why.clone(),
                    at_ms: now_ms(),
                })?;
                return Ok(Some((i, why)));
            }
            j.append(Entry::Start {
                step: step.id.clone(),
                at_ms: now_ms(),
            })?;
            let _ = events.send(FlowEvent::Started(i)).await;
            let t0 = Instant::now();
            let r = match tokio::time::timeout(step.timeout, self.act(step, &mut ctx)).await {
                Ok(r) => r,
                Err(_) => Err(eyre!("timed out after {} s", step.timeout.as_secs())),
            };
            let ms = t0.elapsed().as_millis() as u64;
            // Journals and reports outlive the run: nothing that looks like a secret
            // (a hook's or fence command's words, SQL echoed in an error) goes in.
            let (ok, output) = match r {
                Ok(o) => (true, crate::format::mask_secrets(&o)),
                Err(e) => {
                    // Say where things stand, not only what went wrong.
                    let now = nodes_now(&self.monitor).await;
                    (
                        false,
                        crate::format::mask_secrets(&format!("{e:#} ({now})")),
                    )
                }
            };
            j.append(Entry::Done {
                step: step.id.clone(),
                ok,
                output: output.clone(),
                at_ms: now_ms(),
            })?;
            let _ = events
                .send(FlowEvent::Done {
                    step: i,
                    ok,
                    output: output.clone(),
                    ms,
                })
                .await;
            if !ok {
                return Ok(Some((i, output)));
            }
        }
        Ok(None)
    }

    /// Ends a flow after a failed step: rolls the old main back when promotion has not
    /// happened, and journals the outcome.
    async fn fail(
        &self,
        mut j: Journal,
        i: usize,
        why: String,
        events: &mpsc::Sender<FlowEvent>,
    ) -> Result<FlowReport> {
        let step = &self.steps[i];
        // Only a frozen old main needs its writes given back.
        let frozen = self
            .steps
            .iter()
            .filter(|s| s.action == Action::FreezeOldMain)
            .any(|s| {
                j.entries
                    .iter()
                    .any(|e| matches!(e, Entry::Start { step, .. } if *step == s.id))
            });
        // Promotion has begun once a step after it started acting (a step declined at
        // its confirmation never started).
        let promoting = self.steps.iter().any(|s| {
            !s.before_promotion
                && j.entries
                    .iter()
                    .any(|e| matches!(e, Entry::Start { step, .. } if *step == s.id))
        });
        let outcome = if !promoting && frozen {
            let limit = std::time::Duration::from_secs(120);
            let rolled = tokio::time::timeout(limit, self.rollback())
                .await
                .unwrap_or_else(|_| Err(eyre!("no answer in {} s", limit.as_secs())));
            match rolled {
                Ok(msg) => {
                    let _ = events.send(FlowEvent::RolledBack(msg.clone())).await;
                    Outcome::Failed(format!("failed at {}: {why}; rolled back: {msg}", step.id))
                }
                Err(e) => {
                    // The journal stays open: the rollback can be run again once the
                    // node answers.
                    let mut r = report(&j.path, &j.entries, &self.steps);
                    r.outcome = Outcome::Failed(format!(
                        "failed at {}: {why}; ROLLBACK FAILED: {}; the journal stays open: \
                         when {} answers, run `okmirror rollback --yes` (its watchdog gives it \
                         its writes back within freeze_max_secs in any case)",
                        step.id,
                        crate::format::mask_secrets(&format!("{e:#}")),
                        self.monitor.nodes[self.old].cfg.name
                    ));
                    return Ok(r);
                }
            }
        } else if !promoting {
            Outcome::Failed(format!(
                "failed at {}: {why}; nothing was promoted",
                step.id
            ))
        } else {
            // After promotion the way back is forward: the journal stays open for resume.
            return Ok(report(&j.path, &j.entries, &self.steps));
        };
        j.append(Entry::End {
            outcome,
            at_ms: now_ms(),
        })?;
        Ok(report(&j.path, &j.entries, &self.steps))
    }

    /// Ends an unfinished flow the way back instead of forward: only before promotion
    /// began (after it, the way back is forward: resume). A frozen old main of a
    /// switchover gets its writes back; a fenced node stays fenced.
    pub async fn roll_back(self, mut j: Journal) -> Result<FlowReport> {
        let started = |id: &str| {
            j.entries
                .iter()
                .any(|e| matches!(e, Entry::Start { step, .. } if step == id))
        };
        if let Some(s) = self
            .steps
            .iter()
            .find(|s| !s.before_promotion && started(&s.id))
        {
            return Err(eyre!(
                "this {} reached {:?}: promotion has begun, so the way back is forward (okmirror resume)",
                self.kind.word(),
                s.title
            ));
        }
        let frozen = self
            .steps
            .iter()
            .any(|s| s.action == Action::FreezeOldMain && started(&s.id));
        let outcome = Outcome::RolledBackByOperator(if frozen {
            self.rollback().await?
        } else {
            "nothing had been changed that needs undoing (a fenced node stays fenced)".into()
        });
        j.append(Entry::End {
            outcome,
            at_ms: now_ms(),
        })?;
        Ok(report(&j.path, &j.entries, &self.steps))
    }

    /// Gives the old main its writes back and starts both OpenKMs.
    pub async fn rollback(&self) -> Result<String> {
        let m = &self.monitor;
        let mut c = m.connect_node(self.old).await?;
        let st = read_status(&mut c, &m.nodes[self.old].cfg.database.schema).await?;
        if st.replica.is_some() {
            return Err(eyre!(
                "{} already replicates from another node; not touching it",
                m.nodes[self.old].cfg.name
            ));
        }
        if st.flavour == Flavour::MySql {
            c.query_drop("SET GLOBAL super_read_only = OFF").await?;
        }
        c.query_drop("SET GLOBAL read_only = OFF").await?;
        service(m, self.old, Svc::Start).await?;
        let _ = service(m, self.new, Svc::Start).await;
        Ok(format!(
            "{} takes writes again; OpenKM started on both",
            m.nodes[self.old].cfg.name
        ))
    }

    /// Does what `step` says; the steps with more than one call have their own methods.
    async fn act(&self, step: &Step, ctx: &mut Ctx) -> Result<String> {
        let m = &*self.monitor;
        let (old, new) = (self.old, self.new);
        match step.action {
            Action::Preflight => preflight(m, old, new).await,
            Action::Assess => match self.kind {
                FlowKind::Rejoin | FlowKind::Reseed => assess_rejoin(m, old, new).await,
                _ => assess_failover(m, old, new, ctx).await,
            },
            Action::LiveSync => {
                copy_files(m, (old, new), CopyPass::Live, self.copy_rules(), ctx).await
            }
            Action::FreezeOldMain => self.freeze_old_main(ctx).await,
            Action::FinalSync => {
                copy_files(m, (old, new), CopyPass::Final, self.copy_rules(), ctx).await
            }
            Action::CatchUp => self.catch_up(step.timeout, ctx).await,
            Action::FenceOldMain => fence_old_main(m, old, self.flavour, ctx).await,
            Action::DrainRelay => drain_relay(m, new, step.timeout).await,
            Action::Salvage => super::files::salvage_on_rejoin(m, old, new).await,
            Action::ShipFiles => {
                super::files::ship_before_promotion(m, old, new, ctx.old_answered).await
            }
            Action::Promote => self.promote_new_main(ctx).await,
            Action::Flags => self.flip_flags().await,
            Action::StartNewMain => self.start_new_main().await,
            Action::SwitchTraffic => switch_traffic(m, old, new).await,
            Action::CheckFrontDoor => check_front_door(m, new, step.timeout).await,
            Action::DemoteOldMain | Action::Repoint => {
                let own = self.kind != FlowKind::Reseed;
                repoint(m, old, new, self.flavour, step.timeout, own).await
            }
            Action::SaveBinlogs => save_binlogs(m, old).await,
            Action::Reseed => self.reseed_database().await,
            Action::StartOldMain => service(m, old, Svc::Start).await,
            Action::ProveDirection => prove_direction(m, new, old, step.timeout).await,
            Action::LossReport => Ok(loss_report(m, old, new, ctx).await),
            Action::FenceStale => self.fence_stale().await,
            Action::ErrantCheck if self.kind == FlowKind::Reseed => self.list_errant().await,
            Action::ErrantCheck => errant_check(m, old, new).await,
            Action::SyncFiles => self.sync_files().await,
            Action::StartRejoined => {
                set_flag(m, old, true).await?;
                service(m, old, Svc::Start).await
            }
        }
    }

    /// The name of node `i`.
    fn name(&self, i: NodeId) -> String {
        self.monitor.nodes[i].cfg.name.clone()
    }

    /// A switchover's freeze: the watchdogs armed, both OpenKMs stopped, the old main
    /// read-only.
    async fn freeze_old_main(&self, ctx: &mut Ctx) -> Result<String> {
        let (m, old, new) = (&*self.monitor, self.old, self.new);
        ctx.guards = arm_freeze_guards(m, old, new).await?;
        service(m, new, Svc::Stop).await?;
        service(m, old, Svc::Stop).await?;
        run_sql(m, old, &sql::fence(self.flavour)).await?;
        Ok(format!(
            "OpenKM stopped on {} and {}; {} read-only",
            self.name(old),
            self.name(new),
            self.name(old)
        ))
    }

    /// The replica applies the main's last position; then the freeze watchdogs go.
    async fn catch_up(&self, timeout: Duration, ctx: &mut Ctx) -> Result<String> {
        let (main, replica) = match self.kind {
            FlowKind::Rejoin | FlowKind::Reseed => (self.new, self.old),
            _ => (self.old, self.new),
        };
        let pos = self
            .monitor
            .wait_mirror_caught_up(main, replica, timeout)
            .await?;
        // The last step before promotion: from here the old main stays frozen
        // whatever happens to this console (the way back is forward).
        let disarmed = disarm_freeze_guards(ctx).await?;
        Ok(format!(
            "{} applied {}'s position {pos}{disarmed}",
            self.name(replica),
            self.name(main)
        ))
    }

    /// Promotes the new main's database.
    async fn promote_new_main(&self, ctx: &Ctx) -> Result<String> {
        // A failover's fence step already proved or attested the old main fenced;
        // a switchover's old main must answer.
        let unreadable_ok = self.kind == FlowKind::Failover;
        promote(
            &self.monitor,
            (self.old, self.new),
            self.flavour,
            unreadable_ok,
            ctx.old_never_answered,
        )
        .await
    }

    /// The new main's `system.readonly` off; on a switchover, the old main's on, and the
    /// old main seen fenced.
    async fn flip_flags(&self) -> Result<String> {
        let (m, old, new) = (&*self.monitor, self.old, self.new);
        set_flag(m, new, false).await?;
        let mut out = format!("{}: system.readonly = false", self.name(new));
        if self.kind == FlowKind::Switchover {
            set_flag(m, old, true).await?;
            // Whatever the flag's write did (and on a resume, whatever an earlier
            // try left), the old main ends fenced, seen over a fresh connection.
            ensure_fenced(m, old, self.flavour).await?;
            out.push_str(&format!(
                "; {}: system.readonly = true, read-only",
                self.name(old)
            ));
        }
        Ok(out)
    }

    /// Starts OpenKM on the new main (a failover's was running: it restarts).
    async fn start_new_main(&self) -> Result<String> {
        let (m, new) = (&*self.monitor, self.new);
        if self.kind == FlowKind::Failover {
            // OpenKM reads the flag only at start-up.
            service(m, new, Svc::Stop).await?;
        }
        service(m, new, Svc::Start).await
    }

    /// A reseed: the former main's database reset, then replaced by a dump of the main's.
    async fn reseed_database(&self) -> Result<String> {
        let m = &*self.monitor;
        let (o, n) = (&m.nodes[self.old], &m.nodes[self.new]);
        run_sql(m, self.old, &sql::reseed_reset(self.flavour)).await?;
        let schemas = vec![n.cfg.database.schema.clone(), "okmirror".to_string()];
        crate::sync::dump::reseed(&n.ssh, &n.cfg, &o.ssh, &o.cfg, &schemas, self.flavour).await?;
        Ok(format!(
            "{}'s {} replaced by a dump of {}'s",
            o.cfg.name,
            schemas.join(" and "),
            n.cfg.name
        ))
    }

    /// A rejoin's fence of the stale former main: OpenKM stopped, database read-only.
    async fn fence_stale(&self) -> Result<String> {
        let (m, old) = (&*self.monitor, self.old);
        service(m, old, Svc::Stop).await?;
        run_sql(m, old, &sql::fence(self.flavour)).await?;
        Ok(format!(
            "OpenKM stopped on {}; its database is read-only",
            self.name(old)
        ))
    }

    /// A reseed's errant check: lists what the reseed gives up (it does not stop it).
    async fn list_errant(&self) -> Result<String> {
        let (old, new) = (self.old, self.new);
        let errant = errant_list(&self.monitor, old, new).await?;
        Ok(if errant.is_empty() {
            format!("{} has nothing {} lacks", self.name(old), self.name(new))
        } else {
            format!(
                "{}'s own transactions, given up by this reseed (kept in the saved binlogs): {}",
                self.name(old),
                errant.join(", ")
            )
        })
    }

    /// A rejoin's file sync main -> rejoined node, which must verify.
    async fn sync_files(&self) -> Result<String> {
        let quiet = Duration::from_secs(self.monitor.cfg.failover.step_timeout_secs.max(10));
        let r = sync_with_deadline(Arc::clone(&self.monitor), self.allow_deletes, quiet).await;
        let r = r?;
        if !r.verified {
            return Err(eyre!(
                "the sync ran but its verify found {} mismatches",
                r.mismatches.len()
            ));
        }
        Ok(format!(
            "{} files, {} bytes copied; {} files verified identical",
            r.files, r.bytes, r.verified_files
        ))
    }
}

/// A flow's sync with a progress-aware deadline: when it reports nothing for `quiet`
/// (no phase, no rsync line), it is cancelled for real (its rsync killed by PID, a
/// frozen main given back its writes) and the step fails saying so. A verify runs to
/// its end: its cost is the datastore's size, not a stall.
async fn sync_with_deadline(
    monitor: Arc<Monitor>,
    allow_deletes: Option<u64>,
    quiet: Duration,
) -> Result<crate::sync::run::SyncReport> {
    let (cancel_tx, cancel_rx) = tokio::sync::watch::channel(false);
    let (tx, mut rx) = mpsc::channel(256);
    let opts = crate::sync::run::SyncOptions {
        allow_deletes,
        cancel: Some(cancel_rx),
        ..Default::default()
    };
    let run = crate::sync::run::run(monitor, opts, tx);
    tokio::pin!(run);
    let mut last = Phase {
        kind: PhaseKind::Step,
        text: String::new(),
    };
    let mut stalled = false;
    let mut closed = false;
    loop {
        tokio::select! {
            r = &mut run => {
                let r = r?;
                if r.cancelled && stalled {
                    return Err(eyre!(
                        "no progress for {} s (last: {last}); the sync was cancelled: its rsync \
                         stopped, the main takes writes again; nothing was recorded",
                        quiet.as_secs()
                    ));
                }
                return Ok(r);
            }
            ev = rx.recv(), if !closed => match ev {
                Some(crate::sync::run::SyncEvent::Phase(p)) => last = p,
                Some(_) => {}
                None => closed = true,
            },
            _ = tokio::time::sleep(quiet), if !stalled => {
                if last.kind != PhaseKind::Verify {
                    stalled = true;
                    let _ = cancel_tx.send(true);
                }
            }
        }
    }
}

/// Builds the report from the journal (the one source).
pub fn report(path: &Path, entries: &[Entry], steps: &[Step]) -> FlowReport {
    let (mut id, mut kind, mut from, mut to) = (
        String::new(),
        FlowKind::Switchover,
        String::new(),
        String::new(),
    );
    if let Some(Entry::Flow {
        id: i,
        kind: k,
        from: f,
        to: t,
        ..
    }) = entries.first()
    {
        (id, kind, from, to) = (i.clone(), *k, f.clone(), t.clone());
    }
    let steps: Vec<StepReport> = steps
        .iter()
        .map(|s| {
            let started = entries.iter().rev().find_map(|e| match e {
                Entry::Start { step, at_ms } if *step == s.id => Some(*at_ms),
                _ => None,
            });
            let done = entries.iter().rev().find_map(|e| match e {
                Entry::Done {
                    step,
                    ok,
                    output,
                    at_ms,
                } if *step == s.id => Some((*ok, output.clone(), *at_ms)),
                _ => None,
            });
            let (state, output, ended) = match (started, done) {
                (_, Some((true, o, at))) => (StepState::Done, o, Some(at)),
                (_, Some((false, o, at))) => (StepState::Failed, o, Some(at)),
                (Some(_), None) => (StepState::Interrupted, String::new(), None),
                (None, None) => (StepState::NotRun, String::new(), None),
            };
            StepReport {
                id: s.id.clone(),
                title: s.title.clone(),
                state,
                output,
                started_ms: started,
                ended_ms: ended,
            }
        })
        .collect();
    // An open journal: say which step stopped the flow, so the operator knows what to
    // fix before resuming.
    let outcome = entries
        .iter()
        .rev()
        .find_map(|e| match e {
            Entry::End { outcome, .. } => Some(outcome.clone()),
            _ => None,
        })
        .unwrap_or_else(|| {
            Outcome::Unfinished(match steps.iter().find(|s| s.state == StepState::Failed) {
                Some(s) => format!(
                    "{} failed: {}; fix that, then resume with `okmirror resume`",
                    s.id, s.output
                ),
                None => "resume with `okmirror resume`".into(),
            })
        });
    FlowReport {
        ok: outcome.completed(),
        id,
        kind,
        from,
        to,
        outcome,
        journal: path.to_path_buf(),
        steps,
    }
}
