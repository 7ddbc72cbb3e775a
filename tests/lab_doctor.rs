//! `okmirror doctor` and `okmirror agent install` against the lab: a healthy lab passes,
//! then one prerequisite at a time is broken (and put back), and the doctor must name
//! the failure with its fix.

mod common;

use std::path::{Path, PathBuf};

use serde_json::Value;

/// Runs `okmirror doctor --json` with `config`; returns (exit code, report).
fn doctor(config: &Path) -> (i32, Value) {
    let (code, out, err) = common::okmirror(Some(config), &["doctor", "--json"]);
    let v = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    (code, v)
}

/// The checks of `topic` (on `node`, or pair-wide with `None`).
fn checks<'a>(v: &'a Value, topic: &str, node: Option<&str>) -> Vec<&'a Value> {
    v["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["topic"] == topic && node.is_none_or(|n| c["node"] == n))
        .collect()
}

/// The one failed check of `topic`, with its fix; panics naming the report otherwise.
fn failed<'a>(v: &'a Value, topic: &str, node: Option<&str>) -> (&'a str, &'a str) {
    let f: Vec<_> = checks(v, topic, node)
        .into_iter()
        .filter(|c| c["verdict"] == "fail")
        .collect();
    assert_eq!(
        f.len(),
        1,
        "one failed {topic} check on {node:?} expected:\n{v:#}"
    );
    (
        f[0]["found"].as_str().unwrap_or_default(),
        f[0]["fix"].as_str().unwrap_or_default(),
    )
}

/// Runs the given closure when dropped: puts a broken prerequisite back, panic or not.
struct Undo<F: FnMut()>(F);
impl<F: FnMut()> Drop for Undo<F> {
    fn drop(&mut self) {
        (self.0)()
    }
}

/// A file placed first on `node`'s PATH (the lab's path-override folder), removed on drop.
fn stand_in(lab: &common::Lab, node: &str, name: &str, script: &str) -> Undo<impl FnMut()> {
    use std::os::unix::fs::PermissionsExt;
    let path: PathBuf = lab.dir.join(format!("nodes/{node}/path-override/{name}"));
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    Undo(move || {
        let _ = std::fs::remove_file(&path);
    })
}

/// Removes the agents `agent install` put into the lab's nodes.
fn remove_agents(lab: &common::Lab) {
    for n in ["alpha", "bravo"] {
        let _ = std::fs::remove_dir_all(lab.dir.join(format!("nodes/{n}/agent")));
    }
}

#[test]
fn a_healthy_lab_with_its_agents_installed_passes_every_check() {
    let (lab, _g) = common::exclusive();
    let _clean = Undo(|| remove_agents(lab));
    let (code, out, err) = common::okmirror(Some(&lab.config_path), &["agent", "install"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("alpha: installed") && out.contains("checked on the node"),
        "{out}"
    );
    let (code, out, _) = common::okmirror(Some(&lab.config_path), &["agent", "install", "bravo"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("already this build"),
        "a second install copies nothing: {out}"
    );

    let (code, v) = doctor(&lab.config_path);
    let not_ok: Vec<_> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["verdict"] != "pass")
        .collect();
    assert!(not_ok.is_empty(), "{not_ok:#?}");
    assert_eq!(code, 0, "{v:#}");
    for topic in [
        "ssh",
        "peer_ssh",
        "rsync",
        "datastore",
        "service",
        "binlog",
        "gtid",
        "grants",
        "replication_user",
        "version_table",
        "clock",
        "agent",
    ] {
        assert_eq!(
            checks(&v, topic, Some("bravo")).len(),
            1,
            "{topic} on bravo:\n{v:#}"
        );
    }
    let agent = checks(&v, "agent", Some("alpha"))[0]["found"]
        .as_str()
        .unwrap();
    assert_eq!(agent, format!("okmirror {}", env!("CARGO_PKG_VERSION")));
    // The dashboard's probe sees the agent too.
    let (_, out, _) = common::okmirror(Some(&lab.config_path), &["status", "--json", "--no-diff"]);
    let s: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        s["nodes"][1]["facts"]["agent_version"],
        env!("CARGO_PKG_VERSION")
    );
}

