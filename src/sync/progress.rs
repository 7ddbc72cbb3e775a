//! Following a real rsync run: its output read as a stream split on `\r` and `\n`
//! (`LC_ALL=C`, `--out-format='%i %l %n'`, `--info=progress1`), turned into per-file and
//! overall progress. Totals come from the plan, since rsync's own are per file.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::itemize::{Change, ChangeKind, parse_line};
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
    /// Every file of the run with its own times and end state, shared by the tracker's
    /// clones: a view that missed updates still finds every file there.
    pub files: FileLog,
    /// When the latest line was taken in (the moving file's rate is measured to it).
    pub last_at: Option<Instant>,
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

    /// Takes one parsed line into account, as read now.
    pub fn update(&mut self, line: &RunLine) {
        self.update_at(line, Instant::now());
    }

    /// Takes one parsed line into account, as read at `at`.
    pub fn update_at(&mut self, line: &RunLine, at: Instant) {
        self.last_at = Some(at);
        match line {
            RunLine::Item(c) if c.kind == ChangeKind::Deleted => {
                self.deleted += 1;
                self.files
                    .push(FileRecord::starting(c, FileState::Deleted, at));
            }
            RunLine::Item(c) if c.entry == super::EntryType::File => {
                self.close_current(at, FileState::NotSent);
                self.files
                    .push(FileRecord::starting(c, FileState::Moving, at));
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
                    self.close_current(at, FileState::Copied);
                }
            }
            _ => {}
        }
        self.bytes_done = self.finished_bytes + self.current_bytes;
    }

    /// The current file ends, `Copied` when rsync said it sent it whole, `NotSent` when
    /// rsync went on without saying so.
    fn close_current(&mut self, at: Instant, state: FileState) {
        if let Some((_, size)) = self.current.take() {
            self.files.close_moving(self.current_bytes, state, at);
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

/// What became of a file a transfer named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileState {
    /// rsync is sending it.
    Moving,
    /// rsync reported it sent whole (its `xfr#` line).
    Copied,
    /// rsync went on to the next item without sending it: only its attributes changed,
    /// or it vanished from the source.
    NotSent,
    /// Deleted on the target.
    Deleted,
}

/// One file of a transfer, with its own start and end: its rate is its own bytes over
/// its own time, never an average over the run.
#[derive(Debug, Clone, PartialEq)]
pub struct FileRecord {
    pub path: String,
    pub kind: ChangeKind,
    /// Its size as itemized (0 for a deletion).
    pub size: u64,
    /// Bytes rsync reported for it when it ended.
    pub bytes: u64,
    pub state: FileState,
    pub started: Instant,
    pub ended: Option<Instant>,
}

/// Below this a file's own time says nothing about a rate (its lines came in one read).
pub const MIN_RATE_TIME: Duration = Duration::from_millis(10);

impl FileRecord {
    fn starting(c: &Change, state: FileState, at: Instant) -> FileRecord {
        let done = state == FileState::Deleted;
        FileRecord {
            path: c.path.clone(),
            kind: c.kind,
            size: c.size,
            bytes: 0,
            state,
            started: at,
            ended: done.then_some(at),
        }
    }

    /// `bytes` over the time from its start to `until`, in bytes per second; `None`
    /// when that time is too short to measure.
    pub fn rate_until(&self, bytes: u64, until: Instant) -> Option<f64> {
        let took = until.saturating_duration_since(self.started);
        (took >= MIN_RATE_TIME).then(|| bytes as f64 / took.as_secs_f64())
    }

    /// The rate of a file that ended, over its own time.
    pub fn rate(&self) -> Option<f64> {
        self.ended.and_then(|end| self.rate_until(self.bytes, end))
    }
}

/// Most files a log keeps (some 150 bytes each); past it files are only counted.
pub const FILE_LOG_MAX: usize = 1_000_000;

/// The files a tracker saw, in order, shared by all its clones: the updates sent to a
/// view are lossy on purpose, this list is not. Counts of what was copied are kept
/// with it, so a view that missed the last update still ends on the real totals.
#[derive(Clone, Default)]
pub struct FileLog(Arc<Mutex<LogInner>>);

/// Its counts, not its (maybe million) records.
impl std::fmt::Debug for FileLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FileLog({:?})", self.counts())
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
struct LogInner {
    records: Vec<FileRecord>,
    copied: u64,
    copied_bytes: u64,
    /// Files past `FILE_LOG_MAX`, counted but not kept.
    unlisted: u64,
    /// The record of the file moving now (a deletion may be listed after it).
    moving: Option<usize>,
}

/// What a log counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogCounts {
    pub listed: usize,
    pub copied: u64,
    pub copied_bytes: u64,
    pub unlisted: u64,
}

