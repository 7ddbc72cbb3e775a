//! Drawing: a pure function of the state, so it is tested with ratatui's TestBackend.

mod dashboard;
mod diffs;
mod flow;
mod sync;
mod widgets;

pub use crate::format::clock;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::app::{App, Input, View};
use super::keymap::BINDINGS;
use super::theme::Theme;

/// Below this the console says so instead of drawing a broken layout.
pub const MIN_SIZE: (u16, u16) = (80, 24);

/// Rows of the screen not used by the diffs list (title, header, footer, borders).
pub const DIFFS_CHROME: u16 = 6;

/// Draws the whole screen.
pub fn render(app: &App, theme: &Theme, frame: &mut Frame) {
    let area = frame.area();
    if area.width < MIN_SIZE.0 || area.height < MIN_SIZE.1 {
        let msg = format!(
            "terminal too small: {}x{}, okmirror needs at least {}x{} (q quits)",
            area.width, area.height, MIN_SIZE.0, MIN_SIZE.1
        );
        frame.render_widget(Paragraph::new(msg).wrap(Wrap { trim: true }), area);
        return;
    }
    let log_rows = if app.show_log { 8 } else { 0 };
    let [title, body, log, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(10),
        Constraint::Length(log_rows),
        Constraint::Length(1),
    ])
    .areas(area);
    render_title(app, theme, frame, title);
    match app.view {
        View::Dashboard => dashboard::render(app, theme, frame, body),
        View::Diffs => diffs::render(app, theme, frame, body),
        View::Sync => sync::render(app, theme, frame, body),
        View::Flow => flow::render(app, theme, frame, body),
    }
    if app.show_log {
        render_log(app, theme, frame, log);
    }
    render_footer(app, theme, frame, footer);
    if app.show_help {
        render_help(app, theme, frame, area);
    }
}

fn render_title(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let mut spans = vec![
        Span::styled(" okmirror ", theme.title),
        Span::raw(format!(" pair {} ", app.pair)),
    ];
    match &app.status {
        Some(s) => {
            spans.push(Span::styled(
                format!(" {} ", s.severity.label()),
                theme.severity(s.severity),
            ));
            spans.push(Span::styled(
                format!(" at {}", clock(s.taken_at)),
                theme.dim,
            ));
            if let Some(every) = app.idle_every {
                spans.push(Span::styled(
                    format!(" · idle: every {every} s, a key probes now"),
                    theme.dim,
                ));
            }
        }
        None => spans.push(Span::styled(" probing…", theme.dim)),
    }
    if app.readonly {
        spans.push(Span::styled("  [read-only console]", theme.warn));
    }
    frame.render_widget(Line::from(spans), area);
}

fn render_footer(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let line = match &app.input {
        Input::Filter(t) => Line::from(vec![
            Span::styled("/", theme.key),
            Span::raw(t.clone()),
            Span::styled("▏  Enter keeps, Esc clears", theme.dim),
        ]),
        Input::Command(t) => Line::from(vec![
            Span::styled(":", theme.key),
            Span::raw(t.clone()),
            Span::raw("▏"),
        ]),
        Input::None => {
            if let Some(m) = &app.message {
                Line::styled(m.clone(), theme.warn)
            } else {
                let scope = app.scope();
                let mut spans = Vec::new();
                if let Some(note) = scope.note() {
                    spans.push(Span::styled(format!(" {note} "), theme.dim));
                }
                let visible = super::keymap::in_scope(scope)
                    .filter(|b| !(app.readonly && super::keymap::is_mutating(b.action)));
                for b in visible {
                    if let Some(hint) = b.hint {
                        spans.push(Span::styled(format!(" {} ", b.label), theme.key));
                        spans.push(Span::raw(format!("{hint} ")));
                    }
                }
                Line::from(spans)
            }
        }
    };
    frame.render_widget(line, area);
}

fn render_log(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let rows = area.height.saturating_sub(2) as usize;
    let lines: Vec<Line> = app
        .log
        .iter()
        .skip(app.log.len().saturating_sub(rows))
        .map(|l| Line::raw(l.clone()))
        .collect();
    frame.render_widget(
        Paragraph::new(lines).block(widgets::pane(theme, " log (l hides) ")),
        area,
    );
}

/// Every key, from the one table: the views' bindings one per line (the sync view's
/// file list among them), each dialog's own on one line, then the `:` commands. It
/// scrolls (j/k) when the terminal is short.
pub fn help_lines(readonly: bool, theme: &Theme) -> Vec<Line<'static>> {
    use super::keymap::dialogs;
    let shown = |b: &&super::keymap::Binding| !(readonly && super::keymap::is_mutating(b.action));
    let mut lines: Vec<Line> = BINDINGS
        .iter()
        .filter(|b| b.scope.is_view())
        .filter(shown)
        .map(|b| {
            let scope = match b.scope.name() {
                "" => String::new(),
                n => format!(" ({n})"),
            };
            Line::from(vec![
                Span::styled(format!(" {:<6}", b.label), theme.key),
                Span::raw(format!("{}{scope}", b.help)),
            ])
        })
        .collect();
    for d in dialogs() {
        let keys: Vec<String> = BINDINGS
            .iter()
            .filter(|b| b.scope == d)
            .map(|b| format!("{} {}", b.label, b.hint.unwrap_or(b.help)))
            .collect();
        lines.push(Line::from(vec![
            Span::styled(format!(" {:<19}", d.name()), theme.key),
            Span::raw(keys.join(" · ")),
        ]));
    }
    lines.push(Line::from(vec![
        Span::styled(" :      ", theme.key),
        Span::raw(super::keymap::command_list()),
    ]));
    lines
}

fn render_help(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let all = help_lines(app.readonly, theme);
    let rows = area.height.saturating_sub(2) as usize;
    let scroll = app.help_scroll.min(all.len().saturating_sub(rows));
    let more = all.len() > rows;
    let lines: Vec<Line> = all.into_iter().skip(scroll).collect();
    let h = (lines.len() as u16 + 2).min(area.height);
    let w = 78.min(area.width);
    let popup = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(theme.focus_border)
                .title(if more {
                    " keys (j/k scroll, Esc closes) "
                } else {
                    " keys (Esc closes) "
                }),
        ),
        popup,
    );
}
