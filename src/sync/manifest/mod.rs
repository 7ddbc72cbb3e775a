//! SHA-256 manifests of a datastore, to prove the mirror is a clone.
//!
//! On a node with okmirror installed, `okmirror agent manifest` builds one ([`build`])
//! with a cache, so a re-verify reads only the folders and hashes only the files whose
//! stat stamps moved; elsewhere coreutils `sha256sum` output is parsed. Lines are `sha256<TAB>size<TAB>path`, with
//! `\`, tab and newline in names escaped as `\\`, `\t`, `\n`.

use std::collections::BTreeMap;

use serde::Serialize;

mod build;
mod cache;
mod open;

pub use build::{BuildStats, build, listing};
pub use cache::walk_order;

/// The agent's cache folder in a node's state dir: manifests keep it, listings read it.
pub fn cache_dir(state_dir: &str) -> String {
    format!("{state_dir}/manifest-cache.d")
}

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

/// Parses manifest lines (`sha<TAB>size<TAB>path`).
pub fn parse(text: &str) -> Result<Manifest, String> {
    let mut m = Manifest::new();
    // Lines end at `\n` only: a name may end in `\r`, which `lines()` would drop.
    for (i, l) in text.split('\n').enumerate().filter(|(_, l)| !l.is_empty()) {
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

pub(crate) fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('\t', "\\t")
        .replace('\n', "\\n")
}

pub fn unescape(s: &str) -> String {
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
    fn compare_names_each_missing_extra_and_differing_file() {
        let h = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
        let m = parse(&format!("{h}\t5\tab/cd/one\n{h}\t1\twe\\tird\\nname\n")).unwrap();
        assert!(m.contains_key("we\tird\nname"));
        let cr = parse(&format!("{h}\t5\tends in\r\n{h}\t5\tplain\r\n")).unwrap();
        assert!(
            cr.contains_key("ends in\r") && cr.contains_key("plain\r"),
            "{cr:?}"
        );
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
