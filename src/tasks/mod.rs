//! Background work for the console: the engine that polls the pair and runs syncs and
//! flows, and talks to the UI only through typed messages (`EngineEvent`).

pub mod engine;
