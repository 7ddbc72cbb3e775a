//! The rules a structurally valid config must also meet.

use std::path::{Path, PathBuf};

use super::{Config, FollowConfig, MonitorConfig, NodeConfig, SyncConfig};

/// A problem: the key path it concerns and what is wrong.
pub type Problem = (String, String);

/// Checks every rule, expanding `~/` in paths on the way; returns all problems found,
/// section by section in the file's order.
pub fn validate(config: &mut Config) -> Vec<Problem> {
    let mut p: Vec<Problem> = Vec::new();
    validate_pair(config, &mut p);
    for (i, node) in config.nodes.iter_mut().enumerate() {
        validate_node(i, node, &mut p);
    }
    validate_node_pair(config, &mut p);
    validate_traffic(config, &mut p);
    validate_replication(config, &mut p);
    validate_monitor(&config.monitor, &mut p);
    validate_follow(&config.follow, &mut p);
    validate_sync(&config.sync, &mut p);
    p
}

/// The pair's name, and its two nodes.
fn validate_pair(config: &Config, p: &mut Vec<Problem>) {
    if config.pair.trim().is_empty() {
        p.push(("pair".into(), "must not be empty".into()));
    }
    if config.nodes.len() != 2 {
        p.push((
            "node".into(),
            format!(
                "exactly two [[node]] tables are needed (a main and its mirror); found {}",
                config.nodes.len()
            ),
        ));
    }
}

/// One `[[node]]` table, its subtables in order.
fn validate_node(i: usize, node: &mut NodeConfig, p: &mut Vec<Problem>) {
    validate_node_paths(i, node, p);
    validate_node_ssh(i, node, p);
    validate_node_service(i, node, p);
    validate_node_http(i, node, p);
    validate_node_database(i, node, p);
}

/// The key of `rest` in the `i`th node.
fn node_key(i: usize, rest: &str) -> String {
    format!("node[{i}].{rest}")
}

/// The node's name and its absolute paths.
fn validate_node_paths(i: usize, node: &NodeConfig, p: &mut Vec<Problem>) {
    if !valid_name(&node.name) {
        p.push((
            node_key(i, "name"),
            format!(
                "{:?} is not a usable node name: use 1-32 letters, digits, '-', '_' or '.'",
                node.name
            ),
        ));
    }
    let paths = [
        ("openkm_home", Some(&node.openkm_home)),
        ("state_dir", Some(&node.state_dir)),
        ("agent_path", Some(&node.agent_path)),
        ("datastore", node.datastore.as_ref()),
    ];
    for (key, path) in paths {
        if path.is_some_and(|d| !d.is_absolute()) {
            p.push((
                node_key(i, key),
                "must be an absolute path on the node".into(),
            ));
        }
    }
}

/// `[node.ssh]`: where and how to log in.
fn validate_node_ssh(i: usize, node: &mut NodeConfig, p: &mut Vec<Problem>) {
    let ssh = &mut node.ssh;
    if ssh.host.trim().is_empty() {
        p.push((node_key(i, "ssh.host"), "must not be empty".into()));
    } else if ssh.host.starts_with('-') {
        p.push((
            node_key(i, "ssh.host"),
            "must not start with '-' (ssh would read it as an option)".into(),
        ));
    }
    if ssh.port == 0 {
        p.push((node_key(i, "ssh.port"), "0 is not a usable port".into()));
    }
    if ssh.connect_timeout_secs == 0 || ssh.connect_timeout_secs > 300 {
        p.push((
            node_key(i, "ssh.connect_timeout_secs"),
            "must be between 1 and 300".into(),
        ));
    }
    for path in [&mut ssh.identity_file, &mut ssh.known_hosts_file] {
        if let Some(pb) = path.as_mut() {
            *pb = expand_home(pb);
        }
    }
    if ssh.user.trim().is_empty() {
        p.push((node_key(i, "ssh.user"), "must not be empty".into()));
    }
}

/// `[node.service]`: its three commands.
fn validate_node_service(i: usize, node: &NodeConfig, p: &mut Vec<Problem>) {
    for (key, cmd) in [
        ("service.start", &node.service.start),
        ("service.stop", &node.service.stop),
        ("service.status", &node.service.status),
    ] {
        if cmd.trim().is_empty() {
            p.push((node_key(i, key), "must not be empty".into()));
        }
    }
}

/// `[node.http]`: the health URL and its password.
fn validate_node_http(i: usize, node: &mut NodeConfig, p: &mut Vec<Problem>) {
    let url = &node.http.health_url;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        p.push((
            node_key(i, "http.health_url"),
            format!("{url:?} is not an http:// or https:// URL"),
        ));
    }
    if let Err(m) = node.http.password_source() {
        p.push((node_key(i, "http"), m.into()));
    }
    if let Some(f) = node.http.password_file.as_mut() {
        *f = expand_home(f);
    }
}

