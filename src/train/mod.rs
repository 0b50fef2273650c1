//! `discotag train --mode head`: a multi-label linear head over frozen encoder embeddings.
//!
//! Embeddings are computed once. The head starts at zero (the problem is convex, so this loses
//! nothing and makes runs identical for the same data and seed), is fitted with AdamW on a
//! class-weighted binary cross-entropy, stops early on dev macro-F1 at threshold 0.5, and
//! then gets one threshold per code chosen on dev. A test file, if given, is scored once at the
//! end for the model card and never used for a choice.

pub mod calibrate;
pub mod split;

use std::path::PathBuf;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};

use crate::codebook::Codebook;
use crate::error::{Error, Result};
use crate::labelled::{self, Labelled};
use crate::metrics::classification::{self, Report};
use crate::model::card::ModelCard;
use crate::model::head::over_thresholds;
use crate::model::{self, EncoderRef, Head, HeadConfig};

/// Training settings.
#[derive(Debug, Clone)]
pub struct TrainConfig {
    pub codebook: PathBuf,
    pub data: PathBuf,
    /// An explicit dev file; otherwise a stratified share of `data`.
    pub dev: Option<PathBuf>,
    /// Held-out test data, scored once for the model card.
    pub test: Option<PathBuf>,
    pub out: PathBuf,
    pub encoder: EncoderRef,
    pub offline: bool,
    pub max_tokens: usize,
    pub dev_fraction: f64,
    pub seed: u64,
    pub epochs: usize,
    pub patience: usize,
    pub learning_rate: f64,
    pub weight_decay: f64,
    pub batch_size: usize,
    /// A sentence on what the data is and how it was made, for the model card.
    pub data_description: Option<String>,
    /// The command line that trained the model, for the model card.
    pub command: String,
}

/// What training produced.
#[derive(Debug, Clone)]
pub struct TrainSummary {
    pub train_size: usize,
    pub dev_size: usize,
    pub best_epoch: usize,
    pub dev: Report,
    pub test: Option<Report>,
    pub thresholds: Vec<f32>,
    pub seconds: f64,
}

fn matrix(rows: &[&Vec<f32>], device: &Device) -> Result<Tensor> {
    let dim = rows.first().map_or(0, |r| r.len());
    let flat: Vec<f32> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    Ok(Tensor::from_vec(flat, (rows.len(), dim), device)?)
}

fn targets(rows: &[&Labelled], device: &Device) -> Result<Tensor> {
    let codes = rows.first().map_or(0, |r| r.labels.len());
    let flat: Vec<f32> = rows
        .iter()
        .flat_map(|r| r.labels.iter().map(|&b| f32::from(u8::from(b))))
        .collect();
    Ok(Tensor::from_vec(flat, (rows.len(), codes), device)?)
}

