//! The console (TUI): a thin face over the engine. State lives in `app`, drawing in
//! `render`, keys in `keymap`; this module runs the event loop.

pub mod app;
pub mod keymap;
pub mod render;
pub mod terminal;
pub mod theme;

use std::path::Path;

use color_eyre::eyre::{Result, WrapErr};
use crossterm::event::{Event, EventStream, KeyEventKind};
use futures::StreamExt;

use crate::config::Config;
use app::App;
use theme::Theme;

/// Opens the console on a pair and runs it until the operator quits.
pub async fn run(cfg: Config, config_path: std::path::PathBuf, readonly: bool) -> Result<()> {
    let mut terminal = terminal::enter()?;
    let result = event_loop(&mut terminal, &cfg, &config_path, readonly).await;
    terminal::leave();
    result
}

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    cfg: &Config,
    config_path: &Path,
    readonly: bool,
) -> Result<()> {
    let theme = Theme::from_env();
    let mut app = App::new(cfg, &config_path.display().to_string(), readonly);
    let mut events = EventStream::new();
    let mut dirty = true;
    tracing::info!(pair = %cfg.pair, "console started");
    loop {
        if dirty {
            terminal
                .draw(|f| render::render(&app, &theme, f))
                .wrap_err("drawing the console")?;
            dirty = false;
        }
        match events.next().await {
            Some(Ok(Event::Key(key))) if key.kind == KeyEventKind::Press => {
                dirty = app.on_key(&key);
            }
            Some(Ok(Event::Resize(..))) => dirty = true,
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e).wrap_err("reading terminal events"),
            None => break,
        }
        if app.should_quit {
            break;
        }
    }
    tracing::info!("console closed");
    Ok(())
}
