//! Sentence features from hidden states. `mean` is the mean over real tokens (padding masked
//! out), as sentence-transformers does for all-MiniLM-L6-v2; `cls` is the first token's state;
//! `mean-cls` is both side by side. With `normalize`, each part is L2-normalised on its own.

use candle_core::{D, Result, Tensor};
use serde::{Deserialize, Serialize};

/// How hidden states become one feature vector per sequence (`head.json`'s `pooling`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Pooling {
    #[default]
    Mean,
    Cls,
    MeanCls,
}

impl Pooling {
    /// Features per sequence for an encoder of width `hidden`.
    pub fn features(self, hidden: usize) -> usize {
        match self {
            Pooling::Mean | Pooling::Cls => hidden,
            Pooling::MeanCls => 2 * hidden,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Pooling::Mean => "mean",
            Pooling::Cls => "cls",
            Pooling::MeanCls => "mean-cls",
        }
    }
}

/// Pools `hidden` (batch, len, dim) under `mask` (batch, len) into (batch, features).
///
/// # Errors
/// On shape mismatches.
pub fn pool(hidden: &Tensor, mask: &Tensor, pooling: Pooling, normalize: bool) -> Result<Tensor> {
    let finish = |x: Tensor| if normalize { l2_normalize(&x) } else { Ok(x) };
    match pooling {
        Pooling::Mean => finish(mean(hidden, mask)?),
        Pooling::Cls => finish(cls(hidden)?),
        Pooling::MeanCls => Tensor::cat(
            &[finish(mean(hidden, mask)?)?, finish(cls(hidden)?)?],
            D::Minus1,
        ),
    }
}

/// The first position's hidden state ([CLS] in BERT tokenisers).
///
/// # Errors
/// On shape mismatches.
pub fn cls(hidden: &Tensor) -> Result<Tensor> {
    hidden.narrow(1, 0, 1)?.squeeze(1)
}

/// Mean of `hidden` (batch, len, dim) over positions where `mask` (batch, len) is 1.
///
/// # Errors
/// On shape mismatches.
pub fn mean(hidden: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let mask = mask.to_dtype(hidden.dtype())?.unsqueeze(2)?;
    let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
    let counts = mask.sum(1)?.clamp(1e-9, f64::MAX)?;
    summed.broadcast_div(&counts)
}

/// Each row divided by its L2 norm.
///
/// # Errors
/// On shape mismatches.
pub fn l2_normalize(xs: &Tensor) -> Result<Tensor> {
    let norms = xs
        .sqr()?
        .sum_keepdim(D::Minus1)?
        .sqrt()?
        .clamp(1e-12, f64::MAX)?;
    xs.broadcast_div(&norms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn mean_ignores_padding() {
        let dev = Device::Cpu;
        let hidden = Tensor::new(&[[[1f32, 2.], [3., 4.], [100., 100.]]], &dev).unwrap();
        let mask = Tensor::new(&[[1f32, 1., 0.]], &dev).unwrap();
        let pooled = mean(&hidden, &mask).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(pooled, vec![vec![2., 3.]]);
        let unit = l2_normalize(&Tensor::new(&[[3f32, 4.]], &dev).unwrap()).unwrap();
        assert_eq!(unit.to_vec2::<f32>().unwrap(), vec![vec![0.6, 0.8]]);
    }

    #[test]
    fn mean_cls_puts_both_side_by_side() {
        let dev = Device::Cpu;
        let hidden = Tensor::new(&[[[3f32, 4.], [0., 2.], [9., 9.]]], &dev).unwrap();
        let mask = Tensor::new(&[[1f32, 1., 0.]], &dev).unwrap();
        let both = pool(&hidden, &mask, Pooling::MeanCls, false).unwrap();
        assert_eq!(both.to_vec2::<f32>().unwrap(), vec![vec![1.5, 3., 3., 4.]]);
        let normed = pool(&hidden, &mask, Pooling::Cls, true).unwrap();
        assert_eq!(normed.to_vec2::<f32>().unwrap(), vec![vec![0.6, 0.8]]);
        assert_eq!(Pooling::MeanCls.features(384), 768);
        let parsed: Pooling = serde_json::from_str("\"mean-cls\"").unwrap();
        assert_eq!(parsed, Pooling::MeanCls);
    }
}
