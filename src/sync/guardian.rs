//! A freeze held on the node itself. Before okmirror freezes a node (database read-only,
//! OpenKM stopped) it starts a small watchdog there, over its own SSH session. The
//! console sends it a line every second. When the session ends without a release (the
//! console killed by any signal, the link cut), when the lines stop (the admin host gone
//! for 5 s), or when `freeze_max_secs` passes, the watchdog gives the node back what the
//! freeze took, logs why in `<state_dir>/guard.log`, and only then removes the freeze
//! marker. Dropping a `Guardian` without releasing it has the same effect: a step that
//! times out or is cancelled cannot leave a node frozen.

use std::time::Duration;

use color_eyre::eyre::{Result, WrapErr, eyre};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

use crate::config::NodeConfig;
use crate::node::NodeSsh;
use crate::node::quote;

/// Seconds without a line from the console after which the watchdog restores.
pub const SILENCE_SECS: u64 = 5;

/// What the watchdog gives back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restore {
    /// `SET GLOBAL read_only = OFF` on the node's database.
    Database,
    /// OpenKM started (the node's service start command).
    Service,
    /// Both, database first.
    DatabaseAndService,
}

/// What the console asks of a running watchdog.
enum Ask {
    /// Stand down: the console restored the node itself, or (before a promotion) the
    /// node must stay frozen. Answered `released`.
    Release(oneshot::Sender<Result<()>>),
    /// Restore now (the console's own restore failed). Answered `restored` or `failed`.
    Restore(oneshot::Sender<Result<()>>),
}

/// A running watchdog on one node; see the module doc.
pub struct Guardian {
    node: String,
    asks: mpsc::Sender<Ask>,
}

/// The watchdog's script (bash: `read -t`). Pure, so it is unit tested.
pub fn script(
    node: &NodeConfig,
    tag: &str,
    what: Restore,
    max_secs: u64,
    marker: Option<&str>,
) -> String {
    let sd = node.state_dir.display().to_string();
    let g = quote(&format!("{sd}/guard-{tag}"));
    let log = quote(&format!("{sd}/guard.log"));
    let db = "c=$(command -v mariadb || command -v mysql) || { echo 'no mysql client on this node'; return 1; }\n\
              for i in 1 2 3 4 5; do \"$c\" --defaults-extra-file=\"$g/my.cnf\" -e 'SET GLOBAL read_only = OFF' && break; \
              [ \"$i\" = 5 ] && return 1; sleep 1; done";
    // The watchdog ignores HUP/INT/TERM/PIPE itself; what it starts must not inherit
    // that (an OpenKM that ignores SIGTERM cannot be stopped cleanly).
    let svc = format!(
        "( trap - HUP INT TERM PIPE; {} ) </dev/null || return 1",
        node.service.start
    );
    let body = match what {
        Restore::Database => db.to_string(),
        Restore::Service => svc,
        Restore::DatabaseAndService => format!("{db}\n{svc}"),
    };
    let unmark = marker.map_or(String::new(), |m| format!("rm -f {}", quote(m)));
    format!(
        r#"set -u
umask 077
g={g}; log={log}
mkdir -p "$g" || exit 1
echo $$ > "$g/pid"
trap '' HUP INT TERM PIPE
: > "$g/my.cnf"
while IFS= read -r l && [ "$l" != . ]; do printf '%s\n' "$l" >> "$g/my.cnf"; done
restore() {{
{body}
}}
echo armed
end=$((SECONDS + {max_secs}))
why=
while :; do
  left=$((end - SECONDS))
  if [ "$left" -le 0 ]; then why="freeze_max_secs ({max_secs} s) passed"; break; fi
  t={SILENCE_SECS}; [ "$left" -lt "$t" ] && t=$left
  if IFS= read -r -t "$t" line; then
    case "$line" in
      release) rm -rf "$g"; echo released; exit 0 ;;
      restore) why="the console asked"; break ;;
    esac
  else
    why="the console's session ended or went silent"; break
  fi
