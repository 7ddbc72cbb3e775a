//! The failover/switchover/rejoin wizard: the choices, the plan as a checklist with each
//! step's commands, its progress and outputs, and the confirmation dialogs (Cancel
//! focused; the node's name typed for fencing and promotion).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::widgets::{block, buttons, dialog, dialog_area, pane};

use crate::failover::Confirm;
use crate::ui::app::App;
use crate::ui::flow_state::{Ask, FlowUi, Stage, StepState};
use crate::ui::theme::Theme;

pub fn render(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let Some(f) = &app.flow else {
        return;
    };
    match f.stage {
        Stage::Choose => render_choose(f, theme, frame, area),
        Stage::Planning => frame.render_widget(
            Paragraph::new(Line::styled("planning…", theme.dim)).block(block(theme, " failover ")),
            area,
        ),
        _ => render_checklist(f, theme, frame, area),
    }
    if let Some(ask) = &f.ask {
        render_ask(ask, theme, frame, area);
    }
}

fn render_choose(f: &FlowUi, theme: &Theme, frame: &mut Frame, area: Rect) {
    let mut lines = Vec::new();
    for n in &f.notes {
        lines.push(Line::styled(n.clone(), theme.warn));
    }
    if !f.notes.is_empty() {
        lines.push(Line::raw(""));
    }
    for (i, c) in f.choices.iter().enumerate() {
        let style = if i == f.selected {
            theme.selected
        } else {
            Style::default()
        };
        lines.push(Line::styled(format!(" {} ", c.label), style));
        lines.push(Line::styled(format!("     {}", c.why), theme.dim));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        "j/k choose · Enter shows the plan (nothing runs yet) · Esc back",
        theme.dim,
    ));
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block(theme, " failover / switchover / rejoin ")),
        area,
    );
}

fn title(f: &FlowUi) -> String {
    match (&f.chosen, f.stage) {
        (_, Stage::OfferResume) => format!(
            " {} ",
            f.notes.first().map_or("unfinished flow", String::as_str)
        ),
        (Some(c), _) => format!(" {} ", c.label),
        (None, _) => " flow ".into(),
    }
}

fn render_checklist(f: &FlowUi, theme: &Theme, frame: &mut Frame, area: Rect) {
    let [list, detail, bottom] = Layout::vertical([
        Constraint::Min(6),
        Constraint::Length(6),
        Constraint::Length(3),
    ])
    .areas(area);
    let focus = f.focus_step();
    let lines: Vec<Line> = (0..f.steps.len())
        .map(|i| step_line(f, i, focus, theme))
        .collect();
    // Keep the focused step in view.
    let rows = list.height.saturating_sub(2) as usize;
    let skip = focus.map_or(0, |i| (i + 1).saturating_sub(rows));
    frame.render_widget(
        Paragraph::new(lines.into_iter().skip(skip).collect::<Vec<_>>())
            .block(block(theme, &title(f))),
        list,
    );
    render_detail(f, focus, theme, frame, detail);
    frame.render_widget(
        Paragraph::new(bottom_lines(f, theme))
            .wrap(Wrap { trim: true })
            .block(
                Block::default()
                    .borders(Borders::TOP)
                    .border_style(theme.border),
            ),
        bottom,
    );
}

/// One step of the checklist: its mark, its time, its title, whether it asks, and what
/// it printed.
fn step_line(f: &FlowUi, i: usize, focus: Option<usize>, theme: &Theme) -> Line<'static> {
    let s = &f.steps[i];
    let state = f.states.get(i).cloned().unwrap_or(StepState::Pending);
    let (mark, style) = match state {
        StepState::Pending => ("[ ]", Style::default()),
        StepState::Running => ("[>]", theme.warn),
        StepState::Done { .. } => ("[x]", theme.ok),
        StepState::Failed { .. } => ("[!]", theme.crit),
    };
    let time = match state {
        StepState::Done { ms } | StepState::Failed { ms } if ms > 0 => format!("{ms:>6} ms"),
        _ => "         ".into(),
    };
    let confirm = match &s.confirm {
        Confirm::None => String::new(),
        Confirm::Yes => "  (asks)".into(),
        Confirm::TypedNode(n) => format!("  (type {n})"),
    };
    let mut spans = vec![
        Span::styled(format!(" {mark} "), style),
        Span::styled(format!("{time}  "), theme.dim),
        Span::styled(
            s.title.clone(),
            if Some(i) == focus {
                theme.selected
            } else {
                Style::default()
            },
        ),
        Span::styled(confirm, theme.dim),
    ];
    let out = f.outputs.get(i).map(String::as_str).unwrap_or("");
    if !out.is_empty() {
        spans.push(Span::styled(format!("  {out}"), theme.dim));
    }
    Line::from(spans)
}

/// What the focused step does, and its timeout.
fn render_detail(f: &FlowUi, focus: Option<usize>, theme: &Theme, frame: &mut Frame, area: Rect) {
    let lines = match focus.and_then(|i| f.steps.get(i)) {
        Some(s) => vec![
            Line::styled(s.title.clone(), theme.header),
            Line::raw(s.detail.clone()),
            Line::styled(format!("timeout {} s", s.timeout.as_secs()), theme.dim),
        ],
        None => vec![Line::styled("all steps done", theme.ok)],
    };
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(pane(theme, " what it does ")),
        area,
    );
}

/// The bottom: the buttons (or where the flow stands), then what is at stake or the
/// last note.
fn bottom_lines(f: &FlowUi, theme: &Theme) -> Vec<Line<'static>> {
    let first = match f.stage {
        Stage::Review | Stage::OfferResume => {
            let go = if f.stage == Stage::Review {
                "Start"
            } else {
                "Resume"
            };
            buttons(theme, "Cancel", go, f.focus_go)
        }
        Stage::Running => Line::styled(
            "running… each step is journaled; a confirmation answered no stops the flow",
            theme.dim,
        ),
        Stage::Done => Line::styled(
            match &f.report {
                Some(r) => format!("{} · journal {} · Esc back", r.outcome, r.journal.display()),
                None => "done · Esc back".into(),
            },
            theme.ok,
        ),
        Stage::Failed => Line::styled(
            format!("{} · Esc back", f.error.as_deref().unwrap_or("failed")),
            theme.crit,
        ),
        Stage::Choose | Stage::Planning => Line::raw(""),
    };
    let mut lines = vec![first];
    match (&f.stakes, f.stage) {
        (Some(s), Stage::Review) => lines.push(Line::styled(s.clone(), theme.warn)),
        _ => {
            for n in f.notes.iter().rev().take(1) {
                lines.push(Line::styled(n.clone(), theme.warn));
            }
        }
    }
    lines
}

fn render_ask(ask: &Ask, theme: &Theme, frame: &mut Frame, area: Rect) {
    let mut lines = vec![
        Line::styled(ask.step.title.clone(), theme.header),
        Line::raw(ask.step.detail.clone()),
        Line::raw(""),
    ];
    match &ask.step.confirm {
        Confirm::TypedNode(n) => {
            lines.push(Line::from(vec![
                Span::raw(format!("Type {n} to confirm: ")),
                Span::styled(format!("{}▏", ask.typed), theme.key),
            ]));
            lines.push(Line::styled(
                "Enter confirms · Esc (or any other name) cancels",
                theme.dim,
            ));
        }
        _ => lines.push(buttons(theme, "Cancel", "Go on", ask.focus_go)),
    }
    dialog(frame, theme, dialog_area(area, 72, 9), " confirm ", lines);
}
