//! Guided switchover, failover and rejoin on the lab, with a writer going through
//! HAProxy the whole time: nothing acknowledged is lost, roles, flags, replication
//! and traffic all move, fencing and errant-transaction checks hold, and a console
//! killed after any step finishes the flow on resume.

mod common;

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// okmirror with the lab's config and its own data dir; (code, stdout, stderr).
fn okm(lab: &common::Lab, data: &Path, args: &[&str]) -> (i32, String, String) {
    common::okm_at(&lab.config_path, data, args)
}

/// `main` writable with OpenKM's flag false; `mirror` read-only, flag true, replicating
/// from `main` with both threads running; HAProxy sends traffic to `main` only.
fn assert_roles(lab: &common::Lab, main: &str, mirror: &str) {
    let ip = |n: &str| lab.node(n).database.host.clone();
    assert_eq!(lab.sql(main, "SELECT @@read_only"), "0", "{main} writable");
    assert_eq!(
        lab.sql(mirror, "SELECT @@read_only"),
        "1",
        "{mirror} read-only"
    );
    let flag = |n: &str| {
        lab.sql(
            n,
            "SELECT CFG_VALUE FROM okmdb.OKM_CONFIG WHERE CFG_KEY = 'system.readonly'",
        )
    };
    assert_eq!(flag(main), "false", "{main}'s system.readonly");
    assert_eq!(flag(mirror), "true", "{mirror}'s system.readonly");
    assert!(
        lab.sql(main, "SHOW SLAVE STATUS").is_empty(),
        "{main} replicates from nobody"
    );
    let slave = lab.slave_status(mirror);
    assert!(
        slave.contains(&format!("Master_Host: {}", ip(main))),
        "{slave}"
    );
    assert!(slave.contains("Slave_IO_Running: Yes"), "{slave}");
    assert!(slave.contains("Slave_SQL_Running: Yes"), "{slave}");
    assert!(
        lab.haproxy_in_service(main),
        "HAProxy sends traffic to {main}"
    );
}

/// After a flow moved traffic: HAProxy keeps the mirror out (maintenance).
fn assert_traffic_moved(lab: &common::Lab, main: &str, mirror: &str) {
    assert_roles(lab, main, mirror);
    assert!(
        !lab.haproxy_in_service(mirror),
        "HAProxy keeps {mirror} out"
    );
}

