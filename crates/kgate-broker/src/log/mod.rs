//! Log storage: per-partition segment files with sparse offset and time indexes.

pub mod batch;
pub mod cleaner;
pub mod config;
pub mod defaults;
pub mod partition;
pub mod producers;
pub mod segment;
pub mod transactions;

pub use config::LogConfig;
pub use partition::PartitionLog;
