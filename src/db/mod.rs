//! Database access to a node's MySQL/MariaDB: connections (direct or tunnelled), status,
//! replication, GTID arithmetic and the heartbeat.

mod connect;
pub mod gtid;
pub mod heartbeat;
pub mod replica;
pub mod status;
pub mod versions;

pub use connect::{Endpoint, connect, server_error_code};
pub use status::{DbStatus, Flavour, read_status};
