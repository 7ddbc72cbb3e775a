//! `okmirror follow`: ships new datastore files to the mirror as their rows replicate.
//!
//! It is driven by the mirror's own replicated `OKM_NODE_DOCUMENT_VERSION`: a row there
//! whose file the mirror lacks is a file to fetch from the main. Files are immutable and
//! named by their version, so no inotify and no walk of the datastore are needed, and it
//! works the same after the roles swap. It never deletes, never replaces and never
//! writes on the main (the copy is a pull run on the mirror). It resumes from the rows
//! and the small record it keeps on the mirror, never from memory.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use color_eyre::eyre::{Result, WrapErr, eyre};
use mysql_async::prelude::Queryable;
use tokio::sync::{mpsc, watch};

use super::copy::{Copier, is_cancelled, wait_cancel};
use super::progress::Tracker;
use crate::config::NodeId;
use crate::db::versions;
use crate::node::files::absent_on;
use crate::node::quote;
use crate::pair::Monitor;
use crate::pair::behind::RECHECK_SECS;
use crate::pair::model::FollowRecord;
use crate::pair::roles::{self, PairRoles};

/// The record's file name under the mirror's `state_dir`.
pub const RECORD_FILE: &str = "follow.json";

/// How often the roles are read again (each look is a query on both databases).
const ROLES_EVERY: Duration = Duration::from_secs(1);

/// How often an idle follow refreshes its record.
const RECORD_EVERY: Duration = Duration::from_secs(5);

/// The longest wait between two tries while the pair cannot be followed.
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// What follow reports as it goes.
#[derive(Debug, Clone)]
pub enum FollowEvent {
    /// A batch arrived on the mirror.
    Shipped {
        files: u64,
        bytes: u64,
        took: Duration,
    },
    /// The state after a look (the record as written).
    State(Box<FollowRecord>),
    Paused(String),
    Error(String),
}

/// How a follow runs.
#[derive(Debug, Clone, Default)]
pub struct FollowOptions {
    /// One pass (ship what is missing now), then exit: for cron.
    pub once: bool,
    pub bwlimit_kbps: Option<u64>,
    pub cancel: Option<watch::Receiver<bool>>,
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A row as the hot look reads it (no name: shipping needs none).
#[derive(Debug, Clone)]
struct Row {
    uuid: String,
    created: String,
    size: u64,
}

/// A version still missing after a copy (its file gone on the main too, or not yet
/// readable there): tried again later and later, not on every look.
struct Pending {
    row: Row,
    next_try: Instant,
    delay: Duration,
}

/// What one follow knows between looks. All of it can be rebuilt from the rows and
/// the record; it only saves looking again.
struct Follower {
    monitor: Arc<Monitor>,
    opts: FollowOptions,
    events: mpsc::Sender<FollowEvent>,
    ends: Option<(NodeId, NodeId)>,
    roles_at: Option<Instant>,
    record: FollowRecord,
    /// Versions seen present on the mirror, with their creation time (pruned).
    present: HashMap<String, String>,
    /// Versions missing on the mirror (after a ship: also missing on the main).
    backlog: HashMap<String, Pending>,
    /// The newest creation time seen.
    high: Option<String>,
    written_at: Option<Instant>,
}

/// Runs until cancelled (or one pass with `once`). Returns the last record.
pub async fn run(
    monitor: Arc<Monitor>,
    opts: FollowOptions,
    events: mpsc::Sender<FollowEvent>,
) -> Result<FollowRecord> {
    let mut f = Follower {
        record: FollowRecord {
            host: crate::pair::lock::host_name(),
            pid: std::process::id(),
            started_at: now_unix(),
            ..Default::default()
        },
        monitor,
        opts,
        events,
        ends: None,
        roles_at: None,
        present: HashMap::new(),
        backlog: HashMap::new(),
        high: None,
        written_at: None,
    };
    let poll = Duration::from_millis(f.monitor.cfg.follow.poll_ms);
    let mut backoff = poll;
    let mut cancel = f.opts.cancel.clone();
    loop {
        let wait = match f.look().await {
            Ok(true) => {
                backoff = poll;
                poll
            }
            // Paused: the pair cannot be followed now; look again less and less often.
            Ok(false) => {
                backoff = (backoff * 2).clamp(Duration::from_secs(1), BACKOFF_MAX);
                backoff
            }
            Err(e) => {
                let msg = format!("{e:#}");
                f.record.last_error = Some(msg.clone());
                let _ = f.events.send(FollowEvent::Error(msg)).await;
                if f.opts.once {
                    return Err(e);
                }
                backoff = (backoff * 2).clamp(Duration::from_secs(1), BACKOFF_MAX);
                backoff
            }
        };
        if f.opts.once || is_cancelled(&f.opts.cancel) {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = wait_cancel(&mut cancel) => break,
        }
    }
    Ok(f.record)
}

impl Follower {
    /// One look: roles, new rows, what the mirror lacks, ship it, record. `false` when
    /// the pair cannot be followed now (paused).
    async fn look(&mut self) -> Result<bool> {
        let Some((main, mirror)) = self.roles().await? else {
            return Ok(false);
        };
        let rows = self.new_rows(mirror).await?;
        let now = Instant::now();
        let unknown: Vec<Row> = rows
            .into_iter()
            .filter(|r| !self.present.contains_key(&r.uuid))
            .filter(|r| self.backlog.get(&r.uuid).is_none_or(|p| p.next_try <= now))
            .collect();
        if !unknown.is_empty() {
            let missing = self.missing(mirror, unknown).await?;
            if !missing.is_empty() {
                self.ship(main, mirror, missing).await?;
            }
        }
        self.record.last_error = None;
        self.advance();
        self.write_record(mirror, false).await?;
        Ok(true)
    }

