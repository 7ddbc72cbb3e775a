//! The console end to end in a real terminal: tmux runs the binary on the lab's config,
//! send-keys types, capture-pane reads the screen.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

struct Tmux {
    /// The server's socket, inside `_data`: removed with it.
    socket: String,
    _data: tempfile::TempDir,
}

impl Tmux {
    /// A private tmux server (its own socket) running `okmirror --config CFG`.
    fn start(config: &std::path::Path) -> Tmux {
        Tmux::start_in(config, tempfile::tempdir().unwrap())
    }

    /// The same, with a data dir prepared by the test (e.g. holding a flow journal).
    fn start_in(config: &std::path::Path, data: tempfile::TempDir) -> Tmux {
        let socket = data.path().join("tmux.sock").display().to_string();
        let cmd = format!(
            "OKMIRROR_DATA_DIR={} {} --config {}; echo okmirror-exited=$?; sleep 600",
            data.path().display(),
            env!("CARGO_BIN_EXE_okmirror"),
            config.display()
        );
        let ok = Command::new("tmux")
            .args([
                "-S",
                &socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-x",
                "100",
                "-y",
                "30",
            ])
            .arg(cmd)
            .status()
            .expect("running tmux");
        assert!(ok.success(), "tmux did not start");
        Tmux {
            socket,
            _data: data,
        }
    }

    fn keys(&self, keys: &[&str]) {
        let ok = Command::new("tmux")
            .args(["-S", &self.socket, "send-keys"])
            .args(keys)
            .status()
            .unwrap();
        assert!(ok.success());
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["-S", &self.socket, "capture-pane", "-p"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until `text` is no longer on the screen.
    fn wait_until_gone(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.screen().contains(text) {
            assert!(Instant::now() < deadline, "{text:?} stayed on screen");
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    /// Waits until the screen shows `text` (and returns it), or fails with the screen.
    fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s = self.screen();
            if s.contains(text) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "screen never showed {text:?}:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-S", &self.socket, "kill-server"])
            .status();
    }
}

#[test]
fn the_dashboard_shows_the_pair_answers_keys_and_quits_cleanly() {
    let (lab, _g) = common::shared();
    let t = Tmux::start(&lab.config_path);
    let s = t.wait_for("MIRROR");
    assert!(s.contains("pair lab"), "{s}");
    assert!(s.contains(" alpha  MAIN"), "{s}");
    assert!(s.contains(" bravo  MIRROR"), "{s}");
    assert!(s.contains("read_only yes · sys.ro true"), "{s}");
    t.wait_for("(heartbeat)");

    t.keys(&["?"]);
    t.wait_for("Esc closes) ");
    t.keys(&["Escape"]);
    t.wait_until_gone("Esc closes) ");

    t.keys(&["d"]);
    t.wait_for("pending changes alpha -> bravo");
    t.keys(&["Escape"]);
    t.wait_for("replication");
    t.keys(&["Escape"]);
    assert!(t.screen().contains("MIRROR"), "Esc must never quit");

    t.keys(&["q"]);
    let s = t.wait_for("okmirror-exited=");
    assert!(s.contains("okmirror-exited=0"), "{s}");
    // The alternate screen is gone: the console's frame is no longer on the terminal.
    assert!(!s.contains("replication"), "terminal not restored:\n{s}");
}

#[test]
fn an_unattended_console_slows_down_and_a_key_wakes_it() {
    let (lab, _g) = common::shared();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("idle.toml");
    let text = std::fs::read_to_string(&lab.config_path).unwrap();
    std::fs::write(
        &config,
        text.replace(
            "idle_after_secs = 600\n",
            "idle_after_secs = 2\nidle_interval_secs = 30\n",
        ),
    )
    .unwrap();
    let t = Tmux::start(&config);
    t.wait_for("MIRROR");
    let s = t.wait_for("idle: every 30 s");
    // The clock of the last probe stays put while idle...
    let clock = |s: &str| {
        s.lines()
            .next()
            .and_then(|l| l.split(" at ").nth(1))
            .map(|c| c[..8].to_string())
            .unwrap()
    };
    let before = clock(&s);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(clock(&t.screen()), before, "it probed while idle");
    // ...and a key probes at once, at the normal cadence again.
    t.keys(&["j"]);
    t.wait_until_gone("idle: every 30 s");
    assert_ne!(clock(&t.screen()), before);
    t.keys(&["q"]);
    t.wait_for("okmirror-exited=0");
}

#[test]
fn ctrl_c_quits_too() {
    let (lab, _g) = common::shared();
    let t = Tmux::start(&lab.config_path);
    t.wait_for("bravo");
    t.keys(&["C-c"]);
    let s = t.wait_for("okmirror-exited=");
    assert!(s.contains("okmirror-exited=0"), "{s}");
}

#[test]
fn a_frozen_mirror_shows_as_down_and_keys_still_answer() {
    let (lab, _g) = common::exclusive();
    let t = Tmux::start(&lab.config_path);
    t.wait_for("(heartbeat)");
    common::lab_script(&["freeze", "bravo"]);
    let result = std::panic::catch_unwind(|| {
        // While probes of bravo hang until their timeout, the console keeps answering.
        let start = Instant::now();
        t.keys(&["?"]);
        t.wait_for("Esc closes) ");
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "help took {:?}",
            start.elapsed()
        );
        t.keys(&["Escape"]);
        t.wait_until_gone("Esc closes) ");
        let s = t.wait_for("DOWN");
        assert!(s.contains(" bravo  UNKNOWN"), "{s}");
        assert!(s.contains("CRITICAL"), "{s}");
        let start = Instant::now();
        t.keys(&["d"]);
        t.wait_for("pending changes");
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "d took {:?}",
            start.elapsed()
        );
    });
    common::lab_script(&["thaw", "bravo"]);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
    t.keys(&["q"]);
    t.wait_for("okmirror-exited=0");
}

