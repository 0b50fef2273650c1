//! `discotag train`: fits a model for a codebook from labelled utterances.
//!
//! - [`head`]: `--mode head`, heads on frozen-encoder features ([`features`], cached on disk);
//!   linear and MLP heads on mean or mean+[CLS] pooling, the best on dev kept.
//! - [`finetune`]: `--mode finetune`, every encoder weight, starting from the best linear head;
//!   optimiser in [`optim`], resumable through [`checkpoint`].
//! - [`curve`]: learning curves on cached features (`discotag curve`, and the model card's).
//! - [`split`]: the stratified dev split when no dev file is given; [`calibrate`]: per-code
//!   thresholds on dev.
//!
//! The same data and seed give the same weights. A test file, if given, is scored once at the
//! end through the saved model directory, exactly as `discotag eval` scores it, and is never
//! used for a choice.

pub mod calibrate;
pub mod checkpoint;
pub mod curve;
pub mod features;
pub mod finetune;
pub mod head;
pub mod optim;
pub mod split;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{Device, Tensor};
use sha2::{Digest, Sha256};

use crate::codebook::Codebook;
use crate::error::{Error, Result};
use crate::labelled::{self, Labelled};
use crate::metrics::classification::{self, Report};
use crate::model::card::ModelCard;
use crate::model::head::over_thresholds;
use crate::model::{self, Classifier, EncoderRef, HeadConfig, LoadOptions, Pooling};
use crate::rng::SplitMix;
use head::{FittedHead, HeadData, HeadSpec};

/// What is trained (`--mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Frozen encoder, trained head (fast; the default).
    Head,
    /// Fine-tune every encoder weight together with the head (slow on CPU).
    Finetune,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Head => "head",
            Mode::Finetune => "finetune",
        }
    }
}

/// Settings of head training (`--mode head`, and the linear probe that starts fine-tuning).
#[derive(Debug, Clone)]
pub struct HeadSettings {
    /// Poolings to try; the best on dev is kept.
    pub poolings: Vec<Pooling>,
    /// MLP widths to try, `None` meaning a linear head.
    pub hiddens: Vec<Option<usize>>,
    pub epochs: usize,
    pub patience: usize,
    /// `None`: 0.01 for a linear head, 0.001 for an MLP.
    pub learning_rate: Option<f64>,
    pub weight_decay: f64,
    pub batch_size: usize,
    /// MLP dropout.
    pub dropout: f32,
}

/// Settings of `--mode finetune`.
#[derive(Debug, Clone)]
pub struct FinetuneSettings {
    pub epochs: usize,
    pub patience: usize,
    pub learning_rate: f64,
    pub weight_decay: f64,
    pub batch_size: usize,
    pub warmup_fraction: f64,
    pub max_grad_norm: f64,
    pub dropout: f32,
    /// Keep the embeddings and this many of the lowest layers at their pre-trained weights.
    pub freeze_layers: usize,
}

/// Training settings.
#[derive(Debug, Clone)]
pub struct TrainConfig {
    /// The codebook; `None` takes it from the codes of the `data` project.
    pub codebook: Option<PathBuf>,
    /// Labelled utterances (JSONL) or a coded REFI-QDA project.
    pub data: PathBuf,
    /// An explicit dev file; otherwise a stratified share of `data`.
    pub dev: Option<PathBuf>,
    /// Held-out test data sets, each scored once for the model card.
    pub test: Vec<PathBuf>,
    pub out: PathBuf,
    pub encoder: EncoderRef,
    pub offline: bool,
    pub max_tokens: usize,
    pub dev_fraction: f64,
    pub seed: u64,
    pub mode: Mode,
    pub head: HeadSettings,
    pub finetune: FinetuneSettings,
    /// Continue an interrupted fine-tuning run from its checkpoint.
    pub resume: bool,
    /// Fine-tune from this fine-tuned model (its encoder delta and head) instead of from the
    /// pre-trained encoder and a linear probe.
    pub init: Option<PathBuf>,
    /// How REFI-QDA projects among the inputs become labelled segments.
    pub project: labelled::ProjectOptions,
    /// Repeats of the model card's learning curve (0: none).
    pub curve_repeats: usize,
    /// A sentence on what the data is and how it was made, for the model card.
    pub data_description: Option<String>,
    /// The command line that trained the model, for the model card.
    pub command: String,
}

/// One head candidate's dev result, for the model card.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub description: String,
    pub best_epoch: usize,
    pub dev_macro_f1: f64,
}

