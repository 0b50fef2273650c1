//! discotag: discourse tagging of interview transcripts with a local transformer classifier.
//!
//! # Brief overview
//!
//! `discotag label` runs a streaming pipeline whose stages live in their own modules:
//!
//! | stage | module | what it does |
//! |---|---|---|
//! | read | [`input`] | find inputs (files, folders, stdin), shard, hash, parse into [`input::Document`]s |
//! | segment | [`segment`] | split documents into [`segment::Segment`]s with exact code-point offsets |
//! | tokenise | [`tokenize`] | token ids, token count, truncated flag |
//! | batch | [`batch`] | length-bucketed batches; results restored to document order |
//! | encode and classify | [`model`] | candle BERT encoder, mean pooling, multi-label head |
//! | write | [`output`] | Parquet dataset, run manifest, errors file, lock |
//!
//! [`pipeline`] wires the stages together over bounded channels. [`refi`] reads and writes
//! REFI-QDA projects (.qdpx) and codebooks (.qdc). [`train`] fits the head from
//! labelled utterances ([`labelled`]) and [`metrics`] scores a model; [`agree`] compares two
//! coders (human and model, or two humans) with agreement statistics and a report. The command-line interface
//! is in the binary's `cli` module; everything it does is reachable from this library.

pub mod agree;
pub mod batch;
pub mod codebook;
pub mod error;
pub mod input;
pub mod labelled;
pub mod metrics;
pub mod model;
pub mod output;
pub mod pipeline;
pub mod refi;
pub mod rng;
pub mod segment;
pub mod suggest;
pub mod telemetry;
pub mod tokenize;
pub mod train;

pub use error::{Error, InputError, Result};
