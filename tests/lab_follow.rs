//! Documents across a forced failover, on the lab: `okmirror follow` keeps the mirror's
//! datastore within seconds of the main's; a forced failover lists exactly the documents
//! whose content is missing; a rejoin or reseed salvages the former main's files before
//! anything is deleted. Every test writes through the front door while it runs.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `okmirror follow` running in the background; killed (SIGKILL, by its PID) on drop.
struct Follow(Child);

impl Follow {
    fn start(lab: &common::Lab, data: &Path) -> Follow {
        let log = std::fs::File::create(data.join(format!("follow-{}.log", now_ns()))).unwrap();
        Follow(
            Command::new(env!("CARGO_BIN_EXE_okmirror"))
                .arg("--config")
                .arg(&lab.config_path)
                .arg("follow")
                .env("OKMIRROR_DATA_DIR", data)
                .env_remove("OKMIRROR_CONFIG")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("starting okmirror follow"),
        )
    }
}

impl Drop for Follow {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn now_ns() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn okm(lab: &common::Lab, data: &Path, args: &[&str]) -> (i32, String, String) {
    common::okm_at(&lab.config_path, data, args)
}

/// Each document's version on `node` (documents whose row is not there are absent).
fn versions_on(lab: &common::Lab, node: &str, docs: &[String]) -> HashMap<String, String> {
    if docs.is_empty() {
        return HashMap::new();
    }
    let list: Vec<String> = docs.iter().map(|d| format!("'{d}'")).collect();
    lab.sql(
        node,
        &format!(
            "SELECT NDV_PATH, NDV_UUID FROM okmdb.OKM_NODE_DOCUMENT_VERSION WHERE NDV_PATH IN ({})",
            list.join(",")
        ),
    )
    .lines()
    .filter_map(|l| l.split_once('\t'))
    .map(|(p, u)| (p.to_string(), u.to_string()))
    .collect()
}

fn file_of(lab: &common::Lab, node: &str, uuid: &str) -> PathBuf {
    let hex: String = uuid.chars().filter(|c| *c != '-').collect();
    lab.node(node).datastore_path().join(format!(
        "{}/{}/{}/{}/{uuid}",
        &hex[0..2],
        &hex[2..4],
        &hex[4..6],
        &hex[6..8]
    ))
}

/// The documents whose row `node` has and whose file it lacks.
fn without_content(lab: &common::Lab, node: &str, docs: &[String]) -> HashSet<String> {
    versions_on(lab, node, docs)
        .into_iter()
        .filter(|(_, u)| !file_of(lab, node, u).exists())
        .map(|(p, _)| p)
        .collect()
}

/// The document paths of a flow's `*.missing.tsv`, the one file in `data/flows`.
fn missing_list(data: &Path) -> HashSet<String> {
    let dir = data.join("flows");
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().ends_with(".missing.tsv"));
    let Some(file) = file else {
        return HashSet::new();
    };
    std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next().map(str::to_string))
        .collect()
}

/// The failover's list names exactly the written documents that lack content on bravo,
/// and nothing that has its content (other tests may have left documents without
/// content on the lab: those may be listed, but only if truly without content).
fn assert_list_is_exact(
    lab: &common::Lab,
    data: &Path,
    docs: &[String],
    missing: &HashSet<String>,
    report: &serde_json::Value,
) {
    let listed = missing_list(data);
    let ours: HashSet<String> = listed
        .iter()
        .filter(|d| docs.contains(d))
        .cloned()
        .collect();
    assert_eq!(&ours, missing, "{report}");
    let listed: Vec<String> = listed.into_iter().collect();
    let truly = without_content(lab, "bravo", &listed);
    assert_eq!(
        truly.len(),
        listed.len(),
        "listed but not missing: {listed:?}"
    );
}

