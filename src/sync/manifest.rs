//! SHA-256 manifests of a datastore, to prove the mirror is a clone.
//!
//! On a node with okmirror installed, `okmirror agent manifest` builds one with a cache
//! keyed by path, size and mtime, so a re-verify hashes only what changed; elsewhere
//! coreutils `sha256sum` output is parsed. Lines are `sha256<TAB>size<TAB>path`, with
//! `\`, tab and newline in names escaped as `\\`, `\t`, `\n`.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use color_eyre::eyre::{Result, WrapErr};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Relative path -> (sha256 hex, size).
pub type Manifest = BTreeMap<String, (String, u64)>;

/// How two manifests differ, for one path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Mismatch {
    MissingOnTarget { path: String },
    ExtraOnTarget { path: String },
    Differs { path: String },
}

/// Whether two entries hold the same content: the SHA-256 decides (`sha256sum` gives no
/// size, so a node without the agent reports 0, which must not read as a difference).
pub fn same(a: &(String, u64), b: &(String, u64)) -> bool {
    a.0 == b.0
}

/// Every difference between the source's and the target's manifests.
pub fn compare(source: &Manifest, target: &Manifest) -> Vec<Mismatch> {
    let mut out = Vec::new();
    for (path, entry) in source {
        match target.get(path) {
            None => out.push(Mismatch::MissingOnTarget { path: path.clone() }),
            Some(t) if !same(t, entry) => out.push(Mismatch::Differs { path: path.clone() }),
            Some(_) => {}
        }
    }
    for path in target.keys() {
        if !source.contains_key(path) {
            out.push(Mismatch::ExtraOnTarget { path: path.clone() });
        }
    }
    out
}

/// Counts of a manifest build.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BuildStats {
    pub files: u64,
    pub hashed: u64,
    pub bytes_hashed: u64,
}

/// Builds the manifest of `root`, reusing `cache` entries whose size and mtime match, and
/// rewrites the cache. Writes manifest lines to `out`.
pub fn build(root: &Path, cache: Option<&Path>, out: &mut dyn Write) -> Result<BuildStats> {
    let old = cache.map(read_cache).unwrap_or_default();
    let mut fresh: Vec<(String, u64, i64, String)> = Vec::new();
    let mut stats = BuildStats::default();
    let mut stack = vec![root.to_path_buf()];
    let mut files = Vec::new();
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Err(e) if vanished(&e) && dir != root => continue,
            r => r.wrap_err_with(|| format!("reading {}", dir.display()))?,
        };
        for e in entries {
            let e = e.wrap_err_with(|| format!("reading {}", dir.display()))?;
            let ft = e.file_type()?;
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                // Looked up from the open folder (fstatat): no path walk per file.
                let meta = match e.metadata() {
                    Err(err) if vanished(&err) => continue,
                    r => r.wrap_err_with(|| format!("stat {}", e.path().display()))?,
                };
                let mtime = meta.mtime_nsec() + meta.mtime() * 1_000_000_000;
                files.push((e.path(), meta.len(), mtime));
            }
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, size, mtime) in files {
        let rel = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .to_string_lossy()
            .into_owned();
        let sha = match old.get(&rel) {
            Some((s, m, sha)) if *s == size && *m == mtime => sha.clone(),
            _ => {
                stats.hashed += 1;
                stats.bytes_hashed += size;
                match hash_file(&path)? {
                    Some(sha) => sha,
                    None => continue,
                }
            }
        };
        stats.files += 1;
        writeln!(out, "{sha}\t{size}\t{}", escape(&rel))?;
        fresh.push((rel, size, mtime, sha));
    }
    if let Some(c) = cache {
        write_cache(c, &fresh)?;
    }
    Ok(stats)
}

/// A file or folder removed between the listing and the look: a live datastore does
/// that (OpenKM writes a temporary file and renames it). It is not in the datastore any
/// more, so it is not in the manifest; any other error fails the manifest.
fn vanished(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::NotFound
}

/// The file's SHA-256, or `None` when it vanished before it could be opened.
fn hash_file(path: &Path) -> Result<Option<String>> {
    let mut f = match File::open(path) {
        Err(e) if vanished(&e) => return Ok(None),
        r => r.wrap_err_with(|| format!("opening {}", path.display()))?,
    };
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f
            .read(&mut buf)
            .wrap_err_with(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(Some(format!("{:x}", h.finalize())))
}

fn read_cache(path: &Path) -> BTreeMap<String, (u64, i64, String)> {
    let Ok(f) = File::open(path) else {
        return BTreeMap::new();
    };
    BufReader::new(f)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| {
            let mut it = l.splitn(4, '\t');
            let sha = it.next()?.to_string();
            let size = it.next()?.parse().ok()?;
            let mtime = it.next()?.parse().ok()?;
            let rel = unescape(it.next()?);
            Some((rel, (size, mtime, sha)))
        })
        .collect()
}

