//! The console's drawing, checked cell by cell with ratatui's TestBackend.

use std::path::Path;

use okmirror::config;
use okmirror::ui::app::App;
use okmirror::ui::keymap::Action;
use okmirror::ui::render::render;
use okmirror::ui::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn app() -> App {
    let cfg = config::parse_str(config::EXAMPLE, Path::new("example.toml")).unwrap();
    App::new(&cfg, "/etc/okmirror/okmirror.toml", false)
}

fn draw(app: &App, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| render(app, &Theme::mono(), f)).unwrap();
    t
}

#[test]
fn node_list_at_80x24() {
    insta::assert_snapshot!(draw(&app(), 80, 24).backend());
}

#[test]
fn help_overlay_lists_every_binding() {
    let mut a = app();
    assert!(a.apply(Action::Help));
    insta::assert_snapshot!(draw(&a, 80, 24).backend());
    // Esc closes it and never quits.
    assert!(a.apply(Action::Back));
    assert!(!a.show_help && !a.should_quit);
}

#[test]
fn a_small_terminal_gets_a_plain_message() {
    let t = draw(&app(), 60, 10);
    let text: String = t
        .backend()
        .buffer()
        .content()
        .iter()
        .map(|c| c.symbol())
        .collect();
    assert!(
        text.starts_with("terminal too small: 60x10, okmirror needs at least 80x24"),
        "{text}"
    );
}

#[test]
fn selection_moves_and_stops_at_the_ends() {
    let mut a = app();
    assert!(!a.apply(Action::Up), "already at the top");
    assert!(a.apply(Action::Down));
    assert_eq!(a.selected, 1);
    assert!(!a.apply(Action::Down), "already at the bottom");
    assert!(a.apply(Action::Top));
    assert_eq!(a.selected, 0);
    assert!(a.apply(Action::Quit));
    assert!(a.should_quit);
}
