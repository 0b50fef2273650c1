//! Shared bench inputs: interview-like text from the bundled samples and labelled data.
//! Each bench uses some of these helpers.
#![allow(dead_code)]

use std::path::PathBuf;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The texts of the labelled utterances (train split): realistic lengths and wording.
pub fn utterances() -> Vec<String> {
    std::fs::read_to_string(repo().join("data/labelled/train.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["text"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

/// The real encoder folder, fetched into the cache if needed.
pub fn encoder_dir() -> PathBuf {
    discotag::model::EncoderRef::default_minilm()
        .resolve(&repo(), false)
        .expect("encoder available")
}
