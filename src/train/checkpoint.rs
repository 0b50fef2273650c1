//! Fine-tuning checkpoints, so that an interrupted run can resume where it stopped and end with
//! exactly the weights an uninterrupted run would have. A checkpoint is a folder holding
//! `state.json` (counters, the epoch's batch order, generator states, the best epoch so far and
//! a fingerprint of data and settings) and one safetensors file with every variable, the
//! optimiser's moments and the best epoch's weights. The tensors file is written first under a
//! new name, then `state.json` is replaced atomically to point at it, so a kill at any moment
//! leaves the previous checkpoint or the new one, never a mix.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::rng::SplitMix;

/// The folder inside the output directory that holds the checkpoint.
pub const CHECKPOINT_DIR: &str = ".train-checkpoint";
const STATE_FILE: &str = "state.json";

/// Everything but the tensors.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct State {
    /// Hash of the data, settings and encoder: a checkpoint is only resumed by the same run.
    pub fingerprint: String,
    /// The epoch in progress (1-based) and how many of its batches are done.
    pub epoch: usize,
    pub batches_done: usize,
    /// The epoch's batches, as indices into the training data.
    pub batches: Vec<Vec<usize>>,
    pub global_step: usize,
    pub shuffle_rng: SplitMix,
    pub dropout_rng: SplitMix,
    /// Best dev macro-F1 so far and its epoch (0: none yet).
    pub best_f1: f64,
    pub best_epoch: usize,
    /// Dev macro-F1 after each finished epoch.
    pub history: Vec<f64>,
    /// Early stopping has ended training; only the final steps remain.
    #[serde(default)]
    pub stopped: bool,
    /// The tensors file this state belongs to.
    pub tensors_file: String,
}

pub fn dir(out: &Path) -> PathBuf {
    out.join(CHECKPOINT_DIR)
}

/// Writes a checkpoint into `out`'s checkpoint folder.
///
/// # Errors
/// When a file cannot be written.
pub fn save(out: &Path, state: &State, tensors: &HashMap<String, Tensor>) -> Result<()> {
    let folder = dir(out);
    std::fs::create_dir_all(&folder)
        .map_err(|e| Error::io(format!("creating {}", folder.display()), e))?;
    let tensors_path = folder.join(&state.tensors_file);
    candle_core::safetensors::save(tensors, &tensors_path)?;
    let text = serde_json::to_string(state).expect("checkpoint state serialises");
    let tmp = folder.join(format!("{STATE_FILE}.tmp"));
    std::fs::write(&tmp, text).map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
    std::fs::rename(&tmp, folder.join(STATE_FILE))
        .map_err(|e| Error::io(format!("writing the checkpoint in {}", folder.display()), e))?;
    for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
        let name = entry.file_name();
        if name.to_string_lossy().ends_with(".safetensors") && name != *state.tensors_file {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(())
}

/// Reads the checkpoint in `out`, if there is one.
///
/// # Errors
/// When a checkpoint exists but cannot be read.
pub fn load(out: &Path) -> Result<Option<(State, HashMap<String, Tensor>)>> {
    let folder = dir(out);
    let state_path = folder.join(STATE_FILE);
    if !state_path.exists() {
        return Ok(None);
    }
    let bad = |reason: String| Error::Data {
        path: state_path.clone(),
        reason: format!("{reason}; delete {} to start afresh", folder.display()),
    };
    let text = std::fs::read_to_string(&state_path)
        .map_err(|e| Error::io(format!("reading {}", state_path.display()), e))?;
    let state: State =
        serde_json::from_str(&text).map_err(|e| bad(format!("unreadable checkpoint: {e}")))?;
    let tensors = candle_core::safetensors::load(folder.join(&state.tensors_file), &Device::Cpu)
        .map_err(|e| bad(format!("unreadable checkpoint tensors: {e}")))?;
    Ok(Some((state, tensors)))
}

/// Removes the checkpoint once training has finished.
pub fn remove(out: &Path) {
    let _ = std::fs::remove_dir_all(dir(out));
}
