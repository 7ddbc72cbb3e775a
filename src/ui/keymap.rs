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
    PageUp,
    PageDown,
    Top,
    Bottom,
    NextPane,
    Refresh,
    Diffs,
    Log,
    Filter,
    Command,
    Sort,
    Sync,
    Flow,
    Rejoin,
}

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Global,
    Dashboard,
    Diffs,
    /// The sync view handles its own keys (confirmations); listed for help only.
    Sync,
    /// The failover wizard handles its own keys too.
    Flow,
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
    pub scope: Scope,
    pub help: &'static str,
    /// The footer's one-word hint; `None` keeps the binding out of the footer (help only).
    pub hint: Option<&'static str>,
}

const fn b(
    keys: &'static [Key],
    label: &'static str,
    action: Action,
    scope: Scope,
    help: &'static str,
    hint: Option<&'static str>,
) -> Binding {
    Binding {
        keys,
        label,
        action,
        scope,
        help,
        hint,
    }
}

use Key::{Char, Code, Ctrl};
use Scope::{Dashboard, Diffs, Global};

/// Every binding of the console.
pub const BINDINGS: &[Binding] = &[
    b(
        &[Char('?')],
        "?",
        Action::Help,
        Global,
        "show or hide this help",
        Some("help"),
    ),
    b(
        &[Char('d')],
        "d",
        Action::Diffs,
        Dashboard,
        "pending file diffs (main -> mirror)",
        Some("diffs"),
    ),
    b(
        &[Char('S')],
        "S",
        Action::Sync,
        Dashboard,
        "sync main -> mirror: plan, confirm, run, verify",
        Some("sync"),
    ),
    b(
        &[Char('F')],
        "F",
        Action::Flow,
        Dashboard,
        "failover / switchover wizard (and resume)",
        Some("failover"),
    ),
    b(
        &[Char('R')],
        "R",
        Action::Rejoin,
        Dashboard,
        "rejoin a stale former main as the mirror",
        None,
    ),
    b(
        &[Char('r')],
        "r",
        Action::Refresh,
        Global,
        "probe now and plan the diffs again",
        Some("refresh"),
    ),
    b(
        &[Char('l')],
        "l",
        Action::Log,
        Global,
        "show or hide the log pane",
        Some("log"),
    ),
    b(
        &[Char('/')],
        "/",
        Action::Filter,
        Diffs,
        "filter the diffs by path",
        Some("filter"),
    ),
    b(
        &[Char('s')],
        "s",
        Action::Sort,
        Diffs,
        "sort by path, size, kind",
        Some("sort"),
    ),
    b(
        &[Char(':')],
        ":",
        Action::Command,
        Global,
        "command (:q :diffs :dash :log :sort size :refresh)",
        None,
    ),
    b(
        &[Char('j'), Code(KeyCode::Down)],
        "j/↓",
        Action::Down,
        Global,
        "down",
        None,
    ),
    b(
        &[Char('k'), Code(KeyCode::Up)],
        "k/↑",
        Action::Up,
        Global,
        "up",
        None,
    ),
    b(
        &[Code(KeyCode::PageDown), Ctrl('f')],
        "PgDn",
        Action::PageDown,
        Global,
        "page down",
        None,
    ),
    b(
        &[Code(KeyCode::PageUp), Ctrl('b')],
        "PgUp",
        Action::PageUp,
        Global,
        "page up",
        None,
    ),
    b(
        &[Char('g'), Code(KeyCode::Home)],
        "g",
        Action::Top,
        Global,
        "first line",
        None,
    ),
    b(
        &[Char('G'), Code(KeyCode::End)],
        "G",
        Action::Bottom,
        Global,
        "last line",
        None,
    ),
    b(
        &[Code(KeyCode::Tab)],
        "Tab",
        Action::NextPane,
        Dashboard,
        "next pane (nodes, alerts)",
        None,
    ),
    b(
        &[Code(KeyCode::Esc)],
        "Esc",
        Action::Back,
        Global,
        "back / close / cancel (never quits)",
        Some("back"),
    ),
    b(
        &[Char('q'), Ctrl('c')],
        "q",
        Action::Quit,
        Global,
        "quit (Ctrl-C too)",
        Some("quit"),
    ),
];

/// Bindings that change the pair: hidden and ignored in `--readonly` consoles.
pub fn is_mutating(a: Action) -> bool {
    matches!(a, Action::Sync | Action::Flow | Action::Rejoin)
}

/// The action bound to a key press in a scope, if any.
pub fn action_for(ev: &KeyEvent, scope: Scope) -> Option<Action> {
    BINDINGS
        .iter()
        .filter(|b| b.scope == Scope::Global || b.scope == scope)
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
    fn keys_map_to_actions_by_scope() {
        let key = |c, m| KeyEvent::new(c, m);
        let none = KeyModifiers::NONE;
        assert_eq!(
            action_for(&key(KeyCode::Char('q'), none), Dashboard),
            Some(Action::Quit)
        );
        assert_eq!(
            action_for(&key(KeyCode::Char('c'), KeyModifiers::CONTROL), Diffs),
            Some(Action::Quit)
        );
        assert_eq!(action_for(&key(KeyCode::Char('c'), none), Dashboard), None);
        assert_eq!(
            action_for(&key(KeyCode::Esc, none), Diffs),
            Some(Action::Back)
        );
        assert_eq!(
            action_for(&key(KeyCode::Char('/'), none), Diffs),
            Some(Action::Filter)
        );
        assert_eq!(action_for(&key(KeyCode::Char('/'), none), Dashboard), None);
        assert_eq!(
            action_for(&key(KeyCode::Char('d'), none), Dashboard),
            Some(Action::Diffs)
        );
        assert_eq!(
            action_for(&key(KeyCode::Char('S'), KeyModifiers::SHIFT), Dashboard),
            Some(Action::Sync)
        );
        assert_eq!(
            action_for(&key(KeyCode::Char('G'), KeyModifiers::SHIFT), Diffs),
            Some(Action::Bottom)
        );
    }

    #[test]
    fn no_key_is_bound_twice_in_one_scope() {
        for (i, a) in BINDINGS.iter().enumerate() {
            for bnd in &BINDINGS[i + 1..] {
                let overlap = a.scope == bnd.scope || a.scope == Global || bnd.scope == Global;
                for ka in a.keys {
                    for kb in bnd.keys {
                        let same = format!("{ka:?}") == format!("{kb:?}");
                        assert!(
                            !(overlap && same),
                            "{} and {} share {ka:?}",
                            a.label,
                            bnd.label
                        );
                    }
                }
            }
        }
    }
}