    /// The live ends, read again every `ROLES_EVERY`. `None` (and a paused record) when
    /// the pair cannot be followed now.
    async fn roles(&mut self) -> Result<Option<(NodeId, NodeId)>> {
        if let (Some(ends), Some(at)) = (self.ends, self.roles_at)
            && at.elapsed() < ROLES_EVERY
        {
            return Ok(Some(ends));
        }
        let m = &self.monitor;
        let (a, b) = tokio::join!(writable(m, NodeId::First), writable(m, NodeId::Second));
        let (pair, _) = roles::detect([a, b]);
        self.roles_at = Some(Instant::now());
        let why = match pair {
            PairRoles::Normal { main, mirror } => {
                if self.ends != Some((main, mirror)) {
                    self.switch_to(main, mirror).await;
                }
                self.record.paused = None;
                return Ok(Some((main, mirror)));
            }
            PairRoles::SplitBrain => "both databases are writable (split brain)".to_string(),
            PairRoles::NoneWritable => "no database is writable (no main)".to_string(),
            PairRoles::Partial { known, .. } => {
                format!("{} does not answer", m.nodes[known.other()].cfg.name)
            }
            PairRoles::Unknown => "neither database answers".to_string(),
        };
        self.pause(why).await;
        Ok(None)
    }

    async fn pause(&mut self, why: String) {
        if self.record.paused.as_deref() != Some(why.as_str()) {
            let _ = self.events.send(FollowEvent::Paused(why.clone())).await;
        }
        self.record.paused = Some(why);
        self.ends = None;
        // The record stays on the mirror it was on: a paused follow says so there.
        if let Some(mirror) = self
            .monitor
            .nodes
            .iter()
            .position(|n| n.cfg.name == self.record.mirror)
            .and_then(NodeId::from_index)
        {
            let _ = self.write_record(mirror, false).await;
        }
    }

