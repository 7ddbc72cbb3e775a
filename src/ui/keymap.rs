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
    /// Dialogs: move the focus between the buttons.
    Switch,
    /// Dialogs: take the focused button, or answer.
    Choose,
    Yes,
    No,
    /// Erase the last typed character of a typed confirmation.
    Erase,
    /// The wizard's offer to resume: roll the unfinished flow back instead.
    RollBack,
}

/// Where a binding applies. The views (dashboard, diffs) also take the global keys;
/// dialogs take only their own, so a typed confirmation gets every letter as text. The
/// sync view's file list scrolls while the sync runs and after it is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Global,
    Dashboard,
    Diffs,
    /// The sync view's list of files (taken while it runs and once it is done).
    SyncFiles,
    /// A plan or flow to confirm: Cancel or Go (the sync's, the wizard's review).
    Confirm,
    /// The wizard's offer to resume an unfinished flow.
    Resume,
    /// The wizard's list of flows that apply.
    Choose,
    /// A sync moving files.
    SyncRunning,
    /// "Cancel the sync?"
    CancelAsk,
    /// A sync that ended well (or was cancelled): its files stay to be read.
    SyncDone,
    /// A flow step's yes/no confirmation.
    Ask,
    /// A flow step's confirmation by a typed node name.
    Typed,
    /// A finished (or failed) sync or flow, or one still planning.
    Finished,
    /// A flow running between its questions: no key acts.
    FlowRunning,
}

impl Scope {
    /// Every scope, in the order help lists them.
    pub const ALL: &[Scope] = &[
        Scope::Global,
        Scope::Dashboard,
        Scope::Diffs,
        Scope::SyncFiles,
        Scope::Choose,
        Scope::Confirm,
        Scope::Resume,
        Scope::Ask,
        Scope::Typed,
        Scope::SyncRunning,
        Scope::CancelAsk,
        Scope::SyncDone,
        Scope::Finished,
        Scope::FlowRunning,
    ];

    /// Whether the global keys (quit, help, scrolling) apply here.
    pub fn takes_global(self) -> bool {
        matches!(self, Scope::Global | Scope::Dashboard | Scope::Diffs)
    }

    /// Whether the bindings of `other` are in force in this scope.
    pub fn includes(self, other: Scope) -> bool {
        self == other
            || (self.takes_global() && other == Scope::Global)
            || (matches!(self, Scope::SyncRunning | Scope::SyncDone) && other == Scope::SyncFiles)
    }

    /// Whether help lists this scope's bindings one per line (a view's keys), or all on
    /// one line (a dialog's).
    pub fn is_view(self) -> bool {
        self.takes_global() || self == Scope::SyncFiles
    }

    /// How the help overlay names the scope.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Global => "",
            Scope::Dashboard => "dashboard",
            Scope::Diffs => "diffs",
            Scope::SyncFiles => "sync files",
            Scope::Confirm => "confirm",
            Scope::Resume => "resume offer",
            Scope::Choose => "failover wizard",
            Scope::SyncRunning => "sync running",
            Scope::CancelAsk => "cancel?",
            Scope::SyncDone => "sync done",
            Scope::Ask => "step question",
            Scope::Typed => "typed confirmation",
            Scope::Finished => "sync/flow ended",
            Scope::FlowRunning => "flow running",
        }
    }

    /// A line for the footer where keys alone do not say it.
    pub fn note(self) -> Option<&'static str> {
        match self {
            Scope::FlowRunning => Some("running: wait for its questions"),
            Scope::Typed => Some("type the node's name"),
            _ => None,
        }
    }
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
use Scope::{
    Ask, CancelAsk, Choose, Confirm, Dashboard, Diffs, Finished, Global, Resume, SyncDone,
    SyncFiles, SyncRunning, Typed,
};

