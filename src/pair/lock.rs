//! One sync (or flow) at a time per pair: a lock folder in a node's state dir. Its
//! holder touches a heartbeat file in it every few seconds; a lock whose heartbeat is
//! older than `STALE_SECS` (its console killed, its host gone), or whose owner is a
//! console of this host that no longer runs, may be taken over. Each taking writes its
//! own token, and a release removes the folder only while that token is still there, so
//! the first holder's late release can never delete a second holder's lock.

use std::sync::Arc;
use std::time::Duration;

use color_eyre::eyre::{Result, eyre};

use crate::node::NodeSsh;
use crate::node::quote;

/// A lock whose heartbeat is older than this is stale (seconds).
pub const STALE_SECS: u64 = 60;

/// How often a holder touches its heartbeat.
const BEAT: Duration = Duration::from_secs(10);

/// What a node's sync lock folder says: who took it, whether its heartbeat is stale,
/// and whether a database freeze was under way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LockInfo {
    pub owner: String,
    pub stale: bool,
    /// The freeze mark's content (`database`) when the holder froze the main.
    pub frozen: Option<String>,
}

impl LockInfo {
    /// The owner when another live console holds the lock (not this process, not a dead
    /// console of this host, not stale).
    pub(crate) fn live_owner(&self) -> Option<String> {
        let me = format!("{}:{}", host_name(), std::process::id());
        (!self.stale && !self.owner.is_empty() && self.owner != me && !dead_here(&self.owner))
            .then(|| self.owner.clone())
    }
}

/// The shell test that a lock folder `$p`'s heartbeat is stale (the folder's own time
/// when it has no heartbeat yet).
fn stale_test() -> String {
    format!(
        "[ $(( $(date +%s) - $(stat -c %Y \"$p/beat\" 2>/dev/null || stat -c %Y \"$p\") )) -gt {STALE_SECS} ]"
    )
}

/// The shell lines that print a lock folder's state for `parse_lock_info`.
pub(crate) fn lock_info_script(state_dir: &str) -> String {
    format!(
        "p={}; [ -d \"$p\" ] || exit 0; \
         if {}; then echo STALE; else echo FRESH; fi; \
         if [ -f \"$p/frozen\" ]; then echo \"FROZEN $(cat \"$p/frozen\")\"; else echo THAWED; fi; \
         cat \"$p/owner\" 2>/dev/null; true",
        quote(&format!("{state_dir}/sync.lock")),
        stale_test()
    )
}

/// Parses `lock_info_script`'s output; `None` when there is no lock folder.
pub(crate) fn parse_lock_info(out: &str) -> Option<LockInfo> {
    let mut lines = out.lines();
    let stale = match lines.next()?.trim() {
        "STALE" => true,
        "FRESH" => false,
        _ => return None,
    };
    let frozen = lines
        .next()?
        .trim()
        .strip_prefix("FROZEN")
        .map(|m| m.trim().to_string());
    let owner = lines.next().unwrap_or("").trim().to_string();
    Some(LockInfo {
        owner,
        stale,
        frozen,
    })
}

/// This host's name, as locks record it.
pub(crate) fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "okmirror".into())
}

/// A lock owner (`host:pid`) that was a console on this host which no longer runs (gone,
/// or a zombie that exited and waits to be reaped).
pub(crate) fn dead_here(owner: &str) -> bool {
    let host = host_name();
    owner.split_once(':').is_some_and(|(h, pid)| {
        h == host
            && !pid.is_empty()
            && pid.chars().all(|c| c.is_ascii_digit())
            && std::fs::read_to_string(format!("/proc/{pid}/stat"))
                // The state follows the command name's closing parenthesis.
                .map_or(true, |st| {
                    st.rsplit_once(')')
                        .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
                })
    })
}

