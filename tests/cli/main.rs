//! The integration tests: each runs the real `discotag` binary on real files and reads the
//! Parquet output back.

mod bad_input;
mod data;
mod determinism;
mod label;
mod model;
mod qdpx;
mod real_encoder;
mod resume;
mod train_eval;
mod util;
