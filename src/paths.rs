//! Where okmirror keeps its own files on the operator's machine, and the rule that they
//! are private: folders 0700 owned by the user (never a symlink), files 0600 (the
//! process's umask is 077, see `main`).

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use color_eyre::eyre::{Result, WrapErr, eyre};

/// The data dir (log, flow journals, drill reports), e.g. `~/.local/share/okmirror`,
/// created private when missing. `OKMIRROR_DATA_DIR` overrides it (tests and
/// side-by-side installs use this).
pub fn data_dir() -> Result<PathBuf> {
    let dir = match std::env::var_os("OKMIRROR_DATA_DIR") {
        Some(d) => PathBuf::from(d),
        None => directories::ProjectDirs::from("", "", "okmirror")
            .map(|d| d.data_dir().to_path_buf())
            .ok_or_else(|| {
                eyre!("cannot find a home directory for okmirror's data; set OKMIRROR_DATA_DIR")
            })?,
    };
    ensure_private_dir(&dir)?;
    Ok(dir)
}

/// A short folder for SSH control sockets and DB tunnels (Unix socket paths must stay
/// under ~100 bytes, so this lives under the runtime dir or /tmp). Check it with
/// `ensure_private_dir` before use.
pub fn socket_dir() -> PathBuf {
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    // The uid keeps users apart on shared hosts.
    base.join(format!("okmirror-{}", rustix::process::geteuid().as_raw()))
}

/// Makes `dir` (and its missing parents) if needed, then refuses it unless it is a real
/// folder owned by this user that nobody else can write. One that only group or others
/// could read is made 0700; one they could write, or a symlink, is refused: someone
/// else may have prepared it.
pub fn ensure_private_dir(dir: &Path) -> Result<()> {
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)
            .wrap_err_with(|| format!("creating {}", parent.display()))?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).wrap_err_with(|| format!("creating {}", dir.display())),
    }
    let meta =
        std::fs::symlink_metadata(dir).wrap_err_with(|| format!("checking {}", dir.display()))?;
    let me = rustix::process::geteuid().as_raw();
    let mode = meta.mode() & 0o777;
    let why = if meta.file_type().is_symlink() {
        Some("it is a symlink".to_string())
    } else if !meta.is_dir() {
        Some("it is not a folder".to_string())
    } else if meta.uid() != me {
        Some(format!("it is owned by uid {}, not {me}", meta.uid()))
    } else if mode & 0o022 != 0 {
        Some(format!("group or others may write in it (mode {mode:03o})"))
    } else {
        None
    };
    if let Some(why) = why {
        return Err(eyre!(
            "refusing {}: {why}. okmirror keeps its SSH control sockets, database tunnels \
             and journals there; remove it (or set XDG_RUNTIME_DIR / OKMIRROR_DATA_DIR to a \
             private folder)",
            dir.display()
        ));
    }
    if mode != 0o700 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .wrap_err_with(|| format!("making {} private", dir.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_private_folder_is_made_and_a_shared_or_linked_one_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("a/b");
        ensure_private_dir(&d).unwrap();
        assert_eq!(std::fs::metadata(&d).unwrap().mode() & 0o777, 0o700);
        // Readable by others only: tightened.
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        ensure_private_dir(&d).unwrap();
        assert_eq!(std::fs::metadata(&d).unwrap().mode() & 0o777, 0o700);
        // Writable by others: refused.
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = ensure_private_dir(&d).unwrap_err().to_string();
        assert!(
            e.contains("group or others may write in it (mode 777)"),
            "{e}"
        );
        // A symlink, even to a private folder: refused.
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(tmp.path().join("a"), &link).unwrap();
        let e = ensure_private_dir(&link).unwrap_err().to_string();
        assert!(e.contains("it is a symlink"), "{e}");
    }
}
