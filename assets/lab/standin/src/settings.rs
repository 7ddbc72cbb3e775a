//! The stand-in's settings: a `key=value` file, so no secret is ever on a command line.

use std::collections::HashMap;
use std::path::PathBuf;

/// Everything `serve` needs, read from the file named by `--config`.
pub struct Settings {
    pub listen: String,
    pub home: PathBuf,
    pub db_host: String,
    pub db_port: u16,
    pub db_user: String,
    pub db_name: String,
    pub db_password: String,
    pub auth_user: String,
    pub auth_password: String,
}

impl Settings {
    /// Reads `--config FILE` from the arguments.
    pub fn from_args(args: &[String]) -> Result<Settings, String> {
        match args {
            [flag, path] if flag == "--config" => Self::load(path),
            _ => Err("serve takes exactly: --config FILE".into()),
        }
    }

    fn load(path: &str) -> Result<Settings, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        let mut map = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (k, v) = line
                .split_once('=')
                .ok_or_else(|| format!("{path}:{}: expected key=value", i + 1))?;
            map.insert(k.trim().to_string(), v.trim().to_string());
        }
        let get = |k: &str| {
            map.get(k)
                .cloned()
                .ok_or_else(|| format!("{path}: missing key '{k}'"))
        };
        let secret = |k: &str| -> Result<String, String> {
            let file = get(k)?;
            std::fs::read_to_string(&file)
                .map(|s| s.trim_end().to_string())
                .map_err(|e| format!("{path}: {k} = {file}: {e}"))
        };
        Ok(Settings {
            listen: get("listen")?,
            home: PathBuf::from(get("home")?),
            db_host: get("db_host")?,
            db_port: get("db_port")?
                .parse()
                .map_err(|_| format!("{path}: db_port is not a port number"))?,
            db_user: get("db_user")?,
            db_name: get("db_name")?,
            db_password: secret("db_password_file")?,
            auth_user: get("auth_user")?,
            auth_password: secret("auth_password_file")?,
        })
    }
}
