//! The pair: the handle (`Monitor`) that sync, failover and both faces use to reach the
//! two nodes. It probes both concurrently (each probe with its own timeout), detects
//! roles, measures heartbeat lag, holds the locks, and hands out `PairStatus` snapshots.

pub mod behind;
pub mod health;
pub mod lock;
pub mod model;
pub mod remote;
pub mod report;
pub mod roles;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use color_eyre::eyre::{Result, eyre};
use mysql_async::Conn;
use tokio::sync::Mutex;

use crate::config::{Config, NodeConfig, NodeId};
use crate::db::{self, heartbeat};
use crate::node::NodeSsh;
use model::PlanTotals;
use model::{Lag, LastSync, NodeStatus, PairStatus};
use roles::{PairRoles, Role};

/// One node's connections, kept between polls.
pub struct NodeLink {
    pub cfg: NodeConfig,
    pub ssh: Arc<NodeSsh>,
    db: Mutex<Option<Conn>>,
    beat_db: Mutex<Option<Conn>>,
}

/// The engine's view of the pair.
pub struct Monitor {
    pub cfg: Arc<Config>,
    pub nodes: Vec<Arc<NodeLink>>,
    socket_dir: PathBuf,
    /// The main's heartbeat sequence at the last look, and when it last moved (ms).
    last_seq: AtomicU64,
    last_seq_moved_ms: AtomicU64,
    started: Instant,
    /// The main of the latest snapshot whose roles were clear (one writable, one
    /// read-only), plus one; 0 when there is none. The heartbeat writer writes only there.
    clear_main: AtomicU64,
    /// The last files-behind look made without a complete point (every row looked at):
    /// reused for a minute, since its cost grows with the repository.
    full_behind: std::sync::Mutex<Option<(Instant, model::FilesBehindStatus)>>,
    /// A heartbeat writer runs (so a stopped sequence means a stall).
    writer_active: std::sync::atomic::AtomicBool,
}

