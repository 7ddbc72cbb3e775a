//! The sync view: the plan and its confirmation, then the run: an overall gauge, the
//! phases as one checklist with their durations, every file of the run with its size,
//! its own rate and its end state (scrollable), the rate sparkline and the outcome.
//! Long texts wrap: nothing is cut, at 80x24 as on a wide terminal.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Gauge, Paragraph, Sparkline, Wrap};

use super::widgets::{block, buttons, dialog, dialog_area, wrap};
use crate::format;
use crate::sync::progress::FileRecord;
use crate::ui::app::App;
use crate::ui::sync_state::{FileOutcome, PhaseState, Stage, SyncUi};
use crate::ui::theme::Theme;

pub fn render(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let Some(s) = &app.sync else {
        return;
    };
    match s.stage {
        Stage::Confirm => render_confirm(s, theme, frame, area),
        _ if s.shows_run() => {
            render_run(s, theme, frame, area);
            if s.stage == Stage::ConfirmCancel {
                let lines = vec![
                    Line::raw("Cancel the sync? rsync stops; the mirror keeps only"),
                    Line::raw("complete files; a frozen main is started again."),
                    Line::styled("y: cancel the sync    n / Esc: keep going", theme.key),
                ];
                dialog(frame, theme, dialog_area(area, 64, 5), " cancel? ", lines);
            }
        }
        _ => render_plain(s, theme, frame, area),
    }
}

/// The dry run planning, or a sync that failed before any file moved: the phases, and
/// the error.
fn render_plain(s: &SyncUi, theme: &Theme, frame: &mut Frame, area: Rect) {
    let width = area.width.saturating_sub(2) as usize;
    let mut lines = Vec::new();
    if s.stage == Stage::Planning {
        lines.push(Line::styled("planning the sync (dry run)…", theme.dim));
    }
    lines.extend(phase_lines(s, theme, width).into_iter().flatten());
    if s.stage == Stage::Failed {
        lines.push(Line::styled(
            format!("sync failed: {}", s.error.as_deref().unwrap_or("?")),
            theme.crit,
        ));
        lines.push(Line::styled("Esc: back to the dashboard", theme.dim));
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block(theme, " sync ")),
        area,
    );
}

fn render_confirm(s: &SyncUi, theme: &Theme, frame: &mut Frame, area: Rect) {
    let Some(p) = &s.plan else {
        return;
    };
    let t = &p.plan;
    let mut lines = vec![
        Line::from(vec![
            Span::styled("direction  ", theme.dim),
            Span::styled(format!("{} -> {}", p.source, p.target), theme.header),
            Span::styled(
                "  (from the live roles: the writable node is the source)",
                theme.dim,
            ),
        ]),
        Line::from(vec![
            Span::styled("plan       ", theme.dim),
            Span::raw(format!(
                "{}, {} attribute-only",
                t.summary(),
                t.attribute_only
            )),
        ]),
    ];
    if p.planned_by == crate::config::PlanMode::Journal {
        lines.push(Line::from(vec![
            Span::styled("           ", theme.dim),
            Span::raw(
                "datastore from OpenKM's version journal: its deletions and damaged files are found by the verify, deletions under the same guard",
            ),
        ]));
    }
    lines.extend([
        Line::from(vec![
            Span::styled("downtime   ", theme.dim),
            Span::raw(format!(
                "OpenKM on {} stops only for the final delta and the database catch-up",
                p.source
            )),
        ]),
        Line::raw(""),
    ]);
    if let (Some(r), Some(n)) = (&p.refusal, s.deletes_to_confirm()) {
        lines.push(Line::styled(r.clone(), theme.crit));
        lines.push(Line::from(vec![
            Span::raw(format!("To allow these deletions, type {n}: ")),
            Span::styled(format!("{}▏", s.typed), theme.key),
        ]));
        lines.push(Line::raw(""));
    }
    lines.push(buttons(theme, "Cancel", "Sync", s.focus_sync));
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block(theme, " sync: confirm the plan ")),
        area,
    );
}