const TAB_ARROWS: &[Key] = &[
    Code(KeyCode::Tab),
    Code(KeyCode::BackTab),
    Code(KeyCode::Left),
    Code(KeyCode::Right),
];
const ENTER: &[Key] = &[Code(KeyCode::Enter)];
const LEAVE: &[Key] = &[Code(KeyCode::Esc), Char('q'), Ctrl('c')];
const ESC_CTRL_C: &[Key] = &[Code(KeyCode::Esc), Ctrl('c')];

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
        "probe now and scan the diffs (the whole Tomcat home)",
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
        "command line (commands below)",
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
    // ---- dialogs: only their own keys
    b(
        TAB_ARROWS,
        "Tab",
        Action::Switch,
        Confirm,
        "move between Cancel and Go",
        Some("switch"),
    ),
    b(
        ENTER,
        "Enter",
        Action::Choose,
        Confirm,
        "take the focused button",
        Some("choose"),
    ),
    b(
        &[Code(KeyCode::Backspace)],
        "Bksp",
        Action::Erase,
        Confirm,
        "erase a typed digit (deletions to confirm)",
        Some("erase"),
    ),
    b(
        LEAVE,
        "Esc",
        Action::Back,
        Confirm,
        "back, nothing runs",
        Some("back"),
    ),
    b(
        TAB_ARROWS,
        "Tab",
        Action::Switch,
        Resume,
        "move between Later and Resume",
        Some("switch"),
    ),
    b(
        ENTER,
        "Enter",
        Action::Choose,
        Resume,
        "take the focused button",
        Some("choose"),
    ),
    b(
        &[Char('b')],
        "b",
        Action::RollBack,
        Resume,
        "roll the unfinished flow back (before promotion only)",
        Some("roll back"),
    ),
    b(
        LEAVE,
        "Esc",
        Action::Back,
        Resume,
        "later: keep the journal open",
        Some("later"),
    ),
    b(
        &[Char('k'), Code(KeyCode::Up)],
        "k/↑",
        Action::Up,
        Choose,
        "previous flow",
        None,
    ),
    b(
        &[Char('j'), Code(KeyCode::Down)],
        "j/↓",
        Action::Down,
        Choose,
        "next flow",
        Some("choose"),
    ),
    b(
        ENTER,
        "Enter",
        Action::Choose,
        Choose,
        "plan the chosen flow (nothing runs yet)",
        Some("plan"),
    ),
    b(LEAVE, "Esc", Action::Back, Choose, "back", Some("back")),
    b(
        LEAVE,
        "Esc",
        Action::Back,
        SyncRunning,
        "cancel the sync (asks first)",
        Some("cancel (asks first)"),
    ),
    b(
        &[
            Code(KeyCode::Esc),
            Code(KeyCode::Enter),
            Char('q'),
            Ctrl('c'),
        ],
        "Esc",
        Action::Back,
        SyncDone,
        "back to the dashboard",
        Some("back"),
    ),
    b(
        &[Char('j'), Code(KeyCode::Down)],
        "j/↓",
        Action::Down,
        SyncFiles,
        "next file",
        Some("scroll the files"),
    ),
    b(
        &[Char('k'), Code(KeyCode::Up)],
        "k/↑",
        Action::Up,
        SyncFiles,
        "previous file",
        None,
    ),
    b(
        &[Code(KeyCode::PageDown), Ctrl('f')],
        "PgDn",
        Action::PageDown,
        SyncFiles,
        "a page of files down",
        None,
    ),
    b(
        &[Code(KeyCode::PageUp), Ctrl('b')],
        "PgUp",
        Action::PageUp,
        SyncFiles,
        "a page of files up",
        None,
    ),
    b(
        &[Char('g'), Code(KeyCode::Home)],
        "g",
        Action::Top,
        SyncFiles,
        "first file of the run",
        None,
    ),
    b(
        &[Char('G'), Code(KeyCode::End)],
        "G",
        Action::Bottom,
        SyncFiles,
        "newest file, and follow the run again",
        None,
    ),
    b(
        &[Char('y'), Char('Y')],
        "y",
        Action::Yes,
        CancelAsk,
        "cancel the sync (a frozen main is given back)",
        Some("cancel the sync"),
    ),
    b(
        &[
            Char('n'),
            Char('N'),
            Code(KeyCode::Esc),
            Code(KeyCode::Enter),
        ],
        "n",
        Action::No,
        CancelAsk,
        "keep going",
        Some("keep going"),
    ),
    b(
        TAB_ARROWS,
        "Tab",
        Action::Switch,
        Ask,
        "move between No and Yes",
        Some("switch"),
    ),
    b(
        ENTER,
        "Enter",
        Action::Choose,
        Ask,
        "answer with the focused button",
        Some("answer"),
    ),
    b(
        ESC_CTRL_C,
        "Esc",
        Action::No,
        Ask,
        "answer no: the flow stops here, resumable",
        Some("no"),
    ),
    b(
        ENTER,
        "Enter",
        Action::Choose,
        Typed,
        "answer: yes only if the name typed matches",
        Some("answer"),
    ),
    b(
        &[Code(KeyCode::Backspace)],
        "Bksp",
        Action::Erase,
        Typed,
        "erase a typed letter",
        Some("erase"),
    ),
    b(
        ESC_CTRL_C,
        "Esc",
        Action::No,
        Typed,
        "answer no",
        Some("no"),
    ),
    b(
        &[
            Code(KeyCode::Esc),
            Code(KeyCode::Enter),
            Char('q'),
            Ctrl('c'),
        ],
        "Esc",
        Action::Back,
        Finished,
        "back to the dashboard",
        Some("back"),
    ),
];

