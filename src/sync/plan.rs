//! The plan: what a sync would change on the mirror, from an rsync dry run that runs on
//! the main and pushes to the mirror over the nodes' own SSH, exactly as a sync would.

use std::time::{Duration, Instant};

use color_eyre::eyre::{Result, eyre};
use serde::Serialize;
use tokio::sync::mpsc;

use super::exit;
use super::itemize::{Change, ChangeKind, EntryType, parse_line};
use crate::config::{NodeConfig, NodeId, SyncConfig};
use crate::db::versions::version_of;
use crate::node::{NodeSsh, quote};
use crate::pair::Monitor;

/// Paths never part of the live plan: the Lucene index is copied only while OpenKM is
/// stopped (sync issue), and the cache is regenerable.
pub const LIVE_EXCLUDES: &[&str] = &["repository/index", "repository/cache"];

/// Where a service freeze leaves the main's Lucene index (relative to the Tomcat home):
/// hard links taken while OpenKM is stopped, copied to the mirror after the main takes
/// writes again. Lucene writes each file once (a changed file is a new file), so a link
/// keeps the frozen content after OpenKM starts. Never part of any other transfer.
pub const INDEX_SNAPSHOT: &str = "repository/.okmirror-index-snapshot";

pub use crate::pair::model::PlanTotals;

impl PlanTotals {
    /// Adds one change.
    pub fn add(&mut self, c: &Change) {
        match (c.kind, c.entry) {
            (ChangeKind::New, EntryType::Dir) => self.new_dirs += 1,
            (ChangeKind::New, _) => {
                self.new_files += 1;
                self.new_bytes += c.size;
            }
            (ChangeKind::Changed, _) => {
                self.changed_files += 1;
                self.changed_bytes += c.size;
            }
            (ChangeKind::Attributes, _) => self.attribute_only += 1,
            (ChangeKind::Deleted, _) => self.deleted += 1,
        }
    }

    /// Bytes a transfer would move at most.
    pub fn bytes(&self) -> u64 {
        self.new_bytes + self.changed_bytes
    }

    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        *self == PlanTotals::default()
    }

    /// The counts for people, as every face shows them:
    /// `3 new (8.8 KiB), 1 changed (2.0 KiB), 0 deleted`.
    pub fn summary(&self) -> String {
        format!(
            "{} new ({}), {} changed ({}), {} deleted",
            self.new_files,
            crate::format::bytes(self.new_bytes),
            self.changed_files,
            crate::format::bytes(self.changed_bytes),
            self.deleted
        )
    }
}

/// A computed plan.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub source: String,
    pub target: String,
    pub changes: Vec<Change>,
    /// Folders created or deleted (counted in the totals, not listed; the transfer needs them).
    #[serde(skip)]
    pub dirs: Vec<Change>,
    pub totals: PlanTotals,
    /// Lines rsync printed that were not itemized changes (errors, warnings).
    pub warnings: Vec<String>,
    pub took_ms: u128,
    /// The document each datastore file (by version UUID) belongs to, where the
    /// source's version rows name it (`name_plan`).
    #[serde(skip_serializing_if = "std::collections::HashMap::is_empty")]
    pub documents: std::collections::HashMap<String, String>,
    /// How the changes were found: a scan, or OpenKM's version journal.
    pub basis: super::pending::PlanBasis,
    /// A scan compared the datastore from the two nodes' listings (okmirror installed on
    /// both), not by rsync's walk of it ([`super::scan`]).
    pub datastore_listed: bool,
}

impl Plan {
    /// The document a change's file belongs to, when it is a named datastore file.
    pub fn document_of(&self, path: &str) -> Option<&str> {
        if self.documents.is_empty() {
            return None;
        }
        let v = crate::db::versions::version_of(path)?;
        self.documents.get(v).map(String::as_str)
    }
}