/// The run: gauge on top, the phases, the files, then the rate and the outcome.
fn render_run(s: &SyncUi, theme: &Theme, frame: &mut Frame, area: Rect) {
    let inner_width = area.width.saturating_sub(2) as usize;
    let halves = Layout::horizontal([Constraint::Fill(1), Constraint::Fill(2)]);
    let [_, outcome_w] = halves.areas(area);
    let outcome = outcome_lines(s, theme, outcome_w.width.saturating_sub(2) as usize);
    let bottom_rows = (outcome.len() as u16).clamp(2, 4) + 2;
    // The phases take at most half of what the gauge, the bottom and a few files leave.
    let free = area.height.saturating_sub(3 + bottom_rows + 2 + 3) as usize;
    let all = phase_lines(s, theme, inner_width);
    let total = all.len();
    let (phases, hidden) = newest_phases(all, (free / 2).max(1));
    let phase_rows = phases.len().max(1) as u16 + 2;
    let [overall, phases_area, files_area, bottom] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Length(phase_rows),
        Constraint::Min(3),
        Constraint::Length(bottom_rows),
    ])
    .areas(area);
    render_overall(s, theme, frame, overall);
    let title = match hidden {
        0 => " phases ".to_string(),
        n => format!(" phases: the last {} of {total} ", total - n),
    };
    frame.render_widget(
        Paragraph::new(phases).block(block(theme, &title)),
        phases_area,
    );
    render_files(s, theme, frame, files_area);
    let [spark, outcome_area] = halves.areas(bottom);
    // The newest samples that fit (a sparkline draws from its first).
    let width = spark.width.saturating_sub(2) as usize;
    let data: Vec<u64> = s
        .rates
        .iter()
        .skip(s.rates.len().saturating_sub(width))
        .copied()
        .collect();
    frame.render_widget(
        Sparkline::default()
            .data(&data)
            .style(theme.spark)
            .block(block(theme, " rate ")),
        spark,
    );
    frame.render_widget(
        Paragraph::new(outcome).block(block(theme, " outcome ")),
        outcome_area,
    );
}

/// The whole run's gauge: files and bytes done of the total, the rate, the ETA or how
/// it ended.
fn render_overall(s: &SyncUi, theme: &Theme, frame: &mut Frame, area: Rect) {
    let n = s.totals();
    let rate = if s.elapsed_ms > 0 {
        n.bytes_done as f64 * 1000.0 / s.elapsed_ms as f64
    } else {
        0.0
    };
    let cancelled = s.report.as_ref().is_some_and(|r| r.cancelled);
    let (title, end) = match s.stage {
        Stage::Done if cancelled => (" sync: cancelled ", "cancelled".to_string()),
        Stage::Done => (" sync: done ", "done".to_string()),
        Stage::Failed => (" sync: failed ", "failed".to_string()),
        _ => {
            let eta = s
                .tracker
                .as_ref()
                .and_then(|t| t.eta(std::time::Duration::from_millis(s.elapsed_ms)))
                .map_or("?".into(), |d| format::duration_secs(d.as_secs_f64()));
            (" sync: running ", format!("ETA {eta}"))
        }
    };
    frame.render_widget(
        Gauge::default()
            .block(block(theme, title))
            .gauge_style(theme.ok)
            .ratio(n.ratio())
            .label(format!(
                "{}/{} files · {}/{} · {}/s · {end}",
                n.files_done,
                n.files_total,
                format::bytes(n.bytes_done),
                format::bytes(n.bytes_total),
                format::bytes(rate as u64)
            )),
        area,
    );
}

/// Columns before a phase's title: ` [x]  12.3 s  `.
const PHASE_PREFIX: usize = 14;

/// The checklist: each phase's mark and duration, its title wrapped under itself.
fn phase_lines(s: &SyncUi, theme: &Theme, width: usize) -> Vec<Vec<Line<'static>>> {
    (0..s.phases.len())
        .map(|i| {
            let (mark, style) = match s.phase_state(i) {
                PhaseState::Done => ("[x]", theme.ok),
                PhaseState::Running => ("[>]", theme.warn),
                PhaseState::Failed => ("[!]", theme.crit),
            };
            let took = s
                .phase_took(i)
                .map_or(String::new(), |d| format::duration_secs(d.as_secs_f64()));
            let title = wrap(&s.phases[i].title, width.saturating_sub(PHASE_PREFIX));
            title
                .into_iter()
                .enumerate()
                .map(|(k, part)| match k {
                    0 => Line::from(vec![
                        Span::styled(format!(" {mark} "), style),
                        Span::styled(format!("{took:>7}  "), theme.dim),
                        Span::raw(part),
                    ]),
                    _ => Line::raw(format!("{:PHASE_PREFIX$}{part}", "")),
                })
                .collect()
        })
        .collect()
}