impl FileLog {
    fn inner(&self) -> std::sync::MutexGuard<'_, LogInner> {
        // The lock is only held to copy or append: a panic elsewhere leaves it whole.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, r: FileRecord) {
        let mut l = self.inner();
        if l.records.len() < FILE_LOG_MAX {
            if r.state == FileState::Moving {
                l.moving = Some(l.records.len());
            }
            l.records.push(r);
        } else {
            l.unlisted += 1;
        }
    }

    /// The moving file ended in `state` after `bytes`.
    fn close_moving(&self, bytes: u64, state: FileState, at: Instant) {
        let mut l = self.inner();
        if state == FileState::Copied {
            l.copied += 1;
            l.copied_bytes += bytes;
        }
        if let Some(i) = l.moving.take()
            && let Some(r) = l.records.get_mut(i)
        {
            r.bytes = bytes;
            r.state = state;
            r.ended = Some(at);
        }
    }

    /// The counts so far.
    pub fn counts(&self) -> LogCounts {
        let l = self.inner();
        LogCounts {
            listed: l.records.len(),
            copied: l.copied,
            copied_bytes: l.copied_bytes,
            unlisted: l.unlisted,
        }
    }

    /// Copies of the records in `range` (clamped to what the log holds).
    pub fn records(&self, range: std::ops::Range<usize>) -> Vec<FileRecord> {
        let l = self.inner();
        let end = range.end.min(l.records.len());
        l.records
            .get(range.start.min(end)..end)
            .map_or_else(Vec::new, <[FileRecord]>::to_vec)
    }

    /// Whether both are the same log (clones of one tracker).
    pub fn same(&self, other: &FileLog) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl PartialEq for FileLog {
    fn eq(&self, other: &FileLog) -> bool {
        if self.same(other) {
            return true;
        }
        let mine = self.inner().clone();
        mine == *other.inner()
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

    #[test]
    fn the_log_lists_every_file_with_its_own_times_and_end() {
        let t0 = Instant::now();
        let mut t = Tracker::default();
        let watcher = t.clone();
        let lines = [
            (0, ">f+++++++++ 2000000 a"),
            (20, "         65,536   3%   61.40kB/s    0:00:30"),
            // A deletion reported while `a` moves does not end `a`.
            (30, "*deleting   0 old"),
            (
                1000,
                "      2,000,000 100%    1.91MB/s    0:00:01 (xfr#1, to-chk=2/3)",
            ),
            (1000, ">f..t...... 10 attrs-only"),
            (1001, ">f+++++++++ 6 small"),
            (
                1001,
                "              6 100%    0.00kB/s    0:00:00 (xfr#2, to-chk=0/3)",
            ),
        ];
        for (ms, l) in lines {
            t.update_at(&parse_run_line(l), t0 + Duration::from_millis(ms));
        }
        // The clone handed out before any of it sees it all.
        let all = watcher.files.records(0..10);
        let states: Vec<_> = all.iter().map(|r| (r.path.as_str(), r.state)).collect();
        assert_eq!(
            states,
            [
                ("a", FileState::Copied),
                ("old", FileState::Deleted),
                ("attrs-only", FileState::NotSent),
                ("small", FileState::Copied),
            ]
        );
        // Its own bytes over its own second, not rsync's first guess (61.4 kB/s).
        assert_eq!(all[0].rate(), Some(2_000_000.0));
        assert_eq!(all[3].rate(), None, "too quick to measure");
        let c = watcher.files.counts();
        assert_eq!((c.listed, c.copied, c.copied_bytes), (4, 2, 2_000_006));
        assert_eq!(t.last_at, Some(t0 + Duration::from_millis(1001)));
        assert!(watcher.files.same(&t.files) && watcher.files == t.files);
        assert!(!Tracker::default().files.same(&t.files));
    }
}