    /// New roles (or the first look): start again from the new mirror's record, so
    /// nothing known about the other direction is trusted.
    async fn switch_to(&mut self, main: NodeId, mirror: NodeId) {
        let m = &self.monitor;
        self.ends = Some((main, mirror));
        self.present.clear();
        self.backlog.clear();
        self.record.main = m.nodes[main].cfg.name.clone();
        self.record.mirror = m.nodes[mirror].cfg.name.clone();
        let prior = read_record(m, mirror).await.ok().flatten();
        let synced = m.probe_node(mirror).await.last_sync;
        self.high = starting_point(prior.as_ref(), synced.as_ref());
        self.record.complete_through = self.high.clone();
        if let Some(p) = prior {
            self.record.shipped_files = p.shipped_files;
            self.record.shipped_bytes = p.shipped_bytes;
            self.record.last_shipped_at = p.last_shipped_at;
        }
        self.written_at = None;
    }

    /// Rows created since the complete point (minus the recheck margin); all of them
    /// when nothing is known. The point moves only after a look succeeded, so rows whose
    /// copy failed (the main unreachable for a while) are looked at again.
    async fn new_rows(&mut self, mirror: NodeId) -> Result<Vec<Row>> {
        let schema = self.monitor.nodes[mirror].cfg.database.schema.clone();
        let since = self.record.complete_through.clone();
        self.monitor
            .db(mirror, async |c| {
                hot_rows(c, &schema, since.as_deref()).await
            })
            .await
            .wrap_err_with(|| {
                format!(
                    "reading {}'s document versions",
                    self.monitor.nodes[mirror].cfg.name
                )
            })
    }

    /// Of `rows`, those whose file the mirror lacks; the rest are remembered present.
    async fn missing(&mut self, mirror: NodeId, rows: Vec<Row>) -> Result<Vec<Row>> {
        let link = Arc::clone(&self.monitor.nodes[mirror]);
        let ds = link.cfg.datastore_path().display().to_string();
        let mut by_path: HashMap<String, Row> = HashMap::with_capacity(rows.len());
        for r in rows {
            self.note_high(&r.created);
            if let Some(f) = versions::datastore_file(&r.uuid) {
                by_path.insert(format!("{}/{f}", ds.trim_end_matches('/')), r);
            }
        }
        let absent: HashSet<String> =
            absent_on(&link.ssh, &link.cfg, by_path.keys().cloned().collect())
                .await?
                .into_iter()
                .collect();
        let mut missing = Vec::new();
        for (path, r) in by_path {
            if absent.contains(&path) {
                missing.push(r);
            } else {
                self.backlog.remove(&r.uuid);
                self.present.insert(r.uuid, r.created);
            }
        }
        missing.sort_by(|a, b| a.created.cmp(&b.created));
        Ok(missing)
    }

    fn note_high(&mut self, created: &str) {
        if self.high.as_deref().is_none_or(|h| created > h) {
            self.high = Some(created.to_string());
        }
    }

    /// Ships `missing` in batches; what is still missing afterwards (gone on the main
    /// too) stays in the backlog.
    async fn ship(&mut self, main: NodeId, mirror: NodeId, missing: Vec<Row>) -> Result<()> {
        let batch = self.monitor.cfg.follow.batch_max;
        for chunk in missing.chunks(batch) {
            let t = Instant::now();
            let paths: Vec<String> = chunk
                .iter()
                .filter_map(|r| versions::datastore_file(&r.uuid))
                .collect();
            let copier = Copier {
                monitor: &self.monitor,
                src: main,
                dst: mirror,
                lock_dir: String::new(),
                allow_deletes: None,
                cancel: self.opts.cancel.clone(),
                events: crate::sync::copy::unwatched(),
            };
            let mut tracker = Tracker::default();
            copier
                .ship("follow", &paths, self.opts.bwlimit_kbps, &mut tracker)
                .await?;
            let still = self.missing(mirror, chunk.to_vec()).await?;
            let arrived: Vec<&Row> = chunk
                .iter()
                .filter(|r| !still.iter().any(|s| s.uuid == r.uuid))
                .collect();
            let bytes = arrived.iter().map(|r| r.size).sum();
            self.record.shipped_files += arrived.len() as u64;
            self.record.shipped_bytes += bytes;
            if !arrived.is_empty() {
                self.record.last_shipped_at = Some(now_unix());
                let _ = self
                    .events
                    .send(FollowEvent::Shipped {
                        files: arrived.len() as u64,
                        bytes,
                        took: t.elapsed(),
                    })
                    .await;
            }
            for r in still {
                let delay = self
                    .backlog
                    .get(&r.uuid)
                    .map_or(Duration::from_secs(1), |p| (p.delay * 2).min(BACKOFF_MAX));
                let next_try = Instant::now() + delay;
                self.backlog.insert(
                    r.uuid.clone(),
                    Pending {
                        row: r,
                        next_try,
                        delay,
                    },
                );
            }
        }
        Ok(())
    }

