//! SSH failures, told apart so the console can say what to fix.

use std::time::Duration;

/// Why a node could not be reached or a command did not finish.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SshError {
    #[error("{host}: unreachable ({detail})")]
    Unreachable { host: String, detail: String },
    #[error("{host}: connection refused (is sshd running and listening on that port?)")]
    Refused { host: String },
    #[error(
        "{host}: authentication failed for user {user} (check identity_file and authorized_keys)"
    )]
    AuthFailed { host: String, user: String },
    #[error(
        "{host}: host key unknown; refused (add the node's key to known_hosts_file after \
         checking its fingerprint)"
    )]
    HostKeyUnknown { host: String },
    #[error(
        "{host}: HOST KEY CHANGED; refused (possible man-in-the-middle, or a reinstalled node: \
         verify before updating known_hosts_file)"
    )]
    HostKeyChanged { host: String },
    #[error("{host}: connection timed out")]
    ConnectTimeout { host: String },
    #[error("{host}: command timed out after {}", humantime(*.after))]
    CommandTimeout { host: String, after: Duration },
    #[error("{host}: connection lost")]
    Disconnected { host: String },
    #[error("{host}: {detail}")]
    Other { host: String, detail: String },
}

impl SshError {
    /// Classifies what ssh said when the connection could not be set up.
    pub fn from_ssh_message(host: &str, user: &str, message: &str) -> SshError {
        let host = host.to_string();
        let m = message.to_ascii_lowercase();
        if m.contains("remote host identification has changed")
            || m.contains("host key for") && m.contains("has changed")
        {
            SshError::HostKeyChanged { host }
        } else if m.contains("host key verification failed") || m.contains("host key is known for")
        {
            SshError::HostKeyUnknown { host }
        } else if m.contains("permission denied") || m.contains("too many authentication failures")
        {
            SshError::AuthFailed {
                host,
                user: user.to_string(),
            }
        } else if m.contains("connection refused") {
            SshError::Refused { host }
        } else if m.contains("timed out") {
            SshError::ConnectTimeout { host }
        } else if m.contains("no route to host")
            || m.contains("network is unreachable")
            || m.contains("could not resolve hostname")
            || m.contains("name or service not known")
        {
            SshError::Unreachable {
                host,
                detail: first_line(message),
            }
        } else if m.contains("connection closed")
            || m.contains("connection was terminated")
            || m.contains("connection reset")
            || m.contains("broken pipe")
        {
            SshError::Disconnected { host }
        } else {
            SshError::Other {
                host,
                detail: first_line(message),
            }
        }
    }

    /// True when the session should be dropped and set up again on the next call.
    pub fn needs_reconnect(&self) -> bool {
        !matches!(self, SshError::CommandTimeout { .. })
    }
}

fn first_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("unknown error")
        .to_string()
}

fn humantime(d: Duration) -> String {
    if d.as_millis() < 1000 {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(msg: &str) -> SshError {
        SshError::from_ssh_message("127.0.0.9", "root", msg)
    }

    #[test]
    fn classifies_what_openssh_prints() {
        // Samples as printed by OpenSSH 9.2 (client side, -E log).
        assert!(matches!(
            class("ssh: connect to host 127.0.0.9 port 2222: Connection refused"),
            SshError::Refused { .. }
        ));
        assert!(matches!(
            class(
                "No ED25519 host key is known for [127.0.0.2]:2222 and you have requested strict checking.\r\nHost key verification failed."
            ),
            SshError::HostKeyUnknown { .. }
        ));
        assert!(matches!(
            class(
                "@@@@@@@@@@@\r\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\r\nHost key verification failed."
            ),
            SshError::HostKeyChanged { .. }
        ));
        assert!(matches!(
            class("root@127.0.0.2: Permission denied (publickey)."),
            SshError::AuthFailed { .. }
        ));
        assert!(matches!(
            class("ssh: connect to host 10.255.0.1 port 22: Connection timed out"),
            SshError::ConnectTimeout { .. }
        ));
        assert!(matches!(
            class("ssh: Could not resolve hostname nosuch: Name or service not known"),
            SshError::Unreachable { .. }
        ));
        assert!(matches!(class("something odd"), SshError::Other { .. }));
    }

    #[test]
    fn messages_say_what_to_do() {
        let e = SshError::AuthFailed {
            host: "h".into(),
            user: "root".into(),
        };
        assert_eq!(
            e.to_string(),
            "h: authentication failed for user root (check identity_file and authorized_keys)"
        );
        let t = SshError::CommandTimeout {
            host: "h".into(),
            after: Duration::from_millis(1500),
        };
        assert_eq!(t.to_string(), "h: command timed out after 1.5 s");
    }
}
