//! DR drills: a switchover to the mirror and back, with a probe writing documents through
//! the front door the whole time, so the operator learns what a real move costs before
//! one is needed: each step's time (from the flows' journals), the longest stretch
//! without an acknowledged write (RTO) and the acknowledged documents missing at the end
//! (RPO, which must be 0). The switchovers are the ordinary engine's (`Runner`); nothing
//! here moves the service by itself.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use color_eyre::eyre::{Result, WrapErr, eyre};
use mysql_async::prelude::Queryable;
use serde::Serialize;
use tokio::sync::mpsc;

use super::exec::{self, ChannelConfirmer, FlowReport, Runner, journal_dir};
use super::journal::{self, Entry, now_ms};
use super::{FlowEvent, FlowKind};
use crate::pair::Monitor;
use crate::pair::roles::PairRoles;

/// How often the probe starts a write (each runs on its own, so a request stuck in the
/// freeze does not delay the next).
const PROBE_EVERY: Duration = Duration::from_millis(100);
/// How long the probe writes before the first switchover and after the last one, so
/// the gaps the switchovers cause have acknowledged writes on both sides.
const SETTLE: Duration = Duration::from_secs(1);
/// How long to wait for the first acknowledged write before giving up on the drill.
const FIRST_WRITE_WITHIN: Duration = Duration::from_secs(6);
/// How long the final mirror may take to apply the final main's position.
const CATCH_UP_WITHIN: Duration = Duration::from_secs(60);

/// Progress of a drill, for the faces: its own notes and the flows' events (questions
/// included, answered like a flow's).
#[derive(Debug, Clone)]
pub enum DrillEvent {
    /// A line about the drill itself (phase changes, what is being counted).
    Note(String),
    /// An event of the switchover that runs now.
    Flow(FlowEvent),
}

/// One write the probe attempted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attempt {
    /// Sequence number (the document's name).
    pub n: u64,
    /// The document's path in OpenKM.
    pub path: String,
    /// When the request started and ended (ms since the epoch, the journals' clock).
    pub start_ms: u64,
    pub end_ms: u64,
    /// HTTP 200: OpenKM acknowledged the document, so losing it would be data loss.
    pub acked: bool,
    /// The HTTP status, or curl's complaint when there was none.
    pub status: String,
}

/// A stretch without acknowledged writes: from the end of the last acknowledged write
/// before it to the end of the first acknowledged write after it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Gap {
    pub from_ms: u64,
    pub to_ms: u64,
    /// Length in ms.
    pub ms: u64,
    /// Length in seconds (ms precision), as reported.
    pub secs: f64,
    /// False when no write was acknowledged after it (the gap lasted until the probe
    /// stopped, so the real unavailability was longer).
    pub recovered: bool,
}

impl Gap {
    fn new(from_ms: u64, to_ms: u64, recovered: bool) -> Gap {
        let ms = to_ms.saturating_sub(from_ms);
        Gap {
            from_ms,
            to_ms,
            ms,
            secs: ms as f64 / 1000.0,
            recovered,
        }
    }
}

/// Every stretch between acknowledged writes while the probe ran (`start_ms` to
/// `end_ms`). The first one starts when the probe did; a last one that never ended in an
/// acknowledged write is marked unrecovered. Pure, for the unit tests.
pub fn gaps(attempts: &[Attempt], start_ms: u64, end_ms: u64) -> Vec<Gap> {
    let mut acked: Vec<u64> = attempts
        .iter()
        .filter(|a| a.acked)
        .map(|a| a.end_ms)
        .collect();
    acked.sort_unstable();
    let mut out = Vec::new();
    let mut last = start_ms;
    for end in &acked {
        out.push(Gap::new(last, *end, true));
        last = *end;
    }
    // Writes that failed after the last acknowledged one: unavailable until the end.
    if attempts.iter().any(|a| !a.acked && a.end_ms > last) {
        out.push(Gap::new(last, end_ms.max(last), false));
    }
    out
}

/// The longest gap, overall or among those overlapping `window` (a switchover's span).
pub fn longest(gaps: &[Gap], window: Option<(u64, u64)>) -> Option<Gap> {
    gaps.iter()
        .filter(|g| window.is_none_or(|(from, to)| g.from_ms < to && g.to_ms > from))
        .max_by_key(|g| (g.ms, std::cmp::Reverse(g.from_ms)))
        .copied()
}

/// Each switchover's RTO: the longest gap that belongs to it. A gap belongs to the
/// switchover during which it began (writes stopped then), or, when it began outside
/// every switchover, to the one it overlaps most. `windows` are the switchovers' spans.
pub fn leg_rtos(gaps: &[Gap], windows: &[Option<(u64, u64)>]) -> Vec<Option<Gap>> {
    let mut out: Vec<Option<Gap>> = vec![None; windows.len()];
    let overlap = |g: &Gap, (a, b): (u64, u64)| g.to_ms.min(b).saturating_sub(g.from_ms.max(a));
    for g in gaps {
        let began_in = windows
            .iter()
            .position(|w| w.is_some_and(|(a, b)| g.from_ms >= a && g.from_ms <= b));
        let owner = began_in.or_else(|| {
            windows
                .iter()
                .enumerate()
                .filter_map(|(i, w)| w.map(|w| (i, overlap(g, w))))
                .filter(|(_, o)| *o > 0)
                .max_by_key(|(_, o)| *o)
                .map(|(i, _)| i)
        });
        if let Some(i) = owner
            && out[i].is_none_or(|best| g.ms > best.ms)
        {
            out[i] = Some(*g);
        }
    }
    out
}

