//! Numbers as people read them; shared by the console and the CLI.

/// `4.1 MiB`, `512 B`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// `850 ms`, `12.3 s`, `4 min`, `3.2 h`, `5.0 d`.
pub fn duration_secs(s: f64) -> String {
    if s < 1.0 {
        format!("{:.0} ms", s * 1000.0)
    } else if s < 60.0 {
        format!("{s:.1} s")
    } else if s < 3600.0 {
        format!("{:.0} min", s / 60.0)
    } else if s < 86400.0 {
        format!("{:.1} h", s / 3600.0)
    } else {
        format!("{:.1} d", s / 86400.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humane_numbers() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(4_300_000), "4.1 MiB");
        assert_eq!(duration_secs(0.0123), "12 ms");
        assert_eq!(duration_secs(12.34), "12.3 s");
        assert_eq!(duration_secs(7200.0), "2.0 h");
    }
}
