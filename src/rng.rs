//! A small deterministic random-number generator (SplitMix64) for shuffling, weight
//! initialisation and dropout masks, so that training with the same data and seed gives the
//! same weights on every machine and does not depend on any random-number crate's version.

use serde::{Deserialize, Serialize};

/// SplitMix64 (Steele, Lea and Flood 2014). Its whole state is one `u64`, which training
/// checkpoints save and restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn new(seed: u64) -> Self {
        SplitMix(seed)
    }

    /// A child generator for another purpose, independent of this one's sequence.
    pub fn derive(seed: u64, purpose: u64) -> Self {
        let mut parent = SplitMix(seed ^ purpose.wrapping_mul(0xD1B5_4A32_D192_ED03));
        SplitMix(parent.next_u64())
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1), with 24 bits of precision.
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_uniform_range() {
        let (mut a, mut b) = (SplitMix::new(3), SplitMix::new(3));
        let xs: Vec<f32> = (0..1000).map(|_| a.next_f32()).collect();
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
        assert!(
            xs.iter()
                .zip((0..1000).map(|_| b.next_f32()))
                .all(|(x, y)| *x == y)
        );
        let mean = xs.iter().sum::<f32>() / 1000.0;
        assert!((mean - 0.5).abs() < 0.05, "{mean}");
        assert_ne!(SplitMix::derive(3, 1), SplitMix::derive(3, 2));
    }
}
