//! The run manifest (`manifest.json`): the dataset's source of truth. It lists every input with
//! its content hash, status and the part file holding its rows, every committed part file, the
//! model and codebook identity, the settings, and each run's counts and timings. It is rewritten
//! atomically after every part file is committed; part files it does not list are leftovers of
//! a crash and are removed before a resumed run starts.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::parquet::CommittedFile;
use crate::error::{Error, Result};

pub const MANIFEST_FILE: &str = "manifest.json";
pub const MANIFEST_FORMAT_VERSION: u32 = 1;

/// What produced the rows; a resumed run must match it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetIdentity {
    pub model_id: String,
    pub codebook: String,
    pub codes: Vec<String>,
    pub encoder: String,
    pub unit: String,
    pub max_tokens: usize,
    /// The encoder's number format (`fp32` or `bf16`); manifests from before it was recorded
    /// were all fp32.
    #[serde(default = "fp32")]
    pub precision: String,
}

fn fp32() -> String {
    "fp32".into()
}

/// One input's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputRecord {
    pub path: String,
    pub sha256: String,
    pub format: Option<String>,
    pub status: InputStatus,
    pub documents: u64,
    pub segments: u64,
    /// Errors for this input (whole-input or per record); details in the errors file.
    pub errors: u64,
    /// The part file holding this input's rows (all rows of an input are in one file).
    pub file: Option<String>,
    pub run_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputStatus {
    /// Rows written (perhaps with some records in error).
    Done,
    /// Nothing could be labelled.
    Failed,
}

/// Counts and timings of one run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub run_id: String,
    pub started: String,
    pub finished: Option<String>,
    pub shard: String,
    pub resumed: bool,
    pub inputs_done: u64,
    pub inputs_failed: u64,
    pub inputs_skipped_as_done: u64,
    pub segments: u64,
    pub tokens: u64,
    /// Token positions the encoder computed, padding included: equal to `tokens` since the
    /// inference engine runs batches without padding (kept for older manifests' readers).
    pub padded_tokens: u64,
    /// The matrix-multiply kernel the encoder ran with (`avx512-f32`, `avx512-bf16`, ...).
    #[serde(default)]
    pub kernel: String,
    pub errors: u64,
    pub seconds: f64,
    pub stage_seconds: BTreeMap<String, f64>,
}

/// The whole manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub discotag_version: String,
    pub identity: DatasetIdentity,
    pub inputs: Vec<InputRecord>,
    pub files: Vec<CommittedFile>,
    /// Files passed over in folders because they are not transcripts.
    pub skipped: Vec<SkippedFile>,
    pub runs: Vec<RunRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedFile {
    pub path: String,
    pub reason: String,
}

impl Manifest {
    pub fn new(identity: DatasetIdentity) -> Self {
        Manifest {
            format_version: MANIFEST_FORMAT_VERSION,
            discotag_version: env!("CARGO_PKG_VERSION").into(),
            identity,
            inputs: Vec::new(),
            files: Vec::new(),
            skipped: Vec::new(),
            runs: Vec::new(),
        }
    }

    /// Reads the manifest of an output directory, if there is one.
    ///
    /// # Errors
    /// When it exists but cannot be read or parsed.
    pub fn load(out_dir: &Path) -> Result<Option<Self>> {
        let path = out_dir.join(MANIFEST_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| Error::Output {
                    path: path.clone(),
                    reason: format!("unreadable manifest: {e}"),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
        }
    }

    /// Writes the manifest atomically (temporary file, fsync, rename).
    ///
    /// # Errors
    /// On write failures.
    pub fn save(&self, out_dir: &Path) -> Result<()> {
        // Streamed, not built as one string: with tens of thousands of inputs the text is tens
        // of megabytes, and it is rewritten at every commit.
        write_atomically_with(&out_dir.join(MANIFEST_FILE), |w| {
            serde_json::to_writer_pretty(w, self).map_err(std::io::Error::other)
        })
    }

    /// Content hashes of inputs already labelled.
    pub fn done_hashes(&self) -> std::collections::HashSet<String> {
        self.inputs
            .iter()
            .filter(|i| i.status == InputStatus::Done)
            .map(|i| i.sha256.clone())
            .collect()
    }
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename.
///
/// # Errors
/// On write failures.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomically_with(path, |w| w.write_all(bytes))
}

/// As [`write_atomically`], with the content written by `fill` through a buffer.
///
/// # Errors
/// On write failures.
pub fn write_atomically_with(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = path.with_file_name(format!(".{name}.tmp"));
    let write = || -> std::io::Result<()> {
        let mut buffered = std::io::BufWriter::new(std::fs::File::create(&temp)?);
        fill(&mut buffered)?;
        let file = buffered.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    };
    write().map_err(|e| Error::io(format!("writing {}", path.display()), e))
}