/// Which transfer a command line is for. Every transfer copies a list of paths that a
/// plan (or OpenKM's journal, or a verify) named: there is no whole-tree transfer, so no
/// `--delete` can reach a path nobody planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// A plan's paths while the main takes writes: the bulk pass before the freeze, or,
    /// with a database freeze and the journal, the one transfer after the thaw (with the
    /// journal's new files, which the target lacks). No index, files land atomically.
    /// Listed paths missing on the source are the plan's deletions.
    Live,
    /// The final pass: new journal files (a sync's, after the thaw; a version purged
    /// since it was journaled is skipped), and, for a switchover or a sync that had to
    /// plan by scan, the Lucene index folder inside the freeze (copied whole, its own
    /// deletions included).
    Frozen,
    /// After a verify found damaged, missing or extra datastore files (journal plans):
    /// the listed paths are copied whatever their size and time say, or deleted.
    Repair,
}

/// What a plan (an rsync dry run) walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    /// The whole Tomcat home (deletions included).
    Tree,
    /// The Tomcat home except one folder (relative to it), which is neither planned nor
    /// cleaned: the datastore, when the journal names its new files.
    TreeWithout(&'a str),
}

/// rsync's partial folder on the target (auto-excluded by rsync): an interrupted run
/// resumes from it, and no half-written file is ever visible under its real name.
pub const PARTIAL_DIR: &str = ".okmirror-partial";

/// The ssh command `source` uses to reach `target` (rsync's `-e`).
pub fn peer_ssh(source: &NodeConfig, target: &NodeConfig) -> String {
    // One connection serves the preflight, the plan and both passes: a handshake each
    // would add to the main's downtime. The socket lives in the state dir (0700 by
    // ssh's own rules on the socket) and closes a minute after its last use.
    let mux = quote(&format!(
        "-oControlPath={}/peer-%C",
        source.state_dir.display()
    ));
    // The shared connection holds the passes' output pipes: a peer that stops answering
    // (hung, frozen, cut off) must drop it within seconds, or a failed rsync would
    // leave its caller waiting for that pipe to close.
    // ServerAlive only starts after the handshake: a peer that accepts TCP and never
    // answers (frozen) is bounded by ConnectTimeout.
    let mux = format!(
        "-oControlMaster=auto {mux} -oControlPersist=60 -oConnectTimeout=10 -oServerAliveInterval=5 -oServerAliveCountMax=3"
    );
    match &source.ssh.peer_ssh_config {
        Some(cfg) => format!("ssh -F {} {mux}", quote(&cfg.display().to_string())),
        None => format!(
            "ssh -p {} -o BatchMode=yes -o StrictHostKeyChecking=yes {mux}",
            target.ssh.port
        ),
    }
}

/// The dry run that plans a sync over `scope` (pure, so it is unit tested).
pub fn plan_command(
    source: &NodeConfig,
    target: &NodeConfig,
    sync: &SyncConfig,
    scope: Scope,
) -> String {
    let mut parts: Vec<String> = vec!["LC_ALL=C".into(), "rsync".into(), "-a".into()];
    parts.push("--delete".into());
    if let Scope::TreeWithout(folder) = scope {
        // Excluded files on the target are protected from --delete as well.
        parts.push(quote(&format!("--exclude=/{}", folder.trim_matches('/'))));
    }
    parts.push("--itemize-changes".into());
    parts.push(quote("--out-format=%i %l %n"));
    parts.push("--dry-run".into());
    finish(&mut parts, source, target, sync, LIVE_EXCLUDES);
    parts.join(" ")
}

