//! Documents across a failover: before promotion, the files the new main's rows name and
//! it lacks are shipped from the old main if its disk can still be read; afterwards the
//! documents still without content are listed by name, in the journal and in a file.
//! That list is the failover's real loss, in documents.

use std::path::{Path, PathBuf};
use std::time::Duration;

use color_eyre::eyre::{Result, WrapErr};

use crate::config::NodeId;
use crate::db::versions;
use crate::format;
use crate::pair::Monitor;
use crate::pair::behind::{self, FilesBehind, VersionRow};
use crate::sync::copy::Copier;
use crate::sync::progress::Tracker;

/// How many missing documents a step's output names (the file has them all).
const NAMED: usize = 200;

/// The point from which `node`'s rows are looked at: the later of its last verified
/// sync's journal point and follow's complete point, read from its state folder.
pub async fn complete_point(m: &Monitor, node: NodeId) -> Option<String> {
    let link = &m.nodes[node];
    let dir = crate::node::quote(&link.cfg.state_dir.display().to_string());
    let out = link
        .ssh
        .run(
            &format!(
                "cat {dir}/last-sync.json 2>/dev/null; echo; cat {dir}/{} 2>/dev/null; echo",
                crate::sync::follow::RECORD_FILE
            ),
            Duration::from_secs(10),
        )
        .await
        .ok()?;
    let mut points = Vec::new();
    for line in out.stdout.lines().filter(|l| !l.trim().is_empty()) {
        if let Ok(s) = serde_json::from_str::<crate::pair::model::LastSync>(line) {
            points.extend(s.journal_point.filter(|_| s.verified));
        } else if let Ok(f) = serde_json::from_str::<crate::pair::model::FollowRecord>(line) {
            points.extend(f.complete_through);
        }
    }
    points.into_iter().max()
}

/// `node`'s files behind, looked at from its complete point.
pub async fn behind_on(m: &Monitor, node: NodeId) -> Result<FilesBehind> {
    let since = complete_point(m, node).await;
    behind::measure(m, node, since.as_deref()).await
}

/// Before promotion: ships from `old` what `new`'s rows name and `new` lacks, when
/// `old` still answers SSH. Never fails the failover for a copy that cannot be made:
/// the output says what was copied and what is still missing.
pub async fn ship_before_promotion(
    m: &Monitor,
    old: NodeId,
    new: NodeId,
    old_answered: Option<bool>,
) -> Result<String> {
    let (on, nn) = (&m.nodes[old].cfg.name, &m.nodes[new].cfg.name);
    // Never a reason to stop a failover: a look that fails is reported, not raised.
    let before = match behind_on(m, new).await {
        Ok(b) => b,
        Err(e) => {
            return Ok(format!(
                "documents without content on {nn}: unknown ({e:#}); nothing was copied"
            ));
        }
    };
    if before.count() == 0 {
        return Ok(format!("every document {nn} lists has its content there"));
    }
    if old_answered == Some(false) {
        return Ok(format!(
            "{} without content on {nn}; {on} did not answer SSH at the assessment, so \
             nothing could be copied (the loss report lists them)",
            before.summary()
        ));
    }
    let copied = ship(m, old, new, &before.missing).await;
    let after = match behind_on(m, new).await {
        Ok(a) => a,
        Err(e) => {
            return Ok(format!(
                "copy from {on}: {}; what is still missing is unknown ({e:#})",
                if copied.is_ok() { "done" } else { "failed" }
            ));
        }
    };
    let moved = before.count().saturating_sub(after.count());
    Ok(match copied {
        Ok(()) => format!(
            "copied {moved} of {} document{} from {on}'s datastore; still without content: {}",
            before.count(),
            if before.count() == 1 { "" } else { "s" },
            after.summary()
        ),
        Err(e) => format!(
            "copy from {on} failed ({e:#}); copied {moved}; still without content: {}",
            after.summary()
        ),
    })
}

