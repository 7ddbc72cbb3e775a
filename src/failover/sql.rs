//! The SQL of promotion, demotion and fencing, for both flavours. Pure, so the plan a
//! `--dry-run` shows is exactly what runs, and it is unit tested.

use crate::db::status::Flavour;

/// Stops writes: the global read lock waits for running commits, then read-only holds.
pub fn fence(flavour: Flavour) -> Vec<String> {
    let mut v = vec![
        "FLUSH TABLES WITH READ LOCK".to_string(),
        "SET GLOBAL read_only = ON".to_string(),
    ];
    if flavour == Flavour::MySql {
        v.push("SET GLOBAL super_read_only = ON".into());
    }
    v.push("UNLOCK TABLES".into());
    v
}

/// Makes the session read backslashes as escapes whatever the server's `sql_mode`
/// (`NO_BACKSLASH_ESCAPES` would otherwise change what `quote_literal` means).
pub const BACKSLASH_ESCAPES: &str =
    "SET SESSION sql_mode = REPLACE(@@SESSION.sql_mode, 'NO_BACKSLASH_ESCAPES', '')";

/// The inside of a single-quoted SQL literal, for a session under `BACKSLASH_ESCAPES`:
/// backslashes doubled, quotes doubled (standard SQL, so a quote can never end it).
pub fn quote_literal(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "''")
}

/// What lets okmirror's own (privileged) user write OpenKM's flag on a fenced node: on
/// MySQL only `super_read_only`, so `read_only` keeps every other user out; MariaDB has
/// no such split, so `read_only` is lifted for the one statement on one connection.
pub fn lift_for_flag(flavour: Flavour) -> Vec<&'static str> {
    match flavour {
        Flavour::MySql => vec!["SET GLOBAL super_read_only = OFF"],
        Flavour::MariaDb => vec!["SET GLOBAL read_only = OFF"],
    }
}

/// What a reseed runs on the former main before its database is replaced (the plan
/// shows exactly these).
pub fn reseed_reset(flavour: Flavour) -> Vec<String> {
    let replica: [&str; 2] = match flavour {
        Flavour::MariaDb => ["STOP SLAVE", "RESET SLAVE ALL"],
        Flavour::MySql => ["STOP REPLICA", "RESET REPLICA ALL"],
    };
    replica
        .into_iter()
        .chain(["RESET MASTER"])
        .map(str::to_string)
        .collect()
}

/// Makes a replica a standalone writable main.
pub fn promote(flavour: Flavour) -> Vec<String> {
    match flavour {
        Flavour::MariaDb => vec![
            "STOP SLAVE".into(),
            "RESET SLAVE ALL".into(),
            "SET GLOBAL read_only = OFF".into(),
        ],
        Flavour::MySql => vec![
            "STOP REPLICA".into(),
            "RESET REPLICA ALL".into(),
            "SET GLOBAL super_read_only = OFF".into(),
            "SET GLOBAL read_only = OFF".into(),
        ],
    }
}

/// Where a demoted node replicates from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub host: String,
    pub port: u16,
    pub user: String,
}

/// Makes a (fenced) node a replica of `source`. The password is a bind parameter's
/// stand-in here: the caller substitutes it only in the statement sent to the server,
/// never in what is shown or journaled.
pub fn repoint(flavour: Flavour, source: &Source, password: &str) -> Vec<String> {
    repoint_from(flavour, source, password, true)
}

/// `repoint`, optionally keeping the replica position as it is (after a reseed, the
/// dump has set it; the node's own binlog was reset).
pub fn repoint_from(
    flavour: Flavour,
    source: &Source,
    password: &str,
    from_own_binlog: bool,
) -> Vec<String> {
    let q = quote_literal;
    match flavour {
        Flavour::MariaDb => [
            Some(BACKSLASH_ESCAPES.to_string()),
            Some("STOP SLAVE".to_string()),
            // The old main's own writes are in its binlog, not in its replica position:
            // start from what it has, so nothing is fetched twice.
            from_own_binlog.then(|| "SET GLOBAL gtid_slave_pos = @@gtid_binlog_pos".to_string()),
            Some(format!(
                "CHANGE MASTER TO MASTER_HOST='{}', MASTER_PORT={}, MASTER_USER='{}', \
                 MASTER_PASSWORD='{}', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=2",
                q(&source.host),
                source.port,
                q(&source.user),
                q(password)
            )),
            Some("START SLAVE".into()),
        ]
        .into_iter()
        .flatten()
        .collect(),
        Flavour::MySql => vec![
            BACKSLASH_ESCAPES.into(),
            "STOP REPLICA".into(),
            format!(
                "CHANGE REPLICATION SOURCE TO SOURCE_HOST='{}', SOURCE_PORT={}, SOURCE_USER='{}', \
                 SOURCE_PASSWORD='{}', SOURCE_AUTO_POSITION=1, SOURCE_CONNECT_RETRY=2",
                q(&source.host),
                source.port,
                q(&source.user),
                q(password)
            ),
            "START REPLICA".into(),
        ],
    }
}

