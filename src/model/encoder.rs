//! A BERT-family encoder in candle (BERT, MiniLM and other checkpoints in the Hugging Face
//! layout), and MPNet (all-mpnet-base-v2). Fields of [`Config`] mirror `config.json`, whose
//! `model_type` picks the [`Architecture`]; weight paths mirror the checkpoint's tensor names
//! (`encoder.layer.{i}.attention.self.query.weight`, ... for BERT,
//! `encoder.layer.{i}.attention.attn.q.weight`, ... for MPNet), with or without a `bert.` or
//! `mpnet.` prefix. Padding is masked out of attention.
//!
//! MPNet is BERT's layer stack with three differences, each checked against Hugging Face's
//! `modeling_mpnet.py`: no token-type embeddings; learned absolute positions that start at
//! `padding_idx + 1` = 2 (RoBERTa's convention), so 2 of the position rows are never used; and a
//! bucketed, bidirectional relative position bias ([`relative_position_bucket`]), one table of
//! (buckets × heads) shared by every layer and added to every layer's attention scores.
//!
//! Two kinds of forward pass ([`Pass`]): inference uses candle's fused layer norm and softmax,
//! which have no backward pass; training uses the same maths built from ordinary tensor ops,
//! so every weight receives a gradient, and applies dropout where BERT does.
//!
//! Papers: Devlin et al. 2019, <https://arxiv.org/abs/1810.04805>; MPNet: Song et al. 2020,
//! <https://arxiv.org/abs/2004.09297>.

use candle_core::{D, DType, Device, Module, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, VarBuilder};
use serde::Deserialize;

use super::dropout::Dropout;

/// How a forward pass runs.
#[derive(Clone, Copy)]
pub enum Pass<'a> {
    /// Fused kernels, no dropout, no gradients.
    Inference,
    /// Differentiable ops and dropout: for fine-tuning.
    Training(&'a Dropout),
}

impl Pass<'_> {
    fn norm(&self, ln: &LayerNorm, xs: &Tensor) -> candle_core::Result<Tensor> {
        match (self, ln.bias()) {
            (Pass::Training(_), Some(bias)) => {
                candle_nn::ops::layer_norm_slow(xs, ln.weight(), bias, ln.eps() as f32)
            }
            _ => ln.forward(xs),
        }
    }

    fn softmax(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Pass::Inference => candle_nn::ops::softmax_last_dim(xs),
            Pass::Training(_) => candle_nn::ops::softmax(xs, D::Minus1),
        }
    }

    pub(crate) fn dropout(&self, xs: Tensor) -> candle_core::Result<Tensor> {
        match self {
            Pass::Inference => Ok(xs),
            Pass::Training(dropout) => dropout.apply(&xs),
        }
    }
}

/// The dtype the encoder runs in.
pub const DTYPE: DType = DType::F32;

/// The activation between the two feed-forward layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum HiddenAct {
    /// The exact, erf-based GELU (`"gelu"` in Hugging Face configs).
    #[default]
    Gelu,
    /// The tanh approximation.
    #[serde(alias = "gelu_pytorch_tanh", alias = "gelu_fast")]
    GeluNew,
    Relu,
}

/// An encoder's `config.json`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[serde(default)]
    pub hidden_act: HiddenAct,
    pub max_position_embeddings: usize,
    #[serde(default = "default_type_vocab_size")]
    pub type_vocab_size: usize,
    #[serde(default = "default_layer_norm_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub model_type: Option<String>,
    /// MPNet only: rows of the relative position bias table (32 in every released checkpoint).
    #[serde(default)]
    pub relative_attention_num_buckets: Option<usize>,
}

/// Which layer stack a checkpoint holds, from `config.json`'s `model_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    /// `"bert"` (or no `model_type`): BERT, MiniLM, BGE and the like.
    Bert,
    /// `"mpnet"`: relative position bias, positions from 2, no token types.
    MpNet,
}

/// MPNet's padding index: its position ids start after it (Hugging Face hard-codes 1, whatever
/// `pad_token_id` says).
const MPNET_PADDING_IDX: usize = 1;
/// Buckets the relative distances are sorted into. Hugging Face's `compute_position_bias`
/// always buckets with its default of 32, whatever the config says; so do we.
const MPNET_BUCKETS: i64 = 32;
/// Distances from this on share the last bucket of their direction.
const MPNET_MAX_DISTANCE: i64 = 128;

