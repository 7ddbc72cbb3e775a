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
        let data = tempfile::tempdir().unwrap();
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
    t.wait_for("keys (Esc closes)");
    t.keys(&["Escape"]);
    t.wait_until_gone("keys (Esc closes)");

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
        t.wait_for("keys (Esc closes)");
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "help took {:?}",
            start.elapsed()
        );
        t.keys(&["Escape"]);
        t.wait_until_gone("keys (Esc closes)");
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
