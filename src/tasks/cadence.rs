//! How often the console probes: every `interval_secs` while someone is at it or the
//! pair is critical or unknown, and every `idle_interval_secs` once nobody has pressed a
//! key for `idle_after_secs` and the pair is OK or only warned about (a warning such as
//! an old last sync can last for days). An unattended console then costs the main next
//! to nothing; a key probes at once and brings the fast cadence back.

use std::time::{Duration, Instant};

use crate::config::MonitorConfig;
use crate::pair::model::Severity;

/// The poller's clock: when the operator last did something, and the two cadences.
#[derive(Debug, Clone)]
pub struct Cadence {
    busy: Duration,
    idle: Option<(Duration, Duration)>,
    last_key: Instant,
}

impl Cadence {
    /// From `[monitor]`; `idle_interval_secs = 0` keeps the fast cadence always.
    pub fn new(m: &MonitorConfig, now: Instant) -> Cadence {
        let busy = Duration::from_secs(m.interval_secs.max(1));
        let idle = (m.idle_interval_secs > 0).then(|| {
            (
                Duration::from_secs(m.idle_after_secs),
                Duration::from_secs(m.idle_interval_secs).max(busy),
            )
        });
        Cadence {
            busy,
            idle,
            last_key: now,
        }
    }

    /// The operator pressed a key.
    pub fn key(&mut self, now: Instant) {
        self.last_key = now;
    }

    /// Whether the console counts as idle at `now` with the pair at `severity`.
    pub fn idle(&self, severity: Severity, now: Instant) -> bool {
        match self.idle {
            Some((after, _)) => {
                severity <= Severity::Warning && now.duration_since(self.last_key) >= after
            }
            None => false,
        }
    }

    /// The wait before the next probe.
    pub fn wait(&self, severity: Severity, now: Instant) -> Duration {
        match self.idle {
            Some((_, every)) if self.idle(severity, now) => every,
            _ => self.busy,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn monitor(interval: u64, after: u64, idle: u64) -> MonitorConfig {
        MonitorConfig {
            interval_secs: interval,
            idle_after_secs: after,
            idle_interval_secs: idle,
            ..MonitorConfig::default()
        }
    }

    #[test]
    fn an_unattended_console_slows_down_only_while_nothing_is_critical() {
        let t0 = Instant::now();
        let mut c = Cadence::new(&monitor(2, 60, 10), t0);
        let s = Duration::from_secs;
        assert_eq!(c.wait(Severity::Ok, t0 + s(59)), s(2));
        assert_eq!(c.wait(Severity::Ok, t0 + s(60)), s(10));
        assert!(c.idle(Severity::Ok, t0 + s(61)));
        // A lasting warning keeps it slow; anything critical or unknown, fast.
        assert_eq!(c.wait(Severity::Warning, t0 + s(61)), s(10));
        assert_eq!(c.wait(Severity::Critical, t0 + s(61)), s(2));
        assert!(!c.idle(Severity::Unknown, t0 + s(61)));
        // A key brings it back.
        c.key(t0 + s(70));
        assert_eq!(c.wait(Severity::Ok, t0 + s(71)), s(2));
        assert_eq!(c.wait(Severity::Ok, t0 + s(130)), s(10));
    }

    #[test]
    fn zero_keeps_the_fast_cadence_and_idle_is_never_faster() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let off = Cadence::new(&monitor(2, 60, 0), t0);
        assert_eq!(off.wait(Severity::Ok, t0 + s(3600)), s(2));
        assert!(!off.idle(Severity::Ok, t0 + s(3600)));
        let slow = Cadence::new(&monitor(30, 60, 10), t0);
        assert_eq!(slow.wait(Severity::Ok, t0 + s(3600)), s(30));
    }
}
