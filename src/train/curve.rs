//! Learning curves (`discotag curve`, and the curve in a trained model's card): how macro-F1
//! and macro kappa grow with the number of coded units, so a team can judge how much more to
//! code by hand.
//!
//! Repeated hold-out on cached frozen-encoder features: each repeat holds out a share of the
//! units (whole sources for a project), shuffles the rest, and at each size trains what
//! `train --mode head` would train on that many units (a linear head on mean pooling, early
//! stopping, Platt scaling and thresholds on a stratified fifth of them), then scores the
//! held-out units. The sample at a size holds the samples at every smaller size, so the curve
//! measures more data rather than other data. A curve `kappa(n) = a - b * n^-c` fitted to the
//! mean kappas estimates how many coded units reach a target kappa.

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

use super::head::{self, HeadData, HeadSpec};
use super::{HeadSettings, calibrate, positive_weights, split, targets};
use crate::error::Result;
use crate::labelled::Labelled;
use crate::metrics::classification;
use crate::model::head::over_thresholds;
use crate::model::{Head, Pooling};
use crate::rng::SplitMix;

/// The default target of `--target-kappa`: "substantial" agreement.
pub const DEFAULT_TARGET_KAPPA: f64 = 0.7;

/// How the curve is measured.
#[derive(Debug, Clone)]
pub struct CurveSettings {
    /// Training sizes; `None`: 25, 50, 100, 200, ... and every unit not held out.
    pub sizes: Option<Vec<usize>>,
    pub repeats: usize,
    /// Share of the units held out for scoring in each repeat.
    pub held_out: f64,
    pub target_kappa: f64,
    pub seed: u64,
    pub head: HeadSettings,
}

impl CurveSettings {
    /// The defaults of `discotag curve`, with `repeats` repeats.
    pub fn new(repeats: usize, target_kappa: f64, seed: u64) -> Self {
        CurveSettings {
            sizes: None,
            repeats,
            held_out: 0.2,
            target_kappa,
            seed,
            head: HeadSettings {
                poolings: vec![Pooling::Mean],
                hiddens: vec![None],
                epochs: 400,
                patience: 60,
                learning_rate: None,
                weight_decay: 1e-4,
                batch_size: 32,
                dropout: 0.1,
            },
        }
    }
}

/// The scores at one training size.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CurvePoint {
    pub n_train: usize,
    /// Means over the repeats.
    pub macro_f1: f64,
    pub macro_kappa: f64,
    /// The 2.5th and 97.5th percentiles over the repeats.
    pub f1_interval: [f64; 2],
    pub kappa_interval: [f64; 2],
    /// Repeats that could be trained at this size (a sample needs a positive of every code).
    pub repeats: usize,
}

/// `kappa(n) = asymptote - scale * n^-exponent`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct PowerLaw {
    pub asymptote: f64,
    pub scale: f64,
    pub exponent: f64,
}

impl PowerLaw {
    pub fn at(&self, n: f64) -> f64 {
        self.asymptote - self.scale * n.powf(-self.exponent)
    }

    /// The size at which the curve reaches `kappa`; `None` when it levels off below it.
    pub fn size_for(&self, kappa: f64) -> Option<f64> {
        (self.asymptote > kappa && self.scale > 0.0)
            .then(|| (self.scale / (self.asymptote - kappa)).powf(1.0 / self.exponent))
    }
}

/// A learning curve and what it says.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Curve {
    pub points: Vec<CurvePoint>,
    pub target_kappa: f64,
    /// Coded units the fitted curve needs to reach the target; `null` when it levels off below
    /// it or no curve could be fitted.
    pub estimated_n_for_target: Option<f64>,
    /// Whether that estimate lies beyond the largest size measured.
    pub extrapolated: bool,
    pub fit: Option<PowerLaw>,
    /// Units held out for scoring in each repeat.
    pub held_out: usize,
    pub repeats: usize,
    /// The estimate in words.
    pub verdict: String,
}

/// A trained model's learning curve (`curve.json` in the model directory) and what it was
/// measured on, so `agree --report` can show it beside the model's agreement on that project.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SavedCurve {
    /// The training data as given to `train`.
    pub data: String,
    /// The REFI-QDA project's name, when the data was a project.
    pub project_name: Option<String>,
    pub curve: Curve,
}

