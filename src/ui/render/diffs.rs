//! The diffs view: every pending change, filtered and sorted, drawn a screenful at a time
//! so a million entries scroll as smoothly as ten.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use crate::format;
use crate::sync::pending::PlanBasis;
use crate::sync::{Change, ChangeKind, Plan};
use crate::ui::app::App;
use crate::ui::theme::Theme;

pub fn render(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let [head, list] = Layout::vertical([Constraint::Length(1), Constraint::Min(3)]).areas(area);
    let total = app.plan.as_ref().map_or(0, |p| p.changes.len());
    frame.render_widget(head_line(app, theme), head);

    let mut block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.focus_border)
        .title(" KIND      SIZE  PATH ");
    if let Some(p) = &app.plan {
        block = block.title_bottom(Line::styled(basis_title(&p.basis), theme.dim));
    }
    let inner = block.inner(list);
    frame.render_widget(block, list);
    let rows = inner.height as usize;
    let Some(plan) = &app.plan else {
        frame.render_widget(
            Line::styled("waiting for the first plan…", theme.dim),
            inner,
        );
        return;
    };
    let offset = crate::ui::app::scroll_to(app.diff_offset, app.diff_selected, rows);
    let lines: Vec<Line> = app
        .diff_rows
        .iter()
        .enumerate()
        .skip(offset)
        .take(rows)
        .map(|(i, idx)| {
            let line = change_line(plan, &plan.changes[*idx as usize], theme);
            if i == app.diff_selected {
                line.style(theme.selected)
            } else {
                line
            }
        })
        .collect();
    if lines.is_empty() {
        let msg = if total == 0 {
            match plan.basis {
                PlanBasis::Scan => "nothing pending: the mirror's files match the main's",
                PlanBasis::Journal { .. } => {
                    "nothing pending: the mirror has the file of every version since its last verified sync"
                }
            }
        } else {
            "no change matches the filter"
        };
        frame.render_widget(Line::styled(msg, theme.dim), inner);
    } else {
        frame.render_widget(Paragraph::new(lines), inner);
    }
}

/// The view's head: direction, how many shown, sort, filter, and what is still running.
/// How the plan was found, under the list: a journal view is datastore files only, and
/// `r` scans the whole Tomcat home.
fn basis_title(basis: &PlanBasis) -> String {
    match basis {
        PlanBasis::Scan => " scan of the whole Tomcat home ".into(),
        PlanBasis::Journal { since } => {
            let short = since.split('.').next().unwrap_or(since);
            format!(" journal since {short} · datastore only · r: scan all ")
        }
    }
}

fn head_line(app: &App, theme: &Theme) -> Line<'static> {
    let (total, direction) = match &app.plan {
        Some(p) => (p.changes.len(), format!("{} -> {}", p.source, p.target)),
        None => (0, "no plan yet".into()),
    };
    let mut spans = vec![
        Span::styled(" pending changes ", theme.header),
        Span::raw(format!("{direction} · ")),
        Span::raw(format!(
            "{} of {total} shown · sort: {}",
            app.diff_rows.len(),
            app.sort.label()
        )),
    ];
    if !app.filter.is_empty() {
        spans.push(Span::styled(
            format!(" · filter: {}", app.filter),
            theme.warn,
        ));
    }
    if app.planning {
        spans.push(Span::styled(" · planning…", theme.dim));
    }
    if app.diffs_pending {
        spans.push(Span::styled(" · filtering…", theme.dim));
    }
    Line::from(spans)
}

/// One pending change: its kind, size, and its document or path.
fn change_line(plan: &Plan, c: &Change, theme: &Theme) -> Line<'static> {
    let (kind, style) = match c.kind {
        ChangeKind::New => ("new", theme.ok),
        ChangeKind::Changed => ("changed", theme.warn),
        ChangeKind::Attributes => ("attrs", theme.dim),
        ChangeKind::Deleted => ("deleted", theme.crit),
    };
    let size = if c.kind == ChangeKind::Deleted {
        "-".to_string()
    } else {
        format::bytes(c.size)
    };
    let mut spans = vec![
        Span::styled(format!("{kind:<8}"), style),
        Span::raw(format!("{size:>10}  ")),
    ];
    // A datastore file shows the document it belongs to; other files their path.
    match plan.document_of(&c.path) {
        Some(doc) => {
            spans.push(Span::raw(doc.escape_debug().to_string()));
            spans.push(Span::styled(
                format!("  ({})", crate::db::versions::short_file(&c.path)),
                theme.dim,
            ));
        }
        None => spans.push(Span::raw(c.path.escape_debug().to_string())),
    }
    Line::from(spans)
}
