//! Running commands on lab nodes through the real sshd: output, exit codes, timeouts,
//! streaming, stdin, and every way a connection can be refused.

mod common;

use std::time::{Duration, Instant};

use okmirror::node::{NodeSsh, SshError};
use tokio::sync::mpsc;

use common::T;

fn ssh_to(lab: &common::Lab, node: &str, dir: &tempfile::TempDir) -> NodeSsh {
    NodeSsh::new(lab.node(node).ssh.clone(), dir.path())
}

#[tokio::test]
async fn runs_commands_and_reports_output_and_exit_codes() {
    let (lab, _g) = common::shared();
    let dir = tempfile::tempdir().unwrap();
    let alpha = ssh_to(lab, "alpha", &dir);

    let out = alpha
        .run("echo \"node=$OKMIRROR_LAB_NODE\"; echo oops >&2", T)
        .await
        .unwrap();
    assert!(out.success());
    assert_eq!(out.stdout, "node=alpha\n");
    assert_eq!(out.stderr, "oops\n");

    let out = alpha.run("exit 7", T).await.unwrap();
    assert_eq!(out.status, Some(7));
    assert!(!out.success());

    // Quoting survives: the script reaches sh -c as written.
    let out = alpha
        .run("printf '%s|' 'a b' \"c'd\" $((6*7))", T)
        .await
        .unwrap();
    assert_eq!(out.stdout, "a b|c'd|42|");

    // stdin is how secrets travel; they never appear in the command line.
    let out = alpha
        .run_with_stdin(
            "cat; echo; tr -d '\\0' </proc/$$/cmdline",
            Some(b"s3cret"),
            T,
        )
        .await
        .unwrap();
    assert!(out.stdout.starts_with("s3cret\n"), "{}", out.stdout);
    assert!(!out.stdout[7..].contains("s3cret"));
}

#[tokio::test]
async fn times_out_and_stays_usable() {
    let (lab, _g) = common::shared();
    let dir = tempfile::tempdir().unwrap();
    let bravo = ssh_to(lab, "bravo", &dir);
    let start = Instant::now();
    let err = bravo
        .run("sleep 5", Duration::from_millis(500))
        .await
        .unwrap_err();
    assert!(matches!(err, SshError::CommandTimeout { .. }), "{err:?}");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "took {:?}",
        start.elapsed()
    );
    assert!(err.to_string().contains("timed out after 500 ms"), "{err}");
    let out = bravo.run("echo still here", T).await.unwrap();
    assert_eq!(out.stdout, "still here\n");
}

#[tokio::test]
async fn streams_lines_split_on_cr_and_lf() {
    let (lab, _g) = common::shared();
    let dir = tempfile::tempdir().unwrap();
    let alpha = ssh_to(lab, "alpha", &dir);
    alpha.session().await.unwrap(); // connected beforehand, so only streaming is timed
    let (tx, mut rx) = mpsc::channel(16);
    let task = tokio::spawn(async move {
        let code = alpha
            .stream(
                "printf 'one\\n'; sleep 2; printf '10%%\\r50%%\\rdone\\n'; exit 3",
                None,
                T,
                tx,
            )
            .await;
        (code, alpha)
    });
    // The first line arrives before the command ends.
    let first = tokio::time::timeout(Duration::from_millis(1500), rx.recv())
        .await
        .expect("first line streamed while the command still runs");
    assert_eq!(first.as_deref(), Some("one"));
    let (code, _alpha) = task.await.unwrap();
    assert_eq!(code.unwrap(), Some(3));
    let mut rest = Vec::new();
    while let Some(l) = rx.recv().await {
        rest.push(l);
    }
    assert_eq!(rest, ["10%", "50%", "done"]);
}

#[tokio::test]
async fn a_streamed_command_reads_a_big_stdin_while_its_output_is_read() {
    let (lab, _g) = common::shared();
    let dir = tempfile::tempdir().unwrap();
    let alpha = ssh_to(lab, "alpha", &dir);
    // More than any pipe holds, both ways: a writer that waited for the reader (or the
    // other way round) would hang here until the timeout.
    let paths: Vec<String> = (0..200_000)
        .map(|i| format!("repository/datastore/{i:08}"))
        .collect();
    let mut list = Vec::new();
    for p in &paths {
        list.extend_from_slice(p.as_bytes());
        list.push(0);
    }
    let (tx, mut rx) = mpsc::channel(1024);
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        while let Some(l) = rx.recv().await {
            got.push(l);
        }
        got
    });
    let code = alpha
        .stream("tr '\\0' '\\n'", Some(&list), T, tx)
        .await
        .unwrap();
    assert_eq!(code, Some(0));
    assert_eq!(reader.await.unwrap(), paths);
}

