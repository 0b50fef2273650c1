//! `--mode finetune`: the encoder's weights (all, or those above `--freeze-layers`) and the
//! head are trained together.
//!
//! The head starts from the linear head fitted on frozen features (linear probing, then
//! fine-tuning: Kumar et al. 2022, <https://arxiv.org/abs/2202.10054>), so the encoder is not
//! pulled about by a random head in the first steps; with `train --init` it starts from a
//! fine-tuned model's encoder and head instead. AdamW with linear warm-up and decay,
//! global gradient-norm clipping, dropout in the encoder, class-weighted binary cross-entropy,
//! early stopping on dev macro-F1 after each epoch, thresholds per code on dev. Batches group
//! utterances of similar length to waste little compute on padding. Checkpoints
//! ([`super::checkpoint`]) are written at the end of each epoch and every
//! [`CHECKPOINT_SECONDS`] within one.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};

use super::checkpoint::{self, State};
use super::head::{FittedHead, Snapshot, restore, snapshot};
use super::optim::{AdamW, scheduled_lr};
use super::{Batches, FinetuneSettings, calibrate, dev_macro_f1, weighted_bce};
use crate::error::{Error, Result};
use crate::metrics::classification::Report;
use crate::model::dropout::Dropout;
use crate::model::{Head, LoadedEncoder, Pass, Pooling, load_encoder_trainable};
use crate::rng::SplitMix;

/// Seconds between checkpoints within an epoch.
pub const CHECKPOINT_SECONDS: u64 = 60;
/// Utterances per batch when scoring dev.
const DEV_BATCH_SIZE: usize = 32;

/// What fine-tuning trains on.
pub struct FinetuneData<'a> {
    pub train_texts: &'a [&'a str],
    pub train_y: &'a Tensor,
    pub dev_texts: &'a [&'a str],
    pub dev_truth: &'a [Vec<bool>],
    pub code_names: &'a [String],
    pub pos_weight: &'a Tensor,
}

/// The fine-tuned encoder and head.
pub struct Finetuned {
    /// Every encoder weight by name (trained and frozen), at the best epoch.
    pub encoder_tensors: Vec<(String, Tensor)>,
    pub head_vars: VarMap,
    pub best_epoch: usize,
    /// Per-code Platt scaling fitted on dev.
    pub platt: Vec<calibrate::Platt>,
    /// Per-code thresholds on the calibrated scores.
    pub thresholds: Vec<f32>,
    pub dev: Report,
    pub steps: usize,
    pub seconds_per_step: f64,
}

/// Whether a variable gets weight decay: not biases, layer norms or embedding tables (decay
/// would shrink the rows of tokens the training data never uses).
fn decays(name: &str) -> bool {
    !(name.ends_with(".bias") || name.contains("LayerNorm") || name.starts_with("embeddings."))
}

/// Whether `--freeze-layers N` keeps an encoder weight at its starting value: the embeddings,
/// the lowest N transformer layers and, in MPNet, the relative position bias that every layer
/// shares (training it would change the frozen layers too); nothing when N is 0.
fn frozen(name: &str, freeze_layers: usize) -> bool {
    if freeze_layers == 0 {
        return false;
    }
    if name.starts_with("embeddings.") || name.contains("relative_attention_bias") {
        return true;
    }
    name.strip_prefix("encoder.layer.")
        .and_then(|rest| rest.split('.').next())
        .and_then(|i| i.parse::<usize>().ok())
        .is_some_and(|i| i < freeze_layers)
}

fn named_vars(varmap: &VarMap) -> Vec<(String, Var)> {
    varmap
        .data()
        .lock()
        .expect("varmap lock")
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn scores(
    encoder: &LoadedEncoder,
    head: &Head,
    ids: &[Vec<u32>],
    pooling: Pooling,
) -> Result<Vec<Vec<f32>>> {
    let features = encoder.embed_ids(ids, pooling, true, DEV_BATCH_SIZE)?;
    Ok(head.probabilities(&features)?)
}

/// Where checkpoints go and whether to continue from one.
pub struct Checkpointing<'a> {
    /// The output directory; the checkpoint lives in its [`checkpoint::CHECKPOINT_DIR`].
    pub out: &'a Path,
    pub resume: bool,
    /// Identifies the data and settings; a checkpoint with another is refused.
    pub fingerprint: &'a str,
}

/// Where fine-tuning starts: the head's pooling and weights and, when continuing a fine-tuned
/// model, its encoder delta.
pub struct Start<'a> {
    pub pooling: Pooling,
    pub head: Snapshot,
    pub encoder_delta: Option<&'a Path>,
}

