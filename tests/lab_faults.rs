//! Fault injection on the lab: what okmirror does on its worst day. An empty source
//! datastore, a console killed inside a freeze, a cut SSH link. Each case checks the
//! nodes themselves, not okmirror's word for it.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// okmirror with the lab's config and its own data dir; (code, stdout, stderr).
fn okm(lab: &common::Lab, data: &Path, args: &[&str]) -> (i32, String, String) {
    common::okm_at(&lab.config_path, data, args)
}

fn ds(lab: &common::Lab, node: &str) -> PathBuf {
    lab.node(node).datastore_path()
}

/// Every file under `root` with its size and modification time (what a deletion or a
/// copy would change).
fn listing(root: &Path) -> BTreeMap<String, (u64, i64)> {
    use std::os::unix::fs::MetadataExt;
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let Ok(m) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            if m.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(root).unwrap().display().to_string();
                out.insert(rel, (m.len(), m.mtime()));
            }
        }
    }
    out
}

/// alpha's datastore replaced by an empty folder (what an unmounted volume looks like)
/// while `f` runs; put back afterwards, even when `f` panics.
fn with_empty_alpha_datastore<T>(lab: &common::Lab, f: impl FnOnce() -> T) -> T {
    let alpha = ds(lab, "alpha");
    let aside = lab.dir.join("nodes/alpha/datastore-aside");
    std::fs::rename(&alpha, &aside).unwrap();
    std::fs::create_dir(&alpha).unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    let _ = std::fs::remove_dir_all(&alpha);
    std::fs::rename(&aside, &alpha).unwrap();
    match r {
        Ok(v) => v,
        Err(p) => std::panic::resume_unwind(p),
    }
}

#[test]
fn an_empty_source_datastore_is_refused_by_every_copy_and_nothing_is_deleted() {
    let (lab, _g) = common::exclusive();
    let tmp = tempfile::tempdir().unwrap();
    let bravo_before = listing(&ds(lab, "bravo"));
    assert!(bravo_before.len() > 10, "the lab's mirror holds documents");
    let runs: [&[&str]; 4] = [
        &["sync", "--yes"],
        &[
            "switchover",
            "--to",
            "bravo",
            "--yes",
            "--confirm-node",
            "bravo",
        ],
        &[
            "drill",
            "--yes",
            "--confirm-node",
            "alpha",
            "--confirm-node",
            "bravo",
        ],
        // A rejoin of bravo under alpha ends in a sync alpha -> bravo.
        &["rejoin", "bravo", "--yes", "--confirm-node", "bravo"],
    ];
    for args in runs {
        let data = tmp.path().join(args[0]);
        let (code, out, err) = with_empty_alpha_datastore(lab, || okm(lab, &data, args));
        assert_ne!(code, 0, "{args:?} must fail\n{out}\n{err}");
        let text = format!("{out}\n{err}");
        assert!(
            text.contains("refusing to copy from alpha: its database names"),
            "{args:?} must name the source check\n{text}"
        );
        // Both totals are named (a drill's probe may have written a few files into the
        // empty folder before its copy step).
        assert!(
            text.contains("datastore files (OKM_NODE_DOCUMENT_VERSION) but its datastore")
                && text.contains("sampled versions are missing there"),
            "{args:?} must name both numbers\n{text}"
        );
        assert_eq!(
            listing(&ds(lab, "bravo")),
            bravo_before,
            "{args:?}: nothing may change on the mirror"
        );
        // Nothing was promoted: alpha is still the writable main.
        assert_eq!(lab.sql("alpha", "SELECT @@read_only"), "0", "{args:?}");
        assert_eq!(lab.sql("bravo", "SELECT @@read_only"), "1", "{args:?}");
        // A refused flow leaves its journal closed or open; the next case starts clean.
        let _ = std::fs::remove_dir_all(&data);
        common::lab_script(&["up"]);
    }
    assert!(listing(&ds(lab, "alpha")).len() >= bravo_before.len() - 5);
}

