//! What the doctor learns over SSH: reachability, rsync, the folders, the service
//! command, node-to-node SSH, the clock, disk room and the agent. One script per node.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{Check, Topic};
use crate::config::{Config, NodeConfig, NodeId};
use crate::node::agent;
use crate::pair::Monitor;

/// A node's answers, for the pair-level checks.
#[derive(Debug, Clone, Default)]
pub struct NodeFacts {
    pub disk_free: Option<u64>,
    pub ds_bytes: Option<u64>,
}

pub struct NodeResults {
    pub checks: Vec<Check>,
    pub facts: Vec<Option<NodeFacts>>,
}

/// Clock offsets beyond these make lag, files-behind ages and drill RPOs wrong.
const CLOCK_WARN_SECS: f64 = 1.0;
const CLOCK_FAIL_SECS: f64 = 30.0;

fn q(s: &str) -> String {
    crate::node::quote(s)
}

/// The script: `key=value` lines, nothing changed on the node.
fn script(node: &NodeConfig, peer: &NodeConfig) -> String {
    let home = q(&node.openkm_home.display().to_string());
    let ds = q(&node.datastore_path().display().to_string());
    let peer_cmd = format!(
        "{} {}@{} {}",
        crate::sync::plan::peer_ssh(node, peer),
        q(&peer.ssh.user),
        q(&peer.ssh.host),
        q("command -v rsync >/dev/null && echo peer-ok")
    );
    format!(
        r#"LC_ALL=C; export LC_ALL
out=$(rsync --version 2>&1); echo "rsync_rc=$?"; echo "rsync=$(printf '%s' "$out" | head -n1)"
[ -d {home} ] && echo "home=1"
if [ -d {ds} ]; then echo "ds=1"; if mountpoint -q {ds} 2>/dev/null; then echo "ds_mount=1"; fi; fi
out=$( {{ {status} ; }} 2>&1 </dev/null); echo "service_rc=$?"
echo "service_out=$(printf '%s' "$out" | head -c 160 | tr '\n\r' '  ')"
df -P -B1 {ds} 2>/dev/null | awk 'NR==2 {{print "disk_free="$4}}'
timeout 300 du -s -B1 {ds} 2>/dev/null | awk '{{print "ds_bytes="$1}}'
{agent}
out=$({peer_cmd} 2>&1 </dev/null); echo "peer_rc=$?"
echo "peer_out=$(printf '%s' "$out" | tail -n 3 | head -c 300 | tr '\n\r' '  ')"
"#,
        status = node.service.status,
        agent = agent::version_probe(&node.agent_path.display().to_string()),
    )
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Runs every node's checks concurrently.
pub async fn run(monitor: &Monitor) -> NodeResults {
    let looks = NodeId::BOTH.map(|i| async move {
        let link = &monitor.nodes[i];
        let peer = &monitor.nodes[i.other()].cfg;
        one_node(&link.cfg, peer, &link.ssh).await
    });
    let mut checks = Vec::new();
    let mut facts = Vec::new();
    for (c, f) in futures::future::join_all(looks).await {
        checks.extend(c);
        facts.push(f);
    }
    NodeResults { checks, facts }
}

async fn one_node(
    node: &NodeConfig,
    peer: &NodeConfig,
    ssh: &crate::node::NodeSsh,
) -> (Vec<Check>, Option<NodeFacts>) {
    let name = Some(node.name.as_str());
    // The first command opens the session; the clock is read over the open one, so the
    // round trip it is judged against is one exchange, not a handshake.
    let reach = ssh.run("true", Duration::from_secs(15)).await;
    let before = now_secs();
    let clock = match reach {
        Ok(_) => ssh.run("date +%s.%N", Duration::from_secs(15)).await,
        Err(e) => Err(e),
    };
    let after = now_secs();
    let clock = match clock {
        Ok(o) if o.success() => o.stdout,
        Ok(o) => o.stderr,
        Err(e) => {
            let fix = format!(
                "check that `ssh -p {} {}@{}` works from here with the configured identity_file and known_hosts_file",
                node.ssh.port, node.ssh.user, node.ssh.host
            );
            return (
                vec![Check::fail(Topic::Ssh, name, format!("{e}"), &fix)],
                None,
            );
        }
    };
    let mut checks = vec![Check::pass(
        Topic::Ssh,
        name,
        format!(
            "{}@{}:{} answers",
            node.ssh.user, node.ssh.host, node.ssh.port
        ),
    )];
    checks.push(clock_check(name, clock.trim(), before, after));
    let out = match ssh.run(&script(node, peer), Duration::from_secs(360)).await {
        Ok(o) => o.stdout,
        Err(e) => {
            checks.push(Check::fail(
                Topic::Ssh,
                name,
                format!("the checks' script: {e}"),
                "",
            ));
            return (checks, None);
        }
    };
    let kv: HashMap<&str, &str> = out.lines().filter_map(|l| l.split_once('=')).collect();
    checks.extend(script_checks(node, peer, &kv));
    let num = |k: &str| kv.get(k).and_then(|v| v.trim().parse::<u64>().ok());
    let facts = NodeFacts {
        disk_free: num("disk_free"),
        ds_bytes: num("ds_bytes"),
    };
    (checks, Some(facts))
}

/// The node's clock against this console's, measured across one SSH round trip.
fn clock_check(node: Option<&str>, answer: &str, before: f64, after: f64) -> Check {
    let Ok(t) = answer.parse::<f64>() else {
        return Check::fail(
            Topic::Clock,
            node,
            format!("`date` answered {answer:?}"),
            "",
        );
    };
    let offset = t - (before + after) / 2.0;
    let found = format!(
        "{:+.3} s from this console (±{:.3} s)",
        offset,
        (after - before) / 2.0
    );
    let fix = "keep both nodes and the console on NTP: timedatectl set-ntp true (chrony or systemd-timesyncd)";
    if offset.abs() >= CLOCK_FAIL_SECS {
        Check::fail(Topic::Clock, node, found, fix)
    } else if offset.abs() >= CLOCK_WARN_SECS {
        Check::warn(Topic::Clock, node, found, fix)
    } else {
        Check::pass(Topic::Clock, node, found)
    }
}

/// Turns the script's answers into checks.
fn script_checks(node: &NodeConfig, peer: &NodeConfig, kv: &HashMap<&str, &str>) -> Vec<Check> {
    let name = Some(node.name.as_str());
    let get = |k: &str| kv.get(k).map_or("", |v| v.trim());
    let mut out = Vec::new();
    out.push(match get("rsync_rc") {
        "0" => Check::pass(Topic::Rsync, name, get("rsync").to_string()),
        rc => Check::fail(
            Topic::Rsync,
            name,
            format!("rsync is missing or broken (exit {rc}: {})", get("rsync")),
            "install rsync on the node (apt-get install rsync; dnf install rsync) and keep it on the PATH of SSH sessions",
        ),
    });
    let home = node.openkm_home.display().to_string();
    out.push(if get("home") == "1" {
        Check::pass(Topic::OpenkmHome, name, home)
    } else {
        Check::fail(
            Topic::OpenkmHome,
            name,
            format!("{home} is not a folder on the node"),
            "set openkm_home to OpenKM's Tomcat home on that node",
        )
    });
    out.push(datastore_check(
        node,
        get("ds") == "1",
        get("ds_mount") == "1",
    ));
    out.push(service_check(node, get("service_rc"), get("service_out")));
    out.push(agent_check(
        name,
        kv.get("agent").and_then(|v| agent::parse_version(v)),
    ));
    out.push(peer_check(node, peer, get("peer_rc"), get("peer_out")));
    out
}

fn datastore_check(node: &NodeConfig, present: bool, mount: bool) -> Check {
    let name = Some(node.name.as_str());
    let ds = node.datastore_path().display().to_string();
    match (present, mount) {
        (false, _) => Check::fail(
            Topic::Datastore,
            name,
            format!("{ds} is not a folder on the node"),
            "set datastore (or openkm_home) to where OpenKM keeps its binaries",
        ),
        (true, true) => Check::pass(
            Topic::Datastore,
            name,
            format!("{ds} (its own mount point)"),
        ),
        (true, false) => Check::pass(
            Topic::Datastore,
            name,
            format!("{ds} (not a mount point: it shares its parent's filesystem)"),
        ),
    }
}

fn service_check(node: &NodeConfig, rc: &str, out: &str) -> Check {
    let name = Some(node.name.as_str());
    let cmd = &node.service.status;
    match rc {
        // LSB status codes: 0 running, 3 stopped; both mean the command works.
        "0" => Check::pass(Topic::Service, name, format!("`{cmd}`: running")),
        "3" => Check::warn(
            Topic::Service,
            name,
            format!("`{cmd}`: stopped ({out})"),
            "start OpenKM, or check that [node.service] status reports it",
        ),
        "126" | "127" => Check::fail(
            Topic::Service,
            name,
            format!("`{cmd}` cannot run (exit {rc}: {out})"),
            "set [node.service] start, stop and status to the node's commands (e.g. systemctl status openkm)",
        ),
        rc => Check::warn(
            Topic::Service,
            name,
            format!("`{cmd}` exited {rc}: {out}"),
            "a status command should exit 0 when OpenKM runs and 3 when it is stopped",
        ),
    }
}

fn agent_check(node: Option<&str>, version: Option<String>) -> Check {
    let fix = format!("okmirror agent install {}", node.unwrap_or(""));
    match version {
        None => Check::warn(
            Topic::Agent,
            node,
            "no okmirror agent: verify hashes every file with sha256sum on each run",
            &fix,
        ),
        Some(v) if v == agent::VERSION => Check::pass(Topic::Agent, node, format!("okmirror {v}")),
        Some(v) => Check::warn(
            Topic::Agent,
            node,
            format!("okmirror {v}, this console is {}", agent::VERSION),
            &fix,
        ),
    }
}

fn peer_check(node: &NodeConfig, peer: &NodeConfig, rc: &str, out: &str) -> Check {
    let name = Some(node.name.as_str());
    let what = format!("{} -> {}", node.name, peer.name);
    if rc == "0" && out.contains("peer-ok") {
        return Check::pass(
            Topic::PeerSsh,
            name,
            format!("{what}: ok, host key known, rsync there"),
        );
    }
    let fix = if out.contains("Host key verification failed") || out.contains("known_hosts") {
        format!(
            "on {}: ssh-keyscan -p {} {} >> ~/.ssh/known_hosts (compare the fingerprint with the peer's own), or set peer_ssh_config",
            node.name, peer.ssh.port, peer.ssh.host
        )
    } else if out.contains("Permission denied") {
        format!(
            "add {}'s public key to {}@{}:~/.ssh/authorized_keys",
            node.name, peer.ssh.user, peer.ssh.host
        )
    } else {
        "rsync between the nodes runs over this connection: make it work without a password or prompt".into()
    };
    Check::fail(
        Topic::PeerSsh,
        name,
        format!("{what}: exit {rc}: {out}"),
        &fix,
    )
}

/// The mirror has room for what its datastore lacks (the main's size minus its own).
pub fn disk_room(
    cfg: &Config,
    facts: &[Option<NodeFacts>],
    roles: &[Option<crate::db::DbStatus>],
) -> Vec<Check> {
    let main = NodeId::BOTH.into_iter().find(|&i| {
        roles
            .get(i.index())
            .is_some_and(|r| r.as_ref().is_some_and(|d| d.writable()))
    });
    let Some(main) = main else {
        return vec![Check::warn(
            Topic::Disk,
            None,
            "no writable main found: disk room not compared",
            "",
        )];
    };
    let mirror = main.other();
    let (Some(Some(m)), Some(Some(r))) = (facts.get(main.index()), facts.get(mirror.index()))
    else {
        return vec![Check::warn(
            Topic::Disk,
            None,
            "a node did not answer: disk room not compared",
            "",
        )];
    };
    let (Some(main_bytes), Some(mirror_bytes), Some(free)) = (m.ds_bytes, r.ds_bytes, r.disk_free)
    else {
        return vec![Check::warn(
            Topic::Disk,
            None,
            "du or df gave no figure: disk room not compared",
            "",
        )];
    };
    let need = main_bytes.saturating_sub(mirror_bytes);
    let name = Some(cfg.nodes[mirror].name.as_str());
    let found = format!(
        "{} free for a difference of {} (main {}, mirror {})",
        crate::format::bytes(free),
        crate::format::bytes(need),
        crate::format::bytes(main_bytes),
        crate::format::bytes(mirror_bytes)
    );
    let check = if free < need {
        Check::fail(
            Topic::Disk,
            name,
            found,
            "free or add space on the mirror's datastore filesystem before a sync",
        )
    } else if free < need + main_bytes / 10 {
        Check::warn(
            Topic::Disk,
            name,
            found,
            "less than 10% of the datastore would be left free after a sync",
        )
    } else {
        Check::pass(Topic::Disk, name, found)
    };
    vec![check]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_is_judged_by_its_offset() {
        assert_eq!(
            clock_check(None, "1000.2", 999.9, 1000.1).verdict,
            super::super::Verdict::Pass
        );
        assert_eq!(
            clock_check(None, "1005.0", 999.9, 1000.1).verdict,
            super::super::Verdict::Warn
        );
        let c = clock_check(Some("bravo"), "1120.0", 999.9, 1000.1);
        assert_eq!(c.verdict, super::super::Verdict::Fail);
        assert_eq!(c.found, "+120.000 s from this console (±0.100 s)");
        assert!(c.fix.unwrap().contains("set-ntp"));
    }

    #[test]
    fn a_missing_rsync_and_service_command_are_failures_with_fixes() {
        let s = service_check(
            &crate::config::parse_str(crate::config::EXAMPLE, std::path::Path::new("x"))
                .unwrap()
                .nodes[0],
            "127",
            "openkm: not found",
        );
        assert_eq!(s.verdict, super::super::Verdict::Fail);
        assert!(s.fix.unwrap().contains("[node.service]"));
    }
}
