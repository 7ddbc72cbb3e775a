//! Maps a key path such as `node[1].ssh.port` to its line and column in the source.

use toml::de::{DeTable, DeValue};

/// A 1-based line and column.
pub type Position = (usize, usize);

/// Where `path` is in `text`: the key itself when found, else the deepest part found.
pub fn position_of(text: &str, path: &str) -> Position {
    let Ok(doc) = DeTable::parse(text) else {
        return (1, 1);
    };
    let mut offset = 0usize;
    let mut table: Option<&DeTable> = Some(doc.get_ref());
    let mut value: Option<&DeValue> = None;
    for seg in segments(path) {
        match seg {
            Segment::Key(k) => {
                let Some(t) = table.take().or(match value {
                    Some(DeValue::Table(t)) => Some(t),
                    _ => None,
                }) else {
                    break;
                };
                let Some((key, v)) = t.iter().find(|(key, _)| key.get_ref().as_ref() == k) else {
                    break;
                };
                offset = key.span().start;
                value = Some(v.get_ref());
            }
            Segment::Index(i) => {
                let Some(DeValue::Array(items)) = value else {
                    break;
                };
                let Some(item) = items.get(i) else {
                    break;
                };
                offset = item.span().start;
                value = Some(item.get_ref());
                table = None;
            }
        }
    }
    line_col(text, offset)
}

/// The 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> Position {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

fn segments(path: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (name, rest) = part.split_once('[').unwrap_or((part, ""));
        if !name.is_empty() {
            out.push(Segment::Key(name));
        }
        for idx in rest.split('[') {
            if let Ok(i) = idx.trim_end_matches(']').parse() {
                out.push(Segment::Index(i));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_keys_in_arrays_of_tables() {
        let text = "pair = \"x\"\n\n[[node]]\nname = \"a\"\n\n[[node]]\nname = \"b\"\n[node.ssh]\n  port = 22\n";
        assert_eq!(position_of(text, "pair"), (1, 1));
        assert_eq!(position_of(text, "node[1].name"), (7, 1));
        assert_eq!(position_of(text, "node[1].ssh.port"), (9, 3));
        // Unknown tail: the deepest known part.
        assert_eq!(
            position_of(text, "node[1].ssh.nothere"),
            (9, 3).min(position_of(text, "node[1].ssh"))
        );
    }

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("", 0), (1, 1));
    }
}