    /// Moves the complete point and forgets what is older than the recheck margin.
    fn advance(&mut self) {
        let oldest = self.backlog.values().map(|p| p.row.created.clone()).min();
        self.record.backlog = self.backlog.len() as u64;
        self.record.oldest_backlog = oldest.clone();
        self.record.complete_through = oldest.or_else(|| self.high.clone());
        // Keep what the next look's margin will return again.
        if self.present.len() > 100_000
            && let Some(h) = &self.high
        {
            let h = h.clone();
            self.present
                .retain(|_, created| created_within(created, &h, RECHECK_SECS * 2));
        }
    }

    async fn write_record(&mut self, mirror: NodeId, force: bool) -> Result<()> {
        let due = self.written_at.is_none_or(|t| t.elapsed() >= RECORD_EVERY);
        if !(force || due || self.opts.once) {
            return Ok(());
        }
        self.record.updated_at = now_unix();
        let link = &self.monitor.nodes[mirror];
        let json = serde_json::to_string(&self.record).wrap_err("encoding the follow record")?;
        let dir = link.cfg.state_dir.display().to_string();
        let path = format!("{dir}/{RECORD_FILE}");
        let tmp = format!("{path}.tmp");
        let out = link
            .ssh
            .run_with_stdin(
                &format!(
                    "mkdir -p {d} && cat > {t} && mv -f {t} {p}",
                    d = quote(&dir),
                    t = quote(&tmp),
                    p = quote(&path)
                ),
                Some(json.as_bytes()),
                Duration::from_secs(10),
            )
            .await?;
        if !out.success() {
            return Err(eyre!(
                "writing the follow record on {}: {}",
                link.cfg.name,
                out.stderr.trim()
            ));
        }
        self.written_at = Some(Instant::now());
        let _ = self
            .events
            .send(FollowEvent::State(Box::new(self.record.clone())))
            .await;
        Ok(())
    }
}

/// Where a follow starts on a mirror: its record's complete point, else the last
/// verified sync's journal point, else the beginning.
fn starting_point(
    record: Option<&FollowRecord>,
    synced: Option<&crate::pair::model::LastSync>,
) -> Option<String> {
    let from_record = record.and_then(|r| r.complete_through.clone());
    let from_sync = synced
        .filter(|s| s.verified)
        .and_then(|s| s.journal_point.clone());
    match (from_record, from_sync) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// Whether `created` lies within `secs` before `high` (both in the database's
/// `YYYY-MM-DD hh:mm:ss[.ffffff]` format; a value that cannot be read is kept).
fn created_within(created: &str, high: &str, secs: u64) -> bool {
    let parse = |s: &str| {
        s.trim()
            .replacen(' ', "T", 1)
            .parse::<jiff::civil::DateTime>()
            .ok()
    };
    match (parse(created), parse(high)) {
        (Some(c), Some(h)) => c
            .checked_add(jiff::SignedDuration::from_secs(secs as i64))
            .is_ok_and(|c| c >= h),
        _ => true,
    }
}

/// A node database's writability; `None` when it does not answer.
async fn writable(m: &Monitor, node: NodeId) -> Option<bool> {
    m.db(node, async |c| {
        let ro: Option<(u8,)> = c.query_first("SELECT @@global.read_only").await?;
        Ok(ro.map(|(r,)| r == 0))
    })
    .await
    .ok()
    .flatten()
}

/// The hot look: UUID, creation and size of the versions created since `since` minus
/// the recheck margin (all of them without a point).
async fn hot_rows(
    conn: &mut mysql_async::Conn,
    schema: &str,
    since: Option<&str>,
) -> Result<Vec<Row>> {
    let table = format!("`{}`.OKM_NODE_DOCUMENT_VERSION", schema.replace('`', "``"));
    let q = format!("SELECT NDV_UUID, CAST(NDV_CREATED AS CHAR), NDV_SIZE FROM {table}");
    let rows: Vec<(String, String, i64)> = match since {
        Some(w) => {
            conn.exec(
                format!("{q} WHERE NDV_CREATED >= CAST(? AS DATETIME(6)) - INTERVAL ? SECOND"),
                (w, RECHECK_SECS),
            )
            .await?
        }
        None => conn.query(q).await?,
    };
    Ok(rows
        .into_iter()
        .map(|(uuid, created, size)| Row {
            uuid,
            created,
            size: size.max(0) as u64,
        })
        .collect())
}

/// The follow record on `node`, if one was left there.
pub async fn read_record(m: &Monitor, node: NodeId) -> Result<Option<FollowRecord>> {
    let link = &m.nodes[node];
    let path = format!("{}/{RECORD_FILE}", link.cfg.state_dir.display());
    let out = link
        .ssh
        .run(
            &format!("cat {} 2>/dev/null || true", quote(&path)),
            Duration::from_secs(10),
        )
        .await?;
    let text = out.stdout.trim();
    if text.is_empty() {
        return Ok(None);
    }
    serde_json::from_str(text)
        .map(Some)
        .wrap_err_with(|| format!("reading {path} on {}", link.cfg.name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pair::model::FOLLOW_STALE_SECS;

    #[test]
    fn a_record_runs_while_it_is_refreshed() {
        let r = FollowRecord {
            updated_at: 1000,
            ..Default::default()
        };
        assert!(r.running(1000 + FOLLOW_STALE_SECS));
        assert!(!r.running(1001 + FOLLOW_STALE_SECS));
    }

    #[test]
    fn a_follow_starts_from_the_later_of_its_record_and_the_last_verified_sync() {
        let rec = FollowRecord {
            complete_through: Some("2026-12-03 10:00:00.000000".into()),
            ..Default::default()
        };
        let mut sync = crate::pair::model::LastSync {
            finished_at: 0,
            source: "a".into(),
            target: "b".into(),
            files: 0,
            bytes: 0,
            duration_ms: 0,
            main_downtime_ms: 0,
            verified: true,
            journal_point: Some("2026-12-03 11:00:00.000000".into()),
        };
        assert_eq!(
            starting_point(Some(&rec), Some(&sync)).as_deref(),
            Some("2026-12-03 11:00:00.000000")
        );
        sync.verified = false;
        assert_eq!(
            starting_point(Some(&rec), Some(&sync)).as_deref(),
            Some("2026-12-03 10:00:00.000000")
        );
        assert_eq!(starting_point(None, None), None);
    }

    #[test]
    fn rows_older_than_twice_the_margin_are_forgotten() {
        let h = "2026-12-03 00:01:00.5";
        assert!(created_within("2026-12-03 00:00:10", h, 60));
        assert!(!created_within("2026-12-02 23:59:50", h, 60));
        assert!(created_within("garbage", h, 60));
    }
}