/// How the saved model scores one held-out test file.
#[derive(Debug, Clone)]
pub struct TestScores {
    pub path: PathBuf,
    pub fp32: Report,
    /// Reliability of the calibrated scores (bins pooled over codes) and the expected
    /// calibration error.
    pub reliability: Reliability,
    /// The same data scored in bf16 and int8, against fp32.
    pub precisions: Vec<model::precision::Check>,
}

impl TrainSummary {
    /// The bf16 and int8 checks of the dev file and every test file, as `precisions.json`
    /// keeps them.
    pub fn precision_checks(&self) -> model::precision::Checks {
        model::precision::Checks {
            max_macro_f1_loss: model::precision::MAX_MACRO_F1_LOSS,
            checks: self
                .dev_precisions
                .iter()
                .cloned()
                .chain(self.tests.iter().flat_map(|t| t.precisions.clone()))
                .collect(),
        }
    }
}

/// What training produced.
#[derive(Debug, Clone)]
pub struct TrainSummary {
    pub mode: Mode,
    pub train_size: usize,
    pub dev_size: usize,
    /// The kept head, in words.
    pub head: String,
    pub best_epoch: usize,
    pub candidates: Vec<Candidate>,
    pub dev: Report,
    /// One entry per `--test` file, in the order given.
    pub tests: Vec<TestScores>,
    /// The bf16 and int8 checks of the `--dev` file, when one was given with `--test`: a
    /// precision must hold on dev as well as on test to be offered.
    pub dev_precisions: Vec<model::precision::Check>,
    pub thresholds: Vec<f32>,
    /// Per-code Platt scaling fitted on dev.
    pub platt: Vec<calibrate::Platt>,
    /// Fine-tuning only: optimiser steps and seconds per step.
    pub steps: Option<(usize, f64)>,
    /// What was read from REFI-QDA projects (coders, sources used and left out).
    pub data_notes: Vec<String>,
    /// The learning curve of the training data (head mode), when measured.
    pub curve: Option<curve::Curve>,
    pub seconds: f64,
}

impl TrainSummary {
    /// The kept architecture, in words.
    pub fn architecture(&self) -> String {
        match self.mode {
            Mode::Head => self.head.clone(),
            Mode::Finetune => format!("fine-tuned encoder with a {}", self.head),
        }
    }
}

/// Class-weighted binary cross-entropy on logits: positives of code c weigh `pos_weight[c]`.
///
/// # Errors
/// On shape mismatches.
pub fn weighted_bce(
    logits: &Tensor,
    targets: &Tensor,
    pos_weight: &Tensor,
) -> candle_core::Result<Tensor> {
    // softplus(x) = max(x, 0) + log(1 + exp(-|x|)), stable for large |x|.
    let softplus = |x: &Tensor| -> candle_core::Result<Tensor> {
        x.relu()? + x.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()?
    };
    let positive = targets
        .broadcast_mul(pos_weight)?
        .mul(&softplus(&logits.neg()?)?)?;
    let negative = targets.affine(-1.0, 1.0)?.mul(&softplus(logits)?)?;
    (positive + negative)?.mean_all()
}

/// Dev macro-F1 at threshold 0.5, the early-stopping criterion.
pub fn dev_macro_f1(scores: &[Vec<f32>], truth: &[Vec<bool>], code_names: &[String]) -> f64 {
    let half = vec![0.5f32; code_names.len()];
    let predicted: Vec<Vec<bool>> = scores.iter().map(|s| over_thresholds(s, &half)).collect();
    classification::report(code_names, truth, &predicted).macro_f1
}

/// Shuffled mini-batches of training indices from a seeded generator.
pub struct Batches {
    n: usize,
    size: usize,
    rng: SplitMix,
}

impl Batches {
    pub fn new(n: usize, size: usize, rng: SplitMix) -> Self {
        Batches {
            n,
            size: size.max(1),
            rng,
        }
    }

    pub fn rng(&self) -> SplitMix {
        self.rng
    }

    pub fn set_rng(&mut self, rng: SplitMix) {
        self.rng = rng;
    }

    /// One epoch of batches in random order.
    pub fn epoch(&mut self) -> Vec<Vec<usize>> {
        let mut order: Vec<usize> = (0..self.n).collect();
        self.rng.shuffle(&mut order);
        order.chunks(self.size).map(<[usize]>::to_vec).collect()
    }

