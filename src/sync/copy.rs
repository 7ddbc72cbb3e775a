//! The one transfer path. Every copy of files between the nodes (a sync's bulk, final
//! and repair passes; a switchover's or drill's live and final copies; a rejoin's sync)
//! goes through here, so each is guarded the same way:
//! - the source's datastore is checked against what its own database says must exist
//!   (`source_check`), so an empty mount or a wrong path is never copied over a mirror;
//! - every transfer copies a list that a plan, OpenKM's journal or a verify named:
//!   deletions are only ever the plan's, and the deletion guard has seen them;
//! - a cancel kills the running rsync by the PID it wrote itself.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use color_eyre::eyre::{Result, WrapErr, eyre};
use tokio::sync::{mpsc, watch};

use super::events::{Cancelled, SyncEvent};
use super::exit;
use super::guard;
use super::plan::{LIVE_EXCLUDES, Pass, Plan, PlanTotals, rsync_command};
use super::progress::{RunLine, Tracker, parse_run_line};
use crate::config::NodeConfig;
use crate::config::NodeId;
use crate::db::versions::{self, Watermark};
use crate::node::NodeSsh;
use crate::node::files::absent_on;
use crate::node::quote;
use crate::pair::Monitor;

/// How many of the source's versions are looked for in its datastore on every copy.
const SAMPLE: usize = 256;

/// The source's datastore must hold at least this share of the files its database names;
/// fewer is a missing folder, an empty mount or a wrong path, never a state to copy.
const MIN_PRESENT: f64 = 0.9;

/// One copy from `src` to `dst`, with what it may do and where it reports.
pub struct Copier<'a> {
    pub monitor: &'a Monitor,
    pub src: NodeId,
    pub dst: NodeId,
    /// The lock folder on the source: path lists and rsync's PID files live there.
    pub lock_dir: String,
    /// The number of deletions the operator confirmed (deletion guard).
    pub allow_deletes: Option<u64>,
    pub cancel: Option<watch::Receiver<bool>>,
    pub events: mpsc::Sender<SyncEvent>,
}