/// The transfer of the paths listed (NUL-separated, relative to the Tomcat home) in
/// `list`, a file on the source or `-` for the command's stdin (pure, so it is unit
/// tested).
pub fn rsync_command(
    source: &NodeConfig,
    target: &NodeConfig,
    sync: &SyncConfig,
    pass: Pass,
    list: &str,
    with_index: bool,
) -> String {
    let q = quote;
    let mut parts: Vec<String> = vec!["LC_ALL=C".into(), "rsync".into(), "-a".into()];
    if pass == Pass::Frozen {
        // A version purged since it was journaled is simply not there any more; a listed
        // folder (the index) is copied whole, with its own deletions.
        parts.extend([
            "-r".into(),
            "--delete".into(),
            "--ignore-missing-args".into(),
            "--from0".into(),
        ]);
        parts.push(q(&format!("--files-from={list}")));
    } else {
        parts.extend([
            "--from0".into(),
            q(&format!("--files-from={list}")),
            "--delete-missing-args".into(),
            "--force".into(),
        ]);
        if pass == Pass::Repair {
            // Same size and time but other content: copy it all the same.
            parts.push("--ignore-times".into());
        }
    }
    parts.push("--itemize-changes".into());
    parts.push(q("--out-format=%i %l %n"));
    parts.push(q(&format!("--partial-dir={PARTIAL_DIR}")));
    parts.push("--delay-updates".into());
    parts.push("--info=progress1".into());
    let skip: &[&str] = if pass == Pass::Frozen && with_index {
        &LIVE_EXCLUDES[1..]
    } else {
        LIVE_EXCLUDES
    };
    finish(&mut parts, source, target, sync, skip);
    parts.join(" ")
}

/// The pull that ships the listed datastore files (NUL-separated, relative to the
/// datastore, in `list`, a file on the target or `-` for stdin) from `source` to `target`. It runs on the target, so
/// the source only ever reads. It never deletes and never replaces: datastore files are
/// immutable, so a file already there is left alone, and one gone from the source is
/// skipped. Files land through the partial folder, whole or not at all (pure, so it is
/// unit tested).
pub fn ship_command(
    source: &NodeConfig,
    target: &NodeConfig,
    io_timeout_secs: u64,
    bwlimit_kbps: Option<u64>,
    list: &str,
) -> String {
    let q = quote;
    let mut parts: Vec<String> = vec![
        "LC_ALL=C".into(),
        "rsync".into(),
        "-a".into(),
        "--from0".into(),
        q(&format!("--files-from={list}")),
        "--ignore-missing-args".into(),
        "--ignore-existing".into(),
        "--itemize-changes".into(),
        q("--out-format=%i %l %n"),
        q(&format!("--partial-dir={PARTIAL_DIR}")),
        "--delay-updates".into(),
    ];
    if let Some(bw) = bwlimit_kbps {
        parts.push(format!("--bwlimit={bw}"));
    }
    parts.push(format!("--timeout={io_timeout_secs}"));
    parts.push("-e".into());
    parts.push(q(&peer_ssh(target, source)));
    parts.push(q(&format!(
        "{}@{}:{}/",
        source.ssh.user,
        source.ssh.host,
        source.datastore_path().display()
    )));
    parts.push(q(&format!("{}/", target.datastore_path().display())));
    parts.push("2>&1".into());
    parts.join(" ")
}

/// The options both kinds of command end with: excludes, limits, the peer SSH and the
/// two ends.
fn finish(
    parts: &mut Vec<String>,
    source: &NodeConfig,
    target: &NodeConfig,
    sync: &SyncConfig,
    skip: &[&str],
) {
    let q = quote;
    for e in sync
        .excludes
        .iter()
        .map(String::as_str)
        .chain(skip.iter().copied())
        .chain([INDEX_SNAPSHOT])
    {
        parts.push(q(&format!("--exclude=/{}", e.trim_matches('/'))));
    }
    if let Some(bw) = sync.bwlimit_kbps {
        parts.push(format!("--bwlimit={bw}"));
    }
    parts.push(format!("--timeout={}", sync.io_timeout_secs));
    parts.push("-e".into());
    parts.push(q(&peer_ssh(source, target)));
    parts.push(q(&format!("{}/", source.openkm_home.display())));
    parts.push(q(&format!(
        "{}@{}:{}/",
        target.ssh.user,
        target.ssh.host,
        target.openkm_home.display()
    )));
    parts.push("2>&1".into());
}

