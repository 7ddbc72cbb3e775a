//! Diffs view at scale: memory per pending entry and frame render time with a million
//! entries, against the goals (<= 1 ms a frame). Run with `cargo bench --bench render`.

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use okmirror::config;
use okmirror::sync::{Change, ChangeKind, EntryType, Plan, PlanTotals};
use okmirror::tasks::engine::EngineEvent;
use okmirror::ui::app::App;
use okmirror::ui::keymap::Action;
use okmirror::ui::render::render;
use okmirror::ui::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const N: usize = 1_000_000;

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn main() {
    let before = rss_bytes();
    let mut totals = PlanTotals::default();
    let changes: Vec<Change> = (0..N)
        .map(|i| {
            // Real datastore paths: repository/datastore/ab/cd/ef/01/<uuid>.
            let c = Change {
                kind: if i % 10 == 0 { ChangeKind::Deleted } else { ChangeKind::New },
                entry: EntryType::File,
                path: format!(
                    "repository/datastore/{:02x}/{:02x}/{:02x}/{:02x}/{:08x}-7c1e-4b7e-9a43-0f1b2c3d4e5f",
                    i % 256,
                    (i / 7) % 256,
                    (i / 13) % 256,
                    (i / 17) % 256,
                    i
                ),
                size: (i as u64 * 7919) % 1_000_000,
            };
            totals.add(&c);
            c
        })
        .collect();
    let after = rss_bytes();
    let per_entry = (after.saturating_sub(before)) as f64 / N as f64;
    println!(
        "memory: {:.0} bytes per pending entry (struct {} B + path {} B) over {N} entries",
        per_entry,
        std::mem::size_of::<Change>(),
        changes[0].path.len()
    );

    let cfg =
        config::parse_str(config::EXAMPLE, Path::new("example.toml")).expect("example config");
    let mut app = App::new(&cfg, "bench", false);
    let plan = Plan {
        source: "a".into(),
        target: "b".into(),
        changes,
        dirs: vec![],
        totals,
        warnings: vec![],
        took_ms: 0,
        documents: Default::default(),
        basis: Default::default(),
        datastore_listed: false,
    };
    let t = Instant::now();
    app.on_engine(EngineEvent::PlanDone(Ok(Arc::new(plan))));
    println!(
        "plan -> view rows request on the UI task: {:.1} ms for {N} entries",
        t.elapsed().as_secs_f64() * 1000.0
    );
    settle(&mut app, "plan -> view rows (background)");
    app.apply(Action::Diffs);
    app.page_rows = 42;
    let theme = Theme::color();
    let mut term = Terminal::new(TestBackend::new(160, 48)).expect("terminal");
    let frames = 2000;
    let t = Instant::now();
    for i in 0..frames {
        // Scroll while drawing, as an operator holding PgDn would.
        app.apply(if i % 2 == 0 {
            Action::PageDown
        } else {
            Action::Down
        });
        term.draw(|f| render(black_box(&app), &theme, f))
            .expect("draw");
    }
    let per_frame_ms = t.elapsed().as_secs_f64() * 1000.0 / frames as f64;
    println!(
        "diffs view 160x48 with {N} entries: {per_frame_ms:.3} ms per frame; goal 1 ms: ratio {:.2}x",
        per_frame_ms / 1.0
    );

    let t = Instant::now();
    app.apply(Action::Sort);
    println!(
        "sort keystroke on the UI task: {:.3} ms",
        t.elapsed().as_secs_f64() * 1000.0
    );
    settle(&mut app, "sort by size (background)");
    app.on_key(&crossterm::event::KeyEvent::new(
        crossterm::event::KeyCode::Char('/'),
        crossterm::event::KeyModifiers::NONE,
    ));
    let t = Instant::now();
    app.on_key(&crossterm::event::KeyEvent::new(
        crossterm::event::KeyCode::Char('f'),
        crossterm::event::KeyModifiers::NONE,
    ));
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    println!(
        "filter keystroke on the UI task: {ms:.3} ms; goal 16 ms: ratio {:.4}x",
        ms / 16.0
    );
    settle(
        &mut app,
        "filter (background, the screen says filtering… meanwhile)",
    );
}

/// Runs the filter job the console runs on its blocking pool, and times it.
fn settle(app: &mut App, what: &str) {
    let Some(job) = app.diffs_job.take() else {
        println!("{what}: done inline");
        return;
    };
    let t = Instant::now();
    let rows = okmirror::ui::app::diff_rows(&job.plan, &job.filter, job.sort, &|| false)
        .expect("not stale");
    println!(
        "{what}: {:.0} ms for {N} entries",
        t.elapsed().as_secs_f64() * 1000.0
    );
    app.diffs_filtered(job.generation, rows);
}