#[test]
fn a_switchover_there_and_back_loses_no_acknowledged_document() {
    let (lab, _g) = common::exclusive();
    let tmp = tempfile::tempdir().unwrap();
    let writer = common::Writer::start(tmp.path(), "switchover", 20);
    std::thread::sleep(Duration::from_millis(500));
    let (code, out, err) = okm(
        lab,
        tmp.path(),
        &[
            "switchover",
            "--to",
            "bravo",
            "--yes",
            "--confirm-node",
            "bravo",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["outcome"], "completed", "{out}");
    let preflight = report["steps"][0]["output"].as_str().unwrap_or_default();
    assert!(preflight.contains("bravo disk: "), "{preflight}");
    assert!(preflight.contains("last sync"), "{preflight}");
    assert!(
        report["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["state"] == "done"),
        "{out}"
    );
    std::thread::sleep(Duration::from_millis(500));
    let during_first = writer.count();
    assert_traffic_moved(lab, "bravo", "alpha");

    let (code, out, err) = okm(
        lab,
        tmp.path(),
        &[
            "switchover",
            "--to",
            "alpha",
            "--yes",
            "--confirm-node",
            "alpha",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("switchover bravo -> alpha: completed"),
        "{err}"
    );
    std::thread::sleep(Duration::from_millis(500));
    let acked = writer.finish();
    assert!(
        acked.len() > during_first && during_first >= 20,
        "the writer got {during_first} then {} documents in",
        acked.len()
    );
    assert_traffic_moved(lab, "alpha", "bravo");
    // Every acknowledged document, written on either node, is on the main again.
    lab.assert_docs_on("alpha", &acked);
}

#[test]
fn an_errant_transaction_on_the_mirror_blocks_a_switchover_by_name() {
    let (lab, _g) = common::exclusive();
    let tmp = tempfile::tempdir().unwrap();
    lab.sql("bravo", "CREATE DATABASE errant_probe");
    let gtid = lab.sql("bravo", "SELECT @@gtid_binlog_pos");
    let (code, out, err) = okm(
        lab,
        tmp.path(),
        &[
            "switchover",
            "--to",
            "bravo",
            "--yes",
            "--confirm-node",
            "bravo",
        ],
    );
    // Clean up before asserting: the errant GTID would block every later test.
    lab.sql(
        "bravo",
        "STOP SLAVE; SET SESSION sql_log_bin = 0; DROP DATABASE errant_probe; RESET MASTER; START SLAVE;",
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("errant transactions on bravo"), "{err}");
    assert!(err.contains(&gtid), "names {gtid}: {err}");
    assert!(err.contains("nothing was promoted"), "{err}");
    assert_roles(lab, "alpha", "bravo");
}

#[test]
fn promotion_is_refused_while_the_old_main_is_writable_and_not_fenced() {
    let (lab, _g) = common::exclusive();
    let tmp = tempfile::tempdir().unwrap();
    // alpha is healthy and writable; the operator does not attest the fencing.
    let (code, out, err) = okm(
        lab,
        tmp.path(),
        &[
            "failover",
            "--to",
            "bravo",
            "--yes",
            "--confirm-node",
            "bravo",
        ],
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("not confirmed: fence alpha"), "{err}");
    assert!(err.contains("nothing was promoted"), "{err}");
    assert_eq!(lab.sql("alpha", "SELECT @@read_only"), "0");
    assert_eq!(lab.sql("bravo", "SELECT @@read_only"), "1");
    let (code, _, err) = okm(lab, tmp.path(), &["resume"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("no unfinished flow"),
        "a refused flow is closed: {err}"
    );
}

#[test]
fn failover_to_bravo_when_alpha_dies_then_rejoin_alpha_as_its_mirror() {
    let (lab, _g) = common::exclusive();
    let tmp = tempfile::tempdir().unwrap();
    // A first sync so that every file is on bravo before alpha dies.
    let (code, out, err) = okm(lab, tmp.path(), &["sync", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    common::lab_script(&["stop", "alpha"]);

    // Without the typed attestation nothing is promoted.
    let (code, _, err) = okm(lab, tmp.path(), &["failover", "--to", "bravo", "--yes"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(lab.sql("bravo", "SELECT @@read_only"), "1", "{err}");

    let (code, out, err) = okm(
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
            "--json",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let loss = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"].as_str().unwrap().ends_with("loss-report"))
        .unwrap()["output"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        loss.contains("database:") && loss.contains("documents"),
        "{loss}"
    );
    assert!(err.contains("the operator attested"), "{err}");
    assert_eq!(lab.sql("bravo", "SELECT @@read_only"), "0");
    // Writes now land on bravo, through the front door.
    let writer = common::Writer::start(tmp.path(), "after-failover", 20);
    std::thread::sleep(Duration::from_millis(1500));
    let acked = writer.finish();
    assert!(
        acked.len() >= 10,
        "{} documents written after the failover",
        acked.len()
    );
    lab.assert_docs_on("bravo", &acked);

    // alpha comes back by itself: writable, a stale former main (split brain).
    common::lab_script(&["start", "alpha"]);
    let (code, out, _) = okm(lab, tmp.path(), &["status", "--json", "--no-diff"]);
    assert_eq!(code, 2, "{out}");
    let status: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(status["roles"]["state"], "split-brain", "{out}");

    let (code, out, err) = okm(
        lab,
        tmp.path(),
        &["rejoin", "alpha", "--yes", "--confirm-node", "alpha"],
    );
    assert_eq!(code, 0, "{out}{err}");
    lab.wait_replicated("bravo", "alpha");
    assert_traffic_moved(lab, "bravo", "alpha");
    lab.assert_docs_on("alpha", &acked);

    // And back to the lab's standard roles, the planned way.
    let (code, out, err) = okm(
        lab,
        tmp.path(),
        &[
            "switchover",
            "--to",
            "alpha",
            "--yes",
            "--confirm-node",
            "alpha",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_traffic_moved(lab, "alpha", "bravo");
}

#[test]
fn a_console_killed_at_any_step_of_a_switchover_finishes_it_on_resume() {
    let (lab, _g) = common::exclusive();
    let tmp = tempfile::tempdir().unwrap();
    let (code, out, _) = okm(
        lab,
        tmp.path(),
        &["switchover", "--to", "bravo", "--dry-run", "--json"],
    );
    assert_eq!(code, 0);
    let steps = serde_json::from_str::<serde_json::Value>(&out)
        .unwrap()
        .as_array()
        .unwrap()
        .len();
    assert_eq!(steps, 13);
    let (mut main, mut mirror) = ("alpha", "bravo");
    for k in 1..=steps {
        let seen = common::kill_at_step(
            lab,
            tmp.path(),
            &[
                "switchover",
                "--to",
                mirror,
                "--yes",
                "--confirm-node",
                mirror,
            ],
            k,
        );
        assert!(
            seen.contains(&format!("[{k:>2}/{steps}]")),
            "step {k}: {seen}"
        );
        let (code, out, err) = okm(
            lab,
            tmp.path(),
            &["resume", "--yes", "--confirm-node", mirror],
        );
        assert_eq!(code, 0, "resume after a kill at step {k}: {out}{err}");
        if err.contains("no unfinished flow") {
            // The last step is short: the console may finish before the signal lands.
            assert_eq!(
                k, steps,
                "killed at step {k}, yet nothing to resume: {seen}"
            );
        } else {
            // The console may have journaled a step more before the kill landed.
            let done: usize = err
                .split_once(" steps done)")
                .and_then(|(a, _)| a.rsplit('(').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            assert!(done + 1 >= k, "killed at step {k}: {done} done: {err}");
            assert!(err.contains(": completed"), "killed at step {k}: {err}");
        }
        (main, mirror) = (mirror, main);
        assert_traffic_moved(lab, main, mirror);
    }
    // Leave the lab's standard roles.
    if main != "alpha" {
        let (code, out, err) = okm(
            lab,
            tmp.path(),
            &[
                "switchover",
                "--to",
                "alpha",
                "--yes",
                "--confirm-node",
                "alpha",
            ],
        );
        assert_eq!(code, 0, "{out}{err}");
    }
    assert_traffic_moved(lab, "alpha", "bravo");
}

#[test]
fn an_interrupted_switchover_rolls_back_before_promotion_but_not_after() {
    let (lab, _g) = common::exclusive();
    let tmp = tempfile::tempdir().unwrap();
    let args = [
        "switchover",
        "--to",
        "bravo",
        "--yes",
        "--confirm-node",
        "bravo",
    ];
    // Killed right after the freeze, before promotion: alpha's watchdog gives it its
    // writes back on its own, at once; the journal still offers the rollback.
    common::kill_at_step(lab, tmp.path(), &args, 4);
    let back = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        lab.sql("alpha", "SELECT @@read_only") == "0"
    });
    assert!(back, "alpha takes writes again within 10 s of the kill");
    let (code, _, err) = okm(lab, tmp.path(), &["rollback"]);
    assert_ne!(code, 0, "a rollback needs --yes: {err}");
    let (code, _, err) = okm(lab, tmp.path(), &["rollback", "--yes"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("rolled back by the operator"), "{err}");
    assert_roles(lab, "alpha", "bravo");
    let (code, out) = common::http(&["http://127.0.0.2:8080/OpenKM/Status"]);
    assert_eq!(
        (code, out.as_str()),
        (200, "OK"),
        "OpenKM runs on alpha again"
    );
    let (_, _, err) = okm(lab, tmp.path(), &["resume"]);
    assert!(err.contains("no unfinished flow"), "{err}");

    // Killed after the promotion: the way back is forward. The freeze's watchdogs were
    // stood down before it, so alpha stays read-only and its OpenKM stopped: no second
    // writer, however long nobody comes back.
    common::kill_at_step(lab, tmp.path(), &args, 7);
    std::thread::sleep(Duration::from_secs(8));
    assert_eq!(
        lab.sql("alpha", "SELECT @@read_only"),
        "1",
        "alpha stays fenced"
    );
    let (code, _) = common::http(&["http://127.0.0.2:8080/OpenKM/Status"]);
    assert_ne!(code, 200, "alpha's OpenKM stays stopped");
    let (code, _, err) = okm(lab, tmp.path(), &["rollback", "--yes"]);
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("the way back is forward"), "{err}");
    let (code, _, err) = okm(
        lab,
        tmp.path(),
        &["resume", "--yes", "--confirm-node", "bravo"],
    );
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = okm(
        lab,
        tmp.path(),
        &[
            "switchover",
            "--to",
            "alpha",
            "--yes",
            "--confirm-node",
            "alpha",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_traffic_moved(lab, "alpha", "bravo");
}

#[test]
fn a_former_main_with_errant_transactions_is_refused_then_reseeded_on_request() {
    let (lab, _g) = common::exclusive();
    let tmp = tempfile::tempdir().unwrap();
    let (code, out, err) = okm(lab, tmp.path(), &["sync", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    common::lab_script(&["stop", "alpha"]);
    let (code, out, err) = okm(
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
    );
    assert_eq!(code, 0, "{out}{err}");
    common::lab_script(&["start", "alpha"]);
    // alpha came back writable and took a write bravo never saw.
    lab.sql("alpha", "CREATE DATABASE errant_alpha");
    let errant = lab.sql("alpha", "SELECT @@gtid_binlog_pos");

    let (code, out, err) = okm(
        lab,
        tmp.path(),
        &["rejoin", "alpha", "--yes", "--confirm-node", "alpha"],
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("errant transactions on alpha"), "{err}");
    assert!(err.contains(&errant), "names {errant}: {err}");
    assert!(err.contains("--reseed"), "{err}");
    assert_eq!(
        lab.sql("alpha", "SELECT @@read_only"),
        "1",
        "alpha stays fenced"
    );

    let (code, out, err) = okm(
        lab,
        tmp.path(),
        &[
            "rejoin",
            "alpha",
            "--reseed",
            "--yes",
            "--confirm-node",
            "alpha",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("given up by this reseed"), "{err}");
    let saved = std::fs::read_dir(&lab.node("alpha").state_dir)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("binlogs-"))
        .expect("alpha's binlogs were saved");
    assert!(
        std::fs::read_dir(saved.path()).unwrap().count() >= 2,
        "binlog files and their index"
    );
    assert_roles(lab, "bravo", "alpha");
    lab.sql(
        "alpha",
        "SET SESSION sql_log_bin = 0; DROP DATABASE errant_alpha;",
    );
    let (code, out, err) = okm(
        lab,
        tmp.path(),
        &[
            "switchover",
            "--to",
            "alpha",
            "--yes",
            "--confirm-node",
            "alpha",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_traffic_moved(lab, "alpha", "bravo");
    let _ = std::fs::remove_dir_all(saved.path());
}

#[test]
fn declining_the_promotion_rolls_the_frozen_main_back() {
    let (lab, _g) = common::exclusive();
    let tmp = tempfile::tempdir().unwrap();
    // --yes answers the freeze, but nobody types bravo's name for the promotion.
    let (code, out, err) = okm(lab, tmp.path(), &["switchover", "--to", "bravo", "--yes"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("not confirmed: promote bravo's database"),
        "{err}"
    );
    assert!(
        err.contains("rolled back: alpha takes writes again"),
        "{err}"
    );
    assert_roles(lab, "alpha", "bravo");
    let (code, out) = common::http(&["http://127.0.0.2:8080/OpenKM/Status"]);
    assert_eq!(
        (code, out.as_str()),
        (200, "OK"),
        "OpenKM runs on alpha again"
    );
}

#[test]
fn no_sync_runs_while_a_switchover_moves_the_service() {
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
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.starts_with("[ 2/") {
            break;
        }
    }
    // A cron sync (another process, its own data dir) meets the flow's lock.
    let (code, _, err) = common::okmirror(Some(&lab.config_path), &["sync", "--yes"]);
    for line in lines {
        seen.push_str(&line.unwrap());
        seen.push('\n');
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "{seen}");
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("another sync or flow holds the lock"), "{err}");
    let (code, out, err) = okm(
        lab,
        tmp.path(),
        &[
            "switchover",
            "--to",
            "alpha",
            "--yes",
            "--confirm-node",
            "alpha",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_traffic_moved(lab, "alpha", "bravo");
    // The flows released their locks.
    let (code, out, err) = common::okmirror(Some(&lab.config_path), &["sync", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
}
