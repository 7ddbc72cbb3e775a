//! The scan plan: the whole Tomcat home compared as it is now, main -> mirror.
//!
//! Where both nodes have okmirror installed, the datastore (nearly all the files, and
//! two folders per file) is compared from the two agents' listings, made on each node
//! at once and from the manifest cache ([`crate::sync::manifest::listing`]), and only
//! the rest of the Tomcat home goes through an rsync dry run. A listing reads no folder
//! whose stamp did not move, where rsync reads every folder on both nodes and sends the
//! file lists between them. The comparison is rsync's own: a file is changed when its
//! size or modification second differs; its permissions, and its owner and group (by
//! name, where the mirror's rsync runs as root), are attribute changes.
//! Anywhere else (no agent, an agent too old, a listing that fails, an exclude that
//! reaches into the datastore) one rsync dry run walks the whole tree, as it always did.
//! A listing holds files and folders only, as a manifest does: OpenKM's datastore holds
//! nothing else.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::time::{Duration, Instant};

use color_eyre::eyre::{Result, eyre};

use super::itemize::{Change, ChangeKind, EntryType};
use super::manifest::{unescape, walk_order};
use super::plan::{INDEX_SNAPSHOT, LIVE_EXCLUDES, PARTIAL_DIR, Plan, Scope, plan, plan_scope};
use crate::config::{NodeConfig, NodeId, SyncConfig};
use crate::db::versions::datastore_prefix;
use crate::node::{NodeSsh, quote};
use crate::pair::Monitor;

/// How long a plan may take (either kind).
const PLAN_TIMEOUT: Duration = Duration::from_secs(600);

/// The pending diffs `main` -> `mirror` of the monitored pair: the dashboard's,
/// `status --diff`'s and a sync's scan plan.
pub async fn plan_pair(monitor: &Monitor, main: NodeId, mirror: NodeId) -> Result<Plan> {
    let started = Instant::now();
    let (s, d) = (&monitor.nodes[main], &monitor.nodes[mirror]);
    let sync = &monitor.cfg.sync;
    let Some(prefix) = listed_datastore(&s.cfg, &d.cfg, sync) else {
        return plan(&s.cfg, &d.cfg, sync, &s.ssh, PLAN_TIMEOUT).await;
    };
    let rest = plan_scope(
        &s.cfg,
        &d.cfg,
        sync,
        &s.ssh,
        PLAN_TIMEOUT,
        Scope::TreeWithout(&prefix),
    );
    // The listings never fail the plan (rsync walks the datastore instead), but a failed
    // dry run does, at once; and the first listing that fails (no agent on that node, an
    // error) ends the other.
    let listings = async {
        Ok(tokio::try_join!(
            listing_of(&s.ssh, &s.cfg),
            listing_of(&d.ssh, &d.cfg)
        ))
    };
    let (mut plan_, listed) = tokio::try_join!(rest, listings)?;
    // rsync keeps owners only when it runs as root on the mirror.
    let owners = d.cfg.ssh.user == "root";
    let compared = listed.and_then(|(a, b)| compare(&a, &b, &prefix, owners));
    match compared {
        Ok(changes) => {
            for c in changes {
                plan_.totals.add(&c);
                match c.entry {
                    EntryType::Dir => plan_.dirs.push(c),
                    _ => plan_.changes.push(c),
                }
            }
            plan_.took_ms = started.elapsed().as_millis();
            plan_.datastore_listed = true;
            Ok(plan_)
        }
        Err(why) => {
            tracing::info!("the datastore is planned by rsync: {why:#}");
            plan(&s.cfg, &d.cfg, sync, &s.ssh, PLAN_TIMEOUT).await
        }
    }
}

