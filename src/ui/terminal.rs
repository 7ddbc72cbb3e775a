//! Entering and leaving the terminal's raw/alternate-screen mode, also on panic.

use color_eyre::eyre::{Result, WrapErr};
use ratatui::DefaultTerminal;

/// Takes over the terminal. ratatui's hook restores it if anything panics.
pub fn enter() -> Result<DefaultTerminal> {
    ratatui::try_init().wrap_err("setting up the terminal")
}

/// Gives the terminal back as it was.
pub fn leave() {
    ratatui::restore();
}