/// Ships `rows`' files from `src` to `dst` (a pull on `dst`, never deleting, never
/// replacing), bounded by `old`'s SSH answering first.
pub async fn ship(m: &Monitor, src: NodeId, dst: NodeId, rows: &[VersionRow]) -> Result<()> {
    let link = &m.nodes[src];
    let limit = Duration::from_secs(link.cfg.ssh.connect_timeout_secs + 5);
    link.ssh
        .run("true", limit)
        .await
        .wrap_err_with(|| format!("{} does not answer SSH", link.cfg.name))?;
    let paths: Vec<String> = rows
        .iter()
        .filter_map(|r| versions::datastore_file(&r.uuid))
        .collect();
    let copier = Copier {
        monitor: m,
        src,
        dst,
        lock_dir: String::new(),
        allow_deletes: None,
        cancel: None,
        events: crate::sync::copy::unwatched(),
    };
    copier
        .ship("salvage", &paths, None, &mut Tracker::default())
        .await
}

/// After promotion: the documents still without content on `new`, named in the output
/// and all written to `<journal>.missing.tsv`.
pub async fn missing_report(m: &Monitor, new: NodeId, journal: Option<&Path>) -> String {
    let nn = &m.nodes[new].cfg.name;
    let b = match behind_on(m, new).await {
        Ok(b) => b,
        Err(e) => return format!("documents without content on {nn}: unknown ({e:#})"),
    };
    if b.count() == 0 {
        return format!("documents: every document {nn} lists has its content");
    }
    let file = journal.map(missing_file);
    let saved = match &file {
        Some(f) => match std::fs::write(f, tsv(&b.missing)) {
            Ok(()) => format!(" (all listed in {})", f.display()),
            Err(e) => format!(" (the list could not be saved to {}: {e})", f.display()),
        },
        None => String::new(),
    };
    let mut out = format!("documents without content on {nn}: {}{saved}:", b.summary());
    for r in b.missing.iter().take(NAMED) {
        out.push_str(&format!(
            "\n  {}  {}  {}  {}",
            r.document,
            format::bytes(r.size),
            r.created,
            r.uuid
        ));
    }
    if b.count() > NAMED {
        out.push_str(&format!("\n  … and {} more", b.count() - NAMED));
    }
    out
}

/// What a rejoin's salvage found on the former main, before anything was moved.
#[derive(Debug, Default)]
pub struct SalvagePlan {
    /// Files the main's rows reference and the main lacks: copied to the main.
    pub to_main: Vec<VersionRow>,
    /// Datastore files no row of the main references: moved to quarantine.
    pub orphans: Vec<String>,
}

/// Finds, before a rejoin's sync deletes anything on the former main `old`, the files
/// there that the main `new` lacks (a scan from the main), split into those the main's
/// rows reference and orphans.
pub async fn salvage_plan(m: &Monitor, old: NodeId, new: NodeId) -> Result<SalvagePlan> {
    // The main's datastore is checked first, as every copy's source is: against an
    // empty or wrong mount every file of the former main would look salvageable.
    let copier = Copier {
        monitor: m,
        src: new,
        dst: old,
        lock_dir: String::new(),
        allow_deletes: None,
        cancel: None,
        events: crate::sync::copy::unwatched(),
    };
    copier.source_check().await?;
    let plan = copier.scan_plan().await?;
    let cfg = &m.nodes[old].cfg;
    let Some(prefix) = versions::datastore_prefix(&cfg.openkm_home, &cfg.datastore_path()) else {
        return Ok(SalvagePlan::default());
    };
    let gone: Vec<(String, String)> = plan
        .changes
        .iter()
        .filter(|c| c.kind == crate::sync::ChangeKind::Deleted)
        .filter_map(|c| {
            let rel = c.path.strip_prefix(&format!("{prefix}/"))?;
            Some((c.path.clone(), versions::version_of(rel)?.to_string()))
        })
        .collect();
    let uuids: Vec<String> = gone.iter().map(|(_, u)| u.clone()).collect();
    let schema = m.nodes[new].cfg.database.schema.clone();
    let known = m
        .db(new, async |c| {
            behind::documents_of(c, &schema, &uuids).await
        })
        .await
        .wrap_err("looking up the former main's extra files in the main's version rows")?;
    let mut out = SalvagePlan::default();
    for (path, uuid) in gone {
        match known.get(&uuid) {
            Some(row) => out.to_main.push(row.clone()),
            None => out.orphans.push(path),
        }
    }
    Ok(out)
}

