//! Stage "encode and classify": the candle encoder ([`encoder`]), pooling ([`pooling`]), the
//! multi-label head ([`head`]), and the model directory that ties them to a codebook
//! ([`ModelDir`], [`Classifier`]). Encoder files are found or fetched by [`weights`].
//!
//! A model directory holds `codebook.toml`, `encoder.toml` (a reference to the encoder by name,
//! source and sha256 of every file), `head.safetensors`, `head.json`, `thresholds.json` and
//! `MODEL_CARD.md`.

pub mod card;
pub mod delta;
pub mod dropout;
pub mod encoder;
pub mod engine;
pub mod head;
pub mod pooling;
pub mod precision;
pub mod weights;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

use crate::codebook::Codebook;
use crate::error::{Error, Result};
use crate::metrics::classification;
use crate::tokenize::TextTokenizer;
pub use delta::save as save_encoder_delta;
pub use encoder::{Config, Encoder, Pass};
pub use engine::{InferenceEncoder, Kernel, Precision};
pub use head::Head;
pub use pooling::Pooling;
pub use weights::EncoderRef;

pub const CODEBOOK_FILE: &str = "codebook.toml";
pub const ENCODER_REF_FILE: &str = "encoder.toml";
pub const HEAD_WEIGHTS_FILE: &str = "head.safetensors";
pub const HEAD_CONFIG_FILE: &str = "head.json";
pub const THRESHOLDS_FILE: &str = "thresholds.json";
/// Per-code Platt scaling of the head's scores, fitted on dev (`{code: {slope, intercept}}`);
/// optional: models trained before it existed give raw sigmoid scores.
pub const CALIBRATION_FILE: &str = "calibration.json";
pub const MODEL_CARD_FILE: &str = "MODEL_CARD.md";
/// The learning curve of the training data ([`crate::train::curve::SavedCurve`]), when measured.
pub const CURVE_FILE: &str = "curve.json";
/// Fine-tuned models only: the change to every encoder weight, applied to the referenced
/// encoder at load time, so the model directory never holds a copy of third-party weights.
pub const ENCODER_DELTA_FILE: &str = "encoder_delta.safetensors";
/// The word-embedding table, stored in the delta file as changed rows only.
const WORD_EMBEDDINGS: &str = "embeddings.word_embeddings.weight";

/// How the head reads the encoder output (`head.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadConfig {
    /// How hidden states are pooled into features.
    pub pooling: Pooling,
    /// Whether pooled features are L2-normalised before the head.
    pub normalize: bool,
    /// Features per segment (the encoder's width, doubled for `mean-cls`).
    pub input_dim: usize,
    /// Width of the MLP's hidden layer; absent for a linear head.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden: Option<usize>,
    /// The token limit the head was trained with.
    pub max_tokens: usize,
}

/// An encoder loaded from a folder, with its tokenizer.
pub struct LoadedEncoder {
    pub encoder: Encoder,
    pub tokenizer: TextTokenizer,
    pub dir: PathBuf,
}

/// Loads an encoder folder (`config.json`, `tokenizer.json`, `model.safetensors`).
///
/// # Errors
/// When a file is missing or malformed, or `max_tokens` exceeds the encoder's positions.
pub fn load_encoder(dir: &Path, max_tokens: usize) -> Result<LoadedEncoder> {
    load_encoder_with_delta(dir, None, max_tokens)
}

/// Loads an encoder folder and, when `delta` is given, adds a fine-tuning delta file written by
/// [`save_encoder_delta`] (or compressed by [`delta::compress`]) to its weights.
///
/// # Errors
/// As [`load_encoder`], and when the delta does not fit the encoder.
pub fn load_encoder_with_delta(
    dir: &Path,
    delta: Option<&Path>,
    max_tokens: usize,
) -> Result<LoadedEncoder> {
    let config = read_encoder_config(dir, max_tokens)?;
    let weights = dir.join("model.safetensors");
    let vb = match delta {
        // SAFETY: the file is memory-mapped read-only; it was verified against its sha256 and
        // is not modified while discotag runs.
        None => unsafe {
            VarBuilder::from_mmaped_safetensors(&[&weights], encoder::DTYPE, &Device::Cpu)?
        },
        Some(delta) => {
            let mut tensors = read_weights(&weights)?;
            delta::apply(&mut tensors, delta)?;
            VarBuilder::from_tensors(tensors, encoder::DTYPE, &Device::Cpu)
        }
    };
    let encoder = Encoder::load(vb, &config).map_err(|e| Error::Model {
        path: weights.clone(),
        reason: format!("not a checkpoint matching config.json: {e}"),
    })?;
    let tokenizer = TextTokenizer::from_file(&dir.join("tokenizer.json"), max_tokens)?;
    Ok(LoadedEncoder {
        encoder,
        tokenizer,
        dir: dir.to_path_buf(),
    })
}

