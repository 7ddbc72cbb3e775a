//! Dump mode: the recipe's `mysqldump | mysql`, done safely. Credentials go into private
//! option files (mode 600, written from standard input) on each node and are removed
//! afterwards; no password is ever on a command line. The import is kept out of the
//! mirror's binlog, and `system.readonly` is set back to true afterwards (a dump from
//! the main carries `false`).

use std::time::Duration;

use color_eyre::eyre::{Result, eyre};

use super::plan::peer_ssh;
use crate::config::NodeConfig;
use crate::node::NodeSsh;
use crate::node::quote;

/// A `[client]` option file for a node's database.
pub(crate) fn option_file(node: &NodeConfig) -> Result<String> {
    let password = node
        .database
        .password_source()
        .map_err(|e| eyre!("node {}: database: {e}", node.name))?
        .resolve()
        .map_err(|e| eyre!("node {}: database password: {e}", node.name))?;
    let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    Ok(format!(
        "[client]\nuser=\"{}\"\npassword=\"{}\"\nhost=\"{}\"\nport={}\n{}",
        esc(&node.database.user),
        esc(password.expose()),
        esc(&node.database.host),
        node.database.port,
        client_tls_options(node.database.tls)
    ))
}

/// TLS for the node's own `mysql`/`mysqldump` clients when the config requires it: they
/// encrypt but cannot check the certificate (`ca_file` is a path on the console).
/// MariaDB's client knows `ssl`; MySQL 8's has no such option (the `loose-` prefix makes
/// it a warning there) and encrypts by default (`ssl-mode=PREFERRED`).
fn client_tls_options(mode: crate::config::TlsMode) -> &'static str {
    match mode {
        crate::config::TlsMode::Required => "loose-ssl\n",
        crate::config::TlsMode::Preferred | crate::config::TlsMode::Off => "",
    }
}

/// Writes an option file into a new private temp folder on the node; returns the folder.
async fn place(ssh: &NodeSsh, node: &NodeConfig) -> Result<String> {
    let content = option_file(node)?;
    let out = ssh
        .run_with_stdin(
            "umask 077 && d=$(mktemp -d) && cat > \"$d/my.cnf\" && echo \"$d\"",
            Some(content.as_bytes()),
            Duration::from_secs(30),
        )
        .await?;
    let dir = out.stdout.trim().to_string();
    if !out.success() || dir.is_empty() {
        return Err(eyre!(
            "node {}: cannot write a private option file: {}",
            node.name,
            out.stderr.trim()
        ));
    }
    Ok(dir)
}

/// Option files on both nodes; none is left behind when the second cannot be written.
async fn place_both(
    src: &NodeSsh,
    s: &NodeConfig,
    dst: &NodeSsh,
    d: &NodeConfig,
) -> Result<(String, String)> {
    let s_dir = place(src, s).await?;
    match place(dst, d).await {
        Ok(d_dir) => Ok((s_dir, d_dir)),
        Err(e) => {
            remove(src, &s_dir).await;
            Err(e)
        }
    }
}

/// Removes an option file's private folder (best effort: it holds only that file).
async fn remove(ssh: &NodeSsh, dir: &str) {
    let _ = ssh
        .run(&format!("rm -rf {}", quote(dir)), Duration::from_secs(30))
        .await;
}

/// Ends the import: the mirror's OpenKM flag back to read-only (a dump from the main
/// carries `false`), out of the binlog, in the same session as the import.
const FLAG_TRUE: &str = "SET SESSION sql_log_bin=0; \
    UPDATE OKM_CONFIG SET CFG_VALUE='true' WHERE CFG_KEY='system.readonly';";

/// `script` run so that the option file's folder `dir` goes when it ends, however it
/// ends (done, failed, its console gone): the credentials never outlive the dump.
fn cleaned(dir: &str, script: &str) -> String {
    let body = format!("d={}; trap 'rm -rf \"$d\"' EXIT; {script}", quote(dir));
    format!("bash -o pipefail -c {}", quote(&body))
}

