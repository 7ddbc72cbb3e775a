//! Files behind: document versions that a node's own (replicated) database lists but
//! whose datastore file that node lacks. The database replicates continuously; files
//! reach the mirror only when shipped, so this is the second lag beside the database's,
//! and in a forced failover it is the real loss, in documents.
//!
//! Nothing here walks the datastore: the version rows since a known-complete point are
//! read from the database, and exactly their files are looked for.

use std::collections::HashMap;

use color_eyre::eyre::{Result, WrapErr};
use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use serde::{Deserialize, Serialize};

use super::Monitor;
use crate::config::NodeId;
use crate::db::versions;
use crate::node::files::absent_on;

/// Rows created this long before a known-complete point are looked at again: a
/// transaction may take its timestamp before the point and commit after it.
pub const RECHECK_SECS: u64 = 60;

/// The most rows one measure looks at when no complete point is known (a pair never
/// synced and never followed); a measure that hit it says so.
pub const ROW_CAP: usize = 200_000;

/// One document version, named for people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionRow {
    pub uuid: String,
    /// `NDV_CREATED` as the database prints it (the writer's own clock).
    pub created: String,
    pub size: u64,
    /// The document it belongs to: its OpenKM path where the schema has one, else its
    /// name.
    pub document: String,
    /// Seconds since it was created, on the reading database's clock.
    pub age_secs: f64,
}

/// A node's files behind at one moment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FilesBehind {
    /// Versions whose file is missing, oldest first.
    pub missing: Vec<VersionRow>,
    /// How many rows were looked at, from which point (`None`: from the beginning).
    pub rows_checked: usize,
    pub since: Option<String>,
    /// The row cap was hit: the count is a lower bound.
    pub truncated: bool,
}

impl FilesBehind {
    pub fn count(&self) -> usize {
        self.missing.len()
    }

    /// The age of the oldest missing version, in seconds.
    pub fn oldest_age_secs(&self) -> Option<f64> {
        self.missing.iter().map(|m| m.age_secs).reduce(f64::max)
    }

    /// "3 documents (oldest 12 s)" or "none".
    pub fn summary(&self) -> String {
        match self.oldest_age_secs() {
            None => "none".into(),
            Some(age) => format!(
                "{}{} document{} (oldest {})",
                if self.truncated { "at least " } else { "" },
                self.count(),
                if self.count() == 1 { "" } else { "s" },
                crate::format::duration_secs(age)
            ),
        }
    }
}

fn table(schema: &str) -> String {
    format!("`{}`.OKM_NODE_DOCUMENT_VERSION", schema.replace('`', "``"))
}

/// The SQL that names a version's document: the stand-in's `NDV_PATH` shortcut where
/// the schema has it, else the document node's name (`OKM_NODE_BASE.NBS_NAME`).
async fn document_expr(conn: &mut Conn, schema: &str) -> Result<&'static str> {
    let has_path: Option<u64> = conn
        .exec_first(
            "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? \
             AND TABLE_NAME = 'OKM_NODE_DOCUMENT_VERSION' AND COLUMN_NAME = 'NDV_PATH'",
            (schema,),
        )
        .await
        .wrap_err("reading the version table's columns")?;
    Ok(if has_path.unwrap_or(0) > 0 {
        "v.NDV_PATH"
    } else {
        "COALESCE(b.NBS_NAME, v.NDV_PARENT)"
    })
}

fn select(schema: &str, document: &str) -> String {
    let base = format!("`{}`.OKM_NODE_BASE", schema.replace('`', "``"));
    format!(
        "SELECT v.NDV_UUID, CAST(v.NDV_CREATED AS CHAR), v.NDV_SIZE, {document}, \
         TIMESTAMPDIFF(MICROSECOND, v.NDV_CREATED, NOW(6)) \
         FROM {} v LEFT JOIN {base} b ON b.NBS_UUID = v.NDV_PARENT",
        table(schema)
    )
}

type RawRow = (String, String, i64, Option<String>, Option<i64>);

fn to_row((uuid, created, size, document, age_us): RawRow) -> VersionRow {
    VersionRow {
        document: document.unwrap_or_else(|| "(no document)".into()),
        uuid,
        created,
        size: size.max(0) as u64,
        age_secs: age_us.unwrap_or(0).max(0) as f64 / 1e6,
    }
}

