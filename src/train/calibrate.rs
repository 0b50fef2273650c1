//! Calibration on the dev split, per code: a Platt scaling of the head's scores (so that a
//! score of 0.7 means about seven in ten such segments carry the code), then the threshold in
//! [0.05, 0.95] on the calibrated scores that maximises the code's F1 (ties go to the threshold
//! nearest 0.5).
//!
//! Platt scaling maps a score `p` to `sigmoid(slope * logit(p) + intercept)`, fitted by
//! Newton's method on the dev log loss with Platt's smoothed targets ((positives + 1) /
//! (positives + 2) and 1 / (negatives + 2)), so that a code with few dev positives is not
//! pushed to scores of exactly 0 or 1. The slope is kept positive, so the map never changes
//! the order of scores; where the fit cannot give that (no positives, or scores that carry no
//! information), the code keeps its raw scores.

use serde::{Deserialize, Serialize};

use crate::metrics::classification::{self, Report, f1_at};
use crate::model::head::over_thresholds;

/// One code's Platt scaling: `sigmoid(slope * logit(score) + intercept)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Platt {
    pub slope: f64,
    pub intercept: f64,
}

impl Platt {
    /// The identity map: raw scores unchanged.
    pub const IDENTITY: Platt = Platt {
        slope: 1.0,
        intercept: 0.0,
    };

    /// The calibrated score.
    pub fn apply(&self, score: f32) -> f32 {
        if *self == Self::IDENTITY {
            return score;
        }
        let z = self.slope * logit(score) + self.intercept;
        (1.0 / (1.0 + (-z).exp())) as f32
    }

    /// Fits the scaling to one code's dev scores and truth.
    pub fn fit(scores: &[f32], truth: &[bool]) -> Platt {
        let positives = truth.iter().filter(|&&t| t).count();
        let negatives = truth.len() - positives;
        if positives == 0 || negatives == 0 {
            return Self::IDENTITY;
        }
        let high = (positives as f64 + 1.0) / (positives as f64 + 2.0);
        let low = 1.0 / (negatives as f64 + 2.0);
        let points: Vec<(f64, f64)> = scores
            .iter()
            .zip(truth)
            .map(|(&s, &t)| (logit(s), if t { high } else { low }))
            .collect();
        let loss = |a: f64, b: f64| -> f64 {
            points
                .iter()
                .map(|&(x, t)| {
                    let z = a * x + b;
                    // log(1 + e^z) - t z, computed without overflow
                    z.max(0.0) + (-z.abs()).exp().ln_1p() - t * z
                })
                .sum()
        };
        let (mut a, mut b) = (1.0, 0.0);
        let mut current = loss(a, b);
        for _ in 0..100 {
            let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for &(x, t) in &points {
                let p = 1.0 / (1.0 + (-(a * x + b)).exp());
                let w = (p * (1.0 - p)).max(1e-12);
                ga += (p - t) * x;
                gb += p - t;
                haa += w * x * x;
                hab += w * x;
                hbb += w;
            }
            // a small ridge keeps the Newton system solvable when the scores are all alike
            let (haa, hbb) = (haa + 1e-9, hbb + 1e-9);
            let det = haa * hbb - hab * hab;
            if det.abs() < 1e-18 {
                break;
            }
            let da = (hbb * ga - hab * gb) / det;
            let db = (haa * gb - hab * ga) / det;
            let mut step = 1.0;
            let mut improved = false;
            while step > 1e-8 {
                let (na, nb) = (a - step * da, b - step * db);
                let next = loss(na, nb);
                if next < current {
                    (a, b, current, improved) = (na, nb, next, true);
                    break;
                }
                step /= 2.0;
            }
            if !improved || (da.abs() + db.abs()) * step < 1e-10 {
                break;
            }
        }
        if a.is_finite() && b.is_finite() && a > 1e-6 {
            Platt {
                slope: a,
                intercept: b,
            }
        } else {
            Self::IDENTITY
        }
    }
}

fn logit(score: f32) -> f64 {
    let p = f64::from(score).clamp(1e-7, 1.0 - 1e-7);
    (p / (1.0 - p)).ln()
}

/// Applies one scaling per code to a row of scores, in place.
pub fn apply_all(platt: &[Platt], scores: &mut [f32]) {
    for (s, p) in scores.iter_mut().zip(platt) {
        *s = p.apply(*s);
    }
}

/// The result of calibrating on dev.
#[derive(Debug, Clone)]
pub struct Calibrated {
    /// Per code, in codebook order.
    pub platt: Vec<Platt>,
    /// Per code, on the calibrated scores.
    pub thresholds: Vec<f32>,
    /// Dev scores at those thresholds.
    pub report: Report,
}

/// Fits a Platt scaling and then a threshold per code on dev scores; the dev report at those
/// thresholds.
pub fn fit(scores: &[Vec<f32>], truth: &[Vec<bool>], code_names: &[String]) -> Calibrated {
    let platt: Vec<Platt> = (0..code_names.len())
        .map(|c| {
            let column: Vec<f32> = scores.iter().map(|s| s[c]).collect();
            let labels: Vec<bool> = truth.iter().map(|t| t[c]).collect();
            Platt::fit(&column, &labels)
        })
        .collect();
    let calibrated: Vec<Vec<f32>> = scores
        .iter()
        .map(|row| {
            let mut row = row.clone();
            apply_all(&platt, &mut row);
            row
        })
        .collect();
    let thresholds: Vec<f32> = (0..code_names.len())
        .map(|c| {
            let column: Vec<f32> = calibrated.iter().map(|s| s[c]).collect();
            let labels: Vec<bool> = truth.iter().map(|t| t[c]).collect();
            threshold(&column, &labels)
        })
        .collect();
    let predicted: Vec<Vec<bool>> = calibrated
        .iter()
        .map(|s| over_thresholds(s, &thresholds))
        .collect();
    let report = classification::report(code_names, truth, &predicted);
    Calibrated {
        platt,
        thresholds,
        report,
    }
}

