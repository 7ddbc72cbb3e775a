//! Where okmirror keeps its own files on the operator's machine.

use std::path::PathBuf;

use color_eyre::eyre::{Result, eyre};

/// The data dir (log, journal, reports), e.g. `~/.local/share/okmirror`.
/// `OKMIRROR_DATA_DIR` overrides it (tests and side-by-side installs use this).
pub fn data_dir() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("OKMIRROR_DATA_DIR") {
        return Ok(PathBuf::from(d));
    }
    directories::ProjectDirs::from("", "", "okmirror")
        .map(|d| d.data_dir().to_path_buf())
        .ok_or_else(|| {
            eyre!("cannot find a home directory for okmirror's data; set OKMIRROR_DATA_DIR")
        })
}

/// A short private folder for SSH control sockets and DB tunnels (Unix socket paths
/// must stay under ~100 bytes, so this lives under the runtime dir or /tmp).
pub fn socket_dir() -> PathBuf {
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    // The uid keeps users apart on shared hosts.
    let uid = std::fs::metadata("/proc/self").map(|m| {
        use std::os::unix::fs::MetadataExt;
        m.uid()
    });
    base.join(format!("okmirror-{}", uid.unwrap_or(0)))
}