#[test]
fn a_stopped_sql_thread_is_shown_with_the_reason() {
    let (lab, _g) = common::exclusive();
    let t = Tmux::start(&lab.config_path);
    t.wait_for("(heartbeat)");
    lab.sql("bravo", "STOP SLAVE SQL_THREAD");
    let result = std::panic::catch_unwind(|| {
        let s = t.wait_for("SQL stopped");
        assert!(s.contains("CRITICAL"), "{s}");
        t.wait_for("CRITICAL bravo: replication SQL thread stopped");
    });
    lab.sql("bravo", "START SLAVE SQL_THREAD");
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
    t.wait_for("SQL running");
    t.keys(&["q"]);
    t.wait_for("okmirror-exited=0");
}

#[test]
fn a_sync_from_the_console_plans_confirms_runs_and_verifies() {
    let (lab, _g) = common::exclusive();
    let t = Tmux::start(&lab.config_path);
    t.wait_for("(heartbeat)");
    t.keys(&["S"]);
    let s = t.wait_for("sync: confirm the plan");
    assert!(s.contains("alpha -> bravo"), "{s}");
    assert!(s.contains("[ Cancel ]"), "{s}");
    t.keys(&["Tab"]);
    t.keys(&["Enter"]);
    let s = t.wait_for("verified:");
    assert!(s.contains("files identical (SHA-256)"), "{s}");
    t.keys(&["Escape"]);
    t.wait_for("replication");
    // The dashboard reads the record the sync left on the mirror.
    let s = t.wait_for("alpha -> bravo, ");
    assert!(s.contains("verified"), "{s}");
    t.keys(&["q"]);
    t.wait_for("okmirror-exited=0");
}

