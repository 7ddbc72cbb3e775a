//! The agent's manifest cache: what a folder listed and what a file hashed to, each with
//! the stat stamp it had, so a re-verify lists only folders whose stamp moved and hashes
//! only files whose stamp moved (git's untracked cache rests on the same rule).
//!
//! One file per top-level folder of the datastore (`<hex of its name>.tsv`, and
//! `root.tsv` for files directly in the root), so workers load, check and rewrite their
//! share in parallel and none holds the whole cache in memory. Each starts with
//! `okmirror-manifest-cache 2 <started ns>`, then one row per folder and per file, in the
//! walk's order:
//! `d<TAB>mtime<TAB>ctime<TAB>ino<TAB>path` and
//! `f<TAB>mtime<TAB>ctime<TAB>ino<TAB>size<TAB>sha256<TAB>path` (times in ns, paths
//! relative to the root and escaped as in manifests).

use std::fs::{self, File};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use color_eyre::eyre::{Result, WrapErr};

use super::{escape, unescape};

const HEADER: &str = "okmirror-manifest-cache 2";

/// A stamp is trusted only if it is older than this when its row was written: the kernel
/// stamps changes with a coarse clock, so a change made in the same tick as the look
/// would leave the stamp as it was (the "racy" entries of git's index).
const SETTLE_NS: i64 = 5_000_000_000;

/// What `stat` says of a file or folder: any write, rename over it, link or chmod moves
/// at least one of these (ctime cannot be set from user space).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub mtime: i64,
    pub ctime: i64,
    pub ino: u64,
}

impl Stamp {
    fn settled_before(&self, started: i64) -> bool {
        self.mtime < started - SETTLE_NS && self.ctime < started - SETTLE_NS
    }
}

/// One row of a shard, as the walk found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row {
    Folder {
        rel: String,
        stamp: Stamp,
    },
    File {
        rel: String,
        stamp: Stamp,
        size: u64,
        sha: String,
    },
}

impl Row {
    pub fn rel(&self) -> &str {
        match self {
            Row::Folder { rel, .. } | Row::File { rel, .. } => rel,
        }
    }
}

/// A folder's entry in a listing: its path from the root, and whether it is a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Child {
    pub rel: String,
    pub folder: bool,
}

/// The walk's order: component by component, each by its bytes, so a folder comes right
/// before everything under it and siblings come sorted by name.
pub fn walk_order(a: &str, b: &str) -> std::cmp::Ordering {
    a.split('/').cmp(b.split('/'))
}

/// A shard as the last build left it: its rows in walk order. The next walk goes the
/// same way, so it finds each of its paths with a cursor that only moves forward ([`seek`](OldShard::seek)),
/// and a folder's cached children are the rows right under it: no lookup tables to build.
#[derive(Debug, Default)]
pub struct OldShard {
    rows: Vec<Row>,
    /// For each row, the index just past the rows under it.
    ends: Vec<usize>,
    /// When the build that wrote it started: rows stamped later than that, less
    /// [`SETTLE_NS`], are not trusted.
    started: i64,
}

impl OldShard {
    fn new(rows: Vec<Row>, started: i64) -> OldShard {
        let mut ends = vec![0; rows.len()];
        let mut open: Vec<usize> = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            while let Some(&top) = open.last() {
                if is_under(row.rel(), rows[top].rel()) {
                    break;
                }
                ends[top] = i;
                open.pop();
            }
            ends[i] = i + 1;
            if matches!(row, Row::Folder { .. }) {
                open.push(i);
            }
        }
        for top in open {
            ends[top] = rows.len();
        }
        OldShard {
            rows,
            ends,
            started,
        }
    }

    /// All its rows, trusted or not: a build that finds the same rows needs no rewrite.
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// The row of `rel`, looking from `cursor` on; the cursor moves past the rows that
    /// come before `rel` in walk order (paths gone since, or never asked for).
    pub fn seek(&self, cursor: &mut usize, rel: &str) -> Option<usize> {
        while let Some(row) = self.rows.get(*cursor) {
            if row.rel() == rel {
                return Some(*cursor); // the usual case: the next row is the next path
            }
            if !walk_order(row.rel(), rel).is_lt() {
                return None; // new since: the row stays for the paths after it
            }
            *cursor += 1;
        }
        None
    }

    /// The children of the folder at row `at` (each path, and whether it is a folder),
    /// as last listed, if its stamp has not moved since and is old enough to trust.
    pub fn listing(&self, at: usize, now: Stamp) -> Option<Vec<(&str, bool)>> {
        let Some(Row::Folder { rel, stamp }) = self.rows.get(at) else {
            return None;
        };
        if *stamp != now || !stamp.settled_before(self.started) {
            return None;
        }
        let mut kids = Vec::new();
        let mut j = at + 1;
        while j < self.ends[at] {
            let child = self.rows[j].rel();
            if child
                .rsplit_once('/')
                .is_some_and(|(parent, _)| parent == rel)
            {
                kids.push((child, matches!(self.rows[j], Row::Folder { .. })));
                j = self.ends[j];
            } else {
                j += 1; // a row whose folder's own row is missing: not a child
            }
        }
        Some(kids)
    }

    /// The file's SHA-256 at row `at` as last hashed, if its stamp and size have not
    /// moved since and its stamp is old enough to trust.
    pub fn sha(&self, at: usize, now: Stamp, size: u64) -> Option<&str> {
        match self.rows.get(at) {
            Some(Row::File {
                stamp,
                size: s,
                sha,
                ..
            }) if *stamp == now && *s == size && stamp.settled_before(self.started) => Some(sha),
            _ => None,
        }
    }
}

