//! Heartbeat lag, pt-heartbeat done better: the console writes the main's own
//! `UTC_TIMESTAMP(6)` and a sequence number; lag is the main's clock now minus the
//! replicated timestamp read on the mirror, so only one clock is ever used.

use color_eyre::eyre::{Result, WrapErr};
use mysql_async::Conn;
use mysql_async::prelude::Queryable;

/// The heartbeat table, in okmirror's own small schema.
pub const TABLE: &str = "okmirror.heartbeat";

/// Creates the schema and table when missing (on the main only: it replicates).
pub async fn ensure_table(conn: &mut Conn) -> Result<()> {
    conn.query_drop("CREATE DATABASE IF NOT EXISTS okmirror")
        .await
        .wrap_err("creating schema okmirror for the heartbeat")?;
    conn.query_drop(format!(
        "CREATE TABLE IF NOT EXISTS {TABLE} (server_id INT UNSIGNED NOT NULL PRIMARY KEY, \
         ts DATETIME(6) NOT NULL, seq BIGINT UNSIGNED NOT NULL) ENGINE=InnoDB"
    ))
    .await
    .wrap_err_with(|| format!("creating {TABLE}"))
}

/// Writes one beat for `server_id` (a literal: `@@server_id` would re-evaluate on the
/// replica); returns the new sequence number.
pub async fn beat(conn: &mut Conn, server_id: u32) -> Result<u64> {
    conn.exec_drop(
        format!(
            "INSERT INTO {TABLE} (server_id, ts, seq) VALUES (?, UTC_TIMESTAMP(6), 1) \
             ON DUPLICATE KEY UPDATE ts = UTC_TIMESTAMP(6), seq = seq + 1"
        ),
        (server_id,),
    )
    .await
    .wrap_err("writing the heartbeat")?;
    let seq: Option<u64> = conn
        .exec_first(
            format!("SELECT seq FROM {TABLE} WHERE server_id = ?"),
            (server_id,),
        )
        .await
        .wrap_err("reading the heartbeat back")?;
    Ok(seq.unwrap_or(0))
}

/// The replicated beat as a node sees it: timestamp text and sequence.
pub async fn read(conn: &mut Conn, server_id: u32) -> Result<Option<(String, u64)>> {
    conn.exec_first(
        format!("SELECT CAST(ts AS CHAR), seq FROM {TABLE} WHERE server_id = ?"),
        (server_id,),
    )
    .await
    .wrap_err("reading the heartbeat")
}

/// Microseconds from `ts` to this server's `UTC_TIMESTAMP(6)` (its clock only).
pub async fn age_micros(conn: &mut Conn, ts: &str) -> Result<i64> {
    let v: Option<i64> = conn
        .exec_first(
            "SELECT TIMESTAMPDIFF(MICROSECOND, ?, UTC_TIMESTAMP(6))",
            (ts,),
        )
        .await
        .wrap_err("computing the heartbeat's age")?;
    Ok(v.unwrap_or(0))
}
