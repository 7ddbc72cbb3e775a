//! Documents: immutable datastore files plus version rows, written the way OpenKM does.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use md5::{Digest, Md5};
use mysql_async::prelude::Queryable;
use mysql_async::{IsolationLevel, OptsBuilder, Pool, TxOpts};
use tokio::runtime::Runtime;

use crate::settings::Settings;

/// Why a store operation failed, mapped to OpenKM's exception names by the server.
pub enum StoreError {
    ReadOnly,
    Exists(String),
    NotFound(String),
    Internal(String),
}

impl From<mysql_async::Error> for StoreError {
    fn from(e: mysql_async::Error) -> Self {
        StoreError::Internal(e.to_string())
    }
}

/// The node's repository: its datastore folder and its database.
pub struct Store {
    rt: Runtime,
    pool: Pool,
    datastore: PathBuf,
    /// Read once at start-up, as OpenKM does; a change needs a restart.
    pub read_only: bool,
    pub repository_uuid: String,
}

impl Store {
    /// Connects to the database (waiting for it up to 30 s) and reads the start-up flags.
    pub fn open(s: &Settings) -> Result<Store, String> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| format!("tokio runtime: {e}"))?;
        let opts = OptsBuilder::default()
            .ip_or_hostname(s.db_host.clone())
            .tcp_port(s.db_port)
            .user(Some(s.db_user.clone()))
            .pass(Some(s.db_password.clone()))
            .db_name(Some(s.db_name.clone()));
        let pool = Pool::new(opts);
        let datastore = s.home.join("repository").join("datastore");
        let (read_only, repository_uuid) = rt.block_on(async {
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut conn = loop {
                match pool.get_conn().await {
                    Ok(c) => break c,
                    Err(e) if Instant::now() > deadline => {
                        return Err(format!("database {}:{}: {e}", s.db_host, s.db_port));
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            };
            let flag: Option<String> = conn
                .exec_first(
                    "SELECT CFG_VALUE FROM OKM_CONFIG WHERE CFG_KEY = 'system.readonly'",
                    (),
                )
                .await
                .map_err(|e| format!("reading system.readonly: {e}"))?;
            let uuid: Option<String> = conn
                .exec_first(
                    "SELECT NBS_UUID FROM OKM_NODE_BASE \
                     WHERE NBS_CONTEXT = 'okm_root' AND NBS_NAME = 'okm:root'",
                    (),
                )
                .await
                .map_err(|e| format!("reading the repository UUID: {e}"))?;
            let read_only = flag.is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
            Ok((read_only, uuid.unwrap_or_default()))
        })?;
        Ok(Store {
            rt,
            pool,
            datastore,
            read_only,
            repository_uuid,
        })
    }

    /// True when a trivial query answers: what `/OpenKM/Status` reports.
    pub fn healthy(&self) -> bool {
        self.rt.block_on(async {
            match self.pool.get_conn().await {
                Ok(mut c) => c.query_drop("SELECT 1").await.is_ok(),
                Err(_) => false,
            }
        })
    }

    /// Creates a document: the content lands durably in its datastore file, then one
    /// transaction records the version. Only then is it acknowledged.
    pub fn create(&self, doc_path: &str, content: &[u8]) -> Result<String, StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly);
        }
        let version = uuid::Uuid::new_v4();
        let document = uuid::Uuid::new_v4();
        let file = self.file_of(&version.to_string());
        write_durably(&file, content).map_err(|e| StoreError::Internal(e.to_string()))?;
        let checksum = format!("{:x}", Md5::digest(content));
        // InnoDB may pick this transaction as a deadlock victim under concurrent inserts;
        // like any OpenKM deployment, retry it a few times before giving up.
        let mut attempt = 0;
        let result = loop {
            attempt += 1;
            let r = self.rt.block_on(async {
                let mut conn = self.pool.get_conn().await?;
                let mut opts = TxOpts::default();
                opts.with_isolation_level(IsolationLevel::ReadCommitted);
                let mut tx = conn.start_transaction(opts).await?;
                tx.exec_drop(
                    "INSERT INTO OKM_NODE_DOCUMENT_VERSION (NDV_UUID, NDV_PARENT, NDV_PATH, \
                     NDV_NAME, NDV_SIZE, NDV_CHECKSUM, NDV_CREATED, NDV_CURRENT) \
                     VALUES (?, ?, ?, '1.0', ?, ?, UTC_TIMESTAMP(6), 'T')",
                    (
                        version.to_string(),
                        document.to_string(),
                        doc_path,
                        content.len() as u64,
                        &checksum,
                    ),
                )
                .await?;
                tx.commit().await
            });
            match r {
                Err(mysql_async::Error::Server(se))
                    if (se.code == 1213 || se.code == 1205) && attempt < 5 => {}
                other => break other,
            }
        };
        match result {
            Ok(()) => Ok(document.to_string()),
            Err(e) => {
                let _ = fs::remove_file(&file);
                match e {
                    mysql_async::Error::Server(se) if se.code == 1062 => {
                        Err(StoreError::Exists(doc_path.to_string()))
                    }
                    mysql_async::Error::Server(se) if se.code == 1290 => Err(StoreError::ReadOnly),
                    other => Err(StoreError::Internal(other.to_string())),
                }
            }
        }
    }

    /// The content of a document's current version.
    pub fn content(&self, doc_path: &str) -> Result<Vec<u8>, StoreError> {
        let version: Option<String> = self.rt.block_on(async {
            let mut conn = self.pool.get_conn().await?;
            conn.exec_first(
                "SELECT NDV_UUID FROM OKM_NODE_DOCUMENT_VERSION \
                 WHERE NDV_PATH = ? AND NDV_CURRENT = 'T'",
                (doc_path,),
            )
            .await
        })?;
        let version = version.ok_or_else(|| StoreError::NotFound(doc_path.to_string()))?;
        fs::read(self.file_of(&version)).map_err(|e| StoreError::Internal(e.to_string()))
    }

    /// `datastore/ab/cd/ef/01/<uuid>`: four levels of two hex characters of the version UUID.
    fn file_of(&self, version: &str) -> PathBuf {
        let hex: String = version.chars().filter(|c| *c != '-').collect();
        let mut p = self.datastore.clone();
        for level in 0..4 {
            p.push(&hex[level * 2..level * 2 + 2]);
        }
        p.push(version);
        p
    }
}

/// Writes to a temporary name, syncs, renames into place and syncs the folder, so the
/// file is either absent or complete, also after a crash.
fn write_durably(path: &Path, content: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("doc");
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = File::create(&tmp)?;
    f.write_all(content)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, path)?;
    File::open(dir)?.sync_all()
}
