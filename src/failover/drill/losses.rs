//! The RPO: the acknowledged documents missing on the final main at the end of a drill,
//! in its database (`OKM_NODE_DOCUMENT_VERSION`) or in its datastore.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use color_eyre::eyre::{Result, WrapErr, eyre};
use mysql_async::prelude::Queryable;

use super::Lost;
use crate::config::NodeId;
use crate::pair::Monitor;
use crate::pair::roles::PairRoles;

/// How long the final mirror may take to apply the final main's position.
const CATCH_UP_WITHIN: Duration = Duration::from_secs(60);

/// What the count found on the final main.
pub(super) struct Count {
    pub(super) main: String,
    pub(super) catch_up: Option<String>,
    pub(super) lost: Vec<Lost>,
}

/// Finds the final main (the writable node), lets its mirror catch up, and lists the
/// acknowledged documents missing there: no row in `OKM_NODE_DOCUMENT_VERSION`, or a
/// row whose datastore file is not on the node.
pub(super) async fn count_losses(
    monitor: &Monitor,
    acked: &[String],
    folder: &str,
) -> Result<Count> {
    let (main, mirror) = final_roles(monitor).await?;
    let catch_up = match mirror {
        Some(m) => Some(catch_up(monitor, main, m).await),
        None => None,
    };
    let rows = drill_versions(monitor, main, folder).await?;
    let (mut lost, files) = check_rows(acked, &rows);
    let rels: Vec<String> = files.iter().map(|(_, f)| f.clone()).collect();
    let missing: HashSet<String> = missing_files(monitor, main, &rels)
        .await?
        .into_iter()
        .collect();
    add_missing_files(&mut lost, files, &missing);
    Ok(Count {
        main: monitor.nodes[main].cfg.name.clone(),
        catch_up,
        lost,
    })
}

/// The final main and, when the roles are normal, its mirror; an error unless exactly
/// one node is writable.
async fn final_roles(monitor: &Monitor) -> Result<(NodeId, Option<NodeId>)> {
    let status = monitor.probe_pair(None).await;
    if let PairRoles::Normal { main, mirror } = status.roles {
        return Ok((main, Some(mirror)));
    }
    let writable: Vec<NodeId> = NodeId::BOTH
        .into_iter()
        .filter(|i| status.nodes.get(i.index()).and_then(|n| n.writable()) == Some(true))
        .collect();
    match writable[..] {
        [one] => Ok((one, None)),
        _ => Err(eyre!(
            "no single writable main after the drill (the pair is {:?}): check it with `okmirror status`",
            status.roles
        )),
    }
}

/// Waits for `mirror` to apply `main`'s position; the line for the report either way.
async fn catch_up(monitor: &Monitor, main: NodeId, mirror: NodeId) -> String {
    let (main_name, mirror_name) = (
        &monitor.nodes[main].cfg.name,
        &monitor.nodes[mirror].cfg.name,
    );
    match monitor
        .wait_mirror_caught_up(main, mirror, CATCH_UP_WITHIN)
        .await
    {
        Ok(pos) => format!("{mirror_name} applied {main_name}'s position {pos}"),
        Err(e) => format!("{mirror_name} did not catch up: {e:#}"),
    }
}

/// Every version row under the drill's folder on `main`: (document path, version UUID).
async fn drill_versions(
    monitor: &Monitor,
    main: NodeId,
    folder: &str,
) -> Result<Vec<(String, String)>> {
    let n = &monitor.nodes[main].cfg;
    let schema = n.database.schema.replace('`', "``");
    let pattern = format!("{}/%", like_escape(folder));
    monitor
        .db(main, async |c| {
            Ok(c.exec(
                format!(
                    "SELECT NDV_PATH, NDV_UUID FROM `{schema}`.OKM_NODE_DOCUMENT_VERSION \
                     WHERE NDV_PATH LIKE ?"
                ),
                (pattern,),
            )
            .await?)
        })
        .await
        .wrap_err_with(|| format!("reading the drill's documents on {}", n.name))
}

