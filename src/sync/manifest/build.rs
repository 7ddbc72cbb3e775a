//! `okmirror agent manifest`: the SHA-256 manifest of a datastore, built on the node.
//!
//! Every folder and every file is looked at (`stat`) on every build, so a missing,
//! extra or rewritten file is always seen. With a cache, a folder is read again only
//! when its stamp moved, and a file hashed again only when its stamp or size moved:
//! OpenKM's datastore has about two folders per file, so listing them is most of a walk.
//! Top-level folders are shared out to a few threads, each with its own cache shard.
//!
//! The same walk gives a listing ([`listing`]): every folder and file with its size,
//! time and permissions, no hashing and no cache written. A scan plan compares the two
//! nodes' listings instead of walking both datastores through rsync.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use color_eyre::eyre::{Result, WrapErr, eyre};
use sha2::{Digest, Sha256};

use super::cache::{Child, OldShard, Row, Store};
use super::escape;
use super::open::{Folders, Found, Kind, OPEN_AT_CHILDREN};

/// Counts of a manifest build.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BuildStats {
    pub files: u64,
    pub hashed: u64,
    pub bytes_hashed: u64,
    /// Folders read, as opposed to taken from the cache.
    pub listed: u64,
    /// Folders looked at (the root not counted).
    pub folders: u64,
}

impl BuildStats {
    fn add(&mut self, o: BuildStats) {
        self.files += o.files;
        self.hashed += o.hashed;
        self.bytes_hashed += o.bytes_hashed;
        self.listed += o.listed;
        self.folders += o.folders;
    }
}

/// Each worker reads files through one buffer of this size, made on its first hash (a
/// warm build hashes nothing).
const READ_BUFFER: usize = 256 * 1024;

/// At most this many threads: a verify shares the node with OpenKM.
const MAX_WORKERS: usize = 4;

/// What a walk writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Output {
    /// `sha256<TAB>size<TAB>path` per file; the cache is brought up to date.
    Manifest,
    /// [`listing`]'s lines; the cache is only read.
    Listing,
}

/// A share of the work: the root's own files, or one top-level folder.
enum Share {
    RootFiles(Vec<String>),
    Folder(String),
}

impl Share {
    fn key(&self) -> String {
        match self {
            Share::RootFiles(_) => Store::key(None),
            Share::Folder(name) => Store::key(Some(name)),
        }
    }
}

/// What a share gave: its manifest lines and counts.
struct ShareOut {
    text: Vec<u8>,
    stats: BuildStats,
}

/// Builds the manifest of `root` into `out` (lines in path order), reusing and then
/// updating the cache folder `cache`.
pub fn build(root: &Path, cache: Option<&Path>, out: &mut dyn Write) -> Result<BuildStats> {
    build_at(root, cache, out, now_ns(), Output::Manifest)
}

/// Writes the listing of `root` into `out`: `d<TAB>path` for a folder, before what is
/// under it, and `f<TAB>size<TAB>mtime seconds<TAB>permissions (octal)<TAB>owner<TAB>
/// group<TAB>path` for a file, in walk order (the root's files first, then each top-level folder depth-first,
/// names sorted), then `end<TAB>lines` so a cut stream is never taken as whole. The
/// cache (if any) saves reading folders whose stamp did not move; it is not written.
/// A root that is a symbolic link is refused: rsync copies the link itself, and a plan
/// of the files behind it would make the mirror's link a folder.
pub fn listing(root: &Path, cache: Option<&Path>, out: &mut dyn Write) -> Result<BuildStats> {
    if fs::symlink_metadata(root).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(eyre!(
            "{} is a symbolic link: it is listed by rsync, not by okmirror",
            root.display()
        ));
    }
    let cache = cache.filter(|c| c.is_dir());
    let stats = build_at(root, cache, out, now_ns(), Output::Listing)?;
    writeln!(out, "end\t{}", stats.files + stats.folders)?;
    Ok(stats)
}

