//! The agent's manifest cache: what a folder listed and what a file hashed to, each with
//! the stat stamp it had, so a re-verify lists only folders whose stamp moved and hashes
//! only files whose stamp moved (git's untracked cache rests on the same rule).
//!
//! One file per top-level folder of the datastore (`<hex of its name>.tsv`, and
//! `root.tsv` for files directly in the root), so workers load, check and rewrite their
//! share in parallel and none holds the whole cache in memory. Each starts with
//! `okmirror-manifest-cache 2 <started ns>`, then one row per folder and per file:
//! `d<TAB>mtime<TAB>ctime<TAB>ino<TAB>path` and
//! `f<TAB>mtime<TAB>ctime<TAB>ino<TAB>size<TAB>sha256<TAB>path` (times in ns, paths
//! relative to the root and escaped as in manifests).

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::os::unix::fs::MetadataExt;
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
    pub fn of(meta: &fs::Metadata) -> Stamp {
        Stamp {
            mtime: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
            ctime: meta.ctime() * 1_000_000_000 + meta.ctime_nsec(),
            ino: meta.ino(),
        }
    }

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

/// A folder's entry in a listing: its path from the root, and whether it is a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Child {
    pub rel: String,
    pub folder: bool,
}

/// A shard as the last build left it, with only its trusted rows.
#[derive(Debug, Default)]
pub struct OldShard {
    folders: HashMap<String, Stamp>,
    files: HashMap<String, (Stamp, u64, String)>,
    children: HashMap<String, Vec<Child>>,
    /// Rows in the file, trusted or not: a build that finds the same rows needs no rewrite.
    rows: usize,
}

impl OldShard {
    /// The folder's children as last listed, if its stamp has not moved since.
    pub fn listing(&self, rel: &str, now: Stamp) -> Option<&[Child]> {
        (self.folders.get(rel) == Some(&now))
            .then(|| self.children.get(rel).map_or(&[][..], |c| c.as_slice()))
    }

    /// The file's SHA-256 as last hashed, if its stamp and size have not moved since.
    pub fn sha(&self, rel: &str, now: Stamp, size: u64) -> Option<&str> {
        match self.files.get(rel) {
            Some((stamp, s, sha)) if *stamp == now && *s == size => Some(sha),
            _ => None,
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    fn add(&mut self, row: Row, started: i64) {
        self.rows += 1;
        let (rel, stamp, folder) = match &row {
            Row::Folder { rel, stamp } => (rel.clone(), *stamp, true),
            Row::File { rel, stamp, .. } => (rel.clone(), *stamp, false),
        };
        if let Some((parent, _)) = rel.rsplit_once('/') {
            let c = Child {
                rel: rel.clone(),
                folder,
            };
            self.children.entry(parent.to_string()).or_default().push(c);
        }
        if !stamp.settled_before(started) {
            return;
        }
        match row {
            Row::Folder { rel, stamp } => {
                self.folders.insert(rel, stamp);
            }
            Row::File {
                rel,
                stamp,
                size,
                sha,
            } => {
                self.files.insert(rel, (stamp, size, sha));
            }
        }
    }
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
        let mut shard = OldShard::default();
        let Ok(f) = File::open(self.dir.join(format!("{key}.tsv"))) else {
            return shard;
        };
        let mut lines = BufReader::new(f).lines().map_while(|l| l.ok());
        let Some(started) = lines
            .next()
            .and_then(|h| h.strip_prefix(HEADER)?.trim().parse::<i64>().ok())
        else {
            return shard;
        };
        for row in lines.filter_map(|l| parse_row(&l)) {
            shard.add(row, started);
        }
        shard
    }

    /// Writes a shard whole (a new file renamed over the old one).
    pub fn save(&self, key: &str, started: i64, rows: &[Row]) -> Result<()> {
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
            Row::Folder {
                rel: "ab".into(),
                stamp: stamp(1),
            },
            Row::File {
                rel: "ab/o\tld".into(),
                stamp: stamp(2),
                size: 3,
                sha: "e".repeat(64),
            },
            Row::File {
                rel: "ab/new".into(),
                stamp: stamp(started - 1),
                size: 1,
                sha: "f".repeat(64),
            },
        ];
        store.save("6162", started, &rows).unwrap();
        let old = store.load("6162");
        assert_eq!(old.rows(), 3);
        let kids = old.listing("ab", stamp(1)).unwrap();
        assert_eq!(kids.len(), 2);
        assert!(old.listing("ab", stamp(9)).is_none(), "a moved stamp");
        assert_eq!(
            old.sha("ab/o\tld", stamp(2), 3),
            Some("e".repeat(64).as_str())
        );
        assert_eq!(old.sha("ab/o\tld", stamp(2), 4), None, "another size");
        assert_eq!(old.sha("ab/new", stamp(started - 1), 1), None, "too recent");
    }

    #[test]
    fn an_old_single_file_cache_or_a_foreign_shard_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest-cache.tsv");
        fs::write(&path, "abc\t1\t2\tx\n").unwrap();
        let store = Store::open(&path).unwrap();
        assert!(path.is_dir());
        fs::write(path.join("root.tsv"), "something else\nd\t1\t1\t1\tx\n").unwrap();
        assert_eq!(store.load("root").rows(), 0);
        assert_eq!(Store::key(Some("ab")), "6162");
        store.prune(&["6162".into()]).unwrap();
        assert!(!path.join("root.tsv").exists());
    }
}
