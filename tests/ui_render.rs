//! The console's drawing, checked cell by cell with ratatui's TestBackend, on a fixed
//! snapshot of a pair (no lab needed: rendering is a pure function of the state).

use okmirror::config::NodeId;
use std::path::Path;
use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use okmirror::config;
use okmirror::db::replica::{ReplicaStatus, ThreadState};
use okmirror::db::{DbStatus, Flavour};
use okmirror::pair::model::{Alert, FilesBehindStatus, Lag, NodeStatus, PairStatus, Severity};
use okmirror::pair::remote::RemoteFacts;
use okmirror::pair::roles::{PairRoles, Role};
use okmirror::sync::{Change, ChangeKind, EntryType, Plan, PlanTotals};
use okmirror::tasks::engine::EngineEvent;
use okmirror::ui::app::{App, View};
use okmirror::ui::keymap::Action;
use okmirror::ui::render::render;
use okmirror::ui::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn db(read_only: bool, replica: Option<ReplicaStatus>) -> DbStatus {
    DbStatus {
        version: "10.11.19-MariaDB-0+deb12u1-log".into(),
        flavour: Flavour::MariaDb,
        server_id: if read_only { 2 } else { 1 },
        read_only,
        super_read_only: None,
        system_readonly: Some(read_only),
        gtid_binlog: "0-1-4711".into(),
        gtid_applied: "0-1-4711".into(),
        replica,
    }
}

fn node(name: &str, role: Role, read_only: bool, replica: Option<ReplicaStatus>) -> NodeStatus {
    NodeStatus {
        name: name.into(),
        host: format!("{name}.example.org"),
        role,
        ssh_rtt_ms: Some(3.0),
        ssh_error: None,
        facts: Some(RemoteFacts {
            service_running: Some(true),
            service_output: "running".into(),
            disk_total: Some(1000),
            disk_free: Some(532),
            datastore_files: Some(120_431),
            datastore_bytes: Some(48_318_382_080),
            datastore_counted_at: Some(1_795_922_773),
            datastore_missing: false,
            http: Some((200, 4.2)),
            repository_uuid: Some("89385c90-ebb4-11f1-8b1b-02fc00000001".into()),
            last_sync_json: None,
            follow_json: None,
            node_now: None,
            agent_version: (name == "dms1").then(|| "0.1.0".to_string()),
            script_micros: Some(9000),
        }),
        db: Some(db(read_only, replica)),
        db_error: None,
        last_sync: None,
        last_sync_error: None,
    }
}

fn status() -> PairStatus {
    let replica = ReplicaStatus {
        io: ThreadState::Yes,
        sql: ThreadState::No,
        seconds_behind: None,
        source_host: "dms1.example.org".into(),
        source_port: Some(3306),
        io_state: "Waiting for master to send event".into(),
        sql_state: String::new(),
        last_io_error: None,
        last_sql_error: None,
        gtid_mode: true,
        retrieved_gtid: "0-1-4711".into(),
    };
    PairStatus {
        pair: "openkm-prod".into(),
        taken_at: 1_795_929_973,
        nodes: vec![
            node("dms1", Role::Main, false, None),
            node("dms2", Role::Mirror, true, Some(replica)),
        ],
        roles: PairRoles::Normal { main: A, mirror: B },
        lag: Lag {
            heartbeat_secs: Some(2.5),
            transactions_behind: Some(12),
            ..Lag::default()
        },
        pending: None,
        pending_error: None,
        files_behind: Some(FilesBehindStatus {
            node: "dms2".into(),
            count: 3,
            oldest_age_secs: Some(42.0),
            rows_checked: 180,
            follow_running: true,
            follow: Some(okmirror::pair::model::FollowRecord {
                host: "ops1".into(),
                pid: 4242,
                ..Default::default()
            }),
            ..FilesBehindStatus::default()
        }),
        alerts: vec![
            Alert {
                severity: Severity::Critical,
                node: Some("dms2".into()),
                message: "replication SQL thread stopped".into(),
            },
            Alert {
                severity: Severity::Warning,
                node: Some("dms2".into()),
                message: "no sync has ever been recorded".into(),
            },
        ],
        severity: Severity::Critical,
    }
}

fn plan(n: usize) -> Plan {
    let mut totals = PlanTotals::default();
    let changes: Vec<Change> = (0..n)
        .map(|i| {
            let kind = match i % 3 {
                0 => ChangeKind::New,
                1 => ChangeKind::Changed,
                _ => ChangeKind::Deleted,
            };
            let c = Change {
                kind,
                entry: EntryType::File,
                path: format!(
                    "repository/datastore/{:02x}/{:02x}/doc-{i:07}",
                    i % 256,
                    (i / 256) % 256
                ),
                size: if kind == ChangeKind::Deleted {
                    0
                } else {
                    (i as u64 * 7919) % 100_000
                },
            };
            totals.add(&c);
            c
        })
        .collect();
    Plan {
        source: "dms1".into(),
        target: "dms2".into(),
        changes,
        totals,
        warnings: vec![],
        took_ms: 10,
        dirs: Vec::new(),
        documents: Default::default(),
        basis: Default::default(),
        datastore_listed: false,
    }
}

fn app() -> App {
    let cfg = config::parse_str(config::EXAMPLE, Path::new("example.toml")).unwrap();
    let mut a = App::new(&cfg, "/etc/okmirror/okmirror.toml", false);
    for lag in [0.01, 0.02, 0.5, 1.5, 2.5] {
        let mut s = status();
        s.lag.heartbeat_secs = Some(lag);
        a.on_engine(EngineEvent::Snapshot(Box::new(s)));
    }
    a.on_engine(EngineEvent::PlanDone(Ok(Arc::new(plan(40)))));
    a
}

fn draw(app: &App, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| render(app, &Theme::mono(), f)).unwrap();
    t
}