/// Runs the okmirror CLI with `data` as its data dir; returns (code, stderr).
fn cli(config: &std::path::Path, data: &std::path::Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_okmirror"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("OKMIRROR_DATA_DIR", data)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_switchover_from_the_wizard_asks_then_moves_the_service() {
    let (lab, _g) = common::exclusive();
    let data = tempfile::tempdir().unwrap();
    let data_path = data.path().to_path_buf();
    let t = Tmux::start_in(&lab.config_path, data);
    t.wait_for("(heartbeat)");
    t.keys(&["F"]);
    t.wait_for("switchover to bravo");
    t.keys(&["Enter"]);
    let s = t.wait_for("[ Cancel ]");
    assert!(s.contains("promote bravo's database  (type bravo)"), "{s}");
    // Enter on the default focus cancels: nothing runs.
    t.keys(&["Enter"]);
    t.wait_for("replication");
    t.keys(&["F"]);
    t.wait_for("switchover to bravo");
    t.keys(&["Enter"]);
    t.wait_for("[ Cancel ]");
    t.keys(&["Tab"]);
    t.keys(&["Enter"]);
    // The freeze asks yes/no, Cancel focused.
    let s = t.wait_for(" confirm ");
    assert!(s.contains("freeze alpha: writes stop here"), "{s}");
    t.keys(&["Tab"]);
    t.keys(&["Enter"]);
    let s = t.wait_for("Type bravo to confirm");
    assert!(s.contains("promote bravo's database"), "{s}");
    t.keys(&["-l", "bravo"]);
    t.keys(&["Enter"]);
    let s = t.wait_for("completed · journal");
    assert!(s.contains("[x]"), "{s}");
    t.keys(&["Escape"]);
    let s = t.wait_for(" bravo  MAIN");
    assert!(s.contains(" alpha  MIRROR"), "{s}");
    t.keys(&["q"]);
    t.wait_for("okmirror-exited=0");
    // Back to the lab's standard roles, from the command line.
    let (code, err) = cli(
        &lab.config_path,
        &data_path,
        &[
            "switchover",
            "--to",
            "alpha",
            "--yes",
            "--confirm-node",
            "alpha",
        ],
    );
    assert_eq!(code, 0, "{err}");
}

#[test]
fn a_console_started_after_a_crash_offers_to_resume_the_flow() {
    use std::io::BufRead;
    let (lab, _g) = common::exclusive();
    let data = tempfile::tempdir().unwrap();
    // A switchover from the command line, killed right after it froze alpha.
    let mut child = Command::new(env!("CARGO_BIN_EXE_okmirror"))
        .arg("--config")
        .arg(&lab.config_path)
        .args([
            "switchover",
            "--to",
            "bravo",
            "--yes",
            "--confirm-node",
            "bravo",
        ])
        .env("OKMIRROR_DATA_DIR", data.path())
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    for line in std::io::BufReader::new(child.stderr.take().unwrap()).lines() {
        if line.unwrap().starts_with("[ 4/") {
            child.kill().unwrap();
            break;
        }
    }
    let _ = child.wait();
    // Promotion had not begun: alpha's watchdog gives it its writes back at once.
    let back = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        common::Lab::sql(lab, "alpha", "SELECT @@read_only") == "0"
    });
    assert!(back, "alpha takes writes again without the console");
    let data_path = data.path().to_path_buf();
    let t = Tmux::start_in(&lab.config_path, data);
    let s = t.wait_for("resume it from its first unfinished step?");
    assert!(s.contains("unfinished switchover alpha -> bravo"), "{s}");
    assert!(s.contains("[ Resume ]"), "{s}");
    assert!(s.contains("[x]"), "the done steps are checked: {s}");
    t.keys(&["Tab"]);
    t.keys(&["Enter"]);
    // The freeze runs again, and asks again.
    let s = t.wait_for(" confirm ");
    assert!(s.contains("freeze alpha: writes stop here"), "{s}");
    t.keys(&["Tab"]);
    t.keys(&["Enter"]);
    t.wait_for("Type bravo to confirm");
    t.keys(&["-l", "bravo"]);
    t.keys(&["Enter"]);
    t.wait_for("completed · journal");
    t.keys(&["Escape"]);
    t.wait_for(" bravo  MAIN");
    t.keys(&["q"]);
    t.wait_for("okmirror-exited=0");
    let (code, err) = cli(
        &lab.config_path,
        &data_path,
        &[
            "switchover",
            "--to",
            "alpha",
            "--yes",
            "--confirm-node",
            "alpha",
        ],
    );
    assert_eq!(code, 0, "{err}");
}

impl Tmux {
    /// The okmirror process in the pane (a child of the pane's shell), by its PID.
    fn okmirror_pid(&self) -> u32 {
        let out = Command::new("tmux")
            .args(["-S", &self.socket, "list-panes", "-F", "#{pane_pid}"])
            .output()
            .unwrap();
        let shell: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok())
            .find(|pid| {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                // "pid (comm) state ppid ..."
                stat.contains("(okmirror)")
                    && stat
                        .rsplit_once(')')
                        .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                        .and_then(|p| p.parse::<u32>().ok())
                        == Some(shell)
            })
            .expect("okmirror runs in the pane")
    }
}