/// An encoder loaded for fine-tuning: the weights it trains are variables in `vars`; the ones
/// it keeps (`fixed`) are plain tensors, so that backpropagation stops below them and a run
/// with frozen lower layers does not pay for their gradients.
pub struct TrainableEncoder {
    pub encoder: LoadedEncoder,
    pub vars: VarMap,
    pub fixed: HashMap<String, Tensor>,
}

impl TrainableEncoder {
    /// Every encoder weight by name, trained and kept alike, at its current value.
    pub fn tensors(&self) -> Vec<(String, Tensor)> {
        let vars = self.vars.data().lock().expect("varmap lock");
        vars.iter()
            .map(|(name, var)| (name.clone(), var.as_tensor().clone()))
            .chain(self.fixed.iter().map(|(n, t)| (n.clone(), t.clone())))
            .collect()
    }
}

/// Builds the encoder from stored tensors: a variable for each weight `keep` says no to, the
/// stored tensor itself for the others.
struct SplitBackend<'a> {
    stored: HashMap<String, Tensor>,
    vars: VarMap,
    keep: &'a (dyn Fn(&str) -> bool + Sync),
    fixed: Arc<Mutex<HashMap<String, Tensor>>>,
}

impl candle_nn::var_builder::SimpleBackend for SplitBackend<'_> {
    fn get(
        &self,
        shape: candle_core::Shape,
        name: &str,
        init: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        // candle's own map backend looks the tensor up and checks its shape
        let tensor = candle_nn::var_builder::SimpleBackend::get(
            &self.stored,
            shape,
            name,
            init,
            dtype,
            dev,
        )?;
        if (self.keep)(name) {
            self.fixed
                .lock()
                .expect("fixed lock")
                .insert(name.to_string(), tensor.clone());
            return Ok(tensor);
        }
        let var = candle_core::Var::from_tensor(&tensor)?;
        let mut vars = self.vars.data().lock().expect("varmap lock");
        Ok(vars
            .entry(name.to_string())
            .or_insert(var)
            .as_tensor()
            .clone())
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        candle_nn::var_builder::SimpleBackend::get_unchecked(&self.stored, name, dtype, dev)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.stored.contains_key(name)
    }
}

/// Loads an encoder folder for fine-tuning, with a fine-tuning delta added first when `start`
/// is given (to continue from a fine-tuned model). Weights for which `keep` is true stay fixed;
/// every other weight is a trainable variable (names without any `bert.` prefix).
///
/// # Errors
/// As [`load_encoder_with_delta`], and when the checkpoint lacks a tensor the encoder needs.
pub fn load_encoder_trainable(
    dir: &Path,
    start: Option<&Path>,
    max_tokens: usize,
    keep: &(dyn Fn(&str) -> bool + Sync),
) -> Result<TrainableEncoder> {
    let config = read_encoder_config(dir, max_tokens)?;
    let weights = dir.join("model.safetensors");
    let mut stored = read_weights(&weights)?;
    if let Some(delta) = start {
        delta::apply(&mut stored, delta)?;
    }
    let (vars, fixed) = (VarMap::new(), Arc::new(Mutex::new(HashMap::new())));
    let backend = SplitBackend {
        stored,
        vars: vars.clone(),
        keep,
        fixed: fixed.clone(),
    };
    let vb = VarBuilder::from_backend(Box::new(backend), encoder::DTYPE, Device::Cpu);
    let encoder = Encoder::load(vb, &config).map_err(|e| Error::Model {
        path: weights.clone(),
        reason: format!("not a checkpoint matching config.json: {e}"),
    })?;
    let fixed = std::mem::take(&mut *fixed.lock().expect("fixed lock"));
    let tokenizer = TextTokenizer::from_file(&dir.join("tokenizer.json"), max_tokens)?;
    Ok(TrainableEncoder {
        encoder: LoadedEncoder {
            encoder,
            tokenizer,
            dir: dir.to_path_buf(),
        },
        vars,
        fixed,
    })
}