/// What `discotag curve` reads.
#[derive(Debug, Clone)]
pub struct CurveConfig {
    /// `None`: the codes of the `data` project.
    pub codebook: Option<std::path::PathBuf>,
    pub data: std::path::PathBuf,
    pub encoder: crate::model::EncoderRef,
    pub offline: bool,
    pub max_tokens: usize,
    pub project: crate::labelled::ProjectOptions,
    pub settings: CurveSettings,
}

/// Reads the data, computes (or reads cached) frozen features and measures the curve.
///
/// # Errors
/// On unreadable data, a missing encoder, or a code without positive examples.
pub fn run(config: &CurveConfig) -> Result<(crate::codebook::Codebook, Curve)> {
    let codebook = super::training_codebook(config.codebook.as_deref(), &config.data)?;
    let encoder_dir = config
        .encoder
        .resolve(std::path::Path::new("."), config.offline)?;
    let encoder = crate::model::load_encoder(&encoder_dir, config.max_tokens)?;
    let loaded = crate::labelled::load(
        &config.data,
        &codebook,
        &config.project,
        Some((config.max_tokens, &encoder.tokenizer)),
    )?;
    let code_names = codebook.code_names();
    for (c, code) in code_names.iter().enumerate() {
        if !loaded.items.iter().any(|l| l.labels[c]) {
            return Err(crate::error::Error::Data {
                path: config.data.clone(),
                reason: format!(
                    "code {code:?} has no positive example; a curve cannot be measured"
                ),
            });
        }
    }
    let texts: Vec<&str> = loaded.items.iter().map(|l| l.text.as_str()).collect();
    let features = super::features::compute(&encoder, &config.encoder, config.max_tokens, &texts)?;
    let curve = measure(
        &features.matrix(Pooling::Mean)?,
        &loaded.items,
        loaded.groups.as_deref(),
        &code_names,
        &config.settings,
    )?;
    Ok((codebook, curve))
}

/// Measures a learning curve on mean-pooled features (one row per item). `groups` (a
/// project's sources) keeps each source on one side of the hold-out.
///
/// # Errors
/// On tensor failures.
pub fn measure(
    features: &Tensor,
    items: &[Labelled],
    groups: Option<&[String]>,
    code_names: &[String],
    settings: &CurveSettings,
) -> Result<Curve> {
    let mut per_size: std::collections::BTreeMap<usize, (Vec<f64>, Vec<f64>)> =
        std::collections::BTreeMap::new();
    let mut held_out_size = 0;
    for repeat in 0..settings.repeats.max(1) {
        let seed = settings.seed.wrapping_add(repeat as u64 * 7919);
        let (mut pool, held) = match groups {
            Some(groups) => split::by_group(items, groups, settings.held_out, seed),
            None => split::stratified(items, settings.held_out, seed),
        };
        held_out_size = held_out_size.max(held.len());
        SplitMix::derive(seed, 11).shuffle(&mut pool);
        let held_index = index_tensor(&held)?;
        let held_x = features.index_select(&held_index, 0)?;
        let held_truth: Vec<Vec<bool>> = held.iter().map(|&i| items[i].labels.clone()).collect();
        for n in sizes(settings.sizes.as_deref(), pool.len()) {
            let sample = &pool[..n];
            let Some((f1, kappa)) = fit_and_score(
                features,
                items,
                sample,
                (&held_x, &held_truth),
                code_names,
                &settings.head,
                seed,
            )?
            else {
                continue;
            };
            let entry = per_size.entry(n).or_default();
            entry.0.push(f1);
            if kappa.is_finite() {
                entry.1.push(kappa);
            }
        }
    }
    let points: Vec<CurvePoint> = per_size
        .into_iter()
        .filter(|(_, (f1s, kappas))| !f1s.is_empty() && !kappas.is_empty())
        .map(|(n, (f1s, kappas))| CurvePoint {
            n_train: n,
            macro_f1: mean(&f1s),
            macro_kappa: mean(&kappas),
            f1_interval: interval(&f1s),
            kappa_interval: interval(&kappas),
            repeats: f1s.len(),
        })
        .collect();
    let fit = fit_power_law(&points);
    let largest = points.last().map_or(0, |p| p.n_train);
    let estimate = fit.and_then(|f| f.size_for(settings.target_kappa));
    let extrapolated = estimate.is_some_and(|n| n > largest as f64);
    let verdict = verdict(fit, estimate, extrapolated, largest, settings.target_kappa);
    Ok(Curve {
        points,
        target_kappa: settings.target_kappa,
        estimated_n_for_target: estimate.map(f64::ceil),
        extrapolated,
        fit,
        held_out: held_out_size,
        repeats: settings.repeats.max(1),
        verdict,
    })
}

