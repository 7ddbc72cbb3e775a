//! Following a real rsync run: its output read as a stream split on `\r` and `\n`
//! (`LC_ALL=C`, `--out-format='%i %l %n'`, `--info=progress1`), turned into per-file and
//! overall progress. Totals come from the plan, since rsync's own are per file.

use std::time::Duration;

use super::itemize::{Change, parse_line};
use super::plan::PlanTotals;

/// One line of a running transfer.
#[derive(Debug, Clone, PartialEq)]
pub enum RunLine {
    /// An itemized file or deletion (printed before the file moves).
    Item(Change),
    /// A progress update for the current file.
    Progress(Progress),
    /// Anything else (warnings, errors): kept for the log.
    Other(String),
}

/// rsync's progress for the file being moved.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub bytes: u64,
    pub percent: u8,
    /// Bytes per second.
    pub rate: f64,
    /// Set on the file's last update: `(xfr#N, to-chk=R/T)`.
    pub finished: bool,
}

/// Parses one line; directory-only noise lines are `Other("")`.
pub fn parse_run_line(line: &str) -> RunLine {
    let t = line.trim();
    if let Some(p) = parse_progress(t) {
        return RunLine::Progress(p);
    }
    match parse_line(line) {
        Ok(Some(c)) => RunLine::Item(c),
        Ok(None) => RunLine::Other(String::new()),
        Err(_) => RunLine::Other(line.to_string()),
    }
}

fn parse_progress(t: &str) -> Option<Progress> {
    let mut it = t.split_whitespace();
    let bytes: u64 = it.next()?.replace(',', "").parse().ok()?;
    let percent: u8 = it.next()?.strip_suffix('%')?.parse().ok()?;
    let rate = parse_rate(it.next()?)?;
    let _eta = it.next()?;
    let finished = t.contains("xfr#");
    Some(Progress {
        bytes,
        percent,
        rate,
        finished,
    })
}

fn parse_rate(s: &str) -> Option<f64> {
    let (num, mult) = if let Some(n) = s.strip_suffix("GB/s") {
        (n, 1024.0 * 1024.0 * 1024.0)
    } else if let Some(n) = s.strip_suffix("MB/s") {
        (n, 1024.0 * 1024.0)
    } else if let Some(n) = s.strip_suffix("kB/s") {
        (n, 1024.0)
    } else if let Some(n) = s.strip_suffix("B/s") {
        (n, 1.0)
    } else {
        return None;
    };
    num.replace(',', "").parse::<f64>().ok().map(|v| v * mult)
}

/// Overall progress of a run against its plan.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tracker {
    pub total_files: u64,
    pub total_bytes: u64,
    pub files_done: u64,
    /// Bytes of finished files plus the current file's progress.
    pub bytes_done: u64,
    pub deleted: u64,
    pub current: Option<(String, u64)>,
    pub current_bytes: u64,
    pub current_rate: f64,
    /// Files started so far, and the names of the last `RECENT` of them (oldest first):
    /// a view that missed some updates still lists every file it can.
    pub started: u64,
    pub recent: std::collections::VecDeque<String>,
    finished_bytes: u64,
}

/// How many started files a tracker names.
pub const RECENT: usize = 32;

impl Tracker {
    /// Starts from a plan's totals.
    pub fn new(plan: &PlanTotals) -> Tracker {
        Tracker {
            total_files: plan.new_files + plan.changed_files,
            total_bytes: plan.bytes(),
            ..Tracker::default()
        }
    }

    /// Counts one more plan's work in (a flow's live and final copies share a tracker).
    pub fn add_plan(&mut self, plan: &PlanTotals) {
        self.total_files += plan.new_files + plan.changed_files;
        self.total_bytes += plan.bytes();
    }

    /// Takes one parsed line into account.
    pub fn update(&mut self, line: &RunLine) {
        match line {
            RunLine::Item(c) if c.kind == super::ChangeKind::Deleted => self.deleted += 1,
            RunLine::Item(c) if c.entry == super::EntryType::File => {
                self.close_current();
                self.current = Some((c.path.clone(), c.size));
                self.current_bytes = 0;
                self.started += 1;
                if self.recent.len() == RECENT {
                    self.recent.pop_front();
                }
                self.recent.push_back(c.path.clone());
            }
            RunLine::Progress(p) => {
                self.current_bytes = p.bytes;
                self.current_rate = p.rate;
                if p.finished {
                    self.close_current();
                }
            }
            _ => {}
        }
        self.bytes_done = self.finished_bytes + self.current_bytes;
    }

