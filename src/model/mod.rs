//! Stage "encode and classify": the candle encoder ([`encoder`]), pooling ([`pooling`]), the
//! multi-label head ([`head`]), and the model directory that ties them to a codebook
//! ([`ModelDir`], [`Classifier`]). Encoder files are found or fetched by [`weights`].
//!
//! A model directory holds `codebook.toml`, `encoder.toml` (a reference to the encoder by name,
//! source and sha256 of every file), `head.safetensors`, `head.json`, `thresholds.json` and
//! `MODEL_CARD.md`.

pub mod card;
pub mod encoder;
pub mod head;
pub mod pooling;
pub mod weights;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

use crate::codebook::Codebook;
use crate::error::{Error, Result};
use crate::tokenize::TextTokenizer;
pub use encoder::{Config, Encoder};
pub use head::Head;
pub use weights::EncoderRef;

pub const CODEBOOK_FILE: &str = "codebook.toml";
pub const ENCODER_REF_FILE: &str = "encoder.toml";
pub const HEAD_WEIGHTS_FILE: &str = "head.safetensors";
pub const HEAD_CONFIG_FILE: &str = "head.json";
pub const THRESHOLDS_FILE: &str = "thresholds.json";
pub const MODEL_CARD_FILE: &str = "MODEL_CARD.md";

/// How the head reads the encoder output (`head.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadConfig {
    /// Always `mean` for now: mean over real tokens.
    pub pooling: String,
    /// Whether pooled embeddings are L2-normalised before the head.
    pub normalize: bool,
    pub input_dim: usize,
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
    if max_tokens > config.max_position_embeddings {
        return Err(Error::Usage(format!(
            "--max-tokens {max_tokens} exceeds the encoder's {} positions",
            config.max_position_embeddings
        )));
    }
    let weights = dir.join("model.safetensors");
    // SAFETY: the file is memory-mapped read-only; it was verified against its sha256 and is
    // not modified while discotag runs.
    let vb =
        unsafe { VarBuilder::from_mmaped_safetensors(&[&weights], encoder::DTYPE, &Device::Cpu)? };
    let encoder = Encoder::load(vb, &config).map_err(|e| Error::Model {
        path: weights.clone(),
        reason: format!("not a BERT checkpoint matching config.json: {e}"),
    })?;
    let tokenizer = TextTokenizer::from_file(&dir.join("tokenizer.json"), max_tokens)?;
    Ok(LoadedEncoder {
        encoder,
        tokenizer,
        dir: dir.to_path_buf(),
    })
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

impl LoadedEncoder {
    /// Tokenises and embeds texts in length-sorted batches; rows come back in input order.
    ///
    /// # Errors
    /// On tokenizer or tensor failures.
    pub fn embed_texts(
        &self,
        texts: &[&str],
        normalize: bool,
        batch_size: usize,
    ) -> Result<Vec<Vec<f32>>> {
        let mut ids = Vec::with_capacity(texts.len());
        for text in texts {
            let tokens = self
                .tokenizer
                .encode(text)
                .map_err(|source| Error::Tokenizer {
                    path: self.dir.join("tokenizer.json"),
                    source,
                })?;
            ids.push(tokens.ids);
        }
        let lengths: Vec<usize> = ids.iter().map(Vec::len).collect();
        let mut out = vec![Vec::new(); texts.len()];
        for batch in crate::batch::plan(&lengths, batch_size) {
            let seqs: Vec<&[u32]> = batch.iter().map(|&i| ids[i].as_slice()).collect();
            for (&i, e) in batch
                .iter()
                .zip(self.embed(&seqs, normalize)?.to_vec2::<f32>()?)
            {
                out[i] = e;
            }
        }
        Ok(out)
    }

    /// Sentence embeddings (batch, hidden): mean-pooled, optionally L2-normalised.
    ///
    /// # Errors
    /// On tensor failures.
    pub fn embed(&self, sequences: &[&[u32]], normalize: bool) -> candle_core::Result<Tensor> {
        let (ids, mask) = batch_tensors(sequences, self.tokenizer.pad_id(), self.encoder.device())?;
        let hidden = self.encoder.forward(&ids, &mask)?;
        let pooled = pooling::mean(&hidden, &mask)?;
        if normalize {
            pooling::l2_normalize(&pooled)
        } else {
            Ok(pooled)
        }
    }
}