/// A console running a sync, stopped inside its database freeze (the mirror stalled),
/// then `hit` (a signal by PID, or the pane killed: a hangup). alpha must take writes
/// again within 10 s, given back by the console itself, not by its watchdog.
fn console_signalled_in_freeze(hit: &str) {
    let (lab, _g) = common::exclusive();
    let data = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(&lab.config_path).unwrap();
    let config = data.path().join("dbfreeze.toml");
    std::fs::write(
        &config,
        text.replace("[sync]\n", "[sync]\nfreeze = \"database\"\n"),
    )
    .unwrap();
    let guard_log = lab.node("alpha").state_dir.join("guard.log");
    let log_before = std::fs::read_to_string(&guard_log)
        .unwrap_or_default()
        .len();
    let t = Tmux::start_in(&config, data);
    t.wait_for("(heartbeat)");
    let stalled = common::StalledMirror::new(lab);
    t.keys(&["S"]);
    t.wait_for("sync: confirm the plan");
    t.keys(&["Tab"]);
    t.keys(&["Enter"]);
    let frozen = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        lab.sql("alpha", "SELECT @@read_only") == "1"
    });
    assert!(frozen, "the sync froze alpha:\n{}", t.screen());
    let pid = t.okmirror_pid().to_string();
    let sent = Instant::now();
    if hit == "HUP" {
        let ok = Command::new("tmux")
            .args(["-S", &t.socket, "kill-pane"])
            .status()
            .unwrap();
        assert!(ok.success());
    } else {
        assert!(
            Command::new("kill")
                .args(["-s", hit, &pid])
                .status()
                .unwrap()
                .success()
        );
    }
    let back = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        lab.sql("alpha", "SELECT @@read_only") == "0"
    });
    let took = sent.elapsed();
    drop(stalled);
    assert!(
        back && took < Duration::from_secs(10),
        "{hit}: alpha took writes after {took:?}"
    );
    if hit != "HUP" {
        let s = t.wait_for("okmirror-exited=");
        assert!(s.contains("cancelling what still runs"), "{s}");
    }
    // The console gave the writes back itself: its watchdog had nothing to do.
    let guard = std::fs::read_to_string(&guard_log).unwrap_or_default();
    assert!(
        !guard[log_before..].contains("restoring"),
        "{hit}: the watchdog restored, not the console:\n{}",
        &guard[log_before..]
    );
    let gone = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
    });
    assert!(gone, "{hit}: the console exited");
}

#[test]
fn a_console_sent_sigterm_in_a_freeze_gives_the_main_back_then_exits() {
    console_signalled_in_freeze("TERM");
}

#[test]
fn a_console_whose_terminal_hangs_up_in_a_freeze_gives_the_main_back() {
    console_signalled_in_freeze("HUP");
}

#[test]
fn a_console_sent_sigterm_at_a_switchovers_promotion_question_rolls_it_back() {
    let (lab, _g) = common::exclusive();
    let data = tempfile::tempdir().unwrap();
    let data_path = data.path().to_path_buf();
    let t = Tmux::start_in(&lab.config_path, data);
    t.wait_for("(heartbeat)");
    t.keys(&["F"]);
    t.wait_for("switchover to bravo");
    t.keys(&["Enter"]);
    t.wait_for("[ Cancel ]");
    t.keys(&["Tab"]);
    t.keys(&["Enter"]);
    t.wait_for(" confirm ");
    t.keys(&["Tab"]);
    t.keys(&["Enter"]);
    // Frozen, copied, caught up; the promotion waits for its typed name.
    t.wait_for("Type bravo to confirm");
    assert_eq!(
        lab.sql("alpha", "SELECT @@read_only"),
        "1",
        "alpha is frozen"
    );
    let pid = t.okmirror_pid().to_string();
    assert!(
        Command::new("kill")
            .args(["-s", "TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let s = t.wait_for("okmirror-exited=");
    assert!(s.contains("cancelling what still runs"), "{s}");
    // The question went unanswered: the flow stopped before promotion and rolled back.
    assert_eq!(
        lab.sql("alpha", "SELECT @@read_only"),
        "0",
        "alpha takes writes"
    );
    assert_eq!(
        lab.sql("bravo", "SELECT @@read_only"),
        "1",
        "bravo stays the mirror"
    );
    let (_, err) = cli(&lab.config_path, &data_path, &["resume"]);
    assert!(
        err.contains("no unfinished flow"),
        "the journal is closed: {err}"
    );
}
