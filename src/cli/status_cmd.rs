//! `okmirror status` and `okmirror diff`: one-shot views of the pair for people, scripts
//! and monitoring systems.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use color_eyre::eyre::{Result, eyre};

use crate::config::{Config, PlanMode};
use crate::pair::roles::PairRoles;
use crate::pair::{Monitor, report};
use crate::sync::ChangeKind;
use crate::sync::pending::{self, PendingJob, PlanBasis};

/// How `status` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
    Prometheus,
}

/// Probes the pair once and prints it; the exit code follows monitoring plugins.
pub async fn status(cfg: Config, format: Format, diff: bool) -> Result<ExitCode> {
    let monitor = Monitor::new(Arc::new(cfg));
    let status = monitor.probe_pair(Some(Duration::from_secs(2))).await;
    let pending = match (&status.roles, diff) {
        (PairRoles::Normal { main, mirror }, true) => Some(
            crate::sync::scan::plan_pair(&monitor, *main, *mirror)
                .await
                .map(|p| p.totals)
                .map_err(|e| format!("{e:#}")),
        ),
        _ => None,
    };
    let status = monitor.finish(status, pending);
    let text = match format {
        Format::Human => report::human(&status, status.taken_at),
        Format::Json => format!("{}\n", serde_json::to_string_pretty(&status)?),
        Format::Prometheus => report::prometheus(&status),
    };
    super::print_out(&text)?;
    Ok(ExitCode::from(status.severity.exit_code()))
}

/// Lists what a sync would change on the mirror.
pub async fn diff(cfg: Config, json: bool, mode: PlanMode) -> Result<ExitCode> {
    let monitor = Monitor::new(Arc::new(cfg));
    let status = monitor.probe_pair(None).await;
    let PairRoles::Normal { main, mirror } = status.roles else {
        return Err(eyre!(
            "cannot plan: roles are not clear ({}); a plan needs one writable main and one \
             read-only mirror",
            serde_json::to_string(&status.roles).unwrap_or_default()
        ));
    };
    let basis = match mode {
        PlanMode::Scan => PlanBasis::Scan,
        PlanMode::Journal => PlanBasis::Journal {
            since: pending::journal_point(&status, mirror).ok_or_else(|| {
                eyre!(
                    "{} has no verified sync to start the journal from; run a sync, or use \
                     --plan scan",
                    status.nodes[mirror].name
                )
            })?,
        },
    };
    let job = PendingJob {
        main,
        mirror,
        basis,
    };
    let plan = pending::plan(&monitor, &job).await?;
    if json {
        super::print_out(&format!("{}\n", serde_json::to_string_pretty(&plan)?))?;
    } else {
        let mut text = String::new();
        for c in &plan.changes {
            let kind = match c.kind {
                ChangeKind::New => "new",
                ChangeKind::Changed => "changed",
                ChangeKind::Attributes => "attrs",
                ChangeKind::Deleted => "deleted",
            };
            text.push_str(&format!(
                "{kind:<8} {:>10}  {}\n",
                crate::format::bytes(c.size),
                c.path.escape_debug()
            ));
        }
        super::print_out(&text)?;
        eprintln!(
            "{} -> {}: {} (planned by {} in {} ms)",
            plan.source,
            plan.target,
            report::pending_line(&crate::pair::model::PairStatus {
                pending: Some(plan.totals.clone()),
                ..status
            }),
            match &plan.basis {
                PlanBasis::Scan => "scan".to_string(),
                PlanBasis::Journal { since } => format!("the journal since {since}"),
            },
            plan.took_ms
        );
    }
    Ok(ExitCode::SUCCESS)
}