/// The files of a model directory, read but not yet loaded onto the device.
#[derive(Debug, Clone)]
pub struct ModelDir {
    pub path: PathBuf,
    pub codebook: Codebook,
    pub encoder: EncoderRef,
    pub head: HeadConfig,
    /// Thresholds in codebook order.
    pub thresholds: Vec<f32>,
    /// `codebook-name@version+sha256(head)[..12]`.
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
        let by_code: BTreeMap<String, f32> = read_json(&path.join(THRESHOLDS_FILE))?;
        let thresholds = codebook
            .codes
            .iter()
            .map(|c| {
                by_code.get(&c.name).copied().ok_or_else(|| {
                    bad(format!(
                        "{THRESHOLDS_FILE} has no threshold for code {:?}",
                        c.name
                    ))
                })
            })
            .collect::<Result<Vec<f32>>>()?;
        let head_hash = weights::hash_file(&path.join(HEAD_WEIGHTS_FILE))?;
        let model_id = format!("{}+{}", codebook.identity(), &head_hash[..12]);
        Ok(ModelDir {
            path: path.to_path_buf(),
            codebook,
            encoder,
            head,
            thresholds,
            model_id,
        })
    }
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

/// Options for loading a classifier.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub max_tokens: usize,
    /// Never fetch a missing encoder.
    pub offline: bool,
}

/// Encoder, head and thresholds, ready to score token sequences.
pub struct Classifier {
    pub model: ModelDir,
    pub encoder: LoadedEncoder,
    head: Head,
}

impl Classifier {
    /// Opens a model directory, resolves (and if needed fetches) its encoder, loads everything.
    ///
    /// # Errors
    /// When any part of the model is missing or inconsistent.
    pub fn load(model_dir: &Path, options: &LoadOptions) -> Result<Self> {
        let model = ModelDir::open(model_dir)?;
        let encoder_dir = model.encoder.resolve(model_dir, options.offline)?;
        let encoder = load_encoder(&encoder_dir, options.max_tokens)?;
        let head_path = model_dir.join(HEAD_WEIGHTS_FILE);
        // SAFETY: read-only map of a small file that discotag does not modify while running.
        let vb = unsafe {
            VarBuilder::from_mmaped_safetensors(&[&head_path], encoder::DTYPE, &Device::Cpu)?
        };
        let head =
            Head::load(vb, model.head.input_dim, model.codebook.codes.len()).map_err(|e| {
                Error::Model {
                    path: head_path.clone(),
                    reason: format!("head does not match the codebook and encoder: {e}"),
                }
            })?;
        if model.head.input_dim != encoder.encoder.config().hidden_size {
            return Err(Error::Model {
                path: model_dir.to_path_buf(),
                reason: format!(
                    "the head expects {} features but the encoder gives {}",
                    model.head.input_dim,
                    encoder.encoder.config().hidden_size
                ),
            });
        }
        Ok(Classifier {
            model,
            encoder,
            head,
        })
    }

    /// Per-code scores (sigmoid of the logits) for each token sequence, in codebook order.
    ///
    /// # Errors
    /// On tensor failures.
    pub fn scores(&self, sequences: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
        if sequences.is_empty() {
            return Ok(Vec::new());
        }
        let embeddings = self.encoder.embed(sequences, self.model.head.normalize)?;
        Ok(self.head.probabilities(&embeddings)?)
    }

    /// Per-code scores for whole texts, tokenised here and run in length-sorted batches.
    ///
    /// # Errors
    /// On tokenizer or tensor failures.
    pub fn score_texts(&self, texts: &[&str], batch_size: usize) -> Result<Vec<Vec<f32>>> {
        let embeddings = self
            .encoder
            .embed_texts(texts, self.model.head.normalize, batch_size)?;
        if embeddings.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<f32> = embeddings.iter().flatten().copied().collect();
        let matrix = Tensor::from_vec(
            rows,
            (embeddings.len(), embeddings[0].len()),
            self.encoder.encoder.device(),
        )?;
        Ok(self.head.probabilities(&matrix)?)
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
        &self.encoder.tokenizer
    }
}
