//! The one keymap: key handling, footer hints and the `?` help overlay all read this table.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Something the operator asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    Help,
    Back,
    Up,
    Down,
    Top,
    Bottom,
}

/// A key as bound in the table.
#[derive(Debug, Clone, Copy)]
pub enum Key {
    Char(char),
    Ctrl(char),
    Code(KeyCode),
}

/// One row of the table.
pub struct Binding {
    pub keys: &'static [Key],
    /// How the keys are written in hints and help.
    pub label: &'static str,
    pub action: Action,
    pub help: &'static str,
    /// The footer's one-word hint; `None` keeps the binding out of the footer (help only).
    pub hint: Option<&'static str>,
}

/// Every binding of the console.
pub const BINDINGS: &[Binding] = &[
    Binding {
        keys: &[Key::Char('?')],
        label: "?",
        action: Action::Help,
        help: "show or hide this help",
        hint: Some("help"),
    },
    Binding {
        keys: &[Key::Char('j'), Key::Code(KeyCode::Down)],
        label: "j/↓",
        action: Action::Down,
        help: "next node",
        hint: None,
    },
    Binding {
        keys: &[Key::Char('k'), Key::Code(KeyCode::Up)],
        label: "k/↑",
        action: Action::Up,
        help: "previous node",
        hint: None,
    },
    Binding {
        keys: &[Key::Char('g'), Key::Code(KeyCode::Home)],
        label: "g",
        action: Action::Top,
        help: "first item",
        hint: None,
    },
    Binding {
        keys: &[Key::Char('G'), Key::Code(KeyCode::End)],
        label: "G",
        action: Action::Bottom,
        help: "last item",
        hint: None,
    },
    Binding {
        keys: &[Key::Code(KeyCode::Esc)],
        label: "Esc",
        action: Action::Back,
        help: "close the overlay / cancel (never quits)",
        hint: None,
    },
    Binding {
        keys: &[Key::Char('q'), Key::Ctrl('c')],
        label: "q",
        action: Action::Quit,
        help: "quit (Ctrl-C too)",
        hint: Some("quit"),
    },
];

/// The action bound to a key press, if any.
pub fn action_for(ev: &KeyEvent) -> Option<Action> {
    BINDINGS
        .iter()
        .find(|b| b.keys.iter().any(|k| matches(*k, ev)))
        .map(|b| b.action)
}

fn matches(k: Key, ev: &KeyEvent) -> bool {
    let ctrl = ev.modifiers.contains(KeyModifiers::CONTROL);
    match k {
        Key::Char(c) => !ctrl && ev.code == KeyCode::Char(c),
        Key::Ctrl(c) => ctrl && ev.code == KeyCode::Char(c),
        Key::Code(code) => !ctrl && ev.code == code,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_actions() {
        let key = |c, m| KeyEvent::new(c, m);
        assert_eq!(
            action_for(&key(KeyCode::Char('q'), KeyModifiers::NONE)),
            Some(Action::Quit)
        );
        assert_eq!(
            action_for(&key(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Action::Quit)
        );
        assert_eq!(
            action_for(&key(KeyCode::Char('c'), KeyModifiers::NONE)),
            None
        );
        assert_eq!(
            action_for(&key(KeyCode::Esc, KeyModifiers::NONE)),
            Some(Action::Back)
        );
        assert_eq!(
            action_for(&key(KeyCode::Down, KeyModifiers::NONE)),
            Some(Action::Down)
        );
        assert_eq!(
            action_for(&key(KeyCode::Char('G'), KeyModifiers::SHIFT)),
            Some(Action::Bottom)
        );
    }
}
