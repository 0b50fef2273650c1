//! Element-wise and row-wise operations of the inference engine, in plain Rust written so the
//! compiler vectorises them: no branches in the inner loops, sums kept in [`LANES`] partial
//! sums, `exp` and `erf` as polynomials instead of calls into libm.
//!
//! Every function here is `#[inline(always)]`: the engine calls them from a function compiled
//! for the CPU's vector instructions (see `gemm::Isa`), where they are vectorised for it.

/// Partial sums per reduction: enough for a 512-bit register of f32.
pub const LANES: usize = 16;

/// The activation between a transformer layer's two feed-forward layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `x Φ(x)` with the exact (erf-based) normal CDF.
    GeluErf,
    /// The tanh approximation of GELU.
    GeluTanh,
    Relu,
}

/// Applies `act` in place.
#[inline(always)]
pub fn activate(act: Activation, xs: &mut [f32]) {
    match act {
        Activation::GeluErf => {
            for x in xs.iter_mut() {
                *x = gelu_erf(*x);
            }
        }
        Activation::GeluTanh => {
            for x in xs.iter_mut() {
                *x = gelu_tanh(*x);
            }
        }
        Activation::Relu => {
            for x in xs.iter_mut() {
                *x = x.max(0.0);
            }
        }
    }
}

#[inline(always)]
pub fn gelu_erf(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

#[inline(always)]
pub fn gelu_tanh(x: f32) -> f32 {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    let inner = SQRT_2_OVER_PI * (x + 0.044_715 * x * x * x);
    0.5 * x * (1.0 + tanh(inner))
}

/// `tanh(y) = 1 - 2 / (exp(2y) + 1)`, exact to f32 rounding away from 0 and within 1e-7
/// absolute near it.
#[inline(always)]
pub fn tanh(y: f32) -> f32 {
    1.0 - 2.0 / (exp(2.0 * y) + 1.0)
}

/// `e^x` for f32: `x = n ln 2 + r` with |r| ≤ ln 2 / 2, a degree-6 polynomial for `e^r`
/// (Cephes `expf` coefficients), and `2^n` built from its exponent bits. Relative error below
/// 2e-7; inputs are clamped to the normal range, so `exp(-inf)` is the smallest normal, not 0.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.3, 88.7);
    let n = (x * std::f32::consts::LOG2_E).round_ties_even();
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4_f32;
    p = p.mul_add(r, 1.398_2e-3);
    p = p.mul_add(r, 8.333_452e-3);
    p = p.mul_add(r, 4.166_579_6e-2);
    p = p.mul_add(r, 1.666_666_5e-1);
    p = p.mul_add(r, 5e-1);
    let y = p.mul_add(r * r, r) + 1.0;
    // n as an integer without a saturating `as` cast, which the compiler cannot vectorise:
    // adding 1.5 * 2^23 puts an integral n in the low mantissa bits.
    let n_bits = (n + 12_582_912.0).to_bits().wrapping_sub(0x4b40_0000);
    y * f32::from_bits(n_bits.wrapping_add(127) << 23)
}

/// The error function as a rational function of x on [-4, 4] (beyond which erf is ±1 in f32):
/// the minimax fit of Eigen's `generic_fast_erf_float`, one division and no `exp`.
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = -2.726_142_3e-10_f32;
    p = p.mul_add(x2, 2.770_681_4e-8);
    p = p.mul_add(x2, -2.101_024e-6);
    p = p.mul_add(x2, -5.692_506_3e-5);
    p = p.mul_add(x2, -7.349_906_3e-4);
    p = p.mul_add(x2, -2.954_600_1e-3);
    p = p.mul_add(x2, -1.609_603_3e-2);
    let mut q = -1.456_607_2e-5_f32;
    q = q.mul_add(x2, -2.133_740_5e-4);
    q = q.mul_add(x2, -1.682_827e-3);
    q = q.mul_add(x2, -7.373_329e-3);
    q = q.mul_add(x2, -1.426_474e-2);
    x * p / q
}

/// Largest of `xs` (`-inf` for none), in [`LANES`] partial maxima.
#[inline(always)]
pub fn max(xs: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let mut chunks = xs.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (a, &x) in acc.iter_mut().zip(chunk) {
            *a = a.max(x);
        }
    }
    chunks
        .remainder()
        .iter()
        .chain(&acc)
        .copied()
        .fold(f32::NEG_INFINITY, f32::max)
}

/// Sum of `xs`, in [`LANES`] partial sums.
#[inline(always)]
pub fn sum(xs: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let mut chunks = xs.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (a, &x) in acc.iter_mut().zip(chunk) {
            *a += x;
        }
    }
    acc.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
}

/// Sum of squares of `xs - centre`, in [`LANES`] partial sums.
#[inline(always)]
pub fn sum_sq_dev(xs: &[f32], centre: f32) -> f32 {
    let mut acc = [0f32; LANES];
    let mut chunks = xs.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (a, &x) in acc.iter_mut().zip(chunk) {
            let d = x - centre;
            *a = d.mul_add(d, *a);
        }
    }
    let tail: f32 = chunks
        .remainder()
        .iter()
        .map(|&x| (x - centre) * (x - centre))
        .sum();
    acc.iter().sum::<f32>() + tail
}

