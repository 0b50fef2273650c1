//! A BERT-family encoder in candle (BERT, MiniLM and other checkpoints in the Hugging Face
//! layout). Fields of [`Config`] mirror `config.json`; weight paths mirror the checkpoint's
//! tensor names (`encoder.layer.{i}.attention.self.query.weight`, ...), with or without a
//! `bert.` prefix. Padding is masked out of attention.
//!
//! Two kinds of forward pass ([`Pass`]): inference uses candle's fused layer norm and softmax,
//! which have no backward pass; training uses the same maths built from ordinary tensor ops,
//! so every weight receives a gradient, and applies dropout where BERT does.
//!
//! Paper: Devlin et al. 2019, <https://arxiv.org/abs/1810.04805>.

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
        if let Some(t) = &self.model_type
            && t != "bert"
        {
            return Err(format!(
                "model_type {t:?} is not supported: discotag runs encoders with the BERT architecture (model_type \"bert\")"
            ));
        }
        Ok(())
    }
}

struct Embeddings {
    word: Embedding,
    position: Embedding,
    token_type: Embedding,
    layer_norm: LayerNorm,
}

impl Embeddings {
    fn load(vb: VarBuilder, config: &Config) -> candle_core::Result<Self> {
        let h = config.hidden_size;
        Ok(Embeddings {
            word: candle_nn::embedding(config.vocab_size, h, vb.pp("word_embeddings"))?,
            position: candle_nn::embedding(
                config.max_position_embeddings,
                h,
                vb.pp("position_embeddings"),
            )?,
            token_type: candle_nn::embedding(
                config.type_vocab_size,
                h,
                vb.pp("token_type_embeddings"),
            )?,
            layer_norm: candle_nn::layer_norm(h, config.layer_norm_eps, vb.pp("LayerNorm"))?,
        })
    }

    fn forward(&self, input_ids: &Tensor, pass: Pass) -> candle_core::Result<Tensor> {
        let (_, len) = input_ids.dims2()?;
        let positions = Tensor::arange(0u32, len as u32, input_ids.device())?;
        let words = self.word.forward(input_ids)?;
        let token_types = self.token_type.forward(&input_ids.zeros_like()?)?;
        let positions = self.position.forward(&positions)?;
        let sum = words.add(&token_types)?.broadcast_add(&positions)?;
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
        let this = attention.pp("self");
        Ok(Layer {
            query: candle_nn::linear(h, h, this.pp("query"))?,
            key: candle_nn::linear(h, h, this.pp("key"))?,
            value: candle_nn::linear(h, h, this.pp("value"))?,
            attention_out: candle_nn::linear(h, h, attention.pp("output").pp("dense"))?,
            attention_norm: candle_nn::layer_norm(
                h,
                config.layer_norm_eps,
                attention.pp("output").pp("LayerNorm"),
            )?,
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
    fn forward(&self, xs: &Tensor, mask: &Tensor, pass: Pass) -> candle_core::Result<Tensor> {
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
        let scores = (q.matmul(&k.t()?)? * scale)?.broadcast_add(mask)?;
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
    pub token_type_embeddings: &'a Tensor,
    pub embedding_norm: &'a LayerNorm,
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
    config: Config,
    device: Device,
}

impl Encoder {
    /// Loads weights from `vb`, with or without a `bert.` prefix on every tensor name.
    ///
    /// # Errors
    /// When a tensor is missing or has the wrong shape.
    pub fn load(vb: VarBuilder, config: &Config) -> candle_core::Result<Self> {
        let vb = if vb.contains_tensor("embeddings.word_embeddings.weight") {
            vb
        } else if vb.contains_tensor("bert.embeddings.word_embeddings.weight") {
            vb.pp("bert")
        } else {
            vb // a VarMap being initialised for tests: tensors are created on demand
        };
        let layers = (0..config.num_hidden_layers)
            .map(|i| Layer::load(vb.pp(format!("encoder.layer.{i}")), config))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Encoder {
            embeddings: Embeddings::load(vb.pp("embeddings"), config)?,
            layers,
            config: config.clone(),
            device: vb.device().clone(),
        })
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
        let mut xs = self.embeddings.forward(input_ids, pass)?;
        for layer in &self.layers {
            xs = layer.forward(&xs, &additive, pass)?;
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
            token_type_embeddings: self.embeddings.token_type.embeddings(),
            embedding_norm: &self.embeddings.layer_norm,
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
        let config = Config {
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
        };
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DTYPE, &Device::Cpu);
        (Encoder::load(vb, &config).unwrap(), varmap)
    }

    /// Which variables get no gradient (or an all-zero one) from a loss on the pooled output.
    fn vars_without_gradient(pass: Pass) -> Vec<String> {
        let (encoder, varmap) = tiny();
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
}