/// [`build`] as if started at `started` (ns since the epoch), which decides which stamps
/// are old enough to trust: tests pass a later time.
fn build_at(
    root: &Path,
    cache: Option<&Path>,
    out: &mut dyn Write,
    started: i64,
    output: Output,
) -> Result<BuildStats> {
    let store = cache.map(Store::open).transpose()?;
    let shares = shares_of(root)?;
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_WORKERS)
        .min(shares.len().max(1));
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<(usize, Result<ShareOut>)>();
    let stats = std::thread::scope(|s| {
        for _ in 0..workers {
            let tx = tx.clone();
            let (shares, next, store) = (&shares, &next, store.as_ref());
            s.spawn(move || {
                let mut buf = Vec::new(); // the worker's read buffer, made when first needed
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(share) = shares.get(i) else { break };
                    let done = run_share(root, share, (store, started), output, &mut buf);
                    if tx.send((i, done)).is_err() {
                        break; // the build failed elsewhere: stop
                    }
                }
            });
        }
        drop(tx);
        write_in_order(rx, shares.len(), out)
    })?;
    if let (Some(store), Output::Manifest) = (&store, output) {
        let keys: Vec<String> = shares.iter().map(Share::key).collect();
        store.prune(&keys)?;
    }
    Ok(stats)
}

/// The root's listing, cut into shares. The root is always read: it is one folder.
fn shares_of(root: &Path) -> Result<Vec<Share>> {
    let mut files = Vec::new();
    let mut folders = Vec::new();
    for e in fs::read_dir(root).wrap_err_with(|| format!("reading {}", root.display()))? {
        let e = e.wrap_err_with(|| format!("reading {}", root.display()))?;
        let name = utf8_name(e.file_name(), root)?;
        match e.file_type() {
            Ok(t) if t.is_dir() => folders.push(name),
            Ok(t) if t.is_file() => files.push(name),
            _ => {}
        }
    }
    files.sort();
    folders.sort();
    let mut shares = vec![Share::RootFiles(files)];
    shares.extend(folders.into_iter().map(Share::Folder));
    Ok(shares)
}

/// Receives the shares' results and writes them in share order; the first error ends
/// the build (dropping the receiver stops the workers). Every one of the `count` shares
/// must have come: a manifest missing a share would pass files off as absent.
fn write_in_order(
    rx: mpsc::Receiver<(usize, Result<ShareOut>)>,
    count: usize,
    out: &mut dyn Write,
) -> Result<BuildStats> {
    let mut stats = BuildStats::default();
    let mut waiting = BTreeMap::new();
    let mut next = 0;
    for (i, done) in rx {
        waiting.insert(i, done?);
        while let Some(share) = waiting.remove(&next) {
            out.write_all(&share.text)?;
            stats.add(share.stats);
            next += 1;
        }
    }
    if next != count {
        return Err(eyre!(
            "the manifest is incomplete: {next} of {count} top-level shares were written"
        ));
    }
    Ok(stats)
}

fn run_share(
    root: &Path,
    share: &Share,
    (store, started): (Option<&Store>, i64),
    output: Output,
    buf: &mut Vec<u8>,
) -> Result<ShareOut> {
    let key = share.key();
    let old = store.map(|s| s.load(&key)).unwrap_or_default();
    let mut walk = Walk {
        folders: Folders::new(root)?,
        old: &old,
        cursor: 0,
        rows: Vec::new(),
        text: Vec::new(),
        stats: BuildStats::default(),
        moved: false,
        output,
        names: Names::default(),
        buf,
    };
    match share {
        Share::RootFiles(names) => names.iter().try_for_each(|n| walk.file(n))?,
        Share::Folder(name) => walk.folder(name)?,
    }
    if let Some(store) = store
        && output == Output::Manifest
        && (walk.moved || walk.rows.len() != old.rows().len())
    {
        let rows = walk.rows.iter().map(|r| match r {
            NewRow::Same(at) => &old.rows()[*at],
            NewRow::Fresh(row) => row,
        });
        store.save(&key, started, rows)?;
    }
    Ok(ShareOut {
        text: walk.text,
        stats: walk.stats,
    })
}

/// A row of the shard being made: one the old shard has as it is, or a new one.
enum NewRow {
    Same(usize),
    Fresh(Row),
}