/// `[node.database]`: the account, the port, the password and TLS.
fn validate_node_database(i: usize, node: &mut NodeConfig, p: &mut Vec<Problem>) {
    let db = &mut node.database;
    if db.user.trim().is_empty() {
        p.push((node_key(i, "database.user"), "must not be empty".into()));
    }
    if db.schema.trim().is_empty() {
        p.push((node_key(i, "database.schema"), "must not be empty".into()));
    }
    if db.port == 0 {
        p.push((
            node_key(i, "database.port"),
            "0 is not a usable port".into(),
        ));
    }
    if let Err(m) = db.password_source() {
        p.push((node_key(i, "database"), m.into()));
    }
    if let Some(f) = db.password_file.as_mut() {
        *f = expand_home(f);
    }
    validate_tls(db, &node_key(i, "database"), p);
}

/// The two nodes must be two: different names, different places.
fn validate_node_pair(config: &Config, p: &mut Vec<Problem>) {
    let [a, b] = config.nodes.as_slice() else {
        return;
    };
    if a.name.eq_ignore_ascii_case(&b.name) {
        p.push((
            "node[1].name".into(),
            format!("duplicates node[0]'s name {:?}", a.name),
        ));
    }
    if a.ssh.host == b.ssh.host && a.ssh.port == b.ssh.port && a.openkm_home == b.openkm_home {
        p.push((
            "node[1].ssh.host".into(),
            "both nodes point at the same host, port and OpenKM home".into(),
        ));
    }
}

/// `[replication]`, when given: the replication account.
fn validate_replication(config: &mut Config, p: &mut Vec<Problem>) {
    let Some(r) = config.replication.as_mut() else {
        return;
    };
    if r.user.trim().is_empty() {
        p.push(("replication.user".into(), "must not be empty".into()));
    }
    if let Err(m) = r.password_source() {
        p.push(("replication".into(), m.into()));
    }
    if let Some(f) = r.password_file.as_mut() {
        *f = expand_home(f);
    }
}

/// `[monitor]`: intervals at least a second, thresholds in order.
fn validate_monitor(m: &MonitorConfig, p: &mut Vec<Problem>) {
    if m.interval_secs == 0 {
        p.push(("monitor.interval_secs".into(), "must be at least 1".into()));
    }
    if m.probe_timeout_secs == 0 {
        p.push((
            "monitor.probe_timeout_secs".into(),
            "must be at least 1".into(),
        ));
    }
    if !(m.lag_warning_secs > 0.0 && m.lag_critical_secs >= m.lag_warning_secs) {
        p.push((
            "monitor.lag_critical_secs".into(),
            "lag thresholds must be positive, with critical >= warning".into(),
        ));
    }
    if !(m.files_behind_warning_secs > 0.0
        && m.files_behind_critical_secs >= m.files_behind_warning_secs)
    {
        p.push((
            "monitor.files_behind_critical_secs".into(),
            "files-behind thresholds must be positive, with critical >= warning".into(),
        ));
    }
}

/// `[follow]`: a sane poll, batch and bandwidth.
fn validate_follow(f: &FollowConfig, p: &mut Vec<Problem>) {
    if f.poll_ms < 50 {
        p.push(("follow.poll_ms".into(), "must be at least 50".into()));
    }
    if f.batch_max == 0 {
        p.push(("follow.batch_max".into(), "must be at least 1".into()));
    }
    if f.bwlimit_kbps == Some(0) {
        p.push((
            "follow.bwlimit_kbps".into(),
            "0 would mean unlimited to rsync; leave it out instead".into(),
        ));
    }
}

/// `[sync]`: the deletion guard, the excludes, and rsync's and the freeze's limits.
fn validate_sync(s: &SyncConfig, p: &mut Vec<Problem>) {
    if !(0.0..=100.0).contains(&s.delete_limit_percent) || s.delete_limit_percent.is_nan() {
        p.push((
            "sync.delete_limit_percent".into(),
            "must be between 0 and 100".into(),
        ));
    }
    for (j, e) in s.excludes.iter().enumerate() {
        if e.trim().is_empty() {
            p.push((format!("sync.excludes[{j}]"), "must not be empty".into()));
        }
    }
    if s.io_timeout_secs == 0 {
        p.push((
            "sync.io_timeout_secs".into(),
            "0 would mean no timeout to rsync: a hung target would hang the sync".into(),
        ));
    }
    if s.freeze_max_secs < 10 {
        p.push((
            "sync.freeze_max_secs".into(),
            "under 10 s a node's watchdog could give it back in the middle of a final pass".into(),
        ));
    }
    if s.bwlimit_kbps == Some(0) {
        p.push((
            "sync.bwlimit_kbps".into(),
            "0 would mean unlimited to rsync; leave it out instead".into(),
        ));
    }
}