impl Copier<'_> {
    pub(super) fn s(&self) -> &NodeConfig {
        &self.monitor.nodes[self.src].cfg
    }

    pub(super) fn d(&self) -> &NodeConfig {
        &self.monitor.nodes[self.dst].cfg
    }

    pub(super) fn s_ssh(&self) -> &Arc<NodeSsh> {
        &self.monitor.nodes[self.src].ssh
    }

    async fn phase(&self, s: String) {
        let _ = self.events.send(SyncEvent::phase(s)).await;
    }

    /// Refuses to copy from a datastore that holds clearly fewer files than the source's
    /// own `OKM_NODE_DOCUMENT_VERSION` names. A sample of versions is looked for first
    /// (cheap); only when files are missing are both totals counted, and named.
    pub async fn source_check(&self) -> Result<String> {
        let (name, schema) = (self.s().name.clone(), self.s().database.schema.clone());
        let table = format!("`{}`.OKM_NODE_DOCUMENT_VERSION", schema.replace('`', "``"));
        let (rows, sample) = self
            .monitor
            .db(self.src, async |c| {
                use mysql_async::prelude::Queryable;
                let rows: Option<u64> = c.query_first(format!("SELECT COUNT(*) FROM {table}")).await?;
                let sample: Vec<String> = c
                    .query(format!(
                        "SELECT NDV_UUID FROM {table} ORDER BY RAND() LIMIT {SAMPLE}"
                    ))
                    .await?;
                Ok((rows.unwrap_or(0), sample))
            })
            .await
            .wrap_err_with(|| {
                format!("refusing to copy from {name}: its document versions cannot be read, so its datastore cannot be checked")
            })?;
        if rows == 0 {
            return Ok(format!("{name}: no document versions recorded yet"));
        }
        // Absolute paths: the datastore may live outside the Tomcat home.
        let ds = self.s().datastore_path().display().to_string();
        let paths: Vec<String> = sample
            .iter()
            .filter_map(|u| versions::datastore_file(u))
            .map(|f| format!("{}/{f}", ds.trim_end_matches('/')))
            .collect();
        let missing = absent_on(self.s_ssh(), self.s(), paths.clone())
            .await?
            .len();
        if (missing as f64) <= paths.len() as f64 * (1.0 - MIN_PRESENT) {
            return Ok(format!(
                "{name}'s datastore holds {} of {} sampled versions ({rows} recorded)",
                paths.len() - missing,
                paths.len()
            ));
        }
        let files = count_files(self.s_ssh(), self.s()).await.unwrap_or(0);
        if files as f64 >= rows as f64 * MIN_PRESENT {
            return Ok(format!(
                "{name}'s datastore holds {files} files for {rows} recorded versions"
            ));
        }
        Err(eyre!(
            "refusing to copy from {name}: its database names {rows} datastore files \
             (OKM_NODE_DOCUMENT_VERSION) but its datastore {} holds {files}, and {missing} of \
             {} sampled versions are missing there. A missing folder, an empty mount or a \
             wrong datastore path looks like this; nothing was copied or deleted",
            self.s().datastore_path().display(),
            paths.len()
        ))
    }

    /// The deletion guard for `plan`, counted against the target's files; the target is
    /// counted only when the plan deletes. A refusal says what the deleted files are.
    pub async fn guard_plan(&self, plan: &Plan) -> Result<()> {
        self.guard(&plan.totals, None)
            .await
            .map_err(|e| eyre!("{e}{}", guard::what_is_deleted(plan)))
    }

    /// The deletion guard for `totals`, counted against the target's files; the target
    /// is counted only when the plan deletes and no count is known.
    pub async fn guard(&self, totals: &PlanTotals, target_files: Option<u64>) -> Result<()> {
        let files = match target_files {
            Some(n) => n,
            None if totals.deleted > 0 => {
                count_files(&self.monitor.nodes[self.dst].ssh, self.d()).await?
            }
            None => 0,
        };
        guard::check_deletes(totals, files, &self.monitor.cfg.sync, self.allow_deletes)
            .map_err(|e| eyre!(e))
    }

    /// A scan plan of the whole Tomcat home; a cancel pressed while it runs is kept.
    pub async fn scan_plan(&self) -> Result<Plan> {
        let mut cancel = self.cancel.clone();
        tokio::select! {
            p = super::scan::plan_pair(self.monitor, self.src, self.dst) => p,
            _ = wait_cancel(&mut cancel) => Err(color_eyre::eyre::Report::new(Cancelled)),
        }
    }

    /// A live copy: checked source, scan plan, guard, then exactly the plan's paths.
    /// Returns the plan and the journal's watermark taken before it (for `final_copy`).
    pub async fn live_copy(&self, tracker: &mut Tracker) -> Result<(Plan, Option<Watermark>)> {
        self.phase(format!("source check: {}", self.source_check().await?))
            .await;
        let watermark = journal_watermark(self.monitor, self.src).await;
        let plan = self.scan_plan().await?;
        self.guard_plan(&plan).await?;
        tracker.add_plan(&plan.totals);
        self.copy_listed(Pass::Live, "bulk", &bulk_list(&plan), tracker)
            .await?;
        Ok((plan, watermark))
    }

    /// The final copy: the datastore files of versions created since `since` that the
    /// target lacks, and with `with_index` the index folder (a switchover's, inside its
    /// freeze). When there is no watermark or the journal cannot be read, a checked and
    /// guarded scan plan is copied instead. Returns what it did.
    pub async fn final_copy(
        &self,
        since: Option<&Watermark>,
        with_index: bool,
        tracker: &mut Tracker,
    ) -> Result<String> {
        self.final_copy_with(since, with_index, &[], tracker).await
    }

    /// [`Self::final_copy`] that also carries `planned`, a sync plan's paths left for
    /// after the thaw: one live transfer of both (one rsync start instead of two). The
    /// journal's files in it are ones the target lacks, so the live pass's deletion of a
    /// listed path missing on the source can never touch them.
    pub async fn final_copy_with(
        &self,
        since: Option<&Watermark>,
        with_index: bool,
        planned: &[String],
        tracker: &mut Tracker,
    ) -> Result<String> {
        let listed = match since {
            Some(w) => final_list(self.monitor, self.src, w).await,
            None => None,
        };
        let Some(paths) = listed else {
            return self.planned_final(with_index, tracker).await;
        };
        let mut paths = absent_on(&self.monitor.nodes[self.dst].ssh, self.d(), paths).await?;
        let what = format!("{} new journal files", paths.len());
        if !planned.is_empty() {
            let known: HashSet<&str> = planned.iter().map(String::as_str).collect();
            paths.retain(|p| !known.contains(p.as_str()));
            let mut all = planned.to_vec();
            all.append(&mut paths);
            self.copy_listed(Pass::Live, "final", &all, tracker).await?;
            return Ok(format!("{what}, with the plan's {} paths", planned.len()));
        }
        if with_index {
            paths.push(LIVE_EXCLUDES[0].to_string());
        }
        if paths.is_empty() {
            return Ok("no new document versions".into());
        }
        self.copy_listed(Pass::Frozen, "final", &paths, tracker)
            .await?;
        Ok(what)
    }

    /// The final copy without the journal: checked source, scan plan, guard, its paths,
    /// then the index folder on its own.
    async fn planned_final(&self, with_index: bool, tracker: &mut Tracker) -> Result<String> {
        self.phase("final pass: the journal cannot be used; planning by scan".into())
            .await;
        self.source_check().await?;
        let plan = self.scan_plan().await?;
        self.guard_plan(&plan).await?;
        tracker.add_plan(&plan.totals);
        self.copy_listed(Pass::Live, "final", &bulk_list(&plan), tracker)
            .await?;
        if with_index {
            let index = vec![LIVE_EXCLUDES[0].to_string()];
            self.copy_listed(Pass::Frozen, "index", &index, tracker)
                .await?;
        }
        Ok(format!("planned by scan: {}", plan.totals.summary()))
    }

    /// Copies exactly `paths` (relative to the Tomcat home) with one rsync on the source.
    pub async fn copy_listed(
        &self,
        pass: Pass,
        name: &str,
        paths: &[String],
        tracker: &mut Tracker,
    ) -> Result<()> {
        if is_cancelled(&self.cancel) {
            return Err(color_eyre::eyre::Report::new(Cancelled));
        }
        if paths.is_empty() {
            return Ok(());
        }
        let cmd = rsync_command(
            self.s(),
            self.d(),
            &self.monitor.cfg.sync,
            pass,
            "-",
            pass == Pass::Frozen && paths.iter().any(|p| p == LIVE_EXCLUDES[0]),
        );
        let pidfile = format!("{}/rsync-{name}.pid", self.lock_dir);
        let list = nul_list(paths);
        let job = Job {
            cmd: &cmd,
            list: Some(&list),
            live: pass != Pass::Frozen,
            pidfile: &pidfile,
        };
        self.transfer(self.s_ssh(), job, tracker).await
    }
}

