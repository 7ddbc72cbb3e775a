//! Questions about a node's files that need no walk of its datastore.

use std::time::Duration;

use color_eyre::eyre::{Result, eyre};

use super::{NodeSsh, quote};
use crate::config::NodeConfig;

/// The listed paths (relative to the Tomcat home, or absolute) that `node` lacks.
pub async fn absent_on(
    ssh: &NodeSsh,
    node: &NodeConfig,
    paths: Vec<String>,
) -> Result<Vec<String>> {
    if paths.is_empty() {
        return Ok(paths);
    }
    let mut body = Vec::with_capacity(paths.len() * 64);
    for p in &paths {
        body.extend_from_slice(p.as_bytes());
        body.push(0);
    }
    let script = format!(
        "cd {} && xargs -0r sh -c 'for p; do [ -f \"$p\" ] || printf \"%s\\n\" \"$p\"; done' okmirror-check",
        quote(&node.openkm_home.display().to_string())
    );
    let out = ssh
        .run_with_stdin(&script, Some(&body), Duration::from_secs(60))
        .await?;
    if !out.success() {
        return Err(eyre!(
            "checking which listed files {} lacks: {}",
            node.name,
            out.stderr.trim()
        ));
    }
    Ok(out.stdout.lines().map(str::to_string).collect())
}
