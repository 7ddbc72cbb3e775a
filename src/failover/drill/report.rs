//! The drill's report: the one-line outcome, the Markdown for people and the JSON with
//! every probe write, saved under the data dir's `drills/`.

use color_eyre::eyre::{Result, WrapErr};

use super::{DrillReport, Gap, Leg};
use crate::failover::exec::FlowReport;

/// Writes the Markdown and the JSON to their files (the data dir's `drills/`).
pub(super) fn save(report: &DrillReport) -> Result<()> {
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

/// One line: what passed, or everything that failed.
pub(super) fn outcome(legs: &[Leg], rpo: Option<u64>, rpo_error: Option<&str>) -> String {
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

/// The report for people: summary, each switchover's steps with their times, losses.
/// Pure, so it is unit tested.
pub fn markdown(r: &DrillReport) -> String {
    let mut s = format!("# okmirror drill {} (pair {})\n\n", r.id, r.pair);
    s.push_str(&format!(
        "**{}**: {}\n\n",
        if r.ok { "PASSED" } else { "FAILED" },
        r.outcome
    ));
    s.push_str("| | |\n|---|---|\n");
    for (k, v) in summary_rows(r) {
        s.push_str(&format!("| {k} | {} |\n", cell(&v)));
    }
    for (i, l) in r.legs.iter().enumerate() {
        s.push_str(&leg_section(i, l));
    }
    s.push_str(&losses_section(r));
    s.push_str(&format!(
        "\nThe full probe log (every write's times and status) is in `{}`.\n",
        r.json_file.display()
    ));
    s
}

/// The summary table's rows, in order: (what, value).
fn summary_rows(r: &DrillReport) -> Vec<(&'static str, String)> {
    let mut rows = vec![
        ("started", format!("{} UTC", date_time(r.started_ms))),
        ("duration", secs(r.ended_ms.saturating_sub(r.started_ms))),
        ("front door", r.front_url.clone()),
        (
            "main before / after",
            format!(
                "{} / {}",
                r.main_before,
                r.main_after.as_deref().unwrap_or("unknown")
            ),
        ),
        (
            "RTO (longest time without an acknowledged write)",
            rto_text(&r.rto),
        ),
        (
            "RPO (acknowledged documents lost)",
            match (r.rpo_documents, &r.rpo_error) {
                (Some(n), _) => n.to_string(),
                (None, Some(e)) => format!("not counted: {e}"),
                (None, None) => "not counted".into(),
            },
        ),
        (
            "probe writes",
            format!(
                "{} attempted, {} acknowledged, {} refused (refused writes are not losses)",
                r.attempts, r.acknowledged, r.refused
            ),
        ),
        ("probe folder", format!("`{}`", r.probe_folder)),
    ];
    if let Some(c) = &r.mirror_catch_up {
        rows.push(("mirror before the count", c.clone()));
    }
    if let Some(f) = &r.files_behind {
        rows.push((
            "files behind at the start (a forced failover's loss then)",
            f.clone(),
        ));
    }
    rows
}

/// One switchover (the `i`th, from 0): outcome, journal, times and its steps.
fn leg_section(i: usize, l: &Leg) -> String {
    let mut s = format!("\n## Switchover {}: {} -> {}\n\n", i + 1, l.from, l.to);
    s.push_str(&format!("- outcome: {}\n", l.outcome()));
    if let Some(f) = &l.flow {
        s.push_str(&format!("- journal: `{}`\n", f.journal.display()));
    }
    if let (Some(a), Some(b)) = (l.started_ms, l.ended_ms) {
        s.push_str(&format!("- duration: {}\n", secs(b.saturating_sub(a))));
    }
    s.push_str(&format!("- RTO: {}\n", rto_text(&l.rto)));
    s.push_str(&format!("- refused writes: {}\n", l.refused));
    if let Some(f) = &l.flow {
        s.push_str(&steps_table(f));
    }
    s
}

/// A flow's steps with their state, time and output.
fn steps_table(f: &FlowReport) -> String {
    let mut s = String::from("\n| step | state | time | output |\n|---|---|---|---|\n");
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
    s
}

/// The acknowledged documents lost, or that none were (or why they were not counted).
fn losses_section(r: &DrillReport) -> String {
    let mut s = String::from("\n## Losses\n\n");
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
    s
}

/// A gap as the RTO for people: its length and when, or that it was not measured.
fn rto_text(g: &Option<Gap>) -> String {
    match g {
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
    }
}

/// Milliseconds as seconds, `1.234 s`.
fn secs(ms: u64) -> String {
    format!("{:.3} s", ms as f64 / 1000.0)
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
    use std::path::PathBuf;

    use super::super::Lost;
    use super::*;
    use crate::failover::exec::StepReport;

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
