//! DR drills: a switchover to the mirror and back, with a probe writing documents through
//! the front door the whole time, so the operator learns what a real move costs before
//! one is needed: each step's time (from the flows' journals), the longest stretch
//! without an acknowledged write (RTO) and the acknowledged documents missing at the end
//! (RPO, which must be 0). The switchovers are the ordinary engine's (`Runner`); nothing
//! here moves the service by itself.
//!
//! `run` orchestrates; `probe` writes through the front door, `rto` measures the gaps
//! between acknowledged writes, `losses` counts the documents missing at the end, and
//! `report` renders and saves the result.

mod losses;
mod probe;
mod report;
mod rto;
mod run;

use std::path::PathBuf;
use std::sync::Arc;

use color_eyre::eyre::{Result, eyre};
use serde::Serialize;

use super::exec::{FlowReport, Runner};
use super::{FlowEvent, FlowKind};
use crate::config::NodeId;
use crate::pair::Monitor;
use crate::pair::roles::PairRoles;

pub use report::{markdown, stamp};
pub use rto::{Gap, gaps, leg_rtos, longest};
pub use run::run;

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
    /// The HTTP status; `000` and the HTTP client's complaint when there was none.
    pub status: String,
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
pub async fn normal_roles(monitor: &Monitor) -> Result<(NodeId, NodeId)> {
    let status = monitor.probe_pair(None).await;
    match status.roles {
        PairRoles::Normal { main, mirror } => Ok((main, mirror)),
        other => Err(eyre!(
            "a drill needs a writable main and a read-only mirror; the pair is {other:?}"
        )),
    }
}

/// The two switchovers a drill would run (there and back), for `--dry-run`.
pub async fn plans(monitor: Arc<Monitor>) -> Result<(NodeId, NodeId, Runner, Runner)> {
    let (main, mirror) = normal_roles(&monitor).await?;
    let there = Runner::plan(Arc::clone(&monitor), FlowKind::Switchover, main, mirror).await;
    let back = Runner::plan(monitor, FlowKind::Switchover, mirror, main).await;
    Ok((main, mirror, there, back))
}