impl Copier<'_> {
    /// Ships datastore files (`paths` relative to the datastore) from the source to the
    /// target: a pull that runs on the target, so the source only reads. It never
    /// deletes and never replaces (files are immutable), so it needs no guard.
    pub async fn ship(
        &self,
        name: &str,
        paths: &[String],
        bwlimit_kbps: Option<u64>,
        tracker: &mut Tracker,
    ) -> Result<()> {
        if is_cancelled(&self.cancel) {
            return Err(color_eyre::eyre::Report::new(Cancelled));
        }
        if paths.is_empty() {
            return Ok(());
        }
        let d_ssh = &self.monitor.nodes[self.dst].ssh;
        let dir = self.d().state_dir.display().to_string();
        let cmd = super::plan::ship_command(
            self.s(),
            self.d(),
            self.monitor.cfg.sync.io_timeout_secs,
            bwlimit_kbps,
            "-",
        );
        let pidfile = format!("{dir}/rsync-ship-{name}.pid");
        let list = nul_list(paths);
        let job = Job {
            cmd: &cmd,
            list: Some(&list),
            live: true,
            pidfile: &pidfile,
        };
        self.transfer(d_ssh, job, tracker).await
    }
}

/// How many files `node`'s datastore holds (the deletion guard's base). An unreadable
/// datastore is an error, never zero.
pub async fn count_files(ssh: &NodeSsh, node: &NodeConfig) -> Result<u64> {
    let ds = quote(&node.datastore_path().display().to_string());
    let out = ssh
        .run(
            // find's own failure (a folder gone or unreadable mid-walk) fails the count.
            &format!(
                "cd {ds} && {{ find . -type f; echo \"rc=$?\"; }} | \
                 awk '/^rc=/ {{ rc = substr($0, 4); next }} {{ n++ }} END {{ if (rc != 0) exit 1; print n + 0 }}'"
            ),
            Duration::from_secs(600),
        )
        .await?;
    let n = out.stdout.trim().parse().ok().filter(|_| out.success());
    n.ok_or_else(|| {
        eyre!(
            "counting the files of {}'s datastore: {} {}",
            node.name,
            out.stdout.trim(),
            out.stderr.trim()
        )
    })
}

