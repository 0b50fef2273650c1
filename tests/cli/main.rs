//! The integration tests: each runs the real `discotag` binary on real files and reads the
//! Parquet output back.

mod agree;
mod bad_input;
mod data;
mod determinism;
mod docx;
mod label;
mod model;
mod precision;
mod qdpx;
mod real_encoder;
mod resume;
mod streaming;
mod train_eval;
mod util;
