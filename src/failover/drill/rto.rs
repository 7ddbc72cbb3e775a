//! The RTO: the stretches without an acknowledged write while the probe ran, and which
//! switchover each belongs to. Pure, for the unit tests.

use serde::Serialize;

use super::{Attempt, Leg};

/// A stretch without acknowledged writes: from the end of the last acknowledged write
/// before it to the end of the first acknowledged write after it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Gap {
    pub from_ms: u64,
    pub to_ms: u64,
    /// Length in ms.
    pub ms: u64,
    /// Length in seconds (ms precision), as reported.
    pub secs: f64,
    /// False when no write was acknowledged after it (the gap lasted until the probe
    /// stopped, so the real unavailability was longer).
    pub recovered: bool,
}

impl Gap {
    pub(super) fn new(from_ms: u64, to_ms: u64, recovered: bool) -> Gap {
        let ms = to_ms.saturating_sub(from_ms);
        Gap {
            from_ms,
            to_ms,
            ms,
            secs: ms as f64 / 1000.0,
            recovered,
        }
    }
}

/// Every stretch between acknowledged writes while the probe ran (`start_ms` to
/// `end_ms`). The first one starts when the probe did; a last one that never ended in an
/// acknowledged write is marked unrecovered. Pure, for the unit tests.
pub fn gaps(attempts: &[Attempt], start_ms: u64, end_ms: u64) -> Vec<Gap> {
    let mut acked: Vec<u64> = attempts
        .iter()
        .filter(|a| a.acked)
        .map(|a| a.end_ms)
        .collect();
    acked.sort_unstable();
    let mut out = Vec::new();
    let mut last = start_ms;
    for end in &acked {
        out.push(Gap::new(last, *end, true));
        last = *end;
    }
    // Writes that failed after the last acknowledged one: unavailable until the end.
    if attempts.iter().any(|a| !a.acked && a.end_ms > last) {
        out.push(Gap::new(last, end_ms.max(last), false));
    }
    out
}

/// The longest gap, overall or among those overlapping `window` (a switchover's span).
pub fn longest(gaps: &[Gap], window: Option<(u64, u64)>) -> Option<Gap> {
    gaps.iter()
        .filter(|g| window.is_none_or(|(from, to)| g.from_ms < to && g.to_ms > from))
        .max_by_key(|g| (g.ms, std::cmp::Reverse(g.from_ms)))
        .copied()
}

/// Each switchover's RTO: the longest gap that belongs to it. A gap belongs to the
/// switchover during which it began (writes stopped then), or, when it began outside
/// every switchover, to the one it overlaps most. `windows` are the switchovers' spans.
pub fn leg_rtos(gaps: &[Gap], windows: &[Option<(u64, u64)>]) -> Vec<Option<Gap>> {
    let mut out: Vec<Option<Gap>> = vec![None; windows.len()];
    let overlap = |g: &Gap, (a, b): (u64, u64)| g.to_ms.min(b).saturating_sub(g.from_ms.max(a));
    for g in gaps {
        let began_in = windows
            .iter()
            .position(|w| w.is_some_and(|(a, b)| g.from_ms >= a && g.from_ms <= b));
        let owner = began_in.or_else(|| {
            windows
                .iter()
                .enumerate()
                .filter_map(|(i, w)| w.map(|w| (i, overlap(g, w))))
                .filter(|(_, o)| *o > 0)
                .max_by_key(|(_, o)| *o)
                .map(|(i, _)| i)
        });
        if let Some(i) = owner
            && out[i].is_none_or(|best| g.ms > best.ms)
        {
            out[i] = Some(*g);
        }
    }
    out
}