/// Every document of `docs` reads back whole through the front door.
fn assert_readable(docs: &[String]) {
    let unreadable: Vec<&String> = docs
        .iter()
        .filter(|d| {
            let (code, body) = common::http(&[
                "-u",
                "okmAdmin:admin",
                &format!(
                    "http://127.0.0.1:8080/OpenKM/services/rest/document/getContent?docId={d}"
                ),
            ]);
            code != 200 || body.as_bytes() != common::WRITER_CONTENT
        })
        .collect();
    assert!(
        unreadable.is_empty(),
        "{} of {} acknowledged documents cannot be read through the front door: {unreadable:?}",
        unreadable.len(),
        docs.len()
    );
}

fn forced_failover(lab: &common::Lab, data: &Path) -> serde_json::Value {
    failover_with(&lab.config_path, data)
}

/// A failover alpha -> bravo with both names typed, with `config`; its JSON report.
fn failover_with(config: &Path, data: &Path) -> serde_json::Value {
    let (code, out, err) = common::okm_at(
        config,
        data,
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
    serde_json::from_str(&out).unwrap()
}

fn step_output(report: &serde_json::Value, id_end: &str) -> String {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"].as_str().unwrap().ends_with(id_end))
        .unwrap_or_else(|| panic!("no step {id_end} in {report}"))["output"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn follow_keeps_up_and_survives_restarts_of_itself_and_of_the_mirror() {
    let (lab, _g) = common::exclusive();
    let tmp = tempfile::tempdir().unwrap();
    let mut follow = Follow::start(lab, tmp.path());
    let writer = common::Writer::start(tmp.path(), "follow", 50);
    std::thread::sleep(Duration::from_secs(3));
    // Its own restart: SIGKILL, then a new one that resumes from the rows.
    drop(follow);
    follow = Follow::start(lab, tmp.path());
    std::thread::sleep(Duration::from_secs(2));
    // The mirror's restart: every bravo process stopped, then started again.
    common::lab_script(&["stop", "bravo"]);
    std::thread::sleep(Duration::from_secs(3));
    common::lab_script(&["start", "bravo"]);
    std::thread::sleep(Duration::from_secs(3));
    let acked = writer.finish();
    assert!(acked.len() >= 100, "only {} documents written", acked.len());
    lab.wait_replicated("alpha", "bravo");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut missing = without_content(lab, "bravo", &acked);
    while !missing.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        missing = without_content(lab, "bravo", &acked);
    }
    assert!(
        missing.is_empty(),
        "{} of {} documents never reached bravo's datastore: {missing:?}",
        missing.len(),
        acked.len()
    );
    lab.assert_docs_on("bravo", &acked);
    let (_, out, err) = okm(lab, tmp.path(), &["status", "--json", "--no-diff"]);
    let status: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|_| panic!("{err}"));
    let fb = &status["files_behind"];
    assert_eq!(fb["count"], 0, "{fb}");
    assert_eq!(fb["follow_running"], true, "{fb}");
    assert!(fb["follow"]["shipped_files"].as_u64().unwrap() > 0, "{fb}");
    drop(follow);
    // One pass for cron: nothing left to ship, exit 0, the record as JSON.
    let (code, out, err) = okm(lab, tmp.path(), &["follow", "--once", "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let record: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(record["backlog"], 0, "{record}");
    assert_eq!(record["mirror"], "bravo", "{record}");
}

#[test]
fn a_forced_failover_with_follow_loses_only_the_last_seconds_and_a_reseed_salvages_the_rest() {
    let (lab, _g) = common::exclusive();
    let tmp = tempfile::tempdir().unwrap();
    let follow = Follow::start(lab, tmp.path());
    let writer = common::Writer::start(tmp.path(), "forced", 50);
    std::thread::sleep(Duration::from_secs(5));
    let frozen_at = Instant::now();
    common::lab_script(&["freeze", "alpha"]);
    let acked = writer.finish_timed();
    let docs: Vec<String> = acked.iter().map(|(p, _)| p.clone()).collect();
    let report = forced_failover(lab, tmp.path());
    // With alpha gone the roles are not clear: follow waits and says why, on bravo.
    let record = lab.node("bravo").state_dir.join("follow.json");
    // A pull that was running when alpha froze ends by the peer link's keepalives first.
    let deadline = Instant::now() + Duration::from_secs(45);
    let paused = loop {
        let text = std::fs::read_to_string(&record).unwrap_or_default();
        let r: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        if r["paused"].is_string() || Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        paused["paused"]
            .as_str()
            .is_some_and(|p| p.contains("alpha")),
        "{paused}"
    );
    drop(follow);

    // The only documents without content are those of the last two seconds, and the
    // failover's list names exactly those.
    let missing = without_content(lab, "bravo", &docs);
    let late = |p: &String| {
        acked
            .iter()
            .any(|(d, at)| d == p && *at + Duration::from_secs(2) >= frozen_at)
    };
    assert!(
        missing.iter().all(late),
        "older documents lack content: {missing:?}"
    );
    let on_bravo = versions_on(lab, "bravo", &docs);
    let lost_rows: Vec<&String> = docs.iter().filter(|d| !on_bravo.contains_key(*d)).collect();
    assert!(lost_rows.iter().all(|d| late(d)), "{lost_rows:?}");
    assert_list_is_exact(lab, tmp.path(), &docs, &missing, &report);
    let loss = step_output(&report, "loss-report");
    assert!(loss.contains("documents"), "{loss}");

    // alpha comes back writable and takes one write of its own (an errant transaction
    // whose file no row of bravo will ever reference).
    common::lab_script(&["thaw", "alpha"]);
    let errant = format!("/okm:root/errant-{}.txt", std::process::id());
    let content = tmp.path().join("errant.txt");
    std::fs::write(&content, common::WRITER_CONTENT).unwrap();
    let (code, body) = common::http(&[
        "-u",
        "okmAdmin:admin",
        "-F",
        &format!("docPath={errant}"),
        "-F",
        &format!("content=@{}", content.display()),
        "http://127.0.0.2:8080/OpenKM/services/rest/document/createSimple",
    ]);
    assert_eq!(code, 200, "{body}");
    let errant_uuid = versions_on(lab, "alpha", std::slice::from_ref(&errant))[&errant].clone();
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
    assert!(err.contains("quarantine"), "{err}");

    // Every acknowledged document that bravo lists reads back whole.
    let listed: Vec<String> = docs
        .iter()
        .filter(|d| on_bravo.contains_key(*d))
        .cloned()
        .collect();
    assert_readable(&listed);
    // The errant document's file was moved, not deleted, and its manifest names it.
    let quarantine = lab.node("alpha").state_dir.join("quarantine");
    let manifests: Vec<String> = std::fs::read_dir(&quarantine)
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("MANIFEST.tsv")).ok())
        .collect();
    let line = manifests
        .iter()
        .flat_map(|m| m.lines())
        .find(|l| l.starts_with(&errant_uuid))
        .unwrap_or_else(|| panic!("{errant_uuid} not in a manifest: {manifests:?}"));
    assert!(line.contains(&errant), "{line}");
    assert!(!file_of(lab, "alpha", &errant_uuid).exists());
    let kept = std::fs::read_dir(&quarantine).unwrap().any(|e| {
        let dir = e.unwrap().path();
        let rel = file_of(lab, "alpha", &errant_uuid)
            .strip_prefix(&lab.node("alpha").openkm_home)
            .unwrap()
            .to_path_buf();
        std::fs::read(dir.join(rel)).is_ok_and(|c| c == common::WRITER_CONTENT)
    });
    assert!(kept, "the errant document's file is not in quarantine");
}

#[test]
fn a_forced_failover_without_follow_lists_exactly_and_a_rejoin_makes_them_whole() {
    let (lab, _g) = common::exclusive();
    let tmp = tempfile::tempdir().unwrap();
    let (code, out, err) = okm(lab, tmp.path(), &["sync", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    let writer = common::Writer::start(tmp.path(), "unfollowed", 50);
    std::thread::sleep(Duration::from_secs(3));
    common::lab_script(&["freeze", "alpha"]);
    let docs = writer.finish();
    // A benchmark guard, not a timing test: a dead main costs one connect timeout per
    // look (3 s on the lab), so the whole failover stays well under 10 s.
    let t = Instant::now();
    let report = forced_failover(lab, tmp.path());
    let took = t.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "a forced failover against a frozen main took {took:?} (goal: under 10 s)\n{report}"
    );
    let missing = without_content(lab, "bravo", &docs);
    assert!(
        missing.len() >= 20,
        "only {} documents lack content",
        missing.len()
    );
    assert_eq!(missing_list(tmp.path()), missing, "{report}");
    let shipped = step_output(&report, "ship-files");
    assert!(shipped.contains("did not answer SSH"), "{shipped}");

    common::lab_script(&["thaw", "alpha"]);
    let (code, out, err) = okm(
        lab,
        tmp.path(),
        &["rejoin", "alpha", "--yes", "--confirm-node", "alpha"],
    );
    let (code, err) = if code != 0 && err.contains("errant") {
        // A write alpha committed as the freeze landed: give it up (its file is kept).
        let (c, o, e) = okm(
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
        (c, format!("{o}{e}"))
    } else {
        (code, format!("{out}{err}"))
    };
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("made whole on bravo"), "{err}");
    assert!(without_content(lab, "bravo", &docs).is_empty());
    let listed: Vec<String> = versions_on(lab, "bravo", &docs).into_keys().collect();
    assert_readable(&listed);
}

/// The lab's config with a `fence_command` that stops `pids` (alpha's database, hung or
/// not; the fence's own service stop ends its OpenKM): its SSH and disk stay reachable,
/// as when only the service hangs.
fn config_fencing_by_stop(lab: &common::Lab, dir: &Path, pids: &[u32]) -> PathBuf {
    let list: Vec<String> = pids.iter().map(u32::to_string).collect();
    let mut text = std::fs::read_to_string(&lab.config_path).unwrap();
    text.push_str(&format!(
        "\n[failover]\nfence_command = \"kill -STOP {}\"\n",
        list.join(" ")
    ));
    let path = dir.join("fence-by-stop.toml");
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    path
}

fn pid_of(lab: &common::Lab, node: &str, part: &str) -> u32 {
    std::fs::read_to_string(lab.dir.join(format!("nodes/{node}/run/{part}.pid")))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// Sends `signal` to `pids` (each by its PID).
fn signal(pids: &[u32], signal: &str) {
    for p in pids {
        let _ = Command::new("kill").args([signal, &p.to_string()]).status();
    }
}

#[test]
fn a_failover_from_a_hung_database_copies_the_missing_files_before_promotion() {
    let (lab, _g) = common::exclusive();
    let tmp = tempfile::tempdir().unwrap();
    let (code, out, err) = okm(lab, tmp.path(), &["sync", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    let writer = common::Writer::start(tmp.path(), "hung", 50);
    std::thread::sleep(Duration::from_secs(2));
    let docs = writer.finish();
    lab.wait_replicated("alpha", "bravo");
    let before = without_content(lab, "bravo", &docs);
    assert!(
        before.len() >= 10,
        "only {} documents lack content",
        before.len()
    );
    // alpha's database hangs; its SSH and disk still answer.
    let hung = [pid_of(lab, "alpha", "mysqld")];
    signal(&hung, "-STOP");
    let config = config_fencing_by_stop(lab, tmp.path(), &hung);
    // Whatever the failover does, alpha's processes run again afterwards.
    let report = std::panic::catch_unwind(|| failover_with(&config, tmp.path()));
    signal(&hung, "-CONT");
    let report = report.unwrap_or_else(|p| std::panic::resume_unwind(p));
    let shipped = step_output(&report, "ship-files");
    // Documents other tests left without content anywhere may be counted too: they
    // cannot be copied, and stay listed.
    assert!(
        shipped.contains(&format!("copied {} of ", before.len())),
        "{shipped}"
    );
    assert!(without_content(lab, "bravo", &docs).is_empty());
    assert_list_is_exact(lab, tmp.path(), &docs, &HashSet::new(), &report);
    assert_readable(&docs);
}
