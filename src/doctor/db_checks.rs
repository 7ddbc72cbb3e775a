//! What the doctor asks each database: the binary log and GTID settings, the okmirror
//! user's grants, OpenKM's version table, and whether the replication user can log in.

use mysql_async::Conn;
use mysql_async::prelude::Queryable;

use super::grants;
use super::{Check, Topic};
use crate::config::{Config, NodeConfig, NodeId};
use crate::db::{DbStatus, Flavour};
use crate::pair::Monitor;

pub struct DbResults {
    pub checks: Vec<Check>,
    /// Each node's status (flags, server_id, flavour); `None` where it did not answer.
    pub facts: Vec<Option<DbStatus>>,
}

/// Runs every node's database checks concurrently.
pub async fn run(monitor: &Monitor) -> DbResults {
    let looks = NodeId::BOTH.map(|i| one_node(monitor, i));
    let mut checks = Vec::new();
    let mut facts = Vec::new();
    for (c, f) in futures::future::join_all(looks).await {
        checks.extend(c);
        facts.push(f);
    }
    DbResults { checks, facts }
}

async fn one_node(monitor: &Monitor, i: NodeId) -> (Vec<Check>, Option<DbStatus>) {
    let node = &monitor.nodes[i].cfg;
    let name = Some(node.name.as_str());
    let mut conn = match monitor.connect_node(i).await {
        Ok(c) => c,
        Err(e) => {
            let fix = "check [node.database] (host, port, user, password, tls/ca_file) and that the server accepts this user from here";
            return (
                vec![Check::fail(Topic::Grants, name, format!("{e:#}"), fix)],
                None,
            );
        }
    };
    let status = match crate::db::read_status(&mut conn, &node.database.schema).await {
        Ok(s) => s,
        Err(e) => {
            return (
                vec![Check::fail(Topic::Roles, name, format!("{e:#}"), "")],
                None,
            );
        }
    };
    let mut checks = server_settings(&mut conn, node, status.flavour).await;
    checks.push(grants_check(&mut conn, node, status.flavour).await);
    checks.push(version_table(&mut conn, node).await);
    checks.push(replication_user(monitor, i).await);
    if status.flavour == Flavour::MySql {
        checks.push(Check::warn(
            Topic::Flavour,
            name,
            format!("{}: okmirror's MySQL 8 statements are tested on samples only, not on a live server", status.version),
            "rehearse with `okmirror drill` on a test pair before relying on a failover",
        ));
    }
    (checks, Some(status))
}

/// `log_bin`, GTID mode and `log_slave_updates`: without them a failover cannot tell
/// what the mirror lacks, and a rejoin cannot find the old main's place.
async fn server_settings(conn: &mut Conn, node: &NodeConfig, flavour: Flavour) -> Vec<Check> {
    let name = Some(node.name.as_str());
    let sql = match flavour {
        Flavour::MariaDb => "SELECT @@log_bin, @@log_slave_updates, @@gtid_strict_mode, 1",
        Flavour::MySql => {
            "SELECT @@log_bin, @@log_slave_updates, @@gtid_mode = 'ON', @@enforce_gtid_consistency = 'ON'"
        }
    };
    let row: Option<(u8, u8, u8, u8)> = match conn.query_first(sql).await {
        Ok(r) => r,
        Err(e) => return vec![Check::fail(Topic::Binlog, name, format!("{sql}: {e}"), "")],
    };
    let (log_bin, replica_updates, gtid, consistency) = row.unwrap_or_default();
    let mut out = Vec::new();
    out.push(if log_bin == 1 {
        Check::pass(Topic::Binlog, name, "log_bin = ON")
    } else {
        Check::fail(
            Topic::Binlog,
            name,
            "log_bin = OFF",
            "in the server's config: log_bin = mysql-bin, then restart it",
        )
    });
    out.push(match (flavour, gtid == 1 && consistency == 1) {
        (_, true) => Check::pass(
            Topic::Gtid,
            name,
            if flavour == Flavour::MariaDb { "gtid_strict_mode = ON" } else { "gtid_mode = ON, enforce_gtid_consistency = ON" },
        ),
        (Flavour::MariaDb, false) => Check::fail(
            Topic::Gtid,
            name,
            "gtid_strict_mode = OFF: an errant transaction would go unnoticed",
            "SET GLOBAL gtid_strict_mode = ON; and gtid_strict_mode = 1 in the server's config",
        ),
        (Flavour::MySql, false) => Check::fail(
            Topic::Gtid,
            name,
            "gtid_mode or enforce_gtid_consistency is not ON",
            "gtid_mode = ON and enforce_gtid_consistency = ON in the server's config (see MySQL's online GTID procedure)",
        ),
    });
    out.push(if replica_updates == 1 {
        Check::pass(Topic::ReplicaUpdates, name, "log_slave_updates = ON")
    } else {
        Check::fail(
            Topic::ReplicaUpdates,
            name,
            "log_slave_updates = OFF: after a failover the old main could not catch up from this node",
            "log_slave_updates = 1 in the server's config, then restart it",
        )
    });
    out
}

