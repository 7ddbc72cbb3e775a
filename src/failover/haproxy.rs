//! HAProxy's runtime API (`stats socket ... level admin`): moving clients between the
//! nodes without a reload, and reading where they go.

use std::time::Duration;

use color_eyre::eyre::{Result, WrapErr, eyre};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::TrafficConfig;

/// Sends one command and returns HAProxy's answer (it closes the connection after it).
pub async fn command(traffic: &TrafficConfig, cmd: &str) -> Result<String> {
    let line = format!("{cmd}\n");
    let mut out = Vec::new();
    let io = async {
        if let Some(sock) = &traffic.haproxy_socket {
            let mut s = tokio::net::UnixStream::connect(sock)
                .await
                .wrap_err_with(|| format!("HAProxy socket {}", sock.display()))?;
            s.write_all(line.as_bytes()).await?;
            s.read_to_end(&mut out).await?;
        } else if let Some(addr) = &traffic.haproxy_address {
            let mut s = tokio::net::TcpStream::connect(addr)
                .await
                .wrap_err_with(|| format!("HAProxy runtime API {addr}"))?;
            s.write_all(line.as_bytes()).await?;
            s.read_to_end(&mut out).await?;
        } else {
            return Err(eyre!(
                "no HAProxy runtime API configured ([traffic] haproxy_socket)"
            ));
        }
        Ok::<_, color_eyre::eyre::Report>(())
    };
    tokio::time::timeout(Duration::from_secs(10), io)
        .await
        .map_err(|_| eyre!("HAProxy did not answer {cmd:?} in 10 s"))??;
    Ok(String::from_utf8_lossy(&out).trim().to_string())
}

/// The commands that send all traffic to `to` and none to `from`: the new main is made
/// ready before the old one goes to maintenance, so the backend is never empty longer
/// than needed.
pub fn switch_commands(backend: &str, from: &str, to: &str) -> Vec<String> {
    vec![
        format!("set server {backend}/{to} state ready"),
        format!("set server {backend}/{from} state maint"),
    ]
}

/// Runs `switch_commands`; any non-empty answer is HAProxy refusing.
pub async fn switch(traffic: &TrafficConfig, backend: &str, from: &str, to: &str) -> Result<()> {
    for cmd in switch_commands(backend, from, to) {
        let answer = command(traffic, &cmd).await?;
        if !answer.is_empty() {
            return Err(eyre!("HAProxy refused {cmd:?}: {answer}"));
        }
    }
    Ok(())
}

/// Administrative state per server of `backend`, from `show servers state`:
/// (server name, operational state, admin state) as numbers HAProxy documents
/// (srv_op_state 2 = running; srv_admin_state bit 0x01/0x20 = maintenance).
pub fn parse_servers_state(text: &str, backend: &str) -> Vec<(String, u32, u32)> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        // be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state ...
        if f.len() > 6
            && f[1] == backend
            && let (Ok(op), Ok(admin)) = (f[5].parse(), f[6].parse())
        {
            out.push((f[3].to_string(), op, admin));
        }
    }
    out
}

/// Whether a server takes traffic: running and not in maintenance or drain.
pub fn in_service(op: u32, admin: u32) -> bool {
    op == 2 && admin & 0x3f == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_new_main_is_ready_before_the_old_one_leaves() {
        assert_eq!(
            switch_commands("openkm", "alpha", "bravo"),
            [
                "set server openkm/bravo state ready",
                "set server openkm/alpha state maint"
            ]
        );
    }

    #[test]
    fn servers_state_is_read_per_backend() {
        let text = "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight\n\
                    3 openkm 1 alpha 127.0.0.2 2 0 1 1 10 6 3 4 6 0 0 0 - 8080 -\n\
                    3 openkm 2 bravo 127.0.0.3 0 1 1 1 10 6 3 4 6 0 0 0 - 8080 -\n\
                    4 stats 1 x 127.0.0.9 2 0 1\n";
        let s = parse_servers_state(text, "openkm");
        assert_eq!(
            s,
            [("alpha".to_string(), 2, 0), ("bravo".to_string(), 0, 1)]
        );
        assert!(in_service(2, 0));
        assert!(!in_service(0, 1));
        assert!(!in_service(2, 1));
    }
}
