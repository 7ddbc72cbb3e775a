//! The command line as an operator (or cron) runs it: exit codes and messages.

mod common;

fn okmirror(args: &[&str]) -> (i32, String, String) {
    common::okmirror(None, args)
}

#[test]
fn config_check_accepts_the_labs_config() {
    let (lab, _g) = common::shared();
    let cfg = lab.config_path.to_str().unwrap();
    let (code, out, err) = okmirror(&["config", "check", "--config", cfg]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(": OK (pair \"lab\")"), "{out}");
    assert!(
        out.contains("node alpha        ssh root@127.0.0.2:2222"),
        "{out}"
    );
    assert!(
        out.contains("node bravo        ssh root@127.0.0.3:2222"),
        "{out}"
    );
}

#[test]
fn config_check_reports_problems_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    let text = okmirror::config::EXAMPLE.replacen("port = 22", "port = 22\nprot = 1", 1);
    std::fs::write(&path, text).unwrap();
    let (code, out, err) = okmirror(&["config", "check", "--config", path.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains(&format!(
            "{}:24:1: node[0].ssh.prot: unknown field `prot`",
            path.display()
        )),
        "{err}"
    );
    assert!(err.contains("config check: 1 problem(s)"), "{err}");
}

#[test]
fn config_check_finds_missing_secrets_without_touching_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("example.toml");
    std::fs::write(&path, okmirror::config::EXAMPLE).unwrap();
    let (code, _out, err) = okmirror(&["config", "check", "--config", path.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("node dms1: database password: environment variable OKMIRROR_DMS1_DB_PASSWORD is not set"),
        "{err}"
    );
}

#[test]
fn config_example_prints_a_valid_config() {
    let (code, out, _) = okmirror(&["config", "example"]);
    assert_eq!(code, 0);
    assert_eq!(out, okmirror::config::EXAMPLE);
}

#[test]
fn the_console_refuses_a_bad_config_before_touching_the_terminal() {
    let (code, out, err) = okmirror(&["--config", "/nonexistent/okmirror.toml"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        err.contains("/nonexistent/okmirror.toml: no such file"),
        "{err}"
    );
}