/// The newest whole phases that fit in `rows`, and how many older ones do not.
fn newest_phases(phases: Vec<Vec<Line<'static>>>, rows: usize) -> (Vec<Line<'static>>, usize) {
    let mut left = rows;
    let mut shown = Vec::new();
    for lines in phases.iter().rev() {
        if lines.len() > left {
            break;
        }
        left -= lines.len();
        shown.push(lines);
    }
    let hidden = phases.len() - shown.len();
    (shown.into_iter().rev().flatten().cloned().collect(), hidden)
}

/// Columns before a file's name: its state, size and rate.
const FILE_PREFIX: usize = 35;

/// The files pane: a window of the run's files around the cursor (or the newest ones,
/// followed as they come), each with its size, own rate and end state.
fn render_files(s: &SyncUi, theme: &Theme, frame: &mut Frame, area: Rect) {
    let rows = area.height.saturating_sub(2) as usize;
    let width = area.width.saturating_sub(2) as usize;
    let total = s.files.len();
    let target = s
        .files_cursor
        .unwrap_or(total.saturating_sub(1))
        .min(total.saturating_sub(1));
    // Only files near the target can be on screen (each takes a row at least).
    let from = target.saturating_sub(rows);
    let near = s.files.records(from..(target + rows + 1).min(total));
    let drawn: Vec<Vec<Line>> = near
        .iter()
        .enumerate()
        .map(|(k, r)| {
            file_lines(
                s,
                r,
                from + k == target && s.files_cursor.is_some(),
                theme,
                width,
            )
        })
        .collect();
    let heights: Vec<usize> = drawn.iter().map(Vec::len).collect();
    let shown = window(&heights, target - from, rows, s.files_cursor.is_some());
    let title = files_title(s, from + shown.start, from + shown.end);
    let lines: Vec<Line> = if total == 0 {
        let none = if s.ended() {
            "no file moved"
        } else {
            "no file moved yet"
        };
        vec![Line::styled(none, theme.dim)]
    } else {
        drawn[shown].iter().flatten().cloned().collect()
    };
    frame.render_widget(Paragraph::new(lines).block(block(theme, &title)), area);
}

/// ` files 47-60 of 60 `, and how many files the log only counted.
fn files_title(s: &SyncUi, first: usize, end: usize) -> String {
    match (s.files.len(), s.files.counts().unlisted) {
        (0, _) => " files ".to_string(),
        (n, 0) => format!(" files {}-{end} of {n} ", first + 1),
        (n, more) => format!(
            " files {}-{end} of {n} (and {more} more not listed) ",
            first + 1
        ),
    }
}

/// One file: state, size and own rate, then its name (its document when known),
/// wrapped under itself.
fn file_lines(
    s: &SyncUi,
    r: &FileRecord,
    selected: bool,
    theme: &Theme,
    width: usize,
) -> Vec<Line<'static>> {
    let outcome = s.outcome(r);
    let (state, rate) = match outcome {
        FileOutcome::Moving => moving(s, r),
        FileOutcome::Copied | FileOutcome::Verified | FileOutcome::Mismatch => {
            (outcome.label().to_string(), r.rate())
        }
        _ => (outcome.label().to_string(), None),
    };
    let size = match outcome {
        FileOutcome::Deleted => "-".to_string(),
        _ => format::bytes(r.size),
    };
    let rate = rate.map_or("-".to_string(), |v| {
        format!("{}/s", format::bytes(v as u64))
    });
    let name = printable(&s.file_label(&r.path));
    let pick = |style: Style| if selected { theme.selected } else { style };
    wrap(&name, width.saturating_sub(FILE_PREFIX).max(10))
        .into_iter()
        .enumerate()
        .map(|(k, part)| match k {
            0 => Line::from(vec![
                Span::styled(format!("{state:<10} "), pick(outcome_style(outcome, theme))),
                Span::styled(format!("{size:>9}  {rate:>11}  "), pick(theme.dim)),
                Span::styled(part, pick(Style::default())),
            ]),
            _ => Line::styled(format!("{:FILE_PREFIX$}{part}", ""), pick(Style::default())),
        })
        .collect()
}

