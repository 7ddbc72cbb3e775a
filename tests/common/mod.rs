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
            // Nothing here may panic: this also runs while a failed test unwinds.
            // Whatever the test did to processes (stop, freeze), leave the lab running.
            let up = try_lab_script(&["up"]);
            // A failed flow test may leave the roles swapped: rebuild the standard pair
            // (alpha main, bravo its replica, both in HAProxy) so later tests start clean.
            let lab = lab();
            if up.is_err() || !lab.standard_topology() {
                eprintln!("lab: not the standard pair after the test; resetting the lab");
                // The reset deletes the nodes' logs: show their ends first, for the
                // failure's story.
                lab.print_log_tails();
                if let Err(e) = try_lab_script(&["reset"]).and_then(|_| try_lab_script(&["up"])) {
                    eprintln!("lab: reset failed: {e}");
                }
            }
            let _ = lab.haproxy("set server openkm/alpha state ready");
            let _ = lab.haproxy("set server openkm/bravo state ready");
        }
    }
}

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `assets/lab/lab ARGS`; `Err` carries the script's output.
pub fn try_lab_script(args: &[&str]) -> Result<String, String> {
    let out = Command::new(repo().join("assets/lab/lab"))
        .args(args)
        .output()
        .map_err(|e| format!("running assets/lab/lab: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "lab {args:?} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
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

/// The tests' lock file: beside the lab dir, never inside it. A test that resets the lab
/// deletes the lab dir; a lock file in there would vanish under the tests waiting on it,
/// and the next test would lock a new file and run alongside them.
pub fn lock_path(lab: &Lab) -> PathBuf {
    let mut name = lab.dir.as_os_str().to_owned();
    name.push(".tests.lock");
    PathBuf::from(name)
}

fn lock(lab: &Lab, exclusive: bool) -> File {
    let f = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_path(lab))
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
    /// Prints the last lines of each node's OpenKM stand-in and MariaDB logs (stderr).
    pub fn print_log_tails(&self) {
        for node in ["alpha", "bravo"] {
            for log in ["openkm/logs/standin.log", "mysql/error.log"] {
                let path = self.dir.join("nodes").join(node).join(log);
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                eprintln!("--- {} (last 15 lines) ---", path.display());
                for l in &lines[lines.len().saturating_sub(15)..] {
                    eprintln!("{l}");
                }
            }
        }
    }

    /// alpha writable, bravo read-only and replicating from alpha with both threads up.
    pub fn standard_topology(&self) -> bool {
        let q = |n: &str, sql: &str, names: bool| self.try_sql(n, sql, names).unwrap_or_default();
        let slave = q("bravo", "SHOW SLAVE STATUS\\G", true);
        q("alpha", "SELECT @@read_only", false) == "0"
            && q("bravo", "SELECT @@read_only", false) == "1"
            && self
                .try_sql("alpha", "SHOW SLAVE STATUS", false)
                .is_ok_and(|s| s.is_empty())
            && slave.contains("Master_Host: 127.0.0.2")
            && slave.contains("Slave_IO_Running: Yes")
            && slave.contains("Slave_SQL_Running: Yes")
    }

    /// One command on HAProxy's runtime API socket; its answer.
    pub fn haproxy(&self, cmd: &str) -> std::io::Result<String> {
        use std::io::{Read, Write};
        let mut s = std::os::unix::net::UnixStream::connect(self.dir.join("haproxy/haproxy.sock"))?;
        s.write_all(format!("{cmd}\n").as_bytes())?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        Ok(out)
    }

    /// Whether HAProxy sends traffic to `server` of backend openkm (running, not in
    /// maintenance).
    pub fn haproxy_in_service(&self, server: &str) -> bool {
        let text = self
            .haproxy("show servers state openkm")
            .unwrap_or_default();
        okmirror::failover::haproxy::parse_servers_state(&text, "openkm")
            .iter()
            .any(|(name, op, admin)| {
                name == server && okmirror::failover::haproxy::in_service(*op, *admin)
            })
    }

    pub fn node(&self, name: &str) -> &NodeConfig {
        self.config
            .nodes
            .iter()
            .find(|n| n.name == name)
            .unwrap_or_else(|| panic!("no node {name} in the lab config"))
    }

    /// Runs SQL as root on a node's local socket (the lab's own administrative access).
    pub fn sql(&self, node: &str, sql: &str) -> String {
        self.sql_as(node, sql, false)
    }

    /// `SHOW SLAVE STATUS` as `Name: value` lines (empty when not a replica).
    pub fn slave_status(&self, node: &str) -> String {
        self.sql_as(node, "SHOW SLAVE STATUS\\G", true)
    }

    fn sql_as(&self, node: &str, sql: &str, names: bool) -> String {
        self.try_sql(node, sql, names)
            .unwrap_or_else(|e| panic!("SQL on {node} failed: {sql}\n{e}"))
    }

    /// SQL as root on `node`; `Err` with the client's message (never panics).
    pub fn try_sql(&self, node: &str, sql: &str, names: bool) -> Result<String, String> {
        use std::io::Write;
        let sock = self.dir.join(format!("nodes/{node}/mysql/mysqld.sock"));
        let mut child = Command::new("mariadb")
            .args(["--no-defaults", "-uroot", "--batch"])
            .args((!names).then_some("--skip-column-names"))
            .arg(format!("--socket={}", sock.display()))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| format!("running the mariadb client: {e}"))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(sql.as_bytes())
                .map_err(|e| format!("writing SQL: {e}"))?;
        }
        let out = child
            .wait_with_output()
            .map_err(|e| format!("mariadb client: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
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

/// A client writing documents through the front door until stopped; it keeps the paths
/// OpenKM acknowledged.
pub struct Writer {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    acked: std::sync::Arc<std::sync::Mutex<Vec<(String, std::time::Instant)>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// What every writer document holds.
pub const WRITER_CONTENT: &[u8] = b"written during a sync";

impl Writer {
    /// Starts writing under `/okm:root/<folder>-<pid>/`, one document every `every_ms`.
    pub fn start(dir: &Path, folder: &str, every_ms: u64) -> Writer {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::{Arc, Mutex};
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::<(String, std::time::Instant)>::new()));
        let content = dir.join(format!("{folder}.txt"));
        std::fs::write(&content, WRITER_CONTENT).unwrap();
        let folder = format!("{folder}-{}", std::process::id());
        let thread = {
            let (stop, acked) = (Arc::clone(&stop), Arc::clone(&acked));
            std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::SeqCst) {
                    let path = format!("/okm:root/{folder}/{i}.txt");
                    let (code, _) = http(&[
                        "-u",
                        "okmAdmin:admin",
                        "-F",
                        &format!("docPath={path}"),
                        "-F",
                        &format!("content=@{}", content.display()),
                        "http://127.0.0.1:8080/OpenKM/services/rest/document/createSimple",
                    ]);
                    if code == 200 {
                        acked
                            .lock()
                            .unwrap()
                            .push((path, std::time::Instant::now()));
                    }
                    i += 1;
                    std::thread::sleep(std::time::Duration::from_millis(every_ms));
                }
            })
        };
        Writer {
            stop,
            acked,
            thread: Some(thread),
        }
    }

    /// Asks the writer to stop (it finishes its current request).
    pub fn stop(&self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// How many documents were acknowledged so far.
    pub fn count(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    /// Stops the writer and returns the acknowledged paths.
    pub fn finish(self) -> Vec<String> {
        self.finish_timed().into_iter().map(|(p, _)| p).collect()
    }

    /// Stops the writer and returns the acknowledged paths with their acknowledgement
    /// times.
    pub fn finish_timed(mut self) -> Vec<(String, std::time::Instant)> {
        self.stop();
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        self.acked.lock().unwrap().clone()
    }
}

impl Lab {
    /// Every acknowledged document is in `node`'s database and its file, with the
    /// writer's content, on `node`'s datastore.
    pub fn assert_docs_on(&self, node: &str, acked: &[String]) {
        for path in acked {
            let uuid = self.sql(
                node,
                &format!(
                    "SELECT NDV_UUID FROM okmdb.OKM_NODE_DOCUMENT_VERSION WHERE NDV_PATH = '{path}'"
                ),
            );
            assert_eq!(uuid.len(), 36, "{path} is not in {node}'s database");
            let hex: String = uuid.chars().filter(|c| *c != '-').collect();
            let file = self.node(node).datastore_path().join(format!(
                "{}/{}/{}/{}/{uuid}",
                &hex[0..2],
                &hex[2..4],
                &hex[4..6],
                &hex[6..8]
            ));
            assert_eq!(
                std::fs::read(&file).unwrap_or_default(),
                WRITER_CONTENT,
                "{path}: {} on {node}",
                file.display()
            );
        }
    }
}

/// Starts a flow and kills the console (SIGKILL) as soon as it announces step `k`, that
/// is right after step `k - 1` finished (the console may get a little further before
/// the signal lands). Returns the output seen.
pub fn kill_at_step(lab: &Lab, data: &Path, args: &[&str], k: usize) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_okmirror"))
        .arg("--config")
        .arg(&lab.config_path)
        .args(args)
        .env("OKMIRROR_DATA_DIR", data)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen = String::new();
    use std::io::BufRead;
    for line in std::io::BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        let announced = line
            .strip_prefix('[')
            .and_then(|r| r.split('/').next())
            .and_then(|n| n.trim().parse::<usize>().ok());
        if announced == Some(k) {
            child.kill().unwrap();
            break;
        }
    }
    let _ = child.wait();
    seen
}