    fn close_current(&mut self) {
        if let Some((_, size)) = self.current.take() {
            self.files_done += 1;
            self.finished_bytes += size;
            self.current_bytes = 0;
        }
    }

    /// Share of the planned bytes moved, in 0..=1 (safe for gauges, also for empty plans).
    pub fn ratio(&self) -> f64 {
        if self.total_bytes == 0 {
            return if self.files_done >= self.total_files {
                1.0
            } else {
                0.0
            };
        }
        (self.bytes_done as f64 / self.total_bytes as f64).clamp(0.0, 1.0)
    }

    /// Time left at the overall rate so far.
    pub fn eta(&self, elapsed: Duration) -> Option<Duration> {
        let secs = elapsed.as_secs_f64();
        if self.bytes_done == 0 || secs <= 0.0 {
            return None;
        }
        let rate = self.bytes_done as f64 / secs;
        let left = self.total_bytes.saturating_sub(self.bytes_done) as f64;
        Some(Duration::from_secs_f64(left / rate))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from rsync 3.5 (`LC_ALL=C rsync -a --out-format='%i %l %n'
    /// --info=progress1,name0`), split on `\r` and `\n` as the stream reader does.
    const SAMPLE: &[&str] = &[
        ">f+++++++++ 6 small",
        "              6 100%    0.00kB/s    0:00:00",
        "              6 100%    0.00kB/s    0:00:00 (xfr#1, to-chk=2/4)",
        "cd+++++++++ 4096 d/",
        ">f+++++++++ 30000000 d/big",
        "         32,768   0%   15.62MB/s    0:00:01",
        "     20,971,520  69%   19.49MB/s    0:00:00",
        "     30,000,000 100%   19.40MB/s    0:00:01 (xfr#2, to-chk=0/4)",
        "*deleting   0 old",
    ];

    #[test]
    fn parses_progress_lines() {
        assert_eq!(
            parse_run_line(SAMPLE[6]),
            RunLine::Progress(Progress {
                bytes: 20_971_520,
                percent: 69,
                rate: 19.49 * 1024.0 * 1024.0,
                finished: false
            })
        );
        assert!(matches!(
            parse_run_line(SAMPLE[7]),
            RunLine::Progress(Progress { finished: true, .. })
        ));
        assert!(matches!(parse_run_line(SAMPLE[0]), RunLine::Item(_)));
        assert_eq!(
            parse_run_line(
                "rsync: [sender] send_files failed to open \"x\": Permission denied (13)"
            ),
            RunLine::Other(
                "rsync: [sender] send_files failed to open \"x\": Permission denied (13)".into()
            )
        );
    }

    #[test]
    fn tracks_a_run_against_its_plan() {
        let plan = PlanTotals {
            new_files: 2,
            new_bytes: 30_000_006,
            ..PlanTotals::default()
        };
        let mut t = Tracker::new(&plan);
        for (i, l) in SAMPLE.iter().enumerate() {
            t.update(&parse_run_line(l));
            if i == 6 {
                assert_eq!(t.files_done, 1);
                assert_eq!(t.bytes_done, 6 + 20_971_520);
                assert_eq!(t.current.as_ref().map(|c| c.0.as_str()), Some("d/big"));
                assert!(t.ratio() > 0.69 && t.ratio() < 0.71);
            }
        }
        assert_eq!(t.files_done, 2);
        assert_eq!(t.bytes_done, 30_000_006);
        assert_eq!(t.deleted, 1);
        assert_eq!(t.ratio(), 1.0);
        assert_eq!(t.eta(Duration::from_secs(2)), Some(Duration::ZERO));
    }

    #[test]
    fn ratio_is_safe_for_gauges() {
        let t = Tracker::new(&PlanTotals::default());
        assert_eq!(t.ratio(), 1.0);
        assert_eq!(t.eta(Duration::ZERO), None);
    }
}