    /// One epoch of batches of similar length: the shuffled data is cut into pools of 16
    /// batches, each pool sorted by length and cut into batches, and the batches shuffled.
    pub fn length_bucketed(&mut self, lengths: &[usize]) -> Vec<Vec<usize>> {
        let mut order: Vec<usize> = (0..self.n).collect();
        self.rng.shuffle(&mut order);
        let mut batches = Vec::new();
        for pool in order.chunks(self.size * 16) {
            let mut pool = pool.to_vec();
            pool.sort_by_key(|&i| (lengths[i], i));
            batches.extend(pool.chunks(self.size).map(<[usize]>::to_vec));
        }
        self.rng.shuffle(&mut batches);
        batches
    }
}

fn targets(rows: &[&Labelled], codes: usize) -> Result<Tensor> {
    let flat: Vec<f32> = rows
        .iter()
        .flat_map(|r| r.labels.iter().map(|&b| f32::from(u8::from(b))))
        .collect();
    Ok(Tensor::from_vec(flat, (rows.len(), codes), &Device::Cpu)?)
}

/// Positive weight per code: negatives / positives in training, clamped to 1..10.
fn positive_weights(items: &[&Labelled], codes: usize) -> Result<Tensor> {
    let weights: Vec<f32> = (0..codes)
        .map(|c| {
            let pos = items.iter().filter(|l| l.labels[c]).count() as f32;
            ((items.len() as f32 - pos) / pos.max(1.0)).clamp(1.0, 10.0)
        })
        .collect();
    Ok(Tensor::from_vec(weights, (1, codes), &Device::Cpu)?)
}

fn texts_of<'a>(items: &[&'a Labelled]) -> Vec<&'a str> {
    items.iter().map(|l| l.text.as_str()).collect()
}

/// A hash of everything that determines a training run's result.
fn fingerprint(config: &TrainConfig, train: &[&Labelled], dev: &[&Labelled]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(
        format!(
            "{:?}|{:?}|{:?}|{}|{}|{}",
            config.mode,
            config.head,
            config.finetune,
            config.max_tokens,
            config.seed,
            config.encoder.identity()
        )
        .as_bytes(),
    );
    if let Some(init) = &config.init {
        // the starting model's files, not its path: retraining it in place is another start
        for file in [model::HEAD_WEIGHTS_FILE, model::ENCODER_DELTA_FILE] {
            hasher.update(std::fs::read(init.join(file)).unwrap_or_default());
        }
    }
    for (split, items) in [("train", train), ("dev", dev)] {
        hasher.update(split.as_bytes());
        for item in items {
            hasher.update(item.id.as_bytes());
            hasher.update([0]);
            hasher.update(item.text.as_bytes());
            hasher.update([0]);
            hasher.update(item.labels.iter().map(|&b| u8::from(b)).collect::<Vec<_>>());
        }
    }
    hex::encode(hasher.finalize())
}

/// A fine-tuned model that `train --init` continues from.
struct InitModel {
    pooling: Pooling,
    head: head::Snapshot,
    delta: PathBuf,
}

impl InitModel {
    /// Reads the model in `dir` and checks that training can continue from it: fine-tuned, a
    /// linear head, the same codes in the same order and the same encoder.
    fn open(
        dir: &Path,
        encoder: &EncoderRef,
        code_names: &[String],
        poolings: &[Pooling],
    ) -> Result<Self> {
        let model = model::ModelDir::open(dir)?;
        let bad = |reason: String| Error::Model {
            path: dir.to_path_buf(),
            reason: format!("cannot continue training from this model: {reason}"),
        };
        if !model.fine_tuned {
            return Err(bad(format!(
                "it has no {} (a head-mode model); train it with --mode finetune, or leave out --init",
                model::ENCODER_DELTA_FILE
            )));
        }
        if model.head.hidden.is_some() {
            return Err(bad(
                "its head is an MLP; fine-tuning trains a linear head".into()
            ));
        }
        let theirs = model.codebook.code_names();
        if theirs != code_names {
            return Err(bad(format!(
                "its codes {theirs:?} differ from the codebook's {code_names:?}"
            )));
        }
        if model.encoder.identity() != encoder.identity() {
            return Err(bad(format!(
                "its encoder is {}, not {}; leave out --encoder to use the model's",
                model.encoder.identity(),
                encoder.identity()
            )));
        }
        if let [asked] = poolings
            && *asked != model.head.pooling
        {
            return Err(bad(format!(
                "its head reads {:?} pooling, not the {asked:?} that --pooling asks for; drop --pooling",
                model.head.pooling
            )));
        }
        let head_path = dir.join(model::HEAD_WEIGHTS_FILE);
        let head = candle_core::safetensors::load(&head_path, &Device::Cpu)?
            .into_iter()
            .collect();
        Ok(InitModel {
            pooling: model.head.pooling,
            head,
            delta: dir.join(model::ENCODER_DELTA_FILE),
        })
    }

