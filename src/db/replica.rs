//! Replica status rows from MariaDB 10.x and MySQL 8, read through one alias table so the
//! rest of okmirror never cares which flavour answered.

use std::collections::HashMap;

use serde::Serialize;

/// One field of `SHOW REPLICA STATUS` under its names in each flavour.
const ALIASES: &[(&str, &[&str])] = &[
    ("io_running", &["Slave_IO_Running", "Replica_IO_Running"]),
    ("sql_running", &["Slave_SQL_Running", "Replica_SQL_Running"]),
    (
        "seconds_behind",
        &["Seconds_Behind_Master", "Seconds_Behind_Source"],
    ),
    ("source_host", &["Master_Host", "Source_Host"]),
    ("source_port", &["Master_Port", "Source_Port"]),
    ("io_state", &["Slave_IO_State", "Replica_IO_State"]),
    (
        "sql_state",
        &["Slave_SQL_Running_State", "Replica_SQL_Running_State"],
    ),
    ("last_io_errno", &["Last_IO_Errno"]),
    ("last_io_error", &["Last_IO_Error"]),
    ("last_sql_errno", &["Last_SQL_Errno"]),
    ("last_sql_error", &["Last_SQL_Error"]),
    ("using_gtid", &["Using_Gtid"]),
    ("auto_position", &["Auto_Position"]),
    ("retrieved_gtid", &["Gtid_IO_Pos", "Retrieved_Gtid_Set"]),
    ("executed_gtid", &["Executed_Gtid_Set"]),
];

/// A replication thread's state as the server reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ThreadState {
    Yes,
    No,
    Connecting,
    Unknown,
}

impl ThreadState {
    /// How the state reads in a sentence.
    pub fn word(self) -> &'static str {
        match self {
            ThreadState::Yes => "running",
            ThreadState::No => "stopped",
            ThreadState::Connecting => "connecting",
            ThreadState::Unknown => "unknown",
        }
    }

    fn parse(v: Option<&str>) -> ThreadState {
        match v.map(str::trim) {
            Some(s) if s.eq_ignore_ascii_case("yes") => ThreadState::Yes,
            Some(s) if s.eq_ignore_ascii_case("no") => ThreadState::No,
            Some(s) if s.eq_ignore_ascii_case("connecting") => ThreadState::Connecting,
            _ => ThreadState::Unknown,
        }
    }
}

/// What a replica says about its replication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplicaStatus {
    pub io: ThreadState,
    pub sql: ThreadState,
    /// `None` when the server reports NULL (a thread stopped).
    pub seconds_behind: Option<u64>,
    pub source_host: String,
    pub source_port: Option<u16>,
    pub io_state: String,
    pub sql_state: String,
    pub last_io_error: Option<String>,
    pub last_sql_error: Option<String>,
    /// True when positions are GTID-based (MariaDB `Using_Gtid` not `No`, MySQL auto-position).
    pub gtid_mode: bool,
    pub retrieved_gtid: String,
}

impl ReplicaStatus {
    /// Builds it from a row given as column name -> value (NULL as `None`).
    pub fn from_row(row: &HashMap<String, Option<String>>) -> ReplicaStatus {
        let get = |field: &str| -> Option<&str> {
            let names = ALIASES
                .iter()
                .find(|(f, _)| *f == field)
                .map(|(_, n)| *n)
                .unwrap_or(&[]);
            names
                .iter()
                .find_map(|n| row.get(*n))
                .and_then(|v| v.as_deref())
        };
        let text = |field: &str| get(field).unwrap_or("").trim().to_string();
        let error = |no: &str, msg: &str| match get(no).map(str::trim) {
            Some(n) if n != "0" && !n.is_empty() => Some(format!("{n}: {}", text(msg))),
            _ => None,
        };
        let gtid_mode = match get("using_gtid") {
            Some(v) => !v.trim().eq_ignore_ascii_case("no"),
            None => get("auto_position").map(str::trim) == Some("1"),
        };
        ReplicaStatus {
            io: ThreadState::parse(get("io_running")),
            sql: ThreadState::parse(get("sql_running")),
            seconds_behind: get("seconds_behind").and_then(|v| v.trim().parse().ok()),
            source_host: text("source_host"),
            source_port: get("source_port").and_then(|v| v.trim().parse().ok()),
            io_state: text("io_state"),
            sql_state: text("sql_state"),
            last_io_error: error("last_io_errno", "last_io_error"),
            last_sql_error: error("last_sql_errno", "last_sql_error"),
            gtid_mode,
            retrieved_gtid: text("retrieved_gtid"),
        }
    }

    /// Both threads running.
    pub fn healthy(&self) -> bool {
        self.io == ThreadState::Yes && self.sql == ThreadState::Yes
    }
}

/// Parses `SHOW ... STATUS\G` text (`  Name: value` lines) into a row; used for samples.
pub fn parse_vertical(text: &str) -> HashMap<String, Option<String>> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            let k = k.trim();
            if k.is_empty() || k.starts_with('*') {
                return None;
            }
            let v = v.trim();
            Some((k.to_string(), (v != "NULL").then(|| v.to_string())))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_healthy_mariadb_replica() {
        let row = parse_vertical(include_str!(
            "../../tests/samples/mariadb-10.11-replica-ok.txt"
        ));
        let s = ReplicaStatus::from_row(&row);
        assert_eq!(s.io, ThreadState::Yes);
        assert_eq!(s.sql, ThreadState::Yes);
        assert_eq!(s.seconds_behind, Some(0));
        assert_eq!(s.source_host, "127.0.0.2");
        assert_eq!(s.source_port, Some(3306));
        assert!(s.gtid_mode);
        assert!(s.healthy());
        assert_eq!(s.last_io_error, None);
        assert_eq!(s.last_sql_error, None);
    }

    #[test]
    fn reads_a_stopped_mariadb_sql_thread() {
        let row = parse_vertical(include_str!(
            "../../tests/samples/mariadb-10.11-replica-sql-stopped.txt"
        ));
        let s = ReplicaStatus::from_row(&row);
        assert_eq!(s.io, ThreadState::Yes);
        assert_eq!(s.sql, ThreadState::No);
        assert_eq!(s.seconds_behind, None, "NULL while a thread is stopped");
        assert!(!s.healthy());
    }

    #[test]
    fn reads_a_mysql_8_replica_with_an_io_error() {
        let row = parse_vertical(include_str!(
            "../../tests/samples/mysql-8.0-replica-io-error.txt"
        ));
        let s = ReplicaStatus::from_row(&row);
        assert_eq!(s.io, ThreadState::Connecting);
        assert_eq!(s.sql, ThreadState::Yes);
        assert_eq!(s.seconds_behind, None);
        assert_eq!(s.source_host, "10.0.0.1");
        assert!(s.gtid_mode);
        assert_eq!(
            s.last_io_error.as_deref(),
            Some(
                "2003: error connecting to source 'repl@10.0.0.1:3306' - retry-time: 60 retries: 3 \
                 message: Can't connect to MySQL server on '10.0.0.1:3306' (111)"
            )
        );
    }
}
