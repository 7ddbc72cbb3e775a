//! The lab is real: both stand-ins answer, documents replicate alpha -> bravo, the mirror
//! refuses writes, databases answer directly and through SSH tunnels, and nodes can be
//! stopped, started, frozen and thawed.

mod common;

use std::time::{Duration, Instant};

use common::{T, http};
use mysql_async::prelude::Queryable;
use okmirror::node::{NodeSsh, SshError};

const REST: &str = "OpenKM/services/rest";

#[test]
fn both_stand_ins_answer_like_openkm() {
    let (_lab, _g) = common::shared();
    for ip in ["127.0.0.2", "127.0.0.3"] {
        let (code, body) = http(&[&format!("http://{ip}:8080/OpenKM/Status")]);
        assert_eq!((code, body.as_str()), (200, "OK"), "{ip}");
        let (code, body) = http(&[
            "-u",
            "okmAdmin:admin",
            &format!("http://{ip}:8080/{REST}/repository/getAppVersion"),
        ]);
        assert_eq!(code, 200, "{ip}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["major"], "6");
        let (code, _) = http(&[&format!("http://{ip}:8080/{REST}/repository/getAppVersion")]);
        assert_eq!(code, 401, "{ip}: REST needs Basic auth");
    }
    let uuid = |ip: &str| {
        http(&[
            "-u",
            "okmAdmin:admin",
            &format!("http://{ip}:8080/{REST}/repository/getRepositoryUuid"),
        ])
    };
    let (a, b) = (uuid("127.0.0.2"), uuid("127.0.0.3"));
    assert_eq!(a.0, 200);
    assert_eq!(a.1.len(), 36, "a UUID: {}", a.1);
    assert_eq!(a, b, "a clone has the same repository UUID");
}

#[test]
fn a_document_created_on_alpha_replicates_and_bravo_refuses_writes() {
    let (lab, _g) = common::shared();
    let name = format!(
        "/okm:root/tests/replica-{}.txt",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let content = lab.dir.join("replica-test-content");
    std::fs::write(&content, b"hello mirror").unwrap();
    // Through the front door (HAProxy) to the active node, alpha.
    let (code, body) = http(&[
        "-u",
        "okmAdmin:admin",
        "-F",
        &format!("docPath={name}"),
        "-F",
        &format!("content=@{}", content.display()),
        &format!("http://127.0.0.1:8080/{REST}/document/createSimple"),
    ]);
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["path"], name.as_str());

    // The version row: on alpha, then on bravo through replication.
    let q = format!(
        "SELECT NDV_UUID, NDV_SIZE, NDV_CHECKSUM FROM okmdb.OKM_NODE_DOCUMENT_VERSION WHERE NDV_PATH = '{name}'"
    );
    let on_alpha = lab.sql("alpha", &q);
    let fields: Vec<&str> = on_alpha.split('\t').collect();
    assert_eq!(fields.len(), 3, "{on_alpha}");
    assert_eq!(fields[1], "12");
    assert_eq!(fields[2].len(), 32, "an MD5 checksum: {}", fields[2]);
    lab.wait_replicated("alpha", "bravo");
    assert_eq!(lab.sql("bravo", &q), on_alpha);

    // The file sits in alpha's datastore at ab/cd/ef/01/<uuid>.
    let uuid = fields[0];
    let hex: String = uuid.chars().filter(|c| *c != '-').collect();
    let file = lab.dir.join(format!(
        "nodes/alpha/openkm/repository/datastore/{}/{}/{}/{}/{uuid}",
        &hex[0..2],
        &hex[2..4],
        &hex[4..6],
        &hex[6..8]
    ));
    assert_eq!(std::fs::read(&file).unwrap(), b"hello mirror");
    let (code, body) = http(&[
        "-u",
        "okmAdmin:admin",
        &format!("http://127.0.0.2:8080/{REST}/document/getContent?docId={name}"),
    ]);
    assert_eq!((code, body.as_str()), (200, "hello mirror"));

    // bravo, the mirror, refuses writes: OpenKM's read-only mode.
    let (code, body) = http(&[
        "-u",
        "okmAdmin:admin",
        "-F",
        &format!("docPath={name}.copy"),
        "-F",
        &format!("content=@{}", content.display()),
        &format!("http://127.0.0.3:8080/{REST}/document/createSimple"),
    ]);
    assert_eq!(code, 500);
    assert!(body.contains("System is in read-only mode"), "{body}");
    assert_eq!(
        lab.sql("bravo", "SELECT @@read_only, (SELECT CFG_VALUE FROM okmdb.OKM_CONFIG WHERE CFG_KEY='system.readonly')"),
        "1\ttrue"
    );
    assert_eq!(
        lab.sql("alpha", "SELECT @@read_only, (SELECT CFG_VALUE FROM okmdb.OKM_CONFIG WHERE CFG_KEY='system.readonly')"),
        "0\tfalse"
    );
}

#[tokio::test]
async fn databases_answer_directly_and_through_an_ssh_tunnel() {
    let (lab, _g) = common::shared();
    let dir = tempfile::tempdir().unwrap();
    for name in ["alpha", "bravo"] {
        let node = lab.node(name);
        let (mut conn, endpoint) = okmirror::db::connect(name, &node.database, None, dir.path(), T)
            .await
            .unwrap();
        assert_eq!(endpoint.to_string(), format!("{}:3306", node.database.host));
        let ro: Option<i64> = conn.query_first("SELECT @@read_only").await.unwrap();
        assert_eq!(ro, Some(if name == "alpha" { 0 } else { 1 }));

        let ssh = NodeSsh::new(node.ssh.clone(), dir.path());
        let mut tunnelled = node.database.clone();
        tunnelled.tunnel = true;
        let (mut conn, endpoint) =
            okmirror::db::connect(name, &tunnelled, Some(&ssh), dir.path(), T)
                .await
                .unwrap();
        assert!(endpoint.to_string().contains("via SSH"), "{endpoint}");
        let host: Option<String> = conn.query_first("SELECT @@report_host").await.unwrap();
        assert_eq!(host.as_deref(), Some(node.ssh.host.as_str()));
    }
}

/// `tls = "required"` really encrypts (the session has a cipher) and `off` does not.
#[tokio::test]
async fn a_required_tls_connection_is_encrypted_and_off_is_not() {
    let (lab, _g) = common::shared();
    let dir = tempfile::tempdir().unwrap();
    let node = lab.node("bravo");
    assert_eq!(node.database.tls, okmirror::config::TlsMode::Required);
    let cipher = async |db: &okmirror::config::DatabaseConfig| {
        let (mut conn, _) = okmirror::db::connect("bravo", db, None, dir.path(), T)
            .await
            .unwrap();
        let row: Option<(String, String)> = conn
            .query_first("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
            .await
            .unwrap();
        row.map(|(_, v)| v).unwrap_or_default()
    };
    let tls = cipher(&node.database).await;
    assert!(
        tls.starts_with("TLS_") || tls.contains("AES"),
        "cipher {tls:?}"
    );
    let mut plain = node.database.clone();
    plain.tls = okmirror::config::TlsMode::Off;
    plain.ca_file = None;
    assert_eq!(cipher(&plain).await, "", "tls = \"off\" is plain TCP");
}

#[tokio::test]
async fn a_wrong_database_password_is_reported_with_the_node() {
    let (lab, _g) = common::shared();
    let dir = tempfile::tempdir().unwrap();
    let mut db = lab.node("alpha").database.clone();
    db.password_file = None;
    db.password = Some(okmirror::config::Secret::new("wrong"));
    let err = okmirror::db::connect("alpha", &db, None, dir.path(), T)
        .await
        .unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains("node alpha: database 127.0.0.2:3306 as okmirror"),
        "{text}"
    );
    assert!(text.contains("Access denied"), "{text}");
    assert!(
        !text.contains("wrong"),
        "the password must not appear: {text}"
    );
}

#[tokio::test]
async fn a_frozen_node_hangs_and_a_thawed_one_answers() {
    let (lab, _g) = common::exclusive();
    let dir = tempfile::tempdir().unwrap();
    let bravo = NodeSsh::new(lab.node("bravo").ssh.clone(), dir.path());
    assert!(bravo.run("true", T).await.unwrap().success());
    common::lab_script(&["freeze", "bravo"]);
    let start = Instant::now();
    let err = bravo.run("true", Duration::from_secs(1)).await.unwrap_err();
    assert!(matches!(err, SshError::CommandTimeout { .. }), "{err:?}");
    assert!(start.elapsed() < Duration::from_secs(4));
    let (code, _) = http(&["--max-time", "1", "http://127.0.0.3:8080/OpenKM/Status"]);
    assert_eq!(code, 0, "a frozen stand-in does not answer");
    common::lab_script(&["thaw", "bravo"]);
    let out = bravo.run("echo thawed", T).await.unwrap();
    assert_eq!(out.stdout, "thawed\n");
}

#[test]
fn a_stopped_node_is_down_and_comes_back() {
    let (lab, _g) = common::exclusive();
    common::lab_script(&["stop", "alpha"]);
    let status = std::process::Command::new(common::repo().join("assets/lab/lab"))
        .arg("status")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert_eq!(status.status.code(), Some(3), "{text}");
    assert!(text.contains("alpha    mysqld     down"), "{text}");
    let (code, _) = http(&["http://127.0.0.2:8080/OpenKM/Status"]);
    assert_eq!(code, 0);
    common::lab_script(&["start", "alpha"]);
    let (code, body) = http(&["http://127.0.0.2:8080/OpenKM/Status"]);
    assert_eq!((code, body.as_str()), (200, "OK"));
    // Replication resumes by itself once alpha is back.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let io = lab.sql("bravo", "SHOW GLOBAL STATUS LIKE 'Slave_running'");
        if io == "Slave_running\tON" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "bravo's IO thread did not reconnect:\n{io}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    lab.wait_replicated("alpha", "bravo");
}