/// One acknowledged document missing on the final main.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lost {
    pub path: String,
    /// `not in the database` or `datastore file missing: <file>`.
    pub why: String,
}

/// One switchover of the drill, as its journal tells it.
#[derive(Debug, Clone, Serialize)]
pub struct Leg {
    pub from: String,
    pub to: String,
    /// The flow's report rebuilt from its journal (steps with start and end times).
    pub flow: Option<FlowReport>,
    /// Why the flow did not start or its journal could not be read.
    pub error: Option<String>,
    /// The flow's span in its journal (first to last entry), ms since the epoch.
    pub started_ms: Option<u64>,
    pub ended_ms: Option<u64>,
    /// The longest gap without acknowledged writes that overlaps this switchover.
    pub rto: Option<Gap>,
    /// Probe writes started during this switchover that were not acknowledged
    /// (refused while the service was frozen; not losses).
    pub refused: u64,
}

impl Leg {
    /// Whether the switchover ran to its end.
    pub fn completed(&self) -> bool {
        self.flow.as_ref().is_some_and(|f| f.ok)
    }

    /// One line for the operator: completed, or where and why it stopped.
    pub fn outcome(&self) -> String {
        match (&self.flow, &self.error) {
            (Some(f), _) => f.outcome.to_string(),
            (None, Some(e)) => format!("did not run: {e}"),
            (None, None) => "not run".into(),
        }
    }
}

/// Everything a drill measured; saved as JSON and rendered as Markdown.
#[derive(Debug, Clone, Serialize)]
pub struct DrillReport {
    /// UTC timestamp the drill started, also the probe's folder name.
    pub id: String,
    pub pair: String,
    /// Both switchovers completed and no acknowledged document was lost.
    pub ok: bool,
    /// One line: what passed, or everything that failed.
    pub outcome: String,
    pub started_ms: u64,
    pub ended_ms: u64,
    pub front_url: String,
    /// The OpenKM folder the probe wrote into.
    pub probe_folder: String,
    /// The main when the drill started, and the node it ended on.
    pub main_before: String,
    pub main_after: Option<String>,
    /// The switchovers, there and back (only the first when it failed).
    pub legs: Vec<Leg>,
    /// The longest gap without acknowledged writes over the whole drill.
    pub rto: Option<Gap>,
    /// Acknowledged documents missing on the final main; `None` when they could not be
    /// counted (see `rpo_error`).
    pub rpo_documents: Option<u64>,
    pub rpo_error: Option<String>,
    pub lost: Vec<Lost>,
    /// How the final mirror caught up before the count (or why it did not).
    pub mirror_catch_up: Option<String>,
    /// The mirror's files behind when the drill started: what a forced failover then
    /// would have lost, in documents (and whether `okmirror follow` ran).
    pub files_behind: Option<String>,
    pub attempts: u64,
    pub acknowledged: u64,
    /// Writes that got no acknowledgement (refused during the freeze): not losses.
    pub refused: u64,
    /// Where the report was saved.
    pub markdown_file: PathBuf,
    pub json_file: PathBuf,
    /// Every probe write, in order.
    pub probe: Vec<Attempt>,
}

/// The main and mirror when the roles are normal (one writable, one read-only), else
/// an error saying what the pair looks like: a drill starts only from a healthy pair.
pub async fn normal_roles(monitor: &Monitor) -> Result<(usize, usize)> {
    let status = monitor.probe_pair(None).await;
    match status.roles {
        PairRoles::Normal { main, mirror } => Ok((main, mirror)),
        other => Err(eyre!(
            "a drill needs a writable main and a read-only mirror; the pair is {other:?}"
        )),
    }
}

/// The two switchovers a drill would run (there and back), for `--dry-run`.
pub async fn plans(monitor: Arc<Monitor>) -> Result<(usize, usize, Runner, Runner)> {
    let (main, mirror) = normal_roles(&monitor).await?;
    let there = Runner::plan(Arc::clone(&monitor), FlowKind::Switchover, main, mirror).await;
    let back = Runner::plan(monitor, FlowKind::Switchover, mirror, main).await;
    Ok((main, mirror, there, back))
}