    fn start(&self) -> finetune::Start<'_> {
        finetune::Start {
            pooling: self.pooling,
            head: self.head.clone(),
            encoder_delta: Some(&self.delta),
        }
    }
}

/// What training produced, whichever the mode.
struct Trained {
    spec: HeadSpec,
    best_epoch: usize,
    dev: Report,
    thresholds: Vec<f32>,
    platt: Vec<calibrate::Platt>,
    steps: Option<(usize, f64)>,
}

/// Targets of the head candidates, beside their features.
struct HeadTargets<'a> {
    train_y: &'a Tensor,
    dev_truth: &'a [Vec<bool>],
    code_names: &'a [String],
    pos_weight: &'a Tensor,
}

/// Fits every head candidate of the mode on frozen features: each pooling and hidden width
/// in head mode, a linear probe on each pooling to start fine-tuning from.
fn fit_heads(
    config: &TrainConfig,
    train_features: &features::Features,
    dev_features: &features::Features,
    targets: &HeadTargets,
) -> Result<(Vec<FittedHead>, Vec<Candidate>)> {
    let hiddens = match config.mode {
        Mode::Head => config.head.hiddens.clone(),
        Mode::Finetune => vec![None],
    };
    let mut fitted = Vec::new();
    let mut candidates = Vec::new();
    for &pooling in &config.head.poolings {
        for &hidden in &hiddens {
            let spec = HeadSpec { pooling, hidden };
            let train_x = train_features.matrix(pooling)?;
            let dev_x = dev_features.matrix(pooling)?;
            let head_data = HeadData {
                train_x: &train_x,
                train_y: targets.train_y,
                dev_x: &dev_x,
                dev_truth: targets.dev_truth,
                code_names: targets.code_names,
                pos_weight: targets.pos_weight,
            };
            let fit = head::fit(spec, &head_data, &config.head, config.seed)?;
            tracing::info!(
                head = %spec.describe(),
                best_epoch = fit.best_epoch,
                dev_macro_f1 = fit.dev.macro_f1,
                "head candidate trained"
            );
            candidates.push(Candidate {
                description: spec.describe(),
                best_epoch: fit.best_epoch,
                dev_macro_f1: fit.dev.macro_f1,
            });
            fitted.push(fit);
        }
    }
    Ok((fitted, candidates))
}

