//! The multi-label head: one logit per code from the pooled sentence features, either a linear
//! layer or a small MLP (linear, GELU, dropout, linear). Scores are the sigmoid of the logits; a
//! code is predicted when its score reaches the code's threshold.

use candle_core::{Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder};

use super::encoder::Pass;

/// Weight names inside `head.safetensors`: the output layer.
pub const HEAD_PREFIX: &str = "head";
/// Weight names of the MLP's hidden layer.
pub const HIDDEN_PREFIX: &str = "head_hidden";

/// A linear layer or a one-hidden-layer MLP from features to one logit per code.
#[derive(Debug, Clone)]
pub struct Head {
    hidden: Option<Linear>,
    output: Linear,
}

impl Head {
    /// Loads (or, from a `VarMap`, creates) the head for `input_dim` features and `codes` codes;
    /// `hidden` is the MLP's width, `None` for a linear head.
    ///
    /// # Errors
    /// When the weights are missing or of another shape.
    pub fn load(
        vb: VarBuilder,
        input_dim: usize,
        hidden: Option<usize>,
        codes: usize,
    ) -> Result<Self> {
        let (hidden, output_in) = match hidden {
            Some(width) => (
                Some(candle_nn::linear(input_dim, width, vb.pp(HIDDEN_PREFIX))?),
                width,
            ),
            None => (None, input_dim),
        };
        Ok(Head {
            hidden,
            output: candle_nn::linear(output_in, codes, vb.pp(HEAD_PREFIX))?,
        })
    }

    /// Logits, shape (batch, codes), for inference.
    ///
    /// # Errors
    /// On shape mismatches.
    pub fn forward(&self, features: &Tensor) -> Result<Tensor> {
        self.forward_pass(features, Pass::Inference)
    }

    /// Logits; in a training pass, dropout is applied to the MLP's input and hidden layer.
    ///
    /// # Errors
    /// On shape mismatches.
    pub fn forward_pass(&self, features: &Tensor, pass: Pass) -> Result<Tensor> {
        match &self.hidden {
            None => self.output.forward(features),
            Some(hidden) => {
                let inner = hidden
                    .forward(&pass.dropout(features.clone())?)?
                    .gelu_erf()?;
                self.output.forward(&pass.dropout(inner)?)
            }
        }
    }

    /// Per-code scores (sigmoid of the logits), one row per feature vector.
    ///
    /// # Errors
    /// On shape mismatches.
    pub fn probabilities(&self, features: &Tensor) -> Result<Vec<Vec<f32>>> {
        candle_nn::ops::sigmoid(&self.forward(features)?)?.to_vec2::<f32>()
    }
}

/// Which codes a row of scores assigns: score at or above the code's threshold.
pub fn over_thresholds(scores: &[f32], thresholds: &[f32]) -> Vec<bool> {
    scores.iter().zip(thresholds).map(|(s, t)| s >= t).collect()
}