done
echo "$(date -u +%FT%TZ) guard {tag} (pid $$): restoring: $why" >> "$log"
if restore >> "$log" 2>&1; then
  {unmark}
  echo "$(date -u +%FT%TZ) guard {tag}: restored" >> "$log"
  rm -rf "$g"; echo restored
else
  echo "$(date -u +%FT%TZ) guard {tag}: RESTORE FAILED" >> "$log"
  rm -f "$g/my.cnf"; echo failed
fi
"#
    )
}

impl Guardian {
    /// Starts a watchdog on `node` and waits until it is armed. `db_options` is the
    /// `[client]` option file a database restore needs (sent on stdin, kept 0600 in the
    /// watchdog's own folder and removed with it).
    pub async fn arm(
        ssh: &NodeSsh,
        node: &NodeConfig,
        tag: &str,
        what: Restore,
        max_secs: u64,
        marker: Option<&str>,
    ) -> Result<Guardian> {
        let name = node.name.clone();
        let options = match what {
            Restore::Service => String::new(),
            _ => super::dump::option_file(node)?,
        };
        let mut held = ssh
            .hold(&script(node, tag, what, max_secs, marker))
            .await
            .wrap_err_with(|| format!("starting the freeze watchdog on {name}"))?;
        let hello = format!("{options}.\n");
        held.stdin
            .write_all(hello.as_bytes())
            .await
            .wrap_err_with(|| format!("arming the freeze watchdog on {name}"))?;
        let mut line = String::new();
        let read = tokio::time::timeout(Duration::from_secs(30), held.stdout.read_line(&mut line));
        match read.await {
            Ok(Ok(_)) if line.trim() == "armed" => {}
            other => {
                return Err(eyre!(
                    "the freeze watchdog on {name} did not arm ({:?}); nothing was frozen",
                    other.map(|r| r.map(|_| line.trim().to_string()))
                ));
            }
        }
        let (asks, rx) = mpsc::channel(4);
        tokio::spawn(keep(held, rx));
        Ok(Guardian { node: name, asks })
    }

    /// Stands the watchdog down and waits for its word: after this, nothing restores
    /// the node. An `Err` means that could not be confirmed.
    pub async fn release(self) -> Result<()> {
        self.ask(Ask::Release).await
    }

    /// Asks the watchdog to restore the node now, and waits for the result.
    pub async fn restore(self) -> Result<()> {
        self.ask(Ask::Restore).await
    }

    async fn ask(self, make: fn(oneshot::Sender<Result<()>>) -> Ask) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        let node = self.node.clone();
        if self.asks.send(make(tx)).await.is_err() {
            return Err(eyre!("the freeze watchdog on {node} is gone"));
        }
        match tokio::time::timeout(Duration::from_secs(60), rx).await {
            Ok(Ok(r)) => r.wrap_err_with(|| format!("the freeze watchdog on {node}")),
            _ => Err(eyre!("the freeze watchdog on {node} did not answer")),
        }
    }
}

/// Feeds the watchdog its heartbeat and carries the console's asks; ends (closing the
/// channel, so the watchdog restores) when every `Guardian` handle is dropped.
async fn keep(mut held: crate::node::Held, mut asks: mpsc::Receiver<Ask>) {
    let mut beat = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = beat.tick() => {
                if held.stdin.write_all(b"alive\n").await.is_err() {
                    return;
                }
            }
            ask = asks.recv() => {
                let Some(ask) = ask else { return };
                let (word, tx) = match ask {
                    Ask::Release(tx) => ("release", tx),
                    Ask::Restore(tx) => ("restore", tx),
                };
                let _ = tx.send(answer(&mut held, word).await);
                return;
            }
        }
    }
}