/// Whether `rel` is under the folder `folder`.
fn is_under(rel: &str, folder: &str) -> bool {
    rel.strip_prefix(folder)
        .is_some_and(|rest| rest.starts_with('/'))
}

/// The cache folder given with `--cache`.
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// Opens (or makes) the cache folder. A single-file cache left by an older agent at
    /// that path is removed: it is only a cache.
    pub fn open(dir: &Path) -> Result<Store> {
        if fs::symlink_metadata(dir).is_ok_and(|m| !m.is_dir()) {
            fs::remove_file(dir)
                .wrap_err_with(|| format!("removing the old cache file {}", dir.display()))?;
        }
        fs::create_dir_all(dir)
            .wrap_err_with(|| format!("making the cache folder {}", dir.display()))?;
        Ok(Store {
            dir: dir.to_path_buf(),
        })
    }

    /// A shard's file name: `root` for the root's own files, else the top-level folder's
    /// name in hex (any byte is safe in a file name that way).
    pub fn key(top: Option<&str>) -> String {
        match top {
            None => "root".into(),
            Some(name) => name.bytes().map(|b| format!("{b:02x}")).collect(),
        }
    }

    /// The shard as last written; empty when missing, unreadable or of another format
    /// (the build then lists and hashes that share again, which is always safe).
    pub fn load(&self, key: &str) -> OldShard {
        let Ok(f) = File::open(self.dir.join(format!("{key}.tsv"))) else {
            return OldShard::default();
        };
        let mut lines = BufReader::new(f).lines().map_while(|l| l.ok());
        let Some(started) = lines
            .next()
            .and_then(|h| h.strip_prefix(HEADER)?.trim().parse::<i64>().ok())
        else {
            return OldShard::default();
        };
        OldShard::new(lines.filter_map(|l| parse_row(&l)).collect(), started)
    }

    /// Writes a shard whole (a new file renamed over the old one).
    pub fn save<'r>(
        &self,
        key: &str,
        started: i64,
        rows: impl IntoIterator<Item = &'r Row>,
    ) -> Result<()> {
        let path = self.dir.join(format!("{key}.tsv"));
        let tmp = self.dir.join(format!("{key}.tmp"));
        let file = File::create(&tmp).wrap_err_with(|| format!("writing {}", tmp.display()))?;
        let mut w = BufWriter::new(file);
        writeln!(w, "{HEADER} {started}")?;
        for row in rows {
            write_row(&mut w, row)?;
        }
        w.flush()
            .wrap_err_with(|| format!("writing {}", tmp.display()))?;
        drop(w);
        fs::rename(&tmp, &path).wrap_err_with(|| format!("replacing {}", path.display()))
    }

    /// Removes the shards of top-level folders that are gone.
    pub fn prune(&self, keep: &[String]) -> Result<()> {
        let entries =
            fs::read_dir(&self.dir).wrap_err_with(|| format!("reading {}", self.dir.display()))?;
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let key = name.strip_suffix(".tsv").unwrap_or(&name);
            if !keep.iter().any(|k| k == key) {
                let _ = fs::remove_file(e.path());
            }
        }
        Ok(())
    }
}

fn write_row(w: &mut impl Write, row: &Row) -> std::io::Result<()> {
    match row {
        Row::Folder { rel, stamp } => writeln!(
            w,
            "d\t{}\t{}\t{}\t{}",
            stamp.mtime,
            stamp.ctime,
            stamp.ino,
            escape(rel)
        ),
        Row::File {
            rel,
            stamp,
            size,
            sha,
        } => writeln!(
            w,
            "f\t{}\t{}\t{}\t{size}\t{sha}\t{}",
            stamp.mtime,
            stamp.ctime,
            stamp.ino,
            escape(rel)
        ),
    }
}