/// The relative-position bucket of a key at `key - query = relative`, as MPNet (and T5,
/// bidirectionally) computes it: half the buckets for keys after the query, half for keys
/// before; within each half, distances below 8 have a bucket each and longer ones share
/// logarithmically wider buckets up to [`MPNET_MAX_DISTANCE`]. The logarithm is taken in f32,
/// as PyTorch does, so distances on a bucket boundary land where they land there.
pub fn relative_position_bucket(relative: i64) -> usize {
    let half = MPNET_BUCKETS / 2;
    let n = -relative;
    let offset = if n < 0 { half } else { 0 };
    let n = n.abs();
    let max_exact = half / 2;
    let bucket = if n < max_exact {
        n
    } else {
        let ratio = (n as f32 / max_exact as f32).ln()
            / (MPNET_MAX_DISTANCE as f32 / max_exact as f32).ln();
        (max_exact + (ratio * (half - max_exact) as f32) as i64).min(half - 1)
    };
    (offset + bucket) as usize
}

fn default_type_vocab_size() -> usize {
    2
}
fn default_layer_norm_eps() -> f64 {
    1e-12
}

impl Config {
    /// Checks the numbers fit together.
    ///
    /// # Errors
    /// A sentence saying which do not.
    pub fn validate(&self) -> Result<(), String> {
        if self.num_attention_heads == 0
            || !self.hidden_size.is_multiple_of(self.num_attention_heads)
        {
            return Err(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        self.architecture()?;
        if self.max_tokens() == 0 {
            return Err(format!(
                "max_position_embeddings {} leaves no positions for tokens",
                self.max_position_embeddings
            ));
        }
        Ok(())
    }

    /// The layer stack `model_type` names.
    ///
    /// # Errors
    /// A sentence naming an unsupported `model_type`.
    pub fn architecture(&self) -> Result<Architecture, String> {
        match self.model_type.as_deref() {
            None | Some("bert") => Ok(Architecture::Bert),
            Some("mpnet") => Ok(Architecture::MpNet),
            Some(t) => Err(format!(
                "model_type {t:?} is not supported: discotag runs encoders with the BERT (model_type \"bert\") or MPNet (\"mpnet\") architecture"
            )),
        }
    }

    fn arch(&self) -> Architecture {
        self.architecture().unwrap_or(Architecture::Bert)
    }

    /// The position row of a sequence's first token: 0 for BERT, 2 for MPNet.
    pub fn position_offset(&self) -> usize {
        match self.arch() {
            Architecture::Bert => 0,
            Architecture::MpNet => MPNET_PADDING_IDX + 1,
        }
    }

    /// The longest sequence the position table allows, special tokens included.
    pub fn max_tokens(&self) -> usize {
        self.max_position_embeddings
            .saturating_sub(self.position_offset())
    }
}

struct Embeddings {
    word: Embedding,
    position: Embedding,
    /// BERT only; MPNet has no token types.
    token_type: Option<Embedding>,
    layer_norm: LayerNorm,
    /// The position row of the first token ([`Config::position_offset`]).
    position_offset: usize,
}

impl Embeddings {
    fn load(vb: VarBuilder, config: &Config) -> candle_core::Result<Self> {
        let h = config.hidden_size;
        let token_type = match config.arch() {
            Architecture::Bert => Some(candle_nn::embedding(
                config.type_vocab_size,
                h,
                vb.pp("token_type_embeddings"),
            )?),
            Architecture::MpNet => None,
        };
        Ok(Embeddings {
            word: candle_nn::embedding(config.vocab_size, h, vb.pp("word_embeddings"))?,
            position: candle_nn::embedding(
                config.max_position_embeddings,
                h,
                vb.pp("position_embeddings"),
            )?,
            token_type,
            layer_norm: candle_nn::layer_norm(h, config.layer_norm_eps, vb.pp("LayerNorm"))?,
            position_offset: config.position_offset(),
        })
    }

    fn forward(&self, input_ids: &Tensor, pass: Pass) -> candle_core::Result<Tensor> {
        let (_, len) = input_ids.dims2()?;
        let first = self.position_offset as u32;
        let positions = Tensor::arange(first, first + len as u32, input_ids.device())?;
        let words = self.word.forward(input_ids)?;
        let positions = self.position.forward(&positions)?;
        let sum = match &self.token_type {
            Some(token_type) => {
                let token_types = token_type.forward(&input_ids.zeros_like()?)?;
                words.add(&token_types)?.broadcast_add(&positions)?
            }
            // Padding gets positions too (Hugging Face gives it row 1); it is masked out of
            // attention and pooling, so no real token sees the difference.
            None => words.broadcast_add(&positions)?,
        };
        pass.dropout(pass.norm(&self.layer_norm, &sum)?)
    }
}

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
    heads: usize,
    head_dim: usize,
    act: HiddenAct,
    span: tracing::Span,
}

impl Layer {
    fn load(vb: VarBuilder, config: &Config) -> candle_core::Result<Self> {
        let h = config.hidden_size;
        let attention = vb.pp("attention");
        // The same four projections and norm under each architecture's names.
        let (query, key, value, out, norm) = match config.arch() {
            Architecture::Bert => {
                let this = attention.pp("self");
                (
                    this.pp("query"),
                    this.pp("key"),
                    this.pp("value"),
                    attention.pp("output").pp("dense"),
                    attention.pp("output").pp("LayerNorm"),
                )
            }
            Architecture::MpNet => {
                let attn = attention.pp("attn");
                (
                    attn.pp("q"),
                    attn.pp("k"),
                    attn.pp("v"),
                    attn.pp("o"),
                    attention.pp("LayerNorm"),
                )
            }
        };
        Ok(Layer {
            query: candle_nn::linear(h, h, query)?,
            key: candle_nn::linear(h, h, key)?,
            value: candle_nn::linear(h, h, value)?,
            attention_out: candle_nn::linear(h, h, out)?,
            attention_norm: candle_nn::layer_norm(h, config.layer_norm_eps, norm)?,
            intermediate: candle_nn::linear(
                h,
                config.intermediate_size,
                vb.pp("intermediate").pp("dense"),
            )?,
            output: candle_nn::linear(config.intermediate_size, h, vb.pp("output").pp("dense"))?,
            output_norm: candle_nn::layer_norm(
                h,
                config.layer_norm_eps,
                vb.pp("output").pp("LayerNorm"),
            )?,
            heads: config.num_attention_heads,
            head_dim: h / config.num_attention_heads,
            act: config.hidden_act,
            span: tracing::span!(tracing::Level::TRACE, "layer"),
        })
    }