/// The datastore's path in the Tomcat home when its listings can stand in for rsync's
/// walk of it: the same on both nodes, and no exclude reaching into it (a listing knows
/// nothing of rsync's patterns).
fn listed_datastore(s: &NodeConfig, d: &NodeConfig, sync: &SyncConfig) -> Option<String> {
    let prefix = datastore_prefix(&s.openkm_home, &s.datastore_path())?;
    if datastore_prefix(&d.openkm_home, &d.datastore_path()).as_deref() != Some(&prefix) {
        return None;
    }
    let excludes = sync.excludes.iter().map(String::as_str);
    let mut all = excludes
        .chain(LIVE_EXCLUDES.iter().copied())
        .chain([INDEX_SNAPSHOT]);
    let reaches = |e: &str| {
        let e = e.trim_matches('/');
        e.contains(['*', '?', '[', '\\'])
            || e == prefix
            || prefix.starts_with(&format!("{e}/"))
            || e.starts_with(&format!("{prefix}/"))
    };
    (!all.any(reaches)).then_some(prefix)
}

/// The node's listing of its datastore; an error also when no okmirror there makes
/// listings.
async fn listing_of(ssh: &NodeSsh, cfg: &NodeConfig) -> Result<String> {
    let script = format!(
        "{locate}\nif [ -n \"$OKM_AGENT\" ] && \"$OKM_AGENT\" agent listing --help >/dev/null 2>&1; \
         then echo LISTING && exec timeout -k 10 {secs} \"$OKM_AGENT\" agent listing --root {ds} --cache {cache}; \
         else echo NOAGENT; fi",
        locate = crate::node::agent::locate_line(&cfg.agent_path.display().to_string()),
        ds = quote(&cfg.datastore_path().display().to_string()),
        cache = quote(&super::manifest::cache_dir(
            &cfg.state_dir.display().to_string()
        )),
        // The node ends it too, should this console stop waiting.
        secs = PLAN_TIMEOUT.as_secs(),
    );
    let out = ssh
        .run(&script, PLAN_TIMEOUT)
        .await
        .map_err(|e| eyre!("listing the datastore of {}: {e}", cfg.name))?;
    if !out.success() {
        return Err(eyre!(
            "listing the datastore of {}: {}",
            cfg.name,
            out.stderr.trim()
        ));
    }
    let mut text = out.stdout;
    match text.strip_prefix("LISTING\n") {
        Some(_) => {
            text.drain(.."LISTING\n".len()); // in place: a listing is big
            Ok(text)
        }
        None => Err(eyre!(
            "no okmirror on {} that makes listings (okmirror agent install)",
            cfg.name
        )),
    }
}

/// One line of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry<'a> {
    path: Cow<'a, str>,
    kind: Kind<'a>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind<'a> {
    Folder,
    File(Meta<'a>),
}

/// What a listing says of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Meta<'a> {
    size: u64,
    mtime: i64,
    perm: u32,
    /// Owner and group by name (`#id` when the node has none for it).
    owner: &'a str,
    group: &'a str,
}

impl Entry<'_> {
    /// The root's files come first in a listing, then the top-level folders' walks.
    fn order(&self, other: &Entry) -> Ordering {
        let top_file = |e: &Entry| matches!(e.kind, Kind::File(_)) && !e.path.contains('/');
        top_file(other)
            .cmp(&top_file(self))
            .then_with(|| walk_order(&self.path, &other.path))
    }
}

/// Checks a listing whole before it is compared: each line well formed, each after the
/// one before, and the `end` line last with their count (a stream cut short never
/// passes as whole). `node` names it in errors.
fn check(text: &str, node: &str) -> Result<()> {
    let (mut count, mut last): (usize, Option<Entry>) = (0, None);
    let mut lines = lines(text);
    for line in lines.by_ref() {
        if let Some(n) = line.strip_prefix("end\t") {
            if n.parse::<usize>().ok() != Some(count) {
                return Err(eyre!(
                    "{node}'s listing ends with {line:?} after {count} entries"
                ));
            }
            return match lines.next() {
                None => Ok(()),
                Some(l) => Err(eyre!("{node}'s listing goes on after its end: {l:?}")),
            };
        }
        let e =
            entry(line).ok_or_else(|| eyre!("{node}'s listing: not a listing line: {line:?}"))?;
        if last.as_ref().is_some_and(|p| p.order(&e) != Ordering::Less) {
            return Err(eyre!("{node}'s listing is out of order at {:?}", e.path));
        }
        (count, last) = (count + 1, Some(e));
    }
    Err(eyre!(
        "{node}'s listing was cut short after {count} entries"
    ))
}