/// The best threshold for one code.
pub fn threshold(scores: &[f32], truth: &[bool]) -> f32 {
    let mut best = (f64::MIN, 0.5f32);
    for step in 5..=95 {
        let t = step as f32 / 100.0;
        let f1 = f1_at(scores, truth, t);
        let better = f1 > best.0 + 1e-12
            || ((f1 - best.0).abs() <= 1e-12 && (t - 0.5).abs() < (best.1 - 0.5).abs());
        if better {
            best = (f1, t);
        }
    }
    best.1
}

/// One bin of a reliability table: scores in `[low, high)` (the last bin includes 1).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReliabilityBin {
    pub low: f64,
    pub high: f64,
    /// Code decisions (segment × code) whose score fell in the bin.
    pub n: usize,
    pub mean_score: f64,
    /// Share of them that the reference codes.
    pub observed_rate: f64,
}

/// Reliability of scores against truth, pooled over codes, in `bins` equal-width bins; empty
/// bins are left out. Also returns the expected calibration error (the n-weighted mean gap
/// between mean score and observed rate).
pub fn reliability(
    scores: &[Vec<f32>],
    truth: &[Vec<bool>],
    bins: usize,
) -> (Vec<ReliabilityBin>, f64) {
    let mut sums = vec![(0usize, 0.0f64, 0usize); bins];
    for (row, labels) in scores.iter().zip(truth) {
        for (&s, &t) in row.iter().zip(labels) {
            let b = ((f64::from(s) * bins as f64) as usize).min(bins - 1);
            sums[b].0 += 1;
            sums[b].1 += f64::from(s);
            sums[b].2 += usize::from(t);
        }
    }
    let total: usize = sums.iter().map(|s| s.0).sum();
    let mut ece = 0.0;
    let table = sums
        .iter()
        .enumerate()
        .filter(|(_, s)| s.0 > 0)
        .map(|(b, &(n, sum, hits))| {
            let mean_score = sum / n as f64;
            let observed_rate = hits as f64 / n as f64;
            ece += n as f64 / total as f64 * (mean_score - observed_rate).abs();
            ReliabilityBin {
                low: b as f64 / bins as f64,
                high: (b + 1) as f64 / bins as f64,
                n,
                mean_score,
                observed_rate,
            }
        })
        .collect();
    (table, ece)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_separating_threshold() {
        let scores = [0.1, 0.2, 0.3, 0.35, 0.8];
        let truth = [false, false, true, true, true];
        let t = threshold(&scores, &truth);
        assert!(t > 0.2 && t <= 0.3, "{t}");
    }

    #[test]
    fn ties_prefer_one_half() {
        assert_eq!(threshold(&[0.01, 0.99], &[false, true]), 0.5);
    }

    /// Scores that are overconfident (true rate 0.75 where the score says 0.95, 0.25 where it
    /// says 0.05) are pulled towards the observed rates, and their order is kept.
    #[test]
    fn platt_corrects_overconfident_scores() {
        let mut scores = Vec::new();
        let mut truth = Vec::new();
        for i in 0..400 {
            let high = i % 2 == 0;
            scores.push(if high { 0.95 } else { 0.05 });
            truth.push(if high { i % 8 != 0 } else { i % 8 == 1 });
        }
        let platt = Platt::fit(&scores, &truth);
        assert!(platt.slope > 0.0);
        let (hi, lo) = (platt.apply(0.95), platt.apply(0.05));
        assert!((hi - 0.75).abs() < 0.02, "{hi}");
        assert!((lo - 0.25).abs() < 0.02, "{lo}");
        assert!(platt.apply(0.6) > platt.apply(0.4));
    }

    #[test]
    fn platt_leaves_uninformative_codes_alone() {
        assert_eq!(Platt::fit(&[0.3, 0.6], &[false, false]), Platt::IDENTITY);
        assert_eq!(Platt::IDENTITY.apply(0.123), 0.123);
    }

    #[test]
    fn calibrated_thresholds_keep_the_dev_decisions_separable() {
        let scores: Vec<Vec<f32>> = [0.1, 0.2, 0.3, 0.35, 0.8]
            .iter()
            .map(|&s| vec![s])
            .collect();
        let truth: Vec<Vec<bool>> = [false, false, true, true, true]
            .iter()
            .map(|&t| vec![t])
            .collect();
        let fitted = fit(&scores, &truth, &["a".into()]);
        assert_eq!(fitted.report.per_code["a"].f1, 1.0);
    }

    #[test]
    fn reliability_bins_pool_codes() {
        let scores = vec![vec![0.05, 0.95], vec![0.15, 0.92]];
        let truth = vec![vec![false, true], vec![true, true]];
        let (table, ece) = reliability(&scores, &truth, 10);
        assert_eq!(table.len(), 3);
        assert_eq!(table[0].n, 1);
        assert_eq!(table[2].n, 2);
        assert_eq!(table[2].observed_rate, 1.0);
        assert!(ece > 0.0 && ece < 1.0);
    }
}