#[test]
fn gtid_strict_mode_off_is_named_with_its_fix() {
    let (lab, _g) = common::exclusive();
    lab.sql("bravo", "SET GLOBAL gtid_strict_mode = 0");
    let _undo = Undo(|| {
        let _ = lab.try_sql("bravo", "SET GLOBAL gtid_strict_mode = 1", false);
    });
    let (code, v) = doctor(&lab.config_path);
    assert_eq!(code, 2);
    let (found, fix) = failed(&v, "gtid", Some("bravo"));
    assert!(found.contains("gtid_strict_mode = OFF"), "{found}");
    assert!(fix.contains("SET GLOBAL gtid_strict_mode = ON"), "{fix}");
    assert!(checks(&v, "gtid", Some("alpha"))[0]["verdict"] == "pass");
}

#[test]
fn a_missing_grant_is_named_as_the_grant_statement_that_adds_it() {
    let (lab, _g) = common::exclusive();
    lab.sql(
        "alpha",
        "REVOKE READ_ONLY ADMIN ON *.* FROM 'okmirror'@'127.0.0.%'",
    );
    lab.wait_replicated("alpha", "bravo");
    let _undo = Undo(|| {
        let _ = lab.try_sql(
            "alpha",
            "GRANT READ_ONLY ADMIN ON *.* TO 'okmirror'@'127.0.0.%'",
            false,
        );
        lab.wait_replicated("alpha", "bravo");
    });
    let (code, v) = doctor(&lab.config_path);
    assert_eq!(code, 2);
    for node in ["alpha", "bravo"] {
        let (_, fix) = failed(&v, "grants", Some(node));
        assert!(
            fix.ends_with("GRANT READ_ONLY ADMIN ON *.* TO 'okmirror'@'127.0.0.%';"),
            "{fix}"
        );
    }
}

#[test]
fn rsync_missing_on_bravo_is_named() {
    let (lab, _g) = common::exclusive();
    let _shim = stand_in(
        lab,
        "bravo",
        "rsync",
        "#!/bin/sh\necho 'sh: 1: rsync: not found' >&2\nexit 127\n",
    );
    let (code, v) = doctor(&lab.config_path);
    assert_eq!(code, 2);
    let (found, fix) = failed(&v, "rsync", Some("bravo"));
    assert!(found.contains("exit 127"), "{found}");
    assert!(fix.contains("apt-get install rsync"), "{fix}");
    assert_eq!(checks(&v, "rsync", Some("alpha"))[0]["verdict"], "pass");
}

#[test]
fn a_writable_mirror_is_split_brain_with_its_fix() {
    let (lab, _g) = common::exclusive();
    lab.sql("bravo", "SET GLOBAL read_only = 0");
    let _undo = Undo(|| {
        let _ = lab.try_sql("bravo", "SET GLOBAL read_only = 1", false);
    });
    let (code, v) = doctor(&lab.config_path);
    assert_eq!(code, 2);
    let (found, fix) = failed(&v, "roles", None);
    assert!(found.contains("both databases are writable"), "{found}");
    assert!(fix.contains("SET GLOBAL read_only = ON"), "{fix}");
}

#[test]
fn a_wrong_haproxy_server_name_lists_the_real_ones() {
    let (lab, _g) = common::shared();
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(&lab.config_path).unwrap();
    let wrong = text.replacen(
        "haproxy_server = \"bravo\"",
        "haproxy_server = \"charlie\"",
        1,
    );
    assert_ne!(wrong, text, "the lab config names bravo's HAProxy server");
    let path = dir.path().join("okmirror.toml");
    std::fs::write(&path, wrong).unwrap();
    let (code, v) = doctor(&path);
    assert_eq!(code, 2);
    let (found, fix) = failed(&v, "haproxy", None);
    assert!(
        found.contains("bravo (haproxy_server \"charlie\")"),
        "{found}"
    );
    assert!(fix.ends_with("one of: alpha, bravo"), "{fix}");
}

#[test]
fn a_node_clock_two_minutes_ahead_is_named() {
    let (lab, _g) = common::exclusive();
    // A `date` two minutes ahead on bravo only: the machine's clock is not touched.
    let _shim = stand_in(
        lab,
        "bravo",
        "date",
        "#!/bin/sh\nexec /bin/date -d \"@$(( $(/bin/date +%s) + 120 )).$(/bin/date +%N)\" \"$@\"\n",
    );
    let (code, v) = doctor(&lab.config_path);
    assert_eq!(code, 2);
    let (found, fix) = failed(&v, "clock", Some("bravo"));
    assert!(found.starts_with("+12"), "{found}");
    assert!(fix.contains("timedatectl set-ntp true"), "{fix}");
    assert_eq!(checks(&v, "clock", Some("alpha"))[0]["verdict"], "pass");
}
