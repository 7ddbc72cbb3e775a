//! A service freeze's Lucene index: hard links taken on the main while its OpenKM is
//! stopped (milliseconds, whatever the index's size), copied to the mirror once the main
//! takes writes again. The main's downtime holds no transfer; the mirror's OpenKM stays
//! stopped until its index arrives.

use std::time::Duration;

use color_eyre::eyre::{Result, eyre};

use super::copy::{Copier, Job, is_cancelled};
use super::events::Cancelled;
use super::plan::{INDEX_SNAPSHOT, LIVE_EXCLUDES, index_command};
use super::progress::Tracker;
use crate::node::quote;

/// Whether the main had an index folder to snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Snapshot {
    /// The snapshot holds the frozen index; it goes to the mirror after the thaw.
    Taken,
    /// The main has no index folder (nothing to copy).
    NoIndex,
}

/// The snapshot script, run in the main's Tomcat home while OpenKM is stopped: hard links
/// (a copy when the snapshot cannot link, e.g. the index is another filesystem). Prints
/// what it did on its last line.
fn snapshot_script(home: &str) -> String {
    let (index, snap) = (LIVE_EXCLUDES[0], quote(INDEX_SNAPSHOT));
    format!(
        "cd {home} && rm -rf {snap} && if [ -d {index} ]; then \
         {{ cp -al {index} {snap} 2>/dev/null || {{ rm -rf {snap} && cp -a {index} {snap}; }}; }} \
         && echo taken; else echo none; fi",
        home = quote(home)
    )
}

impl Copier<'_> {
    /// Takes the main's index snapshot (the main must be frozen: OpenKM stopped).
    pub async fn snapshot_index(&self) -> Result<Snapshot> {
        let home = self.s().openkm_home.display().to_string();
        let out = self
            .s_ssh()
            .run(&snapshot_script(&home), Duration::from_secs(120))
            .await?;
        match (out.success(), out.stdout.lines().last()) {
            (true, Some("taken")) => Ok(Snapshot::Taken),
            (true, Some("none")) => Ok(Snapshot::NoIndex),
            _ => Err(eyre!(
                "snapshotting {}'s index ({home}/{}): {} {}",
                self.s().name,
                LIVE_EXCLUDES[0],
                out.stdout.trim(),
                out.stderr.trim()
            )),
        }
    }

    /// Copies the snapshot into the mirror's index folder (whose OpenKM is stopped), then
    /// removes it. A snapshot that cannot be removed is only logged: the next one
    /// replaces it, and no other transfer ever includes it.
    pub async fn copy_index_snapshot(&self, tracker: &mut Tracker) -> Result<()> {
        if is_cancelled(&self.cancel) {
            return Err(color_eyre::eyre::Report::new(Cancelled));
        }
        let cmd = index_command(self.s(), self.d(), &self.monitor.cfg.sync);
        let pidfile = format!("{}/rsync-index.pid", self.lock_dir);
        let job = Job {
            cmd: &cmd,
            list: None,
            live: false,
            pidfile: &pidfile,
        };
        self.transfer(self.s_ssh(), job, tracker).await?;
        self.drop_index_snapshot().await;
        Ok(())
    }

    /// Removes the snapshot (before a freeze, a leftover of a run that died; after the
    /// copy, this run's).
    pub async fn drop_index_snapshot(&self) {
        let path = format!("{}/{INDEX_SNAPSHOT}", self.s().openkm_home.display());
        let removed = self
            .s_ssh()
            .run(
                &format!("rm -rf {}", quote(&path)),
                Duration::from_secs(120),
            )
            .await;
        if !removed.is_ok_and(|o| o.success()) {
            tracing::warn!(
                "could not remove the index snapshot {path} on {}",
                self.s().name
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_script(home: &std::path::Path) -> String {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(snapshot_script(&home.display().to_string()))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    #[test]
    fn the_snapshot_links_the_frozen_index_and_keeps_it_when_a_file_is_replaced() {
        let home = tempfile::tempdir().unwrap();
        let index = home.path().join("repository/index/docs");
        std::fs::create_dir_all(&index).unwrap();
        std::fs::write(index.join("_0.cfs"), b"frozen").unwrap();
        // A leftover of a run that died is replaced, not merged.
        let snap = home.path().join(INDEX_SNAPSHOT);
        std::fs::create_dir_all(snap.join("stale")).unwrap();
        assert_eq!(run_script(home.path()), "taken");
        assert!(!snap.join("stale").exists());
        let linked = snap.join("docs/_0.cfs");
        assert_eq!(std::fs::read(&linked).unwrap(), b"frozen");
        // Lucene writes a changed file as a new file: the snapshot keeps the old one.
        std::fs::remove_file(index.join("_0.cfs")).unwrap();
        std::fs::write(index.join("_0.cfs"), b"after the thaw").unwrap();
        assert_eq!(std::fs::read(&linked).unwrap(), b"frozen");
    }

    #[test]
    fn a_main_without_an_index_folder_has_nothing_to_snapshot() {
        let home = tempfile::tempdir().unwrap();
        assert_eq!(run_script(home.path()), "none");
        assert!(!home.path().join(INDEX_SNAPSHOT).exists());
    }
}