    /// `mask` is additive, shape (batch, 1, 1, len): 0 for tokens, a large negative for padding.
    /// `position_bias` (MPNet), shape (1, heads, len, len), is added to the scores before it.
    fn forward(
        &self,
        xs: &Tensor,
        mask: &Tensor,
        position_bias: Option<&Tensor>,
        pass: Pass,
    ) -> candle_core::Result<Tensor> {
        let _enter = self.span.enter();
        let (b, t, h) = xs.dims3()?;
        let split_heads = |x: Tensor| -> candle_core::Result<Tensor> {
            x.reshape((b, t, self.heads, self.head_dim))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = split_heads(self.query.forward(xs)?)?;
        let k = split_heads(self.key.forward(xs)?)?;
        let v = split_heads(self.value.forward(xs)?)?;
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let scores = (q.matmul(&k.t()?)? * scale)?;
        let scores = match position_bias {
            Some(bias) => scores.broadcast_add(bias)?,
            None => scores,
        };
        let scores = scores.broadcast_add(mask)?;
        let probs = pass.dropout(pass.softmax(&scores)?)?;
        let context = probs.matmul(&v)?.transpose(1, 2)?.reshape((b, t, h))?;
        let attended = pass.norm(
            &self.attention_norm,
            &(pass.dropout(self.attention_out.forward(&context)?)? + xs)?,
        )?;
        let inner = self.intermediate.forward(&attended)?;
        let inner = match self.act {
            HiddenAct::Gelu => inner.gelu_erf()?,
            HiddenAct::GeluNew => inner.gelu()?,
            HiddenAct::Relu => inner.relu()?,
        };
        pass.norm(
            &self.output_norm,
            &(pass.dropout(self.output.forward(&inner)?)? + attended)?,
        )
    }
}

/// Borrowed views of an encoder's weights.
pub(super) struct Parts<'a> {
    pub word_embeddings: &'a Tensor,
    pub position_embeddings: &'a Tensor,
    /// BERT only.
    pub token_type_embeddings: Option<&'a Tensor>,
    pub embedding_norm: &'a LayerNorm,
    /// MPNet only: (buckets × heads), indexed by [`relative_position_bucket`].
    pub relative_attention_bias: Option<&'a Tensor>,
    pub layers: Vec<LayerParts<'a>>,
}

pub(super) struct LayerParts<'a> {
    pub query: &'a Linear,
    pub key: &'a Linear,
    pub value: &'a Linear,
    pub attention_out: &'a Linear,
    pub attention_norm: &'a LayerNorm,
    pub intermediate: &'a Linear,
    pub output: &'a Linear,
    pub output_norm: &'a LayerNorm,
}

