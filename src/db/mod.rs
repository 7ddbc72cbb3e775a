//! Database connections to a node's MySQL/MariaDB, directly or through its SSH session.

mod connect;

pub use connect::{Endpoint, connect};