/// Streams the main's schema into the mirror and re-applies the mirror's read-only flag.
pub async fn dump_into_mirror(
    src: &NodeSsh,
    s: &NodeConfig,
    dst: &NodeSsh,
    d: &NodeConfig,
) -> Result<()> {
    let (s_dir, d_dir) = place_both(src, s, dst, d).await?;
    let schema = quote(&s.database.schema);
    let target_schema = quote(&d.database.schema);
    let remote_mysql = format!(
        "mysql --defaults-extra-file={}/my.cnf {target_schema}",
        quote(&d_dir)
    );
    let pipeline = format!(
        "{{ echo 'SET SESSION sql_log_bin=0;'; mysqldump --defaults-extra-file={sd}/my.cnf \
         --single-transaction {schema} && echo {flag}; }} | {peer} {target} {remote}",
        sd = quote(&s_dir),
        flag = quote(FLAG_TRUE),
        peer = peer_ssh(s, d),
        target = quote(&format!("{}@{}", d.ssh.user, d.ssh.host)),
        remote = quote(&cleaned(&d_dir, &remote_mysql)),
    );
    let pipeline = cleaned(&s_dir, &pipeline);
    let result = async {
        let out = src.run(&pipeline, Duration::from_secs(6 * 3600)).await?;
        if !out.success() {
            return Err(eyre!(
                "mysqldump | mysql from {} to {} failed: {}",
                s.name,
                d.name,
                out.stderr.trim()
            ));
        }
        Ok(())
    }
    .await;
    remove(src, &s_dir).await;
    remove(dst, &d_dir).await;
    result
}

/// Replaces `target`'s copy of `schemas` with a consistent dump of `source`'s, and sets
/// `target`'s replica GTID position to the dump's point (mysqldump `--master-data=1
/// --gtid`), so it can replicate from `source` from exactly there. The import is kept
/// out of `target`'s binlog. For rejoining a former main whose own transactions must
/// give way; its binlogs must be saved (and reset) before.
pub async fn reseed(
    src: &NodeSsh,
    s: &NodeConfig,
    dst: &NodeSsh,
    d: &NodeConfig,
    schemas: &[String],
    flavour: crate::db::status::Flavour,
) -> Result<()> {
    // Where the dump's snapshot is in GTID terms: MariaDB sets gtid_slave_pos, MySQL
    // gtid_purged (both need the target's own binlog reset first).
    let gtid = match flavour {
        crate::db::status::Flavour::MariaDb => "--master-data=1 --gtid",
        crate::db::status::Flavour::MySql => "--set-gtid-purged=ON",
    };
    let (s_dir, d_dir) = place_both(src, s, dst, d).await?;
    let dbs: Vec<String> = schemas.iter().map(|x| quote(x)).collect();
    let remote_mysql = format!("mysql --defaults-extra-file={}/my.cnf", quote(&d_dir));
    let pipeline = format!(
        "{{ echo 'SET SESSION sql_log_bin=0;'; mysqldump --defaults-extra-file={sd}/my.cnf \
         --single-transaction {gtid} --databases {dbs}; }} | {peer} {target} {remote}",
        sd = quote(&s_dir),
        dbs = dbs.join(" "),
        peer = peer_ssh(s, d),
        target = quote(&format!("{}@{}", d.ssh.user, d.ssh.host)),
        remote = quote(&cleaned(&d_dir, &remote_mysql)),
    );
    let pipeline = cleaned(&s_dir, &pipeline);
    let out = src.run(&pipeline, Duration::from_secs(6 * 3600)).await;
    remove(src, &s_dir).await;
    remove(dst, &d_dir).await;
    let out = out?;
    if !out.success() {
        return Err(eyre!(
            "reseeding {} from {} (mysqldump | mysql) failed: {}",
            d.name,
            s.name,
            out.stderr.trim()
        ));
    }
    Ok(())
}