/// One share's walk: its rows for the cache and its manifest lines.
struct Walk<'a> {
    folders: Folders,
    old: &'a OldShard,
    /// Where the walk is in `old`: both go in the same order.
    cursor: usize,
    rows: Vec<NewRow>,
    text: Vec<u8>,
    stats: BuildStats,
    /// Something was listed or hashed: the shard is written again.
    moved: bool,
    output: Output,
    /// Owner and group names met so far (a listing's).
    names: Names,
    buf: &'a mut Vec<u8>,
}

/// User and group names by id, each looked up once. An id without a name (or with one a
/// listing line cannot carry) is written `#id`.
#[derive(Default)]
struct Names {
    users: std::collections::HashMap<u32, String>,
    groups: std::collections::HashMap<u32, String>,
}

impl Names {
    /// The owner's and the group's names.
    fn of(&mut self, uid: u32, gid: u32) -> (&str, &str) {
        let user = self.users.entry(uid).or_insert_with(|| {
            let name = nix::unistd::User::from_uid(uid.into()).ok().flatten();
            plain(name.map(|u| u.name), uid)
        });
        let group = self.groups.entry(gid).or_insert_with(|| {
            let name = nix::unistd::Group::from_gid(gid.into()).ok().flatten();
            plain(name.map(|g| g.name), gid)
        });
        (user, group)
    }
}

fn plain(name: Option<String>, id: u32) -> String {
    match name {
        Some(n) if !n.is_empty() && !n.contains(['\t', '\n', '\r', '#']) => n,
        _ => format!("#{id}"),
    }
}

impl Walk<'_> {
    fn folder(&mut self, rel: &str) -> Result<()> {
        let Some(found) = self.folders.look(rel)? else {
            return Ok(());
        };
        if found.kind != Kind::Folder {
            return Ok(()); // replaced while we walked: not a folder any more
        }
        self.stats.folders += 1;
        if self.output == Output::Listing {
            writeln!(self.text, "d\t{}", escape(rel))?;
        }
        let old = self.old;
        let at = old.seek(&mut self.cursor, rel);
        // A listing writes no cache: it keeps no rows.
        let keep = self.output == Output::Manifest;
        if let Some((at, kids)) = at.and_then(|at| Some((at, old.listing(at, found.stamp)?))) {
            if keep {
                self.rows.push(NewRow::Same(at));
            }
            return self.children(rel, &kids);
        }
        if keep {
            self.rows.push(NewRow::Fresh(Row::Folder {
                rel: rel.to_string(),
                stamp: found.stamp,
            }));
        }
        self.moved = true;
        self.stats.listed += 1;
        let listed = list(&self.folders.path(rel), rel)?;
        let kids: Vec<(&str, bool)> = listed.iter().map(|c| (c.rel.as_str(), c.folder)).collect();
        self.children(rel, &kids)
    }

    /// Looks at a folder's children, from the folder itself when there are enough.
    fn children(&mut self, rel: &str, kids: &[(&str, bool)]) -> Result<()> {
        let entered = kids.len() >= OPEN_AT_CHILDREN && self.folders.enter(rel)?;
        let done = kids
            .iter()
            .try_for_each(|(k, folder)| self.child(k, *folder));
        if entered {
            self.folders.leave();
        }
        done
    }

    fn child(&mut self, rel: &str, folder: bool) -> Result<()> {
        if folder {
            self.folder(rel)
        } else {
            self.file(rel)
        }
    }

    fn file(&mut self, rel: &str) -> Result<()> {
        let Some(found) = self.folders.look(rel)? else {
            return Ok(());
        };
        if found.kind != Kind::File {
            return Ok(());
        }
        let (stamp, size) = (found.stamp, found.size);
        if self.output == Output::Listing {
            return self.listed_file(&found, rel);
        }
        let old = self.old;
        let at = old.seek(&mut self.cursor, rel);
        if let Some((at, sha)) = at.and_then(|at| Some((at, old.sha(at, stamp, size)?))) {
            self.rows.push(NewRow::Same(at));
            return self.line(sha, size, rel);
        }
        self.moved = true;
        let Some(file) = self.folders.open_file(rel)? else {
            return Ok(());
        };
        if self.buf.is_empty() {
            self.buf.resize(READ_BUFFER, 0);
        }
        let sha = hash(file, &self.folders.path(rel), self.buf)?;
        self.stats.hashed += 1;
        self.stats.bytes_hashed += size;
        self.line(&sha, size, rel)?;
        self.rows.push(NewRow::Fresh(Row::File {
            rel: rel.to_string(),
            stamp,
            size,
            sha,
        }));
        Ok(())
    }

    /// The file's listing line: its owner and group by name, as rsync maps them.
    fn listed_file(&mut self, found: &Found, rel: &str) -> Result<()> {
        self.stats.files += 1;
        let secs = found.stamp.mtime.div_euclid(1_000_000_000);
        let (size, perm) = (found.size, found.perm);
        let (owner, group) = self.names.of(found.uid, found.gid);
        writeln!(
            self.text,
            "f\t{size}\t{secs}\t{perm:o}\t{owner}\t{group}\t{}",
            escape(rel)
        )?;
        Ok(())
    }

    /// The file's manifest line.
    fn line(&mut self, sha: &str, size: u64, rel: &str) -> Result<()> {
        self.stats.files += 1;
        writeln!(self.text, "{sha}\t{size}\t{}", escape(rel))?;
        Ok(())
    }
}