/// Sends one word and reads the watchdog's answer. A release answered `restored` is an
/// error: the watchdog had already given the node back (`freeze_max_secs` passed), so the
/// freeze the caller relies on is gone.
async fn answer(held: &mut crate::node::Held, word: &str) -> Result<()> {
    held.stdin.write_all(format!("{word}\n").as_bytes()).await?;
    held.stdin.flush().await?;
    let mut line = String::new();
    held.stdout.read_line(&mut line).await?;
    match (word, line.trim()) {
        ("release", "released") | ("restore", "restored") => Ok(()),
        ("release", "restored") => Err(eyre!(
            "it had already given the node back (freeze_max_secs passed); the freeze is gone"
        )),
        (_, "failed") => Err(eyre!("its restore failed (see guard.log in the state dir)")),
        (_, "") => Err(eyre!("it ended without an answer")),
        (_, other) => Err(eyre!("unexpected answer {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;

    #[test]
    fn the_script_restores_what_it_guards_and_keeps_no_secret_on_its_command_line() {
        let cfg = config::parse_str(config::EXAMPLE, std::path::Path::new("x.toml")).unwrap();
        let n = &cfg.nodes[0];
        let s = script(n, "sync-main", Restore::Database, 900, Some("/m/frozen"));
        assert!(s.contains("SET GLOBAL read_only = OFF"), "{s}");
        assert!(!s.contains("/etc/init.d/openkm start"), "{s}");
        assert!(s.contains("rm -f /m/frozen"), "{s}");
        assert!(s.contains("end=$((SECONDS + 900))"), "{s}");
        assert!(!s.to_lowercase().contains("password"), "{s}");
        let s = script(n, "sync-mirror", Restore::Service, 60, None);
        assert!(
            s.contains("( trap - HUP INT TERM PIPE; /etc/init.d/openkm start )"),
            "what it starts gets the default signals back: {s}"
        );
        assert!(!s.contains("read_only"), "{s}");
        let s = script(n, "flow-old", Restore::DatabaseAndService, 60, None);
        assert!(
            s.contains("read_only = OFF") && s.contains("openkm start"),
            "{s}"
        );
    }

    /// The script itself, run by a local bash with a service start that writes a file:
    /// the end of its stdin restores; a release does not.
    #[test]
    fn the_watchdog_restores_when_its_input_ends_and_not_after_a_release() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let cfg = config::parse_str(config::EXAMPLE, std::path::Path::new("x.toml")).unwrap();
        let mut n = cfg.nodes[0].clone();
        n.state_dir = dir.path().to_path_buf();
        let started = dir.path().join("started");
        // What it starts records the signals it ignores.
        n.service.start = format!("grep SigIgn /proc/self/status > {}", started.display());
        let marker = dir.path().join("frozen");
        std::fs::write(&marker, "service").unwrap();
        let run = |input: &str| {
            let mut child = std::process::Command::new("bash")
                .arg("-c")
                .arg(script(&n, "t", Restore::Service, 60, marker.to_str()))
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
            String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap()
        };
        assert_eq!(run(".\nalive\nrelease\n"), "armed\nreleased\n");
        assert!(!started.exists() && marker.exists());
        assert_eq!(run(".\nalive\n"), "armed\nrestored\n");
        let ignored = std::fs::read_to_string(&started).expect("OpenKM started again");
        let mask =
            u64::from_str_radix(ignored.trim().trim_start_matches("SigIgn:").trim(), 16).unwrap();
        // SIGHUP is 1, SIGINT 2, SIGTERM 15: bit n-1 of the mask.
        for sig in [1, 2, 15] {
            assert_eq!(
                mask & (1 << (sig - 1)),
                0,
                "signal {sig} ignored: {ignored}"
            );
        }
        assert!(!marker.exists(), "the marker goes once restored");
        let log = std::fs::read_to_string(dir.path().join("guard.log")).unwrap();
        assert!(
            log.contains("restoring: the console's session ended"),
            "{log}"
        );
        assert!(!dir.path().join("guard-t").exists());
    }
}