impl Curve {
    /// The curve as a markdown table with its verdict (the CLI's table and the model card's).
    pub fn markdown(&self) -> String {
        let mut t = String::from(
            "| coded units | macro-F1 | 95% range | macro kappa | 95% range | repeats |\n|---|---|---|---|---|---|\n",
        );
        for p in &self.points {
            t.push_str(&format!(
                "| {} | {:.3} | {:.3} to {:.3} | {:.3} | {:.3} to {:.3} | {} |\n",
                p.n_train,
                p.macro_f1,
                p.f1_interval[0],
                p.f1_interval[1],
                p.macro_kappa,
                p.kappa_interval[0],
                p.kappa_interval[1],
                p.repeats
            ));
        }
        t.push_str(&format!(
            "\nEach row: a linear head on frozen mean-pooled features trained on that many units (a fifth of them for early stopping and thresholds), scored on {} held-out units, over {} repeats with other hold-outs; ranges are the 2.5th to 97.5th percentiles over repeats.",
            self.held_out, self.repeats
        ));
        if let Some(f) = self.fit {
            t.push_str(&format!(
                " Fitted curve: kappa = {:.3} - {:.3} * n^-{:.3}.",
                f.asymptote, f.scale, f.exponent
            ));
        }
        t.push_str(&format!(" Estimate: {}.\n", self.verdict));
        t
    }
}

fn verdict(
    fit: Option<PowerLaw>,
    estimate: Option<f64>,
    extrapolated: bool,
    largest: usize,
    target: f64,
) -> String {
    match (fit, estimate) {
        (None, _) => "too few sizes with a score to fit a curve (at least three are needed), or the scores do not rise with more data".into(),
        (Some(f), None) => format!(
            "the fitted curve levels off at macro kappa {:.2}, below the target {target:.2}: more units coded the same way are unlikely to reach it; look at the codebook and the coders' agreement",
            f.asymptote
        ),
        (Some(_), Some(n)) if n > 4.0 * largest as f64 => format!(
            "about {} coded units for macro kappa {target:.2}: an extrapolation far beyond the {largest} measured, so an order of magnitude at best",
            n.ceil()
        ),
        (Some(_), Some(n)) if extrapolated => format!(
            "about {} coded units for macro kappa {target:.2}: an extrapolation beyond the {largest} measured, so a rough guide",
            n.ceil()
        ),
        (Some(_), Some(n)) => format!(
            "macro kappa {target:.2} is reached at about {} coded units, within the {largest} measured",
            n.ceil()
        ),
    }
}

/// The training sizes that fit in a pool of `pool` units.
fn sizes(given: Option<&[usize]>, pool: usize) -> Vec<usize> {
    let mut out: Vec<usize> = match given {
        Some(sizes) => sizes.iter().copied().filter(|&n| n <= pool).collect(),
        None => std::iter::successors(Some(25usize), |n| Some(n * 2))
            .take_while(|&n| n < pool)
            .chain(std::iter::once(pool))
            .collect(),
    };
    out.retain(|&n| n >= 10);
    out.sort_unstable();
    out.dedup();
    out
}

fn index_tensor(indices: &[usize]) -> Result<Tensor> {
    Ok(Tensor::from_vec(
        indices.iter().map(|&i| i as u32).collect::<Vec<_>>(),
        indices.len(),
        &Device::Cpu,
    )?)
}

