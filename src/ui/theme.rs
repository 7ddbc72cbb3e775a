//! Colours, or none: `NO_COLOR` gives a monochrome theme that never sends a colour code
//! (crossterm's bare reset would also drop bold/reverse highlights).

use ratatui::style::{Color, Modifier, Style};

/// The styles the console draws with.
#[derive(Debug, Clone, Copy)]
pub struct Theme {
    pub title: Style,
    pub border: Style,
    pub header: Style,
    pub selected: Style,
    pub selected_border: Style,
    pub dim: Style,
    pub key: Style,
    pub warn: Style,
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
        Theme {
            title: Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
            border: Style::new().fg(Color::DarkGray),
            header: Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
            selected: Style::new().add_modifier(Modifier::REVERSED),
            selected_border: Style::new().fg(Color::Cyan),
            dim: Style::new().fg(Color::DarkGray),
            key: Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
            warn: Style::new().fg(Color::Yellow),
        }
    }

    pub fn mono() -> Theme {
        Theme {
            title: Style::new().add_modifier(Modifier::BOLD),
            border: Style::new(),
            header: Style::new().add_modifier(Modifier::BOLD),
            selected: Style::new().add_modifier(Modifier::REVERSED),
            selected_border: Style::new().add_modifier(Modifier::BOLD),
            dim: Style::new(),
            key: Style::new().add_modifier(Modifier::BOLD),
            warn: Style::new().add_modifier(Modifier::BOLD),
        }
    }
}