/// A rejoin's salvage: what the main lacks goes to the main first (immutable files, so
/// that is safe), then orphans are moved into a quarantine folder on the former main
/// with a manifest. Nothing is deleted; only then may the rejoin's sync run.
pub async fn salvage_on_rejoin(m: &Monitor, old: NodeId, new: NodeId) -> Result<String> {
    let (on, nn) = (&m.nodes[old].cfg.name, &m.nodes[new].cfg.name);
    let plan = salvage_plan(m, old, new).await?;
    let mut parts = Vec::new();
    if !plan.to_main.is_empty() {
        ship(m, old, new, &plan.to_main)
            .await
            .wrap_err_with(|| format!("copying {on}'s files that {nn} lacks to {nn}"))?;
        let names: Vec<&str> = plan
            .to_main
            .iter()
            .take(20)
            .map(|r| r.document.as_str())
            .collect();
        parts.push(format!(
            "{} document{} made whole on {nn} from {on}'s datastore: {}{}",
            plan.to_main.len(),
            if plan.to_main.len() == 1 { "" } else { "s" },
            names.join(", "),
            if plan.to_main.len() > 20 { ", …" } else { "" }
        ));
    }
    if !plan.orphans.is_empty() {
        parts.push(quarantine(m, old, &plan.orphans).await?);
    }
    if parts.is_empty() {
        parts.push(format!("{on} holds no datastore file that {nn} lacks"));
    }
    Ok(parts.join("; "))
}

/// Moves `paths` (relative to the Tomcat home) on `node` into a new quarantine folder
/// under its state folder, with `MANIFEST.tsv` (version, size, SHA-256, path, and the
/// document where the node's own rows still name it).
async fn quarantine(m: &Monitor, node: NodeId, paths: &[String]) -> Result<String> {
    let link = &m.nodes[node];
    let q = crate::node::quote;
    let dir = format!(
        "{}/quarantine/{}",
        link.cfg.state_dir.display(),
        jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ")
    );
    let mut body = Vec::new();
    for p in paths {
        body.extend_from_slice(p.as_bytes());
        body.push(0);
    }
    let script = format!(
        "export Q={qd}; mkdir -p \"$Q\" && cd {home} && xargs -0r sh -c 'for p; do \
           [ -f \"$p\" ] || continue; s=$(sha256sum \"$p\" | cut -d\" \" -f1) || exit 1; \
           z=$(stat -c %s \"$p\"); mkdir -p \"$Q/$(dirname \"$p\")\" && \
           mv -n \"$p\" \"$Q/$p\" && printf \"%s\\t%s\\t%s\\n\" \"$s\" \"$z\" \"$p\"; done' okmirror-quarantine",
        qd = q(&dir),
        home = q(&link.cfg.openkm_home.display().to_string())
    );
    let out = link
        .ssh
        .run_with_stdin(&script, Some(&body), Duration::from_secs(600))
        .await?;
    let moved: Vec<(String, u64, String)> = out
        .stdout
        .lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, '\t');
            Some((f.next()?.into(), f.next()?.parse().ok()?, f.next()?.into()))
        })
        .collect();
    let manifest = manifest(m, node, &moved).await;
    let written = link
        .ssh
        .run_with_stdin(
            &format!("cat > {}", q(&format!("{dir}/MANIFEST.tsv"))),
            Some(manifest.as_bytes()),
            Duration::from_secs(30),
        )
        .await;
    if !out.success() {
        return Err(color_eyre::eyre::eyre!(
            "moving {}'s orphan files into {dir}: {} (moved {} of {})",
            link.cfg.name,
            out.stderr.trim(),
            moved.len(),
            paths.len()
        ));
    }
    let manifest_note = match written {
        Ok(o) if o.success() => format!("{dir}/MANIFEST.tsv"),
        _ => "no manifest (it could not be written)".into(),
    };
    Ok(format!(
        "{} file{} no row of the main references moved to quarantine on {}: {dir} (manifest \
         {manifest_note}); nothing was deleted. To restore one, move it back to the same \
         path under {}",
        moved.len(),
        if moved.len() == 1 { "" } else { "s" },
        link.cfg.name,
        link.cfg.openkm_home.display()
    ))
}

