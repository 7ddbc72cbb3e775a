//! Pieces the views share, so a dialog looks and answers the same everywhere: bordered
//! blocks, the dialog box and its Cancel/Go buttons.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use crate::ui::theme::Theme;

/// A bordered block in the focus colour: the pane the operator is looking at.
pub fn block<'a>(theme: &Theme, title: &'a str) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(theme.focus_border)
        .title(title)
}

/// A bordered block in the quiet colour: a pane beside the one in focus.
pub fn pane<'a>(theme: &Theme, title: &'a str) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border)
        .title(title)
}

/// The dialogs' two buttons, the focused one reversed, and how to move between them.
/// Cancel comes first: it has the focus unless the operator moved it.
pub fn buttons(theme: &Theme, cancel: &str, go: &str, focus_go: bool) -> Line<'static> {
    let (c, g) = if focus_go {
        (Style::default(), theme.selected)
    } else {
        (theme.selected, Style::default())
    };
    Line::from(vec![
        Span::styled(format!(" [ {cancel} ] "), c),
        Span::raw("   "),
        Span::styled(format!(" [ {go} ] "), g),
        Span::styled("   Tab switches · Enter chooses", theme.dim),
    ])
}

/// Where a dialog of `w` x `h` goes over `area`: centred across, a third of the way down.
pub fn dialog_area(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 3,
        width: w,
        height: h,
    }
}

/// A dialog: what is under it cleared, its lines wrapped in a warning-coloured box.
pub fn dialog(frame: &mut Frame, theme: &Theme, at: Rect, title: &str, lines: Vec<Line>) {
    frame.render_widget(Clear, at);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block(theme, title).border_style(theme.warn)),
        at,
    );
}

/// `text` in lines of at most `width` characters, broken after a space or a `/` when
/// one is near, else at the width: nothing is cut, a long path included.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut start = 0;
    while chars.len() - start > width {
        let window = &chars[start..start + width];
        let cut = window
            .iter()
            .rposition(|c| *c == ' ' || *c == '/')
            .map_or(width, |i| i + 1);
        out.push(
            window[..cut]
                .iter()
                .collect::<String>()
                .trim_end()
                .to_string(),
        );
        start += cut;
        while chars.get(start) == Some(&' ') {
            start += 1;
        }
    }
    out.push(chars[start..].iter().collect());
    out
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn wraps_after_spaces_and_slashes_and_cuts_nothing() {
        assert_eq!(wrap("short", 10), ["short"]);
        assert_eq!(wrap("", 10), [""]);
        assert_eq!(
            wrap("final pass: the journal", 12),
            ["final pass:", "the journal"]
        );
        assert_eq!(
            wrap("repository/datastore/aa/file", 12),
            ["repository/", "datastore/", "aa/file"]
        );
        assert_eq!(wrap("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        let text = "plan dms1 -> dms2: 60 new (114.4 MiB), 0 changed (0 B), 0 deleted";
        assert_eq!(wrap(text, 17).join(" ").replace("  ", " "), text);
    }
}
