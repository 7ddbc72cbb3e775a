//! The console end to end in a real terminal: tmux runs the binary on the lab's config,
//! send-keys types, capture-pane reads the screen.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

struct Tmux {
    socket: String,
    _data: tempfile::TempDir,
}

impl Tmux {
    /// A private tmux server (its own socket) running `okmirror --config CFG`.
    fn start(config: &std::path::Path) -> Tmux {
        let data = tempfile::tempdir().unwrap();
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let socket = format!("okmirror-test-{}-{n}", std::process::id());
        let cmd = format!(
            "OKMIRROR_DATA_DIR={} {} --config {}; echo okmirror-exited=$?; sleep 600",
            data.path().display(),
            env!("CARGO_BIN_EXE_okmirror"),
            config.display()
        );
        let ok = Command::new("tmux")
            .args([
                "-L",
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
            .args(["-L", &self.socket, "send-keys"])
            .args(keys)
            .status()
            .unwrap();
        assert!(ok.success());
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen shows `text` (and returns it), or fails with the screen.
    fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
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
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

#[test]
fn the_console_lists_both_nodes_answers_keys_and_quits_cleanly() {
    let (lab, _g) = common::shared();
    let t = Tmux::start(&lab.config_path);
    let s = t.wait_for("bravo");
    assert!(s.contains("okmirror"), "{s}");
    assert!(s.contains("pair lab"), "{s}");
    assert!(s.contains("root@127.0.0.2:2222"), "{s}");
    assert!(s.contains("root@127.0.0.3:2222"), "{s}");

    t.keys(&["?"]);
    t.wait_for("keys (Esc closes)");
    t.keys(&["Escape"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while t.screen().contains("keys (Esc closes)") {
        assert!(Instant::now() < deadline, "Esc did not close the help");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(t.screen().contains("bravo"), "Esc must never quit");

    t.keys(&["q"]);
    let s = t.wait_for("okmirror-exited=");
    assert!(s.contains("okmirror-exited=0"), "{s}");
    // The alternate screen is gone: the console's frame is no longer on the terminal.
    assert!(!s.contains("not probed yet"), "terminal not restored:\n{s}");
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