/// Trains a model and writes a model directory.
///
/// # Errors
/// On unreadable or invalid data (unknown codes, a code without positive examples), a
/// missing encoder, a checkpoint from another run, or write failures.
pub fn run(config: &TrainConfig) -> Result<TrainSummary> {
    let started = Instant::now();
    if config.init.is_some() && config.mode != Mode::Finetune {
        return Err(Error::Usage(
            "--init continues fine-tuning a model; add --mode finetune".into(),
        ));
    }
    let codebook = training_codebook(config.codebook.as_deref(), &config.data)?;
    check_replaceable(&config.out)?;
    // a project's window segments are cut by the encoder's tokenizer, so it is needed first
    let projects = std::iter::once(&config.data)
        .chain(&config.dev)
        .chain(&config.test)
        .any(|p| labelled::is_project(p));
    // resolving verifies the weights' sha256, so it is done once and kept
    let early_encoder_dir = if projects {
        Some(config.encoder.resolve(&config.out, config.offline)?)
    } else {
        None
    };
    let early_tokenizer = early_encoder_dir
        .as_ref()
        .map(|dir| {
            crate::tokenize::TextTokenizer::from_file(
                &dir.join("tokenizer.json"),
                config.max_tokens,
            )
        })
        .transpose()?;
    let budget = early_tokenizer
        .as_ref()
        .map(|t| (config.max_tokens, t as &dyn crate::segment::TokenBudget));
    let loaded = labelled::load(&config.data, &codebook, &config.project, budget)?;
    let dev_loaded = config
        .dev
        .as_deref()
        .map(|p| labelled::load(p, &codebook, &config.project, budget))
        .transpose()?;
    let data = &loaded.items;
    let (train_items, dev_items): (Vec<&Labelled>, Vec<&Labelled>) = match &dev_loaded {
        Some(dev) => (data.iter().collect(), dev.items.iter().collect()),
        None => {
            let (train, dev) = match &loaded.groups {
                Some(groups) => split::by_group(data, groups, config.dev_fraction, config.seed),
                None => split::stratified(data, config.dev_fraction, config.seed),
            };
            (
                train.iter().map(|&i| &data[i]).collect(),
                dev.iter().map(|&i| &data[i]).collect(),
            )
        }
    };
    let data_notes: Vec<String> = [("data", Some(&loaded)), ("dev", dev_loaded.as_ref())]
        .into_iter()
        .filter_map(|(what, l)| Some(format!("{what}: {}", l?.description.clone()?)))
        .collect();
    for (c, code) in codebook.codes.iter().enumerate() {
        if !train_items.iter().any(|l| l.labels[c]) {
            return Err(Error::Data {
                path: config.data.clone(),
                reason: format!(
                    "code {:?} has no positive example in the training data; a model cannot learn it",
                    code.name
                ),
            });
        }
        if !dev_items.iter().any(|l| l.labels[c]) {
            tracing::warn!(
                code = %code.name,
                "the dev data has no positive example of this code: its threshold cannot be calibrated and stays near 0.5"
            );
        }
    }
    if dev_items.is_empty() {
        return Err(Error::Data {
            path: config.data.clone(),
            reason: "too little data for a dev split; add examples or pass --dev".into(),
        });
    }

    let staging = staging_dir(&config.out);
    if !config.resume {
        // what a failed run left: nothing of it is reused without --resume
        let _ = std::fs::remove_dir_all(&staging);
    }
    let encoder_dir = match early_encoder_dir {
        Some(dir) => dir,
        None => config.encoder.resolve(&config.out, config.offline)?,
    };
    let code_names = codebook.code_names();
    let codes = code_names.len();
    let init = config
        .init
        .as_deref()
        .map(|dir| InitModel::open(dir, &config.encoder, &code_names, &config.head.poolings))
        .transpose()?;
    let (train_texts, dev_texts) = (texts_of(&train_items), texts_of(&dev_items));
    let train_y = targets(&train_items, codes)?;
    let dev_truth: Vec<Vec<bool>> = dev_items.iter().map(|l| l.labels.clone()).collect();
    let pos_weight = positive_weights(&train_items, codes)?;
    // a continued model needs no probe; frozen features then serve only the learning curve
    let wants_curve = config.curve_repeats > 0 && train_items.len() >= MIN_CURVE_UNITS;
    let (mut fitted, candidates, curve) = if init.is_none() || wants_curve {
        let encoder = model::load_encoder(&encoder_dir, config.max_tokens)?;
        tracing::info!(
            train = train_items.len(),
            dev = dev_items.len(),
            "computing frozen-encoder features of training and dev texts (cached for later runs)"
        );
        let train_features =
            features::compute(&encoder, &config.encoder, config.max_tokens, &train_texts)?;
        let curve = learning_curve(config, &train_items, &train_features, &loaded, &code_names)?;
        let (fitted, candidates) = if init.is_none() {
            let dev_features =
                features::compute(&encoder, &config.encoder, config.max_tokens, &dev_texts)?;
            fit_heads(
                config,
                &train_features,
                &dev_features,
                &HeadTargets {
                    train_y: &train_y,
                    dev_truth: &dev_truth,
                    code_names: &code_names,
                    pos_weight: &pos_weight,
                },
            )?
        } else {
            (Vec::new(), Vec::new())
        };
        (fitted, candidates, curve)
    } else {
        (Vec::new(), Vec::new(), None)
    };
    let hidden_size = model::read_encoder_config(&encoder_dir, config.max_tokens)?.hidden_size;
    // the first candidate wins ties: candidates are listed simplest first
    let best = (!fitted.is_empty()).then(|| {
        let best_index = (0..fitted.len()).fold(0, |best, i| {
            if fitted[i].dev.macro_f1 > fitted[best].dev.macro_f1 + 1e-9 {
                i
            } else {
                best
            }
        });
        fitted.swap_remove(best_index)
    });

    std::fs::create_dir_all(&staging)
        .map_err(|e| Error::io(format!("creating {}", staging.display()), e))?;
    let trained = match config.mode {
        Mode::Head => {
            let best = best.expect("head mode always fits heads");
            best.varmap.save(staging.join(model::HEAD_WEIGHTS_FILE))?;
            let _ = std::fs::remove_file(staging.join(model::ENCODER_DELTA_FILE));
            Trained {
                spec: best.spec,
                best_epoch: best.best_epoch,
                dev: best.dev,
                thresholds: best.thresholds,
                platt: best.platt,
                steps: None,
            }
        }
        Mode::Finetune => {
            let start = match (&init, &best) {
                (Some(init), _) => init.start(),
                (None, Some(probe)) => finetune::Start::probe(probe)?,
                (None, None) => unreachable!("heads are fitted when there is no --init"),
            };
            let finetune_data = finetune::FinetuneData {
                train_texts: &train_texts,
                train_y: &train_y,
                dev_texts: &dev_texts,
                dev_truth: &dev_truth,
                code_names: &code_names,
                pos_weight: &pos_weight,
            };
            let tuned = finetune::run(
                &encoder_dir,
                config.max_tokens,
                &start,
                &finetune_data,
                &config.finetune,
                config.seed,
                &finetune::Checkpointing {
                    out: &staging,
                    resume: config.resume,
                    fingerprint: &fingerprint(config, &train_items, &dev_items),
                },
            )?;
            tuned
                .head_vars
                .save(staging.join(model::HEAD_WEIGHTS_FILE))?;
            model::save_encoder_delta(
                &encoder_dir,
                &tuned.encoder_tensors,
                &staging.join(model::ENCODER_DELTA_FILE),
            )?;
            Trained {
                spec: HeadSpec {
                    pooling: start.pooling,
                    hidden: None,
                },
                best_epoch: tuned.best_epoch,
                dev: tuned.dev,
                thresholds: tuned.thresholds,
                platt: tuned.platt,
                steps: Some((tuned.steps, tuned.seconds_per_step)),
            }
        }
    };
    config
        .encoder
        .save(&staging.join(model::ENCODER_REF_FILE))?;
    let mut summary = TrainSummary {
        mode: config.mode,
        train_size: train_items.len(),
        dev_size: dev_items.len(),
        head: trained.spec.describe(),
        best_epoch: trained.best_epoch,
        candidates,
        dev: trained.dev,
        tests: Vec::new(),
        dev_precisions: Vec::new(),
        thresholds: trained.thresholds,
        platt: trained.platt,
        steps: trained.steps,
        seconds: 0.0,
        data_notes,
        curve,
    };
    let head_config = HeadConfig {
        pooling: trained.spec.pooling,
        normalize: true,
        input_dim: trained.spec.pooling.features(hidden_size),
        hidden: trained.spec.hidden,
        max_tokens: config.max_tokens,
    };
    codebook.save(&staging.join(model::CODEBOOK_FILE))?;
    model::write_json(&staging.join(model::HEAD_CONFIG_FILE), &head_config)?;
    let by_code: BTreeMap<&str, f32> = code_names
        .iter()
        .map(String::as_str)
        .zip(summary.thresholds.iter().copied())
        .collect();
    model::write_json(&staging.join(model::THRESHOLDS_FILE), &by_code)?;
    let platt_by_code: BTreeMap<&str, calibrate::Platt> = code_names
        .iter()
        .map(String::as_str)
        .zip(summary.platt.iter().copied())
        .collect();
    model::write_json(&staging.join(model::CALIBRATION_FILE), &platt_by_code)?;
    if let Some(curve) = &summary.curve {
        let saved = curve::SavedCurve {
            data: config.data.display().to_string(),
            project_name: labelled::is_project(&config.data)
                .then(|| labelled::project::project_name(&config.data).ok())
                .flatten(),
            curve: curve.clone(),
        };
        model::write_json(&staging.join(model::CURVE_FILE), &saved)?;
    }
    share_like_the_rest(&staging)?;

    for path in &config.test {
        let (fp32, reliability, precisions) = check_precisions(
            &staging,
            path,
            config.max_tokens,
            config.offline,
            &config.project,
        )?;
        summary.tests.push(TestScores {
            path: path.clone(),
            fp32,
            reliability,
            precisions,
        });
    }
    if !config.test.is_empty() {
        // A precision that keeps test but loses on dev is not offered either (a frozen MPNet
        // head lost 0.016 in int8 on real dev while holding on both test files).
        if let Some(dev) = &config.dev {
            let (_, _, precisions) = check_precisions(
                &staging,
                dev,
                config.max_tokens,
                config.offline,
                &config.project,
            )?;
            summary.dev_precisions = precisions;
        }
        summary.precision_checks().save(&staging)?;
    }
    summary.seconds = started.elapsed().as_secs_f64();
    let card = ModelCard::new(&codebook, &config.encoder, config, &summary, &code_names);
    std::fs::write(staging.join(model::MODEL_CARD_FILE), card.to_markdown())
        .map_err(|e| Error::io("writing the model card", e))?;
    checkpoint::remove(&staging);
    replace_dir(&staging, &config.out)?;
    Ok(summary)
}

