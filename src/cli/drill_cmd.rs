//! `okmirror drill`: a DR rehearsal (switchover to the mirror and back, with a probe
//! writing through the front door). Progress goes to stderr like a flow's; the report
//! (Markdown, or JSON with `--json`) to stdout, and both are saved under the data dir.
//! Exit 0 only when both switchovers completed and no acknowledged document was lost.

use std::process::ExitCode;
use std::sync::Arc;

use color_eyre::eyre::{Result, eyre};
use tokio::sync::mpsc;

use super::FlowArgs;
use super::flow_cmd::{on_event, print_step};
use crate::config::Config;
use crate::failover::Step;
use crate::failover::drill::{self, DrillEvent};
use crate::pair::Monitor;

/// Runs a drill (or, with `--dry-run`, prints its two switchover plans).
pub async fn drill(cfg: Config, args: FlowArgs) -> Result<ExitCode> {
    let monitor = Arc::new(Monitor::new(Arc::new(cfg)));
    if args.dry_run {
        let (main, mirror, there, back) = drill::plans(monitor.clone()).await?;
        let (m, r) = (
            &monitor.nodes[main].cfg.name,
            &monitor.nodes[mirror].cfg.name,
        );
        if args.json {
            let plan = serde_json::json!({
                "there": { "from": m, "to": r, "steps": there.steps },
                "back": { "from": r, "to": m, "steps": back.steps },
            });
            super::print_out(&format!("{}\n", serde_json::to_string_pretty(&plan)?))?;
        } else {
            eprintln!("drill plan (dry run: nothing is touched)");
            eprintln!("probe: a document every 100 ms through the front door, the whole time");
            eprintln!("switchover 1 of 2: {m} -> {r}");
            for s in &there.steps {
                print_step(s);
            }
            eprintln!("switchover 2 of 2: {r} -> {m}");
            for s in &back.steps {
                print_step(s);
            }
            eprintln!(
                "then: count the acknowledged documents on {m} (database rows and datastore files)"
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let (tx, mut rx) = mpsc::channel(64);
    let task = tokio::spawn(drill::run(monitor, tx));
    let mut steps: Vec<Step> = Vec::new();
    while let Some(ev) = rx.recv().await {
        match ev {
            DrillEvent::Note(n) => eprintln!("drill: {n}"),
            DrillEvent::Flow(ev) => on_event(ev, &mut steps, &args).await,
        }
    }
    let report = task
        .await
        .map_err(|e| eyre!("the drill task failed: {e}"))??;
    if args.json {
        super::print_out(&format!("{}\n", serde_json::to_string_pretty(&report)?))?;
    } else {
        super::print_out(&drill::markdown(&report))?;
    }
    let rto = report
        .rto
        .map_or("not measured".to_string(), |g| format!("{:.3} s", g.secs));
    let rpo = report
        .rpo_documents
        .map_or("not counted".to_string(), |n| n.to_string());
    eprintln!(
        "drill {}: {}: {} (RTO {rto}, RPO {rpo}); saved {} and {}",
        report.id,
        if report.ok { "PASSED" } else { "FAILED" },
        report.outcome,
        report.markdown_file.display(),
        report.json_file.display()
    );
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
