//! `okmirror agent install [NODE]`: this binary onto the nodes, checked by SHA-256.

use std::process::ExitCode;

use color_eyre::eyre::{Result, WrapErr, eyre};

use crate::config::Config;
use crate::node::NodeSsh;
use crate::node::agent::{self, Installed};

/// Installs on `node` (or both), one line per node; exit 1 when any node failed.
pub async fn install(cfg: Config, node: Option<String>, json: bool) -> Result<ExitCode> {
    let targets: Vec<_> = match &node {
        Some(name) => vec![
            cfg.nodes
                .iter()
                .find(|n| &n.name == name)
                .ok_or_else(|| eyre!("no node named {name:?} in the config"))?,
        ],
        None => cfg.nodes.iter().collect(),
    };
    let exe = std::env::current_exe().wrap_err("finding this okmirror's own binary")?;
    let binary =
        std::fs::read(&exe).wrap_err_with(|| format!("reading {} to copy it", exe.display()))?;
    let socket_dir = crate::paths::socket_dir();
    let mut results = Vec::new();
    for n in targets {
        let ssh = NodeSsh::new(n.ssh.clone(), &socket_dir);
        let path = n.agent_path.display().to_string();
        let r = agent::install(&ssh, &path, &binary).await;
        results.push((n.name.clone(), r));
    }
    let failed = results.iter().filter(|(_, r)| r.is_err()).count();
    if json {
        let v: Vec<_> = results.iter().map(|(n, r)| to_json(n, r)).collect();
        super::print_out(&format!("{}\n", serde_json::to_string_pretty(&v)?))?;
    } else {
        for (n, r) in &results {
            println!("{}", line(n, r));
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn line(node: &str, r: &Result<Installed>) -> String {
    match r {
        Ok(i) if i.unchanged => format!(
            "{node}: {} already this build ({}, sha256 {}…)",
            i.path,
            i.version,
            &i.sha256[..12]
        ),
        Ok(i) => format!(
            "{node}: installed {} ({}, sha256 {}… checked on the node)",
            i.path,
            i.version,
            &i.sha256[..12]
        ),
        Err(e) => format!("{node}: NOT installed: {e:#}"),
    }
}

fn to_json(node: &str, r: &Result<Installed>) -> serde_json::Value {
    match r {
        Ok(i) => serde_json::json!({"node": node, "ok": true, "installed": i}),
        Err(e) => serde_json::json!({"node": node, "ok": false, "error": format!("{e:#}")}),
    }
}
