//! The lab, as the integration tests use it: brought up once per test process (idempotent
//! and fast when it already runs), and locked so tests that change it run alone.
//! If the lab cannot start, the test fails loudly: it never skips.

#![allow(dead_code)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use okmirror::config::{Config, NodeConfig};

/// A running lab and its okmirror config.
pub struct Lab {
    pub dir: PathBuf,
    pub config_path: PathBuf,
    pub config: Config,
}

/// Held while a test uses the lab; shared for readers, exclusive for tests that change it.
pub struct LabGuard {
    _file: File,
    restore: bool,
}

impl Drop for LabGuard {
    fn drop(&mut self) {
        if self.restore {
            // Whatever the test did to processes (stop, freeze), leave the lab running.
            let _ = lab_script(&["up"]);
        }
    }
}

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `assets/lab/lab ARGS`, returning stdout; panics with the script's output on failure.
pub fn lab_script(args: &[&str]) -> String {
    let out = Command::new(repo().join("assets/lab/lab"))
        .args(args)
        .output()
        .expect("running assets/lab/lab");
    assert!(
        out.status.success(),
        "lab {args:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn lab() -> &'static Lab {
    static LAB: OnceLock<Lab> = OnceLock::new();
    LAB.get_or_init(|| {
        let out = lab_script(&["up"]);
        let config_path = PathBuf::from(
            out.lines()
                .last()
                .expect("lab up printed the config path as its last line")
                .trim(),
        );
        let config = okmirror::config::load_file(&config_path)
            .unwrap_or_else(|e| panic!("the lab's config does not load:\n{e}"));
        let dir = config_path
            .parent()
            .expect("config lives in the lab dir")
            .to_path_buf();
        Lab {
            dir,
            config_path,
            config,
        }
    })
}

fn lock(lab: &Lab, exclusive: bool) -> File {
    let f = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lab.dir.join(".tests.lock"))
        .expect("opening the tests' lock file");
    if exclusive {
        f.lock().expect("locking the lab");
    } else {
        f.lock_shared().expect("locking the lab (shared)");
    }
    f
}

/// The lab for a test that only reads it.
pub fn shared() -> (&'static Lab, LabGuard) {
    let lab = lab();
    let guard = LabGuard {
        _file: lock(lab, false),
        restore: false,
    };
    (lab, guard)
}

/// The lab for a test that changes it (stops, freezes); restored to running on drop.
pub fn exclusive() -> (&'static Lab, LabGuard) {
    let lab = lab();
    let file = lock(lab, true);
    lab_script(&["up"]);
    (
        lab,
        LabGuard {
            _file: file,
            restore: true,
        },
    )
}

impl Lab {
    pub fn node(&self, name: &str) -> &NodeConfig {
        self.config
            .nodes
            .iter()
            .find(|n| n.name == name)
            .unwrap_or_else(|| panic!("no node {name} in the lab config"))
    }

    /// Runs SQL as root on a node's local socket (the lab's own administrative access).
    pub fn sql(&self, node: &str, sql: &str) -> String {
        let sock = self.dir.join(format!("nodes/{node}/mysql/mysqld.sock"));
        let mut child = Command::new("mariadb")
            .args(["--no-defaults", "-uroot", "--batch", "--skip-column-names"])
            .arg(format!("--socket={}", sock.display()))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("running the mariadb client");
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(sql.as_bytes())
            .expect("writing SQL");
        let out = child.wait_with_output().expect("mariadb client");
        assert!(
            out.status.success(),
            "SQL on {node} failed: {sql}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Waits until `node` has applied everything alpha's binlog holds now.
    pub fn wait_replicated(&self, from: &str, to: &str) {
        let pos = self.sql(from, "SELECT @@gtid_binlog_pos");
        let r = self.sql(to, &format!("SELECT MASTER_GTID_WAIT('{pos}', 30)"));
        assert_eq!(r, "0", "{to} did not apply {from}'s position {pos} in 30 s");
    }
}

/// An HTTP request with curl (installed by the lab); returns (status, body).
pub fn http(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-o", "-", "-w", "\n%{http_code}", "--max-time", "10"])
        .args(args)
        .output()
        .expect("running curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// Runs the okmirror binary (with the lab's config when given, a private data dir, and no
/// $OKMIRROR_CONFIG); returns (exit code, stdout, stderr).
pub fn okmirror(config: Option<&Path>, args: &[&str]) -> (i32, String, String) {
    let data = tempfile::tempdir().expect("temp dir");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_okmirror"));
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    let out = cmd
        .args(args)
        .env("OKMIRROR_DATA_DIR", data.path())
        .env_remove("OKMIRROR_CONFIG")
        .output()
        .expect("running okmirror");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A default for remote command timeouts in tests.
pub const T: Duration = Duration::from_secs(10);
