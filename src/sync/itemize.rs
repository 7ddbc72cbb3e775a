//! rsync's itemized changes (`--itemize-changes --out-format='%i %l %n'`, `LC_ALL=C`),
//! parsed into typed changes.
//!
//! A line is an 11-character code `YXcstpoguax`, a space, the size, a space, the name.
//! Y: `<` sent, `>` received, `c` local change, `h` hard link, `.` no content update,
//! `*` message (`*deleting`). X: `f` file, `d` dir, `L` symlink, `D` device, `S` special.
//! All `+` means a new item. Names escape control characters as `\#ooo` (octal).

use serde::Serialize;

/// What happens to a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    New,
    Changed,
    /// Only attributes (permissions, owner, times) differ; no content moves.
    Attributes,
    Deleted,
}

/// What kind of filesystem entry it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryType {
    File,
    Dir,
    Symlink,
    Device,
    Special,
}

/// One pending change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub kind: ChangeKind,
    pub entry: EntryType,
    /// Relative to the synced root; directories end with `/`.
    pub path: String,
    /// Bytes of the source file (0 for deletions: rsync does not report them).
    pub size: u64,
}

/// Parses one line. `Ok(None)` for lines that change nothing worth listing
/// (directory time updates); `Err` for lines that are not itemized output.
pub fn parse_line(line: &str) -> Result<Option<Change>, String> {
    let line = line.trim_end_matches(['\n', '\r']);
    if line.len() < 13 || !line.is_char_boundary(11) {
        return Err(format!("not an itemized line: {line:?}"));
    }
    let (code, rest) = line.split_at(11);
    let rest = rest
        .strip_prefix(' ')
        .ok_or_else(|| format!("no space after the itemize code: {line:?}"))?;
    let (size, name) = rest
        .split_once(' ')
        .ok_or_else(|| format!("no size and name: {line:?}"))?;
    let size: u64 = size
        .parse()
        .map_err(|_| format!("size {size:?} is not a number: {line:?}"))?;
    let path = unescape(name);
    if path.is_empty() {
        return Err(format!("empty name: {line:?}"));
    }
    if code.starts_with("*deleting") {
        let entry = if path.ends_with('/') {
            EntryType::Dir
        } else {
            EntryType::File
        };
        return Ok(Some(Change {
            kind: ChangeKind::Deleted,
            entry,
            path,
            size: 0,
        }));
    }
    let b = code.as_bytes();
    let entry = match b[1] {
        b'f' => EntryType::File,
        b'd' => EntryType::Dir,
        b'L' => EntryType::Symlink,
        b'D' => EntryType::Device,
        b'S' => EntryType::Special,
        _ => return Err(format!("unknown entry type in {code:?}")),
    };
    if !matches!(b[0], b'<' | b'>' | b'c' | b'h' | b'.') {
        return Err(format!("unknown update type in {code:?}"));
    }
    let attrs = &code[2..];
    if !attrs.bytes().all(|c| b".+? cstTpoguUnbax".contains(&c)) {
        return Err(format!("unknown attribute letters in {code:?}"));
    }
    let kind = if attrs.bytes().all(|c| c == b'+') {
        ChangeKind::New
    } else if b[0] == b'.' {
        if entry == EntryType::Dir {
            return Ok(None); // directory attributes/times: noise
        }
        ChangeKind::Attributes
    } else {
        ChangeKind::Changed
    };
    let size = if entry == EntryType::File { size } else { 0 };
    Ok(Some(Change {
        kind,
        entry,
        path,
        size,
    }))
}

/// Undoes rsync's `\#ooo` escapes; anything else is kept as it is.
pub fn unescape(name: &str) -> String {
    if !name.contains("\\#") {
        return name.to_string();
    }
    let b = name.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 4 < b.len()
            && b.get(i + 1) == Some(&b'#')
            && b[i + 2..i + 5].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 2] - b'0') as u32 * 64
                + (b[i + 3] - b'0') as u32 * 8
                + (b[i + 4] - b'0') as u32;
            if let Ok(byte) = u8::try_from(v) {
                out.push(byte);
                i += 5;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from rsync 3.2/3.5 (`LC_ALL=C rsync -a --delete -n -i --out-format='%i %l %n'`):
    /// a push over ssh shows `<`, a local copy `>`.
    const SAMPLE: &str = "\
*deleting   0 olddir/f
*deleting   0 olddir/
*deleting   0 a/gone.txt
>f.s....... 8 a/chg
cL+++++++++ 1 a/link
>f+++++++++ 3 a/we ird\\#012name.txt
cd+++++++++ 4096 a/b/
<f+++++++++ 2048 repository/datastore/5e/0b/2a/91/5e0b2a91-7c1e-4b7e-9a43-0f1b2c3d4e5f
.d..t...... 4096 repository/
<f..t...... 10 a/touched
.f...p..... 10 a/perms
";

    #[test]
    fn parses_every_kind_of_line() {
        let parsed: Vec<Option<Change>> = SAMPLE.lines().map(|l| parse_line(l).unwrap()).collect();
        let c = |kind, entry, path: &str, size| {
            Some(Change {
                kind,
                entry,
                path: path.into(),
                size,
            })
        };
        use ChangeKind::*;
        use EntryType::*;
        assert_eq!(
            parsed,
            vec![
                c(Deleted, File, "olddir/f", 0),
                c(Deleted, Dir, "olddir/", 0),
                c(Deleted, File, "a/gone.txt", 0),
                c(Changed, File, "a/chg", 8),
                c(New, Symlink, "a/link", 0),
                c(New, File, "a/we ird\nname.txt", 3),
                c(New, Dir, "a/b/", 0),
                c(
                    New,
                    File,
                    "repository/datastore/5e/0b/2a/91/5e0b2a91-7c1e-4b7e-9a43-0f1b2c3d4e5f",
                    2048
                ),
                None,
                c(Changed, File, "a/touched", 10),
                c(Attributes, File, "a/perms", 10),
            ]
        );
    }

    #[test]
    fn rejects_what_is_not_itemized() {
        assert!(parse_line("sending incremental file list").is_err());
        assert!(parse_line("").is_err());
        assert!(parse_line(">fxyz...... 1 a").is_err());
        assert!(parse_line(">f+++++++++ x a").is_err());
        assert!(parse_line("?f+++++++++ 1 a").is_err());
    }

    #[test]
    fn unescapes_octal_and_keeps_the_rest() {
        assert_eq!(unescape("a\\#011b"), "a\tb");
        assert_eq!(unescape("caf\\#303\\#251"), "café");
        assert_eq!(unescape("no\\#escape\\#9"), "no\\#escape\\#9");
        assert_eq!(unescape("back\\slash"), "back\\slash");
    }
}
