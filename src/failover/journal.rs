//! The flow journal: one JSON line per event, appended and synced to disk before and
//! after every step acts, so a console killed mid-flow (or a lost SSH session) loses
//! nothing. It is the one source for the checklist, the CLI output and drill reports.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use color_eyre::eyre::{Result, WrapErr, eyre};
use serde::{Deserialize, Serialize};

/// One journal line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Entry {
    /// A flow began: what, between which nodes, and its steps (ids) in order.
    Flow {
        id: String,
        kind: super::FlowKind,
        from: String,
        to: String,
        steps: Vec<String>,
        at_ms: u64,
    },
    /// A step is about to act.
    Start { step: String, at_ms: u64 },
    /// A step finished (`ok`), with what it did or why it failed.
    Done {
        step: String,
        ok: bool,
        output: String,
        at_ms: u64,
    },
    /// The flow ended: completed, failed (and rolled back or not), or abandoned.
    End { outcome: super::Outcome, at_ms: u64 },
}

/// Milliseconds since the epoch (journal time).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// An open journal file.
pub struct Journal {
    pub path: PathBuf,
    file: File,
    pub entries: Vec<Entry>,
}

impl Journal {
    /// Starts a new journal for a flow in `dir`.
    pub fn create(dir: &Path, first: Entry) -> Result<Journal> {
        std::fs::create_dir_all(dir).wrap_err_with(|| format!("creating {}", dir.display()))?;
        let Entry::Flow { id, .. } = &first else {
            return Err(eyre!("a journal starts with its flow"));
        };
        let path = dir.join(format!("{id}.jsonl"));
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .wrap_err_with(|| format!("creating the journal {}", path.display()))?;
        let mut j = Journal {
            path,
            file,
            entries: Vec::new(),
        };
        j.append(first)?;
        Ok(j)
    }

    /// Reopens a journal to continue its flow.
    pub fn open(path: &Path) -> Result<Journal> {
        let entries = read(path)?;
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .wrap_err_with(|| format!("opening the journal {}", path.display()))?;
        Ok(Journal {
            path: path.to_path_buf(),
            file,
            entries,
        })
    }

    /// Appends one entry and syncs it to disk before returning.
    pub fn append(&mut self, e: Entry) -> Result<()> {
        let mut line = serde_json::to_string(&e)?;
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.sync_data())
            .wrap_err_with(|| format!("writing the journal {}", self.path.display()))?;
        self.entries.push(e);
        Ok(())
    }

    /// The steps that finished successfully.
    pub fn done_steps(&self) -> Vec<String> {
        done_steps(&self.entries)
    }
}

/// Reads a journal. A torn last line (a crash mid-write) is ignored; any other bad line
/// is an error naming the file and line.
pub fn read(path: &Path) -> Result<Vec<Entry>> {
    let f = File::open(path).wrap_err_with(|| format!("reading {}", path.display()))?;
    let lines: Vec<String> = BufReader::new(f)
        .lines()
        .collect::<std::io::Result<_>>()
        .wrap_err_with(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if l.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(l) {
            Ok(e) => out.push(e),
            Err(_) if i + 1 == lines.len() => break,
            Err(e) => {
                return Err(eyre!(
                    "{}:{}: not a journal entry: {e}",
                    path.display(),
                    i + 1
                ));
            }
        }
    }
    Ok(out)
}

/// Steps with a successful `Done`.
pub fn done_steps(entries: &[Entry]) -> Vec<String> {
    entries
        .iter()
        .filter_map(|e| match e {
            Entry::Done { step, ok: true, .. } => Some(step.clone()),
            _ => None,
        })
        .collect()
}

/// Whether the flow has ended.
pub fn ended(entries: &[Entry]) -> bool {
    entries.iter().any(|e| matches!(e, Entry::End { .. }))
}

/// The unfinished flow: the newest journal in `dir` whose flow has not ended. Every
/// face (resume, rollback, abandon, the console's offer, the refusal of a new flow)
/// asks this one question, so they can never pick different journals.
pub fn unfinished_flow(dir: &Path) -> Result<Option<PathBuf>> {
    Ok(unfinished(dir)?.pop())
}

/// The journals in `dir` whose flow has not ended (newest last).
pub fn unfinished(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Ok(out);
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "jsonl") && !ended(&read(&p)?) {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow() -> Entry {
        Entry::Flow {
            id: "20261129T100000-switchover".into(),
            kind: super::super::FlowKind::Switchover,
            from: "alpha".into(),
            to: "bravo".into(),
            steps: vec!["preflight".into(), "freeze".into()],
            at_ms: 1,
        }
    }

    #[test]
    fn a_journal_survives_reopening_and_knows_what_is_done() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::create(dir.path(), flow()).unwrap();
        j.append(Entry::Start {
            step: "preflight".into(),
            at_ms: 2,
        })
        .unwrap();
        j.append(Entry::Done {
            step: "preflight".into(),
            ok: true,
            output: "ok".into(),
            at_ms: 3,
        })
        .unwrap();
        j.append(Entry::Start {
            step: "freeze".into(),
            at_ms: 4,
        })
        .unwrap();
        let path = j.path.clone();
        drop(j);
        assert_eq!(unfinished(dir.path()).unwrap(), std::slice::from_ref(&path));
        let mut j = Journal::open(&path).unwrap();
        assert_eq!(j.done_steps(), ["preflight"]);
        j.append(Entry::End {
            outcome: super::super::Outcome::Completed,
            at_ms: 5,
        })
        .unwrap();
        assert!(unfinished(dir.path()).unwrap().is_empty());
    }

    #[test]
    fn a_torn_last_line_is_ignored_but_a_bad_middle_line_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::create(dir.path(), flow()).unwrap();
        let path = j.path.clone();
        drop(j);
        std::fs::write(
            &path,
            format!(
                "{}\n{{\"event\":\"sta",
                std::fs::read_to_string(&path).unwrap().trim()
            ),
        )
        .unwrap();
        assert_eq!(read(&path).unwrap().len(), 1);
        std::fs::write(
            &path,
            format!("garbage\n{}\n", serde_json::to_string(&flow()).unwrap()),
        )
        .unwrap();
        let e = read(&path).unwrap_err().to_string();
        assert!(e.contains(":1: not a journal entry"), "{e}");
    }
}
