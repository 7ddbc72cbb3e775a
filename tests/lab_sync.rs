//! Sync runs against the lab: a verified clone, the deletion guard, and direction from
//! live roles only.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

fn okmirror(lab: &common::Lab, args: &[&str]) -> (i32, String, String) {
    common::okmirror(Some(&lab.config_path), args)
}

/// Every file under `root` with its SHA-256, computed here, independently of okmirror.
fn tree(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(root).unwrap().display().to_string();
                out.insert(
                    rel,
                    format!("{:x}", Sha256::digest(std::fs::read(&p).unwrap())),
                );
            }
        }
    }
    out
}

fn ds(lab: &common::Lab, node: &str) -> std::path::PathBuf {
    lab.dir
        .join(format!("nodes/{node}/openkm/repository/datastore"))
}

#[test]
fn a_sync_makes_the_mirror_a_verified_clone_and_leaves_a_record() {
    let (lab, _g) = common::exclusive();
    // Drift: documents the mirror lacks, and a stray file only the mirror has.
    new_documents("sync-test", 5);
    let stray = ds(lab, "bravo").join("ff/ff/ff/ff/stray");
    std::fs::create_dir_all(stray.parent().unwrap()).unwrap();
    std::fs::write(&stray, b"only on the mirror").unwrap();
    assert_ne!(tree(&ds(lab, "alpha")), tree(&ds(lab, "bravo")));

    let (code, out, err) = okmirror(lab, &["sync", "--yes", "--json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["source"], "alpha");
    assert_eq!(r["target"], "bravo");
    assert_eq!(r["verified"], true, "{out}");
    assert!(r["plan"]["new_files"].as_u64().unwrap() >= 5, "{out}");
    assert!(r["plan"]["deleted"].as_u64().unwrap() >= 1, "{out}");
    assert!(r["main_downtime_ms"].as_u64().unwrap() > 0);
    // Where the downtime went, phase by phase: the freeze, then the snapshot, the
    // catch-up and the journal point together (the final pass is after the thaw), then
    // the thaw. They add up to it, give or take the few statements between them.
    let parts = &r["downtime_parts"];
    let part = |k: &str| {
        parts[k]
            .as_u64()
            .unwrap_or_else(|| panic!("{k} in {parts}"))
    };
    assert_eq!(part("final_pass_ms"), 0, "{parts}");
    let together = ["index_snapshot_ms", "catch_up_ms", "journal_point_ms"]
        .map(part)
        .into_iter()
        .max()
        .unwrap();
    let sum = part("freeze_ms") + together + part("thaw_ms");
    let total = r["main_downtime_ms"].as_u64().unwrap();
    assert!(
        sum <= total && total - sum <= 20,
        "{parts} against {total} ms"
    );
    assert!(parts["freeze_ms"].as_u64().unwrap() > 0, "{parts}");

    // Checked independently: the same files with the same bytes.
    assert_eq!(tree(&ds(lab, "alpha")), tree(&ds(lab, "bravo")));
    assert!(!stray.exists());
    // The node-specific key is never copied.
    let key = |n: &str| {
        std::fs::read(
            lab.dir
                .join(format!("nodes/{n}/openkm/repository/.system.key")),
        )
        .unwrap()
    };
    assert_ne!(key("alpha"), key("bravo"));
    // The record is on the mirror, and the dashboard reads it.
    let rec: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(lab.dir.join("nodes/bravo/state/last-sync.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(rec["verified"], true);
    assert_eq!(rec["source"], "alpha");
    let (_, status, _) = okmirror(lab, &["status", "--no-diff"]);
    assert!(
        status.contains("last sync:   0 ms ago, alpha -> bravo")
            || status.contains("s ago, alpha -> bravo"),
        "{status}"
    );
    // The mirror stays read-only, and both OpenKMs run again.
    assert_eq!(
        lab.sql("bravo", "SELECT @@read_only, (SELECT CFG_VALUE FROM okmdb.OKM_CONFIG WHERE CFG_KEY='system.readonly')"),
        "1\ttrue"
    );
    assert!(status.contains("alpha        main        ok"), "{status}");
    assert!(!status.contains("STOPPED"), "{status}");
    // The verify counted both datastores: the dashboard shows those counts, exactly
    // what is on disk, without walking the datastore itself.
    let (_, out, _) = okmirror(lab, &["status", "--json", "--no-diff"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    for (i, node) in ["alpha", "bravo"].iter().enumerate() {
        let f = &v["nodes"][i]["facts"];
        assert_eq!(
            f["datastore_files"].as_u64(),
            Some(tree(&ds(lab, node)).len() as u64),
            "{node}: {f}"
        );
        assert!(f["datastore_counted_at"].as_u64().is_some(), "{node}: {f}");
        // Bytes only where the manifest had sizes (the agent's); sha256sum's has none,
        // and an unknown size must never read as 0.
        let bytes: u64 = tree(&ds(lab, node))
            .keys()
            .map(|rel| std::fs::metadata(ds(lab, node).join(rel)).unwrap().len())
            .sum();
        match f["datastore_bytes"].as_u64() {
            Some(b) => assert_eq!(b, bytes, "{node}: {f}"),
            None => assert!(f["datastore_bytes"].is_null(), "{node}: {f}"),
        }
    }
}

/// `n` files on bravo's datastore that alpha and its database know nothing of (a plan
/// deletes them); removed again when the returned guard drops.
struct Strays(PathBuf);

impl Strays {
    fn put(lab: &common::Lab, n: usize) -> Strays {
        let dir = ds(lab, "bravo").join("ee/ee/ee/ee");
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..n {
            std::fs::write(dir.join(format!("stray-{i}")), b"only on the mirror").unwrap();
        }
        Strays(dir)
    }

    fn count(&self) -> usize {
        std::fs::read_dir(&self.0).map_or(0, |d| d.count())
    }
}

impl Drop for Strays {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_plan_that_deletes_over_the_limit_is_refused_by_the_deletion_guard() {
    let (lab, _g) = common::exclusive();
    let strays = Strays::put(lab, 150);
    let before = tree(&ds(lab, "bravo"));
    let (code, out, err) = okmirror(lab, &["sync", "--yes"]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        err.contains("refusing to sync: the plan deletes 15"),
        "{err}"
    );
    assert!(err.contains("--allow-deletes 15"), "{err}");
    assert_eq!(strays.count(), 150);
    assert_eq!(
        tree(&ds(lab, "bravo")),
        before,
        "nothing may be deleted on the mirror"
    );
}

/// Creates `n` documents through the front door (so they are in OpenKM's version journal).
fn new_documents(tag: &str, n: usize) {
    for i in 0..n {
        let (code, body) = common::http(&[
            "-u",
            "okmAdmin:admin",
            "-F",
            &format!("docPath=/okm:root/{tag}-{}/{i}.txt", std::process::id()),
            "-F",
            "content=@/etc/hostname",
            "http://127.0.0.1:8080/OpenKM/services/rest/document/createSimple",
        ]);
        assert_eq!(code, 200, "{body}");
    }
}

/// The datastore files (relative to the datastore) of the documents `new_documents`
/// wrote under `tag`, in document order.
fn files_of(lab: &common::Lab, tag: &str) -> Vec<String> {
    lab.sql(
        "alpha",
        &format!(
            "SELECT NDV_UUID FROM okmdb.OKM_NODE_DOCUMENT_VERSION \
             WHERE NDV_PATH LIKE '/okm:root/{tag}-{}/%' ORDER BY NDV_CREATED",
            std::process::id()
        ),
    )
    .lines()
    .map(|u| okmirror::db::versions::datastore_file(u.trim()).expect("a version UUID"))
    .collect()
}

#[test]
fn a_journal_plan_copies_new_versions_and_its_verify_repairs_the_rest() {
    let (lab, _g) = common::exclusive();
    new_documents("journal-old", 3);
    // A scan first: its verified record holds the journal point the next plan starts at.
    let (code, out, err) = okmirror(lab, &["sync", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    // What no journal names: a version purged on the main (rows and file, as OpenKM's
    // purge does), a file damaged on the mirror (same size and time, other bytes), and
    // one the mirror lost.
    let old = files_of(lab, "journal-old");
    let [purged, damaged, lost] = [&old[0], &old[1], &old[2]];
    let uuid = purged.rsplit('/').next().unwrap();
    lab.sql(
        "alpha",
        &format!(
            "USE okmdb; DELETE b, v FROM OKM_NODE_DOCUMENT_VERSION v \
             JOIN OKM_NODE_BASE b ON b.NBS_UUID = v.NDV_PARENT WHERE v.NDV_UUID = '{uuid}'"
        ),
    );
    std::fs::remove_file(ds(lab, "alpha").join(purged)).unwrap();
    let hurt = ds(lab, "bravo").join(damaged);
    let meta = std::fs::metadata(&hurt).unwrap();
    let bad = vec![b'x'; meta.len() as usize];
    std::fs::write(&hurt, &bad).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&hurt)
        .unwrap()
        .set_modified(meta.modified().unwrap())
        .unwrap();
    std::fs::remove_file(ds(lab, "bravo").join(lost)).unwrap();
    new_documents("journal-new", 5);

    let (code, out, err) = okmirror(lab, &["sync", "--yes", "--json", "--plan", "journal"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["planned_by"], "journal", "{out}");
    assert!(r["plan"]["new_files"].as_u64().unwrap() >= 5, "{out}");
    assert_eq!(
        r["plan"]["deleted"], 0,
        "the journal names no deletion: {out}"
    );
    assert!(
        r["repaired"].as_u64().unwrap() >= 2,
        "the purged and the damaged file are the verify's to find: {out}"
    );
    assert_eq!(r["verified"], true, "{out}");
    assert!(
        err.contains("planning: the datastore from OpenKM's version journal"),
        "{err}"
    );
    // Checked independently: a clone, the purged file gone, the others whole.
    assert_eq!(tree(&ds(lab, "alpha")), tree(&ds(lab, "bravo")));
    assert!(!ds(lab, "bravo").join(purged).exists());
    assert_ne!(std::fs::read(&hurt).unwrap(), bad);
    assert!(ds(lab, "bravo").join(lost).exists());
    for f in files_of(lab, "journal-new") {
        assert!(ds(lab, "bravo").join(&f).exists(), "{f}");
    }
    let rec: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(lab.dir.join("nodes/bravo/state/last-sync.json")).unwrap(),
    )
    .unwrap();
    assert!(rec["journal_point"].is_string(), "{rec}");
}

#[test]
fn a_journal_plans_verify_deletes_nothing_over_the_guard() {
    let (lab, _g) = common::exclusive();
    let (code, out, err) = okmirror(lab, &["sync", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    let strays = Strays::put(lab, 150);
    let before = tree(&ds(lab, "bravo"));
    let (code, out, err) = okmirror(lab, &["sync", "--yes", "--plan", "journal"]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        err.contains("planning: the datastore from OpenKM's version journal"),
        "{err}"
    );
    assert!(
        err.contains("refusing to sync: the plan deletes 15"),
        "{err}"
    );
    assert!(err.contains("MISMATCHES"), "the verify fails: {err}");
    assert_eq!(strays.count(), 150);
    assert_eq!(
        tree(&ds(lab, "bravo")),
        before,
        "nothing may be deleted on the mirror"
    );
}

#[test]
fn roles_swapped_by_hand_reverse_the_direction() {
    let (lab, _g) = common::exclusive();
    lab.sql("alpha", "SET GLOBAL read_only = 1");
    lab.sql("bravo", "SET GLOBAL read_only = 0");
    let result = std::panic::catch_unwind(|| okmirror(lab, &["sync", "--dry-run", "--json"]));
    lab.sql("bravo", "SET GLOBAL read_only = 1");
    lab.sql("alpha", "SET GLOBAL read_only = 0");
    let (code, out, err) = result.unwrap();
    assert_eq!(code, 0, "{out}{err}");
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["source"], "bravo", "the writable node is the source");
    assert_eq!(r["target"], "alpha");
    assert_eq!(r["dry_run"], true);
}

#[test]
fn a_sync_is_refused_while_both_nodes_are_writable() {
    let (lab, _g) = common::exclusive();
    lab.sql("bravo", "SET GLOBAL read_only = 0");
    let result = std::panic::catch_unwind(|| okmirror(lab, &["sync", "--yes"]));
    lab.sql("bravo", "SET GLOBAL read_only = 1");
    let (code, _, err) = result.unwrap();
    assert_ne!(code, 0);
    assert!(err.contains("refusing to sync: SPLIT BRAIN"), "{err}");
}

/// Writes a copy of the lab config with a bandwidth limit, so a transfer lasts a while,
/// and a short I/O timeout, so a hung target is noticed quickly.
fn slow_config(lab: &common::Lab, dir: &Path, kbps: u64) -> std::path::PathBuf {
    let text = std::fs::read_to_string(&lab.config_path).unwrap();
    let text = text.replace(
        "[sync]\n",
        &format!("[sync]\nbwlimit_kbps = {kbps}\nio_timeout_secs = 5\n"),
    );
    let p = dir.join("slow.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// PIDs of rsync processes whose command line mentions `needle`.
fn rsync_pids(needle: &str) -> Vec<i32> {
    let mut pids = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.starts_with("rsync ") && cmd.contains(needle) && cmd.contains("--partial-dir") {
            pids.push(pid);
        }
    }
    pids
}

/// Big files on alpha under `dir` (a name no hex UUID folder can have), each distinct.
fn big_files(lab: &common::Lab, dir: &str) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let root = ds(lab, "alpha").join(format!("{dir}/{dir}/{dir}/{dir}"));
    std::fs::create_dir_all(&root).unwrap();
    (0..3u8)
        .map(|i| {
            let data: Vec<u8> = (0..5_000_000u32)
                .map(|x| (x.wrapping_mul(2_654_435_761) >> 13) as u8 ^ i)
                .collect();
            let p = root.join(format!("big-{i}"));
            std::fs::write(&p, &data).unwrap();
            (p, data)
        })
        .collect()
}

/// Starts `okmirror sync --yes` with a slow config and waits until rsync moves files.
fn start_slow_sync(lab: &common::Lab, tmp: &Path) -> std::process::Child {
    let child = Command::new(env!("CARGO_BIN_EXE_okmirror"))
        .arg("--config")
        .arg(slow_config(lab, tmp, 3000))
        .args(["sync", "--yes"])
        .env("OKMIRROR_DATA_DIR", tmp)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while running_rsyncs(lab).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the bulk pass never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    std::thread::sleep(std::time::Duration::from_millis(800));
    child
}

fn running_rsyncs(lab: &common::Lab) -> Vec<i32> {
    rsync_pids(&lab.dir.join("nodes/alpha/openkm/").display().to_string())
}

/// After an interrupted run: a clear failure, no half-written file under a real name on
/// the mirror, and a rerun that completes and verifies. Cleans `dir` up on both nodes.
fn check_interrupted_then_rerun(
    lab: &common::Lab,
    out: std::process::Output,
    files: &[(std::path::PathBuf, Vec<u8>)],
    dir: &str,
) {
    let clean = || {
        let _ = std::fs::remove_dir_all(ds(lab, "alpha").join(dir));
        let _ = std::fs::remove_dir_all(ds(lab, "bravo").join(dir));
    };
    let err = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(0) || !err.contains("okmirror: rsync:") {
        clean();
        panic!("an interrupted run must fail clearly: {err}");
    }
    for (path, data) in files {
        let rel = path.strip_prefix(ds(lab, "alpha")).unwrap();
        let on_bravo = ds(lab, "bravo").join(rel);
        if on_bravo.exists() {
            assert!(
                std::fs::read(&on_bravo).unwrap() == *data,
                "{} is half-written",
                on_bravo.display()
            );
        }
    }
    let (code, out, err) = okmirror(lab, &["sync", "--yes", "--json"]);
    let verified = code == 0
        && serde_json::from_str::<serde_json::Value>(&out).is_ok_and(|r| r["verified"] == true)
        && tree(&ds(lab, "alpha")) == tree(&ds(lab, "bravo"));
    clean();
    assert!(verified, "the rerun must complete and verify: {out}\n{err}");
}

#[test]
fn a_killed_rsync_fails_clearly_leaves_no_partial_file_and_the_rerun_verifies() {
    let (lab, _g) = common::exclusive();
    let tmp = tempfile::tempdir().unwrap();
    let files = big_files(lab, "zz");
    let child = start_slow_sync(lab, tmp.path());
    for pid in running_rsyncs(lab) {
        // By PID: the sending rsync found above.
        let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
    }
    let out = child.wait_with_output().unwrap();
    // The main was never frozen: it still serves.
    let (code, _) = common::http(&["http://127.0.0.2:8080/OpenKM/Status"]);
    assert_eq!(code, 200);
    check_interrupted_then_rerun(lab, out, &files, "zz");
}

/// Every acknowledged document is in bravo's database and its file on bravo's datastore.
fn assert_all_on_bravo(lab: &common::Lab, acked: &[String]) {
    lab.wait_replicated("alpha", "bravo");
    lab.assert_docs_on("bravo", acked);
}

/// Runs `okmirror sync --yes` on `config`, calling `on_line` for each stderr line.
fn sync_following(
    config: &Path,
    data: &Path,
    mut on_line: impl FnMut(&str),
) -> (std::process::ExitStatus, String) {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_okmirror"))
        .arg("--config")
        .arg(config)
        .args(["sync", "--yes"])
        .env("OKMIRROR_DATA_DIR", data)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut log = String::new();
    for line in std::io::BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        on_line(&line);
        log.push_str(&line);
        log.push('\n');
    }
    (child.wait().unwrap(), log)
}

#[test]
fn documents_written_during_the_bulk_pass_are_all_on_the_mirror() {
    let (lab, _g) = common::exclusive();
    let tmp = tempfile::tempdir().unwrap();
    // Some bulk to move, so the bulk pass lasts while documents keep coming.
    let bulk = ds(lab, "alpha").join("zy/zy/zy/zy");
    std::fs::create_dir_all(&bulk).unwrap();
    std::fs::write(bulk.join("bulk"), vec![7u8; 4_000_000]).unwrap();
    let slow = slow_config(lab, tmp.path(), 2000);
    let writer = common::Writer::start(tmp.path(), "during-sync", 50);
    let (status, log) = sync_following(&slow, tmp.path(), |line| {
        if line.contains("sync: freezing") {
            // Documents acknowledged before the freeze must all reach the mirror.
            writer.stop();
        }
    });
    let acked = writer.finish();
    let _ = std::fs::remove_dir_all(ds(lab, "alpha").join("zy"));
    assert!(status.success(), "{log}");
    assert!(
        acked.len() >= 5,
        "the writer got {} documents in: {log}",
        acked.len()
    );
    // They came after the plan: the final pass found them in OpenKM's version journal.
    assert!(
        log.contains("final pass: ") && log.contains("new journal files"),
        "{log}"
    );
    let _ = std::fs::remove_dir_all(ds(lab, "bravo").join("zy"));
    assert_all_on_bravo(lab, &acked);
}

/// A config with `freeze = "database"`, in `dir`.
fn db_freeze_config(lab: &common::Lab, dir: &Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(&lab.config_path).unwrap();
    let config = dir.join("dbfreeze.toml");
    std::fs::write(
        &config,
        text.replace("[sync]\n", "[sync]\nfreeze = \"database\"\n"),
    )
    .unwrap();
    config
}

#[test]
fn with_a_database_freeze_the_plan_is_copied_after_the_thaw_with_the_journals_files() {
    let (lab, _g) = common::exclusive();
    let tmp = tempfile::tempdir().unwrap();
    let config = db_freeze_config(lab, tmp.path());
    // The plan: new documents (also in the journal) and a file outside the datastore.
    new_documents("after-thaw", 3);
    let home = |n: &str| lab.dir.join(format!("nodes/{n}/openkm"));
    std::fs::write(home("alpha").join("after-thaw.conf"), b"planned").unwrap();
    let (status, log) = sync_following(&config, tmp.path(), |_| {});
    let _ = std::fs::remove_file(home("alpha").join("after-thaw.conf"));
    let copied = std::fs::read(home("bravo").join("after-thaw.conf"));
    let _ = std::fs::remove_file(home("bravo").join("after-thaw.conf"));
    assert!(status.success(), "{log}");
    assert!(
        !log.contains("bulk pass"),
        "no transfer before the freeze: {log}"
    );
    let at = |needle: &str| {
        log.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} in {log}"))
    };
    assert!(at("the plan's files are copied after the freeze") < at("freezing: alpha's database"));
    // One transfer after the thaw: the journal's files the mirror lacks, none twice, and
    // the plan's paths.
    assert!(
        at("freezing: alpha's database") < at("final pass: "),
        "{log}"
    );
    assert!(log.contains("new journal files, with the plan's "), "{log}");
    assert_eq!(copied.ok().as_deref(), Some(&b"planned"[..]));
    assert!(log.contains("verify: OK"), "{log}");
    assert_eq!(tree(&ds(lab, "alpha")), tree(&ds(lab, "bravo")));
}

#[test]
fn a_database_freeze_keeps_openkm_running_and_writes_resume_after_it() {
    let (lab, _g) = common::exclusive();
    let tmp = tempfile::tempdir().unwrap();
    let config = db_freeze_config(lab, tmp.path());
    let pid = |n: &str| {
        std::fs::read_to_string(lab.dir.join(format!("nodes/{n}/run/openkm.pid"))).unwrap()
    };
    let before = (pid("alpha"), pid("bravo"));
    // Writes go on through the whole run, the freeze included (some are refused then).
    let writer = common::Writer::start(tmp.path(), "db-freeze", 50);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let (status, log) = sync_following(&config, tmp.path(), |_| {});
    std::thread::sleep(std::time::Duration::from_millis(500));
    let acked = writer.finish();
    assert!(status.success(), "{log}");
    assert!(
        log.contains("freezing: alpha's database read-only"),
        "{log}"
    );
    // Writes that landed after the consistency point are for the next sync, not mismatches.
    assert!(log.contains("verify: OK"), "{log}");
    assert_eq!(
        (pid("alpha"), pid("bravo")),
        before,
        "no OpenKM was restarted"
    );
    assert_eq!(
        lab.sql("alpha", "SELECT @@read_only"),
        "0",
        "alpha takes writes again"
    );
    assert_eq!(lab.sql("bravo", "SELECT @@read_only"), "1");
    assert!(acked.len() >= 10, "{} documents: {log}", acked.len());
    let (status, log) = sync_following(&config, tmp.path(), |_| {});
    assert!(status.success(), "{log}");
    assert_all_on_bravo(lab, &acked);
}

#[test]
fn one_sync_at_a_time_but_a_dead_consoles_lock_is_taken_over() {
    let (lab, _g) = common::exclusive();
    let lock = lab.dir.join("nodes/alpha/state/sync.lock");
    std::fs::create_dir_all(&lock).unwrap();
    std::fs::write(lock.join("owner"), "elsewhere.example.org:4242\n").unwrap();
    let (code, _, err) = okmirror(lab, &["sync", "--yes"]);
    assert_ne!(code, 0);
    assert!(err.contains("another sync or flow holds the lock"), "{err}");
    assert!(err.contains("elsewhere.example.org:4242"), "{err}");
    // A lock left by a console of this host that no longer runs is stale.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    std::fs::write(lock.join("owner"), format!("{}:999999999\n", host.trim())).unwrap();
    let (code, out, err) = okmirror(lab, &["sync", "--yes"]);
    let _ = std::fs::remove_dir_all(&lock);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!lock.exists(), "the run releases its lock");
    // Another host's console whose heartbeat stopped over a minute ago (killed, or its
    // host gone): its lock is stale and taken over.
    std::fs::create_dir_all(&lock).unwrap();
    std::fs::write(lock.join("owner"), "elsewhere.example.org:4242\n").unwrap();
    std::fs::write(lock.join("token"), "elsewhere.example.org:4242:1\n").unwrap();
    let beat = lock.join("beat");
    std::fs::write(&beat, b"").unwrap();
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(90);
    std::fs::File::options()
        .write(true)
        .open(&beat)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let (code, out, err) = okmirror(lab, &["sync", "--yes"]);
    let _ = std::fs::remove_dir_all(&lock);
    assert_eq!(
        code, 0,
        "a stale heartbeat's lock is taken over: {out}{err}"
    );
}

#[test]
fn a_mirror_frozen_mid_run_fails_clearly_and_the_rerun_verifies() {
    let (lab, _g) = common::exclusive();
    let tmp = tempfile::tempdir().unwrap();
    let files = big_files(lab, "zx");
    let child = start_slow_sync(lab, tmp.path());
    common::lab_script(&["freeze", "bravo"]);
    let out = child.wait_with_output();
    common::lab_script(&["thaw", "bravo"]);
    check_interrupted_then_rerun(lab, out.unwrap(), &files, "zx");
}

#[test]
fn dump_mode_never_shows_the_password_and_keeps_the_mirror_read_only() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    let (lab, _g) = common::exclusive();
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(&lab.config_path).unwrap();
    let cfg = tmp.path().join("dump.toml");
    std::fs::write(
        &cfg,
        text.replace("[sync]\n", "[sync]\ndatabase = \"dump\"\n"),
    )
    .unwrap();
    let password = std::fs::read_to_string(lab.dir.join("secrets/db_password")).unwrap();
    let password = password.trim().to_string();
    assert!(password.len() >= 8);
    // Scan every process's command line while the sync runs.
    let done = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let scans = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let scanner = {
        let (done, seen, scans, password) = (
            Arc::clone(&done),
            Arc::clone(&seen),
            Arc::clone(&scans),
            password.clone(),
        );
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                for e in std::fs::read_dir("/proc").unwrap().flatten() {
                    if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
                        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
                        if cmd.contains(&password) {
                            seen.lock().unwrap().push(cmd);
                        }
                    }
                }
                scans.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    let (code, out, err) = common::okmirror(Some(&cfg), &["sync", "--yes", "--json"]);
    done.store(true, Ordering::SeqCst);
    scanner.join().unwrap();
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        err.contains("dumping the main's database into the mirror"),
        "{err}"
    );
    assert!(scans.load(Ordering::SeqCst) > 10, "the scanner ran");
    assert!(
        seen.lock().unwrap().is_empty(),
        "password on a command line: {:?}",
        seen.lock().unwrap()
    );
    assert_eq!(
        lab.sql("bravo", "SELECT @@read_only, (SELECT CFG_VALUE FROM okmdb.OKM_CONFIG WHERE CFG_KEY='system.readonly')"),
        "1\ttrue"
    );
    // The import stayed out of the mirror's binlog: replication is unharmed.
    lab.sql("alpha", "FLUSH LOGS");
    lab.wait_replicated("alpha", "bravo");
    assert_eq!(
        lab.sql("bravo", "SHOW GLOBAL STATUS LIKE 'Slave_running'"),
        "Slave_running\tON"
    );
    assert!(
        !lab.sql("bravo", "SELECT @@gtid_binlog_pos")
            .contains("0-2-"),
        "no errant GTID on bravo"
    );
    // No option file is left behind in the nodes' temp folders.
    let leftovers = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("my.cnf").exists())
        .count();
    assert_eq!(leftovers, 0);
}

/// okmirror installed on the nodes for one test (the lab's nodes have
/// `<lab>/agent-bin` on their PATH); removed again on drop.
struct AgentInstalled(std::path::PathBuf);

impl AgentInstalled {
    fn new(lab: &common::Lab) -> AgentInstalled {
        let dir = lab.dir.join("agent-bin");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(env!("CARGO_BIN_EXE_okmirror"), dir.join("okmirror")).unwrap();
        AgentInstalled(dir)
    }
}

impl Drop for AgentInstalled {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn with_okmirror_on_the_nodes_verify_uses_its_agent_and_cache() {
    let (lab, _g) = common::exclusive();
    let _agent = AgentInstalled::new(lab);
    let caches: Vec<_> = ["alpha", "bravo"]
        .iter()
        .map(|n| lab.node(n).state_dir.join("manifest-cache.d"))
        .collect();
    for c in &caches {
        let _ = std::fs::remove_dir_all(c);
    }
    for round in 0..2 {
        let (code, out, err) = okmirror(lab, &["sync", "--yes", "--json"]);
        assert_eq!(code, 0, "round {round}: {out}{err}");
        let r: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(r["verified"], true, "{out}");
        assert!(r["verified_files"].as_u64().unwrap() > 100, "{out}");
    }
    for c in &caches {
        let rows: usize = std::fs::read_dir(c)
            .map(|d| d.flatten().collect::<Vec<_>>())
            .unwrap_or_default()
            .iter()
            .map(|e| {
                std::fs::read_to_string(e.path())
                    .unwrap_or_default()
                    .lines()
                    .count()
            })
            .sum();
        assert!(rows > 100, "{} holds the agent's cache", c.display());
    }
}

#[test]
fn a_service_freeze_carries_the_frozen_index_to_the_mirror_after_the_thaw() {
    let (lab, _g) = common::exclusive();
    let home = |n: &str| lab.dir.join(format!("nodes/{n}/openkm/repository"));
    let (a_index, b_index) = (home("alpha").join("index"), home("bravo").join("index"));
    std::fs::create_dir_all(a_index.join("docs")).unwrap();
    std::fs::write(a_index.join("docs/_7.cfs"), vec![7u8; 70_000]).unwrap();
    std::fs::create_dir_all(&b_index).unwrap();
    std::fs::write(b_index.join("_old.cfs"), b"an older segment").unwrap();
    // What a console killed after the freeze leaves on the main: a snapshot, with a
    // file that is not in the index any more. It must not reach the mirror.
    let leftover = home("alpha").join(".okmirror-index-snapshot");
    std::fs::create_dir_all(&leftover).unwrap();
    std::fs::write(leftover.join("_gone.cfs"), b"stale").unwrap();
    let (code, out, err) = okmirror(lab, &["sync", "--yes", "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    let parts = &r["downtime_parts"];
    // No transfer in the freeze: the journal named the new files.
    assert_eq!(parts["final_pass_ms"], 0, "{out}");
    assert!(parts["index_snapshot_ms"].as_u64().unwrap() > 0, "{out}");
    assert!(
        err.contains("index: copying the frozen snapshot into the mirror's index"),
        "{err}"
    );
    let index = tree(&a_index);
    let _ = std::fs::remove_dir_all(a_index.join("docs"));
    assert_eq!(tree(&b_index), index, "the mirror's index is the main's");
    assert!(!b_index.join("_gone.cfs").exists());
    assert!(!leftover.exists(), "the snapshot outlived its copy");
    let _ = std::fs::remove_dir_all(b_index.join("docs"));
}

#[test]
fn a_sync_that_died_in_a_database_freeze_is_recovered_by_the_next_run() {
    let (lab, _g) = common::exclusive();
    // What a console killed inside a database freeze leaves: alpha read-only, and a lock
    // with the freeze mark, owned by a console of this host that is gone.
    let lock = lab.dir.join("nodes/alpha/state/sync.lock");
    std::fs::create_dir_all(&lock).unwrap();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    std::fs::write(lock.join("owner"), format!("{}:999999999\n", host.trim())).unwrap();
    std::fs::write(lock.join("frozen"), "database\n").unwrap();
    lab.sql("alpha", "SET GLOBAL read_only = 1");
    let (code, out, err) = okmirror(lab, &["sync", "--yes"]);
    let _ = std::fs::remove_dir_all(&lock);
    lab.sql("alpha", "SET GLOBAL read_only = 0");
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("recovered: a sync (console") && err.contains("alpha's database read-only"),
        "{err}"
    );

    // A mark whose console still runs (this test's own process) is left alone.
    std::fs::create_dir_all(&lock).unwrap();
    std::fs::write(
        lock.join("owner"),
        format!("{}:{}\n", host.trim(), std::process::id()),
    )
    .unwrap();
    std::fs::write(lock.join("frozen"), "database\n").unwrap();
    lab.sql("alpha", "SET GLOBAL read_only = 1");
    let (code, _, err) = okmirror(lab, &["sync", "--yes"]);
    let _ = std::fs::remove_dir_all(&lock);
    lab.sql("alpha", "SET GLOBAL read_only = 0");
    assert_ne!(code, 0, "{err}");
    assert!(!err.contains("recovered"), "{err}");
}

#[test]
fn a_name_that_is_not_utf8_fails_the_sync_loudly_and_other_names_are_copied() {
    use std::os::unix::ffi::OsStrExt;
    let (lab, _g) = common::exclusive();
    let home = lab.node("alpha").openkm_home.clone();
    let dir = home.join("webapps/okmirror-names");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("café ünïcode.txt"), b"utf-8 name").unwrap();
    let bad = dir.join(std::ffi::OsStr::from_bytes(b"latin1-caf\xe9.txt"));
    std::fs::write(&bad, b"latin-1 name").unwrap();
    let (code, out, err) = okmirror(lab, &["sync", "--yes"]);
    let _ = std::fs::remove_file(&bad);
    assert_ne!(code, 0, "{out}{err}");
    assert!(err.contains("is not valid UTF-8"), "{err}");
    assert!(
        err.contains("latin1-caf"),
        "the refusal names the file: {err}"
    );
    let mirror = lab.node("bravo").openkm_home.join("webapps/okmirror-names");
    assert!(!mirror.exists(), "nothing was copied");
    // Renamed (here: removed), the rest goes through.
    let (code, out, err) = okmirror(lab, &["sync", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        std::fs::read(mirror.join("café ünïcode.txt")).unwrap(),
        b"utf-8 name"
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&mirror);
}

/// `okmirror diff --plan <mode> --json`, parsed.
fn diff(lab: &common::Lab, mode: &str) -> serde_json::Value {
    let (code, out, err) = okmirror(lab, &["diff", "--json", "--plan", mode]);
    assert_eq!(code, 0, "{out}\n{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn paths(plan: &serde_json::Value) -> Vec<String> {
    plan["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| c["path"].as_str().expect("a path").to_string())
        .collect()
}

#[test]
fn the_journal_view_lists_the_new_documents_the_mirror_lacks_and_a_scan_agrees() {
    let (lab, _g) = common::exclusive();
    let (code, out, err) = okmirror(lab, &["sync", "--yes"]);
    assert_eq!(
        code, 0,
        "a verified sync gives the view its start: {out}{err}"
    );
    new_documents("pending-view", 3);
    let wanted: Vec<String> = files_of(lab, "pending-view")
        .iter()
        .map(|f| format!("repository/datastore/{f}"))
        .collect();
    assert_eq!(wanted.len(), 3);
    // The mirror's replicated rows name them once replication has applied them.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let journal = loop {
        let j = diff(lab, "journal");
        if wanted.iter().all(|w| paths(&j).contains(w)) || std::time::Instant::now() > deadline {
            break j;
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
    };
    assert_eq!(journal["basis"]["by"], "journal", "{journal}");
    assert!(journal["basis"]["since"].is_string(), "{journal}");
    let listed = paths(&journal);
    for w in &wanted {
        assert!(listed.contains(w), "{w} not in the journal view {listed:?}");
    }
    assert!(
        journal["changes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["kind"] == "new"),
        "{journal}"
    );
    assert!(
        journal["documents"]
            .as_object()
            .is_some_and(|d| d.len() >= 3),
        "{journal}"
    );
    let scan = diff(lab, "scan");
    assert_eq!(scan["basis"]["by"], "scan", "{scan}");
    let scanned = paths(&scan);
    for w in &wanted {
        assert!(
            scanned.contains(w),
            "the scan must see {w} too: {scanned:?}"
        );
    }
    // Once synced, the journal view is empty again.
    let (code, out, err) = okmirror(lab, &["sync", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    let after = diff(lab, "journal");
    assert!(paths(&after).is_empty(), "{after}");
}

#[test]
fn the_journal_view_refuses_without_a_verified_sync_and_says_what_to_do() {
    let (lab, _g) = common::exclusive();
    let record = lab.dir.join("nodes/bravo/state/last-sync.json");
    let saved = std::fs::read(&record).ok();
    let _ = std::fs::remove_file(&record);
    let (code, out, err) = okmirror(lab, &["diff", "--plan", "journal"]);
    if let Some(s) = saved {
        std::fs::write(&record, s).unwrap();
    }
    assert_ne!(code, 0, "{out}");
    assert!(
        err.contains("no verified sync") && err.contains("--plan scan"),
        "{err}"
    );
}

/// Each change of a `diff --json` plan as (kind, path), for comparing two plans.
fn kinds(plan: &serde_json::Value) -> std::collections::BTreeSet<(String, String)> {
    plan["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| (c["kind"].to_string(), c["path"].to_string()))
        .collect()
}

#[test]
fn with_okmirror_on_both_nodes_a_scan_compares_their_datastore_listings_as_rsync_would() {
    let (lab, _g) = common::exclusive();
    let (a, b) = (ds(lab, "alpha"), ds(lab, "bravo"));
    // Drift of every kind in the datastore: new documents, a stray folder and file only
    // on the mirror, a file of another size there, a file whose permissions differ, one
    // owned by someone else there; and a new file outside the datastore.
    new_documents("listed-scan", 3);
    let stray = b.join("fe/fe/fe/fe/stray");
    std::fs::create_dir_all(stray.parent().unwrap()).unwrap();
    std::fs::write(&stray, b"only on the mirror").unwrap();
    let both = tree(&b);
    let mut shared = tree(&a).into_keys().filter(|k| both.contains_key(k));
    let (grown, chmodded) = (shared.next().unwrap(), shared.next().unwrap());
    let chowned = shared.next().unwrap();
    std::os::unix::fs::chown(b.join(&chowned), Some(1234), Some(1234)).unwrap();
    std::fs::write(b.join(&grown), b"another size on the mirror, same name").unwrap();
    use std::os::unix::fs::PermissionsExt;
    let perm = |p: &Path, mode| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    perm(&a.join(&chmodded), 0o600);
    let outside = lab.dir.join("nodes/alpha/openkm/listed-scan.txt");
    std::fs::write(&outside, b"outside the datastore").unwrap();

    let by_rsync = diff(lab, "scan");
    assert_eq!(
        by_rsync["datastore_listed"], false,
        "no okmirror on the nodes yet"
    );
    let agent = AgentInstalled::new(lab);
    let listed = diff(lab, "scan");
    assert_eq!(listed["datastore_listed"], true, "{listed}");
    assert_eq!(kinds(&listed), kinds(&by_rsync));
    assert_eq!(listed["totals"], by_rsync["totals"]);
    let found = kinds(&listed);
    let has = |kind: &str, path: &str| found.contains(&(format!("{kind:?}"), format!("{path:?}")));
    let d = |rel: &str| format!("repository/datastore/{rel}");
    assert!(has("deleted", &d("fe/fe/fe/fe/stray")), "{found:?}");
    // Folders are counted, not listed: the stray file's own at least (the main may
    // hold some of the folders above it).
    assert!(
        listed["totals"]["deleted"].as_u64().unwrap() >= 2,
        "{listed}"
    );
    assert!(has("attributes", &d(&chowned)), "{found:?}");
    assert!(
        has("changed", &d(&grown)) && has("attributes", &d(&chmodded)),
        "{found:?}"
    );
    assert!(has("new", "listed-scan.txt"), "{found:?}");
    for f in files_of(lab, "listed-scan") {
        assert!(has("new", &d(&f)), "{f}: {found:?}");
    }

    // The same plan copied: the mirror a verified clone, and nothing left to plan.
    let (code, out, err) = okmirror(lab, &["sync", "--yes", "--json", "--plan", "scan"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("datastore compared from both nodes' listings"),
        "{err}"
    );
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["verified"], true, "{out}");
    assert!(!stray.exists());
    use std::os::unix::fs::MetadataExt;
    let owner = |p: &Path| std::fs::metadata(p).map(|m| (m.uid(), m.gid())).unwrap();
    assert_eq!(owner(&b.join(&chowned)), owner(&a.join(&chowned)));
    assert_eq!(
        std::fs::read(b.join(&grown)).unwrap(),
        std::fs::read(a.join(&grown)).unwrap()
    );
    let after = diff(lab, "scan");
    assert_eq!(after["datastore_listed"], true);
    assert!(paths(&after).is_empty(), "{after}");
    drop(agent);
    perm(&a.join(&chmodded), 0o644);
    perm(&b.join(&chmodded), 0o644);
    let _ = std::fs::remove_file(&outside);
    let _ = std::fs::remove_file(lab.dir.join("nodes/bravo/openkm/listed-scan.txt"));
}
