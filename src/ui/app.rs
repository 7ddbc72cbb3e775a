//! The console's state and how it changes; drawing it is `render`'s job.

use crossterm::event::KeyEvent;

use super::keymap::{Action, action_for};
use crate::config::Config;

/// A node as the console lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeRow {
    pub name: String,
    pub ssh: String,
    pub home: String,
    pub database: String,
}

/// Everything on screen.
#[derive(Debug, Clone)]
pub struct App {
    pub pair: String,
    pub config_path: String,
    pub nodes: Vec<NodeRow>,
    pub selected: usize,
    pub show_help: bool,
    pub readonly: bool,
    pub should_quit: bool,
}

impl App {
    /// The initial state for a config.
    pub fn new(cfg: &Config, config_path: &str, readonly: bool) -> App {
        let nodes = cfg
            .nodes
            .iter()
            .map(|n| NodeRow {
                name: n.name.clone(),
                ssh: format!("{}@{}:{}", n.ssh.user, n.ssh.host, n.ssh.port),
                home: n.openkm_home.display().to_string(),
                database: format!(
                    "{}@{}:{}/{}{}",
                    n.database.user,
                    n.database.host,
                    n.database.port,
                    n.database.schema,
                    if n.database.tunnel {
                        " (ssh tunnel)"
                    } else {
                        ""
                    }
                ),
            })
            .collect();
        App {
            pair: cfg.pair.clone(),
            config_path: config_path.to_string(),
            nodes,
            selected: 0,
            show_help: false,
            readonly,
            should_quit: false,
        }
    }

    /// Applies a key press; returns true when the screen must be redrawn.
    pub fn on_key(&mut self, key: &KeyEvent) -> bool {
        let Some(action) = action_for(key) else {
            return false;
        };
        self.apply(action)
    }

    /// Applies an action; returns true when something changed.
    pub fn apply(&mut self, action: Action) -> bool {
        let last = self.nodes.len().saturating_sub(1);
        let before = (self.selected, self.show_help, self.should_quit);
        match action {
            Action::Quit => self.should_quit = true,
            Action::Help => self.show_help = !self.show_help,
            Action::Back => self.show_help = false,
            Action::Up => self.selected = self.selected.saturating_sub(1),
            Action::Down => self.selected = (self.selected + 1).min(last),
            Action::Top => self.selected = 0,
            Action::Bottom => self.selected = last,
        }
        before != (self.selected, self.show_help, self.should_quit)
    }
}
