//! The data every part reads and writes: the feature schema, tabular datasets, the
//! object store, and the prediction and feedback logs in it.

pub mod dataset;
pub mod log_file;
pub mod log_page;
pub mod parquet;
pub mod parquet_chunk;
pub mod parquet_log;
pub mod prediction_log;
pub mod schema;
pub mod storage;
