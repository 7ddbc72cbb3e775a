//! Colours, or none: `NO_COLOR` gives a monochrome theme that never sends a colour code
//! (crossterm's bare reset would also drop bold/reverse highlights).

use ratatui::style::{Color, Modifier, Style};

use crate::pair::model::Severity;

/// The styles the console draws with.
#[derive(Debug, Clone, Copy)]
pub struct Theme {
    pub title: Style,
    pub border: Style,
    pub focus_border: Style,
    pub header: Style,
    pub selected: Style,
    pub dim: Style,
    pub key: Style,
    pub ok: Style,
    pub warn: Style,
    pub crit: Style,
    pub unknown: Style,
    pub banner: Style,
    pub spark: Style,
}

impl Theme {
    /// Colour unless `NO_COLOR` is set (to anything non-empty).
    pub fn from_env() -> Theme {
        match std::env::var_os("NO_COLOR") {
            Some(v) if !v.is_empty() => Theme::mono(),
            _ => Theme::color(),
        }
    }

    pub fn color() -> Theme {
        let bold = Modifier::BOLD;
        Theme {
            title: Style::new().fg(Color::Cyan).add_modifier(bold),
            border: Style::new().fg(Color::DarkGray),
            focus_border: Style::new().fg(Color::Cyan),
            header: Style::new().fg(Color::Yellow).add_modifier(bold),
            selected: Style::new().add_modifier(Modifier::REVERSED),
            dim: Style::new().fg(Color::DarkGray),
            key: Style::new().fg(Color::Cyan).add_modifier(bold),
            ok: Style::new().fg(Color::Green),
            warn: Style::new().fg(Color::Yellow),
            crit: Style::new().fg(Color::Red).add_modifier(bold),
            unknown: Style::new().fg(Color::Magenta),
            banner: Style::new()
                .fg(Color::White)
                .bg(Color::Red)
                .add_modifier(bold),
            spark: Style::new().fg(Color::Cyan),
        }
    }

    pub fn mono() -> Theme {
        let bold = Style::new().add_modifier(Modifier::BOLD);
        Theme {
            title: bold,
            border: Style::new(),
            focus_border: bold,
            header: bold,
            selected: Style::new().add_modifier(Modifier::REVERSED),
            dim: Style::new(),
            key: bold,
            ok: Style::new(),
            warn: bold,
            crit: bold.add_modifier(Modifier::UNDERLINED),
            unknown: bold,
            banner: Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD),
            spark: Style::new(),
        }
    }

    /// The style of a severity.
    pub fn severity(&self, s: Severity) -> Style {
        match s {
            Severity::Ok => self.ok,
            Severity::Warning => self.warn,
            Severity::Critical => self.crit,
            Severity::Unknown => self.unknown,
        }
    }
}