/// The moving file's state with its share done, and its rate so far (its own bytes
/// over its own time, to the last line read).
fn moving(s: &SyncUi, r: &FileRecord) -> (String, Option<f64>) {
    let Some(t) = s
        .tracker
        .as_ref()
        .filter(|t| t.current.as_ref().is_some_and(|(p, _)| *p == r.path))
    else {
        return ("moving".into(), None);
    };
    // 100% only once rsync says the file is done (and the column stays 10 wide).
    let pct = match r.size {
        0 => 99,
        size => (t.current_bytes.saturating_mul(100) / size).min(99),
    };
    let rate = t.last_at.and_then(|at| r.rate_until(t.current_bytes, at));
    (format!("moving {pct}%"), rate)
}

/// Control characters in a name shown escaped, so a name cannot move the cursor.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_debug().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn outcome_style(o: FileOutcome, theme: &Theme) -> Style {
    match o {
        FileOutcome::Copied | FileOutcome::Verified => theme.ok,
        FileOutcome::Moving | FileOutcome::Skipped | FileOutcome::Cancelled => theme.warn,
        FileOutcome::Mismatch | FileOutcome::Failed => theme.crit,
        FileOutcome::AttrsOnly | FileOutcome::Deleted => theme.dim,
    }
}

/// Which of some items (each `heights[i]` rows tall) fill `rows` around `target`: the
/// target in the middle when `centre`, else at the bottom (following the newest).
fn window(heights: &[usize], target: usize, rows: usize, centre: bool) -> std::ops::Range<usize> {
    let Some(&own) = heights.get(target) else {
        return 0..0;
    };
    let (mut start, mut end, mut used) = (target, target + 1, own);
    let above = if centre {
        own + rows.saturating_sub(own) / 2
    } else {
        rows
    };
    while start > 0 && used + heights[start - 1] <= above {
        start -= 1;
        used += heights[start];
    }
    while end < heights.len() && used + heights[end] <= rows {
        used += heights[end];
        end += 1;
    }
    while start > 0 && used + heights[start - 1] <= rows {
        start -= 1;
        used += heights[start];
    }
    start..end
}

/// How the run ended, or the last warning while it runs; wrapped to `width`.
fn outcome_lines(s: &SyncUi, theme: &Theme, width: usize) -> Vec<Line<'static>> {
    let texts: Vec<(String, Style)> = match (&s.report, s.stage) {
        (_, Stage::Failed) => vec![
            (
                format!("sync failed: {}", s.error.as_deref().unwrap_or("?")),
                theme.crit,
            ),
            ("Esc: back to the dashboard".into(), theme.dim),
        ],
        (Some(r), _) if r.cancelled => {
            vec![("cancelled: nothing recorded (Esc: back)".into(), theme.warn)]
        }
        (Some(r), _) => vec![
            if r.verified {
                (
                    format!("verified: {} files identical (SHA-256)", r.verified_files),
                    theme.ok,
                )
            } else {
                (
                    format!("verify FAILED: {} mismatches", r.mismatches.len()),
                    theme.crit,
                )
            },
            (
                format!(
                    "main down {} · took {} (Esc: back)",
                    format::duration_secs(r.main_downtime_ms as f64 / 1000.0),
                    format::duration_secs(r.duration_ms as f64 / 1000.0)
                ),
                Style::default(),
            ),
        ],
        (None, _) => vec![(
            s.warnings
                .last()
                .cloned()
                .unwrap_or_else(|| "Esc cancels (asks first)".into()),
            theme.dim,
        )],
    };
    texts
        .into_iter()
        .flat_map(|(text, style)| {
            wrap(&text, width)
                .into_iter()
                .map(move |l| Line::styled(l, style))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::window;

    #[test]
    fn the_window_follows_the_newest_or_centres_the_cursor() {
        let one = [1; 10];
        assert_eq!(window(&one, 9, 4, false), 6..10);
        assert_eq!(window(&one, 5, 4, true), 4..8);
        assert_eq!(window(&one, 0, 4, true), 0..4);
        assert_eq!(window(&one, 9, 4, true), 6..10);
        // Wrapped items take their rows; the target is always in.
        assert_eq!(window(&[2, 2, 3, 1], 3, 4, false), 2..4);
        assert_eq!(window(&[5], 0, 4, false), 0..1);
        assert_eq!(window(&[], 0, 4, false), 0..0);
    }
}
