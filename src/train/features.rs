//! Sentence features of labelled texts from the frozen encoder, computed once and cached on
//! disk, so that trying several heads (or training again with other settings) does not run the
//! encoder again. The cache key covers the encoder's file hashes, the token limit and every
//! text, so a changed input can never be served stale features.

use std::path::PathBuf;

use candle_core::{Device, Tensor};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::model::{EncoderRef, LoadedEncoder, Pooling, weights};

/// Utterances per encoder batch while computing features.
const FEATURE_BATCH_SIZE: usize = 32;

/// L2-normalised mean and [CLS] features, one row per text.
pub struct Features {
    pub mean: Tensor,
    pub cls: Tensor,
}

impl Features {
    /// The feature matrix a head with `pooling` reads.
    ///
    /// # Errors
    /// On tensor failures.
    pub fn matrix(&self, pooling: Pooling) -> Result<Tensor> {
        Ok(match pooling {
            Pooling::Mean => self.mean.clone(),
            Pooling::Cls => self.cls.clone(),
            Pooling::MeanCls => Tensor::cat(&[&self.mean, &self.cls], 1)?,
        })
    }
}

fn cache_path(encoder: &EncoderRef, max_tokens: usize, texts: &[&str]) -> PathBuf {
    let mut hasher = Sha256::new();
    hasher.update(b"discotag-features-v1\0");
    for (file, hash) in &encoder.sha256 {
        hasher.update(file.as_bytes());
        hasher.update(hash.as_bytes());
    }
    hasher.update((max_tokens as u64).to_le_bytes());
    for text in texts {
        hasher.update((text.len() as u64).to_le_bytes());
        hasher.update(text.as_bytes());
    }
    let key = hex::encode(hasher.finalize());
    weights::cache_root()
        .join("features")
        .join(format!("{}.safetensors", &key[..32]))
}

/// Features of `texts`, from the cache when the same encoder, token limit and texts were seen
/// before.
///
/// # Errors
/// On encoder failures; a cache that cannot be written only logs a warning.
pub fn compute(
    encoder: &LoadedEncoder,
    reference: &EncoderRef,
    max_tokens: usize,
    texts: &[&str],
) -> Result<Features> {
    let path = cache_path(reference, max_tokens, texts);
    if let Ok(stored) = candle_core::safetensors::load(&path, &Device::Cpu)
        && let (Some(mean), Some(cls)) = (stored.get("mean"), stored.get("cls"))
        && mean.dim(0).ok() == Some(texts.len())
    {
        tracing::debug!(path = %path.display(), "features from the cache");
        return Ok(Features {
            mean: mean.clone(),
            cls: cls.clone(),
        });
    }
    let both = encoder.embed_texts(texts, Pooling::MeanCls, true, FEATURE_BATCH_SIZE)?;
    let width = encoder.encoder.config().hidden_size;
    let features = Features {
        mean: both.narrow(1, 0, width)?.contiguous()?,
        cls: both.narrow(1, width, width)?.contiguous()?,
    };
    if let Err(e) = store(&path, &features) {
        tracing::warn!(path = %path.display(), "could not cache features: {e}");
    }
    Ok(features)
}

fn store(path: &std::path::Path, features: &Features) -> Result<()> {
    let dir = path.parent().expect("cache files live in a folder");
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let tensors = [
        ("mean", features.mean.clone()),
        ("cls", features.cls.clone()),
    ];
    candle_core::safetensors::save(&tensors.into_iter().collect(), &tmp)?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(format!("writing {}", path.display()), e))
}
