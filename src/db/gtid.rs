//! GTID positions of both flavours and how many transactions one is behind another.
//!
//! MariaDB: `domain-server-seq` per domain (`0-1-4711,1-2-5`); sequence numbers grow per
//! domain. MySQL: `uuid:1-100:105,uuid2:1-5` sets of intervals per source UUID.

use std::collections::BTreeMap;

/// Transactions in `main` that `mirror` has not applied yet; `None` when a position
/// cannot be read. Works for either flavour (detected from the text).
pub fn transactions_behind(main: &str, mirror: &str) -> Option<u64> {
    if looks_like_mysql(main) || looks_like_mysql(mirror) {
        let (a, b) = (parse_mysql(main)?, parse_mysql(mirror)?);
        Some(
            a.iter()
                .map(|(uuid, iv)| count_missing(iv, b.get(uuid)))
                .sum(),
        )
    } else {
        let (a, b) = (parse_mariadb(main)?, parse_mariadb(mirror)?);
        Some(
            a.iter()
                .map(|(domain, (_, seq))| {
                    let have = b.get(domain).map_or(0, |(_, s)| *s);
                    seq.saturating_sub(have)
                })
                .sum(),
        )
    }
}

fn looks_like_mysql(s: &str) -> bool {
    s.contains(':')
}

/// MariaDB position: domain -> (server id, sequence).
pub fn parse_mariadb(pos: &str) -> Option<BTreeMap<u32, (u32, u64)>> {
    let mut out = BTreeMap::new();
    for part in pos.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut it = part.split('-');
        let domain = it.next()?.parse().ok()?;
        let server = it.next()?.parse().ok()?;
        let seq = it.next()?.parse().ok()?;
        if it.next().is_some() {
            return None;
        }
        out.insert(domain, (server, seq));
    }
    Some(out)
}

type Intervals = Vec<(u64, u64)>;

/// MySQL GTID set: source UUID -> inclusive intervals.
pub fn parse_mysql(set: &str) -> Option<BTreeMap<String, Intervals>> {
    let mut out: BTreeMap<String, Intervals> = BTreeMap::new();
    for part in set.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut it = part.split(':');
        let uuid = it.next()?.trim().to_ascii_lowercase();
        let entry = out.entry(uuid).or_default();
        for iv in it {
            let (a, b) = match iv.split_once('-') {
                Some((a, b)) => (a.trim().parse().ok()?, b.trim().parse().ok()?),
                None => {
                    let v = iv.trim().parse().ok()?;
                    (v, v)
                }
            };
            if a > b {
                return None;
            }
            entry.push((a, b));
        }
    }
    Some(out)
}

fn count_missing(have: &Intervals, other: Option<&Intervals>) -> u64 {
    let mut total = 0;
    for &(a, b) in have {
        let mut covered = 0;
        for &(c, d) in other.map(Vec::as_slice).unwrap_or(&[]) {
            let (lo, hi) = (a.max(c), b.min(d));
            if lo <= hi {
                covered += hi - lo + 1;
            }
        }
        total += (b - a + 1).saturating_sub(covered);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mariadb_counts_per_domain() {
        assert_eq!(transactions_behind("0-1-2016", "0-1-2016"), Some(0));
        assert_eq!(transactions_behind("0-1-2016", "0-1-2000"), Some(16));
        assert_eq!(transactions_behind("0-1-10,1-3-5", "0-1-10"), Some(5));
        assert_eq!(transactions_behind("0-1-10", ""), Some(10));
        assert_eq!(transactions_behind("0-1-x", "0-1-1"), None);
    }

    #[test]
    fn mysql_counts_missing_intervals() {
        let u = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
        assert_eq!(
            transactions_behind(&format!("{u}:1-100"), &format!("{u}:1-100")),
            Some(0)
        );
        assert_eq!(
            transactions_behind(&format!("{u}:1-100"), &format!("{u}:1-90")),
            Some(10)
        );
        assert_eq!(
            transactions_behind(&format!("{u}:1-100:200-209"), &format!("{u}:1-50:60-100")),
            Some(19)
        );
        assert_eq!(transactions_behind(&format!("{u}:1-5"), ""), Some(5));
    }
}