/// Polls `f` every 100 ms for up to `limit`; how long it took to turn true.
fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// One document written through the front door, as OpenKM's users do; true when
/// acknowledged.
fn front_door_write(tag: &str) -> bool {
    let dir = std::env::temp_dir().join(format!("okmirror-faults-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let content = dir.join("doc.txt");
    let _ = std::fs::write(&content, b"written after a fault");
    let (code, _) = common::http(&[
        "-u",
        "okmAdmin:admin",
        "-F",
        &format!(
            "docPath=/okm:root/faults/{tag}-{}.txt",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ),
        "-F",
        &format!("content=@{}", content.display()),
        "http://127.0.0.1:8080/OpenKM/services/rest/document/createSimple",
    ]);
    code == 200
}

/// A copy of the lab's config with `[sync]` lines added.
fn config_with(lab: &common::Lab, dir: &Path, sync_lines: &str) -> PathBuf {
    let text = std::fs::read_to_string(&lab.config_path).unwrap();
    let path = dir.join("faults.toml");
    std::fs::write(
        &path,
        text.replace("[sync]\n", &format!("[sync]\n{sync_lines}\n")),
    )
    .unwrap();
    path
}

/// Starts `okmirror sync --yes` and sends it `signal` (by its PID) once the main is frozen
/// (the sync reports its final pass). Returns when the signal was sent, the exit status
/// and what the console printed.
fn signal_in_freeze(
    config: &Path,
    data: &Path,
    signal: &str,
) -> (Instant, std::process::ExitStatus, String) {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_okmirror"))
        .arg("--config")
        .arg(config)
        .args(["sync", "--yes"])
        .env("OKMIRROR_DATA_DIR", data)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = String::new();
    let mut sent = None;
    let lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    for line in lines.map_while(Result::ok) {
        log.push_str(&line);
        log.push('\n');
        if sent.is_none() && line.starts_with("sync: waiting for the mirror's database") {
            let pid = child.id().to_string();
            let ok = Command::new("kill")
                .args(["-s", signal, &pid])
                .status()
                .unwrap();
            assert!(ok.success(), "kill -s {signal} {pid}");
            sent = Some(Instant::now());
        }
    }
    let status = child.wait().unwrap();
    (
        sent.unwrap_or_else(|| panic!("never frozen:\n{log}")),
        status,
        log,
    )
}

/// The guard log on alpha, and its length before a case (to read only what it added).
fn guard_log(lab: &common::Lab) -> String {
    std::fs::read_to_string(lab.node("alpha").state_dir.join("guard.log")).unwrap_or_default()
}

/// A console that dies inside the freeze, by `signal`, in freeze `mode`: alpha takes
/// writes again within 10 s, with no new okmirror run; the next sync converges and
/// verifies.
fn killed_in_freeze(signal: &str, mode: &str) {
    let (lab, _g) = common::exclusive();
    let tmp = tempfile::tempdir().unwrap();
    let config = config_with(lab, tmp.path(), &format!("freeze = \"{mode}\""));
    let log_before = guard_log(lab).len();
    let (sent, status, out) = {
        let _stalled = common::StalledMirror::new(lab);
        let r = signal_in_freeze(&config, tmp.path(), signal);
        // The freeze was real: alpha refused writes when the signal went out.
        r
    };
    let back = wait_until(Duration::from_secs(15), || {
        lab.sql("alpha", "SELECT @@read_only") == "0"
            && front_door_write(&format!("{signal}-{mode}"))
    });
    let after = sent.elapsed();
    // The watchdog logs "restored" once its restore command returned, a moment after
    // the node took writes again: give it that moment.
    if signal == "KILL" {
        wait_until(Duration::from_secs(10), || {
            guard_log(lab)[log_before..].contains("restored")
        });
    }
    let guard = guard_log(lab)[log_before..].to_string();
    assert!(
        back.is_some_and(|_| after < Duration::from_secs(12)),
        "{signal}/{mode}: alpha took no writes within 10 s of the signal ({back:?})\n{out}\nguard log:\n{guard}"
    );
    if signal == "KILL" {
        assert!(!status.success());
        assert!(
            guard.contains("restoring: the console's session ended") && guard.contains("restored"),
            "{signal}/{mode}: alpha's watchdog gave it back\n{guard}"
        );
    } else {
        assert_eq!(status.code(), Some(1), "{signal}/{mode}: a cancel\n{out}");
        // After a hangup the console writes to /dev/null: the terminal is gone.
        if signal != "HUP" {
            assert!(out.contains("cancelled"), "{signal}/{mode}\n{out}");
        }
    }
    // The freeze marker goes once the freeze is undone.
    let marker = lab.node("alpha").state_dir.join("sync.lock/frozen");
    assert!(
        !marker.exists(),
        "{signal}/{mode}: {} is left",
        marker.display()
    );
    // OpenKM runs on both nodes again.
    for n in ["alpha", "bravo"] {
        let st = Command::new("sh")
            .arg("-c")
            .arg(&lab.node(n).service.status)
            .status()
            .unwrap();
        assert!(
            st.success(),
            "{signal}/{mode}: OpenKM is not running on {n}"
        );
    }
    let (code, out, err) = okm(lab, tmp.path(), &["sync", "--yes", "--json"]);
    assert_eq!(code, 0, "{signal}/{mode}: the next sync\n{out}\n{err}");
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["verified"], true, "{out}");
}

#[test]
fn a_console_killed_in_a_service_freeze_gives_the_main_back() {
    for signal in ["KILL", "TERM", "HUP"] {
        killed_in_freeze(signal, "service");
    }
}

#[test]
fn a_console_killed_in_a_database_freeze_gives_the_main_back() {
    for signal in ["KILL", "TERM", "HUP"] {
        killed_in_freeze(signal, "database");
    }
}

/// The PIDs of the SSH master processes a console made under the runtime dir `rt` for
/// `host` (found by their control path, which is private to that console).
fn ssh_masters(rt: &Path, host: &str) -> Vec<u32> {
    let needle = rt.display().to_string();
    let mut pids = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmd
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if args.first().is_some_and(|a| a == "ssh")
            && args.iter().any(|a| a == "-M")
            && args.iter().any(|a| a.starts_with(&needle))
            && args.last().is_some_and(|a| a == host)
        {
            pids.push(pid);
        }
    }
    pids
}