/// The bulk pass's list: every path the plan changes, its folders included.
pub fn bulk_list(plan: &Plan) -> Vec<String> {
    plan.dirs
        .iter()
        .chain(plan.changes.iter())
        .map(|c| c.path.trim_end_matches('/').to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// A NUL-separated path list, for rsync's `--files-from=- --from0` on its stdin (no
/// list file on the node, no extra round trip).
fn nul_list(paths: &[String]) -> Vec<u8> {
    let mut body = Vec::with_capacity(paths.len() * 64);
    for p in paths {
        body.extend_from_slice(p.as_bytes());
        body.push(0);
    }
    body
}

/// The journal's watermark on `main`; `None` (with a log line) when the version table
/// cannot be read, and the final pass is then planned by scan.
pub async fn journal_watermark(monitor: &Monitor, main: NodeId) -> Option<Watermark> {
    let schema = monitor.nodes[main].cfg.database.schema.clone();
    match monitor
        .db(main, async |c| versions::watermark(c, &schema).await)
        .await
    {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!("journal unavailable, the final pass is planned by scan: {e:#}");
            None
        }
    }
}

/// The datastore files of versions created since `since` (minus the margin). `None`
/// when the journal cannot be used.
async fn final_list(monitor: &Monitor, main: NodeId, since: &Watermark) -> Option<Vec<String>> {
    let cfg = &monitor.nodes[main].cfg;
    let prefix = versions::datastore_prefix(&cfg.openkm_home, &cfg.datastore_path())?;
    let schema = cfg.database.schema.clone();
    let margin = monitor.cfg.sync.journal_margin_secs;
    let versions = match monitor
        .db(main, async |c| {
            versions::versions_since(c, &schema, since, margin).await
        })
        .await
    {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!("journal unavailable, the final pass is planned by scan: {e:#}");
            return None;
        }
    };
    Some(
        versions
            .iter()
            .filter_map(|v| versions::datastore_file(&v.uuid))
            .map(|f| format!("{prefix}/{f}"))
            .collect(),
    )
}

/// One rsync to run on a node.
pub(super) struct Job<'a> {
    pub cmd: &'a str,
    /// The NUL-separated path list for `--files-from=-`, on the command's stdin.
    pub list: Option<&'a [u8]>,
    /// A pass over a live source (a file vanishing mid-run is normal there).
    pub live: bool,
    /// Where the rsync's PID is kept while it runs (the cancel's target).
    pub pidfile: &'a str,
}