/// Runs a drill: checks, probe, switchover there, switchover back, count, report (saved
/// under the data dir's `drills/`). Questions of the flows arrive as
/// `DrillEvent::Flow(FlowEvent::Ask)`. An `Err` means the drill did not start (nothing
/// was switched); a failed switchover is reported in the `DrillReport`.
pub async fn run(monitor: Arc<Monitor>, events: mpsc::Sender<DrillEvent>) -> Result<DrillReport> {
    let dir = journal_dir()?;
    if let Some(p) = journal::unfinished_flow(&dir)? {
        return Err(eyre!(
            "an unfinished flow is journaled in {}: finish it with `okmirror resume` (or `okmirror abandon` after checking the nodes by hand) before a drill",
            p.display()
        ));
    }
    let (main, mirror) = normal_roles(&monitor).await?;
    let name = |i: usize| monitor.nodes[i].cfg.name.clone();
    let front =
        monitor.cfg.traffic.front_url.clone().ok_or_else(|| {
            eyre!("no [traffic] front_url: a drill writes through the front door")
        })?;
    let creds = credentials(&monitor, main)?;
    let files_behind = files_behind_now(&monitor, mirror).await;
    let started_ms = now_ms();
    let id = stamp(started_ms);
    let folder = format!("/okm:root/okmirror-drill/{id}");
    let url = format!(
        "{}/OpenKM/services/rest/document/createSimple",
        front.trim_end_matches('/')
    );
    note(
        &events,
        format!("drill {id}: writing a document every 100 ms through {front} into {folder}"),
    )
    .await;
    let probe = Probe::start(url, folder.clone(), id.clone(), creds);
    tokio::time::sleep(SETTLE).await;
    let t0 = Instant::now();
    while probe.acknowledged() == 0 && t0.elapsed() < FIRST_WRITE_WITHIN {
        tokio::time::sleep(PROBE_EVERY).await;
    }
    if probe.acknowledged() == 0 {
        let log = probe.stop().await;
        let last = log.last().map_or("no answer".into(), |a| a.status.clone());
        return Err(eyre!(
            "no write through {front} was acknowledged (last: {last}); nothing was switched"
        ));
    }

    let mut legs = Vec::new();
    note(
        &events,
        format!("switchover 1 of 2: {} -> {}", name(main), name(mirror)),
    )
    .await;
    legs.push(leg(&monitor, main, mirror, &events).await);
    if legs[0].completed() {
        note(
            &events,
            format!("switchover 2 of 2: {} -> {}", name(mirror), name(main)),
        )
        .await;
        legs.push(leg(&monitor, mirror, main, &events).await);
    } else {
        note(
            &events,
            "the first switchover did not complete: not switching back".into(),
        )
        .await;
    }
    tokio::time::sleep(SETTLE).await;
    let probe_start = probe.started_ms;
    let attempts = probe.stop().await;
    let probe_end = now_ms();

    let all = gaps(&attempts, probe_start, probe_end);
    let windows: Vec<Option<(u64, u64)>> =
        legs.iter().map(|l| l.started_ms.zip(l.ended_ms)).collect();
    for (l, rto) in legs.iter_mut().zip(leg_rtos(&all, &windows)) {
        l.rto = rto;
        if let (Some(s), Some(e)) = (l.started_ms, l.ended_ms) {
            l.refused = attempts
                .iter()
                .filter(|a| !a.acked && a.start_ms >= s && a.start_ms <= e)
                .count() as u64;
        }
    }
    let acked: Vec<String> = attempts
        .iter()
        .filter(|a| a.acked)
        .map(|a| a.path.clone())
        .collect();
    note(
        &events,
        format!(
            "counting the {} acknowledged documents on the final main",
            acked.len()
        ),
    )
    .await;
    let count = count_losses(&monitor, &acked, &folder).await;
    let (main_after, mirror_catch_up, lost, rpo_error) = match count {
        Ok(c) => (Some(c.main), c.catch_up, Some(c.lost), None),
        Err(e) => (None, None, None, Some(format!("{e:#}"))),
    };
    let rpo_documents = lost.as_ref().map(|l| l.len() as u64);
    let both = legs.len() == 2 && legs.iter().all(Leg::completed);
    let ok = both && rpo_documents == Some(0);
    let outcome = outcome(&legs, rpo_documents, rpo_error.as_deref());
    let drills = crate::paths::data_dir()?.join("drills");
    let acknowledged = acked.len() as u64;
    let report = DrillReport {
        pair: monitor.cfg.pair.clone(),
        ok,
        outcome,
        started_ms,
        ended_ms: now_ms(),
        front_url: front,
        probe_folder: folder,
        main_before: name(main),
        main_after,
        legs,
        rto: longest(&all, None),
        rpo_documents,
        rpo_error,
        lost: lost.unwrap_or_default(),
        mirror_catch_up,
        files_behind,
        attempts: attempts.len() as u64,
        acknowledged,
        refused: attempts.len() as u64 - acknowledged,
        markdown_file: drills.join(format!("{id}-drill.md")),
        json_file: drills.join(format!("{id}-drill.json")),
        probe: attempts,
        id,
    };
    save(&report)?;
    Ok(report)
}

/// The mirror's files behind, in a line for the report.
async fn files_behind_now(monitor: &Monitor, mirror: usize) -> Option<String> {
    let follow = match crate::sync::follow::read_record(monitor, mirror).await {
        Ok(Some(r)) if r.running(now_ms() / 1000) => "follow running".to_string(),
        Ok(_) => "follow not running".to_string(),
        Err(e) => format!("follow unknown ({e:#})"),
    };
    Some(match super::files::behind_on(monitor, mirror).await {
        Ok(b) => format!(
            "{} on {} ({follow})",
            b.summary(),
            monitor.nodes[mirror].cfg.name
        ),
        Err(e) => format!("unknown: {e:#} ({follow})"),
    })
}

async fn note(events: &mpsc::Sender<DrillEvent>, text: String) {
    let _ = events.send(DrillEvent::Note(text)).await;
}