/// The encoder's tensors under their names without a `bert.` (or `mpnet.`) prefix.
fn read_weights(weights: &Path) -> Result<HashMap<String, Tensor>> {
    Ok(candle_core::safetensors::load(weights, &Device::Cpu)?
        .into_iter()
        .map(|(name, t)| {
            let bare = name
                .strip_prefix("bert.")
                .or_else(|| name.strip_prefix("mpnet."))
                .unwrap_or(&name);
            (bare.to_string(), t)
        })
        .collect())
}

/// Reads an encoder folder's config.json and checks `max_tokens` against its positions.
///
/// # Errors
/// When the file is missing or malformed, or `max_tokens` exceeds the positions.
pub fn read_encoder_config(dir: &Path, max_tokens: usize) -> Result<Config> {
    let config_path = dir.join("config.json");
    let text = std::fs::read_to_string(&config_path)
        .map_err(|e| Error::io(format!("reading {}", config_path.display()), e))?;
    let config: Config = serde_json::from_str(&text).map_err(|e| Error::Model {
        path: config_path.clone(),
        reason: e.to_string(),
    })?;
    config.validate().map_err(|reason| Error::Model {
        path: config_path.clone(),
        reason,
    })?;
    if max_tokens > config.max_tokens() {
        return Err(Error::Usage(format!(
            "--max-tokens {max_tokens} exceeds the encoder's {} positions",
            config.max_tokens()
        )));
    }
    Ok(config)
}

/// Builds padded `input_ids` and `attention_mask` tensors for a batch of token sequences.
///
/// # Errors
/// On tensor creation failures.
pub fn batch_tensors(
    sequences: &[&[u32]],
    pad_id: u32,
    device: &Device,
) -> candle_core::Result<(Tensor, Tensor)> {
    let len = sequences.iter().map(|s| s.len()).max().unwrap_or(0).max(1);
    let mut ids = Vec::with_capacity(sequences.len() * len);
    let mut mask = Vec::with_capacity(sequences.len() * len);
    for seq in sequences {
        ids.extend_from_slice(seq);
        ids.extend(std::iter::repeat_n(pad_id, len - seq.len()));
        mask.extend(std::iter::repeat_n(1f32, seq.len()));
        mask.extend(std::iter::repeat_n(0f32, len - seq.len()));
    }
    let shape = (sequences.len(), len);
    Ok((
        Tensor::from_vec(ids, shape, device)?,
        Tensor::from_vec(mask, shape, device)?,
    ))
}

/// Token ids of each text, truncated to the tokenizer's limit; errors name the encoder folder's
/// tokenizer.
fn token_ids(tokenizer: &TextTokenizer, dir: &Path, texts: &[&str]) -> Result<Vec<Vec<u32>>> {
    texts
        .iter()
        .map(|text| {
            tokenizer
                .encode(text)
                .map(|t| t.ids)
                .map_err(|source| Error::Tokenizer {
                    path: dir.join("tokenizer.json"),
                    source,
                })
        })
        .collect()
}

impl LoadedEncoder {
    /// Tokenises and embeds texts in length-sorted batches: one (texts, features) matrix, rows
    /// in input order.
    ///
    /// # Errors
    /// On tokenizer or tensor failures.
    pub fn embed_texts(
        &self,
        texts: &[&str],
        pooling: Pooling,
        normalize: bool,
        batch_size: usize,
    ) -> Result<Tensor> {
        self.embed_ids(&self.token_ids(texts)?, pooling, normalize, batch_size)
    }

    /// Embeds token sequences in length-sorted batches: one (sequences, features) matrix, rows
    /// in input order.
    ///
    /// # Errors
    /// On tensor failures.
    pub fn embed_ids(
        &self,
        ids: &[Vec<u32>],
        pooling: Pooling,
        normalize: bool,
        batch_size: usize,
    ) -> Result<Tensor> {
        let width = pooling.features(self.encoder.config().hidden_size);
        let engine = InferenceEncoder::new(&self.encoder, Precision::F32)?;
        let sequences: Vec<&[u32]> = ids.iter().map(Vec::as_slice).collect();
        let lengths: Vec<usize> = ids.iter().map(Vec::len).collect();
        let plan = crate::batch::plan(&lengths, batch_size);
        let rows = engine.embed_batches(&sequences, &plan, pooling, normalize)?;
        let flat: Vec<f32> = rows.into_iter().flatten().collect();
        Ok(Tensor::from_vec(
            flat,
            (ids.len(), width),
            self.encoder.device(),
        )?)
    }