#[test]
fn a_cut_link_to_the_main_inside_the_freeze_gives_the_main_back() {
    use std::io::BufRead;
    let (lab, _g) = common::exclusive();
    let tmp = tempfile::tempdir().unwrap();
    let rt = tmp.path().join("rt");
    std::fs::create_dir(&rt).unwrap();
    std::fs::set_permissions(&rt, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let config = config_with(lab, tmp.path(), "freeze = \"database\"");
    let alpha = lab.node("alpha").ssh.host.clone();
    let log_before = guard_log(lab).len();
    let stalled = common::StalledMirror::new(lab);
    let mut child = Command::new(env!("CARGO_BIN_EXE_okmirror"))
        .arg("--config")
        .arg(&config)
        .args(["sync", "--yes"])
        .env("OKMIRROR_DATA_DIR", tmp.path())
        .env("XDG_RUNTIME_DIR", &rt)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let mut out = String::new();
    let frozen = loop {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => {
                out.push_str(&line);
                out.push('\n');
                if line.starts_with("sync: waiting for the mirror's database") {
                    break true;
                }
            }
            Err(_) => break false,
        }
    };
    assert!(frozen, "never frozen:\n{out}");
    assert_eq!(
        lab.sql("alpha", "SELECT @@read_only"),
        "1",
        "alpha is frozen"
    );
    let masters = ssh_masters(&rt, &alpha);
    assert_eq!(masters.len(), 1, "one master to {alpha}: {masters:?}");
    let pid = masters[0].to_string();
    assert!(
        Command::new("kill")
            .args(["-9", &pid])
            .status()
            .unwrap()
            .success()
    );
    let cut = Instant::now();
    // The console still runs (it waits for the stalled mirror): alpha must not wait
    // for it.
    let back = wait_until(Duration::from_secs(15), || {
        lab.sql("alpha", "SELECT @@read_only") == "0" && front_door_write("cut-link")
    });
    let took = cut.elapsed();
    let guard = guard_log(lab)[log_before..].to_string();
    drop(stalled);
    let _ = child.wait();
    let _ = reader.join();
    out.extend(rx.try_iter().map(|l| l + "\n"));
    assert!(
        back.is_some() && took < Duration::from_secs(10),
        "alpha took no writes within 10 s of the cut ({back:?}, {took:?})\n{out}\n{guard}"
    );
    assert!(
        guard.contains("restored"),
        "alpha's watchdog restored it\n{out}\n{guard}"
    );
    assert!(
        !lab.node("alpha")
            .state_dir
            .join("sync.lock/frozen")
            .exists()
    );
    let (code, out, err) = okm(lab, tmp.path(), &["sync", "--yes", "--json"]);
    assert_eq!(code, 0, "the next sync\n{out}\n{err}");
}

