//! One SSH session per node (OpenSSH master + native multiplexing), set up on first use
//! and again after a failure.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use openssh::{ControlPersist, ForwardType, KnownHosts, Session, SessionBuilder, Socket, Stdio};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Mutex, mpsc};

use super::error::SshError;
use crate::config::SshConfig;

/// How long an SSH master with no session left stays up (seconds).
const MASTER_IDLE: std::num::NonZeroUsize = std::num::NonZeroUsize::new(600).unwrap();

/// What a finished remote command left.
#[derive(Debug, Clone)]
pub struct Output {
    /// `None` when the command was killed by a signal (or the exit code was lost).
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// True for exit code 0.
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }
}

/// A remote command held open (`NodeSsh::hold`): lines go to its stdin, answers come
/// from its stdout. Dropping it closes the channel.
pub struct Held {
    _child: openssh::Child<Arc<Session>>,
    pub stdin: openssh::ChildStdin,
    pub stdout: tokio::io::BufReader<openssh::ChildStdout>,
}

/// A node as reached over SSH; cheap to share, safe to use from many tasks at once.
pub struct NodeSsh {
    cfg: SshConfig,
    control_dir: PathBuf,
    session: Mutex<Option<Arc<Session>>>,
    /// The last failed connect and when it ended: callers that waited while it ran
    /// share its answer instead of each waiting a connect timeout of their own.
    failed: std::sync::Mutex<Option<(std::time::Instant, SshError)>>,
}

impl NodeSsh {
    /// Prepares (does not open) the session; `control_dir` holds the control socket.
    pub fn new(cfg: SshConfig, control_dir: &Path) -> NodeSsh {
        NodeSsh {
            cfg,
            control_dir: control_dir.to_path_buf(),
            session: Mutex::new(None),
            failed: std::sync::Mutex::new(None),
        }
    }

    /// The host as configured, for messages.
    pub fn host(&self) -> &str {
        &self.cfg.host
    }

    /// The live session, opening it if needed.
    pub async fn session(&self) -> Result<Arc<Session>, SshError> {
        let asked = std::time::Instant::now();
        let mut guard = self.session.lock().await;
        if let Some(s) = guard.as_ref() {
            return Ok(Arc::clone(s));
        }
        // A connect that failed while this caller waited is its answer too (a dead node
        // costs one connect timeout, however many tasks asked at once). An older
        // failure is never reused: every new ask connects afresh.
        if let Ok(f) = self.failed.lock()
            && let Some((at, e)) = f.as_ref()
            && *at >= asked
        {
            return Err(e.clone());
        }
        match self.open().await {
            Ok(s) => {
                let s = Arc::new(s);
                *guard = Some(Arc::clone(&s));
                Ok(s)
            }
            Err(e) => {
                if let Ok(mut f) = self.failed.lock() {
                    *f = Some((std::time::Instant::now(), e.clone()));
                }
                Err(e)
            }
        }
    }

    async fn open(&self) -> Result<Session, SshError> {
        crate::paths::ensure_private_dir(&self.control_dir).map_err(|e| SshError::Other {
            host: self.cfg.host.clone(),
            detail: format!("{e}"),
        })?;
        let mut b = SessionBuilder::default();
        b.user(self.cfg.user.clone())
            .port(self.cfg.port)
            .connect_timeout(Duration::from_secs(self.cfg.connect_timeout_secs))
            .server_alive_interval(Duration::from_secs(5))
            // A console killed by SIGKILL cannot close its master: an idle one exits on
            // its own instead of living forever (a running console is never idle).
            .control_persist(ControlPersist::IdleFor(MASTER_IDLE))
            .control_directory(&self.control_dir)
            .known_hosts_check(if self.cfg.strict_host_key_checking {
                KnownHosts::Strict
            } else {
                KnownHosts::Add
            });
        if let Some(k) = &self.cfg.identity_file {
            b.keyfile(k);
        }
        if let Some(k) = &self.cfg.known_hosts_file {
            b.user_known_hosts_file(k);
        }
        // ssh's own ConnectTimeout covers TCP and the handshake; this is a backstop.
        let limit = Duration::from_secs(self.cfg.connect_timeout_secs + 5);
        match tokio::time::timeout(limit, b.connect_mux(&self.cfg.host)).await {
            Err(_) => Err(SshError::ConnectTimeout {
                host: self.cfg.host.clone(),
            }),
            Ok(Ok(s)) => Ok(s),
            Ok(Err(e)) => Err(SshError::from_ssh_message(
                &self.cfg.host,
                &self.cfg.user,
                &error_chain(&e),
            )),
        }
    }