/// `[traffic]`: HAProxy by socket or address (with a backend and each node's server),
/// and the front URL.
fn validate_traffic(config: &mut Config, p: &mut Vec<Problem>) {
    let t = &mut config.traffic;
    if t.haproxy_socket.is_some() && t.haproxy_address.is_some() {
        p.push((
            "traffic.haproxy_address".into(),
            "give haproxy_socket or haproxy_address, not both".into(),
        ));
    }
    if let Some(s) = t.haproxy_socket.as_mut() {
        *s = expand_home(s);
    }
    let uses_haproxy = t.haproxy_socket.is_some() || t.haproxy_address.is_some();
    if uses_haproxy
        && t.haproxy_backend
            .as_deref()
            .is_none_or(|b| b.trim().is_empty())
    {
        p.push((
            "traffic.haproxy_backend".into(),
            "is required with the HAProxy runtime API".into(),
        ));
    }
    if uses_haproxy {
        for (i, n) in config.nodes.iter().enumerate() {
            if n.traffic.haproxy_server.is_none() {
                p.push((
                    format!("node[{i}].traffic.haproxy_server"),
                    "is required when [traffic] uses HAProxy".into(),
                ));
            }
        }
    }
    if let Some(url) = &config.traffic.front_url
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        p.push((
            "traffic.front_url".into(),
            format!("{url:?} is not an http:// or https:// URL"),
        ));
    }
}

/// The TLS files: a client certificate comes with its key, and `~/` is expanded.
fn validate_tls(db: &mut super::DatabaseConfig, prefix: &str, p: &mut Vec<Problem>) {
    if db.client_cert_file.is_some() != db.client_key_file.is_some() {
        p.push((
            format!("{prefix}.client_cert_file"),
            "client_cert_file and client_key_file go together: give both or neither".into(),
        ));
    }
    if db.tls == super::TlsMode::Off && (db.ca_file.is_some() || db.client_cert_file.is_some()) {
        p.push((
            format!("{prefix}.tls"),
            "is \"off\" but TLS files are given: set tls = \"required\" or remove them".into(),
        ));
    }
    for f in [
        &mut db.ca_file,
        &mut db.client_cert_file,
        &mut db.client_key_file,
    ]
    .into_iter()
    .flatten()
    {
        *f = expand_home(f);
    }
}

/// A direct database connection that leaves this machine without verified TLS sends the
/// okmirror user's credentials where they can be read or intercepted.
fn tls_warning(node: &super::NodeConfig) -> Option<String> {
    let db = &node.database;
    let loopback = matches!(db.host.as_str(), "localhost" | "::1") || db.host.starts_with("127.");
    if db.tunnel || loopback {
        return None;
    }
    match (db.tls, &db.ca_file) {
        (super::TlsMode::Off, _) => Some(format!(
            "node {}: the database connection to {} is direct and tls = \"off\": the password \
             crosses the network in plain text; set tls = \"required\" with ca_file, or tunnel = true",
            node.name, db.host
        )),
        (super::TlsMode::Preferred, None) => Some(format!(
            "node {}: the database connection to {} is encrypted but the server is not verified \
             (tls = \"preferred\" without ca_file); set ca_file and tls = \"required\", or tunnel = true",
            node.name, db.host
        )),
        _ => None,
    }
}

/// Things that are allowed but that an operator should hear about.
pub fn warnings(config: &Config) -> Vec<String> {
    let mut w = Vec::new();
    for n in &config.nodes {
        if !n.ssh.strict_host_key_checking {
            w.push(format!(
                "node {}: strict_host_key_checking is off; a changed host key would not stop okmirror",
                n.name
            ));
        }
        w.extend(tls_warning(n));
    }
    if !config
        .sync
        .excludes
        .iter()
        .any(|e| e.trim_matches('/') == "repository/.system.key")
    {
        w.push(
            "sync.excludes does not exclude repository/.system.key: each node's key must stay its own"
                .into(),
        );
    }
    let t = &config.traffic;
    if t.haproxy_socket.is_none() && t.haproxy_address.is_none() && t.hook.is_none() {
        w.push("[traffic] names no HAProxy and no hook: failover cannot move clients".into());
    }
    w
}

fn valid_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn expand_home(p: &Path) -> PathBuf {
    match p.strip_prefix("~") {
        Ok(rest) => directories::BaseDirs::new()
            .map(|b| b.home_dir().join(rest))
            .unwrap_or_else(|| p.to_path_buf()),
        Err(_) => p.to_path_buf(),
    }
}