/// The copy of the main's index snapshot (`INDEX_SNAPSHOT`) into the mirror's index
/// folder, deletions within that folder included, after a service freeze (pure, so it is
/// unit tested). The mirror's OpenKM is still stopped while it runs.
pub fn index_command(source: &NodeConfig, target: &NodeConfig, sync: &SyncConfig) -> String {
    let q = quote;
    let mut parts: Vec<String> = vec!["LC_ALL=C".into(), "rsync".into(), "-a".into()];
    parts.extend(["--delete".into(), "--itemize-changes".into()]);
    parts.push(q("--out-format=%i %l %n"));
    parts.push(q(&format!("--partial-dir={PARTIAL_DIR}")));
    parts.push("--delay-updates".into());
    parts.push("--info=progress1".into());
    if let Some(bw) = sync.bwlimit_kbps {
        parts.push(format!("--bwlimit={bw}"));
    }
    parts.push(format!("--timeout={}", sync.io_timeout_secs));
    parts.push("-e".into());
    parts.push(q(&peer_ssh(source, target)));
    parts.push(q(&format!(
        "{}/{INDEX_SNAPSHOT}/",
        source.openkm_home.display()
    )));
    parts.push(q(&format!(
        "{}@{}:{}/{}/",
        target.ssh.user,
        target.ssh.host,
        target.openkm_home.display(),
        LIVE_EXCLUDES[0]
    )));
    parts.push("2>&1".into());
    parts.join(" ")
}

/// A path (rsync's escapes undone) that a path list could not name again: its bytes are
/// not UTF-8, and were read as U+FFFD.
pub fn unlistable(path: &str) -> bool {
    path.contains('\u{FFFD}')
}

/// Computes the plan main -> mirror. `ssh` is the source node's session.
pub async fn plan(
    source: &NodeConfig,
    target: &NodeConfig,
    sync: &SyncConfig,
    ssh: &NodeSsh,
    timeout: Duration,
) -> Result<Plan> {
    plan_scope(source, target, sync, ssh, timeout, Scope::Tree).await
}

/// Computes the plan main -> mirror over `scope` (`Tree` or `TreeWithout`).
pub async fn plan_scope(
    source: &NodeConfig,
    target: &NodeConfig,
    sync: &SyncConfig,
    ssh: &NodeSsh,
    timeout: Duration,
    scope: Scope<'_>,
) -> Result<Plan> {
    let started = Instant::now();
    // The source's state dir holds the peer connection's socket; made in the same
    // command (a failure shows in the dry run itself).
    let cmd = format!(
        "mkdir -p {}; {}",
        quote(&source.state_dir.display().to_string()),
        plan_command(source, target, sync, scope)
    );
    let (tx, rx) = mpsc::channel::<String>(4096);
    let collect = tokio::spawn(collect_lines(rx));
    let code = ssh
        .stream(&cmd, None, timeout, tx)
        .await
        .map_err(|e| eyre!("planning on {}: {e}", source.name))?;
    let found = collect
        .await
        .map_err(|e| eyre!("planning on {}: collector failed: {e}", source.name))?;
    check_dry_run(source, target, code, &found)?;
    check_listable(source, target, &found)?;
    Ok(Plan {
        source: source.name.clone(),
        target: target.name.clone(),
        changes: found.changes,
        dirs: found.dirs,
        totals: found.totals,
        warnings: found.warnings,
        took_ms: started.elapsed().as_millis(),
        documents: Default::default(),
        basis: Default::default(),
        datastore_listed: false,
    })
}

/// What a dry run's output said, line by line.
#[derive(Debug, Default)]
struct Collected {
    changes: Vec<Change>,
    dirs: Vec<Change>,
    totals: PlanTotals,
    warnings: Vec<String>,
}

impl Collected {
    /// Takes one line: a change is counted (folders are counted, not listed: their
    /// files are), any other line is kept as a warning (the first 100).
    fn take(&mut self, line: String) {
        match parse_line(&line) {
            Ok(Some(c)) => {
                self.totals.add(&c);
                if c.entry != EntryType::Dir {
                    self.changes.push(c);
                } else {
                    self.dirs.push(c);
                }
            }
            Ok(None) => {}
            Err(_) => {
                if self.warnings.len() < 100 {
                    self.warnings.push(line);
                }
            }
        }
    }
}