fn screen(t: &Terminal<TestBackend>) -> String {
    let b = t.backend().buffer();
    (0..b.area.height)
        .map(|y| {
            (0..b.area.width)
                .map(|x| b[(x, y)].symbol())
                .collect::<String>()
                + "\n"
        })
        .collect()
}

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

#[test]
fn dashboard_80x24() {
    insta::assert_snapshot!(draw(&app(), 80, 24).backend());
}

#[test]
fn dashboard_160x48() {
    insta::assert_snapshot!(draw(&app(), 160, 48).backend());
}

#[test]
fn diffs_view_80x24() {
    let mut a = app();
    a.apply(Action::Diffs);
    a.page_rows = 18;
    insta::assert_snapshot!(draw(&a, 80, 24).backend());
}

#[test]
fn diffs_view_160x48_sorted_by_size_and_filtered() {
    let mut a = app();
    a.apply(Action::Diffs);
    a.page_rows = 42;
    a.apply(Action::Sort);
    a.on_key(&key('/'));
    for c in "/0a/".chars() {
        a.on_key(&key(c));
    }
    insta::assert_snapshot!(draw(&a, 160, 48).backend());
}

#[test]
fn an_idle_console_says_how_often_it_probes_and_a_key_marks_the_operator_present() {
    let mut a = app();
    a.on_engine(EngineEvent::Idle(Some(10)));
    let text = screen(&draw(&a, 160, 48));
    let title = text.lines().next().unwrap();
    assert!(
        title.contains("idle: every 10 s, a key probes now"),
        "{text}"
    );
    assert!(!a.key_pressed);
    a.on_key(&key('j'));
    assert!(a.key_pressed, "the event loop tells the poller");
    a.on_engine(EngineEvent::Idle(None));
    let text = screen(&draw(&a, 160, 48));
    assert!(!text.contains("idle:"), "{text}");
}

#[test]
fn split_brain_is_a_red_banner_at_the_top() {
    let mut a = app();
    let mut s = status();
    s.roles = PairRoles::SplitBrain;
    s.nodes[0].role = Role::SplitBrain;
    s.nodes[1].role = Role::SplitBrain;
    a.on_engine(EngineEvent::Snapshot(Box::new(s)));
    let text = screen(&draw(&a, 80, 24));
    let second = text.lines().nth(1).unwrap();
    assert!(
        second.contains("SPLIT BRAIN: both databases are writable"),
        "{text}"
    );
    assert!(text.contains("SPLIT BRAIN"), "{text}");
}

#[test]
fn help_overlay_lists_every_binding() {
    let mut a = app();
    assert!(a.apply(Action::Help));
    insta::assert_snapshot!(draw(&a, 80, 24).backend());
    // A short terminal scrolls to the rest: together the pages name every key of every
    // view and dialog, and the `:` commands.
    let mut seen = screen(&draw(&a, 80, 24));
    for _ in 0..okmirror::ui::keymap::BINDINGS.len() {
        assert!(a.apply(Action::Down));
        seen.push_str(&screen(&draw(&a, 80, 24)));
    }
    for b in okmirror::ui::keymap::BINDINGS {
        let shown = if b.scope.is_view() {
            b.help
        } else {
            b.hint.unwrap_or(b.help)
        };
        assert!(seen.contains(shown), "help lacks {shown:?}:\n{seen}");
    }
    for d in okmirror::ui::keymap::dialogs() {
        assert!(
            seen.contains(d.name()),
            "help lacks the {} dialog",
            d.name()
        );
    }
    assert!(seen.contains(":sort size"));
    assert!(a.apply(Action::Back));
    assert!(
        !a.show_help && !a.should_quit,
        "Esc closes help and never quits"
    );
}

#[test]
fn a_small_terminal_gets_a_plain_message() {
    let text = screen(&draw(&app(), 60, 10));
    assert!(
        text.starts_with("terminal too small: 60x10, okmirror needs at least 80x24"),
        "{text}"
    );
}

/// Runs the filter the event loop would run on the blocking pool, and hands it back.
fn settle_diffs(a: &mut okmirror::ui::app::App) {
    if let Some(job) = a.diffs_job.take() {
        let rows = okmirror::ui::app::diff_rows(&job.plan, &job.filter, job.sort, &|| false)
            .expect("not stale");
        assert!(a.diffs_filtered(job.generation, rows));
    }
}

/// Issue #13: a keystroke in the filter of a 1M-entry plan took 110 ms on the UI task.
/// Now the keystroke only asks; the filter runs elsewhere, and a stale answer is dropped.
#[test]
fn filtering_a_million_diffs_never_runs_on_the_keystroke() {
    let mut a = app();
    a.on_engine(EngineEvent::PlanDone(Ok(Arc::new(plan(1_000_000)))));
    settle_diffs(&mut a);
    a.apply(Action::Diffs);
    assert_eq!(a.diff_rows.len(), 1_000_000);
    a.on_key(&key('/'));
    a.on_key(&key('7'));
    let first = a
        .diffs_job
        .take()
        .expect("the keystroke asked for a filter");
    assert_eq!(a.diff_rows.len(), 1_000_000, "the rows wait for the answer");
    assert!(screen(&draw(&a, 100, 24)).contains("filtering…"));
    a.on_key(&key('7'));
    let second = a.diffs_job.take().expect("and again");
    let rows = |j: &okmirror::ui::app::DiffsJob| {
        okmirror::ui::app::diff_rows(&j.plan, &j.filter, j.sort, &|| false).unwrap()
    };
    // The first answer arrives late: dropped, it is not what is typed now.
    assert!(!a.diffs_filtered(first.generation, rows(&first)));
    assert!(a.diffs_filtered(second.generation, rows(&second)));
    assert!(a.diff_rows.len() < 1_000_000 && !a.diff_rows.is_empty());
    let s = screen(&draw(&a, 100, 24));
    assert!(!s.contains("filtering…") && s.contains("filter: 77"), "{s}");
    // A stale job stops early instead of finishing its scan.
    assert_eq!(
        okmirror::ui::app::diff_rows(&second.plan, "7", second.sort, &|| true),
        None
    );
}