/// alpha's mysqld stopped (SIGSTOP, by its PID) while it lives: its SQL hangs while its
/// host still answers SSH. Continued on drop.
struct HungDatabase(String);

impl HungDatabase {
    fn new(lab: &common::Lab, node: &str) -> HungDatabase {
        let pid = std::fs::read_to_string(lab.dir.join(format!("nodes/{node}/run/mysqld.pid")))
            .unwrap()
            .trim()
            .to_string();
        assert!(
            Command::new("kill")
                .args(["-STOP", &pid])
                .status()
                .unwrap()
                .success()
        );
        HungDatabase(pid)
    }
}

impl Drop for HungDatabase {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-CONT", &self.0]).status();
    }
}

#[test]
fn a_failover_is_refused_when_the_old_main_answers_but_its_fence_sql_hangs() {
    let (lab, _g) = common::exclusive();
    let tmp = tempfile::tempdir().unwrap();
    let (code, out, err) = {
        let _hung = HungDatabase::new(lab, "alpha");
        okm(
            lab,
            tmp.path(),
            &[
                "failover",
                "--to",
                "bravo",
                "--yes",
                "--confirm-node",
                "alpha",
                "--confirm-node",
                "bravo",
            ],
        )
    };
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        err.contains("alpha answers but is not proven fenced"),
        "the fence step names why\n{err}"
    );
    assert!(err.contains("nothing was promoted"), "{err}");
    assert_eq!(
        lab.sql("bravo", "SELECT @@read_only"),
        "1",
        "bravo stays the mirror"
    );
    assert!(
        lab.slave_status("bravo").contains("Master_Host: 127.0.0.2"),
        "bravo still replicates from alpha"
    );
}

#[test]
fn a_socket_folder_prepared_by_another_user_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let (lab, _g) = common::shared();
    let tmp = tempfile::tempdir().unwrap();
    let rt = tmp.path().join("rt");
    std::fs::create_dir(&rt).unwrap();
    // What another local user could have left where okmirror's sockets go.
    let uid = effective_uid();
    let planted = rt.join(format!("okmirror-{uid}"));
    std::fs::create_dir(&planted).unwrap();
    std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::chown(&planted, Some(65534), Some(65534)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_okmirror"))
        .arg("--config")
        .arg(&lab.config_path)
        .args(["status", "--no-diff"])
        .env("OKMIRROR_DATA_DIR", tmp.path().join("data"))
        .env("XDG_RUNTIME_DIR", &rt)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ne!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains(&format!(
            "refusing {}: it is owned by uid 65534",
            planted.display()
        )),
        "the refusal names the folder and why\n{text}"
    );
    // Nothing of okmirror's went into it.
    assert_eq!(std::fs::read_dir(&planted).unwrap().count(), 0);
}