fn parse_row(line: &str) -> Option<Row> {
    let (kind, rest) = line.split_once('\t')?;
    let mut it = rest.splitn(if kind == "f" { 6 } else { 4 }, '\t');
    let stamp = Stamp {
        mtime: it.next()?.parse().ok()?,
        ctime: it.next()?.parse().ok()?,
        ino: it.next()?.parse().ok()?,
    };
    match kind {
        "d" => Some(Row::Folder {
            stamp,
            rel: unescape(it.next()?),
        }),
        "f" => Some(Row::File {
            stamp,
            size: it.next()?.parse().ok()?,
            sha: it.next()?.to_string(),
            rel: unescape(it.next()?),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(t: i64) -> Stamp {
        Stamp {
            mtime: t,
            ctime: t,
            ino: 7,
        }
    }

    #[test]
    fn rows_come_back_as_written_and_only_settled_ones_are_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("c")).unwrap();
        let started = 100 * 1_000_000_000;
        let rows = vec![
            // in walk order, as a build writes them
            Row::Folder {
                rel: "ab".into(),
                stamp: stamp(1),
            },
            Row::File {
                rel: "ab/new".into(),
                stamp: stamp(started - 1),
                size: 1,
                sha: "f".repeat(64),
            },
            Row::File {
                rel: "ab/o\tld".into(),
                stamp: stamp(2),
                size: 3,
                sha: "e".repeat(64),
            },
        ];
        store.save("6162", started, &rows).unwrap();
        let old = store.load("6162");
        assert_eq!(old.rows().len(), 3);
        let mut cursor = 0;
        let ab = old.seek(&mut cursor, "ab").unwrap();
        let kids = old.listing(ab, stamp(1)).unwrap();
        assert_eq!(kids.len(), 2);
        assert!(old.listing(ab, stamp(9)).is_none(), "a moved stamp");
        let new = old.seek(&mut cursor, "ab/new").unwrap();
        let o_ld = old.seek(&mut cursor, "ab/o\tld").unwrap();
        assert_eq!(old.sha(o_ld, stamp(2), 3), Some("e".repeat(64).as_str()));
        assert_eq!(old.sha(o_ld, stamp(2), 4), None, "another size");
        assert_eq!(old.sha(new, stamp(started - 1), 1), None, "too recent");
    }

    fn folder(rel: &str) -> Row {
        Row::Folder {
            rel: rel.into(),
            stamp: stamp(1),
        }
    }

    fn file(rel: &str) -> Row {
        Row::File {
            rel: rel.into(),
            stamp: stamp(1),
            size: 1,
            sha: "a".repeat(64),
        }
    }

    #[test]
    fn the_walk_order_puts_a_folder_right_before_what_is_under_it() {
        let mut paths = vec!["ab/cd-x", "ab/cd/ef", "ab", "ab/cd", "ab/c", "ab.txt"];
        paths.sort_by(|a, b| walk_order(a, b));
        assert_eq!(
            paths,
            ["ab", "ab/c", "ab/cd", "ab/cd/ef", "ab/cd-x", "ab.txt"]
        );
    }

    #[test]
    fn the_cursor_skips_what_is_gone_and_waits_at_what_is_new() {
        let rows = [
            "ab",
            "ab/cd",
            "ab/cd/one",
            "ab/cd/two",
            "ab/ef",
            "ab/ef/three",
        ];
        let rows = rows
            .iter()
            .map(|r| if r.len() > 5 { file(r) } else { folder(r) })
            .collect();
        let old = OldShard::new(rows, i64::MAX);
        let mut cursor = 0;
        assert_eq!(old.seek(&mut cursor, "ab"), Some(0));
        assert_eq!(old.seek(&mut cursor, "ab/cd"), Some(1));
        // ab/cd/one is gone; a new ab/cd/onf comes first and the cursor waits for two.
        assert_eq!(old.seek(&mut cursor, "ab/cd/onf"), None);
        assert_eq!(cursor, 3);
        assert_eq!(old.seek(&mut cursor, "ab/cd/two"), Some(3));
        let ab = 0;
        assert_eq!(
            old.listing(ab, stamp(1)).unwrap(),
            [("ab/cd", true), ("ab/ef", true)]
        );
        assert_eq!(old.listing(4, stamp(1)).unwrap(), [("ab/ef/three", false)]);
        assert_eq!(old.seek(&mut cursor, "ab/zz"), None);
        assert_eq!(
            old.seek(&mut cursor, "ab/ef"),
            None,
            "the cursor never goes back"
        );
    }

    #[test]
    fn a_row_whose_folder_row_is_missing_is_nobodys_child() {
        let rows = vec![folder("ab"), file("ab/cd/orphan"), file("ab/one")];
        let old = OldShard::new(rows, i64::MAX);
        assert_eq!(old.listing(0, stamp(1)).unwrap(), [("ab/one", false)]);
    }

    #[test]
    fn an_old_single_file_cache_or_a_foreign_shard_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest-cache.tsv");
        fs::write(&path, "abc\t1\t2\tx\n").unwrap();
        let store = Store::open(&path).unwrap();
        assert!(path.is_dir());
        fs::write(path.join("root.tsv"), "something else\nd\t1\t1\t1\tx\n").unwrap();
        assert!(store.load("root").rows().is_empty());
        assert_eq!(Store::key(Some("ab")), "6162");
        store.prune(&["6162".into()]).unwrap();
        assert!(!path.join("root.tsv").exists());
    }
}
