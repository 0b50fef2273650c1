//! The run manifest (`manifest.json`): the readable summary of a dataset. It lists every input
//! with its content hash, status and counts, the part files readers should read, the model and
//! codebook identity, the settings, and each run's counts and timings. It is written from the
//! state database ([`super::state`], the source of truth for `--resume`) atomically, after
//! commits and at the end of every run; readers that want a consistent view while a run is
//! going read the part files it lists.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::parquet::CommittedFile;
use super::state::State;
use crate::error::{Error, Result};

pub const MANIFEST_FILE: &str = "manifest.json";
/// 2: inputs stream and commit per record; the state lives in `state.sqlite`.
pub const MANIFEST_FORMAT_VERSION: u32 = 2;

/// What produced the rows; a resumed run must match it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetIdentity {
    pub model_id: String,
    pub codebook: String,
    pub codes: Vec<String>,
    pub encoder: String,
    pub unit: String,
    pub max_tokens: usize,
    /// The encoder's number format (`fp32`, `bf16` or `int8`); manifests from before it was recorded
    /// were all fp32.
    #[serde(default = "fp32")]
    pub precision: String,
}

fn fp32() -> String {
    "fp32".into()
}

/// One input as `manifest.json` lists it: what [`super::state::StoredInput`] writes, read
/// leniently so that manifests of format 1 (one part `file` per input) read too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestInput {
    pub path: String,
    /// `done`, `failed`, `partial` (some rows committed, the rest to come with `--resume`) or
    /// `replacing` (a changed input being labelled again; its old rows stay until it is done).
    pub status: String,
    #[serde(default)]
    pub sha256: Option<String>,
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default)]
    pub bytes: u64,
    #[serde(default)]
    pub documents: u64,
    #[serde(default)]
    pub segments: u64,
    #[serde(default)]
    pub errors: u64,
    /// Format 1 only: the part file holding the input's rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default)]
    pub run_id: String,
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
    /// Why the encoder ran in its precision (`--precision auto`'s choice, or a warning about an
    /// explicit one).
    #[serde(default)]
    pub precision_reason: String,
    pub errors: u64,
    /// Inputs whose content changed since they were labelled: their rows were replaced.
    #[serde(default)]
    pub inputs_replaced: u64,
    /// Inputs in the dataset that this run was not given (deleted, renamed or not named).
    #[serde(default)]
    pub inputs_missing: u64,
    /// Of those, the ones whose rows `--prune` removed.
    #[serde(default)]
    pub inputs_pruned: u64,
    /// Stopped by SIGINT or SIGTERM: what was done is committed; `--resume` continues.
    #[serde(default)]
    pub interrupted: bool,
    pub seconds: f64,
    pub stage_seconds: BTreeMap<String, f64>,
}

/// The whole manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub discotag_version: String,
    pub identity: DatasetIdentity,
    pub inputs: Vec<ManifestInput>,
    /// The part files readers read, in commit order (staged files of inputs being replaced
    /// are not listed until they replace the old rows).
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
    /// Reads the manifest of an output directory, if there is one.
    ///
    /// # Errors
    /// When it exists but cannot be read or parsed.
    pub fn load(out_dir: &Path) -> Result<Option<Self>> {
        let path = out_dir.join(MANIFEST_FILE);
        match std::fs::File::open(&path) {
            Ok(file) => serde_json::from_reader(std::io::BufReader::new(file))
                .map(Some)
                .map_err(|e| Error::Output {
                    path: path.clone(),
                    reason: format!("unreadable manifest: {e}"),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
        }
    }
}

/// Writes `manifest.json` from the state database, streamed input by input so that memory
/// stays flat with any number of inputs.
///
/// # Errors
/// On database or write failures.
pub fn write_from_state(out_dir: &Path, state: &State) -> Result<()> {
    let identity = state.identity()?.ok_or_else(|| Error::Output {
        path: out_dir.to_path_buf(),
        reason: "internal error: the state database records no identity".into(),
    })?;
    let files = state.live_files()?;
    let skipped = state.skipped()?;
    let runs = state.runs()?;
    let mut result = Ok(());
    write_atomically_with(&out_dir.join(MANIFEST_FILE), |w| {
        let json = |w: &mut dyn Write, value: &dyn erased::Json| value.write(w);
        write!(
            w,
            "{{\n\"format_version\": {MANIFEST_FORMAT_VERSION},\n\"discotag_version\": \"{}\",\n\"state_file\": \"{}\",\n\"identity\": ",
            env!("CARGO_PKG_VERSION"),
            super::state::STATE_FILE
        )?;
        json(w, &identity)?;
        w.write_all(b",\n\"inputs\": [")?;
        let mut first = true;
        result = state.each_input(|input| {
            w.write_all(if first { b"\n" } else { b",\n" })?;
            first = false;
            json(w, &input)
        });
        w.write_all(b"\n],\n\"files\": ")?;
        json(w, &files)?;
        w.write_all(b",\n\"skipped\": ")?;
        json(w, &skipped)?;
        w.write_all(b",\n\"runs\": ")?;
        json(w, &runs)?;
        w.write_all(b"\n}\n")
    })?;
    result
}

mod erased {
    /// Any serialisable value, written as JSON to a `dyn Write`.
    pub trait Json {
        fn write(&self, w: &mut dyn std::io::Write) -> std::io::Result<()>;
    }

    impl<T: serde::Serialize> Json for T {
        fn write(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
            serde_json::to_writer(w, self).map_err(std::io::Error::other)
        }
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