/// A folder's files and folders (nothing else: links and devices are not documents),
/// sorted by name so manifests come out in path order.
fn list(path: &Path, rel: &str) -> Result<Vec<Child>> {
    let entries = match fs::read_dir(path) {
        Err(e) if vanished(&e) => return Ok(Vec::new()),
        r => r.wrap_err_with(|| format!("reading {}", path.display()))?,
    };
    let mut children = Vec::new();
    for e in entries {
        let e = e.wrap_err_with(|| format!("reading {}", path.display()))?;
        let folder = match e.file_type() {
            Ok(t) if t.is_dir() => true,
            Ok(t) if t.is_file() => false,
            _ => continue,
        };
        let rel = format!("{rel}/{}", utf8_name(e.file_name(), path)?);
        children.push(Child { rel, folder });
    }
    children.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(children)
}

/// A name as text. A name that is not UTF-8 fails the manifest: left out, its file would
/// be missing from both nodes' manifests and the verify would pass without it.
fn utf8_name(name: std::ffi::OsString, folder: &Path) -> Result<String> {
    name.into_string().map_err(|n| {
        eyre!(
            "{}: the name {n:?} is not UTF-8, so a manifest cannot carry it; rename it",
            folder.display()
        )
    })
}

fn vanished(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::NotFound
}

