//! Drawing: a pure function of the state, so it is tested with ratatui's TestBackend.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, Wrap};

use super::app::App;
use super::keymap::BINDINGS;
use super::theme::Theme;

/// Below this the console says so instead of drawing a broken layout.
pub const MIN_SIZE: (u16, u16) = (80, 24);

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
    let [title, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(area);
    render_title(app, theme, frame, title);
    render_nodes(app, theme, frame, body);
    render_footer(theme, frame, footer);
    if app.show_help {
        render_help(theme, frame, area);
    }
}

fn render_title(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let mut spans = vec![
        Span::styled(" okmirror ", theme.title),
        Span::raw(format!(" pair {} ", app.pair)),
        Span::styled(format!(" {}", app.config_path), theme.dim),
    ];
    if app.readonly {
        spans.push(Span::styled("  [read-only console]", theme.warn));
    }
    frame.render_widget(Line::from(spans), area);
}

fn render_nodes(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let header = Row::new(["NODE", "ROLE", "SSH", "OPENKM HOME", "DATABASE"]).style(theme.header);
    let rows = app.nodes.iter().enumerate().map(|(i, n)| {
        let row = Row::new([
            Cell::from(n.name.clone()),
            Cell::from(Span::styled("not probed", theme.dim)),
            Cell::from(n.ssh.clone()),
            Cell::from(n.home.clone()),
            Cell::from(n.database.clone()),
        ]);
        if i == app.selected {
            row.style(theme.selected)
        } else {
            row
        }
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(12),
            Constraint::Length(11),
            Constraint::Length(24),
            Constraint::Fill(2),
            Constraint::Fill(2),
        ],
    )
    .header(header)
    .block(
        Block::default()
            .borders(Borders::ALL)
            .border_style(theme.border)
            .title(" nodes (roles are detected live from the databases) "),
    );
    frame.render_widget(table, area);
}

fn render_footer(theme: &Theme, frame: &mut Frame, area: Rect) {
    let mut spans = Vec::new();
    for b in BINDINGS.iter().filter(|b| b.footer) {
        spans.push(Span::styled(format!(" {} ", b.label), theme.key));
        spans.push(Span::raw(format!("{} ", short(b.help))));
    }
    frame.render_widget(Line::from(spans), area);
}

fn short(help: &str) -> &str {
    help.split([' ', '(']).next().unwrap_or(help)
}

fn render_help(theme: &Theme, frame: &mut Frame, area: Rect) {
    let lines: Vec<Line> = BINDINGS
        .iter()
        .map(|b| {
            Line::from(vec![
                Span::styled(format!(" {:<8}", b.label), theme.key),
                Span::raw(b.help),
            ])
        })
        .collect();
    let h = (lines.len() as u16 + 2).min(area.height);
    let w = 60.min(area.width);
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
                .border_style(theme.border)
                .title(" keys (Esc closes) "),
        ),
        popup,
    );
}