/// How long a files-behind look over every row (no complete point known) is reused.
const FULL_BEHIND_EVERY: Duration = Duration::from_secs(60);

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Monitor {
    /// Prepares connections (opened lazily, reopened after failures).
    pub fn new(cfg: Arc<Config>) -> Monitor {
        let socket_dir = crate::paths::socket_dir();
        let nodes = cfg
            .nodes
            .iter()
            .map(|n| {
                Arc::new(NodeLink {
                    cfg: n.clone(),
                    ssh: Arc::new(NodeSsh::new(n.ssh.clone(), &socket_dir)),
                    db: Mutex::new(None),
                    beat_db: Mutex::new(None),
                })
            })
            .collect();
        Monitor {
            cfg,
            nodes,
            socket_dir,
            last_seq: AtomicU64::new(0),
            last_seq_moved_ms: AtomicU64::new(0),
            started: Instant::now(),
            clear_main: AtomicU64::new(0),
            full_behind: std::sync::Mutex::new(None),
            writer_active: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn probe_timeout(&self) -> Duration {
        Duration::from_secs(self.cfg.monitor.probe_timeout_secs)
    }

    /// A new connection to a node's database (through its SSH session if configured).
    async fn connect(&self, link: &NodeLink) -> Result<Conn> {
        let ssh = link.cfg.database.tunnel.then_some(&*link.ssh);
        let (conn, _) = db::connect(
            &link.cfg.name,
            &link.cfg.database,
            ssh,
            &self.socket_dir,
            self.probe_timeout(),
        )
        .await?;
        Ok(conn)
    }

    /// Runs `f` on a node's (cached) database connection; drops it after an error.
    async fn with_db<T>(
        &self,
        link: &NodeLink,
        beat: bool,
        f: impl AsyncFnOnce(&mut Conn) -> Result<T>,
    ) -> Result<T> {
        let slot = if beat { &link.beat_db } else { &link.db };
        let mut guard = slot.lock().await;
        if guard.is_none() {
            *guard = Some(self.connect(link).await?);
        }
        let conn = guard.as_mut().ok_or_else(|| eyre!("no connection"))?;
        match tokio::time::timeout(self.probe_timeout(), f(conn)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                *guard = None;
                Err(e)
            }
            Err(_) => {
                *guard = None;
                Err(eyre!(
                    "database did not answer in {:?}",
                    self.probe_timeout()
                ))
            }
        }
    }

    /// Runs `f` on `node`'s database connection (the engine's flows use this; a failed
    /// or slow statement drops the connection, which also releases its locks).
    pub async fn db<T>(
        &self,
        node: NodeId,
        f: impl AsyncFnOnce(&mut Conn) -> Result<T>,
    ) -> Result<T> {
        self.with_db(&self.nodes[node], false, f).await
    }

    /// A connection of its own to `node`'s database, for statements that may take longer
    /// than a probe (waits, locks); dropped by the caller.
    pub async fn connect_node(&self, node: NodeId) -> Result<Conn> {
        self.connect(&self.nodes[node]).await
    }

    /// Probes one node: the batched SSH command and the database, concurrently.
    pub async fn probe_node(&self, i: NodeId) -> NodeStatus {
        self.probe_node_as(i, false).await
    }

    /// Probes one node; `for_sync` runs only the checks a sync needs (no service or HTTP;
    /// a sync that deletes counts the mirror's files itself).
    async fn probe_node_as(&self, i: NodeId, for_sync: bool) -> NodeStatus {
        let link = &self.nodes[i];
        let schema = link.cfg.database.schema.clone();
        let ssh_probe = async {
            // The sync probe makes no HTTP call: it needs (and is sent) no password.
            let (script, stdin) = if for_sync {
                (remote::sync_probe_script(&link.cfg), String::new())
            } else {
                let password = link
                    .cfg
                    .http
                    .password_source()
                    .map_err(str::to_string)
                    .and_then(|s| s.resolve())
                    .map_err(|e| format!("OpenKM password: {e}"))?;
                (
                    remote::probe_script(&link.cfg),
                    remote::curl_config(&link.cfg.http.user, password.expose()),
                )
            };
            // Connection set-up is not round-trip time: open (or reuse) the session first.
            link.ssh.session().await.map_err(|e| e.to_string())?;
            let t = Instant::now();
            let out = link
                .ssh
                .run_with_stdin(&script, Some(stdin.as_bytes()), self.probe_timeout())
                .await
                .map_err(|e| e.to_string())?;
            let wall = t.elapsed().as_micros() as f64;
            let facts = remote::parse_facts(&out.stdout);
            let rtt = facts
                .script_micros
                .map(|s| ((wall - s as f64).max(0.0)) / 1000.0);
            Ok::<_, String>((facts, rtt))
        };
        let db_probe = self.with_db(link, false, async |c| db::read_status(c, &schema).await);
        let (ssh_res, db_res) = tokio::join!(ssh_probe, db_probe);
        let (facts, rtt, ssh_error) = match ssh_res {
            Ok((f, rtt)) => (Some(f), rtt, None),
            Err(e) => (None, None, Some(e)),
        };
        let (last_sync, last_sync_error) =
            match facts.as_ref().and_then(|f| f.last_sync_json.as_ref()) {
                None => (None, None),
                Some(j) => match serde_json::from_str::<LastSync>(j) {
                    Ok(ls) => (Some(ls), None),
                    Err(e) => (None, Some(e.to_string())),
                },
            };
        let (db, db_error) = match db_res {
            Ok(d) => (Some(d), None),
            Err(e) => (None, Some(format!("{e:#}"))),
        };
        NodeStatus {
            name: link.cfg.name.clone(),
            host: link.cfg.ssh.host.clone(),
            role: Role::Unknown,
            ssh_rtt_ms: rtt,
            ssh_error,
            facts,
            db,
            db_error,
            last_sync,
            last_sync_error,
        }
    }

    /// Probes both nodes, detects roles and measures lag. With `beat_wait`, first writes a
    /// heartbeat and waits up to that long for the mirror to apply it (one-shot callers).
    /// Alerts come from `finish`, once the pending diffs are known.
    pub async fn probe_pair(&self, beat_wait: Option<Duration>) -> PairStatus {
        self.probe_pair_as(beat_wait, false).await
    }

    /// The roles and the few facts a sync needs (`probe_node_as`), at a sync's start.
    pub async fn probe_pair_for_sync(&self) -> PairStatus {
        self.probe_pair_as(None, true).await
    }

    async fn probe_pair_as(&self, beat_wait: Option<Duration>, for_sync: bool) -> PairStatus {
        let (a, b) = tokio::join!(
            self.probe_node_as(NodeId::First, for_sync),
            self.probe_node_as(NodeId::Second, for_sync)
        );
        let mut nodes = vec![a, b];
        let (roles, each) = roles::detect([nodes[0].writable(), nodes[1].writable()]);
        for (n, r) in nodes.iter_mut().zip(each) {
            n.role = r;
        }
        let clear = match roles {
            PairRoles::Normal { main, .. } => main as u64 + 1,
            _ => 0,
        };
        self.clear_main.store(clear, Ordering::SeqCst);
        let mut beat_note = None;
        if let (Some(wait), PairRoles::Normal { main, mirror }) = (beat_wait, &roles)
            && let Err(e) = self.beat_and_wait(*main, *mirror, wait).await
        {
            beat_note = Some(format!("heartbeat: {e:#}"));
        }
        let mut lag = self.measure_lag(&roles, &nodes).await;
        if lag.note.is_none() {
            lag.note = beat_note;
        }
        let files_behind = if for_sync {
            None
        } else {
            self.files_behind(&roles, &nodes).await
        };
        PairStatus {
            pair: self.cfg.pair.clone(),
            taken_at: now_unix(),
            nodes,
            roles,
            lag,
            pending: None,
            pending_error: None,
            files_behind,
            alerts: Vec::new(),
            severity: model::Severity::Ok,
        }
    }

    /// The files behind on the mirror (the known node when it is a mirror and the main
    /// is gone: then it is what a failover would lose). It looks at the rows since the
    /// later of the last verified sync's point and follow's complete point.
    async fn files_behind(
        &self,
        roles: &PairRoles,
        nodes: &[NodeStatus],
    ) -> Option<model::FilesBehindStatus> {
        let mirror = match roles {
            PairRoles::Normal { mirror, .. } => *mirror,
            PairRoles::Partial {
                known,
                role: Role::Mirror,
            } => *known,
            _ => return None,
        };
        let node = &nodes[mirror];
        let facts = node.facts.as_ref();
        let follow: Option<crate::pair::model::FollowRecord> = facts
            .and_then(|f| f.follow_json.as_deref())
            .and_then(|j| serde_json::from_str(j).ok());
        let follow_running = match (&follow, facts.and_then(|f| f.node_now)) {
            (Some(r), Some(now)) => r.running(now),
            _ => false,
        };
        let synced = node
            .last_sync
            .as_ref()
            .filter(|l| l.verified)
            .and_then(|l| l.journal_point.clone());
        let since = match (
            synced,
            follow.as_ref().and_then(|f| f.complete_through.clone()),
        ) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        if since.is_none()
            && let Ok(slot) = self.full_behind.lock()
            && let Some((at, last)) = slot.as_ref()
            && at.elapsed() < FULL_BEHIND_EVERY
            && last.node == node.name
        {
            return Some(last.clone());
        }
        let mut out = model::FilesBehindStatus {
            node: node.name.clone(),
            follow,
            follow_running,
            ..Default::default()
        };
        match behind::measure(self, mirror, since.as_deref()).await {
            Ok(b) => {
                out.count = b.count();
                out.oldest_age_secs = b.oldest_age_secs();
                out.truncated = b.truncated;
                out.rows_checked = b.rows_checked;
                out.oldest = b
                    .missing
                    .into_iter()
                    .take(model::FilesBehindStatus::SHOWN)
                    .collect();
            }
            Err(e) => out.error = Some(format!("{e:#}")),
        }
        out.severity = health::files_behind_severity(&out, &self.cfg.monitor);
        if since.is_none()
            && let Ok(mut slot) = self.full_behind.lock()
        {
            *slot = Some((Instant::now(), out.clone()));
        }
        Some(out)
    }

    /// Adds the pending diffs (if planned) and evaluates the alerts.
    pub fn finish(
        &self,
        mut status: PairStatus,
        pending: Option<Result<PlanTotals, String>>,
    ) -> PairStatus {
        match pending {
            Some(Ok(t)) => status.pending = Some(t),
            Some(Err(e)) => status.pending_error = Some(e),
            None => {}
        }
        status.alerts = health::evaluate(&status, &self.cfg.monitor, status.taken_at);
        status.severity = health::overall(&status.alerts);
        status
    }

    async fn measure_lag(&self, roles: &PairRoles, nodes: &[NodeStatus]) -> Lag {
        let mut lag = Lag::default();
        match roles {
            PairRoles::Normal { main, mirror } => {
                let (main, mirror) = (*main, *mirror);
                let Some(main_db) = nodes[main].db.as_ref() else {
                    return lag;
                };
                let server_id = main_db.server_id;
                if let Some(m) = nodes[mirror].db.as_ref() {
                    lag.transactions_behind =
                        db::gtid::transactions_behind(&main_db.gtid_binlog, &m.gtid_applied);
                    lag.seconds_behind_source = m.replica.as_ref().and_then(|r| r.seconds_behind);
                }
                // The main's latest beat first, then the mirror's copy: if the mirror
                // already has that beat it is caught up; otherwise the age of its copy,
                // on the main's clock, is the lag.
                let on_main = self
                    .with_db(&self.nodes[main], false, async |c| {
                        heartbeat::read(c, server_id).await
                    })
                    .await
                    .ok()
                    .flatten();
                let beat = self
                    .with_db(&self.nodes[mirror], false, async |c| {
                        heartbeat::read(c, server_id).await
                    })
                    .await;
                match (beat, &on_main) {
                    (Ok(Some((_, seq))), Some((_, main_seq))) if seq >= *main_seq => {
                        lag.heartbeat_secs = Some(0.0);
                    }
                    (Ok(Some((ts, _))), _) => {
                        let age = self
                            .with_db(&self.nodes[main], false, async |c| {
                                heartbeat::age_micros(c, &ts).await
                            })
                            .await;
                        match age {
                            Ok(us) => lag.heartbeat_secs = Some(us.max(0) as f64 / 1e6),
                            Err(e) => lag.note = Some(format!("heartbeat: {e:#}")),
                        }
                    }
                    (Ok(None), _) => {
                        lag.note = Some("no heartbeat has reached the mirror yet".into())
                    }
                    (Err(e), _) => lag.note = Some(format!("heartbeat: {e:#}")),
                }
                if let Some((_, seq)) = on_main {
                    let now_ms = self.started.elapsed().as_millis() as u64;
                    if seq != self.last_seq.swap(seq, Ordering::SeqCst) {
                        self.last_seq_moved_ms.store(now_ms, Ordering::SeqCst);
                    } else {
                        let since =
                            now_ms.saturating_sub(self.last_seq_moved_ms.load(Ordering::SeqCst));
                        lag.writer_stalled = self.writer_active() && since > 3000;
                    }
                }
            }
            PairRoles::Partial {
                known,
                role: Role::Mirror,
            } => {
                let age = self
                    .with_db(&self.nodes[*known], false, async |c| last_beat_age(c).await)
                    .await;
                match age {
                    Ok(Some(secs)) => lag.last_beat_age_secs = Some(secs),
                    Ok(None) => lag.note = Some("the mirror holds no heartbeat".into()),
                    Err(e) => lag.note = Some(format!("heartbeat: {e:#}")),
                }
            }
            _ => {}
        }
        lag
    }

    fn writer_active(&self) -> bool {
        self.writer_active.load(Ordering::SeqCst)
    }

    /// The main of the latest snapshot with clear roles.
    pub fn clear_main(&self) -> Option<NodeId> {
        match self.clear_main.load(Ordering::SeqCst) {
            0 => None,
            n => NodeId::from_index(n as usize - 1),
        }
    }

    /// Writes one heartbeat on `main`; returns the sequence written. Never writes on a
    /// read-only node, nor on one that replicates from another (a write there would be
    /// an errant transaction that breaks GTID replication).
    pub async fn beat(&self, main: NodeId) -> Result<u64> {
        self.with_db(&self.nodes[main], true, async |c| {
            use mysql_async::prelude::Queryable;
            let ro: Option<(u8, u32, String)> = c
                .query_first("SELECT @@read_only, @@server_id, VERSION()")
                .await?;
            let (ro, id, version) = ro.unwrap_or((1, 0, String::new()));
            if ro != 0 {
                return Err(eyre!("not writable; no heartbeat written"));
            }
            let stmt = if crate::db::Flavour::of_version(&version) == crate::db::Flavour::MariaDb {
                "SHOW SLAVE STATUS"
            } else {
                "SHOW REPLICA STATUS"
            };
            let rows: Vec<mysql_async::Row> = c.query(stmt).await?;
            if !rows.is_empty() {
                return Err(eyre!(
                    "this node replicates from another; no heartbeat written"
                ));
            }
            match heartbeat::beat(c, id).await {
                Ok(seq) => Ok(seq),
                Err(_) => {
                    heartbeat::ensure_table(c).await?;
                    heartbeat::beat(c, id).await
                }
            }
        })
        .await
    }

    /// The CLI's one-shot lag: write a beat, wait up to `wait` for the mirror to show it.
    pub async fn beat_and_wait(&self, main: NodeId, mirror: NodeId, wait: Duration) -> Result<()> {
        let seq = self.beat(main).await?;
        let server_id = self
            .with_db(&self.nodes[main], false, async |c| {
                use mysql_async::prelude::Queryable;
                Ok(c.query_first::<u32, _>("SELECT @@server_id")
                    .await?
                    .unwrap_or(0))
            })
            .await?;
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            let seen = self
                .with_db(&self.nodes[mirror], false, async |c| {
                    heartbeat::read(c, server_id).await
                })
                .await?;
            if seen.is_some_and(|(_, s)| s >= seq) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// Waits until the mirror has applied everything the main's binlog holds now
    /// (MariaDB `MASTER_GTID_WAIT`, MySQL `WAIT_FOR_EXECUTED_GTID_SET`); returns the position.
    pub async fn wait_mirror_caught_up(
        &self,
        main: NodeId,
        mirror: NodeId,
        timeout: Duration,
    ) -> Result<String> {
        use mysql_async::prelude::Queryable;
        let (pos, mariadb) = self
            .with_db(&self.nodes[main], false, async |c| {
                let v: String = c.query_first("SELECT VERSION()").await?.unwrap_or_default();
                let mariadb = crate::db::Flavour::of_version(&v) == crate::db::Flavour::MariaDb;
                let q = if mariadb {
                    "SELECT @@gtid_binlog_pos"
                } else {
                    "SELECT @@gtid_executed"
                };
                Ok((
                    c.query_first::<String, _>(q).await?.unwrap_or_default(),
                    mariadb,
                ))
            })
            .await?;
        let secs = timeout.as_secs().max(1);
        let link = &self.nodes[mirror];
        // A connection of its own: the wait may be longer than a probe's timeout.
        let mut conn = self.connect(link).await?;
        let (sql, ok) = if mariadb {
            ("SELECT MASTER_GTID_WAIT(?, ?)", 0i64)
        } else {
            ("SELECT WAIT_FOR_EXECUTED_GTID_SET(?, ?)", 0i64)
        };
        // The server's own limit, and one on this side for a server that stops answering.
        let wait = conn.exec_first(sql, (pos.clone(), secs));
        let r: Option<i64> = tokio::time::timeout(Duration::from_secs(secs + 10), wait)
            .await
            .map_err(|_| {
                eyre!(
                    "{} did not answer its GTID wait within {} s",
                    link.cfg.name,
                    secs + 10
                )
            })??;
        if r == Some(ok) {
            Ok(pos)
        } else {
            Err(eyre!(
                "{} did not apply {}'s position {pos} within {secs} s",
                link.cfg.name,
                self.nodes[main].cfg.name
            ))
        }
    }
}

/// The running heartbeat writer: dropping (or aborting) it stops the task and tells the
/// monitor no writer runs, in one place.
pub struct HeartbeatWriter {
    task: tokio::task::JoinHandle<()>,
    monitor: Arc<Monitor>,
}

impl HeartbeatWriter {
    /// Stops the writer (same as dropping it).
    pub fn abort(self) {}
}

impl Drop for HeartbeatWriter {
    fn drop(&mut self) {
        self.task.abort();
        self.monitor.writer_active.store(false, Ordering::SeqCst);
    }
}

async fn last_beat_age(c: &mut Conn) -> Result<Option<f64>> {
    use mysql_async::prelude::Queryable;
    let us: Option<Option<i64>> = c
        .query_first(format!(
            "SELECT TIMESTAMPDIFF(MICROSECOND, MAX(ts), UTC_TIMESTAMP(6)) FROM {}",
            heartbeat::TABLE
        ))
        .await?;
    Ok(us.flatten().map(|v| v.max(0) as f64 / 1e6))
}

/// Keeps writing heartbeats every 250 ms on the main of the latest snapshot with clear
/// roles, until aborted. With unclear roles (split brain, a node down) it writes nothing.
pub fn spawn_heartbeat_writer(monitor: Arc<Monitor>) -> HeartbeatWriter {
    monitor.writer_active.store(true, Ordering::SeqCst);
    let m = Arc::clone(&monitor);
    let task = tokio::spawn(async move {
        let monitor = m;
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            let Some(main) = monitor.clear_main() else {
                continue;
            };
            if let Err(e) = monitor.beat(main).await {
                tracing::debug!(node = %monitor.nodes[main].cfg.name, "heartbeat: {e:#}");
            }
        }
    });
    HeartbeatWriter { task, monitor }
}