/// Sets OpenKM's read-only flag on this node only (kept out of the binlog, so it is
/// never an errant transaction and never replicates to the other node).
pub fn set_system_readonly(schema: &str, readonly: bool) -> Vec<String> {
    vec![
        "SET SESSION sql_log_bin = 0".into(),
        format!(
            "UPDATE `{}`.OKM_CONFIG SET CFG_VALUE = '{}' WHERE CFG_KEY = 'system.readonly'",
            schema.replace('`', "``"),
            readonly
        ),
        "SET SESSION sql_log_bin = 1".into(),
    ]
}

/// What is shown and journaled for a statement list: passwords masked.
pub fn shown(statements: &[String], password: &str) -> String {
    statements
        .iter()
        .map(|s| {
            if password.is_empty() {
                s.clone()
            } else {
                let escaped = quote_literal(password);
                s.replace(&escaped, "********")
                    .replace(password, "********")
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// MariaDB errant transactions: entries of the candidate's `@@gtid_binlog_state`
/// (`domain-server-seq`, one per domain and server) that the main's state does not
/// cover. Each is a transaction written on the candidate that the main never saw.
pub fn errant_mariadb(candidate_state: &str, main_state: &str) -> Vec<String> {
    let parse = |s: &str| -> Vec<(u32, u32, u64)> {
        s.split(',')
            .filter_map(|p| {
                let mut it = p.trim().split('-');
                Some((
                    it.next()?.parse().ok()?,
                    it.next()?.parse().ok()?,
                    it.next()?.parse().ok()?,
                ))
            })
            .collect()
    };
    let main = parse(main_state);
    parse(candidate_state)
        .into_iter()
        .filter(|(d, s, n)| {
            !main
                .iter()
                .any(|(md, ms, mn)| md == d && ms == s && mn >= n)
        })
        .map(|(d, s, n)| format!("{d}-{s}-{n}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promotion_statements_follow_the_flavour() {
        assert_eq!(
            promote(Flavour::MariaDb),
            [
                "STOP SLAVE",
                "RESET SLAVE ALL",
                "SET GLOBAL read_only = OFF"
            ]
        );
        assert!(promote(Flavour::MySql).contains(&"RESET REPLICA ALL".to_string()));
        assert!(fence(Flavour::MySql).contains(&"SET GLOBAL super_read_only = ON".to_string()));
        assert_eq!(fence(Flavour::MariaDb).last().unwrap(), "UNLOCK TABLES");
    }

    #[test]
    fn repoint_uses_gtid_and_the_password_is_masked_when_shown() {
        let src = Source {
            host: "127.0.0.3".into(),
            port: 3306,
            user: "repl".into(),
        };
        let m = repoint(Flavour::MariaDb, &src, "s3cr'et\\");
        let change = m.iter().find(|s| s.starts_with("CHANGE MASTER")).unwrap();
        assert!(change.contains("MASTER_USE_GTID=slave_pos"), "{change}");
        // Quotes doubled (standard SQL), backslashes doubled under a session that reads
        // them as escapes, set first: the same text whatever the server's sql_mode.
        assert!(
            change.contains("MASTER_PASSWORD='s3cr''et\\\\'"),
            "{change}"
        );
        assert_eq!(m[0], BACKSLASH_ESCAPES);
        let shown = shown(&m, "s3cr'et\\");
        assert!(!shown.contains("s3cr"), "{shown}");
        let y = repoint(Flavour::MySql, &src, "pw");
        assert_eq!(y[0], BACKSLASH_ESCAPES);
        assert!(y[2].contains("SOURCE_AUTO_POSITION=1"), "{}", y[2]);
    }

    #[test]
    fn the_flag_is_set_out_of_the_binlog_with_correct_sql() {
        let v = set_system_readonly("okmdb", true);
        assert_eq!(v[0], "SET SESSION sql_log_bin = 0");
        assert_eq!(
            v[1],
            "UPDATE `okmdb`.OKM_CONFIG SET CFG_VALUE = 'true' WHERE CFG_KEY = 'system.readonly'"
        );
    }

    #[test]
    fn errant_transactions_are_the_candidates_own_unseen_writes() {
        // bravo (server 2) replicated alpha's 0-1-100 and wrote 0-2-101 itself.
        assert_eq!(errant_mariadb("0-1-100,0-2-101", "0-1-120"), ["0-2-101"]);
        // Everything the candidate has, the main has too.
        assert!(errant_mariadb("0-1-100", "0-2-130,0-1-120").is_empty());
        assert!(errant_mariadb("0-2-5", "0-1-120,0-2-5").is_empty());
        assert!(errant_mariadb("", "0-1-1").is_empty());
    }
}
