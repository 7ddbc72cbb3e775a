//! `okmirror switchover|failover|rejoin|resume|abandon`: the guided flows from the
//! command line. Progress goes to stderr, the report (`--json`) to stdout; exit 0 only
//! when the flow completed. A new flow is first held against what applies to the pair
//! (`failover::choices`, the rule the console's wizard offers from).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;

use color_eyre::eyre::{Result, eyre};
use tokio::sync::mpsc;

use super::FlowArgs;
use crate::config::Config;
use crate::config::NodeId;
use crate::failover::choices::{self, Choice, Verdict};
use crate::failover::exec::{ChannelConfirmer, journal_dir, node_id};
use crate::failover::journal::{self, Entry, Journal, now_ms};
use crate::failover::{Confirm, FlowEvent, FlowKind, FlowReport, Runner, Step};
use crate::pair::Monitor;

/// Plans and runs a new flow. `node` is the target (switchover, failover) or the
/// former main (rejoin).
pub async fn start(cfg: Config, kind: FlowKind, node: &str, args: FlowArgs) -> Result<ExitCode> {
    let monitor = Arc::new(Monitor::new(Arc::new(cfg)));
    let idx = node_id(&monitor, node)?;
    let other = idx.other();
    let (old, new) = match kind {
        FlowKind::Rejoin | FlowKind::Reseed => (idx, other),
        _ => (other, idx),
    };
    check_applies(&monitor, kind, old, new, &args).await?;
    // What it puts at stake for documents, before anything is confirmed (a `--yes` run
    // finds the same in its own steps).
    if (args.dry_run || !args.yes)
        && let Some(s) = crate::failover::files::stakes(&monitor, kind, old, new).await
    {
        eprintln!("documents: {s}");
    }
    let runner = Runner::plan(monitor, kind, old, new).await;
    if args.dry_run {
        if args.json {
            super::print_out(&format!(
                "{}\n",
                serde_json::to_string_pretty(&runner.steps)?
            ))?;
        } else {
            eprintln!("{} plan (dry run: nothing is touched):", kind.word());
            for s in &runner.steps {
                print_step(s);
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    drive(runner, None, &args).await
}

/// Asks the engine's rule (`failover::choices`, the one the console's wizard offers
/// from) whether the flow applies to the pair as it is now. A switchover the wizard
/// would not offer is refused here, before any journal. A failover, rejoin or reseed
/// only gets a warning saying what applies: the command line deliberately allows more
/// of those (`choices::refused_unless_offered`), and their own steps decide. The warning
/// is printed when someone reads it before confirming (like the documents at stake), so
/// a `--yes` failover pays no extra probe of a dead node. A dry run is never refused.
async fn check_applies(
    monitor: &Monitor,
    kind: FlowKind,
    old: NodeId,
    new: NodeId,
    args: &FlowArgs,
) -> Result<()> {
    if !choices::refused_unless_offered(kind) && args.yes && !args.dry_run {
        return Ok(());
    }
    // Roles and replicas are all the rule reads: the light probe is enough.
    let status = monitor.probe_pair_for_sync().await;
    let names: Vec<&str> = monitor.nodes.iter().map(|n| n.cfg.name.as_str()).collect();
    let applicable = choices::applicable(Some(&status), &names);
    let commands = commands_for(&applicable.choices, &names);
    match choices::judge(&applicable, kind, old, new, &names) {
        Verdict::Offered => Ok(()),
        Verdict::Refuse(m) if !args.dry_run => Err(eyre!("{m}{commands}")),
        Verdict::Refuse(m) | Verdict::Warn(m) => {
            eprintln!("note: {m}{commands}");
            Ok(())
        }
    }
}

/// The commands that start the flows that apply, for a refusal or a warning (empty
/// when none does).
fn commands_for(choices: &[Choice], names: &[&str]) -> String {
    let name = |i: NodeId| names.get(i.index()).copied().unwrap_or("?");
    let each: Vec<String> = choices
        .iter()
        .map(|c| match c.kind {
            FlowKind::Switchover => format!("okmirror switchover --to {}", name(c.new)),
            FlowKind::Failover => format!("okmirror failover --to {}", name(c.new)),
            FlowKind::Rejoin => format!("okmirror rejoin {}", name(c.old)),
            FlowKind::Reseed => format!("okmirror rejoin {} --reseed", name(c.old)),
        })
        .collect();
    if each.is_empty() {
        String::new()
    } else {
        format!(" (`{}`)", each.join("`, `"))
    }
}

/// Continues the unfinished flow.
pub async fn resume(cfg: Config, args: FlowArgs) -> Result<ExitCode> {
    let dir = journal_dir()?;
    let Some(path) = journal::unfinished_flow(&dir)? else {
        eprintln!("no unfinished flow in {}", dir.display());
        return Ok(ExitCode::SUCCESS);
    };
    let monitor = Arc::new(Monitor::new(Arc::new(cfg)));
    let (runner, j) = Runner::reopen(monitor, &path).await?;
    let done = runner.still_done(&j);
    eprintln!(
        "resuming the {} journaled in {} ({} steps done){}",
        runner.kind.word(),
        path.display(),
        j.done_steps().len(),
        if done.len() < j.done_steps().len() {
            "; the freeze and the steps after it run again (promotion had not begun, so the \
             old main's watchdog gave it back its writes)"
        } else {
            ""
        }
    );
    if args.dry_run {
        for s in runner.steps.iter().filter(|s| !done.contains(&s.id)) {
            print_step(s);
        }
        return Ok(ExitCode::SUCCESS);
    }
    drive(runner, Some(j), &args).await
}

/// Runs a new flow (no journal yet) or continues one, printing progress and answering
/// its questions on this terminal; then prints the report.
async fn drive(mut runner: Runner, journal: Option<Journal>, args: &FlowArgs) -> Result<ExitCode> {
    runner.allow_deletes = args.allow_deletes;
    // SIGINT, SIGTERM, SIGHUP: before promotion the flow stops and rolls back; after
    // it, it finishes (the way back is forward).
    runner.stop = Some(crate::signals::cancel_on_signals()?);
    let (tx, rx) = mpsc::channel(64);
    let task = tokio::spawn(async move {
        let mut confirmer = ChannelConfirmer(tx.clone());
        match journal {
            Some(j) => runner.execute(j, &mut confirmer, &tx).await,
            None => runner.run(&mut confirmer, &tx).await,
        }
    });
    follow(rx, args).await;
    let report = task
        .await
        .map_err(|e| eyre!("the flow task failed: {e}"))??;
    finish(&report, args.json)
}

/// Rolls the unfinished flow back (before promotion only).
pub async fn rollback(cfg: Config, args: FlowArgs) -> Result<ExitCode> {
    let dir = journal_dir()?;
    let Some(path) = journal::unfinished_flow(&dir)? else {
        eprintln!("no unfinished flow in {}", dir.display());
        return Ok(ExitCode::SUCCESS);
    };
    let monitor = Arc::new(Monitor::new(Arc::new(cfg)));
    let (runner, j) = Runner::reopen(monitor, &path).await?;
    if !args.yes {
        return Err(eyre!(
            "rolling back the {} journaled in {} gives the old main its writes back; confirm with --yes",
            runner.kind.word(),
            path.display()
        ));
    }
    let report = runner.roll_back(j).await?;
    finish(&report, args.json)?;
    Ok(ExitCode::SUCCESS)
}

/// Closes the unfinished flow's journal without acting.
pub fn abandon(args: FlowArgs) -> Result<ExitCode> {
    let dir = journal_dir()?;
    let Some(path) = journal::unfinished_flow(&dir)? else {
        eprintln!("no unfinished flow in {}", dir.display());
        return Ok(ExitCode::SUCCESS);
    };
    if !args.confirm_node.iter().any(|n| n == "abandon") {
        return Err(eyre!(
            "abandoning {} leaves the nodes as they are now; check them, then confirm with --confirm-node abandon",
            path.display()
        ));
    }
    let mut j = Journal::open(&path)?;
    j.append(Entry::End {
        outcome: crate::failover::Outcome::Abandoned,
        at_ms: now_ms(),
    })?;
    eprintln!("abandoned {}", path.display());
    Ok(ExitCode::SUCCESS)
}

/// Prints one planned step (title, confirmation, detail) on stderr.
pub(super) fn print_step(s: &Step) {
    let confirm = match &s.confirm {
        Confirm::None => String::new(),
        Confirm::Yes => "  [asks yes/no]".into(),
        Confirm::TypedNode(n) => format!("  [type {n:?}]"),
    };
    eprintln!("  {}  {}{confirm}", s.id, s.title);
    eprintln!("        {}", s.detail);
}

/// Prints progress and answers questions until the flow's channel closes.
async fn follow(mut rx: mpsc::Receiver<FlowEvent>, args: &FlowArgs) {
    let mut steps: Vec<Step> = Vec::new();
    while let Some(ev) = rx.recv().await {
        on_event(ev, &mut steps, args).await;
    }
}

/// Prints one flow event on stderr and answers its question (from the flags or the
/// terminal); `steps` holds the plan announced last, for the step numbers. Shared with
/// `okmirror drill`, whose switchovers report the same events.
pub(super) async fn on_event(ev: FlowEvent, steps: &mut Vec<Step>, args: &FlowArgs) {
    match ev {
        FlowEvent::Planned(s) => *steps = s,
        FlowEvent::AlreadyDone(d) => eprintln!("already done: {}", d.join(", ")),
        FlowEvent::Started(i) => {
            if let Some(s) = steps.get(i) {
                eprintln!("[{:>2}/{}] {} ...", i + 1, steps.len(), s.title);
            }
        }
        FlowEvent::Done { ok, output, ms, .. } => {
            let word = if ok { "done" } else { "FAILED" };
            eprintln!("        {word} in {ms} ms: {output}");
        }
        FlowEvent::RolledBack(m) => eprintln!("rolled back: {m}"),
        FlowEvent::Ask { step, reply } => {
            let yes = answer(&step, args).await;
            reply.send(yes);
        }
    }
}

/// The answer to a confirmation: from the flags, else from the terminal.
async fn answer(step: &Step, args: &FlowArgs) -> bool {
    match &step.confirm {
        Confirm::None => return true,
        Confirm::Yes if args.yes => return true,
        Confirm::TypedNode(n) if args.confirm_node.iter().any(|c| c == n) => return true,
        _ => {}
    }
    if !std::io::stdin().is_terminal() {
        let need = match &step.confirm {
            Confirm::TypedNode(n) => format!("--confirm-node {n}"),
            _ => "--yes".into(),
        };
        eprintln!("not confirmed: {} (no terminal; give {need})", step.title);
        return false;
    }
    let prompt = match &step.confirm {
        Confirm::TypedNode(n) => format!(
            "{}\n  {}\nType {n:?} to confirm (anything else cancels): ",
            step.title, step.detail
        ),
        _ => format!("{}\n  {}\nGo on? [y/N] ", step.title, step.detail),
    };
    let expected = match &step.confirm {
        Confirm::TypedNode(n) => Some(n.clone()),
        _ => None,
    };
    tokio::task::spawn_blocking(move || {
        eprint!("{prompt}");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        if std::io::stdin().read_line(&mut line).is_err() {
            return false;
        }
        match expected {
            Some(n) => line.trim() == n,
            None => matches!(line.trim(), "y" | "Y" | "yes"),
        }
    })
    .await
    .unwrap_or(false)
}

fn finish(report: &FlowReport, json: bool) -> Result<ExitCode> {
    if json {
        super::print_out(&format!("{}\n", serde_json::to_string_pretty(report)?))?;
    }
    eprintln!(
        "{} {} -> {}: {} (journal {})",
        report.kind.word(),
        report.from,
        report.to,
        report.outcome,
        report.journal.display()
    );
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NodeId;

    const A: NodeId = NodeId::First;
    const B: NodeId = NodeId::Second;

    #[test]
    fn the_advice_names_the_commands_of_what_applies() {
        let choice = |kind, old, new| Choice {
            kind,
            old,
            new,
            label: String::new(),
            why: String::new(),
        };
        let names = ["dms1", "dms2"];
        assert_eq!(commands_for(&[], &names), "");
        assert_eq!(
            commands_for(&[choice(FlowKind::Switchover, A, B)], &names),
            " (`okmirror switchover --to dms2`)"
        );
        assert_eq!(
            commands_for(
                &[
                    choice(FlowKind::Failover, B, A),
                    choice(FlowKind::Rejoin, A, B),
                    choice(FlowKind::Reseed, A, B)
                ],
                &names
            ),
            " (`okmirror failover --to dms1`, `okmirror rejoin dms1`, \
             `okmirror rejoin dms1 --reseed`)"
        );
    }
}
