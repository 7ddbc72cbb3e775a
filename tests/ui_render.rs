//! The console's drawing, checked cell by cell with ratatui's TestBackend, on a fixed
//! snapshot of a pair (no lab needed: rendering is a pure function of the state).

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
        roles: PairRoles::Normal { main: 0, mirror: 1 },
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
    assert!(a.apply(Action::Bottom));
    seen.push_str(&screen(&draw(&a, 80, 24)));
    for b in okmirror::ui::keymap::BINDINGS {
        let shown = if b.scope.takes_global() {
            b.help
        } else {
            b.hint.unwrap_or(b.help)
        };
        assert!(seen.contains(shown), "help lacks {shown:?}:\n{seen}");
    }
    for d in okmirror::ui::keymap::DIALOGS {
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

#[test]
fn sync_running_view_with_gauges() {
    use okmirror::sync::progress::{RunLine, Tracker, parse_run_line};
    let mut a = app();
    a.apply(Action::Sync);
    a.on_engine(EngineEvent::SyncDone {
        dry_run: true,
        result: Ok(sync_plan(0, false)),
    });
    let tab = KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE);
    a.on_key(&tab);
    a.on_key(&KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    a.sync_command = None;
    for p in [
        "checking roles",
        "planning",
        "bulk pass (the main stays live)",
    ] {
        a.on_engine(EngineEvent::Sync(okmirror::sync::run::SyncEvent::Phase(
            p.into(),
        )));
    }
    let mut t = Tracker::new(&sync_plan(0, false).plan);
    for l in [
        ">f+++++++++ 400000 repository/datastore/5e/0b/2a/91/5e0b2a91-one",
        "        400,000 100%   19.40MB/s    0:00:00 (xfr#1, to-chk=1/3)",
        ">f+++++++++ 30000000 repository/datastore/77/01/aa/02/770aa02-two",
        "     12,000,000  40%   19.49MB/s    0:00:01",
    ] {
        let parsed: RunLine = parse_run_line(l);
        t.update(&parsed);
        a.on_engine(EngineEvent::SyncProgress(t.clone(), 2000));
    }
    insta::assert_snapshot!(draw(&a, 100, 30).backend());
    // Esc asks before cancelling; n keeps going.
    a.on_key(&KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
    assert!(screen(&draw(&a, 100, 30)).contains("Cancel the sync?"));
    a.on_key(&key('n'));
    assert!(!screen(&draw(&a, 100, 30)).contains("Cancel the sync?"));
}

/// Issue #11's run of 60 new files: the view ended at "51/60 files" with 5 files listed
/// and the dry run's phases on top. Here most progress updates are lost on the way (as
/// when the channel is full); the end state must still be the run's.
#[test]
fn the_sync_view_ends_on_the_run_s_own_state_even_when_updates_were_lost() {
    use okmirror::sync::progress::{Tracker, parse_run_line};
    let mut a = app();
    a.apply(Action::Sync);
    a.on_engine(EngineEvent::Sync(okmirror::sync::run::SyncEvent::Phase(
        "planning (dry run): rsync scan of the Tomcat home".into(),
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
    a.on_engine(EngineEvent::Sync(okmirror::sync::run::SyncEvent::Phase(
        long.into(),
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
        s.contains("versions, the index folder and the Tomcat home's changed")
            && s.contains("│files "),
        "a long phase is shown whole, wrapped: {s}"
    );
    let listed = a.sync.as_ref().map_or(0, |u| u.files.len());
    assert!(
        listed >= 40,
        "missed updates cost only a few names: {listed} of 60"
    );
}

// ---------------------------------------------------------------- the failover wizard

fn wizard_steps() -> Vec<okmirror::failover::Step> {
    let cfg = config::parse_str(config::EXAMPLE, Path::new("example.toml")).unwrap();
    okmirror::failover::flow::plan(
        okmirror::failover::FlowKind::Switchover,
        &okmirror::failover::flow::Ends {
            cfg: &cfg,
            old: 0,
            new: 1,
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
    assert_eq!(kinds(&s), [(FlowKind::Switchover, 0, 1)]);
    s.roles = PairRoles::Partial {
        known: 1,
        role: Role::Mirror,
    };
    assert_eq!(kinds(&s), [(FlowKind::Failover, 0, 1)]);
    s.roles = PairRoles::SplitBrain;
    assert_eq!(
        kinds(&s),
        [
            (FlowKind::Rejoin, 0, 1),
            (FlowKind::Rejoin, 1, 0),
            (FlowKind::Reseed, 0, 1),
            (FlowKind::Reseed, 1, 0)
        ]
    );
    // A read-only node replicating from nobody is a stale former main.
    s.roles = PairRoles::Normal { main: 1, mirror: 0 };
    s.nodes[0].db.as_mut().unwrap().read_only = true;
    assert_eq!(
        kinds(&s),
        [(FlowKind::Rejoin, 0, 1), (FlowKind::Reseed, 0, 1)]
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