    /// Forgets the session (after a failure), closing it in the background.
    pub async fn reset(&self) {
        if let Some(s) = self.session.lock().await.take()
            && let Ok(s) = Arc::try_unwrap(s)
        {
            let _ = s.close().await;
        }
    }

    /// Runs a POSIX `sh` script on the node and collects its output.
    pub async fn run(&self, script: &str, timeout: Duration) -> Result<Output, SshError> {
        self.run_with_stdin(script, None, timeout).await
    }

    /// Like `run`, feeding `stdin` to the script: the way secrets reach a node.
    pub async fn run_with_stdin(
        &self,
        script: &str,
        stdin: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<Output, SshError> {
        let began = std::time::Instant::now();
        let result = tokio::time::timeout(timeout, self.run_inner(script, stdin)).await;
        self.trace(script, began);
        self.settle(result, timeout).await
    }

    /// A debug line per remote command with its wall time (`OKMIRROR_LOG=okmirror=debug`),
    /// to see where a phase's time goes. okmirror's scripts carry no secret (those go on
    /// stdin), but an admin's own service command might: only its start is logged, masked.
    fn trace(&self, script: &str, began: std::time::Instant) {
        let head: String = script
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(80)
            .collect();
        tracing::debug!(
            host = %self.cfg.host,
            ms = began.elapsed().as_millis() as u64,
            "ssh: {}",
            crate::format::mask_secrets(&head)
        );
    }

    async fn run_inner(&self, script: &str, stdin: Option<&[u8]>) -> Result<Output, SshError> {
        let session = self.session().await?;
        let mut cmd = session.shell(script);
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().await.map_err(|e| self.lost(&e))?;
        if let (Some(data), Some(mut w)) = (stdin, child.stdin().take()) {
            w.write_all(data).await.map_err(|e| self.lost_io(&e))?;
            w.shutdown().await.map_err(|e| self.lost_io(&e))?;
        }
        let out = child.stdout().take();
        let err = child.stderr().take();
        let (stdout, stderr) = tokio::join!(read_all(out), read_all(err));
        let status = child.wait().await;
        match status {
            Ok(s) => Ok(Output {
                status: s.code(),
                stdout,
                stderr,
            }),
            Err(openssh::Error::RemoteProcessTerminated) => {
                // A signal, or the connection dropped: tell them apart.
                if session.check().await.is_ok() {
                    Ok(Output {
                        status: None,
                        stdout,
                        stderr,
                    })
                } else {
                    Err(SshError::Disconnected {
                        host: self.cfg.host.clone(),
                    })
                }
            }
            Err(e) => Err(self.lost(&e)),
        }
    }

    /// Runs a script and sends each line of its stdout as it comes (lines end at `\n`
    /// or `\r`, so progress meters arrive too); returns the exit code. `stdin` (a path
    /// list, say) is written while the output is read, so neither side can block.
    pub async fn stream(
        &self,
        script: &str,
        stdin: Option<&[u8]>,
        timeout: Duration,
        lines: mpsc::Sender<String>,
    ) -> Result<Option<i32>, SshError> {
        let fut = async {
            let session = self.session().await?;
            let mut cmd = session.shell(script);
            cmd.stdin(match stdin {
                Some(_) => Stdio::piped(),
                None => Stdio::null(),
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
            let mut child = cmd.spawn().await.map_err(|e| self.lost(&e))?;
            let (input, out) = (child.stdin().take(), child.stdout().take());
            let feed = async {
                if let (Some(data), Some(mut w)) = (stdin, input) {
                    w.write_all(data).await.map_err(|e| self.lost_io(&e))?;
                    w.shutdown().await.map_err(|e| self.lost_io(&e))?;
                }
                Ok::<(), SshError>(())
            };
            let (fed, read) = tokio::join!(feed, self.read_lines(out, &lines));
            read?;
            fed?;
            match child.wait().await {
                Ok(s) => Ok(s.code()),
                Err(openssh::Error::RemoteProcessTerminated) => Ok(None),
                Err(e) => Err(self.lost(&e)),
            }
        };
        let began = std::time::Instant::now();
        let result = tokio::time::timeout(timeout, fut).await;
        self.trace(script, began);
        self.settle(result, timeout).await
    }

    /// Sends each line of `out` as it comes, until it ends.
    async fn read_lines<R: AsyncRead + Unpin>(
        &self,
        out: Option<R>,
        lines: &mpsc::Sender<String>,
    ) -> Result<(), SshError> {
        if let Some(mut out) = out {
            let mut buf = [0u8; 8192];
            let mut line = Vec::new();
            loop {
                let n = out.read(&mut buf).await.map_err(|e| self.lost_io(&e))?;
                if n == 0 {
                    break;
                }
                for &b in &buf[..n] {
                    if b == b'\n' || b == b'\r' {
                        if !line.is_empty() {
                            let _ = lines
                                .send(String::from_utf8_lossy(&line).into_owned())
                                .await;
                            line.clear();
                        }
                    } else {
                        line.push(b);
                    }
                }
            }
            if !line.is_empty() {
                let _ = lines
                    .send(String::from_utf8_lossy(&line).into_owned())
                    .await;
            }
        }
        Ok(())
    }

    /// Starts a `bash` script that lives as long as this session's channel: it reads
    /// lines from the returned handle and answers on its stdout. When the handle is
    /// dropped, or this process dies, or the link is cut, the script's stdin ends: that
    /// is how a node-side watchdog learns that the console is gone.
    pub async fn hold(&self, script: &str) -> Result<Held, SshError> {
        let session = self.session().await?;
        let mut cmd = Session::arc_command(session, "bash");
        cmd.arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().await.map_err(|e| self.lost(&e))?;
        let stdin = child.stdin().take();
        let stdout = child.stdout().take();
        match (stdin, stdout) {
            (Some(stdin), Some(stdout)) => Ok(Held {
                _child: child,
                stdin,
                stdout: tokio::io::BufReader::new(stdout),
            }),
            _ => Err(SshError::Other {
                host: self.cfg.host.clone(),
                detail: "no pipes to a held command".into(),
            }),
        }
    }

    /// Forwards a local Unix socket to `host:port` as seen from the node (a DB tunnel).
    pub async fn forward_to(&self, local: &Path, host: &str, port: u16) -> Result<(), SshError> {
        let session = self.session().await?;
        let _ = std::fs::remove_file(local);
        session
            .request_port_forward(
                ForwardType::Local,
                Socket::UnixSocket { path: local.into() },
                Socket::TcpSocket {
                    host: host.into(),
                    port,
                },
            )
            .await
            .map_err(|e| self.lost(&e))
    }

    async fn settle<T>(
        &self,
        result: Result<Result<T, SshError>, tokio::time::error::Elapsed>,
        timeout: Duration,
    ) -> Result<T, SshError> {
        let r = match result {
            Ok(r) => r,
            Err(_) => Err(SshError::CommandTimeout {
                host: self.cfg.host.clone(),
                after: timeout,
            }),
        };
        if let Err(e) = &r {
            if e.needs_reconnect() {
                self.reset().await;
            } else if let Some(s) = self.session.lock().await.clone() {
                // A timeout may mean the host hung: keep the session only if it still answers.
                let alive = tokio::time::timeout(Duration::from_secs(1), s.check()).await;
                if !matches!(alive, Ok(Ok(()))) {
                    drop(s);
                    self.reset().await;
                }
            }
        }
        r
    }

    fn lost(&self, e: &openssh::Error) -> SshError {
        if matches!(e, openssh::Error::Disconnected | openssh::Error::SshMux(_)) {
            return SshError::Disconnected {
                host: self.cfg.host.clone(),
            };
        }
        SshError::from_ssh_message(&self.cfg.host, &self.cfg.user, &error_chain(e))
    }

    fn lost_io(&self, e: &std::io::Error) -> SshError {
        SshError::from_ssh_message(&self.cfg.host, &self.cfg.user, &e.to_string())
    }
}

async fn read_all<R: AsyncRead + Unpin>(r: Option<R>) -> String {
    let mut buf = Vec::new();
    if let Some(mut r) = r {
        let _ = r.read_to_end(&mut buf).await;
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// An error and all its sources on one line: ssh's own words are in the innermost.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
