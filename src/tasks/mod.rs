//! Background work for the console: the engine that polls the pair and runs syncs and
//! flows, and talks to the UI only through typed messages (`EngineEvent`) whose
//! failures are typed too (`TaskError`: cancelled or failed).

pub mod cadence;
pub mod engine;
pub mod error;

pub use error::{TaskError, TaskResult};