/// The encoder: embeddings and a stack of transformer layers.
pub struct Encoder {
    embeddings: Embeddings,
    layers: Vec<Layer>,
    /// MPNet only: the relative position bias table, (buckets × heads), shared by all layers.
    relative_attention_bias: Option<Embedding>,
    config: Config,
    device: Device,
}

impl Encoder {
    /// Loads weights from `vb`, with or without a `bert.` (or `mpnet.`) prefix on every tensor
    /// name.
    ///
    /// # Errors
    /// When a tensor is missing or has the wrong shape, or `model_type` is not supported.
    pub fn load(vb: VarBuilder, config: &Config) -> candle_core::Result<Self> {
        let arch = config.architecture().map_err(candle_core::Error::msg)?;
        let vb = if vb.contains_tensor("embeddings.word_embeddings.weight") {
            vb
        } else if vb.contains_tensor("bert.embeddings.word_embeddings.weight") {
            vb.pp("bert")
        } else if vb.contains_tensor("mpnet.embeddings.word_embeddings.weight") {
            vb.pp("mpnet")
        } else {
            vb // a VarMap being initialised for tests: tensors are created on demand
        };
        let layers = (0..config.num_hidden_layers)
            .map(|i| Layer::load(vb.pp(format!("encoder.layer.{i}")), config))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let relative_attention_bias = match arch {
            Architecture::Bert => None,
            Architecture::MpNet => Some(candle_nn::embedding(
                config
                    .relative_attention_num_buckets
                    .unwrap_or(MPNET_BUCKETS as usize),
                config.num_attention_heads,
                vb.pp("encoder").pp("relative_attention_bias"),
            )?),
        };
        Ok(Encoder {
            embeddings: Embeddings::load(vb.pp("embeddings"), config)?,
            layers,
            relative_attention_bias,
            config: config.clone(),
            device: vb.device().clone(),
        })
    }

    /// MPNet's relative position bias for sequences of `len`, shape (1, heads, len, len):
    /// row `i` (query), column `j` (key) holds the table row of bucket(`j - i`).
    fn position_bias(&self, table: &Embedding, len: usize) -> candle_core::Result<Tensor> {
        let buckets: Vec<u32> = (0..len as i64)
            .flat_map(|i| (0..len as i64).map(move |j| relative_position_bucket(j - i) as u32))
            .collect();
        let buckets = Tensor::from_vec(buckets, (len, len), &self.device)?;
        table.forward(&buckets)?.permute((2, 0, 1))?.unsqueeze(0)
    }

    /// Hidden states, shape (batch, len, hidden). `attention_mask` is (batch, len), 1 for tokens,
    /// 0 for padding, in [`DTYPE`].
    ///
    /// # Errors
    /// On shape mismatches.
    pub fn forward(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        pass: Pass,
    ) -> candle_core::Result<Tensor> {
        let (b, t) = input_ids.dims2()?;
        // 0 where attended, -1e9 where padding: exp() of it is exactly 0 in f32.
        let additive = ((attention_mask.to_dtype(DTYPE)? - 1.0)? * 1e9)?.reshape((b, 1, 1, t))?;
        let position_bias = match &self.relative_attention_bias {
            Some(table) => Some(self.position_bias(table, t)?),
            None => None,
        };
        let mut xs = self.embeddings.forward(input_ids, pass)?;
        for layer in &self.layers {
            xs = layer.forward(&xs, &additive, position_bias.as_ref(), pass)?;
        }
        Ok(xs)
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The weights, for the inference engine to pack.
    pub(super) fn parts(&self) -> Parts<'_> {
        Parts {
            word_embeddings: self.embeddings.word.embeddings(),
            position_embeddings: self.embeddings.position.embeddings(),
            token_type_embeddings: self
                .embeddings
                .token_type
                .as_ref()
                .map(Embedding::embeddings),
            embedding_norm: &self.embeddings.layer_norm,
            relative_attention_bias: self
                .relative_attention_bias
                .as_ref()
                .map(Embedding::embeddings),
            layers: self
                .layers
                .iter()
                .map(|l| LayerParts {
                    query: &l.query,
                    key: &l.key,
                    value: &l.value,
                    attention_out: &l.attention_out,
                    attention_norm: &l.attention_norm,
                    intermediate: &l.intermediate,
                    output: &l.output,
                    output_norm: &l.output_norm,
                })
                .collect(),
        }
    }