/// The smallest training set whose learning curve the model card shows.
const MIN_CURVE_UNITS: usize = 50;

/// The learning curve of the training units for the model card: head mode on the features
/// already computed, whole sources held out for a project.
fn learning_curve(
    config: &TrainConfig,
    train_items: &[&Labelled],
    train_features: &features::Features,
    loaded: &labelled::LabelledData,
    code_names: &[String],
) -> Result<Option<curve::Curve>> {
    if config.curve_repeats == 0 || train_items.len() < MIN_CURVE_UNITS {
        return Ok(None);
    }
    tracing::info!(
        repeats = config.curve_repeats,
        "measuring the learning curve of the training data for the model card"
    );
    let items: Vec<Labelled> = train_items.iter().map(|&l| l.clone()).collect();
    // the training items are a subset of the data when dev was split off; map their groups
    let groups: Option<Vec<String>> = loaded.groups.as_ref().map(|groups| {
        let by_id: std::collections::HashMap<&str, &str> = loaded
            .items
            .iter()
            .zip(groups)
            .map(|(l, g)| (l.id.as_str(), g.as_str()))
            .collect();
        items
            .iter()
            .map(|l| {
                by_id
                    .get(l.id.as_str())
                    .copied()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    });
    let settings = curve::CurveSettings::new(
        config.curve_repeats,
        curve::DEFAULT_TARGET_KAPPA,
        config.seed,
    );
    let measured = curve::measure(
        &train_features.matrix(Pooling::Mean)?,
        &items,
        groups.as_deref(),
        code_names,
        &settings,
    )?;
    Ok(Some(measured))
}

/// Bins of the reliability table in the model card.
pub const RELIABILITY_BINS: usize = 10;

/// Reliability bins of calibrated scores and the expected calibration error.
pub type Reliability = (Vec<calibrate::ReliabilityBin>, f64);

/// Scores a labelled file with a model in fp32, then in bf16 and int8 against it: macro-F1,
/// the share of decisions that change and the lowest embedding cosine ([`model::precision`]).
/// Returns the fp32 report and reliability, and the checks.
///
/// # Errors
/// When the model or the data cannot be loaded.
pub fn check_precisions(
    model_dir: &Path,
    data: &Path,
    max_tokens: usize,
    offline: bool,
    project: &labelled::ProjectOptions,
) -> Result<(Report, Reliability, Vec<model::precision::Check>)> {
    use crate::model::Precision;
    struct Run {
        evaluation: model::Evaluation,
        features: Vec<Vec<f32>>,
        truth: Vec<Vec<bool>>,
    }
    let run = |precision: Precision| -> Result<Run> {
        let classifier = Classifier::load(
            model_dir,
            &LoadOptions {
                max_tokens,
                offline,
                precision: precision.into(),
            },
        )?;
        let items = labelled::load(
            data,
            &classifier.model.codebook,
            project,
            Some((max_tokens, classifier.tokenizer())),
        )?
        .items;
        let texts: Vec<&str> = items.iter().map(|l| l.text.as_str()).collect();
        Ok(Run {
            features: classifier.features_of_texts(&texts, model::EVAL_BATCH_SIZE)?,
            evaluation: classifier.evaluate(&items)?,
            truth: items.iter().map(|l| l.labels.clone()).collect(),
        })
    };
    let fp32 = run(Precision::F32)?;
    let reliability =
        calibrate::reliability(&fp32.evaluation.scores, &fp32.truth, RELIABILITY_BINS);
    let mut checks = Vec::new();
    for precision in [Precision::Bf16, Precision::Int8] {
        let other = run(precision)?;
        let decisions = || fp32.evaluation.predicted.iter().flatten();
        let changed = decisions()
            .zip(other.evaluation.predicted.iter().flatten())
            .filter(|(a, b)| a != b)
            .count();
        let min_cosine = fp32
            .features
            .iter()
            .zip(&other.features)
            .map(|(a, b)| cosine(a, b))
            .fold(1f64, f64::min);
        checks.push(model::precision::Check {
            precision: precision.name().into(),
            data: data.display().to_string(),
            n: fp32.truth.len(),
            macro_f1: other.evaluation.report.macro_f1,
            fp32_macro_f1: fp32.evaluation.report.macro_f1,
            decisions_changed: changed as f64 / decisions().count().max(1) as f64,
            min_cosine,
        });
    }
    Ok((fp32.evaluation.report, reliability, checks))
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| f64::from(x) * f64::from(y))
        .sum();
    let norm = |v: &[f32]| v.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b)).max(1e-30)
}

