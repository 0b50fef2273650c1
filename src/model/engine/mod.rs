//! The inference engine: the same BERT (or MPNet) forward pass as [`super::encoder`], written
//! for speed on CPUs instead of built from candle ops. candle's encoder stays the reference and the training
//! path; this one runs `label`, `eval` and frozen-feature training.
//!
//! What makes it fast, each lever measured in docs/PERFORMANCE.md:
//! - **No padding.** A batch's segments are laid end to end (a "ragged" batch): the linear
//!   layers run over real tokens only, and attention runs per segment, so no position attends
//!   to padding and no mask is needed.
//! - **Packed weights and a register-blocked GEMM** ([`gemm`]) with AVX-512, AVX2 or portable
//!   microkernels picked at run time, and bias, GELU and residual fused into its epilogue.
//! - **Vectorised element-wise maths** ([`ops`]): polynomial `exp` and `erf` instead of scalar
//!   libm calls, layer norm and softmax in partial sums.
//! - **No allocation per op.** Each thread keeps a [`Workspace`] whose buffers grow to the
//!   largest batch and are reused.
//! - **Batches in parallel.** Each thread runs whole batches, longest first, taking the next
//!   when it is free ([`InferenceEncoder::embed_batches`]); no thread waits on another inside a
//!   batch.
//!
//! A segment's result does not depend on the other segments of its batch: every sum runs over
//! the same terms in the same order.

pub mod gemm;
pub mod ops;

use candle_core::Tensor;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::encoder::{Encoder, HiddenAct};
use super::pooling::Pooling;
use crate::error::{Error, Result};
use gemm::{Epilogue, PackedLinear, Scratch};
pub use gemm::{Isa, Kernel, Precision};
use ops::Activation;

/// One transformer layer, packed.
struct Layer {
    /// Query, key and value in one product: outputs `[q | k | v]`, each `hidden` wide.
    qkv: PackedLinear,
    attention_out: PackedLinear,
    attention_norm: Norm,
    intermediate: PackedLinear,
    output: PackedLinear,
    output_norm: Norm,
}

struct Norm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
    eps: f32,
}

/// The encoder's weights, packed for the CPU it runs on.
pub struct InferenceEncoder {
    precision: Precision,
    hidden: usize,
    heads: usize,
    intermediate: usize,
    max_positions: usize,
    vocab: usize,
    activation: Activation,
    word_embeddings: Vec<f32>,
    /// From the first token's row on ([`super::encoder::Config::position_offset`]).
    position_embeddings: Vec<f32>,
    /// Token type 0's embedding: discotag encodes single segments. Zeros for MPNet, which has
    /// none (adding 0.0 changes no bit).
    token_type_embedding: Vec<f32>,
    embedding_norm: Norm,
    /// MPNet only: the position bias per head and distance, `heads × (2 × max_positions - 1)`,
    /// row `head`, column `key - query + max_positions - 1`: the bucket lookup done once.
    relative_bias: Option<Vec<f32>>,
    layers: Vec<Layer>,
    isa: Isa,
}

/// Buffers one thread reuses from batch to batch.
#[derive(Default)]
pub struct Workspace {
    hidden: Vec<f32>,
    qkv: Vec<f32>,
    context: Vec<f32>,
    attended: Vec<f32>,
    inner: Vec<f32>,
    scores: Vec<f32>,
    keys_t: Vec<f32>,
    scratch: Scratch,
}

