//! Error types: [`Error`] is fatal and stops a run; [`InputError`] belongs to one input (a file,
//! a line, a record) and flows down the pipeline as data to the errors file.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A fatal error: the run cannot go on (model directory unusable, output not writable, ...).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // The io error is shown in this message and not chained as a source, so that
    // `discotag: error:` lines do not print it twice.
    #[error("{context}: {io}")]
    Io { context: String, io: std::io::Error },
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    #[error("tokenizer {path}: {source}")]
    Tokenizer {
        path: PathBuf,
        #[source]
        source: tokenizers::Error,
    },
    #[error("codebook {path}: {reason}")]
    Codebook { path: PathBuf, reason: String },
    #[error("model directory {path}: {reason}")]
    Model { path: PathBuf, reason: String },
    #[error("encoder: {0}")]
    Encoder(String),
    #[error("{path}: {reason}")]
    Data { path: PathBuf, reason: String },
    #[error("output directory {path}: {reason}")]
    Output { path: PathBuf, reason: String },
    #[error("invalid option: {0}")]
    Usage(String),
    #[error("pipeline stage '{stage}' failed: {reason}")]
    Stage { stage: &'static str, reason: String },
}

/// `Result` with discotag's fatal [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An I/O error with a sentence saying what was being done and to which path.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            io: source,
        }
    }
}

/// Where in an input a problem sits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Position {
    /// The whole input.
    File,
    /// A 1-based line, and optionally a 1-based column in characters.
    Line { line: u64, column: Option<u64> },
    /// A byte offset into the input (for binary or undecodable content).
    Byte { offset: u64 },
    /// A 1-based record (CSV record, subtitle cue) with the line it starts on.
    Record { record: u64, line: u64 },
    /// An entry of a zip container (DOCX, REFI-QDA .qdpx), by name.
    Entry { entry: String },
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::File => f.write_str("file"),
            Position::Line {
                line,
                column: Some(c),
            } => write!(f, "line {line}, column {c}"),
            Position::Line { line, column: None } => write!(f, "line {line}"),
            Position::Byte { offset } => write!(f, "byte {offset}"),
            Position::Record { record, line } => write!(f, "record {record} (line {line})"),
            Position::Entry { entry } => write!(f, "entry {entry}"),
        }
    }
}

/// A problem with one input, or one record of it. Not fatal: the run goes on with the rest,
/// the error goes to the errors file, and the run exits with code 3.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{path}: {position}: {reason}")]
pub struct InputError {
    /// The input as the user named it (or `-` for stdin).
    pub path: String,
    pub position: Position,
    pub reason: String,
}

impl InputError {
    pub fn new(path: impl Into<String>, position: Position, reason: impl Into<String>) -> Self {
        InputError {
            path: path.into(),
            position,
            reason: reason.into(),
        }
    }

    /// An error about the whole file.
    pub fn file(path: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::new(path, Position::File, reason)
    }
}

/// serde_json's message without its " at line 1 column N": readers parse one line at a time,
/// so that line is always 1, and they report the file's own line and column beside it.
pub fn json_reason(error: &serde_json::Error) -> String {
    let message = error.to_string();
    match message.rsplit_once(" at line ") {
        Some((reason, _)) => reason.to_string(),
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::json_reason;

    #[test]
    fn the_position_serde_gives_is_left_out() {
        let error = serde_json::from_str::<serde_json::Value>("{\"id\": oops").unwrap_err();
        assert!(error.to_string().contains("at line 1 column"));
        assert_eq!(json_reason(&error), "expected value");
    }
}
