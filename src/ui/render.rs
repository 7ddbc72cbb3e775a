//! Drawing: a pure function of the state, so it is tested with ratatui's TestBackend.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

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
    let [cards, note] = Layout::vertical([Constraint::Length(8), Constraint::Min(0)]).areas(area);
    let columns =
        Layout::horizontal(vec![Constraint::Fill(1); app.nodes.len().max(1)]).split(cards);
    for (i, (n, col)) in app.nodes.iter().zip(columns.iter()).enumerate() {
        let field = |label: &str, value: String| {
            Line::from(vec![
                Span::styled(format!("{label:<6}"), theme.dim),
                Span::raw(value),
            ])
        };
        let lines = vec![
            field("role", "not probed yet".into()),
            field("ssh", n.ssh.clone()),
            field("home", n.home.clone()),
            field("db", n.database.clone()),
        ];
        let border = if i == app.selected {
            theme.selected_border
        } else {
            theme.border
        };
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(border)
            .title(Span::styled(format!(" {} ", n.name), theme.header));
        frame.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .block(block),
            *col,
        );
    }
    frame.render_widget(
        Paragraph::new(Line::styled(
            " Roles are detected live: the node whose database is writable is the main.",
            theme.dim,
        )),
        note,
    );
}

fn render_footer(theme: &Theme, frame: &mut Frame, area: Rect) {
    let mut spans = Vec::new();
    for b in BINDINGS {
        if let Some(hint) = b.hint {
            spans.push(Span::styled(format!(" {} ", b.label), theme.key));
            spans.push(Span::raw(format!("{hint} ")));
        }
    }
    frame.render_widget(Line::from(spans), area);
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