/// A checked listing's entries, read from its text as they are compared (never all
/// parsed at once), rsync's partial folders left out.
fn entries(text: &str) -> impl Iterator<Item = Entry<'_>> {
    lines(text)
        .map_while(entry)
        .filter(|e| !e.path.split('/').any(|c| c == PARTIAL_DIR))
}

/// A listing's lines. They end at `\n` only: a name may end in `\r` (`str::lines` would
/// take it off, and the plan would name a file that does not exist).
fn lines(text: &str) -> std::str::Split<'_, char> {
    text.strip_suffix('\n').unwrap_or(text).split('\n')
}

/// A listing's path, its escapes undone (a copy only when it has any).
fn path(p: &str) -> Option<Cow<'_, str>> {
    match p {
        "" => None,
        p if p.contains('\\') => Some(Cow::Owned(unescape(p))),
        p => Some(Cow::Borrowed(p)),
    }
}

fn entry(line: &str) -> Option<Entry<'_>> {
    if let Some(p) = line.strip_prefix("d\t") {
        return Some(Entry {
            path: path(p)?,
            kind: Kind::Folder,
        });
    }
    let mut it = line.strip_prefix("f\t")?.splitn(6, '\t');
    let mut field = || it.next().filter(|f| !f.is_empty());
    let (size, mtime, perm) = (field()?, field()?, field()?);
    let (owner, group, p) = (field()?, field()?, field()?);
    Some(Entry {
        path: path(p)?,
        kind: Kind::File(Meta {
            size: size.parse().ok()?,
            mtime: mtime.parse().ok()?,
            perm: u32::from_str_radix(perm, 8).ok()?,
            owner,
            group,
        }),
    })
}

/// What the mirror needs to become the main's datastore: the changes a dry run of
/// `rsync -a --delete` would itemize, with paths from the Tomcat home (`prefix`). rsync's
/// partial folders are neither planned nor deleted.
fn compare(main: &str, mirror: &str, prefix: &str, owners: bool) -> Result<Vec<Change>> {
    check(main, "the main")?;
    check(mirror, "the mirror")?;
    let (mut a, mut b) = (entries(main).peekable(), entries(mirror).peekable());
    let mut out = Vec::new();
    loop {
        let side = match (a.peek(), b.peek()) {
            (None, None) => return Ok(out),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(x), Some(y)) => x.order(y),
        };
        let change = match side {
            Ordering::Less => a.next().map(|x| (ChangeKind::New, x)),
            Ordering::Greater => b.next().map(|y| (ChangeKind::Deleted, y)),
            Ordering::Equal => match (a.next(), b.next()) {
                (Some(x), Some(y)) => differs(&x, &y, owners).map(|k| (k, x)),
                _ => None,
            },
        };
        if let Some((kind, e)) = change {
            out.push(change_of(kind, &e, prefix));
        }
    }
}

/// How the mirror's entry at the same path differs from the main's, if it does. Owners
/// and groups count only where the mirror's rsync runs as root (`owners`): elsewhere
/// rsync cannot set them, nor does it report them.
fn differs(main: &Entry, mirror: &Entry, owners: bool) -> Option<ChangeKind> {
    match (main.kind, mirror.kind) {
        (Kind::Folder, Kind::Folder) => None, // a folder's own times are noise, as for rsync
        (Kind::Folder, _) => Some(ChangeKind::New),
        (Kind::File(_), Kind::Folder) => Some(ChangeKind::Changed),
        (Kind::File(m), Kind::File(t)) => {
            if (m.size, m.mtime) != (t.size, t.mtime) {
                Some(ChangeKind::Changed)
            } else {
                let owned = owners && (m.owner, m.group) != (t.owner, t.group);
                (m.perm != t.perm || owned).then_some(ChangeKind::Attributes)
            }
        }
    }
}

