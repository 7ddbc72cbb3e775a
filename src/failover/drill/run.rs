//! A drill from start to end: checks, probe, switchover there and back, count, report.

use std::sync::Arc;
use std::time::{Duration, Instant};

use color_eyre::eyre::{Result, eyre};
use tokio::sync::mpsc;

use super::losses::{Count, count_losses};
use super::probe::{PROBE_EVERY, Probe};
use super::report::{outcome, save, stamp};
use super::rto::measure;
use super::{Attempt, DrillEvent, DrillReport, Gap, Leg, normal_roles};
use crate::config::NodeId;
use crate::failover::exec::{self, ChannelConfirmer, Runner, journal_dir};
use crate::failover::front_door::FrontDoor;
use crate::failover::journal::{self, Entry, now_ms};
use crate::failover::{FlowEvent, FlowKind};
use crate::pair::Monitor;

/// How long the probe writes before the first switchover and after the last one, so
/// the gaps the switchovers cause have acknowledged writes on both sides.
const SETTLE: Duration = Duration::from_secs(1);
/// How long to wait for the first acknowledged write before giving up on the drill.
const FIRST_WRITE_WITHIN: Duration = Duration::from_secs(6);

/// What a drill knows when its probe starts.
struct Start {
    main: NodeId,
    mirror: NodeId,
    front: String,
    files_behind: Option<String>,
    started_ms: u64,
    /// The drill's id (its start, UTC) and the probe's folder in OpenKM.
    id: String,
    folder: String,
}

/// Runs a drill: checks, probe, switchover there, switchover back, count, report (saved
/// under the data dir's `drills/`). Questions of the flows arrive as
/// `DrillEvent::Flow(FlowEvent::Ask)`. An `Err` means the drill did not start (nothing
/// was switched); a failed switchover is reported in the `DrillReport`.
pub async fn run(monitor: Arc<Monitor>, events: mpsc::Sender<DrillEvent>) -> Result<DrillReport> {
    let (start, door) = prepare(&monitor).await?;
    note(
        &events,
        format!(
            "drill {}: writing a document every 100 ms through {} into {}",
            start.id, start.front, start.folder
        ),
    )
    .await;
    let probe = first_writes(door, &start).await?;
    let mut legs = there_and_back(&monitor, start.main, start.mirror, &events).await;
    tokio::time::sleep(SETTLE).await;
    let probe_start = probe.started_ms;
    let attempts = probe.stop().await;
    let probe_end = now_ms();
    let rto = measure(&mut legs, &attempts, probe_start, probe_end);
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
    let count = count_losses(&monitor, &acked, &start.folder).await;
    let report = assemble(&monitor, start, legs, rto, attempts, count)?;
    save(&report)?;
    Ok(report)
}

/// The checks before anything runs (no unfinished flow, normal roles, a front door and
/// the OpenKM password), the mirror's files behind, and the drill's id.
async fn prepare(monitor: &Monitor) -> Result<(Start, FrontDoor)> {
    let dir = journal_dir()?;
    if let Some(p) = journal::unfinished_flow(&dir)? {
        return Err(eyre!(
            "an unfinished flow is journaled in {}: finish it with `okmirror resume` (or `okmirror abandon` after checking the nodes by hand) before a drill",
            p.display()
        ));
    }
    let (main, mirror) = normal_roles(monitor).await?;
    let front =
        monitor.cfg.traffic.front_url.clone().ok_or_else(|| {
            eyre!("no [traffic] front_url: a drill writes through the front door")
        })?;
    let door = front_door(monitor, main, &front)?;
    let files_behind = files_behind_now(monitor, mirror).await;
    let started_ms = now_ms();
    let id = stamp(started_ms);
    let folder = format!("/okm:root/okmirror-drill/{id}");
    let start = Start {
        main,
        mirror,
        front,
        files_behind,
        started_ms,
        id,
        folder,
    };
    Ok((start, door))
}

/// The front door with the OpenKM user of `node` (the starting main).
fn front_door(monitor: &Monitor, node: NodeId, front: &str) -> Result<FrontDoor> {
    FrontDoor::for_node(front, &monitor.nodes[node].cfg)
}