#[test]
fn the_diffs_list_scrolls_through_a_million_entries() {
    let mut a = app();
    a.on_engine(EngineEvent::PlanDone(Ok(Arc::new(plan(1_000_000)))));
    settle_diffs(&mut a);
    a.apply(Action::Diffs);
    a.page_rows = 18;
    a.apply(Action::Bottom);
    assert_eq!(a.diff_selected, 999_999);
    let text = screen(&draw(&a, 80, 24));
    assert!(text.contains("doc-0999999"), "{text}");
    assert!(text.contains("1000000 of 1000000 shown"), "{text}");
    a.apply(Action::PageUp);
    assert_eq!(a.diff_selected, 999_999 - 18);
    a.apply(Action::Top);
    assert!(screen(&draw(&a, 80, 24)).contains("doc-0000000"));
}

#[test]
fn command_mode_and_escape() {
    let mut a = app();
    a.on_key(&key(':'));
    for c in "diffs".chars() {
        a.on_key(&key(c));
    }
    a.on_key(&KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    assert_eq!(a.view, View::Diffs);
    a.on_key(&KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
    assert_eq!(a.view, View::Dashboard);
    a.on_key(&KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
    assert!(!a.should_quit, "Esc never quits");
    a.on_key(&key(':'));
    a.on_key(&key('x'));
    a.on_key(&KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    assert!(screen(&draw(&a, 80, 24)).contains("unknown command :x"));
    a.on_key(&key(':'));
    a.on_key(&key('q'));
    a.on_key(&KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    assert!(a.should_quit);
}

#[test]
fn alerts_keep_their_first_seen_time_and_list_newest_first() {
    let mut a = app();
    assert_eq!(a.alerts.len(), 2);
    let first_seen = a.alerts[0].0;
    let mut s = status();
    s.taken_at += 60;
    s.lag.heartbeat_secs = Some(7.3);
    s.alerts.push(Alert {
        severity: Severity::Warning,
        node: None,
        message: "replication lag 7.3 s (warning at 5 s)".into(),
    });
    a.on_engine(EngineEvent::Snapshot(Box::new(s.clone())));
    assert_eq!(
        a.alerts[0].1.message,
        "replication lag 7.3 s (warning at 5 s)"
    );
    assert_eq!(a.alerts[0].0, first_seen + 60, "the new alert is first");
    assert_eq!(a.alerts[1].0, first_seen, "older alerts keep their time");
    // The same alert with another number is still the same alert.
    s.taken_at += 5;
    s.alerts[2].message = "replication lag 8.1 s (warning at 5 s)".into();
    a.on_engine(EngineEvent::Snapshot(Box::new(s.clone())));
    assert_eq!(a.alerts[0].0, first_seen + 60);
    // Cleared alerts disappear.
    s.alerts.truncate(1);
    a.on_engine(EngineEvent::Snapshot(Box::new(s)));
    assert_eq!(a.alerts.len(), 1);
}

fn sync_plan(deleted: u64, refusal: bool) -> okmirror::sync::run::SyncReport {
    okmirror::sync::run::SyncReport {
        source: "dms1".into(),
        target: "dms2".into(),
        plan: PlanTotals {
            new_files: 120,
            new_bytes: 48_000_000,
            changed_files: 2,
            changed_bytes: 4096,
            deleted,
            ..PlanTotals::default()
        },
        dry_run: true,
        files: 0,
        bytes: 0,
        duration_ms: 900,
        main_downtime_ms: 0,
        gtid_position: None,
        verified: false,
        verified_files: 0,
        mismatches: vec![],
        refusal: refusal.then(|| {
            format!("refusing to sync: the plan deletes {deleted} files on the mirror (80.0% of its 250)")
        }),
        cancelled: false,
        newer_than_sync: 0,
        verify_ms: 0,
        planned_by: okmirror::config::PlanMode::Scan,
        repaired: 0,
        downtime_parts: Default::default(),
    }
}

#[test]
fn sync_confirmation_focuses_cancel_and_wants_the_deletions_typed() {
    use okmirror::ui::sync_state::{Stage, SyncCommand};
    let mut a = app();
    a.apply(Action::Sync);
    assert_eq!(a.view, View::Sync);
    assert!(a.sync_plan_requested);
    a.on_engine(EngineEvent::SyncDone {
        dry_run: true,
        result: Ok(sync_plan(200, true)),
    });
    insta::assert_snapshot!(draw(&a, 100, 24).backend());
    let enter = KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE);
    let tab = KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE);
    // Enter on the default focus (Cancel) starts nothing.
    a.on_key(&tab);
    a.on_key(&enter);
    assert_eq!(a.sync_command, None, "the number was not typed yet");
    for c in "200".chars() {
        a.on_key(&key(c));
    }
    a.on_key(&enter);
    assert_eq!(
        a.sync_command,
        Some(SyncCommand::Start {
            allow_deletes: Some(200)
        })
    );
    assert_eq!(a.sync.as_ref().unwrap().stage, Stage::Running);
}

#[test]
fn a_journal_plan_says_where_its_deletions_are_found() {
    let mut a = app();
    a.apply(Action::Sync);
    let mut plan = sync_plan(0, false);
    plan.planned_by = okmirror::config::PlanMode::Journal;
    a.on_engine(EngineEvent::SyncDone {
        dry_run: true,
        result: Ok(plan),
    });
    let text = screen(&draw(&a, 160, 30));
    assert!(
        text.contains("datastore from OpenKM's version journal"),
        "{text}"
    );
    assert!(text.contains("deletions under the same guard"), "{text}");
    let mut a = app();
    a.apply(Action::Sync);
    a.on_engine(EngineEvent::SyncDone {
        dry_run: true,
        result: Ok(sync_plan(0, false)),
    });
    assert!(!screen(&draw(&a, 160, 30)).contains("version journal"));
}

#[test]
fn sync_cancel_on_enter_closes_and_readonly_hides_sync() {
    let mut a = app();
    a.apply(Action::Sync);
    a.on_engine(EngineEvent::SyncDone {
        dry_run: true,
        result: Ok(sync_plan(0, false)),
    });
    a.on_key(&KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    assert_eq!(a.view, View::Dashboard, "Cancel has the focus by default");
    assert!(a.sync.is_none());

    let cfg = config::parse_str(config::EXAMPLE, Path::new("example.toml")).unwrap();
    let mut ro = App::new(&cfg, "x", true);
    ro.apply(Action::Sync);
    assert_eq!(ro.view, View::Dashboard);
    let text = screen(&draw(&ro, 80, 24));
    assert!(
        text.lines()
            .last()
            .unwrap()
            .contains("read-only console: sync is not available")
    );
    ro.apply(Action::Top);
    let text = screen(&draw(&ro, 80, 24));
    let footer = text.lines().last().unwrap();
    assert!(
        !footer.contains("sync"),
        "no sync hint in a read-only console: {footer}"
    );
    ro.apply(Action::Help);
    assert!(
        !screen(&draw(&ro, 80, 24)).contains(" S "),
        "nor in its help"
    );
}

/// Issue #11's run of 60 new files: the view ended at "51/60 files" with 5 files listed
/// and the dry run's phases on top. Here most progress updates are lost on the way (as
/// when the channel is full); the end state must still be the run's.
#[test]
fn the_sync_view_ends_on_the_run_s_own_state_even_when_updates_were_lost() {
    use okmirror::sync::progress::{Tracker, parse_run_line};
    let mut a = app();
    a.apply(Action::Sync);
    a.on_engine(EngineEvent::Sync(okmirror::sync::run::SyncEvent::phase(
        "planning (dry run): rsync scan of the Tomcat home",
    )));
    let mut plan = sync_plan(0, false);
    plan.plan.new_files = 60;
    plan.plan.changed_files = 0;
    plan.plan.new_bytes = 60 * 2_000_000;
    plan.plan.changed_bytes = 0;
    a.on_engine(EngineEvent::SyncDone {
        dry_run: true,
        result: Ok(plan.clone()),
    });
    a.on_key(&KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE));
    a.on_key(&KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    let long = "final pass (the main is frozen): the journal's new versions, the index folder and the Tomcat home's changed files";
    a.on_engine(EngineEvent::Sync(okmirror::sync::run::SyncEvent::phase(
        long,
    )));
    let mut t = Tracker::new(&plan.plan);
    for i in 1..=60 {
        let name = format!("repository/datastore/aa/bb/cc/{i:02}/file-{i:02}");
        for l in [
            format!(">f+++++++++ 2000000 {name}"),
            format!("      2,000,000 100%   19.40MB/s    0:00:00 (xfr#{i}, to-chk=0/60)"),
        ] {
            t.update(&parse_run_line(&l));
            // Only one update in seven arrives.
            if i % 7 == 0 {
                a.on_engine(EngineEvent::SyncProgress(t.clone(), 3000));
            }
        }
    }
    // The transfer's last update is always delivered.
    a.on_engine(EngineEvent::SyncProgress(t.clone(), 3000));
    let mut report = plan.clone();
    report.dry_run = false;
    report.files = 60;
    report.verified = true;
    report.verified_files = 60;
    a.on_engine(EngineEvent::SyncDone {
        dry_run: false,
        result: Ok(report),
    });
    let s = screen(&draw(&a, 120, 40));
    assert!(s.contains("60/60 files"), "{s}");
    assert!(s.contains("file-60") && s.contains("file-59"), "{s}");
    assert!(!s.contains("moving"), "every file is done at the end: {s}");
    assert!(
        !s.contains("planning (dry run)"),
        "the dry run's phases are gone: {s}"
    );
    assert!(
        s.contains("versions, the index folder and the Tomcat home's")
            && s.lines()
                .any(|l| l.trim_matches(['│', ' ']) == "changed files"),
        "a long phase is shown whole, wrapped: {s}"
    );
    let listed = a.sync.as_ref().map_or(0, |u| u.files.len());
    assert!(
        listed >= 40,
        "missed updates cost only a few names: {listed} of 60"
    );
}

// ------------------------------------------------- the sync view of a run of 60 files

use okmirror::sync::progress::{Tracker, parse_run_line};
use okmirror::sync::run::{SyncEvent, SyncReport};
use std::time::{Duration, Instant};

const A: NodeId = NodeId::First;
const B: NodeId = NodeId::Second;

/// Each file of the run is 2 MB (the files).
const FILE_BYTES: u64 = 2_000_000;

/// File `i` of the run: a datastore path and the document it belongs to.
fn run_file(i: usize) -> (String, String, String) {
    let uuid = format!("{:08x}-7c1e-4b7e-9a43-0f1b2c3d4e5f", 0xa1b2_c300 + i);
    let path = format!(
        "repository/datastore/{}/{}/{}/{}/{uuid}",
        &uuid[0..2],
        &uuid[2..4],
        &uuid[4..6],
        &uuid[6..8]
    );
    let doc = format!("/okm:root/Contracts/2026/contract-{i:02}.pdf");
    (path, uuid, doc)
}

/// The plan of a run of `n` new files.
fn run_plan(n: u64) -> SyncReport {
    let mut plan = sync_plan(0, false);
    plan.plan.new_files = n;
    plan.plan.new_bytes = n * FILE_BYTES;
    plan.plan.changed_files = 0;
    plan.plan.changed_bytes = 0;
    plan
}

/// A run of 60 files, driven with made-up times so its screens are the same each time.
struct Run {
    app: App,
    t0: Instant,
    tracker: Tracker,
}

impl Run {
    /// The sync view after the dry run (its own phases shown) and the confirmation.
    fn confirmed() -> Run {
        let mut app = app();
        app.apply(Action::Sync);
        let t0 = Instant::now();
        let mut run = Run {
            app,
            t0,
            tracker: Tracker::new(&run_plan(60).plan),
        };
        run.phase(0, "checking roles and locks");
        run.phase(90, "planning (dry run): rsync scan of the Tomcat home");
        run.ui()
            .on_done_at(true, Ok(run_plan(60)), t0 + Duration::from_millis(900));
        run.app
            .on_key(&KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE));
        run.app
            .on_key(&KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
        let docs = (1..=60)
            .map(|i| {
                let (_, uuid, doc) = run_file(i);
                (uuid, doc)
            })
            .collect();
        run.ui().on_event_at(SyncEvent::Documents(docs), t0);
        run
    }

    fn ui(&mut self) -> &mut okmirror::ui::sync_state::SyncUi {
        self.app.sync.as_mut().expect("the sync view is open")
    }

    fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    fn phase(&mut self, ms: u64, title: &str) {
        let at = self.at(ms);
        self.ui().on_event_at(SyncEvent::phase(title), at);
    }

    /// rsync's lines for `line` at `ms`; the view hears of it only when `deliver`.
    fn line(&mut self, ms: u64, line: &str, deliver: bool) {
        self.tracker.update_at(&parse_run_line(line), self.at(ms));
        if deliver {
            self.app
                .on_engine(EngineEvent::SyncProgress(self.tracker.clone(), ms));
        }
    }

    /// The run's phases up to the bulk pass.
    fn start_bulk(&mut self) {
        let summary = run_plan(60).plan.summary();
        for (ms, title) in [
            (1000, "checking roles and locks".to_string()),
            (1120, "preflight: dms1 can reach dms2 over SSH".into()),
            (
                1480,
                "source check: dms1's datastore holds 256 of 256 sampled versions (120431 recorded)"
                    .into(),
            ),
            (2300, "planning".into()),
            (4400, format!("plan dms1 -> dms2: {summary}")),
            (4450, "bulk pass (the main stays live)".into()),
        ] {
            self.phase(ms, &title);
        }
    }

    /// File `i` (1-based) starts at its time and, when `finish`, ends 95 ms later; the
    /// view hears of the file's start only when `deliver`.
    fn copy(&mut self, i: usize, finish: bool, deliver: bool) {
        let (path, _, _) = run_file(i);
        let start = 4500 + i as u64 * 100;
        self.line(start, &format!(">f+++++++++ {FILE_BYTES} {path}"), deliver);
        // rsync's first guess at a file's rate is far too low: the view must not show it.
        self.line(
            start + 30,
            "        800,000  40%   61.40kB/s    0:00:30",
            deliver,
        );
        if finish {
            self.line(
                start + 95,
                &format!(
                    "      2,000,000 100%   20.10MB/s    0:00:00 (xfr#{i}, to-chk={}/60)",
                    60 - i
                ),
                false,
            );
        }
    }

    /// The frozen phases, the verify and the record, then the report.
    fn finish(&mut self) {
        for (ms, title) in [
            (10600, "freezing: stopping OpenKM on dms1 and dms2"),
            (12300, "final pass"),
            (12900, "final pass: no new document versions"),
            (
                12950,
                "waiting for the mirror's database to apply the main's position",
            ),
            (13300, "unfreezing dms1"),
            (15100, "verifying: SHA-256 of both datastores"),
            (20800, "recording the sync on the mirror"),
        ] {
            self.phase(ms, title);
        }
        let mut report = run_plan(60);
        report.dry_run = false;
        report.files = 60;
        report.bytes = 60 * FILE_BYTES;
        report.verified = true;
        report.verified_files = 120_491;
        report.main_downtime_ms = 4800;
        report.duration_ms = 20_100;
        let end = self.at(21_100);
        self.ui().on_done_at(false, Ok(report), end);
    }

    /// A whole run of 60 files; the view hears of a file's start when `deliver(i)`.
    fn whole(deliver: impl Fn(usize) -> bool) -> Run {
        let mut run = Run::confirmed();
        run.start_bulk();
        for i in 1..=60 {
            run.copy(i, true, deliver(i));
        }
        run.finish();
        run
    }

    /// A run with 32 files copied and the 33rd moving.
    fn running() -> Run {
        let mut run = Run::confirmed();
        run.start_bulk();
        for i in 1..=33 {
            run.copy(i, i < 33, true);
        }
        run
    }

    fn key(&mut self, code: KeyCode) {
        self.app.on_key(&KeyEvent::new(code, KeyModifiers::NONE));
    }
}

/// The screen's text without spaces, line ends and borders: a text wrapped over
/// several rows is found whole in it; a text cut at a pane's edge is not.
fn squeezed(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && *c != '│')
        .collect()
}

/// Each of `texts` is on the screen whole (wrapped perhaps, never cut).
fn assert_uncut(s: &str, texts: &[&str]) {
    let all = squeezed(s);
    for t in texts {
        assert!(all.contains(&squeezed(t)), "{t:?} is cut or missing:\n{s}");
    }
}

/// What a finished run must show whole on any terminal.
const FINISHED: &[&str] = &[
    "60/60 files · 114.4 MiB/114.4 MiB · 10.9 MiB/s · done",
    "[x]  350 ms  waiting for the mirror's database to apply the main's position",
    "[x]  300 ms  recording the sync on the mirror",
    "verified     1.9 MiB   20.1 MiB/s  /okm:root/Contracts/2026/contract-60.pdf  (datastore a1b2c33c…)",
    "verified: 120491 files identical (SHA-256)",
    "main down 4.8 s · took 20.1 s (Esc: back)",
    "Esc back  j/↓ scroll the files",
];

/// What a running sync must show whole on any terminal.
const RUNNING: &[&str] = &[
    "32/60 files · 61.8 MiB/114.4 MiB · 7.9 MiB/s · ETA 6.7 s",
    "[x]   50 ms  plan dms1 -> dms2: 60 new (114.4 MiB), 0 changed (0 B), 0 deleted",
    "[>]          bulk pass (the main stays live)",
    "moving 40%   1.9 MiB   25.4 MiB/s  /okm:root/Contracts/2026/contract-33.pdf  (datastore a1b2c321…)",
    "Esc cancel (asks first)  j/↓ scroll the files",
];

#[test]
fn a_finished_run_of_60_files_80x24() {
    let run = Run::whole(|_| true);
    let t = draw(&run.app, 80, 24);
    assert_uncut(&screen(&t), FINISHED);
    insta::assert_snapshot!(t.backend());
}

#[test]
fn a_finished_run_of_60_files_120x40() {
    let run = Run::whole(|_| true);
    let t = draw(&run.app, 120, 40);
    let s = screen(&t);
    assert_uncut(&s, FINISHED);
    // Everything fits at once here: every phase, once.
    assert_uncut(
        &s,
        &[
            "[x]  120 ms  checking roles and locks",
            "[x]   6.2 s  bulk pass (the main stays live)",
        ],
    );
    insta::assert_snapshot!(t.backend());
}

#[test]
fn a_running_sync_80x24() {
    let run = Run::running();
    let t = draw(&run.app, 80, 24);
    assert_uncut(&screen(&t), RUNNING);
    insta::assert_snapshot!(t.backend());
}

#[test]
fn a_running_sync_120x40() {
    let run = Run::running();
    let t = draw(&run.app, 120, 40);
    let s = screen(&t);
    assert_uncut(&s, RUNNING);
    assert_uncut(&s, &["[x]  120 ms  checking roles and locks"]);
    insta::assert_snapshot!(t.backend());
    // Esc asks before cancelling; n keeps going.
    let mut run = run;
    run.key(KeyCode::Esc);
    let s = screen(&draw(&run.app, 80, 24));
    assert_uncut(&s, &["y: cancel the sync    n / Esc: keep going"]);
    run.key(KeyCode::Char('n'));
    assert!(!screen(&draw(&run.app, 80, 24)).contains("Cancel the sync?"));
}

/// Issue #11: a run of 60 new files ended at "51/60 files" when the last updates were
/// lost on the way (the UI's channel drops progress it has no time for).
#[test]
fn the_gauge_ends_at_the_real_totals_when_the_last_updates_are_lost() {
    let run = Run::whole(|i| i <= 51);
    let s = screen(&draw(&run.app, 120, 40));
    assert!(s.contains("60/60 files · 114.4 MiB/114.4 MiB"), "{s}");
    assert!(s.contains("sync: done"), "{s}");
    assert!(!s.contains("51/60"), "{s}");
}

/// Every file of the run is listed with its size and end state; the keymap's keys
/// scroll the list (g first, j down, PgDn a page, G back to the newest).
#[test]
fn every_file_of_the_run_is_listed_and_the_list_scrolls() {
    let mut run = Run::whole(|i| i % 7 == 0);
    run.key(KeyCode::Char('g'));
    assert_eq!(run.ui().files_cursor, Some(0));
    let mut seen = screen(&draw(&run.app, 80, 24));
    assert!(seen.contains("files 1-"), "{seen}");
    for _ in 0..59 {
        run.key(KeyCode::Char('j'));
        seen.push_str(&screen(&draw(&run.app, 80, 24)));
    }
    assert_eq!(run.ui().files_cursor, Some(59));
    for i in 1..=60 {
        let name = format!("contract-{i:02}.pdf");
        let row = seen
            .lines()
            .find(|l| l.contains(&name))
            .unwrap_or_else(|| panic!("{name} never listed:\n{seen}"));
        assert!(
            row.contains("verified") && row.contains("1.9 MiB"),
            "{name}: {row}"
        );
    }
    run.key(KeyCode::Char('g'));
    for _ in 0..3 {
        run.key(KeyCode::PageDown);
    }
    assert_eq!(run.ui().files_cursor, Some(30));
    let s = screen(&draw(&run.app, 120, 40));
    assert!(
        s.contains("files 25-38 of 60"),
        "the cursor in the middle: {s}"
    );
    run.key(KeyCode::Char('k'));
    run.key(KeyCode::PageUp);
    assert_eq!(run.ui().files_cursor, Some(19));
    run.key(KeyCode::Char('G'));
    assert_eq!(run.ui().files_cursor, None, "G follows the newest again");
    let s = screen(&draw(&run.app, 80, 24));
    assert!(s.contains("of 60") && s.contains("contract-60.pdf"), "{s}");
    run.key(KeyCode::Esc);
    assert_eq!(run.app.view, View::Dashboard, "Esc still goes back");
}

/// A file's rate is its own bytes over its own time (2 MB in 95 ms), not rsync's first
/// guess (61.4 kB/s) nor an average over the run.
#[test]
fn each_file_shows_its_own_rate() {
    let run = Run::whole(|_| true);
    let s = screen(&draw(&run.app, 120, 40));
    let row = s.lines().find(|l| l.contains("contract-60.pdf")).unwrap();
    assert!(row.contains("20.1 MiB/s"), "{row}");
    assert!(!s.contains("61.4 KiB/s"), "{s}");
    let run = Run::running();
    let s = screen(&draw(&run.app, 120, 40));
    let row = s.lines().find(|l| l.contains("contract-33.pdf")).unwrap();
    // 800,000 bytes in its first 30 ms.
    assert!(
        row.contains("moving 40%") && row.contains("25.4 MiB/s"),
        "{row}"
    );
}

/// The dry run's phases make way for the run's: one checklist, each phase once, each
/// with its duration; the last one runs until the run ends.
#[test]
fn the_phases_are_one_checklist_with_their_durations() {
    let mut run = Run::running();
    let s = screen(&draw(&run.app, 120, 40));
    assert!(!s.contains("(dry run)"), "{s}");
    assert_eq!(s.matches("checking roles and locks").count(), 1, "{s}");
    assert!(s.contains("[x]  120 ms  checking roles and locks"), "{s}");
    assert!(s.contains("[x]   2.1 s  planning"), "{s}");
    assert!(s.contains("[>]          bulk pass"), "{s}");
    run.finish();
    let s = screen(&draw(&run.app, 120, 40));
    assert!(s.contains("[x]   6.2 s  bulk pass"), "{s}");
    assert!(s.contains("[x]   5.7 s  verifying"), "{s}");
    assert!(s.contains("[x]  300 ms  recording the sync"), "{s}");
    assert!(!s.contains("[>]"), "{s}");
}

/// Files end copied, verified, skipped, attribute-only, deleted, mismatched, or with
/// the run: cancelled or failed.
#[test]
fn each_file_ends_in_its_own_state() {
    use okmirror::sync::manifest::Mismatch;
    let mut run = Run::confirmed();
    run.start_bulk();
    run.copy(1, true, true);
    run.copy(2, true, true);
    run.line(4800, ".f...p..... 120 conf/server.xml", true);
    run.line(4810, "*deleting   0 repository/index/old.cfs", true);
    run.line(4820, ">f+++++++++ 10 conf/vanished.txt", true);
    run.copy(3, true, true);
    run.copy(4, false, true);
    let mut cancelled = run.app.clone();
    run.finish();
    let mut report = run.ui().report.clone().unwrap();
    let (path, _, _) = run_file(2);
    report.mismatches = vec![Mismatch::Differs {
        path: path.trim_start_matches("repository/datastore/").into(),
    }];
    report.verified = false;
    let end = run.at(21_100);
    run.ui().on_done_at(false, Ok(report), end);
    let s = screen(&draw(&run.app, 120, 40));
    let state = |s: &str, name: &str| {
        s.lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("{name} missing:\n{s}"))
            .to_string()
    };
    assert!(state(&s, "contract-01.pdf").contains("verified"), "{s}");
    assert!(state(&s, "contract-02.pdf").contains("MISMATCH"), "{s}");
    assert!(state(&s, "conf/server.xml").contains("attrs only"), "{s}");
    assert!(
        state(&s, "repository/index/old.cfs").contains("deleted"),
        "{s}"
    );
    assert!(state(&s, "conf/vanished.txt").contains("skipped"), "{s}");
    // The last file was never said to be sent: the run ended well without it.
    assert!(state(&s, "contract-04.pdf").contains("skipped"), "{s}");

    let mut report = run_plan(60);
    report.dry_run = false;
    report.cancelled = true;
    let ui = cancelled.sync.as_mut().unwrap();
    let mut failed = ui.clone();
    ui.on_done(false, Ok(report));
    let s = screen(&draw(&cancelled, 120, 40));
    assert!(state(&s, "contract-04.pdf").contains("cancelled"), "{s}");
    assert!(state(&s, "contract-03.pdf").contains("copied"), "{s}");
    assert!(s.contains("sync: cancelled"), "{s}");

    failed.on_done(
        false,
        Err(okmirror::tasks::TaskError::Failed(
            "rsync: error in socket IO (code 10)".into(),
        )),
    );
    cancelled.sync = Some(failed);
    let s = screen(&draw(&cancelled, 120, 40));
    assert!(state(&s, "contract-04.pdf").contains("FAILED"), "{s}");
    assert!(
        s.contains("sync failed: rsync: error in socket IO (code 10)"),
        "{s}"
    );
    assert!(s.contains("3/60 files"), "what was copied stays: {s}");
}

// ---------------------------------------------------------------- the failover wizard

fn wizard_steps() -> Vec<okmirror::failover::Step> {
    let cfg = config::parse_str(config::EXAMPLE, Path::new("example.toml")).unwrap();
    okmirror::failover::flow::plan(
        okmirror::failover::FlowKind::Switchover,
        &okmirror::failover::flow::Ends {
            cfg: &cfg,
            old: A,
            new: B,
            flavour: Flavour::MariaDb,
        },
    )
}

#[test]
fn f_offers_a_switchover_to_the_mirror_of_a_normal_pair() {
    let mut a = app();
    a.apply(Action::Flow);
    assert_eq!(a.view, View::Flow);
    let s = screen(&draw(&a, 100, 30));
    assert!(s.contains("switchover to dms2"), "{s}");
    assert!(s.contains("planned, both nodes up: no data loss"), "{s}");
}

#[test]
fn the_diffs_view_names_datastore_files_by_their_documents_and_filters_on_them() {
    let mut a = app();
    let mut p = plan(3);
    let v = "1a3ea0ac-0b7d-4e55-9a61-2c8f0d4b7e10";
    p.changes[0].path = format!("repository/datastore/1a/3e/a0/ac/{v}");
    p.documents
        .insert(v.into(), "/okm:root/contracts/2026/acme.pdf".into());
    a.on_engine(EngineEvent::PlanDone(Ok(Arc::new(p))));
    a.apply(Action::Diffs);
    let s = screen(&draw(&a, 100, 24));
    assert!(
        s.contains("/okm:root/contracts/2026/acme.pdf  (datastore 1a3ea0ac…)"),
        "{s}"
    );
    a.filter = "acme".into();
    a.rebuild_diffs();
    assert_eq!(a.diff_rows, vec![0]);
}

#[test]
fn the_failover_review_says_what_promoting_now_would_lose() {
    let mut a = app();
    a.apply(Action::Flow);
    a.on_key(&KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    let stakes = "promoting now loses the content of 3 documents, the oldest from \
                  2026-12-03 10:00:00.000000 (42.0 s ago), unless dms1's datastore can still be read";
    a.on_engine(EngineEvent::FlowPlanned(Ok((
        wizard_steps(),
        Some(stakes.into()),
    ))));
    let s = screen(&draw(&a, 120, 30));
    assert!(
        s.contains("promoting now loses the content of 3 documents, the oldest from"),
        "{s}"
    );
    assert!(s.contains("[ Cancel ]"), "{s}");
}

#[test]
fn the_wizard_review_80x24_focuses_cancel() {
    let mut a = app();
    a.apply(Action::Flow);
    a.on_key(&KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    a.on_engine(EngineEvent::FlowPlanned(Ok((wizard_steps(), None))));
    let t = draw(&a, 80, 24);
    // Cancel carries the focus (the selected style), Start does not.
    let b = t.backend().buffer();
    let row = (0..b.area.height)
        .find(|y| {
            screen(&t)
                .lines()
                .nth(*y as usize)
                .unwrap()
                .contains("[ Cancel ]")
        })
        .unwrap();
    let line = screen(&t).lines().nth(row as usize).unwrap().to_string();
    let col = |text: &str| line.chars().take(line.find(text).unwrap()).count() as u16 + 2;
    let selected = Theme::mono().selected;
    assert_eq!(b[(col("[ Cancel ]"), row)].modifier, selected.add_modifier);
    assert_ne!(b[(col("[ Start ]"), row)].modifier, selected.add_modifier);
    insta::assert_snapshot!(t.backend());
}

#[test]
fn the_wizard_asks_for_the_new_mains_name_before_promotion_100x30() {
    use okmirror::failover::FlowEvent;
    let mut a = app();
    a.apply(Action::Flow);
    a.on_key(&KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    let steps = wizard_steps();
    a.on_engine(EngineEvent::FlowPlanned(Ok((steps.clone(), None))));
    a.on_key(&KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE));
    a.on_key(&KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    for (i, ms) in [(0usize, 412u64), (1, 1021), (2, 44), (3, 730), (4, 2)] {
        a.on_engine(EngineEvent::Flow(FlowEvent::Started(i)));
        a.on_engine(EngineEvent::Flow(FlowEvent::Done {
            step: i,
            ok: true,
            output: format!("ok {i}"),
            ms,
        }));
    }
    let (tx, mut rx) = tokio::sync::oneshot::channel();
    a.on_engine(EngineEvent::Flow(FlowEvent::Ask {
        step: Box::new(steps[5].clone()),
        reply: okmirror::failover::exec::Reply::new(tx),
    }));
    for c in "dms".chars() {
        a.on_key(&key(c));
    }
    insta::assert_snapshot!(draw(&a, 100, 30).backend());
    // A wrong name is a no.
    a.on_key(&KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    assert_eq!(rx.try_recv(), Ok(false));
}

#[test]
fn flow_choices_follow_the_pair() {
    use okmirror::failover::FlowKind;
    use okmirror::ui::app::flow_choices;
    let a = app();
    let nodes = a.nodes.clone();
    let mut s = status();
    let kinds = |s: &PairStatus| {
        flow_choices(Some(s), &nodes)
            .0
            .iter()
            .map(|c| (c.kind, c.old, c.new))
            .collect::<Vec<_>>()
    };
    assert_eq!(kinds(&s), [(FlowKind::Switchover, A, B)]);
    s.roles = PairRoles::Partial {
        known: B,
        role: Role::Mirror,
    };
    assert_eq!(kinds(&s), [(FlowKind::Failover, A, B)]);
    s.roles = PairRoles::SplitBrain;
    assert_eq!(
        kinds(&s),
        [
            (FlowKind::Rejoin, A, B),
            (FlowKind::Rejoin, B, A),
            (FlowKind::Reseed, A, B),
            (FlowKind::Reseed, B, A)
        ]
    );
    // A read-only node replicating from nobody is a stale former main.
    s.roles = PairRoles::Normal { main: B, mirror: A };
    s.nodes[0].db.as_mut().unwrap().read_only = true;
    assert_eq!(
        kinds(&s),
        [(FlowKind::Rejoin, A, B), (FlowKind::Reseed, A, B)]
    );
    assert!(flow_choices(None, &nodes).0.is_empty());
}

#[test]
fn a_readonly_console_has_no_failover() {
    let cfg = config::parse_str(config::EXAMPLE, Path::new("example.toml")).unwrap();
    let mut a = App::new(&cfg, "x.toml", true);
    a.apply(Action::Flow);
    assert_eq!(a.view, View::Dashboard);
    assert!(a.flow.is_none());
}

#[test]
fn a_journal_pending_view_says_so_on_the_dashboard_and_in_the_diffs_view_at_80x24() {
    let mut a = app();
    let mut p = plan(0);
    p.basis = okmirror::sync::pending::PlanBasis::Journal {
        since: "2026-12-03 10:00:00.123456".into(),
    };
    a.on_engine(EngineEvent::PlanDone(Ok(Arc::new(p))));
    let dash = screen(&draw(&a, 80, 24));
    assert!(
        dash.contains(" pending    none: the mirror has every new document's file · journal"),
        "{dash}"
    );
    a.apply(Action::Diffs);
    let diffs = screen(&draw(&a, 80, 24));
    assert!(
        diffs.contains(" journal since 2026-12-03 10:00:00 · datastore only · r: scan all "),
        "{diffs}"
    );
    assert!(
        diffs.contains("nothing pending: the mirror has the file of every"),
        "{diffs}"
    );
}