/// bravo's SQL thread stopped while it lives: a sync's freeze then waits for the mirror
/// to catch up (up to a minute), a window wide enough to kill the console inside it.
pub struct StalledMirror<'a>(&'a Lab);

impl<'a> StalledMirror<'a> {
    pub fn new(lab: &'a Lab) -> StalledMirror<'a> {
        lab.sql("bravo", "STOP SLAVE SQL_THREAD");
        // Something for the mirror to wait for.
        lab.sql(
            "alpha",
            "CREATE DATABASE IF NOT EXISTS okmirror_faults; \
             CREATE TABLE IF NOT EXISTS okmirror_faults.t (i INT); \
             INSERT INTO okmirror_faults.t VALUES (1)",
        );
        StalledMirror(lab)
    }
}

impl Drop for StalledMirror<'_> {
    fn drop(&mut self) {
        let _ = self.0.try_sql("bravo", "START SLAVE SQL_THREAD", false);
    }
}

/// Runs the okmirror binary with `config`, its own data dir `data`, no standard input
/// and no $OKMIRROR_CONFIG; returns (exit code, stdout, stderr).
pub fn okm_at(config: &Path, data: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_okmirror"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("OKMIRROR_DATA_DIR", data)
        .env_remove("OKMIRROR_CONFIG")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("running okmirror");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