/// A held lock. A flow holds it on both nodes; the sync it runs inside shares it.
pub(crate) struct Lock {
    pub(crate) path: String,
    /// This holder's token in the folder.
    token: String,
    /// Already held by this process (a flow's sync): releasing it is the holder's job.
    borrowed: bool,
    /// The heartbeat task, stopped when the lock goes.
    beat: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Lock {
    fn drop(&mut self) {
        if let Some(b) = self.beat.take() {
            b.abort();
        }
    }
}

/// The script that claims a lock folder: new, or taken over when `takeover` (a shell
/// test) holds. Prints TAKEN, or HELD and the owner.
fn claim_script(state_dir: &str, me: &str, token: &str, takeover: &str) -> String {
    let p = quote(&format!("{state_dir}/sync.lock"));
    let write = format!(
        "echo {me} > {p}/owner && echo {token} > {p}/token && touch {p}/beat && echo TAKEN",
        me = quote(me),
        token = quote(token)
    );
    format!(
        "mkdir -p {sd} && p={p} && if mkdir {p} 2>/dev/null; then {write}; \
         elif {takeover}; then {write}; \
         else echo HELD; cat {p}/owner 2>/dev/null; fi",
        sd = quote(state_dir)
    )
}

impl Lock {
    /// Takes the lock in `state_dir` on the node, or says who holds it.
    pub(crate) async fn take(ssh: &Arc<NodeSsh>, state_dir: &str) -> Result<Lock> {
        let path = format!("{state_dir}/sync.lock");
        let me = format!("{}:{}", host_name(), std::process::id());
        let token = format!("{me}:{}", nonce());
        let out = ssh
            .run(
                &claim_script(state_dir, &me, &token, &stale_test()),
                Duration::from_secs(30),
            )
            .await?;
        let mut lines = out.stdout.lines();
        let first = lines.next().unwrap_or("").trim().to_string();
        let owner = lines.next().unwrap_or("unknown").trim().to_string();
        if first == "TAKEN" {
            return Ok(Lock::held(ssh, path, token));
        }
        if owner == me {
            return Ok(Lock {
                path,
                token,
                borrowed: true,
                beat: None,
            });
        }
        if dead_here(&owner) {
            let same_owner = format!("[ \"$(cat \"$p/owner\")\" = {} ]", quote(&owner));
            let out = ssh
                .run(
                    &claim_script(state_dir, &me, &token, &same_owner),
                    Duration::from_secs(30),
                )
                .await?;
            if out.stdout.lines().next() == Some("TAKEN") {
                return Ok(Lock::held(ssh, path, token));
            }
        }
        Err(eyre!(
            "another sync or flow holds the lock {path} (owner {owner}); it is taken over once \
             its heartbeat is {STALE_SECS} s old"
        ))
    }

    /// A lock this process took: its heartbeat starts.
    fn held(ssh: &Arc<NodeSsh>, path: String, token: String) -> Lock {
        let ssh = Arc::clone(ssh);
        let touch = format!(
            "p={}; [ \"$(cat \"$p/token\" 2>/dev/null)\" = {} ] && touch \"$p/beat\"",
            quote(&path),
            quote(&token)
        );
        let beat = tokio::spawn(async move {
            loop {
                tokio::time::sleep(BEAT).await;
                let _ = ssh.run(&touch, Duration::from_secs(10)).await;
            }
        });
        Lock {
            path,
            token,
            borrowed: false,
            beat: Some(beat),
        }
    }

    /// Gives the lock back, only while it is still this holder's. A freeze marker stays
    /// until the freeze is really undone (the main's watchdog removes it then); the
    /// folder stays with it, for the next run to recover.
    pub(crate) async fn release(mut self, ssh: &NodeSsh) {
        if let Some(b) = self.beat.take() {
            b.abort();
        }
        if self.borrowed {
            return;
        }
        let p = quote(&self.path);
        let script = format!(
            "[ \"$(cat {p}/token 2>/dev/null)\" = {t} ] || exit 0; \
             if [ -f {p}/frozen ]; then rm -f {p}/*.list {p}/*.pid; else rm -rf {p}; fi",
            t = quote(&self.token)
        );
        let _ = ssh.run(&script, Duration::from_secs(30)).await;
    }
}

/// A value no other taking shares (time and PID).
fn nonce() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{t:x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::time::Instant;

    /// Runs the lock script against a real folder with sh, as a node would.
    fn lock_info_of(state_dir: &Path) -> Option<LockInfo> {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(lock_info_script(&state_dir.display().to_string()))
            .output()
            .expect("sh runs");
        parse_lock_info(&String::from_utf8_lossy(&out.stdout))
    }

    #[test]
    fn no_lock_folder_reads_as_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(lock_info_of(dir.path()), None);
    }

