//! `okmirror status` and `okmirror diff` against the lab, with the faults an admin meets:
//! a stopped replica thread, both nodes writable, OpenKM down, files added and removed.

mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use okmirror::pair::roles::PairRoles;
use okmirror::pair::{Monitor, spawn_heartbeat_writer};

fn okmirror(lab: &common::Lab, args: &[&str]) -> (i32, String, String) {
    common::okmirror(Some(&lab.config_path), args)
}

#[test]
fn a_healthy_pair_shows_roles_flags_and_replication() {
    let (lab, _g) = common::exclusive();
    // One HTTP call can be lost while a stand-in drains connections left from an earlier
    // freeze (tiny_http drops them with a panic in the connection's thread): the UUIDs must
    // both be read within a few probes.
    let mut attempt = 0;
    let (code, out, v) = loop {
        attempt += 1;
        let (code, out, err) = okmirror(lab, &["status", "--json"]);
        let v: serde_json::Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
        let both = (0..2).all(|i| v["nodes"][i]["facts"]["repository_uuid"].is_string());
        if both || attempt == 3 {
            break (code, out, v);
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    };
    assert_eq!(v["roles"]["state"], "normal", "{out}");
    assert_eq!(v["nodes"][0]["name"], "alpha");
    assert_eq!(v["nodes"][0]["role"], "main");
    assert_eq!(v["nodes"][1]["role"], "mirror");
    assert_eq!(v["nodes"][0]["db"]["read_only"], false);
    assert_eq!(v["nodes"][1]["db"]["read_only"], true);
    assert_eq!(v["nodes"][1]["db"]["system_readonly"], true);
    assert_eq!(v["nodes"][1]["db"]["replica"]["io"], "yes");
    assert_eq!(v["nodes"][0]["facts"]["service_running"], true);
    assert_eq!(v["nodes"][0]["facts"]["http"][0], 200);
    assert_eq!(
        v["nodes"][0]["facts"]["repository_uuid"], v["nodes"][1]["facts"]["repository_uuid"],
        "a clone has the same repository UUID"
    );
    let lag = v["lag"]["heartbeat_secs"]
        .as_f64()
        .expect("heartbeat lag measured");
    assert!(lag < 1.0, "lag {lag} on an idle lab");
    assert_eq!(v["lag"]["transactions_behind"], 0);
    // Nothing is critical on a healthy pair (a never-synced mirror is a warning at most).
    assert!(code == 0 || code == 1, "exit {code}: {out}");
    assert_ne!(v["severity"], "CRITICAL");
}

#[test]
fn a_stopped_sql_thread_is_critical_and_the_lag_grows_then_recovers() {
    let (lab, _g) = common::exclusive();
    lab.sql("bravo", "STOP SLAVE SQL_THREAD");
    let (code, out, _) = okmirror(lab, &["status", "--no-diff"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("CRITICAL bravo: replication SQL thread stopped"),
        "{out}"
    );

    // With the console's heartbeat writer running, the lag grows while SQL is stopped...
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let m = Arc::new(Monitor::new(Arc::new(lab.config.clone())));
        m.probe_pair(None).await; // the writer writes only where a snapshot saw the main
        let writer = spawn_heartbeat_writer(Arc::clone(&m));
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let s = m.probe_pair(None).await;
        let lag = s.lag.heartbeat_secs.expect("lag measured");
        assert!(
            lag > 1.5,
            "lag {lag} should grow while the SQL thread is stopped"
        );

        lab.sql("bravo", "START SLAVE SQL_THREAD");
        // ...and falls back under a second once it runs again.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let s = m.probe_pair(None).await;
            if let Some(l) = s.lag.heartbeat_secs
                && l < 1.0
            {
                break;
            }
            assert!(Instant::now() < deadline, "lag stayed {:?}", s.lag);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        writer.abort();
    });
}