/// Versions created at or after `since` minus `margin_secs` (all of them without a
/// point, newest first up to `ROW_CAP`), oldest first, with their documents.
pub async fn rows_since(
    conn: &mut Conn,
    schema: &str,
    since: Option<&str>,
    margin_secs: u64,
) -> Result<(Vec<VersionRow>, bool)> {
    let document = document_expr(conn, schema).await?;
    let q = select(schema, document);
    let rows: Vec<RawRow> = match since {
        Some(w) => {
            conn.exec(
                format!(
                    "{q} WHERE v.NDV_CREATED >= CAST(? AS DATETIME(6)) - INTERVAL ? SECOND \
                     ORDER BY v.NDV_CREATED DESC LIMIT {ROW_CAP}"
                ),
                (w, margin_secs),
            )
            .await
        }
        None => {
            conn.query(format!("{q} ORDER BY v.NDV_CREATED DESC LIMIT {ROW_CAP}"))
                .await
        }
    }
    .wrap_err("listing document versions (OKM_NODE_DOCUMENT_VERSION)")?;
    let truncated = rows.len() >= ROW_CAP;
    let mut rows: Vec<VersionRow> = rows.into_iter().map(to_row).collect();
    rows.reverse();
    Ok((rows, truncated))
}

/// The document of each named version (one query per thousand, never one per file).
pub async fn documents_of(
    conn: &mut Conn,
    schema: &str,
    uuids: &[String],
) -> Result<HashMap<String, VersionRow>> {
    let document = document_expr(conn, schema).await?;
    let q = select(schema, document);
    let mut out = HashMap::with_capacity(uuids.len());
    for chunk in uuids.chunks(1000) {
        let marks = vec!["?"; chunk.len()].join(",");
        let rows: Vec<RawRow> = conn
            .exec(format!("{q} WHERE v.NDV_UUID IN ({marks})"), chunk.to_vec())
            .await
            .wrap_err("naming document versions (OKM_NODE_DOCUMENT_VERSION)")?;
        for r in rows.into_iter().map(to_row) {
            out.insert(r.uuid.clone(), r);
        }
    }
    Ok(out)
}

/// `node`'s files behind: its version rows since `since` (minus `RECHECK_SECS`) whose
/// files its datastore lacks.
pub async fn measure(monitor: &Monitor, node: NodeId, since: Option<&str>) -> Result<FilesBehind> {
    let cfg = &monitor.nodes[node].cfg;
    let schema = cfg.database.schema.clone();
    let (rows, truncated) = monitor
        .db(node, async |c| {
            rows_since(c, &schema, since, RECHECK_SECS).await
        })
        .await
        .wrap_err_with(|| format!("reading {}'s document versions", cfg.name))?;
    let missing = missing_files(monitor, node, rows.clone()).await?;
    Ok(FilesBehind {
        rows_checked: rows.len(),
        missing,
        since: since.map(str::to_string),
        truncated,
    })
}

/// Of `rows`, those whose datastore file `node` lacks (one remote look for all).
pub async fn missing_files(
    monitor: &Monitor,
    node: NodeId,
    rows: Vec<VersionRow>,
) -> Result<Vec<VersionRow>> {
    let link = &monitor.nodes[node];
    let ds = link.cfg.datastore_path().display().to_string();
    let ds = ds.trim_end_matches('/');
    let mut by_path: HashMap<String, VersionRow> = HashMap::with_capacity(rows.len());
    for r in rows {
        if let Some(f) = versions::datastore_file(&r.uuid) {
            by_path.insert(format!("{ds}/{f}"), r);
        }
    }
    let absent = absent_on(&link.ssh, &link.cfg, by_path.keys().cloned().collect()).await?;
    let mut missing: Vec<VersionRow> = absent.iter().filter_map(|p| by_path.remove(p)).collect();
    missing.sort_by(|a, b| a.created.cmp(&b.created).then(a.uuid.cmp(&b.uuid)));
    Ok(missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(uuid: &str, age: f64) -> VersionRow {
        VersionRow {
            uuid: uuid.into(),
            created: "2026-12-03 10:00:00.000000".into(),
            size: 10,
            document: "/okm:root/a.pdf".into(),
            age_secs: age,
        }
    }

    #[test]
    fn the_summary_counts_documents_and_the_oldest_age() {
        let mut b = FilesBehind::default();
        assert_eq!(b.summary(), "none");
        b.missing = vec![row("a", 3.0), row("b", 75.0)];
        assert_eq!(b.summary(), "2 documents (oldest 1 min)");
        b.truncated = true;
        assert!(b.summary().starts_with("at least 2"));
    }
}
