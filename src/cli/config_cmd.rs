//! `okmirror config check`: everything that can be checked without touching a node.

use std::path::Path;
use std::process::ExitCode;

use color_eyre::eyre::Result;

use crate::config;

/// Validates the file and the local secret sources; prints what it found.
pub fn check(path: &Path) -> Result<ExitCode> {
    let cfg = match config::load_file(path) {
        Ok(c) => c,
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!(
                "config check: {} problem(s) in {}",
                errors.0.len(),
                path.display()
            );
            return Ok(ExitCode::from(1));
        }
    };
    let mut problems = Vec::new();
    for n in &cfg.nodes {
        let sources = [
            ("http", n.http.password_source()),
            ("database", n.database.password_source()),
        ];
        for (section, source) in sources {
            if let Err(m) = source.map_err(str::to_string).and_then(|s| s.resolve()) {
                problems.push(format!(
                    "{}: node {}: {section} password: {m}",
                    path.display(),
                    n.name
                ));
            }
        }
        for (key, file) in [
            ("ssh.identity_file", &n.ssh.identity_file),
            ("ssh.known_hosts_file", &n.ssh.known_hosts_file),
        ] {
            if let Some(f) = file
                && !f.is_file()
            {
                problems.push(format!(
                    "{}: node {}: {key}: {} does not exist",
                    path.display(),
                    n.name,
                    f.display()
                ));
            }
        }
    }
    for w in config::warnings(&cfg) {
        println!("warning: {w}");
    }
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("{p}");
        }
        eprintln!(
            "config check: {} problem(s) in {}",
            problems.len(),
            path.display()
        );
        return Ok(ExitCode::from(1));
    }
    println!("{}: OK (pair {:?})", path.display(), cfg.pair);
    for n in &cfg.nodes {
        println!(
            "  node {:<12} ssh {}@{}:{}  db {}@{}:{}/{}{}",
            n.name,
            n.ssh.user,
            n.ssh.host,
            n.ssh.port,
            n.database.user,
            n.database.host,
            n.database.port,
            n.database.schema,
            if n.database.tunnel { " (tunnel)" } else { "" }
        );
    }
    Ok(ExitCode::SUCCESS)
}