#[test]
fn both_nodes_writable_is_split_brain() {
    let (lab, _g) = common::exclusive();
    lab.sql("bravo", "SET GLOBAL read_only = 0");
    let result = std::panic::catch_unwind(|| okmirror(lab, &["status", "--no-diff"]));
    lab.sql("bravo", "SET GLOBAL read_only = 1");
    let (code, out, _) = result.unwrap();
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("SPLIT BRAIN"), "{out}");
    assert!(out.contains("alpha        SPLIT-BRAIN"), "{out}");
    let (_, prom, _) = okmirror(lab, &["status", "--no-diff", "--prometheus"]);
    assert!(
        prom.contains("okmirror_split_brain{pair=\"lab\"} 0"),
        "restored: {prom}"
    );
}

#[test]
fn openkm_stopped_on_the_main_turns_service_and_http_red() {
    let (lab, _g) = common::exclusive();
    let svc = lab.node("alpha").service.clone();
    let run = |cmd: &str| {
        let ok = Command::new("sh").arg("-c").arg(cmd).status().unwrap();
        assert!(ok.success(), "{cmd}");
    };
    run(&svc.stop);
    let result = std::panic::catch_unwind(|| okmirror(lab, &["status", "--no-diff"]));
    run(&svc.start);
    let (code, out, _) = result.unwrap();
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("alpha        main        ok"), "{out}");
    assert!(out.contains("STOPPED  no answer"), "{out}");
    assert!(
        out.contains("CRITICAL alpha: OpenKM service is not running"),
        "{out}"
    );
    assert!(
        out.contains("CRITICAL alpha: OpenKM HTTP: no answer"),
        "{out}"
    );
}

#[test]
fn diff_lists_exactly_the_files_added_and_removed_on_the_main() {
    let (lab, _g) = common::exclusive();
    let ds = |n: &str| {
        lab.dir
            .join(format!("nodes/{n}/openkm/repository/datastore"))
    };
    // Start from a clone.
    let ok = Command::new("rsync")
        .args(["-a", "--delete"])
        .arg(format!("{}/", ds("alpha").display()))
        .arg(format!("{}/", ds("bravo").display()))
        .status()
        .unwrap();
    assert!(ok.success());
    let (_, before, _) = okmirror(lab, &["diff", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&before).unwrap();
    assert_eq!(v["changes"].as_array().unwrap().len(), 0, "{before}");

    let added = ds("alpha").join("zz/00/11/22/zz001122-added");
    std::fs::create_dir_all(added.parent().unwrap()).unwrap();
    std::fs::write(&added, b"seven b").unwrap();
    let victim = walk_first_file(&ds("alpha"));
    let keep = std::fs::read(&victim).unwrap();
    std::fs::remove_file(&victim).unwrap();

    let result = std::panic::catch_unwind(|| okmirror(lab, &["diff", "--json"]));
    std::fs::write(&victim, keep).unwrap();
    std::fs::remove_dir_all(ds("alpha").join("zz")).unwrap();
    let (code, out, err) = result.unwrap();
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rel = |p: &std::path::Path| {
        p.strip_prefix(lab.dir.join("nodes/alpha/openkm"))
            .unwrap()
            .display()
            .to_string()
    };
    let mut got: Vec<(String, String, u64)> = v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["kind"].as_str().unwrap().to_string(),
                c["path"].as_str().unwrap().to_string(),
                c["size"].as_u64().unwrap(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("deleted".to_string(), rel(&victim), 0),
            ("new".to_string(), rel(&added), 7),
        ]
    );
    assert_eq!(v["source"], "alpha");
    assert_eq!(v["target"], "bravo");
}

fn walk_first_file(dir: &std::path::Path) -> std::path::PathBuf {
    first_file(dir).unwrap_or_else(|| panic!("no file under {}", dir.display()))
}

/// The first file in sorted order, skipping empty folders (a purged version's folder).
fn first_file(dir: &std::path::Path) -> Option<std::path::PathBuf> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    entries.into_iter().find_map(|e| {
        if e.is_file() {
            Some(e)
        } else if e.is_dir() && !e.ends_with("zz") {
            first_file(&e)
        } else {
            None
        }
    })
}