/// This process's effective uid (root in CI; the socket folder is named after it).
fn effective_uid() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[test]
fn a_rejoin_sync_that_stops_progressing_is_cancelled_for_real_and_journaled() {
    use std::io::BufRead;
    let (lab, _g) = common::exclusive();
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(&lab.config_path).unwrap();
    let config = tmp.path().join("quiet.toml");
    assert!(
        !text.contains("[failover]"),
        "the lab config sets no [failover]"
    );
    std::fs::write(
        &config,
        format!("{text}\n[failover]\nstep_timeout_secs = 10\n"),
    )
    .unwrap();
    // Rejoin bravo under alpha: its last step before the start is a sync alpha -> bravo.
    let mut child = Command::new(env!("CARGO_BIN_EXE_okmirror"))
        .arg("--config")
        .arg(&config)
        .args(["rejoin", "bravo", "--yes", "--confirm-node", "bravo"])
        .env("OKMIRROR_DATA_DIR", tmp.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = String::new();
    let mut stalled = None;
    for line in std::io::BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok)
    {
        if stalled.is_none() && line.contains("sync files") && line.starts_with('[') {
            // The sync's freeze will wait for bravo to apply alpha's position: stall it.
            stalled = Some(common::StalledMirror::new(lab));
        }
        out.push_str(&line);
        out.push('\n');
    }
    let status = child.wait().unwrap();
    drop(stalled);
    assert!(!status.success(), "{out}");
    assert!(
        out.contains("no progress for 10 s") && out.contains("the sync was cancelled"),
        "the step says why it stopped\n{out}"
    );
    // Nothing stays frozen: alpha takes writes, OpenKM runs on it, no freeze marker.
    assert_eq!(lab.sql("alpha", "SELECT @@read_only"), "0");
    assert!(
        wait_until(Duration::from_secs(10), || front_door_write("rejoin-quiet")).is_some(),
        "alpha takes writes through the front door\n{out}"
    );
    assert!(
        !lab.node("alpha")
            .state_dir
            .join("sync.lock/frozen")
            .exists()
    );
    // The journal says where things stand: the sync step failed, with its reason.
    let flows = tmp.path().join("flows");
    let journal: String = std::fs::read_dir(&flows)
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    assert!(journal.contains("no progress for 10 s"), "{journal}");
    assert!(
        journal.contains("nodes now: alpha: database writable"),
        "the journal says where the nodes stand\n{journal}"
    );
    // And the flow can be finished once the mirror applies again.
    let (code, o, e) = common::okm_at(
        &config,
        tmp.path(),
        &["resume", "--yes", "--confirm-node", "bravo"],
    );
    assert_eq!(code, 0, "{o}{e}");
}

#[test]
fn a_switchover_sent_sigterm_before_promotion_stops_and_rolls_back() {
    use std::io::BufRead;
    let (lab, _g) = common::exclusive();
    let tmp = tempfile::tempdir().unwrap();
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
        .env("OKMIRROR_DATA_DIR", tmp.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = String::new();
    let mut sent = false;
    for line in std::io::BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok)
    {
        // Right after the freeze: the final copy is announced.
        if !sent && line.starts_with("[ 4/") {
            let pid = child.id().to_string();
            assert!(
                Command::new("kill")
                    .args(["-s", "TERM", &pid])
                    .status()
                    .unwrap()
                    .success()
            );
            sent = true;
        }
        out.push_str(&line);
        out.push('\n');
    }
    let status = child.wait().unwrap();
    assert!(sent, "{out}");
    assert!(!status.success(), "{out}");
    assert!(
        out.contains("stopped by a signal") || out.contains("cancelled by the operator"),
        "{out}"
    );
    assert!(out.contains("rolled back"), "{out}");
    assert_eq!(
        lab.sql("alpha", "SELECT @@read_only"),
        "0",
        "alpha is the main again"
    );
    assert_eq!(lab.sql("bravo", "SELECT @@read_only"), "1");
    let (_, _, err) = okm(lab, tmp.path(), &["resume"]);
    assert!(
        err.contains("no unfinished flow"),
        "the journal is closed: {err}"
    );
}