impl Copier<'_> {
    /// One rsync on the source, its output followed line by line. rsync writes its own PID
    /// to `pidfile` (one per transfer), so a cancel kills exactly the rsync running now; the
    /// kill is repeated until the transfer ends, so a cancel that comes before the PID is
    /// written is not lost.
    pub(super) async fn transfer(
        &self,
        ssh: &Arc<NodeSsh>,
        job: Job<'_>,
        tracker: &mut Tracker,
    ) -> Result<()> {
        let (events, cancel) = (&self.events, &self.cancel);
        let Job {
            cmd,
            list,
            live,
            pidfile,
        } = job;
        let (tx, mut rx) = mpsc::channel::<String>(1024);
        let (cmd, kill) = pid_scripts(cmd, pidfile);
        // A transfer abandoned half-way (a step's deadline, a dropped task) must not go on
        // on the node: its rsync is killed by its own PID then.
        let mut on_drop = KillOnDrop {
            ssh: Arc::clone(ssh),
            kill: Some(kill.clone()),
        };
        let run = ssh.stream(&cmd, list, Duration::from_secs(24 * 3600), tx);
        tokio::pin!(run);
        let mut shown = Shown::new(tracker, events);
        let mut cancel = cancel.clone();
        let mut cancelled = false;
        let mut retry = tokio::time::interval(Duration::from_millis(300));
        let code = loop {
            tokio::select! {
                _ = wait_cancel(&mut cancel), if !cancelled => cancelled = true,
                _ = retry.tick(), if cancelled => {
                    let _ = ssh.run(&kill, Duration::from_secs(10)).await;
                },
                line = rx.recv() => if let Some(l) = line {
                    shown.line(&l);
                },
                code = &mut run => {
                    on_drop.kill = None;
                    break code?;
                }
            }
        };
        on_drop.kill = None;
        let last_line = shown.last_line;
        settle(&mut rx, tracker, events).await;
        if cancelled {
            return Err(color_eyre::eyre::Report::new(Cancelled));
        }
        if exit::is_success(code, live) {
            Ok(())
        } else {
            Err(eyre!("rsync: {} ({last_line})", exit::describe(code)))
        }
    }
}

/// The transfer's script and the script that kills it. An inner shell writes its PID
/// to `pidfile`, then becomes `cmd`; the outer one removes the file when it ends (no
/// second command, no second round trip). The kill takes only that PID, and only while
/// it is still this transfer's rsync (never a PID reused by something else after it).
fn pid_scripts(cmd: &str, pidfile: &str) -> (String, String) {
    let pf = quote(pidfile);
    let inner = quote(&format!("echo $$ > {pf}; exec env {cmd}"));
    let run = format!("rm -f {pf}; sh -c {inner}; rc=$?; rm -f {pf}; exit $rc");
    let kill = format!(
        "p=$(cat {pf} 2>/dev/null) && [ -n \"$p\" ] && \
         tr '\\0' ' ' < /proc/\"$p\"/cmdline 2>/dev/null | grep -q rsync && kill \"$p\""
    );
    (run, kill)
}

/// A running transfer's lines, shown to its face as they come.
struct Shown<'a> {
    tracker: &'a mut Tracker,
    events: &'a mpsc::Sender<SyncEvent>,
    /// The last line that was not progress (the error an rsync failure is told with).
    last_line: String,
    /// When progress was last offered.
    sent: std::time::Instant,
}

impl<'a> Shown<'a> {
    fn new(tracker: &'a mut Tracker, events: &'a mpsc::Sender<SyncEvent>) -> Self {
        Shown {
            tracker,
            events,
            last_line: String::new(),
            sent: std::time::Instant::now(),
        }
    }

    /// Takes one line of rsync's output: other text is a warning, and the tracker is
    /// offered to the face.
    fn line(&mut self, l: &str) {
        let parsed = parse_run_line(l);
        if let RunLine::Other(text) = &parsed
            && !text.is_empty()
        {
            self.last_line = text.clone();
            let _ = self.events.try_send(SyncEvent::Warning(text.clone()));
        }
        self.tracker.update(&parsed);
        // Lossy on purpose: a reader that falls behind (or none) must never stall the
        // transfer; the next update carries the whole tracker again (with the last
        // files' names). A new file is always offered; progress within a file at most
        // every 100 ms.
        let file_start = matches!(parsed, RunLine::Item(_));
        if file_start || self.sent.elapsed() >= Duration::from_millis(100) {
            let _ = self
                .events
                .try_send(SyncEvent::Progress(self.tracker.clone()));
            self.sent = std::time::Instant::now();
        }
    }
}