/// Trains on `sample` as `train` would on that many units and scores the held-out units:
/// (macro-F1, macro kappa), or `None` when some code has no positive to learn from.
fn fit_and_score(
    features: &Tensor,
    items: &[Labelled],
    sample: &[usize],
    (held_x, held_truth): (&Tensor, &[Vec<bool>]),
    code_names: &[String],
    settings: &HeadSettings,
    seed: u64,
) -> Result<Option<(f64, f64)>> {
    let codes = code_names.len();
    let sampled: Vec<Labelled> = sample.iter().map(|&i| items[i].clone()).collect();
    let (inner_train, inner_dev) = split::stratified(&sampled, 0.2, seed);
    let train_items: Vec<&Labelled> = inner_train.iter().map(|&i| &sampled[i]).collect();
    if inner_dev.is_empty() || (0..codes).any(|c| !train_items.iter().any(|l| l.labels[c])) {
        return Ok(None);
    }
    let rows = |local: &[usize]| -> Result<Tensor> {
        let global: Vec<usize> = local.iter().map(|&i| sample[i]).collect();
        Ok(features.index_select(&index_tensor(&global)?, 0)?)
    };
    let (train_x, dev_x) = (rows(&inner_train)?, rows(&inner_dev)?);
    let dev_truth: Vec<Vec<bool>> = inner_dev
        .iter()
        .map(|&i| sampled[i].labels.clone())
        .collect();
    let data = HeadData {
        train_x: &train_x,
        train_y: &targets(&train_items, codes)?,
        dev_x: &dev_x,
        dev_truth: &dev_truth,
        code_names,
        pos_weight: &positive_weights(&train_items, codes)?,
    };
    let spec = HeadSpec {
        pooling: Pooling::Mean,
        hidden: None,
    };
    let fitted = head::fit(spec, &data, settings, seed)?;
    let (_, input_dim) = features.dims2()?;
    let trained = Head::load(
        VarBuilder::from_varmap(&fitted.varmap, DType::F32, &Device::Cpu),
        input_dim,
        None,
        codes,
    )?;
    let predicted: Vec<Vec<bool>> = trained
        .probabilities(held_x)?
        .into_iter()
        .map(|mut scores| {
            calibrate::apply_all(&fitted.platt, &mut scores);
            over_thresholds(&scores, &fitted.thresholds)
        })
        .collect();
    let report = classification::report(code_names, held_truth, &predicted);
    Ok(Some((report.macro_f1, report.macro_kappa)))
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

/// The 2.5th and 97.5th percentiles (linear interpolation between order statistics).
fn interval(values: &[f64]) -> [f64; 2] {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let position = q * (sorted.len() - 1) as f64;
        let (low, high) = (position.floor() as usize, position.ceil() as usize);
        sorted[low] + (sorted[high] - sorted[low]) * (position - low as f64)
    };
    [at(0.025), at(0.975)]
}