/// Measures the probe's log (`start_ms` to `end_ms`): gives each switchover its RTO and
/// the writes refused while it ran, and returns the longest gap of the whole drill.
pub(super) fn measure(
    legs: &mut [Leg],
    attempts: &[Attempt],
    start_ms: u64,
    end_ms: u64,
) -> Option<Gap> {
    let all = gaps(attempts, start_ms, end_ms);
    let windows: Vec<Option<(u64, u64)>> =
        legs.iter().map(|l| l.started_ms.zip(l.ended_ms)).collect();
    for (l, rto) in legs.iter_mut().zip(leg_rtos(&all, &windows)) {
        l.rto = rto;
        if let (Some(s), Some(e)) = (l.started_ms, l.ended_ms) {
            l.refused = attempts
                .iter()
                .filter(|a| !a.acked && a.start_ms >= s && a.start_ms <= e)
                .count() as u64;
        }
    }
    longest(&all, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(n: u64, start_ms: u64, end_ms: u64, acked: bool) -> Attempt {
        Attempt {
            n,
            path: format!("/okm:root/okmirror-drill/x/{n}.txt"),
            start_ms,
            end_ms,
            acked,
            status: if acked { "200".into() } else { "503".into() },
        }
    }

    #[test]
    fn the_rto_runs_from_the_last_acknowledged_write_to_the_end_of_the_next() {
        let attempts = [
            a(0, 1000, 1010, true),
            a(1, 1100, 1110, true),
            a(2, 1200, 1210, false),
            a(3, 1300, 1310, false),
            // This one started in the gap and was acknowledged late: its end counts.
            a(4, 1400, 2450, true),
            a(5, 2500, 2510, true),
        ];
        let g = gaps(&attempts, 990, 2600);
        assert_eq!(g.len(), 4);
        let rto = longest(&g, None).unwrap();
        assert_eq!((rto.from_ms, rto.to_ms, rto.ms), (1110, 2450, 1340));
        assert!(rto.recovered);
        assert_eq!(rto.secs, 1.34);
        // A window that only overlaps the quiet start picks that gap.
        let early = longest(&g, Some((995, 1005))).unwrap();
        assert_eq!((early.from_ms, early.to_ms), (990, 1010));
        // A switchover spanning the outage gets the outage.
        assert_eq!(longest(&g, Some((1150, 1500))), Some(rto));
        assert_eq!(longest(&g, Some((3000, 4000))), None);
    }

    #[test]
    fn writes_that_never_come_back_leave_an_unrecovered_gap_to_the_end() {
        let attempts = [
            a(0, 100, 110, true),
            a(1, 200, 210, false),
            a(2, 300, 310, false),
        ];
        let g = longest(&gaps(&attempts, 50, 1000), None).unwrap();
        assert_eq!((g.from_ms, g.to_ms, g.recovered), (110, 1000, false));
        // Nothing acknowledged at all: one unrecovered gap over the whole probe.
        let none = gaps(&[a(0, 100, 110, false)], 50, 900);
        assert_eq!(none, [Gap::new(50, 900, false)]);
        // A last write acknowledged: the quiet tail is not unavailability.
        assert_eq!(gaps(&[a(0, 100, 110, true)], 50, 900).len(), 1);
        assert!(gaps(&[], 50, 900).is_empty());
    }

    #[test]
    fn each_switchover_gets_the_gap_that_began_during_it() {
        // The first outage ends after the second switchover began (its writes were
        // answered late); it still belongs to the first.
        let g1 = Gap::new(1800, 2800, true);
        let g2 = Gap::new(3100, 4200, true);
        let small = Gap::new(2700, 2800, true);
        let quiet = Gap::new(0, 100, true);
        let w = [Some((1000, 2420)), Some((2421, 3827))];
        assert_eq!(leg_rtos(&[quiet, g1, small, g2], &w), [Some(g1), Some(g2)]);
        // A gap that began before any switchover goes to the one it overlaps most.
        let early = Gap::new(900, 1500, true);
        assert_eq!(leg_rtos(&[early], &w), [Some(early), None]);
        // A switchover that never ran has no window and no RTO.
        assert_eq!(
            leg_rtos(&[g1], &[Some((1000, 2420)), None]),
            [Some(g1), None]
        );
    }

    #[test]
    fn attempts_out_of_order_are_sorted_by_their_end() {
        let attempts = [a(1, 300, 310, true), a(0, 100, 110, true)];
        let g = gaps(&attempts, 0, 400);
        assert_eq!(g, [Gap::new(0, 110, true), Gap::new(110, 310, true)]);
    }

    #[test]
    fn each_switchover_gets_its_rto_and_its_refused_writes() {
        let leg = |started_ms: u64, ended_ms: u64| Leg {
            from: "alpha".into(),
            to: "bravo".into(),
            flow: None,
            error: None,
            started_ms: Some(started_ms),
            ended_ms: Some(ended_ms),
            rto: None,
            refused: 0,
        };
        let mut legs = [leg(1150, 1500), leg(2460, 2600)];
        let attempts = [
            a(0, 1000, 1010, true),
            a(1, 1100, 1110, true),
            a(2, 1200, 1210, false),
            a(3, 1300, 1310, false),
            a(4, 1400, 2450, true),
            a(5, 2500, 2510, false),
            a(6, 2700, 2710, true),
        ];
        let rto = measure(&mut legs, &attempts, 990, 2800);
        assert_eq!(rto, Some(Gap::new(1110, 2450, true)));
        assert_eq!(legs[0].rto, rto);
        assert_eq!(legs[0].refused, 2);
        assert_eq!(legs[1].rto, Some(Gap::new(2450, 2710, true)));
        assert_eq!(legs[1].refused, 1);
    }
}