fn write_cache(path: &Path, rows: &[(String, u64, i64, String)]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = std::io::BufWriter::new(
        File::create(&tmp).wrap_err_with(|| format!("writing {}", tmp.display()))?,
    );
    for (rel, size, mtime, sha) in rows {
        writeln!(f, "{sha}\t{size}\t{mtime}\t{}", escape(rel))?;
    }
    f.flush()?;
    drop(f);
    std::fs::rename(&tmp, path).wrap_err_with(|| format!("replacing {}", path.display()))
}

/// Parses manifest lines (`sha<TAB>size<TAB>path`).
pub fn parse(text: &str) -> Result<Manifest, String> {
    let mut m = Manifest::new();
    for (i, l) in text.lines().enumerate().filter(|(_, l)| !l.is_empty()) {
        let mut it = l.splitn(3, '\t');
        let (Some(sha), Some(size), Some(path)) = (it.next(), it.next(), it.next()) else {
            return Err(format!(
                "manifest line {}: expected sha, size and path: {l:?}",
                i + 1
            ));
        };
        if sha.len() != 64 || !sha.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!("manifest line {}: not a SHA-256: {sha:?}", i + 1));
        }
        let size = size
            .parse()
            .map_err(|_| format!("manifest line {}: size {size:?} is not a number", i + 1))?;
        m.insert(unescape(path), (sha.to_ascii_lowercase(), size));
    }
    Ok(m)
}

/// Parses coreutils `sha256sum` output (`hash  ./path`, or `\hash  path` with escapes);
/// sizes are unknown there (0), so only hashes are compared.
pub fn parse_sha256sum(text: &str) -> Result<Manifest, String> {
    let mut m = Manifest::new();
    for (i, l) in text.lines().enumerate().filter(|(_, l)| !l.is_empty()) {
        let (escaped, l) = match l.strip_prefix('\\') {
            Some(rest) => (true, rest),
            None => (false, l),
        };
        let (sha, path) = l
            .split_once("  ")
            .or_else(|| l.split_once(" *"))
            .ok_or_else(|| format!("sha256sum line {}: {l:?}", i + 1))?;
        let path = path.strip_prefix("./").unwrap_or(path);
        let path = if escaped {
            path.replace("\\n", "\n").replace("\\\\", "\\")
        } else {
            path.to_string()
        };
        m.insert(path, (sha.to_ascii_lowercase(), 0));
    }
    Ok(m)
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('\t', "\\t")
        .replace('\n', "\\n")
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('t') => out.push('\t'),
                Some('n') => out.push('\n'),
                Some(o) => out.push(o),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_vanishes_before_it_is_hashed_is_left_out() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(hash_file(&dir.path().join("gone")).unwrap(), None);
        std::fs::write(dir.path().join("here"), b"x").unwrap();
        assert!(hash_file(&dir.path().join("here")).unwrap().is_some());
    }

    #[test]
    fn builds_compares_and_reuses_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ds");
        std::fs::create_dir_all(root.join("ab/cd")).unwrap();
        std::fs::write(root.join("ab/cd/one"), b"hello").unwrap();
        std::fs::write(root.join("we\tird\nname"), b"x").unwrap();
        let cache = dir.path().join("cache.tsv");
        let mut out = Vec::new();
        let s = build(&root, Some(&cache), &mut out).unwrap();
        assert_eq!(
            s,
            BuildStats {
                files: 2,
                hashed: 2,
                bytes_hashed: 6
            }
        );
        let m = parse(std::str::from_utf8(&out).unwrap()).unwrap();
        assert_eq!(
            m["ab/cd/one"],
            (
                "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824".into(),
                5
            )
        );
        assert!(m.contains_key("we\tird\nname"));

        // Unchanged files are not hashed again.
        let mut out2 = Vec::new();
        let s = build(&root, Some(&cache), &mut out2).unwrap();
        assert_eq!((s.files, s.hashed), (2, 0));
        assert_eq!(out, out2);

        let mut target = m.clone();
        target.remove("ab/cd/one");
        target.insert("extra".into(), ("0".repeat(64), 1));
        target.insert("we\tird\nname".into(), ("f".repeat(64), 1));
        assert_eq!(
            compare(&m, &target),
            vec![
                Mismatch::MissingOnTarget {
                    path: "ab/cd/one".into()
                },
                Mismatch::Differs {
                    path: "we\tird\nname".into()
                },
                Mismatch::ExtraOnTarget {
                    path: "extra".into()
                },
            ]
        );
        assert!(compare(&m, &m).is_empty());
    }

    #[test]
    fn reads_sha256sum_output() {
        let text = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824  ./ab/cd/one\n\
                    \\2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881  ./we\\nird\n";
        let m = parse_sha256sum(text).unwrap();
        assert!(m.contains_key("ab/cd/one"));
        assert!(m.contains_key("we\nird"));
        assert!(parse("nope").is_err());
    }

    #[test]
    fn an_agent_manifest_matches_a_sha256sum_one_of_the_same_files() {
        let h = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let agent = parse(&format!("{h}\t17\tab/cd/x\n")).unwrap();
        let plain = parse_sha256sum(&format!("{h}  ./ab/cd/x\n")).unwrap();
        assert!(compare(&agent, &plain).is_empty());
        assert!(compare(&plain, &agent).is_empty());
    }
}