/// After the rsync ended: its last lines counted, the end state sent (its script
/// removed its PID file itself).
async fn settle(
    rx: &mut mpsc::Receiver<String>,
    tracker: &mut Tracker,
    events: &mpsc::Sender<SyncEvent>,
) {
    while let Ok(l) = rx.try_recv() {
        tracker.update(&parse_run_line(&l));
    }
    // The end state is not lossy: a view must not stop at "51/60 files". Bounded, so a
    // reader that is gone cannot hold the transfer.
    let _ = tokio::time::timeout(
        Duration::from_secs(2),
        events.send(SyncEvent::Progress(tracker.clone())),
    )
    .await;
}

/// Kills a remote process by its PID file when dropped while still armed.
struct KillOnDrop {
    ssh: Arc<NodeSsh>,
    /// The kill script; `None` once the process ended.
    kill: Option<String>,
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let (Some(kill), Ok(rt)) = (self.kill.take(), tokio::runtime::Handle::try_current()) else {
            return;
        };
        let ssh = Arc::clone(&self.ssh);
        rt.spawn(async move {
            tracing::warn!("a transfer was abandoned: killing its rsync by its PID");
            let _ = ssh.run(&kill, Duration::from_secs(10)).await;
        });
    }
}

/// An events sender for a copy nobody watches: what it is sent is read and dropped, so
/// no send ever waits.
pub fn unwatched() -> mpsc::Sender<SyncEvent> {
    let (tx, mut rx) = mpsc::channel(64);
    tokio::spawn(async move { while rx.recv().await.is_some() {} });
    tx
}

/// Resolves when the cancel flag turns true (never, without a flag).
pub async fn wait_cancel(cancel: &mut Option<watch::Receiver<bool>>) {
    match cancel {
        Some(rx) => {
            if rx.wait_for(|c| *c).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending::<()>().await,
    }
}

/// Whether the cancel flag is set.
pub fn is_cancelled(cancel: &Option<watch::Receiver<bool>>) -> bool {
    cancel.as_ref().is_some_and(|c| *c.borrow())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transfer_writes_its_pid_is_killed_only_by_it_and_removes_its_pid_file() {
        let dir = tempfile::tempdir().unwrap();
        // A stand-in rsync that runs until it is killed.
        let fake = dir.path().join("rsync");
        std::fs::write(
            &fake,
            "#!/bin/sh\ntrap 'exit 1' TERM\nwhile :; do sleep 0.05; done\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let pidfile = dir.path().join("rsync-bulk.pid");
        let (run, kill) = pid_scripts("rsync -a 'x y' z", &pidfile.display().to_string());
        let path = format!(
            "{}:{}",
            dir.path().display(),
            std::env::var("PATH").unwrap()
        );
        let mut child = std::process::Command::new("sh")
            .args(["-c", &run])
            .env("PATH", &path)
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !pidfile.exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let pid: u32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_ne!(
            pid,
            child.id(),
            "the PID is the transfer's, not its wrapper's"
        );
        // Killing by the file ends the transfer; the wrapper reports it and cleans up.
        let killed = std::process::Command::new("sh")
            .args(["-c", &kill])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = child.wait().unwrap();
        assert!(!status.success());
        assert!(!pidfile.exists(), "the PID file outlived its transfer");
        // A PID file naming something else (reused PID) is not killed.
        std::fs::write(&pidfile, format!("{}\n", std::process::id())).unwrap();
        let refused = std::process::Command::new("sh")
            .args(["-c", &kill])
            .status()
            .unwrap();
        assert!(!refused.success());
    }
}
