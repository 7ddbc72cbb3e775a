//! What a node's database says about itself: flavour, read-only flags, GTID positions,
//! and replication when it is a replica.

use std::collections::HashMap;

use color_eyre::eyre::{Result, WrapErr};
use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use serde::Serialize;

use super::replica::ReplicaStatus;

/// Which server family answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Flavour {
    MariaDb,
    MySql,
}

impl Flavour {
    /// The family a `SELECT VERSION()` answer names (the one place that reads it).
    pub fn of_version(version: &str) -> Flavour {
        if version.to_ascii_lowercase().contains("mariadb") {
            Flavour::MariaDb
        } else {
            Flavour::MySql
        }
    }

    /// The family's name, for people.
    pub fn name(self) -> &'static str {
        match self {
            Flavour::MariaDb => "MariaDB",
            Flavour::MySql => "MySQL",
        }
    }
}

/// One snapshot of a node's database.
#[derive(Debug, Clone, Serialize)]
pub struct DbStatus {
    pub version: String,
    pub flavour: Flavour,
    pub server_id: u32,
    pub read_only: bool,
    /// MySQL only.
    pub super_read_only: Option<bool>,
    /// `system.readonly` in `OKM_CONFIG`; `None` when the row is missing (OpenKM: false).
    pub system_readonly: Option<bool>,
    /// What this server has written to its binlog (the main's position).
    pub gtid_binlog: String,
    /// What this server has applied from its source (the mirror's position).
    pub gtid_applied: String,
    pub replica: Option<ReplicaStatus>,
}

impl DbStatus {
    /// Writable by applications: the main's mark.
    pub fn writable(&self) -> bool {
        !self.read_only && self.super_read_only != Some(true)
    }
}

/// Reads the status; `schema` is OpenKM's (for `OKM_CONFIG`).
pub async fn read_status(conn: &mut Conn, schema: &str) -> Result<DbStatus> {
    let version: String = conn
        .query_first("SELECT VERSION()")
        .await
        .wrap_err("SELECT VERSION()")?
        .unwrap_or_default();
    let flavour = Flavour::of_version(&version);
    let (server_id, read_only, super_ro, binlog, applied) = match flavour {
        Flavour::MariaDb => {
            let r: Option<(u32, u8, String, String)> = conn
                .query_first("SELECT @@server_id, @@read_only, @@gtid_binlog_pos, @@gtid_slave_pos")
                .await
                .wrap_err("reading MariaDB variables")?;
            let (id, ro, b, a) = r.unwrap_or_default();
            (id, ro != 0, None, b, a)
        }
        Flavour::MySql => {
            let r: Option<(u32, u8, u8, String)> = conn
                .query_first("SELECT @@server_id, @@read_only, @@super_read_only, @@gtid_executed")
                .await
                .wrap_err("reading MySQL variables")?;
            let (id, ro, sro, g) = r.unwrap_or_default();
            (id, ro != 0, Some(sro != 0), g.clone(), g)
        }
    };
    let flag: Option<Option<String>> = conn
        .query_first(format!(
            "SELECT CFG_VALUE FROM `{}`.OKM_CONFIG WHERE CFG_KEY = 'system.readonly'",
            schema.replace('`', "")
        ))
        .await
        .wrap_err("reading system.readonly from OKM_CONFIG")?;
    let system_readonly = flag
        .flatten()
        .map(|v| v.trim().eq_ignore_ascii_case("true"));
    let stmt = match flavour {
        Flavour::MariaDb => "SHOW SLAVE STATUS",
        Flavour::MySql => "SHOW REPLICA STATUS",
    };
    let rows: Vec<mysql_async::Row> = conn.query(stmt).await.wrap_err(stmt)?;
    let replica = rows.into_iter().next().map(|row| {
        let mut map = HashMap::new();
        let names: Vec<String> = row
            .columns_ref()
            .iter()
            .map(|c| c.name_str().into_owned())
            .collect();
        for (i, name) in names.into_iter().enumerate() {
            let v: Option<Option<String>> = row.get_opt(i).and_then(Result::ok);
            map.insert(name, v.flatten());
        }
        ReplicaStatus::from_row(&map)
    });
    Ok(DbStatus {
        version,
        flavour,
        server_id,
        read_only,
        super_read_only: super_ro,
        system_readonly,
        gtid_binlog: binlog,
        gtid_applied: applied,
        replica,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_family_is_read_from_version_once() {
        assert_eq!(
            Flavour::of_version("10.11.19-MariaDB-log"),
            Flavour::MariaDb
        );
        assert_eq!(Flavour::of_version("8.0.39"), Flavour::MySql);
        assert_eq!(Flavour::MariaDb.name(), "MariaDB");
    }
}
