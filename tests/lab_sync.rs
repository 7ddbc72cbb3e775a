//! Sync runs against the lab: a verified clone, the deletion guard, and direction from
//! live roles only.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use sha2::{Digest, Sha256};

fn okmirror(lab: &common::Lab, args: &[&str]) -> (i32, String, String) {
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_okmirror"))
        .arg("--config")
        .arg(&lab.config_path)
        .args(args)
        .env("OKMIRROR_DATA_DIR", data.path())
        .output()
        .expect("running okmirror");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
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
    for i in 0..5 {
        let (code, body) = common::http(&[
            "-u",
            "okmAdmin:admin",
            "-F",
            &format!("docPath=/okm:root/sync-test/{}-{i}.txt", std::process::id()),
            "-F",
            "content=@/etc/hostname",
            "http://127.0.0.1:8080/OpenKM/services/rest/document/createSimple",
        ]);
        assert_eq!(code, 200, "{body}");
    }
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
}

#[test]
fn an_emptied_main_datastore_is_refused_by_the_deletion_guard() {
    let (lab, _g) = common::exclusive();
    let alpha = ds(lab, "alpha");
    let aside = lab.dir.join("nodes/alpha/datastore-aside");
    std::fs::rename(&alpha, &aside).unwrap();
    std::fs::create_dir(&alpha).unwrap();
    let before = tree(&ds(lab, "bravo"));
    let result = std::panic::catch_unwind(|| okmirror(lab, &["sync", "--yes"]));
    std::fs::remove_dir(&alpha).unwrap();
    std::fs::rename(&aside, &alpha).unwrap();
    let (code, out, err) = result.unwrap();
    assert_ne!(code, 0, "{out}{err}");
    assert!(err.contains("refusing to sync: the plan deletes"), "{err}");
    assert!(err.contains("--allow-deletes"), "{err}");
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
