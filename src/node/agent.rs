//! The okmirror agent: this same binary, installed on a node so that verify builds its
//! manifests there with a cache and follow reads its records. `okmirror agent install`
//! puts it in place; everything else only asks whether it is there and at which version.

use std::time::Duration;

use color_eyre::eyre::{Result, WrapErr, bail, eyre};
use sha2::{Digest, Sha256};

use super::{NodeSsh, quote};

/// This console's version, which the agents should match.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A shell line that sets `OKM_AGENT` to the agent's command: the configured path when
/// it is executable, else an `okmirror` on the node's PATH, else empty.
pub fn locate_line(agent_path: &str) -> String {
    format!(
        "OKM_AGENT=; if [ -x {p} ]; then OKM_AGENT={p}; elif command -v okmirror >/dev/null 2>&1; then OKM_AGENT=okmirror; fi",
        p = quote(agent_path)
    )
}

/// A probe line printing `agent=<version>` when an agent is found (nothing otherwise).
pub fn version_probe(agent_path: &str) -> String {
    format!(
        "{}\nif [ -n \"$OKM_AGENT\" ]; then echo \"agent=$(\"$OKM_AGENT\" --version 2>/dev/null | head -n1 | cut -d' ' -f2)\"; fi",
        locate_line(agent_path)
    )
}

/// The version an agent reported, `None` for an empty answer.
pub fn parse_version(v: &str) -> Option<String> {
    let v = v.trim();
    (!v.is_empty()).then(|| v.to_string())
}

/// What `install` did on one node.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Installed {
    pub path: String,
    pub sha256: String,
    pub version: String,
    /// The binary was already there, byte for byte; nothing was copied.
    pub unchanged: bool,
}

/// The node's machine as `uname -m` names it, in Rust's spelling (`arm64` is `aarch64`).
fn rust_arch(uname: &str) -> &str {
    match uname.trim() {
        "arm64" => "aarch64",
        "amd64" => "x86_64",
        other => other,
    }
}

/// The install script: the binary arrives on stdin, is written beside its place, checked
/// by SHA-256 and only then renamed over it, so a cut connection never leaves half a
/// binary where verify would run it.
fn install_script(path: &str, sha256: &str) -> String {
    let dir = std::path::Path::new(path)
        .parent()
        .map_or("/".into(), |d| d.display().to_string());
    format!(
        r#"set -u; umask 022
mkdir -p {dir} || exit 3
tmp={tmp}
cat > "$tmp" || {{ rm -f "$tmp"; exit 3; }}
got=$(sha256sum "$tmp" | cut -c1-64)
if [ "$got" != {sha} ]; then rm -f "$tmp"; echo "sha256 mismatch: $got" >&2; exit 4; fi
chmod 755 "$tmp" && mv -f "$tmp" {p} || exit 3
{p} --version | head -n1 | cut -d' ' -f2"#,
        dir = quote(&dir),
        tmp = quote(&format!("{path}.new")),
        sha = quote(sha256),
        p = quote(path),
    )
}

/// Copies `binary` (this console's own executable) to `path` on the node, refusing a node
/// of another architecture and skipping the copy when the same bytes are already there.
pub async fn install(ssh: &NodeSsh, path: &str, binary: &[u8]) -> Result<Installed> {
    let t = Duration::from_secs(30);
    let probe = format!(
        "uname -m; if [ -f {p} ]; then sha256sum {p} | cut -c1-64; else echo none; fi",
        p = quote(path)
    );
    let out = ssh
        .run(&probe, t)
        .await
        .wrap_err("reading the node's machine")?;
    if !out.success() {
        bail!("uname -m failed: {}", out.stderr.trim());
    }
    let mut lines = out.stdout.lines();
    let arch = lines.next().unwrap_or_default().trim().to_string();
    let present = lines.next().unwrap_or_default().trim().to_string();
    if rust_arch(&arch) != std::env::consts::ARCH {
        bail!(
            "the node is {arch} and this okmirror is built for {}: install a build for {arch} there \
             by hand (or from its package)",
            std::env::consts::ARCH
        );
    }
    let sha256 = format!("{:x}", Sha256::digest(binary));
    if present == sha256 {
        let v = ssh
            .run(
                &format!("{} --version | head -n1 | cut -d' ' -f2", quote(path)),
                t,
            )
            .await?;
        return Ok(Installed {
            path: path.into(),
            sha256,
            version: v.stdout.trim().to_string(),
            unchanged: true,
        });
    }
    let copy_time = Duration::from_secs(600);
    let out = ssh
        .run_with_stdin(&install_script(path, &sha256), Some(binary), copy_time)
        .await
        .wrap_err("copying the binary")?;
    match out.status {
        Some(0) => Ok(Installed {
            path: path.into(),
            sha256,
            version: out.stdout.trim().to_string(),
            unchanged: false,
        }),
        Some(4) => Err(eyre!(
            "the copy arrived damaged ({}); nothing was replaced",
            out.stderr.trim()
        )),
        _ => Err(eyre!(
            "could not write {path} (exit {:?}): {}",
            out.status,
            out.stderr.trim()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agent_is_found_at_its_path_first_then_on_path() {
        let l = locate_line("/usr/local/lib/okmirror/okmirror");
        assert!(l.starts_with("OKM_AGENT=; if [ -x /usr/local/lib/okmirror/okmirror ]"));
        assert!(l.contains("command -v okmirror"));
        assert_eq!(locate_line("/a b/ok").matches("'/a b/ok'").count(), 2);
    }

    #[test]
    fn architectures_are_compared_in_one_spelling() {
        assert_eq!(rust_arch("arm64\n"), "aarch64");
        assert_eq!(rust_arch("x86_64"), "x86_64");
        assert_eq!(parse_version(" 0.1.0\n").as_deref(), Some("0.1.0"));
        assert_eq!(parse_version(""), None);
    }

    #[test]
    fn the_install_checks_before_it_replaces() {
        let s = install_script("/usr/local/lib/okmirror/okmirror", "ab12");
        let check = s.find("sha256sum").unwrap();
        let rename = s.find("mv -f").unwrap();
        assert!(check < rename, "{s}");
        assert!(s.contains("tmp=/usr/local/lib/okmirror/okmirror.new"));
        assert!(s.contains("mkdir -p /usr/local/lib/okmirror"));
    }
}