fn outcome(legs: &[Leg], rpo: Option<u64>, rpo_error: Option<&str>) -> String {
    let mut bad = Vec::new();
    for (i, l) in legs.iter().enumerate() {
        if !l.completed() {
            bad.push(format!(
                "switchover {} ({} -> {}) {}",
                i + 1,
                l.from,
                l.to,
                l.outcome()
            ));
        }
    }
    if legs.len() < 2 {
        bad.push("the way back was not attempted".into());
    }
    match (rpo, rpo_error) {
        (Some(0), _) => {}
        (Some(n), _) => bad.push(format!("{n} acknowledged documents lost")),
        (None, e) => bad.push(format!(
            "losses could not be counted: {}",
            e.unwrap_or("unknown")
        )),
    }
    if bad.is_empty() {
        "both switchovers completed, no acknowledged document lost".into()
    } else {
        bad.join("; ")
    }
}

/// The curl config (Basic auth) of `node`'s OpenKM user, for the probe's stdin.
fn credentials(monitor: &Monitor, node: usize) -> Result<String> {
    let n = &monitor.nodes[node].cfg;
    let password = n
        .http
        .password_source()
        .map_err(|e| eyre!("{}: OpenKM password: {e}", n.name))?
        .resolve()
        .map_err(|e| eyre!("{}: OpenKM password: {e}", n.name))?;
    Ok(crate::pair::remote::curl_config(
        &n.http.user,
        password.expose(),
    ))
}

/// Runs one switchover through the engine, forwarding its events, and rebuilds its
/// report from the journal it wrote.
async fn leg(
    monitor: &Arc<Monitor>,
    old: usize,
    new: usize,
    events: &mpsc::Sender<DrillEvent>,
) -> Leg {
    let mut out = Leg {
        from: monitor.nodes[old].cfg.name.clone(),
        to: monitor.nodes[new].cfg.name.clone(),
        flow: None,
        error: None,
        started_ms: None,
        ended_ms: None,
        rto: None,
        refused: 0,
    };
    let runner = Runner::plan(Arc::clone(monitor), FlowKind::Switchover, old, new).await;
    let steps = runner.steps.clone();
    let (tx, mut rx) = mpsc::channel::<FlowEvent>(64);
    let forward = {
        let events = events.clone();
        tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                if events.send(DrillEvent::Flow(ev)).await.is_err() {
                    break;
                }
            }
        })
    };
    let mut confirmer = ChannelConfirmer(tx.clone());
    let result = runner.run(&mut confirmer, &tx).await;
    drop(confirmer);
    drop(tx);
    let _ = forward.await;
    let path = match result {
        Ok(r) => r.journal,
        Err(e) => {
            out.error = Some(format!("{e:#}"));
            return out;
        }
    };
    // The journal is the one source of truth for what happened and when.
    match journal::read(&path) {
        Ok(entries) => {
            out.started_ms = entries.first().map(at_ms);
            out.ended_ms = entries.last().map(at_ms);
            out.flow = Some(exec::report(&path, &entries, &steps));
        }
        Err(e) => out.error = Some(format!("{e:#}")),
    }
    out
}

fn at_ms(e: &Entry) -> u64 {
    match e {
        Entry::Flow { at_ms, .. }
        | Entry::Start { at_ms, .. }
        | Entry::Done { at_ms, .. }
        | Entry::End { at_ms, .. } => *at_ms,
    }
}

// ---------------------------------------------------------------- the probe

/// The probe writer: a new document through the front door every `PROBE_EVERY`, each
/// in its own task (a request stuck in the freeze must not hide that the next ones are
/// answered again), every attempt recorded, until stopped.
struct Probe {
    started_ms: u64,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Attempt>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Probe {
    fn start(url: String, folder: String, id: String, creds: String) -> Probe {
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let started_ms = now_ms();
        let task = {
            let (stop, log) = (Arc::clone(&stop), Arc::clone(&log));
            let (url, id, creds) = (Arc::new(url), Arc::new(id), Arc::new(creds));
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(PROBE_EVERY);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let mut writes = tokio::task::JoinSet::new();
                let mut n = 0u64;
                loop {
                    tick.tick().await;
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let (url, id, creds, log) = (
                        Arc::clone(&url),
                        Arc::clone(&id),
                        Arc::clone(&creds),
                        Arc::clone(&log),
                    );
                    let path = format!("{folder}/{n}.txt");
                    writes.spawn(async move {
                        let start_ms = now_ms();
                        let status = write_once(&url, &path, &id, n, &creds).await;
                        let attempt = Attempt {
                            n,
                            acked: status == "200",
                            path,
                            start_ms,
                            end_ms: now_ms(),
                            status,
                        };
                        if let Ok(mut l) = log.lock() {
                            l.push(attempt);
                        }
                    });
                    // Reap finished writes so the set stays small.
                    while writes.try_join_next().is_some() {}
                    n += 1;
                }
                // The writes in flight finish (curl's --max-time bounds them), so their
                // outcome is known.
                while writes.join_next().await.is_some() {}
            })
        };
        Probe {
            started_ms,
            stop,
            log,
            task,
        }
    }

    fn acknowledged(&self) -> usize {
        self.log
            .lock()
            .map_or(0, |l| l.iter().filter(|a| a.acked).count())
    }

    /// Stops starting writes, waits for those in flight, and returns the log in order.
    async fn stop(self) -> Vec<Attempt> {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.task.await;
        let mut log = self.log.lock().map(|l| l.clone()).unwrap_or_default();
        log.sort_by_key(|a| a.n);
        log
    }
}

