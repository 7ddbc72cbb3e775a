//! Opening a connection: the password comes from its configured source and goes only into
//! the protocol handshake; a tunnel goes through a private Unix socket.

use std::path::Path;
use std::time::Duration;

use color_eyre::eyre::{Result, WrapErr, eyre};
use mysql_async::{ClientIdentity, Conn, OptsBuilder, SslOpts};

use crate::config::{DatabaseConfig, TlsMode};
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
    let tls = if cfg.tunnel {
        None
    } else {
        ssl_opts(node, cfg)?
    };
    let conn = open(node, cfg, &endpoint, opts, tls, timeout).await?;
    Ok((conn, endpoint))
}

/// Connects, with TLS when `tls` is given. `preferred` falls back to plain TCP only when
/// the server offers no TLS at all, never after a failed certificate check.
async fn open(
    node: &str,
    cfg: &DatabaseConfig,
    endpoint: &Endpoint,
    opts: OptsBuilder,
    tls: Option<SslOpts>,
    timeout: Duration,
) -> Result<Conn> {
    let attempt = |o: OptsBuilder| async move {
        tokio::time::timeout(timeout, Conn::new(o))
            .await
            .map_err(|_| eyre!("node {node}: database {endpoint}: no answer in {timeout:?}"))
    };
    let Some(tls) = tls else {
        return attempt(opts)
            .await?
            .wrap_err_with(|| format!("node {node}: database {endpoint} as {}", cfg.user));
    };
    match attempt(opts.clone().ssl_opts(Some(tls))).await? {
        Ok(conn) => Ok(conn),
        Err(mysql_async::Error::Driver(mysql_async::DriverError::NoClientSslFlagFromServer))
            if cfg.tls == TlsMode::Preferred =>
        {
            tracing::warn!(node, %endpoint, "the database offers no TLS; connecting in plain text (tls = \"preferred\")");
            attempt(opts)
                .await?
                .wrap_err_with(|| format!("node {node}: database {endpoint} as {}", cfg.user))
        }
        Err(mysql_async::Error::Driver(mysql_async::DriverError::NoClientSslFlagFromServer)) => {
            Err(eyre!(
                "node {node}: database {endpoint}: the server offers no TLS and tls = \"required\"; \
                 enable TLS on the server (ssl_cert, ssl_key) or tunnel the connection"
            ))
        }
        Err(e @ mysql_async::Error::Server(_)) => Err(e)
            .wrap_err_with(|| format!("node {node}: database {endpoint} as {} over TLS", cfg.user)),
        // The driver nests the same TLS error several times: say the innermost once.
        Err(e) => Err(eyre!(
            "node {node}: database {endpoint} as {} over TLS ({}): {}",
            cfg.user,
            tls_summary(cfg),
            innermost(&e)
        )),
    }
}

/// The server's error code when the server refused the connection (1045 access denied,
/// 1130 host not allowed), so callers can tell a refusal from a network fault.
pub fn server_error_code(report: &color_eyre::eyre::Report) -> Option<u16> {
    match report.downcast_ref::<mysql_async::Error>() {
        Some(mysql_async::Error::Server(e)) => Some(e.code),
        _ => None,
    }
}

/// The deepest cause of an error, which names what actually went wrong.
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// The TLS options of a direct connection, with the PEM files read here so that a
/// missing file is named as such.
fn ssl_opts(node: &str, cfg: &DatabaseConfig) -> Result<Option<SslOpts>> {
    if cfg.tls == TlsMode::Off {
        return Ok(None);
    }
    let read = |what: &str, p: &Path| {
        std::fs::read(p).wrap_err_with(|| {
            format!(
                "node {node}: database.{what} {}: cannot read it",
                p.display()
            )
        })
    };
    let mut opts = SslOpts::default();
    match &cfg.ca_file {
        Some(ca) => {
            opts = opts
                .with_root_certs(vec![read("ca_file", ca)?.into()])
                .with_disable_built_in_roots(true);
        }
        // Without a CA, `preferred` only encrypts (like MySQL's own PREFERRED).
        None if cfg.tls == TlsMode::Preferred => {
            opts = opts.with_danger_accept_invalid_certs(true);
        }
        None => {}
    }
    if let (Some(cert), Some(key)) = (&cfg.client_cert_file, &cfg.client_key_file) {
        let id = ClientIdentity::new(
            read("client_cert_file", cert)?.into(),
            read("client_key_file", key)?.into(),
        );
        opts = opts.with_client_identity(Some(id));
    }
    Ok(Some(opts))
}

/// How the server is checked, for error messages.
fn tls_summary(cfg: &DatabaseConfig) -> String {
    match (&cfg.ca_file, cfg.tls) {
        (Some(ca), _) => format!("server certificate checked against {}", ca.display()),
        (None, TlsMode::Required) => "server certificate checked against the system roots".into(),
        (None, _) => "server certificate not checked".into(),
    }
}