/// The okmirror user's grants against the documented minimum.
async fn grants_check(conn: &mut Conn, node: &NodeConfig, flavour: Flavour) -> Check {
    let name = Some(node.name.as_str());
    let read = async {
        let user: Option<String> = conn.query_first("SELECT CURRENT_USER()").await?;
        let lines: Vec<String> = conn.query("SHOW GRANTS").await?;
        Ok::<_, mysql_async::Error>((user.unwrap_or_default(), lines))
    };
    let (user, lines) = match read.await {
        Ok(r) => r,
        Err(e) => return Check::fail(Topic::Grants, name, format!("SHOW GRANTS: {e}"), ""),
    };
    let g = grants::parse(&lines);
    let account = grants::account(&user);
    let schema = node.database.schema.as_str();
    let fixes = g.missing(flavour, &[schema, "okmirror"], &account);
    if !fixes.is_empty() {
        return Check::fail(
            Topic::Grants,
            name,
            format!("{account} lacks privileges okmirror uses"),
            &format!(
                "as an admin on the main (grants replicate): {}",
                fixes.join(" ")
            ),
        );
    }
    let broad = g.too_broad();
    if broad.is_empty() {
        Check::pass(
            Topic::Grants,
            name,
            format!("{account} has the documented grants"),
        )
    } else {
        Check::warn(
            Topic::Grants,
            name,
            format!("{account} has more than it needs: {}", broad.join(", ")),
            "use the README's \"Database users and grants\" statements for a user of its own",
        )
    }
}

/// okmirror reads `OKM_NODE_DOCUMENT_VERSION` to find the files each version needs.
async fn version_table(conn: &mut Conn, node: &NodeConfig) -> Check {
    let name = Some(node.name.as_str());
    let schema = node.database.schema.replace('`', "");
    let sql = format!(
        "SELECT COUNT(*) FROM (SELECT 1 FROM `{schema}`.OKM_NODE_DOCUMENT_VERSION LIMIT 1) t"
    );
    match conn.query_first::<u64, _>(sql).await {
        Ok(_) => Check::pass(
            Topic::VersionTable,
            name,
            format!("{schema}.OKM_NODE_DOCUMENT_VERSION readable"),
        ),
        Err(e) => Check::fail(
            Topic::VersionTable,
            name,
            format!("{schema}.OKM_NODE_DOCUMENT_VERSION: {e}"),
            &format!(
                "set [node.database] schema to OpenKM's, and GRANT SELECT ON `{schema}`.* to okmirror's user"
            ),
        ),
    }
}