/// Least-squares fit of `kappa = a - b * n^-c` to the points' mean kappas: for each exponent
/// on a grid, `a` and `b` by linear regression on `n^-c`, with `a` held at 1 when the free fit
/// would put it above 1 (kappa cannot exceed 1); the best rising curve is kept. `None` with
/// fewer than three points or when no fit rises.
pub fn fit_power_law(points: &[CurvePoint]) -> Option<PowerLaw> {
    if points.len() < 3 {
        return None;
    }
    let ys: Vec<f64> = points.iter().map(|p| p.macro_kappa).collect();
    let mut best: Option<(f64, PowerLaw)> = None;
    for step in 1..=60 {
        let exponent = f64::from(step) * 0.025;
        let xs: Vec<f64> = points
            .iter()
            .map(|p| (p.n_train as f64).powf(-exponent))
            .collect();
        let (mx, my) = (mean(&xs), mean(&ys));
        let sxx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
        if sxx <= 0.0 {
            continue;
        }
        let sxy: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
        let slope = sxy / sxx; // kappa = intercept + slope * x, so b = -slope
        let mut law = PowerLaw {
            asymptote: my - slope * mx,
            scale: -slope,
            exponent,
        };
        if law.asymptote > 1.0 {
            // with a = 1, b minimises sum (1 - b x - y)^2
            let sx2: f64 = xs.iter().map(|x| x * x).sum();
            let sx1y: f64 = xs.iter().zip(&ys).map(|(x, y)| x * (1.0 - y)).sum();
            law = PowerLaw {
                asymptote: 1.0,
                scale: sx1y / sx2,
                exponent,
            };
        }
        if law.scale <= 0.0 {
            continue;
        }
        let sse: f64 = points
            .iter()
            .map(|p| (law.at(p.n_train as f64) - p.macro_kappa).powi(2))
            .sum();
        if best.as_ref().is_none_or(|(b, _)| sse < *b) {
            best = Some((sse, law));
        }
    }
    best.map(|(_, law)| law)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(n: usize, kappa: f64) -> CurvePoint {
        CurvePoint {
            n_train: n,
            macro_f1: kappa,
            macro_kappa: kappa,
            f1_interval: [kappa; 2],
            kappa_interval: [kappa; 2],
            repeats: 1,
        }
    }

    #[test]
    fn a_power_law_is_recovered_and_inverted() {
        let truth = PowerLaw {
            asymptote: 0.8,
            scale: 1.5,
            exponent: 0.5,
        };
        let points: Vec<CurvePoint> = [25, 50, 100, 200, 400]
            .iter()
            .map(|&n| point(n, truth.at(n as f64)))
            .collect();
        let fit = fit_power_law(&points).unwrap();
        assert!((fit.asymptote - 0.8).abs() < 0.01, "{fit:?}");
        assert!((fit.exponent - 0.5).abs() < 0.03, "{fit:?}");
        let n = fit.size_for(0.7).unwrap();
        // 0.8 - 1.5 / sqrt(n) = 0.7 at n = 225
        assert!((n - 225.0).abs() < 15.0, "{n}");
        assert_eq!(fit.size_for(0.85), None, "above the asymptote");
    }

    #[test]
    fn the_asymptote_never_exceeds_one() {
        // nearly linear in log n: a free fit runs off above 1
        let points: Vec<CurvePoint> = [(25, 0.2), (50, 0.22), (100, 0.3), (200, 0.35), (400, 0.43)]
            .iter()
            .map(|&(n, k)| point(n, k))
            .collect();
        let fit = fit_power_law(&points).unwrap();
        assert!(fit.asymptote <= 1.0, "{fit:?}");
        assert!(fit.size_for(0.7).unwrap() > 400.0);
    }

    #[test]
    fn falling_or_short_curves_give_no_fit() {
        assert_eq!(fit_power_law(&[point(25, 0.5), point(50, 0.6)]), None);
        let falling = [point(25, 0.6), point(50, 0.5), point(100, 0.4)];
        assert_eq!(fit_power_law(&falling), None);
    }

    /// Features that carry each code as a noisy direction among noise dimensions: with 8
    /// times the units the head finds the directions better, by far more than the noise of
    /// floating-point order between CPUs (unlike features of a random encoder).
    #[test]
    fn more_units_score_better_when_the_features_carry_the_codes() {
        let (codes, dims, n) = (3, 48, 700);
        let mut rng = SplitMix::new(42);
        let mut values = Vec::with_capacity(n * dims);
        let items: Vec<Labelled> = (0..n)
            .map(|i| {
                let labels: Vec<bool> = (0..codes).map(|_| rng.next_f32() < 0.35).collect();
                for d in 0..dims {
                    let noise = 2.0 * (rng.next_f32() - 0.5);
                    let signal = match labels.get(d) {
                        Some(true) => 0.5,
                        Some(false) => -0.5,
                        None => 0.0,
                    };
                    values.push(signal + noise);
                }
                Labelled {
                    id: format!("u{i}"),
                    text: String::new(),
                    labels,
                }
            })
            .collect();
        let features = Tensor::from_vec(values, (n, dims), &Device::Cpu).unwrap();
        let code_names: Vec<String> = (0..codes).map(|c| format!("code{c}")).collect();
        let mut settings = CurveSettings::new(3, DEFAULT_TARGET_KAPPA, 7);
        settings.sizes = Some(vec![50, 400]);
        let curve = measure(&features, &items, None, &code_names, &settings).unwrap();
        let f1: Vec<f64> = curve.points.iter().map(|p| p.macro_f1).collect();
        assert_eq!(curve.points.len(), 2, "{curve:?}");
        assert!(f1[1] > f1[0] + 0.05, "{f1:?}");
    }

    #[test]
    fn sizes_double_up_to_the_pool() {
        assert_eq!(sizes(None, 130), vec![25, 50, 100, 130]);
        assert_eq!(sizes(None, 100), vec![25, 50, 100]);
        assert_eq!(sizes(Some(&[5, 40, 500]), 100), vec![40]);
    }

    #[test]
    fn intervals_are_percentiles() {
        assert_eq!(interval(&[0.5]), [0.5, 0.5]);
        let [low, high] = interval(&[0.0, 1.0, 2.0, 3.0, 4.0]);
        assert!((low - 0.1).abs() < 1e-9 && (high - 3.9).abs() < 1e-9);
    }
}
