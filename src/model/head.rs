//! The multi-label head: one logit per code from the pooled sentence embedding. Scores are the
//! sigmoid of the logits; a code is predicted when its score reaches the code's threshold.

use candle_core::{Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder};

/// Weight names inside `head.safetensors`.
pub const HEAD_PREFIX: &str = "head";

/// A linear layer from embedding to one logit per code.
#[derive(Debug, Clone)]
pub struct Head {
    linear: Linear,
}

impl Head {
    /// Loads (or, from a `VarMap`, creates) the head for `input_dim` features and `codes` codes.
    ///
    /// # Errors
    /// When the weights are missing or of another shape.
    pub fn load(vb: VarBuilder, input_dim: usize, codes: usize) -> Result<Self> {
        Ok(Head {
            linear: candle_nn::linear(input_dim, codes, vb.pp(HEAD_PREFIX))?,
        })
    }

    /// Logits, shape (batch, codes).
    ///
    /// # Errors
    /// On shape mismatches.
    pub fn forward(&self, embeddings: &Tensor) -> Result<Tensor> {
        self.linear.forward(embeddings)
    }

    /// Per-code scores (sigmoid of the logits), one row per embedding.
    ///
    /// # Errors
    /// On shape mismatches.
    pub fn probabilities(&self, embeddings: &Tensor) -> Result<Vec<Vec<f32>>> {
        candle_nn::ops::sigmoid(&self.forward(embeddings)?)?.to_vec2::<f32>()
    }
}

/// Which codes a row of scores assigns: score at or above the code's threshold.
pub fn over_thresholds(scores: &[f32], thresholds: &[f32]) -> Vec<bool> {
    scores.iter().zip(thresholds).map(|(s, t)| s >= t).collect()
}