fn flat(t: &Tensor) -> Result<Vec<f32>> {
    Ok(t.to_dtype(candle_core::DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()?)
}

impl InferenceEncoder {
    /// Packs a loaded candle encoder's weights (their current values, so a model being
    /// fine-tuned can be evaluated with it) for the best instruction set of this CPU, capped by
    /// `DISCOTAG_ISA` ([`gemm::ISA_VARIABLE`]).
    ///
    /// # Errors
    /// On tensor conversion failures, or a `DISCOTAG_ISA` that names no instruction set.
    pub fn new(encoder: &Encoder, precision: Precision) -> Result<Self> {
        Self::with_isa(encoder, precision, Isa::from_env().map_err(Error::Usage)?)
    }

    /// As [`Self::new`], for a given instruction set, at most [`Isa::cpu`].
    ///
    /// # Errors
    /// On tensor conversion failures.
    pub fn with_isa(encoder: &Encoder, precision: Precision, isa: Isa) -> Result<Self> {
        let isa = isa.min(Isa::cpu());
        let kernel = Kernel::choose(precision, isa);
        let config = encoder.config();
        let h = config.hidden_size;
        let parts = encoder.parts();
        let linear = |l: &candle_nn::Linear| -> Result<PackedLinear> {
            let (outputs, inputs) = l.weight().dims2()?;
            let bias = match l.bias() {
                Some(b) => flat(b)?,
                None => vec![0.0; outputs],
            };
            Ok(PackedLinear::new(
                &flat(l.weight())?,
                outputs,
                inputs,
                &bias,
                precision,
                kernel,
            ))
        };
        let norm = |n: &candle_nn::LayerNorm| -> Result<Norm> {
            Ok(Norm {
                gamma: flat(n.weight())?,
                beta: match n.bias() {
                    Some(b) => flat(b)?,
                    None => vec![0.0; h],
                },
                eps: n.eps() as f32,
            })
        };
        let mut layers = Vec::with_capacity(parts.layers.len());
        for layer in &parts.layers {
            let weight = Tensor::cat(
                &[
                    layer.query.weight(),
                    layer.key.weight(),
                    layer.value.weight(),
                ],
                0,
            )?;
            let mut bias = Vec::with_capacity(3 * h);
            for l in [layer.query, layer.key, layer.value] {
                bias.extend(match l.bias() {
                    Some(b) => flat(b)?,
                    None => vec![0.0; h],
                });
            }
            let qkv = PackedLinear::new(&flat(&weight)?, 3 * h, h, &bias, precision, kernel);
            layers.push(Layer {
                qkv,
                attention_out: linear(layer.attention_out)?,
                attention_norm: norm(layer.attention_norm)?,
                intermediate: linear(layer.intermediate)?,
                output: linear(layer.output)?,
                output_norm: norm(layer.output_norm)?,
            });
        }
        let token_type_embedding = match parts.token_type_embeddings {
            Some(table) => flat(table)?[..h].to_vec(),
            None => vec![0.0; h],
        };
        let max_positions = config.max_tokens();
        let heads = config.num_attention_heads;
        let relative_bias = match parts.relative_attention_bias {
            Some(table) => {
                let table = flat(table)?; // buckets × heads
                let width = 2 * max_positions - 1;
                let mut by_distance = vec![0f32; heads * width];
                for column in 0..width {
                    let relative = column as i64 - (max_positions as i64 - 1);
                    let bucket = super::encoder::relative_position_bucket(relative);
                    for head in 0..heads {
                        by_distance[head * width + column] = table[bucket * heads + head];
                    }
                }
                Some(by_distance)
            }
            None => None,
        };
        let offset = config.position_offset();
        Ok(InferenceEncoder {
            precision,
            hidden: h,
            heads,
            intermediate: config.intermediate_size,
            max_positions,
            vocab: config.vocab_size,
            activation: match config.hidden_act {
                HiddenAct::Gelu => Activation::GeluErf,
                HiddenAct::GeluNew => Activation::GeluTanh,
                HiddenAct::Relu => Activation::Relu,
            },
            word_embeddings: flat(parts.word_embeddings)?,
            position_embeddings: flat(parts.position_embeddings)?[offset * h..].to_vec(),
            token_type_embedding,
            embedding_norm: norm(parts.embedding_norm)?,
            relative_bias,
            layers,
            isa,
        })
    }

    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// The matrix-multiply kernel in use.
    pub fn kernel(&self) -> Kernel {
        Kernel::choose(self.precision, self.isa)
    }

    /// Pooled features, (sequences × features) row-major, for one batch run on this thread.
    ///
    /// # Errors
    /// When a sequence is empty, longer than the encoder's positions, or has a token id outside
    /// its vocabulary.
    pub fn embed(
        &self,
        sequences: &[&[u32]],
        pooling: Pooling,
        normalize: bool,
        ws: &mut Workspace,
    ) -> Result<Vec<f32>> {
        for seq in sequences {
            if seq.is_empty() || seq.len() > self.max_positions {
                return Err(Error::Encoder(format!(
                    "a sequence of {} tokens: the encoder takes 1 to {}",
                    seq.len(),
                    self.max_positions
                )));
            }
            if let Some(&id) = seq.iter().find(|&&id| id as usize >= self.vocab) {
                return Err(Error::Encoder(format!(
                    "token id {id} is outside the encoder's vocabulary of {}",
                    self.vocab
                )));
            }
        }
        self.forward(sequences, ws);
        Ok(self.pool(sequences, pooling, normalize, &ws.hidden))
    }

    /// Pooled features of every sequence, rows in input order, with `batches` (index lists,
    /// as from [`crate::batch::plan`]) run in parallel on rayon's threads.
    ///
    /// # Errors
    /// As [`Self::embed`].
    pub fn embed_batches(
        &self,
        sequences: &[&[u32]],
        batches: &[Vec<usize>],
        pooling: Pooling,
        normalize: bool,
    ) -> Result<Vec<Vec<f32>>> {
        // Longest batches first, each thread taking the next one when it is free: the threads
        // finish within about one short batch of each other.
        let tokens = |b: &Vec<usize>| b.iter().map(|&i| sequences[i].len()).sum::<usize>();
        let mut order: Vec<usize> = (0..batches.len()).collect();
        order.sort_by_key(|&b| std::cmp::Reverse(tokens(&batches[b])));
        let next = AtomicUsize::new(0);
        let done: Mutex<Vec<(usize, Result<Vec<f32>>)>> =
            Mutex::new(Vec::with_capacity(batches.len()));
        let threads = rayon::current_num_threads().min(batches.len()).max(1);
        rayon::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|_| {
                    let mut ws = Workspace::default();
                    while let Some(&b) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let seqs: Vec<&[u32]> = batches[b].iter().map(|&i| sequences[i]).collect();
                        let features = self.embed(&seqs, pooling, normalize, &mut ws);
                        done.lock()
                            .expect("no thread panics holding it")
                            .push((b, features));
                    }
                });
            }
        });
        let mut results = done.into_inner().expect("no thread panics holding it");
        results.sort_by_key(|(b, _)| *b);
        let width = pooling.features(self.hidden);
        let mut rows = vec![Vec::new(); sequences.len()];
        for (batch, (_, features)) in batches.iter().zip(results) {
            for (&i, row) in batch.iter().zip(features?.chunks_exact(width)) {
                rows[i] = row.to_vec();
            }
        }
        Ok(rows)
    }

    fn forward(&self, sequences: &[&[u32]], ws: &mut Workspace) {
        match self.isa {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `with_isa` keeps `isa` within what this CPU has.
            Isa::Avx512 => unsafe { forward_avx512(self, sequences, ws) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above.
            Isa::Avx2 => unsafe { forward_avx2(self, sequences, ws) },
            _ => forward_body(self, sequences, ws),
        }
    }

    fn pool(
        &self,
        sequences: &[&[u32]],
        pooling: Pooling,
        normalize: bool,
        hidden: &[f32],
    ) -> Vec<f32> {
        let h = self.hidden;
        let width = pooling.features(h);
        let mut out = vec![0f32; sequences.len() * width];
        let mut start = 0;
        let mut mean = vec![0f32; h];
        for (seq, row) in sequences.iter().zip(out.chunks_exact_mut(width)) {
            let tokens = &hidden[start * h..(start + seq.len()) * h];
            let cls = &tokens[..h];
            mean.iter_mut().for_each(|m| *m = 0.0);
            for token in tokens.chunks_exact(h) {
                for (m, &x) in mean.iter_mut().zip(token) {
                    *m += x;
                }
            }
            let count = seq.len() as f32;
            mean.iter_mut().for_each(|m| *m /= count);
            match pooling {
                Pooling::Mean => row.copy_from_slice(&mean),
                Pooling::Cls => row.copy_from_slice(cls),
                Pooling::MeanCls => {
                    row[..h].copy_from_slice(&mean);
                    row[h..].copy_from_slice(cls);
                }
            }
            if normalize {
                for part in row.chunks_exact_mut(h) {
                    let norm = ops::dot(part, part).sqrt().max(1e-12);
                    part.iter_mut().for_each(|x| *x /= norm);
                }
            }
            start += seq.len();
        }
        out
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")]
unsafe fn forward_avx512(engine: &InferenceEncoder, sequences: &[&[u32]], ws: &mut Workspace) {
    forward_body(engine, sequences, ws);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn forward_avx2(engine: &InferenceEncoder, sequences: &[&[u32]], ws: &mut Workspace) {
    forward_body(engine, sequences, ws);
}

fn resize(buf: &mut Vec<f32>, len: usize) {
    buf.clear();
    buf.resize(len, 0.0);
}

/// The forward pass over a ragged batch; leaves the last layer's hidden states, one row per
/// token of every sequence in order, in `ws.hidden`.
#[inline(always)]
fn forward_body(e: &InferenceEncoder, sequences: &[&[u32]], ws: &mut Workspace) {
    let h = e.hidden;
    let tokens: usize = sequences.iter().map(|s| s.len()).sum();
    resize(&mut ws.hidden, tokens * h);
    let chunks = attention_chunks(sequences);
    let widest = chunks.iter().map(|c| c.rows).max().unwrap_or(0);
    resize(&mut ws.qkv, widest * 3 * h);
    resize(&mut ws.context, tokens * h);
    resize(&mut ws.attended, tokens * h);
    resize(&mut ws.inner, tokens * e.intermediate);

    let mut row = 0;
    for seq in sequences {
        for (position, &id) in seq.iter().enumerate() {
            let out = &mut ws.hidden[row * h..(row + 1) * h];
            let word = &e.word_embeddings[id as usize * h..(id as usize + 1) * h];
            let pos = &e.position_embeddings[position * h..(position + 1) * h];
            for (((o, &w), &p), &t) in out
                .iter_mut()
                .zip(word)
                .zip(pos)
                .zip(&e.token_type_embedding)
            {
                *o = w + t + p;
            }
            row += 1;
        }
    }
    let norm = &e.embedding_norm;
    ops::layer_norm_rows(&mut ws.hidden, h, &norm.gamma, &norm.beta, norm.eps);

    for layer in &e.layers {
        // Query, key and value for a few sequences at a time, attended to while they are still
        // in L2: the whole batch's would not fit, and attention reads them in a scattered order.
        for chunk in &chunks {
            let rows = &ws.hidden[chunk.first_row * h..(chunk.first_row + chunk.rows) * h];
            gemm::linear(
                rows,
                chunk.rows,
                &layer.qkv,
                &mut ws.qkv,
                Epilogue::Bias,
                &mut ws.scratch,
            );
            attention(e, &sequences[chunk.sequences.clone()], chunk.first_row, ws);
        }
        gemm::linear(
            &ws.context,
            tokens,
            &layer.attention_out,
            &mut ws.attended,
            Epilogue::AddResidual(&ws.hidden),
            &mut ws.scratch,
        );
        let norm = &layer.attention_norm;
        ops::layer_norm_rows(&mut ws.attended, h, &norm.gamma, &norm.beta, norm.eps);
        gemm::linear(
            &ws.attended,
            tokens,
            &layer.intermediate,
            &mut ws.inner,
            Epilogue::Activate(e.activation),
            &mut ws.scratch,
        );
        gemm::linear(
            &ws.inner,
            tokens,
            &layer.output,
            &mut ws.hidden,
            Epilogue::AddResidual(&ws.attended),
            &mut ws.scratch,
        );
        let norm = &layer.output_norm;
        ops::layer_norm_rows(&mut ws.hidden, h, &norm.gamma, &norm.beta, norm.eps);
    }
}

/// Scaled dot-product attention of each sequence with itself, head by head, from `ws.qkv` into
/// `ws.context`. Sums run in registers over fixed-size blocks of [`ops::LANES`] values, several
/// independent sums at a time, so no loop waits on the one before.
#[inline(always)]
fn attention(e: &InferenceEncoder, sequences: &[&[u32]], first_row: usize, ws: &mut Workspace) {
    const L: usize = ops::LANES;
    let h = e.hidden;
    let d = h / e.heads;
    let stride = 3 * h;
    let scale = 1.0 / (d as f32).sqrt();
    let mut start = 0;
    for seq in sequences {
        let len = seq.len();
        // Keys transposed (d × padded): a query's scores for L keys are d multiply-adds of
        // L-wide rows. The padding columns are zero and their scores are never read.
        let padded = len.div_ceil(L) * L;
        let block = &ws.qkv[start * stride..(start + len) * stride];
        resize(&mut ws.keys_t, d * padded);
        resize(&mut ws.scores, QUERY_BLOCK * padded);
        for head in 0..e.heads {
            let (q_at, k_at, v_at) = (head * d, h + head * d, 2 * h + head * d);
            for j in 0..len {
                for c in 0..d {
                    ws.keys_t[c * padded + j] = block[j * stride + k_at + c];
                }
            }
            let mut i = 0;
            while i < len {
                let queries = QUERY_BLOCK.min(len - i);
                let query = |q: usize| &block[(i + q) * stride + q_at..(i + q) * stride + q_at + d];
                if queries == QUERY_BLOCK {
                    let rows: [&[f32]; QUERY_BLOCK] = std::array::from_fn(query);
                    scores_block(&rows, &ws.keys_t, padded, scale, &mut ws.scores);
                } else {
                    for q in 0..queries {
                        let rows = [query(q)];
                        scores_block(
                            &rows,
                            &ws.keys_t,
                            padded,
                            scale,
                            &mut ws.scores[q * padded..],
                        );
                    }
                }
                for q in 0..queries {
                    let probs = &mut ws.scores[q * padded..q * padded + len];
                    if let Some(bias) = &e.relative_bias {
                        // Keys 0..len of query i + q: distances -(i + q) .. len - (i + q).
                        let width = 2 * e.max_positions - 1;
                        let first = head * width + e.max_positions - 1 - (i + q);
                        for (s, &b) in probs.iter_mut().zip(&bias[first..first + len]) {
                            *s += b;
                        }
                    }
                    ops::softmax(probs);
                }
                let at = |q: usize| (first_row + start + i + q) * h + head * d;
                let probs = |q: usize| &ws.scores[q * padded..q * padded + len];
                if !d.is_multiple_of(L) {
                    for q in 0..queries {
                        let out = &mut ws.context[at(q)..at(q) + d];
                        context_any(probs(q), block, stride, v_at, out);
                    }
                } else if queries == QUERY_BLOCK {
                    let rows: [&[f32]; QUERY_BLOCK] = std::array::from_fn(probs);
                    let ats: [usize; QUERY_BLOCK] = std::array::from_fn(at);
                    context_block(&rows, block, (stride, v_at, d), &ats, &mut ws.context);
                } else {
                    for q in 0..queries {
                        context_block(
                            &[probs(q)],
                            block,
                            (stride, v_at, d),
                            &[at(q)],
                            &mut ws.context,
                        );
                    }
                }
                i += queries;
            }
        }
        start += len;
    }
}

/// Consecutive sequences whose query, key and value rows are computed together.
struct Chunk {
    sequences: std::ops::Range<usize>,
    first_row: usize,
    rows: usize,
}

/// Rows per chunk to reach before closing it: enough that the matrix product wastes little on
/// its last, partial row panel; few enough (`× 3 × hidden × 4` bytes) to stay in L2.
const CHUNK_ROWS: usize = 128;

fn attention_chunks(sequences: &[&[u32]]) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    let (mut first_seq, mut first_row, mut rows) = (0, 0, 0);
    for (i, seq) in sequences.iter().enumerate() {
        rows += seq.len();
        if rows >= CHUNK_ROWS || i + 1 == sequences.len() {
            chunks.push(Chunk {
                sequences: first_seq..i + 1,
                first_row,
                rows,
            });
            first_seq = i + 1;
            first_row += rows;
            rows = 0;
        }
    }
    chunks
}

/// Queries whose scores are computed together, sharing each load of the keys.
const QUERY_BLOCK: usize = 4;

/// `scores[q * padded + j] = scale * rows[q] · key j` for every key, [`ops::LANES`] keys at a
/// time.
#[inline(always)]
fn scores_block<const Q: usize>(
    rows: &[&[f32]; Q],
    keys_t: &[f32],
    padded: usize,
    scale: f32,
    scores: &mut [f32],
) {
    const L: usize = ops::LANES;
    let d = rows[0].len();
    for j in (0..padded).step_by(L) {
        let mut acc = [[0f32; L]; Q];
        for c in 0..d {
            let keys: &[f32; L] = keys_t[c * padded + j..c * padded + j + L]
                .try_into()
                .expect("L keys");
            for (sums, row) in acc.iter_mut().zip(rows) {
                let x = row[c];
                for (s, &k) in sums.iter_mut().zip(keys) {
                    *s = x.mul_add(k, *s);
                }
            }
        }
        for (q, sums) in acc.iter().enumerate() {
            for (out, &s) in scores[q * padded + j..q * padded + j + L]
                .iter_mut()
                .zip(sums)
            {
                *out = s * scale;
            }
        }
    }
}

/// `context[at[q]..at[q] + d] = Σ_j rows[q][j] · value j` for `Q` queries at once, for a
/// head width `d` that is a multiple of [`ops::LANES`]: [`ops::LANES`] outputs at a time, each
/// value loaded once for every query, as [`scores_block`] does with the keys. `value` is
/// (`stride`, offset of the head's values in a row, `d`).
#[inline(always)]
fn context_block<const Q: usize>(
    rows: &[&[f32]; Q],
    block: &[f32],
    (stride, v_at, d): (usize, usize, usize),
    at: &[usize; Q],
    context: &mut [f32],
) {
    const L: usize = ops::LANES;
    let len = rows[0].len();
    for c in (0..d).step_by(L) {
        let mut acc = [[0f32; L]; Q];
        for j in 0..len {
            let from = j * stride + v_at + c;
            let values: &[f32; L] = block[from..from + L].try_into().expect("L values");
            for (sums, row) in acc.iter_mut().zip(rows) {
                let p = row[j];
                for (s, &v) in sums.iter_mut().zip(values) {
                    *s = p.mul_add(v, *s);
                }
            }
        }
        for (sums, &first) in acc.iter().zip(at) {
            context[first + c..first + c + L].copy_from_slice(sums);
        }
    }
}

/// As [`context_block`], for one query and any head width.
#[inline(always)]
fn context_any(probs: &[f32], block: &[f32], stride: usize, v_at: usize, out: &mut [f32]) {
    out.iter_mut().for_each(|x| *x = 0.0);
    let d = out.len();
    for (j, &p) in probs.iter().enumerate() {
        ops::axpy(out, p, &block[j * stride + v_at..j * stride + v_at + d]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::encoder::{Config, DTYPE, Pass};
    use candle_core::Device;
    use candle_nn::{VarBuilder, VarMap};

    /// A random encoder; `heads` of 4 gives heads 12 wide (the generic attention path), 2
    /// 3 heads 16 wide and 1 a head 48 wide (the blocked paths).
    fn tiny(act: HiddenAct) -> Encoder {
        tiny_with_heads(act, 4)
    }

    fn tiny_with_heads(act: HiddenAct, heads: usize) -> Encoder {
        let config = Config {
            vocab_size: 50,
            hidden_size: 48,
            num_hidden_layers: 2,
            num_attention_heads: heads,
            intermediate_size: 96,
            hidden_act: act,
            max_position_embeddings: 40,
            type_vocab_size: 2,
            layer_norm_eps: 1e-12,
            model_type: None,
            relative_attention_num_buckets: None,
        };
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DTYPE, &Device::Cpu);
        Encoder::load(vb, &config).unwrap()
    }

    fn sequences() -> Vec<Vec<u32>> {
        let mut rng = crate::rng::SplitMix::new(3);
        [1usize, 5, 17, 33, 2, 40]
            .iter()
            .map(|&len| (0..len).map(|_| (rng.next_u64() % 50) as u32).collect())
            .collect()
    }

    /// candle's encoder on a padded batch, pooled the same way.
    fn candle_features(encoder: &Encoder, seqs: &[&[u32]], pooling: Pooling) -> Vec<Vec<f32>> {
        let (ids, mask) = crate::model::batch_tensors(seqs, 0, &Device::Cpu).unwrap();
        let hidden = encoder.forward(&ids, &mask, Pass::Inference).unwrap();
        crate::model::pooling::pool(&hidden, &mask, pooling, true)
            .unwrap()
            .to_vec2()
            .unwrap()
    }

    #[test]
    fn matches_the_candle_encoder_on_a_padded_batch() {
        for (act, heads) in [
            (HiddenAct::Gelu, 4),
            (HiddenAct::GeluNew, 3),
            (HiddenAct::Relu, 1),
        ] {
            let encoder = tiny_with_heads(act, heads);
            let owned = sequences();
            let seqs: Vec<&[u32]> = owned.iter().map(Vec::as_slice).collect();
            let want = candle_features(&encoder, &seqs, Pooling::MeanCls);
            let engine = InferenceEncoder::new(&encoder, Precision::F32).unwrap();
            let got = engine
                .embed(&seqs, Pooling::MeanCls, true, &mut Workspace::default())
                .unwrap();
            for (row, want) in got.chunks_exact(96).zip(&want) {
                for (g, w) in row.iter().zip(want) {
                    assert!((g - w).abs() < 1e-5, "{act:?}: {g} vs {w}");
                }
            }
        }
    }

    /// Every instruction set this CPU has computes the same sums in the same order: f32 gives
    /// identical bits whichever runs (so does emulated bf16 against itself, and int8, whose
    /// integer sums are exact, on its VNNI and portable kernels).
    #[test]
    fn every_instruction_set_gives_the_same_bits() {
        let encoder = tiny_with_heads(HiddenAct::Gelu, 3);
        let owned = sequences();
        let seqs: Vec<&[u32]> = owned.iter().map(Vec::as_slice).collect();
        let plan = [vec![0, 1, 2, 3, 4, 5]];
        let run = |precision, isa| {
            InferenceEncoder::with_isa(&encoder, precision, isa)
                .unwrap()
                .embed_batches(&seqs, &plan, Pooling::MeanCls, true)
                .unwrap()
        };
        let isas: Vec<Isa> = [Isa::Portable, Isa::Avx2, Isa::Avx512]
            .into_iter()
            .filter(|&isa| isa <= Isa::cpu())
            .collect();
        let reference = run(Precision::F32, Isa::Portable);
        for &isa in &isas {
            assert_eq!(run(Precision::F32, isa), reference, "{isa:?}");
        }
        let emulated = run(Precision::Bf16, Isa::Portable);
        if isas.contains(&Isa::Avx2) {
            assert_eq!(run(Precision::Bf16, Isa::Avx2), emulated);
        }
        let int8 = run(Precision::Int8, Isa::Portable);
        for &isa in &isas {
            assert_eq!(run(Precision::Int8, isa), int8, "int8 {isa:?}");
        }
    }

    #[test]
    fn a_sequence_gives_the_same_bits_alone_or_in_any_batch() {
        let encoder = tiny(HiddenAct::Gelu);
        let owned = sequences();
        let seqs: Vec<&[u32]> = owned.iter().map(Vec::as_slice).collect();
        for precision in [Precision::F32, Precision::Bf16, Precision::Int8] {
            let engine = InferenceEncoder::new(&encoder, precision).unwrap();
            let together = engine
                .embed_batches(&seqs, &[vec![0, 1, 2, 3, 4, 5]], Pooling::Mean, true)
                .unwrap();
            let split = engine
                .embed_batches(
                    &seqs,
                    &[vec![5, 2], vec![0], vec![4, 3, 1]],
                    Pooling::Mean,
                    true,
                )
                .unwrap();
            assert_eq!(together, split);
        }
    }

    #[test]
    fn bf16_and_int8_stay_close_to_f32() {
        let encoder = tiny(HiddenAct::Gelu);
        let owned = sequences();
        let seqs: Vec<&[u32]> = owned.iter().map(Vec::as_slice).collect();
        let plan = [vec![0, 1, 2, 3, 4, 5]];
        let embed = |precision| {
            InferenceEncoder::new(&encoder, precision)
                .unwrap()
                .embed_batches(&seqs, &plan, Pooling::Mean, true)
                .unwrap()
        };
        let f32s = embed(Precision::F32);
        for precision in [Precision::Bf16, Precision::Int8] {
            for (a, b) in f32s.iter().zip(&embed(precision)) {
                let cosine = ops::dot(a, b) / (ops::dot(a, a) * ops::dot(b, b)).sqrt();
                assert!(cosine > 0.99, "{precision:?}: cosine {cosine}");
                assert!(a != b, "{precision:?} should round something");
            }
        }
    }

    #[test]
    fn out_of_range_tokens_and_lengths_are_errors() {
        let engine = InferenceEncoder::new(&tiny(HiddenAct::Gelu), Precision::F32).unwrap();
        let mut ws = Workspace::default();
        let too_long = [1u32; 41];
        for bad in [&[][..], &[1, 50][..], &too_long[..]] {
            assert!(engine.embed(&[bad], Pooling::Mean, true, &mut ws).is_err());
        }
    }

    /// A random MPNet: positions from 2, relative position bias, no token types.
    fn tiny_mpnet(heads: usize) -> Encoder {
        let config = Config {
            vocab_size: 50,
            hidden_size: 48,
            num_hidden_layers: 2,
            num_attention_heads: heads,
            intermediate_size: 96,
            hidden_act: HiddenAct::Gelu,
            max_position_embeddings: 42,
            type_vocab_size: 1,
            layer_norm_eps: 1e-5,
            model_type: Some("mpnet".into()),
            relative_attention_num_buckets: Some(32),
        };
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DTYPE, &Device::Cpu);
        let encoder = Encoder::load(vb, &config).unwrap();
        // VarMap initialises embedding tables with small values; give the bias table the
        // spread a trained one has (several units), so a wrong bucket or sign shows.
        let data = varmap.data().lock().unwrap();
        let table = data.get("encoder.relative_attention_bias.weight").unwrap();
        table.set(&(table.as_tensor() * 20.0).unwrap()).unwrap();
        drop(data);
        encoder
    }

    #[test]
    fn mpnet_matches_the_candle_encoder_on_a_padded_batch() {
        for heads in [4, 3, 1] {
            let encoder = tiny_mpnet(heads);
            let owned = sequences();
            let seqs: Vec<&[u32]> = owned.iter().map(Vec::as_slice).collect();
            let want = candle_features(&encoder, &seqs, Pooling::MeanCls);
            let engine = InferenceEncoder::new(&encoder, Precision::F32).unwrap();
            let got = engine
                .embed(&seqs, Pooling::MeanCls, true, &mut Workspace::default())
                .unwrap();
            let mut worst = 0f32;
            for (row, want) in got.chunks_exact(96).zip(&want) {
                for (g, w) in row.iter().zip(want) {
                    worst = worst.max((g - w).abs());
                }
            }
            assert!(worst < 1e-5, "{heads} heads: max difference {worst}");
            // 40 tokens fill the 42 rows after MPNet's offset of 2; 41 do not fit.
            assert!(
                engine
                    .embed(
                        &[&[1u32; 41]],
                        Pooling::Mean,
                        true,
                        &mut Workspace::default()
                    )
                    .is_err()
            );
        }
    }
}