/// The codebook to train for: `--codebook`, else the codes of the `--data` project.
pub fn training_codebook(codebook: Option<&Path>, data: &Path) -> Result<Codebook> {
    if let Some(path) = codebook {
        return Codebook::load(path);
    }
    if !labelled::is_project(data) {
        return Err(Error::Usage(
            "--codebook is required unless --data is a .qdpx project (whose codes then become the codebook)".into(),
        ));
    }
    let import = labelled::project::project_codebook(data)?;
    tracing::info!(
        codes = import.codebook.codes.len(),
        "no --codebook: the codebook is the project's codes, as `discotag qdpx codebook` makes it"
    );
    if !import.placeholders.is_empty() {
        tracing::warn!(
            codes = %import.placeholders.join(", "),
            "these project codes have no description, so the model's codebook gives them a placeholder definition; write one with `discotag qdpx codebook` and pass --codebook"
        );
    }
    Ok(import.codebook)
}

/// Where a model is written before it replaces `out` in one rename: a hidden sibling folder,
/// kept after a failed run so that `--resume` finds its fine-tuning checkpoint.
pub fn staging_dir(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map_or_else(|| "model".into(), |n| n.to_string_lossy().into_owned());
    out.with_file_name(format!(".{name}.partial"))
}

/// What a model directory holds; `--out` may replace a folder holding only these.
const MODEL_DIR_ENTRIES: [&str; 11] = [
    model::CURVE_FILE,
    model::CODEBOOK_FILE,
    model::ENCODER_REF_FILE,
    model::HEAD_WEIGHTS_FILE,
    model::HEAD_CONFIG_FILE,
    model::THRESHOLDS_FILE,
    model::CALIBRATION_FILE,
    model::MODEL_CARD_FILE,
    model::ENCODER_DELTA_FILE,
    checkpoint::CHECKPOINT_DIR,
    // a model directory kept in git
    ".gitattributes",
];

