//! The sync view: the plan and its confirmation, then an overall gauge, the current file
//! with its own gauge, a rate sparkline, ETA, the phases and the files moving.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Gauge, LineGauge, Paragraph, Sparkline, Wrap};

use super::widgets::{block, buttons, dialog, dialog_area};

use crate::format;
use crate::sync::progress::Tracker;
use crate::ui::app::App;
use crate::ui::sync_state::{Stage, SyncUi};
use crate::ui::theme::Theme;

pub fn render(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let Some(s) = &app.sync else {
        return;
    };
    match s.stage {
        Stage::Planning => {
            let mut lines = vec![Line::styled("planning the sync (dry run)…", theme.dim)];
            lines.extend(s.phases.iter().map(|p| Line::raw(format!("  {p}"))));
            frame.render_widget(Paragraph::new(lines).block(block(theme, " sync ")), area);
        }
        Stage::Confirm => render_confirm(s, theme, frame, area),
        Stage::Failed => {
            let mut lines: Vec<Line> = s
                .phases
                .iter()
                .map(|p| Line::raw(format!("  {p}")))
                .collect();
            lines.push(Line::styled(
                format!("sync failed: {}", s.error.as_deref().unwrap_or("?")),
                theme.crit,
            ));
            lines.push(Line::styled("Esc: back to the dashboard", theme.dim));
            frame.render_widget(
                Paragraph::new(lines)
                    .wrap(Wrap { trim: false })
                    .block(block(theme, " sync ")),
                area,
            );
        }
        Stage::Running | Stage::ConfirmCancel | Stage::Done => {
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
    }
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

fn render_run(s: &SyncUi, theme: &Theme, frame: &mut Frame, area: Rect) {
    let [overall, current, middle, bottom] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Length(3),
        Constraint::Min(5),
        Constraint::Length(4),
    ])
    .areas(area);
    let t = s.tracker.clone().unwrap_or_default();
    render_overall(s, &t, theme, frame, overall);
    render_current(&t, theme, frame, current);
    let [phases, files] =
        Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)]).areas(middle);
    let phase_lines = last_wrapped(&s.phases, phases);
    frame.render_widget(
        Paragraph::new(phase_lines)
            .wrap(Wrap { trim: false })
            .block(block(theme, " phases ")),
        phases,
    );
    render_files(s, theme, frame, files);
    let [spark, outcome] =
        Layout::horizontal([Constraint::Fill(1), Constraint::Fill(2)]).areas(bottom);
    let data: Vec<u64> = s.rates.iter().copied().collect();
    frame.render_widget(
        Sparkline::default()
            .data(&data)
            .style(theme.spark)
            .block(block(theme, " rate ")),
        spark,
    );
    frame.render_widget(
        Paragraph::new(outcome_lines(s, theme)).block(block(theme, " outcome ")),
        outcome,
    );
}

/// The whole run's gauge: files, bytes, rate and ETA.
fn render_overall(s: &SyncUi, t: &Tracker, theme: &Theme, frame: &mut Frame, area: Rect) {
    let eta = t
        .eta(std::time::Duration::from_millis(s.elapsed_ms))
        .map_or("?".into(), |d| format::duration_secs(d.as_secs_f64()));
    let rate = if s.elapsed_ms > 0 {
        t.bytes_done as f64 * 1000.0 / s.elapsed_ms as f64
    } else {
        0.0
    };
    let title = match s.stage {
        Stage::Done => " sync: done ",
        _ => " sync: running ",
    };
    frame.render_widget(
        Gauge::default()
            .block(block(theme, title))
            .gauge_style(theme.ok)
            .ratio(t.ratio())
            .label(format!(
                "{}/{} files · {}/{} · {}/s · ETA {eta}",
                t.files_done,
                t.total_files,
                format::bytes(t.bytes_done),
                format::bytes(t.total_bytes),
                format::bytes(rate as u64)
            )),
        area,
    );
}

/// The file moving now, with its own gauge.
fn render_current(t: &Tracker, theme: &Theme, frame: &mut Frame, area: Rect) {
    let (name, ratio) = match &t.current {
        Some((p, size)) if *size > 0 => (
            p.clone(),
            (t.current_bytes as f64 / *size as f64).clamp(0.0, 1.0),
        ),
        Some((p, _)) => (p.clone(), 1.0),
        None => ("-".into(), 0.0),
    };
    frame.render_widget(
        LineGauge::default()
            .block(block(theme, " current file "))
            .filled_style(theme.ok)
            .ratio(ratio)
            .label(format!(
                "{name}  {}/s ",
                format::bytes(t.current_rate as u64)
            )),
        area,
    );
}

/// The newest files, each done or moving.
fn render_files(s: &SyncUi, theme: &Theme, frame: &mut Frame, area: Rect) {
    let rows = area.height.saturating_sub(2) as usize;
    let file_lines: Vec<Line> = s
        .files
        .iter()
        .skip(s.files.len().saturating_sub(rows))
        .map(|(p, done)| {
            let (state, style) = if *done {
                ("done  ", theme.ok)
            } else {
                ("moving", theme.warn)
            };
            Line::from(vec![
                Span::styled(format!("{state} "), style),
                Span::raw(s.file_label(p)),
            ])
        })
        .collect();
    frame.render_widget(
        Paragraph::new(file_lines).block(block(theme, " files ")),
        area,
    );
}

/// How the run ended, or the last warning while it runs.
fn outcome_lines(s: &SyncUi, theme: &Theme) -> Vec<Line<'static>> {
    match &s.report {
        Some(r) if r.cancelled => vec![Line::styled(
            "cancelled: nothing recorded (Esc: back)",
            theme.warn,
        )],
        Some(r) => vec![
            if r.verified {
                Line::styled(
                    format!("verified: {} files identical (SHA-256)", r.verified_files),
                    theme.ok,
                )
            } else {
                Line::styled(
                    format!("verify FAILED: {} mismatches", r.mismatches.len()),
                    theme.crit,
                )
            },
            Line::raw(format!(
                "main down {} · took {} (Esc: back)",
                format::duration_secs(r.main_downtime_ms as f64 / 1000.0),
                format::duration_secs(r.duration_ms as f64 / 1000.0)
            )),
        ],
        None => vec![Line::styled(
            s.warnings
                .last()
                .cloned()
                .unwrap_or_else(|| "Esc cancels (asks first)".into()),
            theme.dim,
        )],
    }
}

/// The newest lines that fit `area` once wrapped (a long phase is shown whole, on as
/// many rows as it needs, instead of cut at the pane's edge).
fn last_wrapped(lines: &[String], area: Rect) -> Vec<Line<'static>> {
    let width = area.width.saturating_sub(2).max(1) as usize;
    let mut rows = area.height.saturating_sub(2) as usize;
    let mut out = Vec::new();
    for l in lines.iter().rev() {
        let need = l.chars().count().div_ceil(width).max(1);
        if need > rows {
            break;
        }
        rows -= need;
        out.push(Line::raw(l.clone()));
    }
    out.reverse();
    out
}