/// Dot product in [`LANES`] partial sums.
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let mut ca = a.chunks_exact(LANES);
    let mut cb = b.chunks_exact(LANES);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for ((s, &p), &q) in acc.iter_mut().zip(x).zip(y) {
            *s = p.mul_add(q, *s);
        }
    }
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(p, q)| p * q)
        .sum();
    acc.iter().sum::<f32>() + tail
}

/// Layer normalisation of each `width`-wide row of `xs`, in place: `(x - mean) / sqrt(var +
/// eps) * gamma + beta`, with the biased variance, as BERT uses it.
#[inline(always)]
pub fn layer_norm_rows(xs: &mut [f32], width: usize, gamma: &[f32], beta: &[f32], eps: f32) {
    for row in xs.chunks_exact_mut(width) {
        let mean = sum(row) / width as f32;
        let var = sum_sq_dev(row, mean) / width as f32;
        let inv = 1.0 / (var + eps).sqrt();
        for ((x, &g), &b) in row.iter_mut().zip(gamma).zip(beta) {
            *x = (*x - mean) * inv * g + b;
        }
    }
}

/// Softmax of `xs` in place.
#[inline(always)]
pub fn softmax(xs: &mut [f32]) {
    let max = max(xs);
    for x in xs.iter_mut() {
        *x = exp(*x - max);
    }
    let inv = 1.0 / sum(xs);
    for x in xs.iter_mut() {
        *x *= inv;
    }
}

/// `acc += scale * xs`.
#[inline(always)]
pub fn axpy(acc: &mut [f32], scale: f32, xs: &[f32]) {
    for (a, &x) in acc.iter_mut().zip(xs) {
        *a = scale.mul_add(x, *a);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn erf_f64(x: f64) -> f64 {
        // Abramowitz and Stegun 7.1.26 is too coarse for a reference; integrate instead.
        let n = 20_000;
        let h = x / n as f64;
        let f = |t: f64| (-t * t).exp();
        let mut s = f(0.0) + f(x);
        for i in 1..n {
            s += f(i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
        }
        s * h / 3.0 * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn exp_is_within_two_ulps_over_the_useful_range() {
        let mut worst = 0f64;
        for i in -8000..=8000 {
            let x = i as f32 / 100.0;
            let got = f64::from(exp(x));
            let want = f64::from(x).exp();
            worst = worst.max(((got - want) / want).abs());
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(-1e30) >= 0.0 && exp(-1e30) < 1e-37);
    }

    #[test]
    fn erf_matches_the_integral() {
        for i in -60..=60 {
            let x = i as f32 / 10.0;
            let want = erf_f64(f64::from(x));
            let got = f64::from(erf(x));
            assert!((got - want).abs() < 3e-7, "erf({x}) = {got}, want {want}");
        }
    }

    #[test]
    fn gelu_matches_its_definitions() {
        for i in -100..=100 {
            let x = i as f32 / 10.0;
            let xd = f64::from(x);
            let exact = 0.5 * xd * (1.0 + erf_f64(xd / 2f64.sqrt()));
            assert!((f64::from(gelu_erf(x)) - exact).abs() < 1e-6 * (1.0 + xd.abs()));
            let tanh_form = 0.5
                * xd
                * (1.0
                    + ((2.0 / std::f64::consts::PI).sqrt() * (xd + 0.044715 * xd.powi(3))).tanh());
            assert!((f64::from(gelu_tanh(x)) - tanh_form).abs() < 1e-6 * (1.0 + xd.abs()));
        }
    }

    #[test]
    fn layer_norm_and_softmax_agree_with_direct_formulas() {
        let width = 37;
        let mut row: Vec<f32> = (0..width)
            .map(|i| ((i * 7919) % 101) as f32 / 13.0 - 3.0)
            .collect();
        let gamma: Vec<f32> = (0..width).map(|i| 1.0 + i as f32 / 100.0).collect();
        let beta: Vec<f32> = (0..width).map(|i| i as f32 / 50.0).collect();
        let x: Vec<f64> = row.iter().map(|&v| f64::from(v)).collect();
        let mean = x.iter().sum::<f64>() / width as f64;
        let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / width as f64;
        layer_norm_rows(&mut row, width, &gamma, &beta, 1e-12);
        for i in 0..width {
            let want = (x[i] - mean) / var.sqrt() * f64::from(gamma[i]) + f64::from(beta[i]);
            assert!((f64::from(row[i]) - want).abs() < 1e-5, "{i}");
        }
        let mut scores = vec![1.0f32, 2.0, 3.0, -1e9];
        softmax(&mut scores);
        let z: f64 = [1f64, 2., 3.].iter().map(|v| v.exp()).sum();
        for (i, v) in [1f64, 2., 3.].iter().enumerate() {
            assert!((f64::from(scores[i]) - v.exp() / z).abs() < 1e-7);
        }
        assert!(scores[3] < 1e-30);
        assert_eq!(dot(&[1.0; 40], &[2.0; 40]), 80.0);
        let values: Vec<f32> = (0..37).map(|i| ((i * 17) % 37) as f32).collect();
        assert_eq!(max(&values), 36.0);
        assert_eq!(max(&[]), f32::NEG_INFINITY);
    }
}