/// The quarantine manifest: `version  size  sha256  path  document  created` lines; the
/// document and time come from the node's own rows (they name errant versions until a
/// reseed replaces its database).
async fn manifest(m: &Monitor, node: NodeId, moved: &[(String, u64, String)]) -> String {
    let uuids: Vec<String> = moved
        .iter()
        .filter_map(|(_, _, p)| versions::version_of(p).map(str::to_string))
        .collect();
    let schema = m.nodes[node].cfg.database.schema.clone();
    let named = m
        .db(node, async |c| {
            behind::documents_of(c, &schema, &uuids).await
        })
        .await
        .unwrap_or_default();
    let mut s = String::from("version\tsize\tsha256\tpath\tdocument\tcreated\n");
    for (sha, size, path) in moved {
        let v = versions::version_of(path).unwrap_or("");
        let (doc, created) = named
            .get(v)
            .map(|r| (r.document.replace(['\t', '\n'], " "), r.created.clone()))
            .unwrap_or_else(|| ("(unknown)".into(), String::new()));
        s.push_str(&format!("{v}\t{size}\t{sha}\t{path}\t{doc}\t{created}\n"));
    }
    s
}

/// What a flow puts at stake for documents, for its review screen: a failover's loss
/// if it promoted now, a rejoin's salvage. `None` for a switchover (it loses nothing).
pub async fn stakes(
    m: &Monitor,
    kind: super::FlowKind,
    old: NodeId,
    new: NodeId,
) -> Option<String> {
    use super::FlowKind;
    let (on, nn) = (&m.nodes[old].cfg.name, &m.nodes[new].cfg.name);
    Some(match kind {
        FlowKind::Switchover => return None,
        FlowKind::Failover => match behind_on(m, new).await {
            Ok(b) => match b.missing.first() {
                None => format!("every document {nn} lists has its content"),
                Some(oldest) => format!(
                    "promoting now loses the content of {}{} documents, the oldest from {} ({} \
                     ago), unless {on}'s datastore can still be read",
                    if b.truncated { "at least " } else { "" },
                    b.count(),
                    oldest.created,
                    format::duration_secs(oldest.age_secs)
                ),
            },
            Err(e) => format!("documents without content on {nn}: unknown ({e:#})"),
        },
        FlowKind::Rejoin | FlowKind::Reseed => match salvage_plan(m, old, new).await {
            Ok(p) if p.to_main.is_empty() && p.orphans.is_empty() => {
                format!("{on} holds no datastore file that {nn} lacks: nothing to salvage")
            }
            Ok(p) => format!(
                "before any deletion: {} document(s) copied from {on} to {nn}; {} orphan \
                 file(s) moved to quarantine on {on}; nothing deleted",
                p.to_main.len(),
                p.orphans.len()
            ),
            Err(e) => format!("salvage unknown: {e:#}"),
        },
    })
}

/// Where a flow's list of documents without content goes: beside its journal.
pub fn missing_file(journal: &Path) -> PathBuf {
    let mut p = journal.as_os_str().to_owned();
    p.push(".missing.tsv");
    PathBuf::from(p)
}

/// `document<TAB>version<TAB>created<TAB>size` lines, with a header.
pub fn tsv(rows: &[VersionRow]) -> String {
    let mut s = String::from("document\tversion\tcreated\tsize\n");
    for r in rows {
        let clean = r.document.replace(['\t', '\n'], " ");
        s.push_str(&format!("{clean}\t{}\t{}\t{}\n", r.uuid, r.created, r.size));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_missing_list_is_one_line_per_document_with_tabs_kept_out() {
        let rows = vec![VersionRow {
            uuid: "u1".into(),
            created: "2026-12-03 10:00:00.000000".into(),
            size: 12,
            document: "/okm:root/a\tb.pdf".into(),
            age_secs: 1.0,
        }];
        assert_eq!(
            tsv(&rows),
            "document\tversion\tcreated\tsize\n/okm:root/a b.pdf\tu1\t2026-12-03 10:00:00.000000\t12\n"
        );
        assert_eq!(
            missing_file(Path::new("/d/flows/1-failover.jsonl")),
            PathBuf::from("/d/flows/1-failover.jsonl.missing.tsv")
        );
    }
}
