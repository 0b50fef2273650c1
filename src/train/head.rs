//! `--mode head`: fits heads on frozen-encoder features. Each candidate (linear or MLP, mean or
//! mean+[CLS] pooling) is trained with early stopping on dev macro-F1 at threshold 0.5, then
//! gets one threshold per code chosen on dev; the candidate with the best calibrated dev
//! macro-F1 is kept. The test split plays no part.

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};

use super::optim::AdamW;
use super::{Batches, HeadSettings, calibrate, dev_macro_f1, weighted_bce};
use crate::error::Result;
use crate::metrics::classification::Report;
use crate::model::dropout::Dropout;
use crate::model::{Head, Pass, Pooling};
use crate::rng::SplitMix;

/// One head architecture to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadSpec {
    pub pooling: Pooling,
    /// MLP hidden width; `None` for a linear head.
    pub hidden: Option<usize>,
}

impl HeadSpec {
    pub fn describe(&self) -> String {
        match self.hidden {
            None => format!("linear head on {} pooling", self.pooling.name()),
            Some(w) => format!(
                "MLP head ({w} hidden units, GELU, dropout) on {} pooling",
                self.pooling.name()
            ),
        }
    }
}

/// A trained head with its calibrated thresholds and dev scores.
pub struct FittedHead {
    pub spec: HeadSpec,
    pub varmap: VarMap,
    pub best_epoch: usize,
    /// Per-code Platt scaling fitted on dev.
    pub platt: Vec<calibrate::Platt>,
    /// Per-code thresholds on the calibrated scores.
    pub thresholds: Vec<f32>,
    /// Dev scores at the calibrated thresholds (the selection criterion).
    pub dev: Report,
}

/// What a head trains on: features and 0/1 targets for train, features and truth for dev.
pub struct HeadData<'a> {
    pub train_x: &'a Tensor,
    pub train_y: &'a Tensor,
    pub dev_x: &'a Tensor,
    pub dev_truth: &'a [Vec<bool>],
    pub code_names: &'a [String],
    pub pos_weight: &'a Tensor,
}

/// PyTorch's default initialisation of a linear layer, from a seeded generator: uniform in
/// ±1/sqrt(fan_in) for weights and biases.
fn init_uniform(varmap: &VarMap, rng: &mut SplitMix) -> Result<()> {
    let data = varmap.data().lock().expect("varmap lock");
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    for name in names {
        let var: &Var = &data[name];
        let shape = var.shape().clone();
        let fan_in = if name.ends_with(".weight") {
            shape.dims()[1]
        } else {
            // a bias: fan_in is the input width of the weight beside it
            data[&name.replace(".bias", ".weight")].shape().dims()[1]
        };
        let bound = 1.0 / (fan_in as f32).sqrt();
        let values: Vec<f32> = (0..shape.elem_count())
            .map(|_| (rng.next_f32() * 2.0 - 1.0) * bound)
            .collect();
        var.set(&Tensor::from_vec(values, shape, var.device())?)?;
    }
    Ok(())
}

/// Trains one head. A linear head starts at zero (its problem is convex); an MLP starts from
/// seeded random weights.
///
/// # Errors
/// On tensor failures.
pub fn fit(
    spec: HeadSpec,
    data: &HeadData,
    settings: &HeadSettings,
    seed: u64,
) -> Result<FittedHead> {
    let device = Device::Cpu;
    let (_, input_dim) = data.train_x.dims2()?;
    let codes = data.code_names.len();
    let varmap = VarMap::new();
    let head = Head::load(
        VarBuilder::from_varmap(&varmap, DType::F32, &device),
        input_dim,
        spec.hidden,
        codes,
    )?;
    let mut rng = SplitMix::derive(seed, 1);
    match spec.hidden {
        None => {
            for var in varmap.all_vars() {
                var.set(&var.zeros_like()?)?;
            }
        }
        Some(_) => init_uniform(&varmap, &mut rng)?,
    }
    let dropout = Dropout::new(settings.dropout, SplitMix::derive(seed, 2));
    let named: Vec<(String, Var)> = varmap
        .data()
        .lock()
        .expect("varmap lock")
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let lr = settings
        .learning_rate
        .unwrap_or(if spec.hidden.is_some() { 1e-3 } else { 1e-2 });
    let mut optimizer = AdamW::new(named, settings.weight_decay, |_| true)?;
    let mut batches = Batches::new(data.train_x.dim(0)?, settings.batch_size, rng);
    let mut best: Option<(f64, usize, Snapshot)> = None;
    for epoch in 1..=settings.epochs {
        for chunk in batches.epoch() {
            let index = Tensor::from_vec(
                chunk.iter().map(|&i| i as u32).collect::<Vec<_>>(),
                chunk.len(),
                &device,
            )?;
            let x = data.train_x.index_select(&index, 0)?;
            let y = data.train_y.index_select(&index, 0)?;
            let logits = head.forward_pass(&x, Pass::Training(&dropout))?;
            let loss = weighted_bce(&logits, &y, data.pos_weight)?;
            optimizer.step(&loss.backward()?, lr, None)?;
        }
        let f1 = dev_macro_f1(
            &head.probabilities(data.dev_x)?,
            data.dev_truth,
            data.code_names,
        );
        if best.as_ref().is_none_or(|(b, _, _)| f1 > *b + 1e-9) {
            best = Some((f1, epoch, snapshot(&varmap)?));
        } else if best
            .as_ref()
            .is_some_and(|(_, e, _)| epoch - e >= settings.patience)
        {
            break;
        }
    }
    let (_, best_epoch, weights) = best.expect("at least one epoch runs");
    restore(&varmap, &weights)?;
    let dev_scores = head.probabilities(data.dev_x)?;
    let calibrated = calibrate::fit(&dev_scores, data.dev_truth, data.code_names);
    Ok(FittedHead {
        spec,
        varmap,
        best_epoch,
        platt: calibrated.platt,
        thresholds: calibrated.thresholds,
        dev: calibrated.report,
    })
}

/// Named copies of variables.
pub type Snapshot = Vec<(String, Tensor)>;

/// A copy of every variable, to return to the best epoch later.
///
/// # Errors
/// On tensor failures.
pub fn snapshot(varmap: &VarMap) -> Result<Snapshot> {
    Ok(varmap
        .data()
        .lock()
        .expect("varmap lock")
        .iter()
        .map(|(k, v)| Ok((k.clone(), v.as_tensor().copy()?)))
        .collect::<candle_core::Result<Vec<_>>>()?)
}

/// Sets every variable back to a snapshot.
///
/// # Errors
/// On tensor failures.
pub fn restore(varmap: &VarMap, weights: &[(String, Tensor)]) -> Result<()> {
    let data = varmap.data().lock().expect("varmap lock");
    for (name, tensor) in weights {
        data[name].set(tensor)?;
    }
    Ok(())
}