    pub fn device(&self) -> &Device {
        &self.device
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix;
    use candle_nn::VarMap;

    fn tiny() -> (Encoder, VarMap) {
        tiny_from(tiny_config())
    }

    fn tiny_config() -> Config {
        Config {
            vocab_size: 40,
            hidden_size: 16,
            num_hidden_layers: 2,
            num_attention_heads: 2,
            intermediate_size: 32,
            hidden_act: HiddenAct::Gelu,
            max_position_embeddings: 16,
            type_vocab_size: 2,
            layer_norm_eps: 1e-12,
            model_type: None,
            relative_attention_num_buckets: None,
        }
    }

    /// A tiny random MPNet: positions from 2, so 18 rows for 16 tokens.
    fn tiny_mpnet() -> (Encoder, VarMap) {
        tiny_from(Config {
            model_type: Some("mpnet".into()),
            max_position_embeddings: 18,
            layer_norm_eps: 1e-5,
            relative_attention_num_buckets: Some(32),
            ..tiny_config()
        })
    }

    fn tiny_from(config: Config) -> (Encoder, VarMap) {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DTYPE, &Device::Cpu);
        (Encoder::load(vb, &config).unwrap(), varmap)
    }

    /// Which variables get no gradient (or an all-zero one) from a loss on the pooled output.
    fn vars_without_gradient(pass: Pass) -> Vec<String> {
        vars_without_gradient_of(tiny(), pass)
    }

