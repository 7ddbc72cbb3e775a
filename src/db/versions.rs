//! OpenKM's own journal of new files: every document version is one immutable datastore
//! file named after the version's UUID, and `OKM_NODE_DOCUMENT_VERSION.NDV_CREATED` says
//! when it was made. Versions created since a watermark name exactly the files a pass
//! must copy, so the final pass (while the main is frozen) needs no tree scan.

use color_eyre::eyre::{Result, WrapErr};
use mysql_async::Conn;
use mysql_async::prelude::Queryable;

/// A point in the journal: the newest `NDV_CREATED`, as the database prints it (the
/// writer's own clock and time zone, so comparisons never mix clocks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watermark(pub Option<String>);

/// The newest version's creation time in `schema` (none in an empty repository).
pub async fn watermark(conn: &mut Conn, schema: &str) -> Result<Watermark> {
    let q = format!(
        "SELECT CAST(MAX(NDV_CREATED) AS CHAR) FROM `{}`.OKM_NODE_DOCUMENT_VERSION",
        schema.replace('`', "``")
    );
    let v: Option<Option<String>> = conn
        .query_first(q)
        .await
        .wrap_err("reading the newest document version (OKM_NODE_DOCUMENT_VERSION)")?;
    Ok(Watermark(v.flatten()))
}

/// One document version as the journal lists it: its UUID names its datastore file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub uuid: String,
    /// The file's size in bytes (`NDV_SIZE`), for a plan's totals.
    pub size: u64,
}

/// Versions created at or after `since` minus `margin_secs` (the margin covers
/// transactions that took their timestamp before the watermark but committed after it).
pub async fn versions_since(
    conn: &mut Conn,
    schema: &str,
    since: &Watermark,
    margin_secs: u64,
) -> Result<Vec<Version>> {
    let table = format!("`{}`.OKM_NODE_DOCUMENT_VERSION", schema.replace('`', "``"));
    let rows: Vec<(String, i64)> = match &since.0 {
        Some(w) => {
            conn.exec(
                format!(
                    "SELECT NDV_UUID, NDV_SIZE FROM {table} \
                     WHERE NDV_CREATED >= CAST(? AS DATETIME(6)) - INTERVAL ? SECOND"
                ),
                (w, margin_secs),
            )
            .await
        }
        None => {
            conn.query(format!("SELECT NDV_UUID, NDV_SIZE FROM {table}"))
                .await
        }
    }
    .wrap_err("listing new document versions (OKM_NODE_DOCUMENT_VERSION)")?;
    Ok(rows
        .into_iter()
        .map(|(uuid, size)| Version {
            uuid,
            size: size.max(0) as u64,
        })
        .collect())
}

/// A version's file under the datastore: `ab/cd/ef/01/<uuid>`, four levels of two hex
/// characters of the UUID without dashes. `None` for a value that is not a UUID (never
/// turned into a path).
pub fn datastore_file(version_uuid: &str) -> Option<String> {
    let hex: String = version_uuid.chars().filter(|c| *c != '-').collect();
    let valid = hex.len() == 32
        && hex.chars().all(|c| c.is_ascii_hexdigit())
        && version_uuid
            .chars()
            .all(|c| c.is_ascii_hexdigit() || c == '-');
    if !valid {
        return None;
    }
    Some(format!(
        "{}/{}/{}/{}/{}",
        &hex[0..2],
        &hex[2..4],
        &hex[4..6],
        &hex[6..8],
        version_uuid
    ))
}

/// The datastore's path relative to the Tomcat home (the rsync root), when it lies
/// inside it; journal-driven passes need that.
pub fn datastore_prefix(home: &std::path::Path, datastore: &std::path::Path) -> Option<String> {
    let rel = datastore.strip_prefix(home).ok()?;
    let s = rel.to_str()?.trim_matches('/').to_string();
    (!s.is_empty() && !s.split('/').any(|p| p == "..")).then_some(s)
}

/// `datastore 1a3ea0ac…`: where a named document's file is, in a few characters.
pub fn short_file(path: &str) -> String {
    let name = path.rsplit('/').next().unwrap_or(path);
    let head: String = name.chars().take(8).collect();
    format!("datastore {head}…")
}

/// The version UUID a datastore path names (`…/ab/cd/ef/01/<uuid>`), if it is one.
/// Checked without allocating: the diffs view's filter calls it for every entry.
pub fn version_of(path: &str) -> Option<&str> {
    let (dirs, name) = path.rsplit_once('/')?;
    let b = name.as_bytes();
    let uuid_like = b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        });
    if !uuid_like {
        return None;
    }
    let mut levels = dirs.rsplit('/');
    for k in (0..4).rev() {
        if levels.next()? != &name[k * 2..k * 2 + 2] {
            return None;
        }
    }
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn a_version_maps_to_its_four_level_datastore_path() {
        assert_eq!(
            datastore_file("3f2a9c1e-0b7d-4e55-9a61-2c8f0d4b7e10").as_deref(),
            Some("3f/2a/9c/1e/3f2a9c1e-0b7d-4e55-9a61-2c8f0d4b7e10")
        );
    }

    #[test]
    fn values_that_are_not_uuids_never_become_paths() {
        for bad in [
            "",
            "../../etc/passwd",
            "3f2a9c1e-0b7d-4e55-9a61-2c8f0d4b7e1",
            "zz2a9c1e-0b7d-4e55-9a61-2c8f0d4b7e10",
            "3f2a9c1e/0b7d-4e55-9a61-2c8f0d4b7e10x",
        ] {
            assert_eq!(datastore_file(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_datastore_prefix_is_relative_to_the_home_or_absent() {
        let home = Path::new("/opt/openkm");
        assert_eq!(
            datastore_prefix(home, Path::new("/opt/openkm/repository/datastore")).as_deref(),
            Some("repository/datastore")
        );
        assert_eq!(datastore_prefix(home, Path::new("/srv/datastore")), None);
        assert_eq!(datastore_prefix(home, Path::new("/opt/openkm")), None);
    }

    #[test]
    fn a_datastore_path_names_its_version_only_when_it_is_one() {
        let u = "3f2a9c1e-0b7d-4e55-9a61-2c8f0d4b7e10";
        assert_eq!(
            version_of(&format!("repository/datastore/3f/2a/9c/1e/{u}")),
            Some(u)
        );
        assert_eq!(
            version_of(&format!("repository/datastore/00/2a/9c/1e/{u}")),
            None
        );
        assert_eq!(version_of("conf/server.xml"), None);
    }
}