impl Start<'_> {
    /// Starts from a linear head fitted on frozen features of the pre-trained encoder.
    ///
    /// # Errors
    /// On tensor failures.
    pub fn probe(fitted: &FittedHead) -> Result<Self> {
        Ok(Start {
            pooling: fitted.spec.pooling,
            head: snapshot(&fitted.varmap)?,
            encoder_delta: None,
        })
    }
}

/// Fine-tunes the encoder in `encoder_dir` with a head that starts as `start`.
///
/// # Errors
/// On encoder, tensor or checkpoint failures, or a checkpoint from another run when resuming.
pub fn run(
    encoder_dir: &Path,
    max_tokens: usize,
    start: &Start,
    data: &FinetuneData,
    settings: &FinetuneSettings,
    seed: u64,
    checkpointing: &Checkpointing,
) -> Result<Finetuned> {
    let Checkpointing {
        out,
        resume,
        fingerprint,
    } = *checkpointing;
    let device = Device::Cpu;
    let pooling = start.pooling;
    let trainable =
        load_encoder_trainable(encoder_dir, start.encoder_delta, max_tokens, &|name| {
            frozen(name, settings.freeze_layers)
        })?;
    let encoder = &trainable.encoder;
    let head_vars = VarMap::new();
    let features = pooling.features(encoder.encoder.config().hidden_size);
    let head = Head::load(
        VarBuilder::from_varmap(&head_vars, DType::F32, &device),
        features,
        None,
        data.code_names.len(),
    )?;
    restore(&head_vars, &start.head)?;

    let train_ids = encoder.token_ids(data.train_texts)?;
    let dev_ids = encoder.token_ids(data.dev_texts)?;
    let lengths: Vec<usize> = train_ids.iter().map(Vec::len).collect();
    // frozen weights are not variables at all (see `load_encoder_trainable`)
    let mut vars = named_vars(&trainable.vars);
    vars.extend(named_vars(&head_vars));
    let all_vars: HashMap<String, Var> = vars.iter().cloned().collect();
    let mut optimizer = AdamW::new(vars, settings.weight_decay, decays)?;
    let steps_per_epoch = train_ids.len().div_ceil(settings.batch_size.max(1));
    let total_steps = steps_per_epoch * settings.epochs;
    let warmup = (total_steps as f64 * settings.warmup_fraction).round() as usize;
    let dropout = Dropout::new(settings.dropout, SplitMix::derive(seed, 3));
    let mut batches = Batches::new(
        train_ids.len(),
        settings.batch_size,
        SplitMix::derive(seed, 4),
    );

    let mut state = State {
        fingerprint: fingerprint.to_string(),
        epoch: 1,
        batches_done: 0,
        batches: Vec::new(),
        global_step: 0,
        shuffle_rng: batches.rng(),
        dropout_rng: dropout.state(),
        best_f1: f64::MIN,
        best_epoch: 0,
        history: Vec::new(),
        stopped: false,
        tensors_file: String::new(),
    };
    let mut best_weights: Snapshot = Vec::new();
    if resume {
        if let Some((saved, tensors)) = checkpoint::load(out)? {
            if saved.fingerprint != fingerprint {
                return Err(Error::Data {
                    path: checkpoint::dir(out),
                    reason: "the checkpoint was made with other data or settings; rerun with the same ones, or without --resume to start afresh".into(),
                });
            }
            for (name, var) in &all_vars {
                let t = tensors
                    .get(&format!("var.{name}"))
                    .ok_or_else(|| Error::Data {
                        path: checkpoint::dir(out),
                        reason: format!("checkpoint lacks {name}"),
                    })?;
                var.set(t)?;
            }
            optimizer.restore(&tensors, saved.global_step)?;
            best_weights = tensors
                .iter()
                .filter_map(|(k, t)| k.strip_prefix("best.").map(|n| (n.to_string(), t.clone())))
                .collect();
            batches.set_rng(saved.shuffle_rng);
            dropout.set_state(saved.dropout_rng);
            tracing::info!(
                epoch = saved.epoch,
                step = saved.global_step,
                "resuming fine-tuning from the checkpoint"
            );
            state = saved;
        }
    } else if checkpoint::dir(out).exists() {
        tracing::info!(
            "starting afresh: removing the checkpoint of an earlier run (pass --resume to continue it)"
        );
        checkpoint::remove(out);
    }

    let save = |state: &mut State, best: &[(String, Tensor)], optimizer: &AdamW| -> Result<()> {
        let mut tensors = optimizer.state();
        for (name, var) in &all_vars {
            tensors.insert(format!("var.{name}"), var.as_tensor().clone());
        }
        for (name, t) in best {
            tensors.insert(format!("best.{name}"), t.clone());
        }
        state.tensors_file = format!("tensors-{}.safetensors", state.global_step);
        checkpoint::save(out, state, &tensors)
    };

    let progress = crate::telemetry::train_progress(total_steps as u64);
    progress.set_position(state.global_step as u64);
    let started = Instant::now();
    let steps_at_start = state.global_step;
    let mut last_checkpoint = Instant::now();
    let mut smoothed_loss: Option<f64> = None;
    while state.epoch <= settings.epochs && !state.stopped {
        if state.batches_done == 0 {
            state.batches = batches.length_bucketed(&lengths);
        }
        while state.batches_done < state.batches.len() {
            let batch = &state.batches[state.batches_done];
            let seqs: Vec<&[u32]> = batch.iter().map(|&i| train_ids[i].as_slice()).collect();
            let index = Tensor::from_vec(
                batch.iter().map(|&i| i as u32).collect::<Vec<_>>(),
                batch.len(),
                &device,
            )?;
            let pass = Pass::Training(&dropout);
            let features = encoder.embed(&seqs, pooling, true, pass)?;
            let logits = head.forward_pass(&features, pass)?;
            let loss = weighted_bce(
                &logits,
                &data.train_y.index_select(&index, 0)?,
                data.pos_weight,
            )?;
            let lr = scheduled_lr(
                settings.learning_rate,
                state.global_step,
                warmup,
                total_steps,
            );
            optimizer.step(&loss.backward()?, lr, Some(settings.max_grad_norm))?;
            state.global_step += 1;
            state.batches_done += 1;
            let loss = f64::from(loss.to_scalar::<f32>()?);
            let s = smoothed_loss.map_or(loss, |s| 0.9 * s + 0.1 * loss);
            smoothed_loss = Some(s);
            progress.set_position(state.global_step as u64);
            progress.set_message(format!(
                "epoch {}/{} loss {s:.4} dev F1 {}",
                state.epoch,
                settings.epochs,
                state
                    .history
                    .last()
                    .map_or("-".into(), |f| format!("{f:.3}"))
            ));
            if last_checkpoint.elapsed().as_secs() >= CHECKPOINT_SECONDS {
                state.shuffle_rng = batches.rng();
                state.dropout_rng = dropout.state();
                save(&mut state, &best_weights, &optimizer)?;
                last_checkpoint = Instant::now();
            }
        }
        let dev_scores = scores(encoder, &head, &dev_ids, pooling)?;
        let f1 = dev_macro_f1(&dev_scores, data.dev_truth, data.code_names);
        state.history.push(f1);
        tracing::info!(epoch = state.epoch, dev_macro_f1 = f1, "epoch done");
        let epoch = state.epoch;
        if f1 > state.best_f1 + 1e-9 {
            state.best_f1 = f1;
            state.best_epoch = epoch;
            best_weights = all_vars
                .iter()
                .map(|(n, v)| Ok((n.clone(), v.as_tensor().copy()?)))
                .collect::<candle_core::Result<Vec<_>>>()?;
        }
        state.epoch += 1;
        state.batches_done = 0;
        state.batches.clear();
        state.stopped = epoch - state.best_epoch >= settings.patience;
        state.shuffle_rng = batches.rng();
        state.dropout_rng = dropout.state();
        save(&mut state, &best_weights, &optimizer)?;
        last_checkpoint = Instant::now();
        if state.stopped {
            tracing::info!(
                epoch,
                "early stop: dev macro-F1 has not improved for {} epochs",
                settings.patience
            );
            break;
        }
    }
    crate::telemetry::finish_progress(&progress);
    let steps_here = state.global_step - steps_at_start;
    let seconds_per_step = started.elapsed().as_secs_f64() / steps_here.max(1) as f64;
    for (name, t) in &best_weights {
        all_vars[name].set(t)?;
    }
    let dev_scores = scores(encoder, &head, &dev_ids, pooling)?;
    let calibrated = calibrate::fit(&dev_scores, data.dev_truth, data.code_names);
    Ok(Finetuned {
        encoder_tensors: trainable.tensors(),
        head_vars,
        best_epoch: state.best_epoch,
        platt: calibrated.platt,
        thresholds: calibrated.thresholds,
        dev: calibrated.report,
        steps: state.global_step,
        seconds_per_step,
    })
}

#[cfg(test)]
mod tests {
    use super::frozen;

    #[test]
    fn freeze_layers_keeps_embeddings_and_the_lowest_layers() {
        assert!(!frozen("embeddings.word_embeddings.weight", 0));
        assert!(frozen("embeddings.word_embeddings.weight", 2));
        assert!(frozen("encoder.layer.1.attention.self.query.weight", 2));
        assert!(!frozen("encoder.layer.2.attention.self.query.weight", 2));
        assert!(!frozen("encoder.layer.11.output.dense.bias", 2));
        assert!(!frozen("head.weight", 6));
    }
}
