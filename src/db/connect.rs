//! Opening a connection: the password comes from its configured source and goes only into
//! the protocol handshake; a tunnel goes through a private Unix socket.

use std::path::Path;
use std::time::Duration;

use color_eyre::eyre::{Result, WrapErr, eyre};
use mysql_async::{Conn, OptsBuilder};

use crate::config::DatabaseConfig;
use crate::node::NodeSsh;

/// Where a connection actually went, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Direct {
        host: String,
        port: u16,
    },
    Tunnel {
        via: String,
        host: String,
        port: u16,
    },
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Direct { host, port } => write!(f, "{host}:{port}"),
            Endpoint::Tunnel { via, host, port } => write!(f, "{host}:{port} via SSH to {via}"),
        }
    }
}

/// Connects to a node's database. With `tunnel = true`, `ssh` must be the node's session
/// and `socket_dir` a private folder for the forwarded socket.
pub async fn connect(
    node: &str,
    cfg: &DatabaseConfig,
    ssh: Option<&NodeSsh>,
    socket_dir: &Path,
    timeout: Duration,
) -> Result<(Conn, Endpoint)> {
    let source = cfg
        .password_source()
        .map_err(|m| eyre!("node {node}: database: {m}"))?;
    let password = source
        .resolve()
        .map_err(|m| eyre!("node {node}: database password: {m}"))?;
    let mut opts = OptsBuilder::default()
        .user(Some(cfg.user.clone()))
        .pass(Some(password.expose().to_string()))
        .db_name(Some(cfg.schema.clone()))
        .prefer_socket(false)
        .wait_timeout(Some(600));
    let endpoint = if cfg.tunnel {
        let ssh =
            ssh.ok_or_else(|| eyre!("node {node}: database.tunnel needs the node's SSH session"))?;
        crate::paths::ensure_private_dir(socket_dir)?;
        let sock = socket_dir.join(format!("{node}-db.sock"));
        ssh.forward_to(&sock, &cfg.host, cfg.port)
            .await
            .wrap_err_with(|| format!("node {node}: tunnelling to the database"))?;
        opts = opts.socket(Some(sock.to_string_lossy().into_owned()));
        Endpoint::Tunnel {
            via: ssh.host().to_string(),
            host: cfg.host.clone(),
            port: cfg.port,
        }
    } else {
        opts = opts.ip_or_hostname(cfg.host.clone()).tcp_port(cfg.port);
        Endpoint::Direct {
            host: cfg.host.clone(),
            port: cfg.port,
        }
    };
    let conn = tokio::time::timeout(timeout, Conn::new(opts))
        .await
        .map_err(|_| eyre!("node {node}: database {endpoint}: no answer in {timeout:?}"))?
        .wrap_err_with(|| format!("node {node}: database {endpoint} as {}", cfg.user))?;
    Ok((conn, endpoint))
}