    /// Token ids of each text, truncated to the token limit.
    ///
    /// # Errors
    /// On tokenizer failures.
    pub fn token_ids(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>> {
        token_ids(&self.tokenizer, &self.dir, texts)
    }

    /// Sentence features (batch, features), pooled and optionally L2-normalised.
    ///
    /// # Errors
    /// On tensor failures.
    pub fn embed(
        &self,
        sequences: &[&[u32]],
        pooling: Pooling,
        normalize: bool,
        pass: Pass,
    ) -> candle_core::Result<Tensor> {
        let (ids, mask) = batch_tensors(sequences, self.tokenizer.pad_id(), self.encoder.device())?;
        let hidden = self.encoder.forward(&ids, &mask, pass)?;
        pooling::pool(&hidden, &mask, pooling, normalize)
    }
}

/// The files of a model directory, read but not yet loaded onto the device.
#[derive(Debug, Clone)]
pub struct ModelDir {
    pub path: PathBuf,
    pub codebook: Codebook,
    pub encoder: EncoderRef,
    pub head: HeadConfig,
    /// Thresholds in codebook order, on the calibrated scores.
    pub thresholds: Vec<f32>,
    /// Per-code score calibration in codebook order (identity when the model has none).
    pub platt: Vec<crate::train::calibrate::Platt>,
    /// Whether the encoder was fine-tuned ([`ENCODER_DELTA_FILE`] is present).
    pub fine_tuned: bool,
    /// `codebook-name@version+sha256(head)[..12]`; for fine-tuned models the hash covers the
    /// encoder delta too, and for calibrated models the calibration.
    pub model_id: String,
}

impl ModelDir {
    /// Reads and cross-checks a model directory.
    ///
    /// # Errors
    /// When a file is missing, malformed, or the thresholds do not match the codebook.
    pub fn open(path: &Path) -> Result<Self> {
        let bad = |reason: String| Error::Model {
            path: path.to_path_buf(),
            reason,
        };
        if !path.is_dir() {
            return Err(bad(
                "not a folder (train one with `discotag train`, or pass --model)".into(),
            ));
        }
        let codebook = Codebook::load(&path.join(CODEBOOK_FILE))?;
        let encoder = EncoderRef::load(&path.join(ENCODER_REF_FILE))?;
        let head: HeadConfig = read_json(&path.join(HEAD_CONFIG_FILE))?;
        let thresholds: Vec<f32> = per_code(path, THRESHOLDS_FILE, &codebook)?;
        let calibration_path = path.join(CALIBRATION_FILE);
        let platt = if calibration_path.is_file() {
            per_code(path, CALIBRATION_FILE, &codebook)?
        } else {
            vec![crate::train::calibrate::Platt::IDENTITY; codebook.codes.len()]
        };
        let mut trained_hash = weights::hash_file(&path.join(HEAD_WEIGHTS_FILE))?;
        let delta = path.join(ENCODER_DELTA_FILE);
        let fine_tuned = delta.is_file();
        for extra in [&delta, &calibration_path] {
            if extra.is_file() {
                use sha2::{Digest, Sha256};
                let both = trained_hash + &weights::hash_file(extra)?;
                trained_hash = hex::encode(Sha256::digest(both.as_bytes()));
            }
        }
        let model_id = format!("{}+{}", codebook.identity(), &trained_hash[..12]);
        Ok(ModelDir {
            path: path.to_path_buf(),
            codebook,
            encoder,
            head,
            thresholds,
            platt,
            fine_tuned,
            model_id,
        })
    }
}

/// A `{code: value}` file of a model directory, in codebook order; a code without a value is
/// an error naming the file.
fn per_code<T: serde::de::DeserializeOwned + Copy>(
    dir: &Path,
    file: &str,
    codebook: &Codebook,
) -> Result<Vec<T>> {
    let by_code: BTreeMap<String, T> = read_json(&dir.join(file))?;
    codebook
        .codes
        .iter()
        .map(|c| {
            by_code.get(&c.name).copied().ok_or_else(|| Error::Model {
                path: dir.to_path_buf(),
                reason: format!("{file} has no entry for code {:?}", c.name),
            })
        })
        .collect()
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    serde_json::from_str(&text).map_err(|e| Error::Model {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Writes a value as pretty JSON.
///
/// # Errors
/// When the file cannot be written.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).expect("model files serialise");
    std::fs::write(path, text + "\n")
        .map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

/// Utterances per encoder batch when evaluating.
pub const EVAL_BATCH_SIZE: usize = 32;

/// A model's scores and decisions on labelled utterances, with the metrics.
pub struct Evaluation {
    /// Per-code scores, one row per utterance.
    pub scores: Vec<Vec<f32>>,
    pub predicted: Vec<Vec<bool>>,
    pub report: classification::Report,
    /// Per-code confusion counts, in codebook order.
    pub confusions: Vec<classification::Confusion>,
}

/// Options for loading a classifier.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub max_tokens: usize,
    /// Never fetch a missing encoder.
    pub offline: bool,
    /// The number format of the encoder's matrix products, or `auto` ([`precision::decide`]).
    pub precision: precision::Request,
}

/// Rows per call of the classification head (see [`Classifier::score_batches`]).
const HEAD_BLOCK_ROWS: usize = 64;

/// Encoder, head and thresholds, ready to score token sequences.
pub struct Classifier {
    pub model: ModelDir,
    engine: InferenceEncoder,
    tokenizer: TextTokenizer,
    encoder_dir: PathBuf,
    head: Head,
    precision: precision::Decision,
}

impl Classifier {
    /// Opens a model directory, resolves (and if needed fetches) its encoder, loads everything.
    ///
    /// # Errors
    /// When any part of the model is missing or inconsistent.
    pub fn load(model_dir: &Path, options: &LoadOptions) -> Result<Self> {
        let model = ModelDir::open(model_dir)?;
        let encoder_dir = model.encoder.resolve(model_dir, options.offline)?;
        let delta = model_dir.join(ENCODER_DELTA_FILE);
        let encoder = load_encoder_with_delta(
            &encoder_dir,
            model.fine_tuned.then_some(delta.as_path()),
            options.max_tokens,
        )?;
        let head_path = model_dir.join(HEAD_WEIGHTS_FILE);
        // SAFETY: read-only map of a small file that discotag does not modify while running.
        let vb = unsafe {
            VarBuilder::from_mmaped_safetensors(&[&head_path], encoder::DTYPE, &Device::Cpu)?
        };
        let head = Head::load(
            vb,
            model.head.input_dim,
            model.head.hidden,
            model.codebook.codes.len(),
        )
        .map_err(|e| Error::Model {
            path: head_path.clone(),
            reason: format!("head does not match the codebook and encoder: {e}"),
        })?;
        let features = model
            .head
            .pooling
            .features(encoder.encoder.config().hidden_size);
        if model.head.input_dim != features {
            return Err(Error::Model {
                path: model_dir.to_path_buf(),
                reason: format!(
                    "the head expects {} features but the encoder with {} pooling gives {features}",
                    model.head.input_dim,
                    model.head.pooling.name(),
                ),
            });
        }
        let checks = precision::Checks::load(model_dir)?;
        let config = encoder.encoder.config();
        let isa = engine::Isa::from_env().map_err(Error::Usage)?;
        let decision = precision::decide(options.precision, &checks, || {
            precision::speeds(isa, config.hidden_size, config.intermediate_size)
        });
        if decision.warn {
            tracing::warn!(precision = decision.precision.name(), "{}", decision.reason);
        } else {
            tracing::info!(precision = decision.precision.name(), "{}", decision.reason);
        }
        // The candle encoder is only needed to pack the engine; dropping it halves memory.
        let engine = InferenceEncoder::with_isa(&encoder.encoder, decision.precision, isa)?;
        Ok(Classifier {
            model,
            engine,
            tokenizer: encoder.tokenizer,
            encoder_dir: encoder.dir,
            head,
            precision: decision,
        })
    }

    /// Per-code scores (sigmoid of the logits, calibrated) for each token sequence, in codebook order,
    /// with the sequences run in `batches` (index lists, as from [`crate::batch::plan`]) in
    /// parallel.
    ///
    /// # Errors
    /// On tensor failures.
    pub fn score_batches(
        &self,
        sequences: &[&[u32]],
        batches: &[Vec<usize>],
    ) -> Result<Vec<Vec<f32>>> {
        if sequences.is_empty() {
            return Ok(Vec::new());
        }
        let head = &self.model.head;
        let rows = self
            .engine
            .embed_batches(sequences, batches, head.pooling, head.normalize)?;
        // The head runs on blocks of a fixed number of rows (the last padded with zeros), so a
        // segment's score does not depend on how many segments were scored with it.
        let width = rows[0].len();
        let mut scores = Vec::with_capacity(rows.len());
        for block in rows.chunks(HEAD_BLOCK_ROWS) {
            let mut flat: Vec<f32> = block.iter().flatten().copied().collect();
            flat.resize(HEAD_BLOCK_ROWS * width, 0.0);
            let features = Tensor::from_vec(flat, (HEAD_BLOCK_ROWS, width), &Device::Cpu)?;
            let probabilities = self.head.probabilities(&features)?;
            scores.extend(probabilities.into_iter().take(block.len()));
        }
        for row in &mut scores {
            crate::train::calibrate::apply_all(&self.model.platt, row);
        }
        Ok(scores)
    }

    /// Per-code scores for token sequences, run in length-sorted batches.
    ///
    /// # Errors
    /// On tensor failures.
    pub fn scores(&self, sequences: &[&[u32]], batch_size: usize) -> Result<Vec<Vec<f32>>> {
        let lengths: Vec<usize> = sequences.iter().map(|s| s.len()).collect();
        self.score_batches(sequences, &crate::batch::plan(&lengths, batch_size))
    }

    /// The head's input features (pooled embeddings) of whole texts, run in length-sorted
    /// batches.
    ///
    /// # Errors
    /// On tokenizer or engine failures.
    pub fn features_of_texts(&self, texts: &[&str], batch_size: usize) -> Result<Vec<Vec<f32>>> {
        let ids = token_ids(&self.tokenizer, &self.encoder_dir, texts)?;
        let sequences: Vec<&[u32]> = ids.iter().map(Vec::as_slice).collect();
        let lengths: Vec<usize> = ids.iter().map(Vec::len).collect();
        let head = &self.model.head;
        self.engine.embed_batches(
            &sequences,
            &crate::batch::plan(&lengths, batch_size),
            head.pooling,
            head.normalize,
        )
    }

    /// Per-code scores for whole texts, tokenised here and run in length-sorted batches.
    ///
    /// # Errors
    /// On tokenizer or tensor failures.
    pub fn score_texts(&self, texts: &[&str], batch_size: usize) -> Result<Vec<Vec<f32>>> {
        let ids = token_ids(&self.tokenizer, &self.encoder_dir, texts)?;
        let sequences: Vec<&[u32]> = ids.iter().map(Vec::as_slice).collect();
        self.scores(&sequences, batch_size)
    }

    /// The inference engine (its precision and kernel).
    pub fn engine(&self) -> &InferenceEncoder {
        &self.engine
    }

    /// The precision the engine runs in, and why.
    pub fn precision(&self) -> &precision::Decision {
        &self.precision
    }

    /// Scores labelled utterances and compares the decisions with their labels.
    ///
    /// # Errors
    /// On tokenizer or tensor failures.
    pub fn evaluate(&self, items: &[crate::labelled::Labelled]) -> Result<Evaluation> {
        let texts: Vec<&str> = items.iter().map(|l| l.text.as_str()).collect();
        let scores = self.score_texts(&texts, EVAL_BATCH_SIZE)?;
        let predicted: Vec<Vec<bool>> = scores.iter().map(|s| self.decide(s)).collect();
        let truth: Vec<Vec<bool>> = items.iter().map(|l| l.labels.clone()).collect();
        let report = classification::report(&self.model.codebook.code_names(), &truth, &predicted);
        let confusions =
            classification::confusions(&truth, &predicted, truth.first().map_or(0, Vec::len));
        Ok(Evaluation {
            scores,
            predicted,
            report,
            confusions,
        })
    }

    /// Which codes a row of scores assigns, in codebook order.
    pub fn decide(&self, scores: &[f32]) -> Vec<bool> {
        head::over_thresholds(scores, &self.model.thresholds)
    }

    /// Names of the codes a row of scores assigns, in codebook order.
    pub fn labels(&self, scores: &[f32]) -> Vec<String> {
        self.model
            .codebook
            .codes
            .iter()
            .zip(self.decide(scores))
            .filter(|(_, assigned)| *assigned)
            .map(|(c, _)| c.name.clone())
            .collect()
    }

    pub fn tokenizer(&self) -> &TextTokenizer {
        &self.tokenizer
    }
}