/// Reads the dry run's lines until the stream ends.
async fn collect_lines(mut rx: mpsc::Receiver<String>) -> Collected {
    let mut found = Collected::default();
    while let Some(line) = rx.recv().await {
        found.take(line);
    }
    found
}

/// The dry run's exit code as an error (with its first warning) when it failed.
fn check_dry_run(
    source: &NodeConfig,
    target: &NodeConfig,
    code: Option<i32>,
    found: &Collected,
) -> Result<()> {
    if exit::is_success(code, true) {
        return Ok(());
    }
    let detail = found.warnings.first().cloned().unwrap_or_default();
    Err(eyre!(
        "planning {} -> {}: {} ({})",
        source.name,
        target.name,
        exit::describe(code),
        detail
    ))
}

/// Refuses a plan with a path that a path list could not name again.
fn check_listable(source: &NodeConfig, target: &NodeConfig, found: &Collected) -> Result<()> {
    let Some(bad) = found
        .changes
        .iter()
        .chain(&found.dirs)
        .find(|c| unlistable(&c.path))
    else {
        return Ok(());
    };
    Err(eyre!(
        "planning {} -> {}: the name {:?} is not valid UTF-8; \
         okmirror lists every path it copies and cannot name this one, so nothing was copied. \
         Rename it on {} (e.g. with convmv), then sync again",
        source.name,
        target.name,
        bad.path,
        source.name
    ))
}