/// Class-weighted binary cross-entropy on logits: positives of code c weigh `pos_weight[c]`.
fn weighted_bce(
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

/// A small deterministic generator for shuffling (SplitMix64), so runs do not depend on the
/// version of any random-number crate.
struct SplitMix(u64);
impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

/// The best head so far: dev macro-F1, epoch, and a copy of every head weight.
type Checkpoint = (f64, usize, Vec<(String, Tensor)>);

fn at_thresholds(scores: &[Vec<f32>], thresholds: &[f32]) -> Vec<Vec<bool>> {
    scores
        .iter()
        .map(|s| over_thresholds(s, thresholds))
        .collect()
}

/// Trains a head and writes a model directory.
///
/// # Errors
/// On unreadable or invalid data (unknown codes, a code without positive examples), a
/// missing encoder, or write failures.
pub fn run(config: &TrainConfig) -> Result<TrainSummary> {
    let started = Instant::now();
    let codebook = Codebook::load(&config.codebook)?;
    let data = labelled::read(&config.data, &codebook)?;
    let dev_data = config
        .dev
        .as_deref()
        .map(|p| labelled::read(p, &codebook))
        .transpose()?;
    let (train_items, dev_items): (Vec<&Labelled>, Vec<&Labelled>) = match &dev_data {
        Some(dev) => (data.iter().collect(), dev.iter().collect()),
        None => {
            let (train, dev) = split::stratified(&data, config.dev_fraction, config.seed);
            (
                train.iter().map(|&i| &data[i]).collect(),
                dev.iter().map(|&i| &data[i]).collect(),
            )
        }
    };
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
    }
    if dev_items.is_empty() {
        return Err(Error::Data {
            path: config.data.clone(),
            reason: "too little data for a dev split; add examples or pass --dev".into(),
        });
    }

    let encoder_dir = config.encoder.resolve(&config.out, config.offline)?;
    let encoder = model::load_encoder(&encoder_dir, config.max_tokens)?;
    let normalize = true;
    tracing::info!(
        train = train_items.len(),
        dev = dev_items.len(),
        "embedding training and dev texts with the frozen encoder"
    );
    let embed = |items: &[&Labelled]| {
        let texts: Vec<&str> = items.iter().map(|l| l.text.as_str()).collect();
        encoder.embed_texts(&texts, normalize, 32)
    };
    let train_emb = embed(&train_items)?;
    let dev_emb = embed(&dev_items)?;

    let device = Device::Cpu;
    let dim = encoder.encoder.config().hidden_size;
    let codes = codebook.codes.len();
    let varmap = VarMap::new();
    let head = Head::load(
        VarBuilder::from_varmap(&varmap, DType::F32, &device),
        dim,
        codes,
    )?;
    for var in varmap.all_vars() {
        var.set(&var.zeros_like()?)?;
    }
    let pos_weight: Vec<f32> = (0..codes)
        .map(|c| {
            let pos = train_items.iter().filter(|l| l.labels[c]).count() as f32;
            ((train_items.len() as f32 - pos) / pos.max(1.0)).clamp(1.0, 10.0)
        })
        .collect();
    let pos_weight = Tensor::from_vec(pos_weight, (1, codes), &device)?;
    let mut optimizer = AdamW::new(
        varmap.all_vars(),
        ParamsAdamW {
            lr: config.learning_rate,
            weight_decay: config.weight_decay,
            ..ParamsAdamW::default()
        },
    )?;
    let dev_x = matrix(&dev_emb.iter().collect::<Vec<_>>(), &device)?;
    let dev_truth: Vec<Vec<bool>> = dev_items.iter().map(|l| l.labels.clone()).collect();
    let code_names = codebook.code_names();
    let half = vec![0.5f32; codes];

    let mut rng = SplitMix(config.seed);
    let mut order: Vec<usize> = (0..train_items.len()).collect();
    let mut best: Option<Checkpoint> = None;
    for epoch in 1..=config.epochs {
        rng.shuffle(&mut order);
        for chunk in order.chunks(config.batch_size.max(1)) {
            let x = matrix(
                &chunk.iter().map(|&i| &train_emb[i]).collect::<Vec<_>>(),
                &device,
            )?;
            let y = targets(
                &chunk.iter().map(|&i| train_items[i]).collect::<Vec<_>>(),
                &device,
            )?;
            let loss = weighted_bce(&head.forward(&x)?, &y, &pos_weight)?;
            optimizer.backward_step(&loss)?;
        }
        let dev_scores = head.probabilities(&dev_x)?;
        let f1 =
            classification::report(&code_names, &dev_truth, &at_thresholds(&dev_scores, &half))
                .macro_f1;
        if best.as_ref().is_none_or(|(b, _, _)| f1 > *b + 1e-9) {
            let snapshot = varmap
                .data()
                .lock()
                .expect("varmap lock")
                .iter()
                .map(|(k, v)| Ok((k.clone(), v.as_tensor().copy()?)))
                .collect::<candle_core::Result<Vec<_>>>()?;
            best = Some((f1, epoch, snapshot));
        } else if best
            .as_ref()
            .is_some_and(|(_, e, _)| epoch - e >= config.patience)
        {
            tracing::info!(
                epoch,
                "early stop: dev macro-F1 has not improved for {} epochs",
                config.patience
            );
            break;
        }
    }
    let (_, best_epoch, snapshot) = best.expect("at least one epoch runs");
    {
        let data = varmap.data().lock().expect("varmap lock");
        for (name, tensor) in &snapshot {
            data[name].set(tensor)?;
        }
    }

    let dev_scores = head.probabilities(&dev_x)?;
    let thresholds: Vec<f32> = (0..codes)
        .map(|c| {
            let scores: Vec<f32> = dev_scores.iter().map(|s| s[c]).collect();
            let truth: Vec<bool> = dev_truth.iter().map(|t| t[c]).collect();
            calibrate::threshold(&scores, &truth)
        })
        .collect();
    let dev_report = classification::report(
        &code_names,
        &dev_truth,
        &at_thresholds(&dev_scores, &thresholds),
    );

    let test_report = match &config.test {
        Some(path) => {
            let test = labelled::read(path, &codebook)?;
            let refs: Vec<&Labelled> = test.iter().collect();
            let x = matrix(&embed(&refs)?.iter().collect::<Vec<_>>(), &device)?;
            let truth: Vec<Vec<bool>> = test.iter().map(|l| l.labels.clone()).collect();
            Some(classification::report(
                &code_names,
                &truth,
                &at_thresholds(&head.probabilities(&x)?, &thresholds),
            ))
        }
        None => None,
    };

    std::fs::create_dir_all(&config.out)
        .map_err(|e| Error::io(format!("creating {}", config.out.display()), e))?;
    varmap.save(config.out.join(model::HEAD_WEIGHTS_FILE))?;
    codebook.save(&config.out.join(model::CODEBOOK_FILE))?;
    config
        .encoder
        .save(&config.out.join(model::ENCODER_REF_FILE))?;
    model::write_json(
        &config.out.join(model::HEAD_CONFIG_FILE),
        &HeadConfig {
            pooling: "mean".into(),
            normalize,
            input_dim: dim,
            max_tokens: config.max_tokens,
        },
    )?;
    let by_code: std::collections::BTreeMap<&str, f32> = code_names
        .iter()
        .map(String::as_str)
        .zip(thresholds.iter().copied())
        .collect();
    model::write_json(&config.out.join(model::THRESHOLDS_FILE), &by_code)?;

    let summary = TrainSummary {
        train_size: train_items.len(),
        dev_size: dev_items.len(),
        best_epoch,
        dev: dev_report,
        test: test_report,
        thresholds,
        seconds: started.elapsed().as_secs_f64(),
    };
    let card = ModelCard::new(&codebook, &config.encoder, config, &summary, &code_names);
    std::fs::write(config.out.join(model::MODEL_CARD_FILE), card.to_markdown())
        .map_err(|e| Error::io("writing the model card", e))?;
    Ok(summary)
}