    #[test]
    fn a_lock_reads_its_owner_and_freeze_mark() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("sync.lock");
        std::fs::create_dir(&lock).unwrap();
        std::fs::write(lock.join("owner"), "vm:4242\n").unwrap();
        assert_eq!(
            lock_info_of(dir.path()),
            Some(LockInfo {
                owner: "vm:4242".into(),
                stale: false,
                frozen: None
            })
        );
        std::fs::write(lock.join("frozen"), "database\n").unwrap();
        assert_eq!(
            lock_info_of(dir.path()).and_then(|l| l.frozen),
            Some("database".into())
        );
    }

    #[test]
    fn only_another_live_console_owns_a_lock() {
        let me = format!("{}:{}", host_name(), std::process::id());
        let info = |owner: &str, stale| LockInfo {
            owner: owner.into(),
            stale,
            frozen: None,
        };
        assert_eq!(info(&me, false).live_owner(), None, "this process");
        assert_eq!(info("other-host:1", true).live_owner(), None, "stale");
        assert_eq!(info("", false).live_owner(), None, "no owner written");
        // PID 1 of this host is alive; PID 0x7fffffff never is.
        let alive = format!("{}:1", host_name());
        assert_eq!(info(&alive, false).live_owner(), Some(alive.clone()));
        let dead = format!("{}:{}", host_name(), i32::MAX);
        assert_eq!(info(&dead, false).live_owner(), None, "a dead console here");
        assert_eq!(
            info("elsewhere:99", false).live_owner().as_deref(),
            Some("elsewhere:99"),
            "another host's console is trusted to be alive"
        );
        assert_eq!(parse_lock_info("garbage"), None);
    }

    #[test]
    fn a_zombie_console_is_dead() {
        // A child that exited and was not reaped yet: /proc/PID still exists.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let owner = format!("{}:{}", host_name(), child.id());
        let deadline = Instant::now() + Duration::from_secs(5);
        while !dead_here(&owner) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            Path::new(&format!("/proc/{}", child.id())).exists(),
            "still a zombie"
        );
        assert!(dead_here(&owner), "a zombie's lock is not held");
        child.wait().unwrap();
    }

    #[test]
    fn a_lock_is_claimed_once_and_taken_over_only_when_stale() {
        let dir = tempfile::tempdir().unwrap();
        let sd = dir.path().display().to_string();
        let run = |script: String| {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(script)
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        assert_eq!(
            run(claim_script(&sd, "h:1", "t1", &stale_test())),
            "TAKEN\n"
        );
        // Fresh heartbeat: held.
        assert_eq!(
            run(claim_script(&sd, "h:2", "t2", &stale_test())),
            "HELD\nh:1\n"
        );
        // A heartbeat older than the limit: taken over, with the new token.
        let beat = dir.path().join("sync.lock/beat");
        let old = std::time::SystemTime::now() - Duration::from_secs(STALE_SECS + 5);
        std::fs::File::options()
            .write(true)
            .open(&beat)
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert_eq!(lock_info_of(dir.path()).map(|l| l.stale), Some(true));
        assert_eq!(
            run(claim_script(&sd, "h:2", "t2", &stale_test())),
            "TAKEN\n"
        );
        let token = std::fs::read_to_string(dir.path().join("sync.lock/token")).unwrap();
        assert_eq!(token.trim(), "t2");
    }
}