/// Refuses an `--out` that exists and holds anything but a model, before any work is done:
/// replacing it would delete the user's files.
fn check_replaceable(out: &Path) -> Result<()> {
    let entries = match std::fs::read_dir(out) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
            return Err(Error::Usage(format!(
                "--out {} is a file, not a model folder",
                out.display()
            )));
        }
        Err(e) => return Err(Error::io(format!("reading {}", out.display()), e)),
    };
    let mut foreign: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| !MODEL_DIR_ENTRIES.contains(&name.as_str()))
        .collect();
    if foreign.is_empty() {
        return Ok(());
    }
    foreign.sort();
    foreign.truncate(5);
    Err(Error::Usage(format!(
        "--out {} holds files that are not part of a model ({}); train replaces the whole folder, so choose a new or empty folder",
        out.display(),
        foreign.join(", ")
    )))
}

/// Puts the finished model in `staging` in place of `out`: the old model (if any) is moved
/// aside, the new one renamed in, the old one deleted. A reader sees the old model or the new
/// one, never a mix of their files.
fn replace_dir(staging: &Path, out: &Path) -> Result<()> {
    let old = out.with_file_name(format!(
        ".{}.old-{}",
        out.file_name()
            .map_or_else(|| "model".into(), |n| n.to_string_lossy()),
        std::process::id()
    ));
    let had_old = out.exists();
    if had_old {
        std::fs::rename(out, &old)
            .map_err(|e| Error::io(format!("moving the old model {} aside", out.display()), e))?;
    }
    if let Err(e) = std::fs::rename(staging, out) {
        if had_old {
            let _ = std::fs::rename(&old, out);
        }
        return Err(Error::io(
            format!("moving the new model into {}", out.display()),
            e,
        ));
    }
    if had_old {
        std::fs::remove_dir_all(&old)
            .map_err(|e| Error::io(format!("removing the old model {}", old.display()), e))?;
    }
    Ok(())
}

/// The safetensors writer creates its files readable by the owner only; give the weight files
/// the permissions the other files of the model directory got (from the user's umask), so a
/// colleague who can read the folder can use the model.
fn share_like_the_rest(dir: &Path) -> Result<()> {
    let reference = std::fs::metadata(dir.join(model::CODEBOOK_FILE))
        .map_err(|e| Error::io("reading the model directory", e))?
        .permissions();
    for name in [model::HEAD_WEIGHTS_FILE, model::ENCODER_DELTA_FILE] {
        let path = dir.join(name);
        if path.is_file() {
            std::fs::set_permissions(&path, reference.clone())
                .map_err(|e| Error::io(format!("setting permissions of {}", path.display()), e))?;
        }
    }
    Ok(())
}
