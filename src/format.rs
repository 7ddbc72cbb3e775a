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

/// Masks what looks like a secret in a text that leaves the process (a journal, a
/// report, an error echoing SQL or a command): the value after `password`, `passwd`,
/// `pwd`, `secret`, `token`, `IDENTIFIED BY`, `MASTER_PASSWORD` / `SOURCE_PASSWORD`,
/// and the user-info part of a URL, become `***`.
pub fn mask_secrets(text: &str) -> String {
    use std::sync::LazyLock;
    static KEYED: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(
            r#"(?i)((?:[a-z_-]*password|passwd|pwd|secret|token|identified\s+by)\s*(?:[=:]\s*|\s+))('[^']*'|"[^"]*"|[^\s'",;)]+)"#,
        )
        .expect("a valid pattern")
    });
    static URL: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r"(?i)([a-z][a-z0-9+.-]*://[^/\s:@]+:)[^@\s/]+@")
            .expect("a valid pattern")
    });
    let s = KEYED.replace_all(text, "${1}***");
    URL.replace_all(&s, "${1}***@").into_owned()
}

/// A time (ms since the epoch) in UTC, by a strftime pattern; `?` out of range.
pub fn utc_ms(ms: u64, pattern: &str) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .map_or_else(|| "?".into(), |t| t.strftime(pattern).to_string())
}

/// `HH:MM:SSZ` of a Unix time (the console's "at" times).
pub fn clock(unix: u64) -> String {
    utc_ms(unix.saturating_mul(1000), "%H:%M:%SZ")
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

    #[test]
    fn secrets_are_masked_in_commands_sql_and_urls() {
        assert_eq!(
            mask_secrets(
                "CHANGE MASTER TO MASTER_USER='repl', MASTER_PASSWORD='s3 cr;t', MASTER_PORT=3306"
            ),
            "CHANGE MASTER TO MASTER_USER='repl', MASTER_PASSWORD=***, MASTER_PORT=3306"
        );
        assert_eq!(
            mask_secrets("/usr/local/bin/fence --password hunter2 {node}"),
            "/usr/local/bin/fence --password ***".to_string() + " {node}"
        );
        assert_eq!(
            mask_secrets("ALTER USER x IDENTIFIED BY \"abc\""),
            "ALTER USER x IDENTIFIED BY ***"
        );
        assert_eq!(
            mask_secrets("curl https://admin:pa55@dns.example/api token=XYZ"),
            "curl https://admin:***@dns.example/api token=***"
        );
        assert_eq!(mask_secrets("nothing to hide here"), "nothing to hide here");
    }
}