/// Starts the probe and waits for its first acknowledged write; without one the drill
/// stops here, before anything was switched.
async fn first_writes(door: FrontDoor, start: &Start) -> Result<Probe> {
    let probe = Probe::start(door, start.folder.clone(), start.id.clone());
    tokio::time::sleep(SETTLE).await;
    let t0 = Instant::now();
    while probe.acknowledged() == 0 && t0.elapsed() < FIRST_WRITE_WITHIN {
        tokio::time::sleep(PROBE_EVERY).await;
    }
    if probe.acknowledged() == 0 {
        let log = probe.stop().await;
        let last = log.last().map_or("no answer".into(), |a| a.status.clone());
        return Err(eyre!(
            "no write through {} was acknowledged (last: {last}); nothing was switched",
            start.front
        ));
    }
    Ok(probe)
}

/// The switchover main -> mirror and, when it completed, the one back.
async fn there_and_back(
    monitor: &Arc<Monitor>,
    main: NodeId,
    mirror: NodeId,
    events: &mpsc::Sender<DrillEvent>,
) -> Vec<Leg> {
    let name = |i: NodeId| monitor.nodes[i].cfg.name.clone();
    let mut legs = Vec::new();
    note(
        events,
        format!("switchover 1 of 2: {} -> {}", name(main), name(mirror)),
    )
    .await;
    legs.push(leg(monitor, main, mirror, events).await);
    if legs[0].completed() {
        note(
            events,
            format!("switchover 2 of 2: {} -> {}", name(mirror), name(main)),
        )
        .await;
        legs.push(leg(monitor, mirror, main, events).await);
    } else {
        note(
            events,
            "the first switchover did not complete: not switching back".into(),
        )
        .await;
    }
    legs
}

/// The report from what the drill measured and counted.
fn assemble(
    monitor: &Monitor,
    start: Start,
    legs: Vec<Leg>,
    rto: Option<Gap>,
    attempts: Vec<Attempt>,
    count: Result<Count>,
) -> Result<DrillReport> {
    let (main_after, mirror_catch_up, lost, rpo_error) = match count {
        Ok(c) => (Some(c.main), c.catch_up, Some(c.lost), None),
        Err(e) => (None, None, None, Some(format!("{e:#}"))),
    };
    let rpo_documents = lost.as_ref().map(|l| l.len() as u64);
    let both = legs.len() == 2 && legs.iter().all(Leg::completed);
    let ok = both && rpo_documents == Some(0);
    let outcome = outcome(&legs, rpo_documents, rpo_error.as_deref());
    let drills = crate::paths::data_dir()?.join("drills");
    let acknowledged = attempts.iter().filter(|a| a.acked).count() as u64;
    let id = start.id;
    Ok(DrillReport {
        pair: monitor.cfg.pair.clone(),
        ok,
        outcome,
        started_ms: start.started_ms,
        ended_ms: now_ms(),
        front_url: start.front,
        probe_folder: start.folder,
        main_before: monitor.nodes[start.main].cfg.name.clone(),
        main_after,
        legs,
        rto,
        rpo_documents,
        rpo_error,
        lost: lost.unwrap_or_default(),
        mirror_catch_up,
        files_behind: start.files_behind,
        attempts: attempts.len() as u64,
        acknowledged,
        refused: attempts.len() as u64 - acknowledged,
        markdown_file: drills.join(format!("{id}-drill.md")),
        json_file: drills.join(format!("{id}-drill.json")),
        probe: attempts,
        id,
    })
}

/// The mirror's files behind, in a line for the report.
async fn files_behind_now(monitor: &Monitor, mirror: NodeId) -> Option<String> {
    let follow = match crate::sync::follow::read_record(monitor, mirror).await {
        Ok(Some(r)) if r.running(now_ms() / 1000) => "follow running".to_string(),
        Ok(_) => "follow not running".to_string(),
        Err(e) => format!("follow unknown ({e:#})"),
    };
    Some(
        match crate::failover::files::behind_on(monitor, mirror).await {
            Ok(b) => format!(
                "{} on {} ({follow})",
                b.summary(),
                monitor.nodes[mirror].cfg.name
            ),
            Err(e) => format!("unknown: {e:#} ({follow})"),
        },
    )
}

async fn note(events: &mpsc::Sender<DrillEvent>, text: String) {
    let _ = events.send(DrillEvent::Note(text)).await;
}

/// Runs one switchover through the engine, forwarding its events, and rebuilds its
/// report from the journal it wrote.
async fn leg(
    monitor: &Arc<Monitor>,
    old: NodeId,
    new: NodeId,
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