/// Of the acknowledged documents, those without a row (or with a version that has no
/// datastore file name) as losses, and each other one's datastore files, relative to
/// the datastore, to look for on the node. Pure, for the unit tests.
fn check_rows(acked: &[String], rows: &[(String, String)]) -> (Vec<Lost>, Vec<(String, String)>) {
    let mut versions: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (p, u) in rows {
        versions.entry(p.as_str()).or_default().push(u.as_str());
    }
    let mut lost = Vec::new();
    let mut files: Vec<(String, String)> = Vec::new();
    for path in acked {
        let Some(uuids) = versions.get(path.as_str()) else {
            lost.push(Lost {
                path: path.clone(),
                why: "not in the database".into(),
            });
            continue;
        };
        for u in uuids {
            match crate::db::versions::datastore_file(u) {
                Some(f) => files.push((path.clone(), f)),
                None => lost.push(Lost {
                    path: path.clone(),
                    why: format!("version {u:?} is not a UUID: no datastore file"),
                }),
            }
        }
    }
    (lost, files)
}

/// Adds the documents whose datastore file is `missing` to `lost` (once per document).
fn add_missing_files(
    lost: &mut Vec<Lost>,
    files: Vec<(String, String)>,
    missing: &HashSet<String>,
) {
    for (path, f) in files {
        if missing.contains(&f) && !lost.iter().any(|l| l.path == path) {
            lost.push(Lost {
                path,
                why: format!("datastore file missing: {f}"),
            });
        }
    }
}

/// `s` as a literal inside a LIKE pattern (backslash is MariaDB's and MySQL's escape).
fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Of `rels` (files relative to the datastore), those that are not regular files on
/// `node`: one SSH command, the paths on its stdin.
async fn missing_files(monitor: &Monitor, node: NodeId, rels: &[String]) -> Result<Vec<String>> {
    if rels.is_empty() {
        return Ok(Vec::new());
    }
    let link = &monitor.nodes[node];
    let ds = crate::node::quote(&link.cfg.datastore_path().display().to_string());
    let script = format!(
        "cd -- {ds} && while IFS= read -r p; do [ -f \"$p\" ] || printf '%s\\n' \"$p\"; done"
    );
    let mut stdin = rels.join("\n");
    stdin.push('\n');
    let out = link
        .ssh
        .run_with_stdin(&script, Some(stdin.as_bytes()), Duration::from_secs(120))
        .await
        .wrap_err_with(|| format!("checking the drill's files on {}", link.cfg.name))?;
    if !out.success() {
        return Err(eyre!(
            "checking the drill's files on {}: {}",
            link.cfg.name,
            out.stderr.trim()
        ));
    }
    Ok(out
        .stdout
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_take_the_folder_literally() {
        assert_eq!(
            like_escape("/okm:root/a_b%c\\d"),
            "/okm:root/a\\_b\\%c\\\\d"
        );
    }

    #[test]
    fn documents_without_a_row_or_a_file_are_lost_once() {
        let uuid = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0";
        let other = "1b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0";
        let acked: Vec<String> = ["/f/0.txt", "/f/1.txt", "/f/2.txt", "/f/3.txt"]
            .map(String::from)
            .to_vec();
        let rows = vec![
            ("/f/0.txt".to_string(), uuid.to_string()),
            ("/f/2.txt".to_string(), "not-a-uuid".to_string()),
            ("/f/3.txt".to_string(), other.to_string()),
            ("/f/3.txt".to_string(), uuid.to_string()),
            ("/f/unacked.txt".to_string(), other.to_string()),
        ];
        let (mut lost, files) = check_rows(&acked, &rows);
        let why: Vec<(&str, &str)> = lost
            .iter()
            .map(|l| (l.path.as_str(), l.why.as_str()))
            .collect();
        assert_eq!(
            why,
            [
                ("/f/1.txt", "not in the database"),
                (
                    "/f/2.txt",
                    "version \"not-a-uuid\" is not a UUID: no datastore file"
                )
            ]
        );
        let paths: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["/f/0.txt", "/f/3.txt", "/f/3.txt"]);
        let file = |u: &str| crate::db::versions::datastore_file(u).unwrap_or_default();
        assert_eq!(files[0].1, file(uuid));
        // Both of 3's files are missing: it is lost once, for the first.
        let missing: HashSet<String> = [file(uuid), file(other)].into_iter().collect();
        add_missing_files(&mut lost, files, &missing);
        assert_eq!(lost.len(), 4);
        assert_eq!(lost[2].path, "/f/0.txt");
        assert_eq!(lost[3].path, "/f/3.txt");
        assert_eq!(
            lost[3].why,
            format!("datastore file missing: {}", file(other))
        );
    }
}