/// One POST of a small document; returns the HTTP status (`200` = acknowledged), or
/// what went wrong. The credentials go to curl on its stdin, never on its command line.
async fn write_once(url: &str, path: &str, id: &str, n: u64, creds: &str) -> String {
    use tokio::io::AsyncWriteExt;
    let child = tokio::process::Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "5",
            "-K",
            "-",
            "-F",
            &format!("docPath={path}"),
            "-F",
            &format!("content=okmirror drill {id} document {n}"),
            url,
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return format!("curl did not start: {e}"),
    };
    if let Some(mut stdin) = child.stdin.take()
        && let Err(e) = stdin.write_all(creds.as_bytes()).await
    {
        return format!("curl's stdin: {e}");
    }
    match child.wait_with_output().await {
        Ok(out) => {
            let code = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if code == "200" {
                code
            } else {
                let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
                if err.is_empty() {
                    code
                } else {
                    format!("{code} {err}")
                }
            }
        }
        Err(e) => format!("curl: {e}"),
    }
}

// ---------------------------------------------------------------- the count

/// What the count found on the final main.
struct Count {
    main: String,
    catch_up: Option<String>,
    lost: Vec<Lost>,
}

/// Finds the final main (the writable node), lets its mirror catch up, and lists the
/// acknowledged documents missing there: no row in `OKM_NODE_DOCUMENT_VERSION`, or a
/// row whose datastore file is not on the node.
async fn count_losses(monitor: &Monitor, acked: &[String], folder: &str) -> Result<Count> {
    let status = monitor.probe_pair(None).await;
    let (main, mirror) = match status.roles {
        PairRoles::Normal { main, mirror } => (main, Some(mirror)),
        _ => {
            let writable: Vec<usize> = (0..status.nodes.len())
                .filter(|i| status.nodes[*i].writable() == Some(true))
                .collect();
            match writable[..] {
                [one] => (one, None),
                _ => {
                    return Err(eyre!(
                        "no single writable main after the drill (the pair is {:?}): check it with `okmirror status`",
                        status.roles
                    ));
                }
            }
        }
    };
    let n = &monitor.nodes[main].cfg;
    let catch_up = match mirror {
        Some(m) => Some(
            match monitor
                .wait_mirror_caught_up(main, m, CATCH_UP_WITHIN)
                .await
            {
                Ok(pos) => format!(
                    "{} applied {}'s position {pos}",
                    monitor.nodes[m].cfg.name, n.name
                ),
                Err(e) => format!("{} did not catch up: {e:#}", monitor.nodes[m].cfg.name),
            },
        ),
        None => None,
    };
    let schema = n.database.schema.replace('`', "``");
    let pattern = format!("{}/%", like_escape(folder));
    let rows: Vec<(String, String)> = monitor
        .db(main, async |c| {
            Ok(c.exec(
                format!(
                    "SELECT NDV_PATH, NDV_UUID FROM `{schema}`.OKM_NODE_DOCUMENT_VERSION \
                     WHERE NDV_PATH LIKE ?"
                ),
                (pattern,),
            )
            .await?)
        })
        .await
        .wrap_err_with(|| format!("reading the drill's documents on {}", n.name))?;
    let mut versions: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (p, u) in &rows {
        versions.entry(p.as_str()).or_default().push(u.as_str());
    }
    // Each acknowledged document's files, relative to the datastore.
    let mut lost = Vec::new();
    let mut files: Vec<(String, String)> = Vec::new();
    for path in acked {
        match versions.get(path.as_str()) {
            None => lost.push(Lost {
                path: path.clone(),
                why: "not in the database".into(),
            }),
            Some(uuids) => {
                for u in uuids {
                    match crate::db::versions::datastore_file(u) {
                        Some(f) => files.push((path.clone(), f)),
                        None => lost.push(Lost {
                            path: path.clone(),
                            why: format!("version {u:?} is not a UUID: no datastore file"),
                        }),
                    }
                }
            }
        }
    }
    let rels: Vec<String> = files.iter().map(|(_, f)| f.clone()).collect();
    let missing: HashSet<String> = missing_files(monitor, main, &rels)
        .await?
        .into_iter()
        .collect();
    for (path, f) in files {
        if missing.contains(&f) && !lost.iter().any(|l| l.path == path) {
            lost.push(Lost {
                path,
                why: format!("datastore file missing: {f}"),
            });
        }
    }
    Ok(Count {
        main: n.name.clone(),
        catch_up,
        lost,
    })
}

