//! Config parsing and every validation error, with the exact messages operators see.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use okmirror::config::{self, ConfigError};

/// A valid two-node config to start each case from.
const GOOD: &str = r#"pair = "prod"

[[node]]
name = "dms1"
openkm_home = "/opt/openkm/tomcat"

[node.ssh]
host = "10.0.0.1"

[node.http]
health_url = "http://10.0.0.1:8080/OpenKM/services/rest/repository/getAppVersion"
password_env = "OKM_PASS"

[node.database]
user = "okmirror"
password_env = "DB1"

[[node]]
name = "dms2"
openkm_home = "/opt/openkm/tomcat"

[node.ssh]
host = "10.0.0.2"

[node.http]
health_url = "http://10.0.0.2:8080/OpenKM/services/rest/repository/getAppVersion"
password_env = "OKM_PASS"

[node.database]
user = "okmirror"
password_env = "DB2"
"#;

fn errors(text: &str) -> Vec<String> {
    match config::parse_str(text, Path::new("ok.toml")) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(e) => e.0.iter().map(ConfigError::to_string).collect(),
    }
}

fn one_error(text: &str) -> String {
    let e = errors(text);
    assert_eq!(e.len(), 1, "{e:#?}");
    e.into_iter().next().unwrap()
}

#[test]
fn a_good_config_loads_with_defaults() {
    let c = config::parse_str(GOOD, Path::new("ok.toml")).unwrap();
    assert_eq!(c.pair, "prod");
    assert_eq!(c.nodes.len(), 2);
    let n = &c.nodes[0];
    assert_eq!(n.ssh.port, 22);
    assert_eq!(n.ssh.user, "root");
    assert!(n.ssh.strict_host_key_checking);
    assert_eq!(n.service.start, "/etc/init.d/openkm start");
    assert_eq!(n.service.status, "/etc/init.d/openkm status");
    assert_eq!(n.database.schema, "okmdb");
    assert_eq!(n.database.port, 3306);
    assert_eq!(n.http.user, "okmAdmin");
    assert_eq!(
        n.datastore_path(),
        Path::new("/opt/openkm/tomcat/repository/datastore")
    );
    assert_eq!(c.sync.excludes, ["repository/.system.key", "logs"]);
    assert_eq!(c.sync.delete_limit_count, 100);
    assert_eq!(
        config::warnings(&c),
        ["[traffic] names no HAProxy and no hook: failover cannot move clients"]
    );
}

#[test]
fn the_shipped_example_is_valid() {
    let c = config::parse_str(config::EXAMPLE, Path::new("example.toml")).unwrap();
    assert_eq!(c.nodes[0].name, "dms1");
    assert!(
        config::warnings(&c).is_empty(),
        "{:?}",
        config::warnings(&c)
    );
}

#[test]
fn unknown_keys_are_rejected_with_their_place() {
    let text = GOOD.replace("host = \"10.0.0.2\"", "host = \"10.0.0.2\"\nprot = 2222");
    assert_eq!(
        one_error(&text),
        "ok.toml:24:1: node[1].ssh.prot: unknown field `prot`, expected one of `host`, `port`, \
         `user`, `identity_file`, `known_hosts_file`, `strict_host_key_checking`, \
         `connect_timeout_secs`, `peer_ssh_config`"
    );
    let text = format!("colour = true\n{GOOD}");
    assert!(
        one_error(&text).starts_with("ok.toml:1:1: colour: unknown field `colour`"),
        "{}",
        one_error(&text)
    );
}

#[test]
fn wrong_types_and_syntax_name_line_and_column() {
    let text = GOOD.replace("host = \"10.0.0.1\"", "host = \"10.0.0.1\"\nport = \"ssh\"");
    assert_eq!(
        one_error(&text),
        "ok.toml:9:8: node[0].ssh.port: invalid type: string \"ssh\", expected u16"
    );
    assert_eq!(
        one_error("pair = \"x\"\n[[node]\n"),
        "ok.toml:2:8: unclosed array table, expected `]`"
    );
    let text = GOOD.replace(
        "user = \"okmirror\"\npassword_env = \"DB2\"",
        "password_env = \"DB2\"",
    );
    assert_eq!(
        one_error(&text),
        "ok.toml:29:1: node[1].database: missing field `user`"
    );
}

#[test]
fn there_must_be_exactly_two_distinct_nodes() {
    let one = GOOD.split("[[node]]\nname = \"dms2\"").next().unwrap();
    assert_eq!(
        one_error(one),
        "ok.toml:3:3: node: exactly two [[node]] tables are needed (a main and its mirror); found 1"
    );
    let same = GOOD.replace("name = \"dms2\"", "name = \"DMS1\"");
    assert_eq!(
        one_error(&same),
        "ok.toml:19:1: node[1].name: duplicates node[0]'s name \"dms1\""
    );
    let bad = GOOD.replace("name = \"dms2\"", "name = \"dms 2\"");
    assert_eq!(
        one_error(&bad),
        "ok.toml:19:1: node[1].name: \"dms 2\" is not a usable node name: use 1-32 letters, \
         digits, '-', '_' or '.'"
    );
}