    fn vars_without_gradient_of((encoder, varmap): (Encoder, VarMap), pass: Pass) -> Vec<String> {
        let ids = Tensor::new(&[[2u32, 7, 9, 3, 0], [2, 11, 3, 0, 0]], &Device::Cpu).unwrap();
        let mask = Tensor::new(
            &[[1f32, 1., 1., 1., 0.], [1., 1., 1., 0., 0.]],
            &Device::Cpu,
        )
        .unwrap();
        let hidden = encoder.forward(&ids, &mask, pass).unwrap();
        let pooled = crate::model::pooling::mean(&hidden, &mask).unwrap();
        let weights = Tensor::arange(0f32, 16., &Device::Cpu)
            .unwrap()
            .sin()
            .unwrap();
        let loss = pooled.broadcast_mul(&weights).unwrap().sum_all().unwrap();
        let grads = loss.backward().unwrap();
        let mut missing: Vec<String> = varmap
            .data()
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, var)| {
                grads.get(var.as_tensor()).is_none_or(|g| {
                    g.abs()
                        .unwrap()
                        .sum_all()
                        .unwrap()
                        .to_scalar::<f32>()
                        .unwrap()
                        == 0.0
                })
            })
            .map(|(name, _)| name.clone())
            .collect();
        missing.sort();
        missing
    }

    #[test]
    fn training_pass_gives_every_weight_a_gradient() {
        let dropout = Dropout::new(0.1, SplitMix::new(5));
        assert_eq!(
            vars_without_gradient(Pass::Training(&dropout)),
            Vec::<String>::new()
        );
    }

    #[test]
    fn inference_pass_uses_fused_ops_that_stop_gradients() {
        // The reason fine-tuning needs the training pass: the fused layer norm has no backward
        // pass, so nothing below the last layer norm would learn, and nothing would fail.
        let missing = vars_without_gradient(Pass::Inference);
        assert!(missing.iter().any(|n| n.contains("query")), "{missing:?}");
    }

    #[test]
    fn training_pass_without_dropout_matches_inference() {
        let (encoder, _) = tiny();
        let ids = Tensor::new(&[[2u32, 7, 9, 3]], &Device::Cpu).unwrap();
        let mask = Tensor::ones((1, 4), DTYPE, &Device::Cpu).unwrap();
        let no_dropout = Dropout::new(0.0, SplitMix::new(1));
        let a = encoder.forward(&ids, &mask, Pass::Inference).unwrap();
        let b = encoder
            .forward(&ids, &mask, Pass::Training(&no_dropout))
            .unwrap();
        let diff = (a - b).unwrap().abs().unwrap().max_all().unwrap();
        assert!(diff.to_scalar::<f32>().unwrap() < 1e-4);
    }

    #[test]
    fn mpnet_training_pass_gives_every_weight_a_gradient_including_the_position_bias() {
        let dropout = Dropout::new(0.1, SplitMix::new(5));
        let (encoder, varmap) = tiny_mpnet();
        let names: Vec<String> = varmap.data().lock().unwrap().keys().cloned().collect();
        assert!(
            names.contains(&"encoder.relative_attention_bias.weight".to_string()),
            "{names:?}"
        );
        assert!(names.iter().any(|n| n.ends_with("attention.attn.q.weight")));
        assert!(!names.iter().any(|n| n.contains("token_type")));
        assert_eq!(
            vars_without_gradient_of((encoder, varmap), Pass::Training(&dropout)),
            Vec::<String>::new()
        );
    }

    #[test]
    fn mpnet_position_bias_changes_the_output() {
        // The table is the only thing that tells MPNet's layers how far apart two tokens are;
        // zeroing it must change the hidden states, or it is not being added.
        let (encoder, varmap) = tiny_mpnet();
        let ids = Tensor::new(&[[0u32, 7, 9, 13, 2]], &Device::Cpu).unwrap();
        let mask = Tensor::ones((1, 5), DTYPE, &Device::Cpu).unwrap();
        let before = encoder.forward(&ids, &mask, Pass::Inference).unwrap();
        let table = varmap
            .data()
            .lock()
            .unwrap()
            .get("encoder.relative_attention_bias.weight")
            .unwrap()
            .clone();
        table.set(&table.zeros_like().unwrap()).unwrap();
        let after = encoder.forward(&ids, &mask, Pass::Inference).unwrap();
        let diff = (before - after).unwrap().abs().unwrap().max_all().unwrap();
        assert!(diff.to_scalar::<f32>().unwrap() > 1e-4);
    }

    #[test]
    fn mpnet_padding_does_not_change_real_tokens() {
        let (encoder, _) = tiny_mpnet();
        let alone = Tensor::new(&[[0u32, 7, 9, 2]], &Device::Cpu).unwrap();
        let padded = Tensor::new(&[[0u32, 7, 9, 2, 1, 1]], &Device::Cpu).unwrap();
        let a = encoder
            .forward(
                &alone,
                &Tensor::ones((1, 4), DTYPE, &Device::Cpu).unwrap(),
                Pass::Inference,
            )
            .unwrap();
        let mask = Tensor::new(&[[1f32, 1., 1., 1., 0., 0.]], &Device::Cpu).unwrap();
        let b = encoder
            .forward(&padded, &mask, Pass::Inference)
            .unwrap()
            .narrow(1, 0, 4)
            .unwrap();
        let diff = (a - b).unwrap().abs().unwrap().max_all().unwrap();
        assert!(diff.to_scalar::<f32>().unwrap() < 1e-5);
    }

    #[test]
    fn relative_position_buckets_follow_mpnet() {
        // Keys before the query (relative < 0) use buckets 0..16, keys after it 16..32; the
        // first 8 distances are exact, then log-spaced up to 128, then the last bucket.
        let bucket = relative_position_bucket;
        for n in 0..8 {
            assert_eq!(bucket(-n), n as usize);
        }
        assert_eq!(bucket(1), 17);
        assert_eq!(bucket(7), 23);
        // 8 + floor(8 * ln(n / 8) / ln(16)).
        assert_eq!(bucket(-8), 8);
        assert_eq!(bucket(-12), 9);
        assert_eq!(bucket(-16), 10);
        assert_eq!(bucket(-32), 12);
        assert_eq!(bucket(-64), 14);
        assert_eq!(bucket(-127), 15);
        assert_eq!(bucket(-128), 15);
        assert_eq!(bucket(-10_000), 15);
        assert_eq!(bucket(16), 26);
        assert_eq!(bucket(500), 31);
        assert!((-600..600).all(|r| bucket(r) < 32));
    }

    #[test]
    fn mpnet_rejects_more_tokens_than_positions_after_the_offset() {
        let config = Config {
            model_type: Some("mpnet".into()),
            max_position_embeddings: 514,
            ..tiny_config()
        };
        assert_eq!(config.position_offset(), 2);
        assert_eq!(config.max_tokens(), 512);
        assert_eq!(tiny_config().max_tokens(), 16);
        let other = Config {
            model_type: Some("roberta".into()),
            ..tiny_config()
        };
        assert!(other.validate().unwrap_err().contains("roberta"));
    }
}