/// The SHA-256 of an open file (`path` names it in errors). `buf` is the worker's own,
/// reused for every file.
fn hash(mut f: File, path: &Path, buf: &mut [u8]) -> Result<String> {
    let mut h = Sha256::new();
    loop {
        let n = f
            .read(buf)
            .wrap_err_with(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(format!("{:x}", h.finalize()))
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::manifest::parse;

    const MINUTE: i64 = 60_000_000_000;

    /// A build a minute from now, when every stamp made by the test is settled.
    fn later(root: &Path, cache: &Path) -> (BuildStats, String) {
        let mut out = Vec::new();
        let s = build_at(
            root,
            Some(cache),
            &mut out,
            now_ns() + MINUTE,
            Output::Manifest,
        )
        .unwrap();
        (s, String::from_utf8(out).unwrap())
    }

    fn tree() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ds");
        fs::create_dir_all(root.join("ab/cd/ef")).unwrap();
        fs::create_dir_all(root.join("ab/cd/empty")).unwrap();
        fs::write(root.join("ab/cd/ef/one"), b"hello").unwrap();
        fs::write(root.join("ab/cd/two"), b"xy").unwrap();
        fs::write(root.join("we\tird\nname"), b"x").unwrap();
        let cache = dir.path().join("cache");
        (dir, root, cache)
    }

    #[test]
    fn a_file_that_vanishes_before_it_is_hashed_is_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let folders = Folders::new(dir.path()).unwrap();
        assert!(folders.open_file("gone").unwrap().is_none());
        fs::write(dir.path().join("here"), b"x".repeat(100)).unwrap();
        let file = folders.open_file("here").unwrap().unwrap();
        let sha = hash(file, Path::new("here"), &mut [0; 16]).unwrap();
        assert!(sha.starts_with("09ecb6ebc8bcefc7"), "{sha}");
    }

    #[test]
    fn a_warm_build_reads_no_folder_and_hashes_no_file_and_says_the_same() {
        let (_d, root, cache) = tree();
        let (cold, text) = later(&root, &cache);
        assert_eq!((cold.files, cold.hashed, cold.bytes_hashed), (3, 3, 8));
        assert_eq!(
            cold.listed, 4,
            "ab, ab/cd, ab/cd/ef and ab/cd/empty; the root is not counted"
        );
        let m = parse(&text).unwrap();
        assert_eq!(
            m["ab/cd/ef/one"].0,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert!(m.contains_key("we\tird\nname"));
        let (warm, again) = later(&root, &cache);
        assert_eq!((warm.files, warm.hashed, warm.listed), (3, 0, 0));
        assert_eq!(text, again);
        let mut plain = Vec::new();
        build(&root, None, &mut plain).unwrap();
        assert_eq!(text.as_bytes(), plain, "the same lines without a cache");
    }

    #[test]
    fn folders_with_many_children_are_walked_from_inside_with_the_same_result() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ds");
        for a in ["aa", "ab", "ac", "ad", "ae"] {
            for b in ["01", "02", "03", "04", "05"] {
                fs::create_dir_all(root.join(format!("{a}/{b}/x"))).unwrap();
                fs::write(root.join(format!("{a}/{b}/x/{a}{b}")), a).unwrap();
            }
        }
        let cache = dir.path().join("cache");
        let (cold, text) = later(&root, &cache);
        assert_eq!((cold.files, cold.hashed), (25, 25));
        let m = parse(&text).unwrap();
        let sha_of_ab = "fb8e20fc2e4c3f248c60c39bd652f3c1347298bb977b8b4d5903b85055620603";
        assert_eq!(m["ab/03/x/ab03"].0, sha_of_ab);
        fs::write(root.join("ac/04/x/ac04"), "ab").unwrap();
        fs::write(root.join("ad/01/x/new"), "ab").unwrap();
        let (warm, again) = later(&root, &cache);
        assert_eq!((warm.files, warm.hashed, warm.listed), (26, 2, 1));
        let m = parse(&again).unwrap();
        assert_eq!(
            (&m["ac/04/x/ac04"].0, &m["ad/01/x/new"].0),
            (&m["ab/03/x/ab03"].0, &m["ab/03/x/ab03"].0)
        );
        let mut plain = Vec::new();
        build(&root, None, &mut plain).unwrap();
        assert_eq!(again.as_bytes(), plain, "the same lines without a cache");
    }

    #[test]
    fn a_rewritten_file_is_hashed_again_and_a_new_or_removed_one_is_seen() {
        let (_d, root, cache) = tree();
        later(&root, &cache);
        // Same size, new content: only the file's own stamp moved, not its folder's.
        fs::write(root.join("ab/cd/ef/one"), b"HELLO").unwrap();
        let (s, text) = later(&root, &cache);
        assert_eq!((s.hashed, s.listed), (1, 0));
        assert_ne!(
            parse(&text).unwrap()["ab/cd/ef/one"].0,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        fs::write(root.join("ab/cd/empty/new"), b"n").unwrap();
        fs::remove_file(root.join("ab/cd/two")).unwrap();
        let (s, text) = later(&root, &cache);
        assert_eq!(
            (s.files, s.hashed, s.listed),
            (3, 1, 2),
            "two folders moved"
        );
        let m = parse(&text).unwrap();
        assert!(m.contains_key("ab/cd/empty/new") && !m.contains_key("ab/cd/two"));
    }

    #[test]
    fn a_listing_names_each_folder_and_file_in_walk_order_and_never_writes_the_cache() {
        let (_d, root, cache) = tree();
        let mut cold = Vec::new();
        let s = listing(&root, Some(&cache), &mut cold).unwrap();
        assert!(!cache.exists(), "no cache made by a listing");
        assert_eq!((s.files, s.folders, s.hashed), (3, 4, 0));
        let text = String::from_utf8(cold).unwrap();
        let stat = |rel: &str| {
            use std::os::unix::fs::MetadataExt;
            let m = fs::metadata(root.join(rel)).unwrap();
            let user = nix::unistd::User::from_uid(m.uid().into())
                .unwrap()
                .unwrap();
            let group = nix::unistd::Group::from_gid(m.gid().into())
                .unwrap()
                .unwrap();
            let (mtime, perm) = (m.mtime(), m.mode() & 0o7777);
            format!("{mtime}\t{perm:o}\t{}\t{}", user.name, group.name)
        };
        let expected = format!(
            "f\t1\t{}\twe\\tird\\nname\nd\tab\nd\tab/cd\nd\tab/cd/ef\n\
             f\t5\t{}\tab/cd/ef/one\nd\tab/cd/empty\nf\t2\t{}\tab/cd/two\nend\t7\n",
            stat("we\tird\nname"),
            stat("ab/cd/ef/one"),
            stat("ab/cd/two")
        );
        assert_eq!(text, expected);
        // With a manifest's cache, the same lines, the folders not read again.
        later(&root, &cache);
        let mut warm = Vec::new();
        let before = fs::read_dir(&cache).unwrap().count();
        let s = build_at(
            &root,
            Some(&cache),
            &mut warm,
            now_ns() + MINUTE,
            Output::Listing,
        )
        .unwrap();
        assert_eq!((s.listed, s.hashed), (0, 0));
        writeln!(warm, "end\t7").unwrap();
        assert_eq!(String::from_utf8(warm).unwrap(), expected);
        assert_eq!(fs::read_dir(&cache).unwrap().count(), before);
    }

    #[test]
    fn a_root_that_is_a_link_is_not_listed() {
        let (d, root, _) = tree();
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&root, &link).unwrap();
        let err = listing(&link, None, &mut Vec::new()).unwrap_err();
        assert!(format!("{err}").contains("symbolic link"), "{err}");
        assert!(listing(&root, None, &mut Vec::new()).is_ok());
    }

    #[test]
    fn stamps_too_recent_to_trust_are_looked_at_again() {
        let (_d, root, cache) = tree();
        let mut out = Vec::new();
        build(&root, Some(&cache), &mut out).unwrap();
        let s = build(&root, Some(&cache), &mut Vec::new()).unwrap();
        assert_eq!(
            (s.hashed, s.listed),
            (3, 4),
            "all written within the last seconds"
        );
    }

    #[test]
    fn shares_that_never_came_fail_the_build() {
        let (tx, rx) = mpsc::channel();
        let one = ShareOut {
            text: b"line\n".to_vec(),
            stats: BuildStats::default(),
        };
        tx.send((0, Ok(one))).unwrap();
        drop(tx);
        let mut out = Vec::new();
        let err = write_in_order(rx, 2, &mut out).unwrap_err();
        assert!(format!("{err}").contains("1 of 2"), "{err}");
    }

    #[test]
    fn a_gone_top_level_folder_takes_its_cache_shard_with_it() {
        let (_d, root, cache) = tree();
        later(&root, &cache);
        assert!(cache.join("6162.tsv").exists());
        fs::remove_dir_all(root.join("ab")).unwrap();
        let (s, _) = later(&root, &cache);
        assert_eq!(s.files, 1);
        assert!(!cache.join("6162.tsv").exists());
    }

    #[test]
    fn a_name_that_is_not_utf8_fails_the_manifest_and_is_named() {
        use std::os::unix::ffi::OsStrExt;
        let (_d, root, _) = tree();
        let bad = std::ffi::OsStr::from_bytes(b"ab/cd/bad\xff");
        fs::write(root.join(bad), b"z").unwrap();
        let err = build(&root, None, &mut Vec::new()).unwrap_err();
        assert!(format!("{err:#}").contains("not UTF-8"), "{err:#}");
        assert!(format!("{err:#}").contains("ab/cd"), "{err:#}");
    }
}