#[tokio::test]
async fn a_frozen_mirror_is_reported_unreachable_within_the_timeout() {
    let (lab, _g) = common::exclusive();
    common::lab_script(&["freeze", "bravo"]);
    let m = Monitor::new(Arc::new(lab.config.clone()));
    let t = Instant::now();
    let s = m.probe_pair(None).await;
    let took = t.elapsed();
    common::lab_script(&["thaw", "bravo"]);
    assert!(took < Duration::from_secs(12), "probe took {took:?}");
    let bravo = &s.nodes[1];
    assert!(
        bravo.ssh_error.is_some() && bravo.db_error.is_some(),
        "{bravo:?}"
    );
    assert!(
        matches!(
            s.roles,
            PairRoles::Partial {
                known: okmirror::config::NodeId::First,
                ..
            }
        ),
        "{:?}",
        s.roles
    );
}

#[tokio::test]
async fn the_heartbeat_writer_never_writes_on_a_node_that_replicates() {
    let (lab, _g) = common::exclusive();
    // bravo's own row (server_id 2) exists when it once was the main (a switchover);
    // what matters is that nothing writes it while bravo replicates.
    let bravo_beats = || {
        lab.sql(
            "bravo",
            "SELECT CONCAT(COUNT(*), '/', COALESCE(MAX(seq), 0)) FROM okmirror.heartbeat WHERE server_id = 2",
        )
    };
    let before = bravo_beats();
    let m = Arc::new(Monitor::new(Arc::new(lab.config.clone())));
    m.probe_pair(None).await;
    let writer = spawn_heartbeat_writer(Arc::clone(&m));
    tokio::time::sleep(Duration::from_millis(600)).await;
    // Roles swapped by hand while bravo still replicates from alpha: bravo is writable,
    // but a heartbeat there would be an errant transaction.
    lab.sql("alpha", "SET GLOBAL read_only = 1");
    lab.sql("bravo", "SET GLOBAL read_only = 0");
    let s = m.probe_pair(None).await;
    assert!(
        matches!(
            s.roles,
            PairRoles::Normal {
                main: okmirror::config::NodeId::Second,
                ..
            }
        ),
        "{:?}",
        s.roles
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    lab.sql("bravo", "SET GLOBAL read_only = 1");
    lab.sql("alpha", "SET GLOBAL read_only = 0");
    m.probe_pair(None).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    writer.abort();
    assert_eq!(bravo_beats(), before, "a heartbeat was written on bravo");
    lab.wait_replicated("alpha", "bravo");
    assert_eq!(
        lab.sql("bravo", "SHOW GLOBAL STATUS LIKE 'Slave_running'"),
        "Slave_running\tON"
    );
}

/// The lab's config says `tls = "required"` with the lab's CA: a pair that answers proves
/// the handshake and the certificate check (lab_itself sees the session's cipher).
#[test]
fn the_database_is_reached_over_verified_tls_and_a_wrong_ca_is_refused() {
    let (lab, _g) = common::shared();
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(&lab.config_path).unwrap();
    assert!(
        text.contains("tls = \"required\""),
        "the lab config must use TLS"
    );
    let status_of = |name: &str, text: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let (_, out, err) = common::okmirror(Some(&path), &["status", "--json", "--no-diff"]);
        let v: serde_json::Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
        v
    };
    let good = status_of("good.toml", text.clone());
    assert_eq!(good["nodes"][0]["db"]["read_only"], false, "{good}");
    assert_eq!(good["nodes"][1]["db"]["read_only"], true, "{good}");

    let wrong_ca = status_of(
        "wrong-ca.toml",
        text.replace("tls/ca.pem", "tls/other-ca.pem"),
    );
    let err = wrong_ca["nodes"][0]["db_error"]
        .as_str()
        .unwrap_or_default();
    assert!(
        err.contains("over TLS") && err.contains("UnknownIssuer"),
        "a server signed by another CA must be refused: {wrong_ca}"
    );
}
