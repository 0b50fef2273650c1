//! Dropout with a seeded generator, for training only: each call zeroes a fresh random share
//! `p` of the elements and scales the rest by 1 / (1 - p). candle-nn's dropout draws from an
//! unseeded generator, which would make training runs differ for the same seed.

use std::cell::Cell;

use candle_core::{Result, Tensor};

use crate::rng::SplitMix;

/// A dropout layer whose masks come from a [`SplitMix`] generator it owns.
#[derive(Debug)]
pub struct Dropout {
    p: f32,
    rng: Cell<SplitMix>,
}

impl Dropout {
    pub fn new(p: f32, rng: SplitMix) -> Self {
        Dropout {
            p: p.clamp(0.0, 0.95),
            rng: Cell::new(rng),
        }
    }

    /// The generator's state, to checkpoint.
    pub fn state(&self) -> SplitMix {
        self.rng.get()
    }

    pub fn set_state(&self, state: SplitMix) {
        self.rng.set(state);
    }

    /// `xs` with a share `p` of elements zeroed and the rest scaled up.
    ///
    /// # Errors
    /// On tensor failures.
    pub fn apply(&self, xs: &Tensor) -> Result<Tensor> {
        if self.p == 0.0 {
            return Ok(xs.clone());
        }
        let mut rng = self.rng.get();
        let keep = 1.0 / (1.0 - self.p);
        let mask: Vec<f32> = (0..xs.elem_count())
            .map(|_| if rng.next_f32() < self.p { 0.0 } else { keep })
            .collect();
        self.rng.set(rng);
        let mask = Tensor::from_vec(mask, xs.shape(), xs.device())?.to_dtype(xs.dtype())?;
        xs.mul(&mask)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn drops_about_p_and_keeps_the_expectation() {
        let xs = Tensor::ones(10_000, candle_core::DType::F32, &Device::Cpu).unwrap();
        let dropout = Dropout::new(0.1, SplitMix::new(1));
        let out = dropout.apply(&xs).unwrap().to_vec1::<f32>().unwrap();
        let zeros = out.iter().filter(|&&x| x == 0.0).count();
        assert!((800..1200).contains(&zeros), "{zeros}");
        let mean = out.iter().sum::<f32>() / out.len() as f32;
        assert!((mean - 1.0).abs() < 0.03, "{mean}");
        let again = Dropout::new(0.1, SplitMix::new(1)).apply(&xs).unwrap();
        assert_eq!(again.to_vec1::<f32>().unwrap(), out, "same seed, same mask");
    }
}