/// `s` as a literal inside a LIKE pattern (backslash is MariaDB's and MySQL's escape).
fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Of `rels` (files relative to the datastore), those that are not regular files on
/// `node`: one SSH command, the paths on its stdin.
async fn missing_files(monitor: &Monitor, node: usize, rels: &[String]) -> Result<Vec<String>> {
    if rels.is_empty() {
        return Ok(Vec::new());
    }
    let link = &monitor.nodes[node];
    let ds = crate::node::quote(&link.cfg.datastore_path().display().to_string());
    let script = format!(
        "cd -- {ds} && while IFS= read -r p; do [ -f \"$p\" ] || printf '%s\\n' \"$p\"; done"
    );
    let mut stdin = rels.join("\n");
    stdin.push('\n');
    let out = link
        .ssh
        .run_with_stdin(&script, Some(stdin.as_bytes()), Duration::from_secs(120))
        .await
        .wrap_err_with(|| format!("checking the drill's files on {}", link.cfg.name))?;
    if !out.success() {
        return Err(eyre!(
            "checking the drill's files on {}: {}",
            link.cfg.name,
            out.stderr.trim()
        ));
    }
    Ok(out
        .stdout
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

// ---------------------------------------------------------------- the report

/// Writes the Markdown and the JSON to their files (the data dir's `drills/`).
fn save(report: &DrillReport) -> Result<()> {
    if let Some(dir) = report.json_file.parent() {
        std::fs::create_dir_all(dir).wrap_err_with(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&report.markdown_file, markdown(report))
        .wrap_err_with(|| format!("writing {}", report.markdown_file.display()))?;
    let json = serde_json::to_string_pretty(report).wrap_err("encoding the drill report")?;
    std::fs::write(&report.json_file, format!("{json}\n"))
        .wrap_err_with(|| format!("writing {}", report.json_file.display()))?;
    Ok(())
}

/// The report for people: summary, each switchover's steps with their times, losses.
/// Pure, so it is unit tested.
pub fn markdown(r: &DrillReport) -> String {
    let mut s = String::new();
    let secs = |ms: u64| format!("{:.3} s", ms as f64 / 1000.0);
    let rto = |g: &Option<Gap>| match g {
        Some(g) if g.recovered => format!(
            "{:.3} s (no write acknowledged from {} to {} UTC)",
            g.secs,
            clock(g.from_ms),
            clock(g.to_ms)
        ),
        Some(g) => format!(
            "at least {:.3} s: writes did not come back (none acknowledged after {} UTC)",
            g.secs,
            clock(g.from_ms)
        ),
        None => "not measured".into(),
    };
    s.push_str(&format!("# okmirror drill {} (pair {})\n\n", r.id, r.pair));
    s.push_str(&format!(
        "**{}**: {}\n\n",
        if r.ok { "PASSED" } else { "FAILED" },
        r.outcome
    ));
    s.push_str("| | |\n|---|---|\n");
    let mut row = |k: &str, v: String| s.push_str(&format!("| {k} | {} |\n", cell(&v)));
    row("started", format!("{} UTC", date_time(r.started_ms)));
    row(
        "duration",
        secs(r.ended_ms.saturating_sub(r.started_ms)).to_string(),
    );
    row("front door", r.front_url.clone());
    row(
        "main before / after",
        format!(
            "{} / {}",
            r.main_before,
            r.main_after.as_deref().unwrap_or("unknown")
        ),
    );
    row(
        "RTO (longest time without an acknowledged write)",
        rto(&r.rto),
    );
    row(
        "RPO (acknowledged documents lost)",
        match (r.rpo_documents, &r.rpo_error) {
            (Some(n), _) => n.to_string(),
            (None, Some(e)) => format!("not counted: {e}"),
            (None, None) => "not counted".into(),
        },
    );
    row(
        "probe writes",
        format!(
            "{} attempted, {} acknowledged, {} refused (refused writes are not losses)",
            r.attempts, r.acknowledged, r.refused
        ),
    );
    row("probe folder", format!("`{}`", r.probe_folder));
    if let Some(c) = &r.mirror_catch_up {
        row("mirror before the count", c.clone());
    }
    if let Some(f) = &r.files_behind {
        row(
            "files behind at the start (a forced failover's loss then)",
            f.clone(),
        );
    }
    for (i, l) in r.legs.iter().enumerate() {
        s.push_str(&format!(
            "\n## Switchover {}: {} -> {}\n\n",
            i + 1,
            l.from,
            l.to
        ));
        s.push_str(&format!("- outcome: {}\n", l.outcome()));
        if let Some(f) = &l.flow {
            s.push_str(&format!("- journal: `{}`\n", f.journal.display()));
        }
        if let (Some(a), Some(b)) = (l.started_ms, l.ended_ms) {
            s.push_str(&format!("- duration: {}\n", secs(b.saturating_sub(a))));
        }
        s.push_str(&format!("- RTO: {}\n", rto(&l.rto)));
        s.push_str(&format!("- refused writes: {}\n", l.refused));
        if let Some(f) = &l.flow {
            s.push_str("\n| step | state | time | output |\n|---|---|---|---|\n");
            for st in &f.steps {
                let time = match (st.started_ms, st.ended_ms) {
                    (Some(a), Some(b)) => secs(b.saturating_sub(a)),
                    _ => "-".into(),
                };
                s.push_str(&format!(
                    "| {} | {} | {} | {} |\n",
                    cell(&format!("{} {}", st.id, st.title)),
                    cell(st.state.word()),
                    time,
                    cell(&st.output)
                ));
            }
        }
    }
    s.push_str("\n## Losses\n\n");
    if r.lost.is_empty() {
        match r.rpo_documents {
            Some(_) => s.push_str(&format!(
                "None: all {} acknowledged documents are on {}, database rows and datastore files.\n",
                r.acknowledged,
                r.main_after.as_deref().unwrap_or("the main")
            )),
            None => s.push_str("Not counted (see RPO above).\n"),
        }
    } else {
        for l in &r.lost {
            s.push_str(&format!("- `{}`: {}\n", l.path, l.why));
        }
    }
    s.push_str(&format!(
        "\nThe full probe log (every write's times and status) is in `{}`.\n",
        r.json_file.display()
    ));
    s
}

/// A Markdown table cell: one line, pipes escaped.
fn cell(s: &str) -> String {
    s.replace('\n', " ").replace('|', "\\|")
}

/// `20261129T100000Z`: the drill's id and the stem of its files.
pub fn stamp(ms: u64) -> String {
    crate::format::utc_ms(ms, "%Y%m%dT%H%M%SZ")
}

fn date_time(ms: u64) -> String {
    crate::format::utc_ms(ms, "%Y-%m-%d %H:%M:%S")
}

fn clock(ms: u64) -> String {
    crate::format::utc_ms(ms, "%H:%M:%S%.3f")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failover::exec::StepReport;

    fn a(n: u64, start_ms: u64, end_ms: u64, acked: bool) -> Attempt {
        Attempt {
            n,
            path: format!("/okm:root/okmirror-drill/x/{n}.txt"),
            start_ms,
            end_ms,
            acked,
            status: if acked { "200".into() } else { "503".into() },
        }
    }

    #[test]
    fn the_rto_runs_from_the_last_acknowledged_write_to_the_end_of_the_next() {
        let attempts = [
            a(0, 1000, 1010, true),
            a(1, 1100, 1110, true),
            a(2, 1200, 1210, false),
            a(3, 1300, 1310, false),
            // This one started in the gap and was acknowledged late: its end counts.
            a(4, 1400, 2450, true),
            a(5, 2500, 2510, true),
        ];
        let g = gaps(&attempts, 990, 2600);
        assert_eq!(g.len(), 4);
        let rto = longest(&g, None).unwrap();
        assert_eq!((rto.from_ms, rto.to_ms, rto.ms), (1110, 2450, 1340));
        assert!(rto.recovered);
        assert_eq!(rto.secs, 1.34);
        // A window that only overlaps the quiet start picks that gap.
        let early = longest(&g, Some((995, 1005))).unwrap();
        assert_eq!((early.from_ms, early.to_ms), (990, 1010));
        // A switchover spanning the outage gets the outage.
        assert_eq!(longest(&g, Some((1150, 1500))), Some(rto));
        assert_eq!(longest(&g, Some((3000, 4000))), None);
    }

    #[test]
    fn writes_that_never_come_back_leave_an_unrecovered_gap_to_the_end() {
        let attempts = [
            a(0, 100, 110, true),
            a(1, 200, 210, false),
            a(2, 300, 310, false),
        ];
        let g = longest(&gaps(&attempts, 50, 1000), None).unwrap();
        assert_eq!((g.from_ms, g.to_ms, g.recovered), (110, 1000, false));
        // Nothing acknowledged at all: one unrecovered gap over the whole probe.
        let none = gaps(&[a(0, 100, 110, false)], 50, 900);
        assert_eq!(none, [Gap::new(50, 900, false)]);
        // A last write acknowledged: the quiet tail is not unavailability.
        assert_eq!(gaps(&[a(0, 100, 110, true)], 50, 900).len(), 1);
        assert!(gaps(&[], 50, 900).is_empty());
    }

    #[test]
    fn each_switchover_gets_the_gap_that_began_during_it() {
        // The first outage ends after the second switchover began (its writes were
        // answered late); it still belongs to the first.
        let g1 = Gap::new(1800, 2800, true);
        let g2 = Gap::new(3100, 4200, true);
        let small = Gap::new(2700, 2800, true);
        let quiet = Gap::new(0, 100, true);
        let w = [Some((1000, 2420)), Some((2421, 3827))];
        assert_eq!(leg_rtos(&[quiet, g1, small, g2], &w), [Some(g1), Some(g2)]);
        // A gap that began before any switchover goes to the one it overlaps most.
        let early = Gap::new(900, 1500, true);
        assert_eq!(leg_rtos(&[early], &w), [Some(early), None]);
        // A switchover that never ran has no window and no RTO.
        assert_eq!(
            leg_rtos(&[g1], &[Some((1000, 2420)), None]),
            [Some(g1), None]
        );
    }

    #[test]
    fn attempts_out_of_order_are_sorted_by_their_end() {
        let attempts = [a(1, 300, 310, true), a(0, 100, 110, true)];
        let g = gaps(&attempts, 0, 400);
        assert_eq!(g, [Gap::new(0, 110, true), Gap::new(110, 310, true)]);
    }

    #[test]
    fn timestamps_are_utc() {
        // 2026-11-29 10:00:00.123 UTC
        let ms = 1_795_946_400_123;
        assert_eq!(stamp(ms), "20261129T100000Z");
        assert_eq!(date_time(ms), "2026-11-29 10:00:00");
        assert_eq!(clock(ms), "10:00:00.123");
        assert_eq!(stamp(0), "19700101T000000Z");
        // A leap day.
        assert_eq!(date_time(951_782_400_000), "2000-02-29 00:00:00");
    }

    #[test]
    fn like_patterns_take_the_folder_literally() {
        assert_eq!(
            like_escape("/okm:root/a_b%c\\d"),
            "/okm:root/a\\_b\\%c\\\\d"
        );
    }

    fn report() -> DrillReport {
        let step = |id: &str, title: &str, a: u64, b: u64| StepReport {
            id: id.into(),
            title: title.into(),
            state: crate::failover::StepState::Done,
            output: "ok | fine".into(),
            started_ms: Some(a),
            ended_ms: Some(b),
        };
        let flow = |from: &str, to: &str, t: u64| FlowReport {
            id: format!("{t}-switchover-{from}-to-{to}"),
            kind: crate::failover::FlowKind::Switchover,
            from: from.into(),
            to: to.into(),
            outcome: crate::failover::Outcome::Completed,
            ok: true,
            journal: PathBuf::from(format!("/d/flows/{t}.jsonl")),
            steps: vec![
                step("01-preflight", "preflight", t, t + 1433),
                step("03-freeze-old-main", "freeze", t + 2000, t + 2077),
            ],
        };
        let t = 1_795_946_400_000;
        let leg = |from: &str, to: &str, t: u64, gap: Gap| Leg {
            from: from.into(),
            to: to.into(),
            flow: Some(flow(from, to, t)),
            error: None,
            started_ms: Some(t),
            ended_ms: Some(t + 5000),
            rto: Some(gap),
            refused: 4,
        };
        let g1 = Gap::new(t + 2000, t + 3234, true);
        let g2 = Gap::new(t + 7000, t + 8100, true);
        DrillReport {
            id: "20261129T100000Z".into(),
            pair: "lab".into(),
            ok: true,
            outcome: "both switchovers completed, no acknowledged document lost".into(),
            started_ms: t - 1000,
            ended_ms: t + 12_500,
            front_url: "http://127.0.0.1:8080".into(),
            probe_folder: "/okm:root/okmirror-drill/20261129T100000Z".into(),
            main_before: "alpha".into(),
            main_after: Some("alpha".into()),
            legs: vec![
                leg("alpha", "bravo", t, g1),
                leg("bravo", "alpha", t + 5000, g2),
            ],
            rto: Some(g1),
            rpo_documents: Some(0),
            rpo_error: None,
            lost: vec![],
            mirror_catch_up: Some("bravo applied alpha's position 0-1-9".into()),
            files_behind: Some("none on bravo (follow running)".into()),
            attempts: 110,
            acknowledged: 102,
            refused: 8,
            markdown_file: PathBuf::from("/d/drills/20261129T100000Z-drill.md"),
            json_file: PathBuf::from("/d/drills/20261129T100000Z-drill.json"),
            probe: vec![],
        }
    }

    #[test]
    fn the_markdown_has_the_summary_both_switchovers_and_their_steps() {
        let md = markdown(&report());
        assert!(md.starts_with("# okmirror drill 20261129T100000Z (pair lab)\n"));
        assert!(
            md.contains("**PASSED**: both switchovers completed, no acknowledged document lost\n"),
            "{md}"
        );
        assert!(md.contains("| started | 2026-11-29 09:59:59 UTC |"), "{md}");
        assert!(
            md.contains(
                "| RTO (longest time without an acknowledged write) | 1.234 s (no write acknowledged from 10:00:02.000 to 10:00:03.234 UTC) |"
            ),
            "{md}"
        );
        assert!(
            md.contains("| RPO (acknowledged documents lost) | 0 |")
                && md.contains(
                    "| files behind at the start (a forced failover's loss then) | none on bravo (follow running) |"
                ),
            "{md}"
        );
        assert!(
            md.contains("110 attempted, 102 acknowledged, 8 refused"),
            "{md}"
        );
        assert!(md.contains("## Switchover 1: alpha -> bravo"), "{md}");
        assert!(md.contains("## Switchover 2: bravo -> alpha"), "{md}");
        assert!(md.contains("- RTO: 1.100 s"), "{md}");
        assert!(
            md.contains("- journal: `/d/flows/1795946400000.jsonl`"),
            "{md}"
        );
        assert!(
            md.contains("| 01-preflight preflight | done | 1.433 s | ok \\| fine |"),
            "{md}"
        );
        assert!(
            md.contains("| 03-freeze-old-main freeze | done | 0.077 s |"),
            "{md}"
        );
        assert!(
            md.contains("None: all 102 acknowledged documents are on alpha"),
            "{md}"
        );
    }

    #[test]
    fn the_markdown_names_losses_and_a_failed_way_back() {
        let mut r = report();
        r.ok = false;
        r.outcome = "1 acknowledged documents lost".into();
        r.rpo_documents = Some(1);
        r.lost = vec![Lost {
            path: "/okm:root/okmirror-drill/x/7.txt".into(),
            why: "not in the database".into(),
        }];
        r.legs[1].flow = None;
        r.legs[1].error = Some("an unfinished flow is journaled".into());
        r.legs[1].rto = Some(Gap::new(1000, 2000, false));
        let md = markdown(&r);
        assert!(
            md.contains("**FAILED**: 1 acknowledged documents lost\n"),
            "{md}"
        );
        assert!(
            md.contains("- `/okm:root/okmirror-drill/x/7.txt`: not in the database"),
            "{md}"
        );
        assert!(
            md.contains("- outcome: did not run: an unfinished flow is journaled"),
            "{md}"
        );
        assert!(
            md.contains("- RTO: at least 1.000 s: writes did not come back"),
            "{md}"
        );
    }

    #[test]
    fn the_outcome_says_what_failed() {
        assert!(outcome(&[], Some(0), None).contains("the way back was not attempted"));
        assert!(outcome(&[], None, Some("db down")).contains("could not be counted: db down"));
    }
}
