//! Multi-label classification metrics: per-code precision, recall, F1, support and Cohen's
//! kappa; micro and macro F1 and macro kappa. Empty denominators count as 0, as
//! scikit-learn's `zero_division=0` does; kappa is undefined (`NaN`, `null` in JSON) where
//! [`agreement::cohen_kappa`] says so, and the macro kappa averages the codes where it is defined.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::metrics::agreement::{self, nan_as_null};

/// Counts for one code.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confusion {
    pub true_positive: u64,
    pub false_positive: u64,
    pub false_negative: u64,
    pub true_negative: u64,
}

impl Confusion {
    pub fn precision(&self) -> f64 {
        ratio(self.true_positive, self.true_positive + self.false_positive)
    }
    pub fn recall(&self) -> f64 {
        ratio(self.true_positive, self.true_positive + self.false_negative)
    }
    pub fn f1(&self) -> f64 {
        ratio(
            2 * self.true_positive,
            2 * self.true_positive + self.false_positive + self.false_negative,
        )
    }
    pub fn support(&self) -> u64 {
        self.true_positive + self.false_negative
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// One code's scores, as `eval --json` prints them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodeScores {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: u64,
    /// Cohen's kappa between the reference and the predictions, on the same scale as
    /// coder-to-coder agreement; `null` when undefined.
    #[serde(with = "nan_as_null")]
    pub cohen_kappa: f64,
}

/// The `eval --json` object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub n: usize,
    pub per_code: BTreeMap<String, CodeScores>,
    pub micro_f1: f64,
    pub macro_f1: f64,
    /// Mean of the per-code kappas that are defined; `null` when none is.
    #[serde(with = "nan_as_null")]
    pub macro_kappa: f64,
}

/// Per-code confusion counts for predictions against references (rows are units, columns codes).
pub fn confusions(
    reference: &[Vec<bool>],
    predicted: &[Vec<bool>],
    codes: usize,
) -> Vec<Confusion> {
    let mut out = vec![Confusion::default(); codes];
    for (r, p) in reference.iter().zip(predicted) {
        for (c, counts) in out.iter_mut().enumerate() {
            match (r[c], p[c]) {
                (true, true) => counts.true_positive += 1,
                (false, true) => counts.false_positive += 1,
                (true, false) => counts.false_negative += 1,
                (false, false) => counts.true_negative += 1,
            }
        }
    }
    out
}

/// The full report.
pub fn report(code_names: &[String], reference: &[Vec<bool>], predicted: &[Vec<bool>]) -> Report {
    let counts = confusions(reference, predicted, code_names.len());
    let total = counts.iter().fold(Confusion::default(), |a, c| Confusion {
        true_positive: a.true_positive + c.true_positive,
        false_positive: a.false_positive + c.false_positive,
        false_negative: a.false_negative + c.false_negative,
        true_negative: a.true_negative + c.true_negative,
    });
    let per_code: BTreeMap<String, CodeScores> = code_names
        .iter()
        .zip(&counts)
        .map(|(name, c)| {
            (
                name.clone(),
                CodeScores {
                    precision: c.precision(),
                    recall: c.recall(),
                    f1: c.f1(),
                    support: c.support(),
                    cohen_kappa: agreement::cohen_kappa(c),
                },
            )
        })
        .collect();
    let macro_f1 = if counts.is_empty() {
        0.0
    } else {
        counts.iter().map(Confusion::f1).sum::<f64>() / counts.len() as f64
    };
    let kappas: Vec<f64> = counts
        .iter()
        .map(agreement::cohen_kappa)
        .filter(|k| !k.is_nan())
        .collect();
    let macro_kappa = if kappas.is_empty() {
        f64::NAN
    } else {
        kappas.iter().sum::<f64>() / kappas.len() as f64
    };
    Report {
        n: reference.len(),
        per_code,
        micro_f1: total.f1(),
        macro_f1,
        macro_kappa,
    }
}

/// A kappa for a table: three decimals, or "n/a" when undefined.
pub fn kappa_text(kappa: f64) -> String {
    if kappa.is_nan() {
        "n/a".into()
    } else {
        format!("{kappa:.3}")
    }
}

/// The F1 of one code at a threshold, for calibration.
pub fn f1_at(scores: &[f32], truth: &[bool], threshold: f32) -> f64 {
    let mut c = Confusion::default();
    for (&s, &t) in scores.iter().zip(truth) {
        match (t, s >= threshold) {
            (true, true) => c.true_positive += 1,
            (false, true) => c.false_positive += 1,
            (true, false) => c.false_negative += 1,
            (false, false) => c.true_negative += 1,
        }
    }
    c.f1()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_hand_computed_values() {
        // code a: TP 2, FP 1, FN 1 -> P 2/3, R 2/3, F1 2/3. code b: TP 0, FP 0, FN 1 -> 0.
        let reference = vec![
            vec![true, false],
            vec![true, true],
            vec![false, false],
            vec![true, false],
        ];
        let predicted = vec![
            vec![true, false],
            vec![true, false],
            vec![true, false],
            vec![false, false],
        ];
        let r = report(&["a".into(), "b".into()], &reference, &predicted);
        let a = &r.per_code["a"];
        assert!((a.precision - 2.0 / 3.0).abs() < 1e-12);
        assert!((a.recall - 2.0 / 3.0).abs() < 1e-12);
        assert!((a.f1 - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(a.support, 3);
        assert_eq!(r.per_code["b"].f1, 0.0);
        assert_eq!(r.per_code["b"].support, 1);
        assert!((r.macro_f1 - 1.0 / 3.0).abs() < 1e-12);
        // micro: TP 2, FP 1, FN 2 -> 4 / 7.
        assert!((r.micro_f1 - 4.0 / 7.0).abs() < 1e-12);
        assert_eq!(r.n, 4);
        // code a: a=2 b=1 c=1 d=0 -> 2(0 - 1) / (3*1 + 3*1) = -1/3; code b: the predictions
        // never use it and the reference once: a=0 b=0 c=1 d=3 -> 0.
        assert!((a.cohen_kappa + 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(r.per_code["b"].cohen_kappa, 0.0);
        assert!((r.macro_kappa + 1.0 / 6.0).abs() < 1e-12);
    }

    #[test]
    fn undefined_kappa_is_null_and_left_out_of_the_macro() {
        // code a is never used by either side: kappa undefined; code b agrees perfectly.
        let reference = vec![vec![false, true], vec![false, false]];
        let r = report(&["a".into(), "b".into()], &reference, &reference);
        assert!(r.per_code["a"].cohen_kappa.is_nan());
        assert_eq!(r.macro_kappa, 1.0);
        let json = serde_json::to_value(&r).unwrap();
        assert!(json["per_code"]["a"]["cohen_kappa"].is_null());
        assert_eq!(json["macro_kappa"], 1.0);
        let back: Report = serde_json::from_value(json).unwrap();
        assert!(back.per_code["a"].cohen_kappa.is_nan());
    }

    #[test]
    fn f1_at_threshold() {
        assert_eq!(f1_at(&[0.9, 0.2, 0.6], &[true, false, true], 0.5), 1.0);
        assert!((f1_at(&[0.9, 0.2, 0.4], &[true, false, true], 0.5) - 2.0 / 3.0).abs() < 1e-12);
    }
}