#[test]
fn every_rule_reports_its_key() {
    let text = GOOD
        .replacen(
            "openkm_home = \"/opt/openkm/tomcat\"",
            "openkm_home = \"opt/openkm\"",
            1,
        )
        .replacen(
            "host = \"10.0.0.1\"",
            "host = \"10.0.0.1\"\nport = 0\nconnect_timeout_secs = 0",
            1,
        )
        .replacen(
            "health_url = \"http://10.0.0.1",
            "health_url = \"ftp://10.0.0.1",
            1,
        )
        .replacen(
            "password_env = \"DB1\"",
            "password_env = \"DB1\"\npassword = \"x\"",
            1,
        )
        .replacen("password_env = \"OKM_PASS\"\n", "", 1);
    let text = format!(
        "{text}\n[traffic]\nhaproxy_socket = \"/run/h.sock\"\nhaproxy_address = \"1.2.3.4:9\"\n\
         \n[sync]\ndelete_limit_percent = 150.0\nexcludes = [\"\"]\nbwlimit_kbps = 0\n"
    );
    let e = errors(&text);
    let expected = [
        "ok.toml:5:1: node[0].openkm_home: must be an absolute path on the node",
        "ok.toml:9:1: node[0].ssh.port: 0 is not a usable port",
        "ok.toml:10:1: node[0].ssh.connect_timeout_secs: must be between 1 and 300",
        "ok.toml:13:1: node[0].http.health_url: \"ftp://10.0.0.1:8080/OpenKM/services/rest/repository/getAppVersion\" is not an http:// or https:// URL",
        "ok.toml:12:7: node[0].http: no password given: set one of password_file, password_env or password",
        "ok.toml:15:7: node[0].database: more than one password given: keep only one of password_file, password_env or password",
        "ok.toml:37:1: traffic.haproxy_address: give haproxy_socket or haproxy_address, not both",
        "ok.toml:35:2: traffic.haproxy_backend: is required with the HAProxy runtime API",
        "ok.toml:3:1: node[0].traffic.haproxy_server: is required when [traffic] uses HAProxy",
        "ok.toml:20:1: node[1].traffic.haproxy_server: is required when [traffic] uses HAProxy",
        "ok.toml:40:1: sync.delete_limit_percent: must be between 0 and 100",
        "ok.toml:41:13: sync.excludes[0]: must not be empty",
        "ok.toml:42:1: sync.bwlimit_kbps: 0 would mean unlimited to rsync; leave it out instead",
    ];
    assert_eq!(e, expected, "{e:#?}");
}

#[test]
fn an_inline_secret_in_a_readable_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("okmirror.toml");
    let text = GOOD.replacen("password_env = \"DB1\"", "password = \"hunter2\"", 1);
    std::fs::write(&path, &text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = config::load_file(&path).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{p}:16:1: node[0].database.password: a password is written inline but the file is \
             readable by group/others (mode 644); run `chmod 600 {p}`, or use \
             password_file/password_env",
            p = path.display()
        )
    );
    assert!(!err.contains("hunter2"));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let cfg = config::load_file(&path).unwrap();
    assert_eq!(format!("{:?}", cfg.nodes[0].database.password), "Some(***)");
}

#[test]
fn password_files_must_be_private_and_present() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("db.pass");
    std::fs::write(&f, "pw\n").unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).unwrap();
    let src = config::SecretSource::File(f.clone());
    assert_eq!(
        src.resolve().unwrap_err(),
        format!(
            "password file {p} is readable by group/others (mode 640); run: chmod 600 {p}",
            p = f.display()
        )
    );
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(src.resolve().unwrap().expose(), "pw");
    let missing = config::SecretSource::Env("OKMIRROR_TEST_SURELY_UNSET".into());
    assert_eq!(
        missing.resolve().unwrap_err(),
        "environment variable OKMIRROR_TEST_SURELY_UNSET is not set"
    );
}

#[test]
fn a_missing_file_says_how_to_make_one() {
    let err = config::load_file(Path::new("/nonexistent/okmirror.toml")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "/nonexistent/okmirror.toml: no such file; write an annotated one with \
         `okmirror config example > FILE`"
    );
}

/// GOOD with node 0's database made direct to a remote host, plus `extra` lines.
fn remote_db(extra: &str) -> String {
    GOOD.replacen(
        "user = \"okmirror\"\npassword_env = \"DB1\"",
        &format!("host = \"10.0.0.1\"\nuser = \"okmirror\"\npassword_env = \"DB1\"\n{extra}"),
        1,
    )
}

#[test]
fn a_direct_remote_database_without_verified_tls_is_warned_about() {
    let warnings = |text: &str| {
        let c = config::parse_str(text, Path::new("ok.toml")).unwrap();
        config::warnings(&c)
            .into_iter()
            .filter(|w| w.contains("database"))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        warnings(&remote_db("tls = \"off\"")),
        [
            "node dms1: the database connection to 10.0.0.1 is direct and tls = \"off\": the password \
          crosses the network in plain text; set tls = \"required\" with ca_file, or tunnel = true"
        ]
    );
    let preferred = warnings(&remote_db(""));
    assert_eq!(preferred.len(), 1, "{preferred:?}");
    assert!(preferred[0].contains("not verified"), "{preferred:?}");
    assert!(
        warnings(&remote_db(
            "tls = \"required\"\nca_file = \"/etc/okmirror/ca.pem\""
        ))
        .is_empty()
    );
    assert!(warnings(&remote_db("tls = \"off\"\ntunnel = true")).is_empty());
}

#[test]
fn tls_files_must_make_sense_together() {
    assert_eq!(
        one_error(&remote_db("client_cert_file = \"/etc/okmirror/c.pem\"")),
        "ok.toml:18:1: node[0].database.client_cert_file: client_cert_file and client_key_file go \
         together: give both or neither"
    );
    assert_eq!(
        one_error(&remote_db(
            "tls = \"off\"\nca_file = \"/etc/okmirror/ca.pem\""
        )),
        "ok.toml:18:1: node[0].database.tls: is \"off\" but TLS files are given: set tls = \"required\" \
         or remove them"
    );
    assert!(one_error(&remote_db("tls = \"maybe\"")).contains("tls"));
}