fn change_of(kind: ChangeKind, e: &Entry, prefix: &str) -> Change {
    match e.kind {
        Kind::Folder => Change {
            kind,
            entry: EntryType::Dir,
            path: format!("{prefix}/{}/", e.path),
            size: 0,
        },
        Kind::File(Meta { size, .. }) => Change {
            kind,
            entry: EntryType::File,
            path: format!("{prefix}/{}", e.path),
            size: if kind == ChangeKind::Deleted { 0 } else { size },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;
    use std::collections::BTreeSet;
    use std::fs;
    use std::path::Path;

    const DS: &str = "repository/datastore";

    fn change(kind: ChangeKind, entry: EntryType, path: &str, size: u64) -> Change {
        Change {
            kind,
            entry,
            path: format!("{DS}/{path}"),
            size,
        }
    }

    #[test]
    fn two_listings_give_the_changes_rsync_would_itemize() {
        let main = "f\t3\t100\t644\troot\troot\ttop\nd\tab\nd\tab/cd\nf\t5\t100\t600\troot\troot\tab/cd/perm\n\
                    f\t5\t100\t644\troot\troot\tab/cd/same\nf\t6\t100\t644\troot\troot\tab/cd/size\n\
                    f\t5\t101\t644\troot\troot\tab/cd/time\nd\tab/new\nf\t1\t100\t644\troot\troot\tab/new/n\\tx\n\
                    end\t9\n";
        let mirror = "d\tab\nd\tab/cd\nd\tab/cd/.okmirror-partial\n\
                      f\t2\t100\t644\troot\troot\tab/cd/.okmirror-partial/time\nf\t5\t100\t644\troot\troot\tab/cd/gone\n\
                      f\t5\t100\t644\troot\troot\tab/cd/perm\nf\t5\t100\t644\troot\troot\tab/cd/same\n\
                      f\t5\t100\t644\troot\troot\tab/cd/size\nf\t5\t100\t644\troot\troot\tab/cd/time\n\
                      d\tzz\nf\t1\t1\t644\troot\troot\tzz/old\nend\t11\n";
        use ChangeKind::*;
        use EntryType::{Dir, File};
        assert_eq!(
            compare(main, mirror, DS, true).unwrap(),
            vec![
                change(New, File, "top", 3),
                change(Deleted, File, "ab/cd/gone", 0),
                change(Attributes, File, "ab/cd/perm", 5),
                change(Changed, File, "ab/cd/size", 6),
                change(Changed, File, "ab/cd/time", 5),
                change(New, Dir, "ab/new/", 0),
                change(New, File, "ab/new/n\tx", 1),
                change(Deleted, Dir, "zz/", 0),
                change(Deleted, File, "zz/old", 0),
            ]
        );
        assert!(compare(main, main, DS, true).unwrap().is_empty());
    }

    #[test]
    fn owners_and_groups_count_only_where_the_mirrors_rsync_runs_as_root() {
        let main = "f\t5\t100\t644\ttomcat\ttomcat\tx\nend\t1\n";
        let mirror = "f\t5\t100\t644\t#1234\ttomcat\tx\nend\t1\n";
        let attributes = vec![change(ChangeKind::Attributes, EntryType::File, "x", 5)];
        assert_eq!(compare(main, mirror, DS, true).unwrap(), attributes);
        assert!(compare(main, mirror, DS, false).unwrap().is_empty());
        let regrouped = "f\t5\t100\t644\ttomcat\troot\tx\nend\t1\n";
        assert_eq!(compare(main, regrouped, DS, true).unwrap(), attributes);
    }

    #[test]
    fn a_listing_cut_short_out_of_order_or_garbled_is_never_compared() {
        let ok = "d\tab\nf\t1\t1\t644\troot\troot\tab/x\nend\t2\n";
        assert!(compare(ok, ok, DS, true).is_ok());
        for (bad, says) in [
            (
                "d\tab\nf\t1\t1\t644\troot\troot\tab/x\n",
                "cut short after 2",
            ),
            (
                "d\tab\nf\t1\t1\t644\troot\troot\tab/x\nend\t3\n",
                "ends with",
            ),
            ("d\tab\nend\t1\nd\tzz\n", "goes on after its end"),
            (
                "f\t1\t1\t644\troot\troot\tab/x\nd\tab\nend\t2\n",
                "out of order",
            ),
            ("d\tab\nd\tab\nend\t2\n", "out of order"),
            (
                "d\tab\nf\tone\t1\t644\troot\troot\tab/x\nend\t2\n",
                "not a listing line",
            ),
            (
                "d\tab\nf\t1\t1\t9\troot\troot\tab/x\nend\t2\n",
                "not a listing line",
            ),
            (
                "d\tab\nf\t1\t1\t644\t\troot\tab/x\nend\t2\n",
                "not a listing line",
            ),
            ("AGENT\nend\t0\n", "not a listing line"),
        ] {
            let err = format!("{:#}", compare(ok, bad, DS, true).unwrap_err());
            assert!(
                err.contains("the mirror's listing") && err.contains(says),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn only_a_datastore_no_exclude_reaches_into_is_listed() {
        let cfg = config::parse_str(config::EXAMPLE, Path::new("x.toml")).unwrap();
        let (a, b) = (&cfg.nodes[0], &cfg.nodes[1]);
        let with = |excludes: &[&str]| {
            let mut sync = cfg.sync.clone();
            sync.excludes = excludes.iter().map(|e| e.to_string()).collect();
            listed_datastore(a, b, &sync)
        };
        assert_eq!(listed_datastore(a, b, &cfg.sync).as_deref(), Some(DS));
        assert_eq!(
            with(&["/logs", "repository/datastore-old"]).as_deref(),
            Some(DS)
        );
        for reaching in [
            "repository/datastore/ab",
            "/repository/",
            "repository/datastore",
            "*.tmp",
            "tmp?",
        ] {
            assert_eq!(with(&[reaching]), None, "{reaching}");
        }
        let mut elsewhere = b.clone();
        elsewhere.datastore = Some("/srv/okm-data".into());
        assert_eq!(listed_datastore(a, &elsewhere, &cfg.sync), None);
    }

    /// The agent's listings of two real trees, compared, name exactly the files and
    /// folders that rsync's own dry run itemizes between them.
    #[test]
    fn the_listings_plan_is_rsyncs_plan() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        let file = |root: &Path, rel: &str, body: &str| {
            let p = root.join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, body).unwrap();
        };
        for (rel, body) in [
            ("ab/cd/ef/01/same", "s"),
            ("ab/cd/ef/01/grown", "g"),
            ("ab/cd/x", "x"),
        ] {
            file(&a, rel, body);
        }
        let status = std::process::Command::new("rsync")
            .args([
                "-a",
                &format!("{}/", a.display()),
                &format!("{}/", b.display()),
            ])
            .status()
            .expect("rsync runs (the lab's install puts it on this machine)");
        assert!(status.success());
        file(&a, "ab/cd/ef/01/grown", "grown");
        file(&a, "ab/cd/ef/02/new", "n");
        file(&a, "top", "t");
        file(&a, "ab/cd/doc\r", "a name ending in a carriage return");
        file(&b, "ab/cd/extra", "e");
        file(&b, "zz/yy/old", "o");
        fs::remove_file(a.join("ab/cd/x")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(
            a.join("ab/cd/ef/01/same"),
            fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        let listed = |root: &Path| {
            let mut out = Vec::new();
            crate::sync::manifest::listing(root, None, &mut out).unwrap();
            String::from_utf8(out).unwrap()
        };
        let ours: BTreeSet<_> = compare(&listed(&a), &listed(&b), DS, true)
            .unwrap()
            .into_iter()
            .map(|c| (c.kind, c.path))
            .collect();
        let dry = std::process::Command::new("rsync")
            .env("LC_ALL", "C")
            .args([
                "-a",
                "--delete",
                "--dry-run",
                "--itemize-changes",
                "--out-format=%i %l %n",
            ])
            .args([format!("{}/", a.display()), format!("{}/", b.display())])
            .output()
            .unwrap();
        let theirs: BTreeSet<_> = String::from_utf8(dry.stdout)
            .unwrap()
            .lines()
            .filter_map(|l| crate::sync::itemize::parse_line(l).unwrap())
            .map(|c| (c.kind, format!("{DS}/{}", c.path)))
            .collect();
        assert_eq!(ours, theirs);
        assert_eq!(ours.len(), 11, "{ours:?}");
    }
}
