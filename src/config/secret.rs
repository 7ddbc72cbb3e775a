//! Secrets (database and OpenKM passwords): never printed, never put on a command line.

use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A secret value. `Debug` shows `***`; there is no `Display`, so it cannot leak by format.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value read from somewhere trusted.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, for the one place that must send it (a protocol handshake, stdin).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Where a password comes from: exactly one of inline, environment variable, or file.
#[derive(Debug, Clone)]
pub enum SecretSource {
    Inline(Secret),
    Env(String),
    File(PathBuf),
}

impl SecretSource {
    /// Builds the source from a section's three optional keys; `Err` says what is wrong.
    pub fn from_keys(
        inline: Option<&Secret>,
        env: Option<&str>,
        file: Option<&Path>,
    ) -> Result<SecretSource, &'static str> {
        match (inline, env, file) {
            (Some(s), None, None) => Ok(SecretSource::Inline(s.clone())),
            (None, Some(e), None) => Ok(SecretSource::Env(e.to_string())),
            (None, None, Some(f)) => Ok(SecretSource::File(f.to_path_buf())),
            (None, None, None) => {
                Err("no password given: set one of password_file, password_env or password")
            }
            _ => Err(
                "more than one password given: keep only one of password_file, password_env or password",
            ),
        }
    }

    /// Reads the secret now. A password file readable by group or others is refused.
    pub fn resolve(&self) -> Result<Secret, String> {
        match self {
            SecretSource::Inline(s) => Ok(s.clone()),
            SecretSource::Env(var) => match std::env::var(var) {
                Ok(v) if !v.is_empty() => Ok(Secret(v)),
                Ok(_) => Err(format!("environment variable {var} is empty")),
                Err(_) => Err(format!("environment variable {var} is not set")),
            },
            SecretSource::File(path) => {
                let meta = std::fs::metadata(path)
                    .map_err(|e| format!("password file {}: {e}", path.display()))?;
                let mode = meta.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    return Err(format!(
                        "password file {} is readable by group/others (mode {mode:03o}); \
                         run: chmod 600 {}",
                        path.display(),
                        path.display()
                    ));
                }
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("password file {}: {e}", path.display()))?;
                let value = text.trim_end_matches(['\n', '\r']).to_string();
                if value.is_empty() {
                    return Err(format!("password file {} is empty", path.display()));
                }
                Ok(Secret(value))
            }
        }
    }
}