/// Bindings that change the pair: hidden and ignored in `--readonly` consoles.
pub fn is_mutating(a: Action) -> bool {
    matches!(a, Action::Sync | Action::Flow | Action::Rejoin)
}

/// The bindings in force in a scope, in the table's order.
pub fn in_scope(scope: Scope) -> impl Iterator<Item = &'static Binding> {
    BINDINGS.iter().filter(move |b| scope.includes(b.scope))
}

/// The dialog scopes, in the order help lists them: every scope of [`Scope::ALL`] that
/// is not a view and has keys of its own (so a new dialog cannot be left out of help).
pub fn dialogs() -> impl Iterator<Item = Scope> {
    Scope::ALL
        .iter()
        .copied()
        .filter(|s| !s.is_view() && BINDINGS.iter().any(|b| b.scope == *s))
}

/// The action bound to a key press in a scope, if any.
pub fn action_for(ev: &KeyEvent, scope: Scope) -> Option<Action> {
    in_scope(scope)
        .find(|b| b.keys.iter().any(|k| matches(*k, ev)))
        .map(|b| b.action)
}

/// A `:` command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Quit,
    Diffs,
    Dashboard,
    Log,
    Refresh,
    SortPath,
    SortSize,
    SortKind,
}

/// The `:` commands: how they are typed (the first spelling is shown), and what they do.
pub const COMMANDS: &[(&[&str], Command)] = &[
    (&["q", "quit"], Command::Quit),
    (&["diffs", "diff"], Command::Diffs),
    (&["dash", "dashboard"], Command::Dashboard),
    (&["log"], Command::Log),
    (&["refresh", "r"], Command::Refresh),
    (&["sort path"], Command::SortPath),
    (&["sort size"], Command::SortSize),
    (&["sort kind"], Command::SortKind),
];

/// The command typed after `:` (words separated by any spaces).
pub fn command_for(text: &str) -> Option<Command> {
    let typed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    COMMANDS
        .iter()
        .find(|(names, _)| names.contains(&typed.as_str()))
        .map(|(_, c)| *c)
}

/// `:q :diffs :dash ...`, for help and for an unknown command's message.
pub fn command_list() -> String {
    COMMANDS
        .iter()
        .map(|(names, _)| format!(":{}", names[0]))
        .collect::<Vec<_>>()
        .join(" ")
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
                let overlap = Scope::ALL
                    .iter()
                    .any(|s| s.includes(a.scope) && s.includes(bnd.scope));
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

    #[test]
    fn help_reaches_every_scope_with_keys() {
        // The views are listed one key per line; these dialogs one line each, in this
        // order (a flow running between its questions has no key).
        assert_eq!(
            dialogs().collect::<Vec<_>>(),
            [
                Choose,
                Confirm,
                Resume,
                Ask,
                Typed,
                SyncRunning,
                CancelAsk,
                SyncDone,
                Finished
            ]
        );
        // Naming every scope here stops compiling when one is added: add it to ALL too.
        let _ = |s: Scope| match s {
            Global
            | Dashboard
            | Diffs
            | SyncFiles
            | Choose
            | Confirm
            | Resume
            | Ask
            | Typed
            | SyncRunning
            | CancelAsk
            | SyncDone
            | Finished
            | Scope::FlowRunning => (),
        };
        assert_eq!(Scope::ALL.len(), 14);
    }

    #[test]
    fn the_sync_view_scrolls_its_files_while_it_runs_and_once_done() {
        let key = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
        for scope in [SyncRunning, SyncDone] {
            assert_eq!(action_for(&key('j'), scope), Some(Action::Down));
            assert_eq!(action_for(&key('G'), scope), Some(Action::Bottom));
        }
        assert_eq!(action_for(&key('j'), CancelAsk), None);
        assert_eq!(action_for(&key('j'), Finished), None);
    }
}