/// Names the datastore files of `plan` by their documents, from `node`'s version rows
/// (one query per thousand files). A failure leaves the plan unnamed: names are help,
/// not a condition.
pub async fn name_plan(monitor: &Monitor, node: NodeId, plan: &mut Plan) {
    let uuids: Vec<String> = plan
        .changes
        .iter()
        .filter_map(|c| version_of(&c.path).map(str::to_string))
        .collect();
    if uuids.is_empty() {
        return;
    }
    let schema = monitor.nodes[node].cfg.database.schema.clone();
    match monitor
        .db(node, async |c| {
            crate::pair::behind::documents_of(c, &schema, &uuids).await
        })
        .await
    {
        Ok(found) => {
            plan.documents = found.into_iter().map(|(u, r)| (u, r.document)).collect();
        }
        Err(e) => tracing::warn!("naming the plan's documents: {e:#}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;

    #[test]
    fn the_command_pushes_from_the_source_with_excludes_quoted() {
        let cfg = config::parse_str(config::EXAMPLE, std::path::Path::new("x.toml")).unwrap();
        let cmd = plan_command(&cfg.nodes[0], &cfg.nodes[1], &cfg.sync, Scope::Tree);
        assert_eq!(
            cmd,
            "LC_ALL=C rsync -a --delete --itemize-changes '--out-format=%i %l %n' --dry-run \
             '--exclude=/repository/.system.key' '--exclude=/logs' '--exclude=/repository/index' \
             '--exclude=/repository/cache' '--exclude=/repository/.okmirror-index-snapshot' --timeout=120 -e \"ssh -p 22 -o BatchMode=yes -o StrictHostKeyChecking=yes -oControlMaster=auto '-oControlPath=/var/lib/okmirror/peer-%C' -oControlPersist=60 -oConnectTimeout=10 -oServerAliveInterval=5 -oServerAliveCountMax=3\" \
             /opt/openkm-6.3/tomcat/ root@dms2.example.org:/opt/openkm-6.3/tomcat/ 2>&1"
        );
    }

    #[test]
    fn the_index_snapshot_goes_into_the_mirrors_index_folder_and_nowhere_else() {
        let cfg = config::parse_str(config::EXAMPLE, std::path::Path::new("x.toml")).unwrap();
        let (a, b, s) = (&cfg.nodes[0], &cfg.nodes[1], &cfg.sync);
        let cmd = index_command(a, b, s);
        assert!(
            cmd.starts_with("LC_ALL=C rsync -a --delete --itemize-changes"),
            "{cmd}"
        );
        assert!(cmd.contains("--delay-updates"), "{cmd}");
        assert!(
            cmd.ends_with(
                "/opt/openkm-6.3/tomcat/repository/.okmirror-index-snapshot/ \
                 root@dms2.example.org:/opt/openkm-6.3/tomcat/repository/index/ 2>&1"
            ),
            "{cmd}"
        );
        // No other transfer or plan ever carries the snapshot.
        for other in [
            plan_command(a, b, s, Scope::Tree),
            rsync_command(a, b, s, Pass::Live, "/l", false),
            rsync_command(a, b, s, Pass::Frozen, "/l", true),
        ] {
            assert!(
                other.contains("'--exclude=/repository/.okmirror-index-snapshot'"),
                "{other}"
            );
        }
    }

    #[test]
    fn every_transfer_is_listed_and_lands_files_atomically() {
        let cfg = config::parse_str(config::EXAMPLE, std::path::Path::new("x.toml")).unwrap();
        let (a, b, s) = (&cfg.nodes[0], &cfg.nodes[1], &cfg.sync);
        for pass in [Pass::Live, Pass::Frozen, Pass::Repair] {
            let cmd = rsync_command(a, b, s, pass, "/l", true);
            assert!(cmd.contains("--files-from=/l"), "{cmd}");
            assert!(!cmd.contains("--dry-run"), "{cmd}");
            assert!(
                cmd.contains("'--partial-dir=.okmirror-partial' --delay-updates --info=progress1"),
                "{cmd}"
            );
        }
    }

    #[test]
    fn listed_passes_walk_only_their_list() {
        let cfg = config::parse_str(config::EXAMPLE, std::path::Path::new("x.toml")).unwrap();
        let (a, b, s) = (&cfg.nodes[0], &cfg.nodes[1], &cfg.sync);
        let live = rsync_command(a, b, s, Pass::Live, "/var/lib/okmirror/l", false);
        assert!(
            live.starts_with(
                "LC_ALL=C rsync -a --from0 '--files-from=/var/lib/okmirror/l' --delete-missing-args --force --itemize-changes"
            ),
            "{live}"
        );
        assert!(!live.contains(" --delete "), "{live}");
        let frozen = rsync_command(a, b, s, Pass::Frozen, "/l", true);
        assert!(
            frozen.starts_with("LC_ALL=C rsync -a -r --delete --ignore-missing-args --from0 '--files-from=/l' --itemize"),
            "{frozen}"
        );
        assert!(!frozen.contains("--exclude=/repository/index"), "{frozen}");
        // A database freeze leaves OpenKM running: its index is never copied.
        let db_frozen = rsync_command(a, b, s, Pass::Frozen, "/l", false);
        assert!(
            db_frozen.contains("'--exclude=/repository/index'"),
            "{db_frozen}"
        );
    }

    #[test]
    fn a_journal_plans_scan_leaves_the_datastore_alone_and_repairs_copy_whatever_the_times() {
        let cfg = config::parse_str(config::EXAMPLE, std::path::Path::new("x.toml")).unwrap();
        let (a, b, s) = (&cfg.nodes[0], &cfg.nodes[1], &cfg.sync);
        let rest = plan_command(a, b, s, Scope::TreeWithout("repository/datastore/"));
        assert!(
            rest.starts_with(
                "LC_ALL=C rsync -a --delete '--exclude=/repository/datastore' --itemize-changes"
            ),
            "{rest}"
        );
        assert!(rest.contains("--dry-run"), "{rest}");
        let repair = rsync_command(a, b, s, Pass::Repair, "/l", false);
        assert!(
            repair.starts_with(
                "LC_ALL=C rsync -a --from0 '--files-from=/l' --delete-missing-args --force --ignore-times --itemize"
            ),
            "{repair}"
        );
        assert!(repair.contains("--delay-updates"), "{repair}");
        let live = rsync_command(a, b, s, Pass::Live, "/l", false);
        assert!(!live.contains("--ignore-times"), "{live}");
    }

    #[test]
    fn shipping_pulls_on_the_target_and_can_neither_delete_nor_replace() {
        let cfg = config::parse_str(config::EXAMPLE, std::path::Path::new("x.toml")).unwrap();
        let (main, mirror) = (&cfg.nodes[0], &cfg.nodes[1]);
        let cmd = ship_command(
            main,
            mirror,
            120,
            Some(500),
            "/var/lib/okmirror/follow.list",
        );
        assert!(
            cmd.starts_with(
                "LC_ALL=C rsync -a --from0 '--files-from=/var/lib/okmirror/follow.list' \
                 --ignore-missing-args --ignore-existing --itemize-changes"
            ),
            "{cmd}"
        );
        assert!(!cmd.contains("--delete"), "{cmd}");
        assert!(!cmd.contains("--force"), "{cmd}");
        assert!(
            cmd.contains("'--partial-dir=.okmirror-partial' --delay-updates"),
            "{cmd}"
        );
        assert!(cmd.contains("--bwlimit=500 --timeout=120"), "{cmd}");
        // The main's side is the remote source; the mirror's home the local target.
        let main_host = format!(
            "{}@{}:{}/",
            main.ssh.user,
            main.ssh.host,
            main.datastore_path().display()
        );
        assert!(
            cmd.ends_with(&format!(
                "{main_host} {}/ 2>&1",
                mirror.datastore_path().display()
            )),
            "{cmd}"
        );
    }

    #[test]
    fn names_a_list_cannot_carry_are_found() {
        assert!(!unlistable("webapps/café/ünïcode.txt"));
        assert!(unlistable("webapps/caf\u{FFFD}.txt"));
        assert!(!unlistable("logs/a\tb"));
    }

    #[test]
    fn totals_count_bytes_by_kind() {
        let mut t = PlanTotals::default();
        for l in [
            "<f+++++++++ 100 a",
            "<f.s....... 50 b",
            "cd+++++++++ 4096 d/",
            "*deleting   0 c",
            ".f...p..... 9 e",
        ] {
            t.add(&parse_line(l).unwrap().unwrap());
        }
        assert_eq!(
            t,
            PlanTotals {
                new_files: 1,
                new_bytes: 100,
                changed_files: 1,
                changed_bytes: 50,
                attribute_only: 1,
                deleted: 1,
                new_dirs: 1,
            }
        );
        assert_eq!(t.bytes(), 150);
    }

    #[test]
    fn collected_lines_list_files_apart_from_folders_and_keep_the_rest_as_warnings() {
        let mut found = Collected::default();
        for l in [
            "<f+++++++++ 100 a",
            "cd+++++++++ 4096 d/",
            ".d..t...... 4096 repository/",
            "rsync: some warning",
        ] {
            found.take(l.to_string());
        }
        let paths = |v: &[Change]| v.iter().map(|c| c.path.clone()).collect::<Vec<_>>();
        assert_eq!(paths(&found.changes), ["a"]);
        assert_eq!(paths(&found.dirs), ["d/"]);
        assert_eq!((found.totals.new_files, found.totals.new_dirs), (1, 1));
        assert_eq!(found.warnings, ["rsync: some warning"]);
        for i in 0..150 {
            found.take(format!("noise {i}"));
        }
        assert_eq!(found.warnings.len(), 100);
    }

    #[test]
    fn a_failed_dry_run_or_an_unlistable_name_refuses_the_plan() {
        let cfg = config::parse_str(config::EXAMPLE, std::path::Path::new("x.toml")).unwrap();
        let (a, b) = (&cfg.nodes[0], &cfg.nodes[1]);
        let mut found = Collected::default();
        found.take("<f+++++++++ 1 ok".to_string());
        assert!(check_dry_run(a, b, Some(24), &found).is_ok());
        assert!(check_listable(a, b, &found).is_ok());
        found.take("rsync error: oops".to_string());
        let err = check_dry_run(a, b, Some(12), &found)
            .unwrap_err()
            .to_string();
        assert!(err.ends_with("(rsync error: oops)"), "{err}");
        found.take("<f+++++++++ 1 caf\u{FFFD}".to_string());
        let err = check_listable(a, b, &found).unwrap_err().to_string();
        assert!(err.contains("is not valid UTF-8"), "{err}");
    }
}