/// The replication user logs in on this node: after a failover the other node replicates
/// from it with the same user.
async fn replication_user(monitor: &Monitor, i: NodeId) -> Check {
    let link = &monitor.nodes[i];
    let name = Some(link.cfg.name.as_str());
    let Some(r) = &monitor.cfg.replication else {
        return Check::warn(
            Topic::ReplicationUser,
            name,
            "no [replication] user in the config: rejoin and failback cannot point a node at its new main",
            "add [replication] user and password_file",
        );
    };
    let mut db = link.cfg.database.clone();
    db.user = r.user.clone();
    db.password = r.password.clone();
    db.password_env = r.password_env.clone();
    db.password_file = r.password_file.clone();
    let ssh = db.tunnel.then_some(&*link.ssh);
    let t = std::time::Duration::from_secs(monitor.cfg.monitor.probe_timeout_secs.max(3));
    match crate::db::connect(&link.cfg.name, &db, ssh, &crate::paths::socket_dir(), t).await {
        Ok(_) => Check::pass(Topic::ReplicationUser, name, format!("{} logs in", r.user)),
        // 1044: the password was accepted, then OpenKM's schema refused, as it should be
        // for a user that only replicates.
        Err(e) if crate::db::server_error_code(&e) == Some(1044) => Check::pass(
            Topic::ReplicationUser,
            name,
            format!("{} logs in (and may not read OpenKM's schema)", r.user),
        ),
        Err(e) if crate::db::server_error_code(&e) == Some(1130) => Check::warn(
            Topic::ReplicationUser,
            name,
            format!(
                "{} may not log in from this console's host, so it cannot be checked from here",
                r.user
            ),
            "",
        ),
        Err(e) => Check::fail(
            Topic::ReplicationUser,
            name,
            format!("{} cannot log in: {e:#}", r.user),
            &format!(
                "on the main: CREATE USER '{u}'@'<the nodes>' IDENTIFIED BY '...'; GRANT REPLICATION SLAVE ON *.* TO '{u}'@'<the nodes>';",
                u = r.user
            ),
        ),
    }
}

/// Distinct `server_id`s, one writable main (`system.readonly` false) and one read-only
/// mirror (`system.readonly = true`).
pub fn pair_checks(cfg: &Config, facts: &[Option<DbStatus>]) -> Vec<Check> {
    let [Some(a), Some(b)] = facts else {
        return vec![Check::warn(
            Topic::Roles,
            None,
            "a database did not answer: flags not compared",
            "",
        )];
    };
    let mut out = Vec::new();
    out.push(if a.server_id != b.server_id {
        Check::pass(
            Topic::ServerIds,
            None,
            format!("{} and {}", a.server_id, b.server_id),
        )
    } else {
        Check::fail(
            Topic::ServerIds,
            None,
            format!("both nodes have server_id {}", a.server_id),
            "give each server its own server_id in its config, then restart it",
        )
    });
    out.extend(roles_check(cfg, a, b));
    out
}

fn roles_check(cfg: &Config, a: &DbStatus, b: &DbStatus) -> Vec<Check> {
    let (main, mirror) = match (a.writable(), b.writable()) {
        (true, false) => (0, 1),
        (false, true) => (1, 0),
        (true, true) => {
            return vec![Check::fail(
                Topic::Roles,
                None,
                "both databases are writable (split brain)",
                "on the mirror: SET GLOBAL read_only = ON; and read_only = 1 in its config (okmirror status shows which node is the main)",
            )];
        }
        (false, false) => {
            return vec![Check::fail(
                Topic::Roles,
                None,
                "no database is writable: OpenKM cannot take writes",
                "on the main: SET GLOBAL read_only = OFF; (and read_only = 0 in its config)",
            )];
        }
    };
    let st = [a, b];
    let (m, r) = (&cfg.nodes[main].name, &cfg.nodes[mirror].name);
    let mut out = vec![Check::pass(Topic::Roles, Some(m), "main: writable")];
    out.push(Check::pass(Topic::Roles, Some(r), "mirror: read_only = ON"));
    if st[main].system_readonly == Some(true) {
        out.push(Check::fail(
            Topic::Roles,
            Some(m),
            "system.readonly = true on the main: OpenKM refuses edits",
            "on the main: UPDATE OKM_CONFIG SET CFG_VALUE='false' WHERE CFG_KEY='system.readonly';",
        ));
    }
    if st[mirror].system_readonly != Some(true) {
        out.push(Check::fail(
            Topic::Roles,
            Some(r),
            "system.readonly is not true on the mirror: its OpenKM would try to write",
            "on the mirror: SET SESSION sql_log_bin = 0; UPDATE OKM_CONFIG SET CFG_VALUE='true' WHERE CFG_KEY='system.readonly';",
        ));
    }
    out
}
