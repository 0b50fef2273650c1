//! Per-code threshold calibration on the dev split: the threshold in [0.05, 0.95] that
//! maximises the code's F1; ties go to the threshold nearest 0.5.

use crate::metrics::classification::{self, Report, f1_at};
use crate::model::head::over_thresholds;

/// One threshold per code chosen on dev scores, and the dev report at those thresholds.
pub fn thresholds_and_report(
    scores: &[Vec<f32>],
    truth: &[Vec<bool>],
    code_names: &[String],
) -> (Vec<f32>, Report) {
    let thresholds: Vec<f32> = (0..code_names.len())
        .map(|c| {
            let column: Vec<f32> = scores.iter().map(|s| s[c]).collect();
            let labels: Vec<bool> = truth.iter().map(|t| t[c]).collect();
            threshold(&column, &labels)
        })
        .collect();
    let predicted: Vec<Vec<bool>> = scores
        .iter()
        .map(|s| over_thresholds(s, &thresholds))
        .collect();
    let report = classification::report(code_names, truth, &predicted);
    (thresholds, report)
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
}
