//! The doctor's report for people (a table, fixes under each problem) and for scripts.

use std::fmt::Write;

use super::{Report, Verdict};

/// The table: one line per check, its fix indented below it.
pub fn human(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "okmirror doctor: pair {} · {} passed, {} warnings, {} failed",
        r.pair,
        r.count(Verdict::Pass),
        r.count(Verdict::Warn),
        r.count(Verdict::Fail)
    );
    let _ = writeln!(o, "{:<6} {:<18} {:<8} FOUND", "RESULT", "CHECK", "NODE");
    for c in &r.checks {
        let verdict = match c.verdict {
            Verdict::Pass => "ok",
            Verdict::Warn => "WARN",
            Verdict::Fail => "FAIL",
        };
        let _ = writeln!(
            o,
            "{:<6} {:<18} {:<8} {}",
            verdict,
            c.topic.label(),
            c.node.as_deref().unwrap_or("-"),
            c.found
        );
        if let Some(fix) = &c.fix {
            let _ = writeln!(o, "{:<34} fix: {fix}", "");
        }
    }
    o
}

/// The same as JSON, with the exit code it leads to.
pub fn json(r: &Report) -> serde_json::Result<String> {
    let v = serde_json::json!({
        "pair": r.pair,
        "passed": r.count(Verdict::Pass),
        "warnings": r.count(Verdict::Warn),
        "failed": r.count(Verdict::Fail),
        "exit": r.exit_code(),
        "checks": r.checks,
    });
    serde_json::to_string_pretty(&v)
}
