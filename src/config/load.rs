//! Reading a config file: syntax, structure, then the rules in `validate`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::Config;
use super::error::{ConfigError, ConfigErrors};
use super::locate::{line_col, position_of};
use super::validate::validate;

/// `~/.config/okmirror/okmirror.toml` (or the platform's equivalent).
pub fn default_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "okmirror").map(|d| d.config_dir().join("okmirror.toml"))
}

/// Loads and validates a config file without touching any node.
pub fn load_file(path: &Path) -> Result<Config, ConfigErrors> {
    let whole = |message: String| {
        ConfigErrors(vec![ConfigError {
            file: path.to_path_buf(),
            line: 0,
            column: 0,
            key: String::new(),
            message,
        }])
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        whole(if e.kind() == std::io::ErrorKind::NotFound {
            "no such file; write an annotated one with `okmirror config example > FILE`".into()
        } else {
            format!("cannot read: {e}")
        })
    })?;
    let config = parse_str(&text, path)?;
    let mode = std::fs::metadata(path)
        .map_err(|e| whole(format!("cannot stat: {e}")))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        let errors: Vec<ConfigError> = inline_secret_keys(&config)
            .into_iter()
            .map(|key| {
                let (line, column) = position_of(&text, &key);
                ConfigError {
                    file: path.to_path_buf(),
                    line,
                    column,
                    key,
                    message: format!(
                        "a password is written inline but the file is readable by group/others \
                         (mode {mode:03o}); run `chmod 600 {}`, or use password_file/password_env",
                        path.display()
                    ),
                }
            })
            .collect();
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
    }
    Ok(config)
}

/// Parses and validates config text; `file` is only used in error messages.
pub fn parse_str(text: &str, file: &Path) -> Result<Config, ConfigErrors> {
    let at = |key: String, message: String, span: Option<std::ops::Range<usize>>| {
        let (line, column) = match span {
            Some(s) => line_col(text, s.start),
            None => position_of(text, &key),
        };
        ConfigError {
            file: file.to_path_buf(),
            line,
            column,
            key,
            message,
        }
    };
    let deserializer = toml::Deserializer::parse(text).map_err(|e| {
        ConfigErrors(vec![at(
            String::new(),
            e.message().trim().to_string(),
            e.span(),
        )])
    })?;
    let mut config: Config = serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let key = e.path().to_string();
        let key = if key == "." { String::new() } else { key };
        let inner = e.into_inner();
        ConfigErrors(vec![at(
            key,
            inner.message().trim().to_string(),
            inner.span(),
        )])
    })?;
    let problems = validate(&mut config);
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(ConfigErrors(
            problems
                .into_iter()
                .map(|(key, message)| at(key, message, None))
                .collect(),
        ))
    }
}

fn inline_secret_keys(config: &Config) -> Vec<String> {
    let mut keys = Vec::new();
    for (i, n) in config.nodes.iter().enumerate() {
        if n.database.password.is_some() {
            keys.push(format!("node[{i}].database.password"));
        }
        if n.http.password.is_some() {
            keys.push(format!("node[{i}].http.password"));
        }
    }
    if config
        .replication
        .as_ref()
        .is_some_and(|r| r.password.is_some())
    {
        keys.push("replication.password".into());
    }
    keys
}