#[tokio::test]
async fn refuses_an_unknown_host_key() {
    let (lab, _g) = common::shared();
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("known_hosts");
    std::fs::write(&empty, "").unwrap();
    let mut cfg = lab.node("alpha").ssh.clone();
    cfg.known_hosts_file = Some(empty.clone());
    let err = NodeSsh::new(cfg, dir.path())
        .run("true", T)
        .await
        .unwrap_err();
    assert!(matches!(err, SshError::HostKeyUnknown { .. }), "{err:?}");
    assert_eq!(
        std::fs::read_to_string(&empty).unwrap(),
        "",
        "the key must not be added"
    );
}

#[tokio::test]
async fn refuses_a_changed_host_key() {
    let (lab, _g) = common::shared();
    let dir = tempfile::tempdir().unwrap();
    // bravo's key filed under alpha's address: what a man in the middle looks like.
    let known = std::fs::read_to_string(lab.dir.join("ssh/known_hosts")).unwrap();
    let bravo_key = known
        .lines()
        .find(|l| l.starts_with("[127.0.0.3]"))
        .unwrap()
        .split_once(' ')
        .unwrap()
        .1;
    let forged = dir.path().join("known_hosts");
    std::fs::write(&forged, format!("[127.0.0.2]:2222 {bravo_key}\n")).unwrap();
    let mut cfg = lab.node("alpha").ssh.clone();
    cfg.known_hosts_file = Some(forged);
    let err = NodeSsh::new(cfg, dir.path())
        .run("true", T)
        .await
        .unwrap_err();
    assert!(matches!(err, SshError::HostKeyChanged { .. }), "{err:?}");
}

#[tokio::test]
async fn says_when_nothing_listens() {
    let (lab, _g) = common::shared();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = lab.node("alpha").ssh.clone();
    cfg.port = 2299;
    let err = NodeSsh::new(cfg, dir.path())
        .run("true", T)
        .await
        .unwrap_err();
    assert!(matches!(err, SshError::Refused { .. }), "{err:?}");
    assert!(err.to_string().contains("connection refused"), "{err}");
}

#[tokio::test]
async fn says_when_the_key_is_not_accepted() {
    let (lab, _g) = common::shared();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("stranger");
    let ok = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(ok.success());
    let mut cfg = lab.node("bravo").ssh.clone();
    cfg.identity_file = Some(key);
    let err = NodeSsh::new(cfg, dir.path())
        .run("true", T)
        .await
        .unwrap_err();
    assert!(matches!(err, SshError::AuthFailed { .. }), "{err:?}");
}

#[tokio::test]
async fn nodes_reach_each_other_for_rsync() {
    let (lab, _g) = common::shared();
    let dir = tempfile::tempdir().unwrap();
    let alpha = ssh_to(lab, "alpha", &dir);
    let peer = lab.node("alpha").ssh.peer_ssh_config.clone().unwrap();
    let out = alpha
        .run(
            &format!(
                "ssh -F {} bravo 'echo $OKMIRROR_LAB_NODE; echo $SSH_CLIENT'",
                peer.display()
            ),
            T,
        )
        .await
        .unwrap();
    assert!(out.success(), "{out:?}");
    let mut lines = out.stdout.lines();
    assert_eq!(lines.next(), Some("bravo"));
    // The connection leaves from alpha's own address.
    assert!(
        lines.next().unwrap().starts_with("127.0.0.2 "),
        "{}",
        out.stdout
    );
}

#[tokio::test]
async fn reconnects_after_the_node_comes_back() {
    let (lab, _g) = common::exclusive();
    let dir = tempfile::tempdir().unwrap();
    let bravo = ssh_to(lab, "bravo", &dir);
    assert!(bravo.run("true", T).await.unwrap().success());
    common::lab_script(&["stop", "bravo"]);
    let err = bravo.run("true", T).await.unwrap_err();
    assert!(
        matches!(
            err,
            SshError::Disconnected { .. } | SshError::Refused { .. }
        ),
        "{err:?}"
    );
    common::lab_script(&["start", "bravo"]);
    let out = bravo.run("echo back", T).await.unwrap();
    assert_eq!(out.stdout, "back\n");
}
