//! Matrix products of the inference engine: `out = act(a · wᵀ + bias) (+ residual)`, where `a`
//! is the (tokens, inputs) activation matrix and `w` a linear layer's (outputs, inputs) weight.
//!
//! Weights are packed once, at load, into panels of `NR` output columns laid out input by input,
//! the layout a register-blocked microkernel streams through; activations are packed per block
//! of rows into panels of `MR` rows. The microkernel keeps an `MR × NR` tile of sums in
//! registers over the whole inner dimension, and the epilogue (bias, activation, residual) runs
//! on that tile while it is in L1, so every output element is written once.
//!
//! Inputs wider than [`K_BLOCK_STEPS`] are summed in blocks of that many steps, so that a
//! block of rows stays tall (and each weight slice is reused over many rows) however wide
//! the inputs are; each block's sums are added to those before it, in block order. Every
//! output element is therefore the same sequence of operations whatever the number of rows
//! or their blocking, so a segment's result does not depend on which batch it ran in.
//!
//! Kernels ([`Kernel`]), chosen at run time from what the CPU has:
//! - AVX-512F, f32, 12 × 32;
//! - AVX-512 BF16 (`vdpbf16ps`), bf16 products summed in f32, 12 × 32;
//! - AVX2 + FMA, f32, 6 × 16;
//! - portable Rust, f32, 4 × 16, for every other CPU;
//! - int8: AVX-512 VNNI (`vpdpbusd` on 512 bits), 12 × 32; AVX-VNNI (the same on 256 bits),
//!   6 × 16; AVX2 without VNNI (`vpmaddwd` on values widened to 16 bits), 6 × 16; portable
//!   Rust, 4 × 16.
//!
//! `bf16` without AVX-512 BF16 rounds weights and activations to bf16 and multiplies them with
//! an f32 kernel, so results match the native kernel's up to summation order.
//!
//! `int8` quantises each weight row (an output channel) to int8 once, at packing, with its own
//! scale (`max |w| / 127`), and each activation row to uint8 with its own scale and zero point
//! as it is packed (dynamic quantisation: the range is that row's, so a token's result does not
//! depend on its batch). `vpdpbusd` multiplies unsigned by signed bytes and sums in int32; the
//! zero point is taken out afterwards with each weight row's sum:
//! `Σ (qa - z) qw = Σ qa qw - z Σ qw`. The integer sums are exact, so every int8 kernel gives
//! the same bits.

use super::ops::{self, Activation};

/// The largest `MR × NR` of any kernel: the size of the tile buffer.
const MAX_TILE: usize = AVX512_ROWS * 32;
/// Rows of the AVX-512 kernels' tiles: 2 × 12 sums and 2 weight vectors leave registers
/// for the compiler (14 rows measured slower).
const AVX512_ROWS: usize = 12;
/// Bytes of packed activations per row block and inner-dimension block, sized to stay in L2
/// with a weight panel's slice.
const A_BLOCK_BYTES: usize = 384 * 1024;
/// Steps (f32 inputs, bf16 pairs, int8 quads) per inner-dimension block: wider inputs are
/// summed block by block, each block's sums added to the ones before in block order.
const K_BLOCK_STEPS: usize = 768;

/// The number format of the products.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// f32 products and sums: the reference.
    #[default]
    F32,
    /// Weights and activations rounded to bfloat16, products summed in f32.
    Bf16,
    /// Weights quantised to int8 per output channel, activations to uint8 per row, products
    /// summed in int32.
    Int8,
}

impl Precision {
    /// The name `--precision` takes.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "fp32",
            Precision::Bf16 => "bf16",
            Precision::Int8 => "int8",
        }
    }

    /// The precision `--precision` names.
    pub fn from_name(name: &str) -> Option<Precision> {
        [Precision::F32, Precision::Bf16, Precision::Int8]
            .into_iter()
            .find(|p| p.name() == name)
    }
}

/// A microkernel and the instruction set it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    Avx512F32,
    Avx512Bf16,
    Avx2F32,
    PortableF32,
    Avx512Vnni,
    AvxVnni,
    Avx2Int8,
    PortableInt8,
}

/// The vector instruction sets the engine has code for, from least to most capable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Isa {
    /// Plain Rust, vectorised by the compiler for the build's baseline.
    Portable,
    /// AVX2 and FMA.
    Avx2,
    /// AVX-512 F, BW and VL (with AVX2 and FMA).
    Avx512,
}

/// The variable that caps the instruction set, to test or measure the fallbacks on a CPU that
/// has more: `avx512`, `avx2` or `portable`.
pub const ISA_VARIABLE: &str = "DISCOTAG_ISA";

impl Isa {
    /// The best this CPU runs.
    pub fn cpu() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            let avx2 = has!("avx2") && has!("fma");
            if avx2 && has!("avx512f") && has!("avx512bw") && has!("avx512vl") {
                return Isa::Avx512;
            }
            if avx2 {
                return Isa::Avx2;
            }
        }
        Isa::Portable
    }

    /// The best this CPU runs, capped by [`ISA_VARIABLE`] when it is set.
    ///
    /// # Errors
    /// When the variable names no instruction set.
    pub fn from_env() -> Result<Isa, String> {
        let cpu = Isa::cpu();
        match std::env::var(ISA_VARIABLE).as_deref() {
            Err(_) | Ok("") => Ok(cpu),
            Ok(name) => {
                let cap = match name.to_ascii_lowercase().as_str() {
                    "avx512" => Isa::Avx512,
                    "avx2" => Isa::Avx2,
                    "portable" => Isa::Portable,
                    _ => {
                        return Err(format!(
                            "{ISA_VARIABLE}={name:?}: expected avx512, avx2 or portable"
                        ));
                    }
                };
                Ok(cpu.min(cap))
            }
        }
    }

    /// Whether the CPU has AVX-512 BF16, for the bf16 kernel.
    fn has_bf16() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            std::arch::is_x86_feature_detected!("avx512bf16")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    /// Whether the CPU has AVX-512 VNNI, for the 512-bit int8 kernel.
    fn has_avx512_vnni() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            std::arch::is_x86_feature_detected!("avx512vnni")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    /// Whether the CPU has AVX-VNNI (the VEX-encoded, 256-bit `vpdpbusd`).
    fn has_avx_vnni() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            std::arch::is_x86_feature_detected!("avxvnni")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }
}

impl Kernel {
    /// The kernel for a precision within an instruction set (which the CPU must have). bf16
    /// without AVX-512 BF16 uses the f32 kernel on bf16-rounded values.
    pub fn choose(precision: Precision, isa: Isa) -> Kernel {
        if precision == Precision::Int8 {
            return match isa {
                Isa::Avx512 if Isa::has_avx512_vnni() => Kernel::Avx512Vnni,
                Isa::Avx512 | Isa::Avx2 if Isa::has_avx_vnni() => Kernel::AvxVnni,
                Isa::Avx512 | Isa::Avx2 => Kernel::Avx2Int8,
                Isa::Portable => Kernel::PortableInt8,
            };
        }
        match isa {
            Isa::Avx512 if precision == Precision::Bf16 && Isa::has_bf16() => Kernel::Avx512Bf16,
            Isa::Avx512 => Kernel::Avx512F32,
            Isa::Avx2 => Kernel::Avx2F32,
            Isa::Portable => Kernel::PortableF32,
        }
    }

    /// A short name for logs and benchmark records.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Avx512F32 => "avx512-f32",
            Kernel::Avx512Bf16 => "avx512-bf16",
            Kernel::Avx2F32 => "avx2-f32",
            Kernel::PortableF32 => "portable-f32",
            Kernel::Avx512Vnni => "avx512-vnni-int8",
            Kernel::AvxVnni => "avx-vnni-int8",
            Kernel::Avx2Int8 => "avx2-int8",
            Kernel::PortableInt8 => "portable-int8",
        }
    }

    /// Whether the kernel multiplies quantised bytes.
    pub fn is_int8(self) -> bool {
        matches!(
            self,
            Kernel::Avx512Vnni | Kernel::AvxVnni | Kernel::Avx2Int8 | Kernel::PortableInt8
        )
    }

    fn tile(self) -> (usize, usize) {
        match self {
            Kernel::Avx512F32 | Kernel::Avx512Bf16 | Kernel::Avx512Vnni => (AVX512_ROWS, 32),
            Kernel::Avx2F32 | Kernel::AvxVnni | Kernel::Avx2Int8 => (6, 16),
            Kernel::PortableF32 | Kernel::PortableInt8 => (4, 16),
        }
    }

    /// Inner-dimension steps per input count: bf16 pairs two inputs per step, int8 four
    /// (AVX2 without VNNI two, widened to 16 bits).
    fn steps(self, k: usize) -> usize {
        k.div_ceil(self.inputs_per_step())
    }

    fn inputs_per_step(self) -> usize {
        match self {
            Kernel::Avx512Bf16 | Kernel::Avx2Int8 => 2,
            _ if self.is_int8() => 4,
            _ => 1,
        }
    }
}

/// A linear layer packed for one kernel.
pub struct PackedLinear {
    kernel: Kernel,
    /// Whether activations are rounded to bf16 before an f32 kernel (bf16 without the CPU's
    /// bf16 instructions).
    round_inputs: bool,
    inputs: usize,
    outputs: usize,
    /// Panels of `NR` outputs; each is `steps × NR` elements (f32 bits, two bf16 or four int8
    /// per u32).
    panels: Vec<u32>,
    bias: Vec<f32>,
    /// int8 only: each output's weight scale and the sum of its quantised weights.
    weight_scales: Vec<f32>,
    weight_sums: Vec<i32>,
}

impl PackedLinear {
    /// Packs a weight matrix given row-major as (outputs, inputs), with its bias, for a kernel
    /// this CPU runs (see [`Kernel::choose`]).
    pub fn new(
        weight: &[f32],
        outputs: usize,
        inputs: usize,
        bias: &[f32],
        precision: Precision,
        kernel: Kernel,
    ) -> Self {
        assert_eq!(weight.len(), outputs * inputs, "weight shape");
        assert_eq!(bias.len(), outputs, "bias length");
        assert_eq!(
            precision == Precision::Int8,
            kernel.is_int8(),
            "{kernel:?} does not run {precision:?}"
        );
        if kernel.is_int8() {
            return Self::new_int8(weight, outputs, inputs, bias, kernel);
        }
        let round_inputs = precision == Precision::Bf16 && kernel != Kernel::Avx512Bf16;
        let (_, nr) = kernel.tile();
        let steps = kernel.steps(inputs);
        let n_panels = outputs.div_ceil(nr);
        let mut panels = vec![0u32; n_panels * steps * nr];
        let at = |o: usize, i: usize| -> f32 {
            if o < outputs && i < inputs {
                weight[o * inputs + i]
            } else {
                0.0
            }
        };
        for p in 0..n_panels {
            let panel = &mut panels[p * steps * nr..(p + 1) * steps * nr];
            for s in 0..steps {
                for j in 0..nr {
                    let o = p * nr + j;
                    panel[s * nr + j] = match (kernel, round_inputs) {
                        (Kernel::Avx512Bf16, _) => bf16_pair(at(o, 2 * s), at(o, 2 * s + 1)),
                        (_, true) => round_bf16(at(o, s)).to_bits(),
                        (_, false) => at(o, s).to_bits(),
                    };
                }
            }
        }
        PackedLinear {
            kernel,
            round_inputs,
            inputs,
            outputs,
            panels,
            bias: bias.to_vec(),
            weight_scales: Vec::new(),
            weight_sums: Vec::new(),
        }
    }

    /// Quantises each output's weights to int8 (symmetric, scale `max |w| / 127`) and packs
    /// them four inputs to a u32, as `vpdpbusd` reads them, or two to a u32 as 16-bit
    /// integers, as `vpmaddwd` reads them (AVX2 without VNNI).
    fn new_int8(
        weight: &[f32],
        outputs: usize,
        inputs: usize,
        bias: &[f32],
        kernel: Kernel,
    ) -> Self {
        let (_, nr) = kernel.tile();
        let steps = kernel.steps(inputs);
        let per_step = kernel.inputs_per_step();
        let n_panels = outputs.div_ceil(nr);
        let mut quantised = vec![0i8; n_panels * nr * steps * per_step];
        let mut weight_scales = Vec::with_capacity(outputs);
        let mut weight_sums = Vec::with_capacity(outputs);
        for (o, row) in weight.chunks_exact(inputs).enumerate() {
            let max = row.iter().fold(0f32, |m, &w| m.max(w.abs()));
            let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
            let mut sum = 0i32;
            for (i, &w) in row.iter().enumerate() {
                let q = round_ties_even_small(w / scale).clamp(-127.0, 127.0) as i8;
                quantised[o * steps * per_step + i] = q;
                sum += i32::from(q);
            }
            weight_scales.push(scale);
            weight_sums.push(sum);
        }
        let mut panels = vec![0u32; n_panels * steps * nr];
        for p in 0..n_panels {
            for s in 0..steps {
                for j in 0..nr {
                    let at = (p * nr + j) * steps * per_step + per_step * s;
                    panels[(p * steps + s) * nr + j] = if per_step == 4 {
                        u32::from_le_bytes(std::array::from_fn(|t| quantised[at + t] as u8))
                    } else {
                        let [lo, hi] =
                            [0, 1].map(|t| u32::from(i16::from(quantised[at + t]) as u16));
                        lo | hi << 16
                    };
                }
            }
        }
        PackedLinear {
            kernel,
            round_inputs: false,
            inputs,
            outputs,
            panels,
            bias: bias.to_vec(),
            weight_scales,
            weight_sums,
        }
    }

    pub fn inputs(&self) -> usize {
        self.inputs
    }

    pub fn outputs(&self) -> usize {
        self.outputs
    }

    pub fn kernel(&self) -> Kernel {
        self.kernel
    }
}

/// What happens to `a · wᵀ + bias` before it is stored.
#[derive(Clone, Copy)]
pub enum Epilogue<'a> {
    /// Store it.
    Bias,
    /// Apply an activation.
    Activate(Activation),
    /// Add a matrix of the output's shape (a residual connection).
    AddResidual(&'a [f32]),
}

/// Reusable buffers for packed activations, one per thread.
#[derive(Default)]
pub struct Scratch {
    packed: Vec<u32>,
    /// int8: each row's scale and zero point, for the rows of the block in `packed`.
    row_scales: Vec<f32>,
    row_zeros: Vec<i32>,
    /// Pack every row panel, even where f32 kernels would read rows in place.
    always_pack: bool,
}

impl Scratch {
    /// Buffers that make f32 kernels pack every row panel instead of reading rows in place
    /// where L1 allows: the results are the same bits, so benchmarks use it to weigh the two.
    #[doc(hidden)]
    pub fn always_packing() -> Scratch {
        Scratch {
            always_pack: true,
            ..Scratch::default()
        }
    }
}

/// `out = epilogue(a · wᵀ + bias)` for `rows` rows of `a` (row-major, `w.inputs()` wide);
/// `out` is row-major, `w.outputs()` wide.
pub fn linear(
    a: &[f32],
    rows: usize,
    w: &PackedLinear,
    out: &mut [f32],
    epilogue: Epilogue,
    scratch: &mut Scratch,
) {
    assert!(a.len() >= rows * w.inputs, "activation shape");
    assert!(out.len() >= rows * w.outputs, "output shape");
    if let Epilogue::AddResidual(r) = epilogue {
        assert!(r.len() >= rows * w.outputs, "residual shape");
    }
    match w.kernel {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the kernel was chosen because the CPU has its instruction set.
        Kernel::Avx512F32 => unsafe { x86::linear_avx512_f32(a, rows, w, out, epilogue, scratch) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Kernel::Avx512Bf16 => unsafe {
            x86::linear_avx512_bf16(a, rows, w, out, epilogue, scratch)
        },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Kernel::Avx2F32 => unsafe { x86::linear_avx2_f32(a, rows, w, out, epilogue, scratch) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Kernel::Avx512Vnni => unsafe {
            x86::linear_avx512_vnni(a, rows, w, out, epilogue, scratch)
        },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Kernel::AvxVnni => unsafe { x86::linear_avx_vnni(a, rows, w, out, epilogue, scratch) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Kernel::Avx2Int8 => unsafe { x86::linear_avx2_int8(a, rows, w, out, epilogue, scratch) },
        Kernel::PortableInt8 => drive::<PortableInt8>(a, rows, w, out, epilogue, scratch),
        _ => drive::<Portable>(a, rows, w, out, epilogue, scratch),
    }
}

/// Rounds to the nearest bfloat16 (ties to even), returned as the f32 it stands for.
#[inline(always)]
pub fn round_bf16(x: f32) -> f32 {
    f32::from_bits(u32::from(bf16_bits(x)) << 16)
}

#[inline(always)]
fn bf16_bits(x: f32) -> u16 {
    let bits = x.to_bits();
    if x.is_nan() {
        return ((bits >> 16) | 0x40) as u16;
    }
    let rounded = bits.wrapping_add(0x7fff + ((bits >> 16) & 1));
    (rounded >> 16) as u16
}

/// Two bf16 in one u32, the first in the low half, as `vdpbf16ps` pairs them.
#[inline(always)]
fn bf16_pair(first: f32, second: f32) -> u32 {
    u32::from(bf16_bits(first)) | (u32::from(bf16_bits(second)) << 16)
}

/// Where a microkernel reads its `MR` rows of activations: element (row `r`, step `s`) is at
/// `start + r * row_stride + s * step_stride`, in a packed panel (`row_stride` 1, `step_stride`
/// `MR`) or straight from the row-major activations (`row_stride` the width, `step_stride` 1).
#[derive(Clone, Copy)]
struct Rows {
    start: *const u32,
    row_stride: usize,
    step_stride: usize,
}

impl Rows {
    /// # Safety
    /// The element must be inside the allocation `start` points into.
    #[inline(always)]
    unsafe fn at(self, r: usize, s: usize) -> *const u32 {
        // SAFETY: per the caller.
        unsafe { self.start.add(r * self.row_stride + s * self.step_stride) }
    }
}

/// A register-blocked microkernel.
trait Micro {
    const MR: usize;
    const NR: usize;
    /// Packs rows `first..first + count` (at most `MR`; missing rows are zeros) of the
    /// row-major `a`, `inputs` wide, into `dst`, step by step.
    #[inline(always)]
    fn pack_rows(
        a: &[f32],
        inputs: usize,
        first: usize,
        count: usize,
        round: bool,
        dst: &mut [u32],
    ) {
        for (s, chunk) in dst.chunks_exact_mut(Self::MR).enumerate() {
            for (r, slot) in chunk.iter_mut().enumerate() {
                let x = if r < count {
                    a[(first + r) * inputs + s]
                } else {
                    0.0
                };
                *slot = if round { round_bf16(x) } else { x }.to_bits();
            }
        }
    }
    /// Writes the `MR × NR` tile of sums over `steps` steps to `tile` (row-major, `NR` wide;
    /// int8 kernels write their i32 sums' bits).
    ///
    /// # Safety
    /// `a` holds `steps × MR` and `b` `steps × NR` elements; the CPU has the kernel's features.
    unsafe fn tile(steps: usize, a: Rows, b: *const u32, tile: &mut [f32; MAX_TILE]);
}

/// The shared loop nest: row blocks sized for L2, weight panels, row panels, then the epilogue
/// on each tile. Inlined into each kernel's `target_feature` function, so the packing and
/// epilogue loops are vectorised with that kernel's instructions.
#[inline(always)]
fn drive<M: Micro>(
    a: &[f32],
    rows: usize,
    w: &PackedLinear,
    out: &mut [f32],
    epilogue: Epilogue,
    scratch: &mut Scratch,
) {
    let (mr, nr) = (M::MR, M::NR);
    let (k, n) = (w.inputs, w.outputs);
    let steps = w.kernel.steps(k);
    // Inner-dimension blocks: sized by steps, not by rows, so that a row block can be tall
    // even for wide inputs and each weight panel slice is reused over many rows.
    let block_steps = K_BLOCK_STEPS.min(steps.max(1));
    let k_blocks = steps.div_ceil(block_steps).max(1);
    let block_rows = ((A_BLOCK_BYTES / (4 * block_steps)) / mr).max(1) * mr;
    let n_panels = n.div_ceil(nr);
    let mut tile = [0f32; MAX_TILE];
    let int8 = w.kernel.is_int8();
    // f32 kernels read full row panels straight from `a` (only bf16 needs them converted),
    // unless the rows' lines would evict each other from L1.
    let direct = w.kernel != Kernel::Avx512Bf16
        && !w.round_inputs
        && !int8
        && !scratch.always_pack
        && rows_stay_in_l1(k, mr);
    for block_start in (0..rows).step_by(block_rows) {
        let block_len = block_rows.min(rows - block_start);
        let row_panels = block_len.div_ceil(mr);
        scratch.packed.clear();
        scratch.packed.resize(row_panels * steps * mr, 0);
        if int8 {
            let block = &a[block_start * k..(block_start + block_len) * k];
            if w.kernel.inputs_per_step() == 2 {
                quantise_rows::<2>(block, k, steps, scratch);
            } else {
                quantise_rows::<1>(block, k, steps, scratch);
            }
        } else {
            for rp in 0..row_panels {
                let first = block_start + rp * mr;
                let count = mr.min(rows - first);
                if direct && count == mr {
                    continue;
                }
                let dst = &mut scratch.packed[rp * steps * mr..(rp + 1) * steps * mr];
                if w.kernel == Kernel::Avx512Bf16 {
                    pack_bf16_pairs(a, k, first, count, mr, dst);
                } else {
                    M::pack_rows(a, k, first, count, w.round_inputs, dst);
                }
            }
        }
        for kb in 0..k_blocks {
            let s0 = kb * block_steps;
            let block_len_steps = block_steps.min(steps - s0);
            let last = kb + 1 == k_blocks;
            for np in 0..n_panels {
                let panel = &w.panels[np * steps * nr..(np + 1) * steps * nr];
                let col0 = np * nr;
                let cols = nr.min(n - col0);
                for rp in 0..row_panels {
                    let first = block_start + rp * mr;
                    let valid = mr.min(rows - first);
                    let a_rows = if int8 {
                        // Quantised rows, row-major, `steps` u32 wide, padded to whole panels.
                        Rows {
                            start: scratch.packed[rp * mr * steps + s0..].as_ptr(),
                            row_stride: steps,
                            step_stride: 1,
                        }
                    } else if direct && valid == mr {
                        Rows {
                            start: a[first * k + s0..].as_ptr().cast(),
                            row_stride: k,
                            step_stride: 1,
                        }
                    } else {
                        Rows {
                            start: scratch.packed[(rp * steps + s0) * mr..].as_ptr(),
                            row_stride: 1,
                            step_stride: mr,
                        }
                    };
                    // SAFETY: `a_rows` reaches `mr` rows of steps `s0..s0 + block_len_steps`
                    // (packed, or full rows of `a`); the weight panel holds `steps` full steps;
                    // the kernel matches the CPU.
                    unsafe {
                        M::tile(
                            block_len_steps,
                            a_rows,
                            panel[s0 * nr..].as_ptr(),
                            &mut tile,
                        )
                    };
                    if k_blocks > 1 {
                        // The sums of earlier blocks wait in `out`, in the kernel's own format
                        // (f32, or i32 bits for int8), and are added in block order.
                        for r in 0..valid {
                            let at = (first + r) * n + col0;
                            let sums = &mut tile[r * nr..r * nr + cols];
                            let kept = &mut out[at..at + cols];
                            if kb > 0 {
                                add_partial(sums, kept, int8);
                            }
                            if !last {
                                copy_row(kept, sums);
                            }
                        }
                        if !last {
                            continue;
                        }
                    }
                    finish_tile(
                        &mut tile,
                        (first, valid, rp * mr),
                        (col0, cols, nr, n),
                        w,
                        int8,
                        epilogue,
                        scratch,
                        out,
                    );
                }
            }
        }
    }
}

/// Whether a microkernel reading `mr` rows of row-major activations `k` floats wide keeps
/// their lines in L1 at once. An L1 of 64 sets (32 KiB of 8 ways on AMD's Zen cores and Intel's
/// up to Skylake; 48 KiB of 12 ways on later Intel cores) picks a line's set from address bits
/// 6 to 11, so rows a multiple of 4 KiB apart share one set: at 3,072 inputs all 12 rows of an AVX-512 panel do and evict
/// each other at every step (MPNet's output product ran at 64 GFLOP/s against 90 for the
/// others). Rows are read in place while at most half the ways of a set hold them, leaving the
/// rest to the weight panel; otherwise they are packed.
fn rows_stay_in_l1(k: usize, mr: usize) -> bool {
    const SETS: usize = 64;
    const WAYS: usize = 8;
    const LINE: usize = 64;
    let mut rows_in_set = [0usize; SETS];
    for r in 0..mr {
        rows_in_set[(r * k * 4 / LINE) % SETS] += 1;
    }
    rows_in_set.iter().all(|&n| n <= WAYS / 2)
}

/// `dst.copy_from_slice(src)` in fixed blocks of 16, which compile to vector moves: a tile
/// row is too short for the call to `memmove` that `copy_from_slice` makes (5% of MiniLM's
/// int8 time, measured).
#[inline(always)]
fn copy_row(dst: &mut [f32], src: &[f32]) {
    let mut dst_blocks = dst.chunks_exact_mut(16);
    let mut src_blocks = src.chunks_exact(16);
    for (d, s) in (&mut dst_blocks).zip(&mut src_blocks) {
        let d: &mut [f32; 16] = d.try_into().expect("16 values");
        *d = s.try_into().expect("16 values");
    }
    for (d, &s) in dst_blocks
        .into_remainder()
        .iter_mut()
        .zip(src_blocks.remainder())
    {
        *d = s;
    }
}

/// Adds the sums of earlier inner-dimension blocks (`kept`) to a tile row's (`sums`): as f32,
/// or as the i32 bits the int8 kernels write.
#[inline(always)]
fn add_partial(sums: &mut [f32], kept: &[f32], int8: bool) {
    if int8 {
        for (s, &k) in sums.iter_mut().zip(kept) {
            *s = f32::from_bits((s.to_bits() as i32).wrapping_add(k.to_bits() as i32) as u32);
        }
    } else {
        for (s, &k) in sums.iter_mut().zip(kept) {
            *s += k;
        }
    }
}

/// The epilogue of one tile of complete sums: dequantisation (int8), bias, activation, and
/// the store (with the residual added) into `out`. `rows` is (first output row, valid rows,
/// first row within the block); `cols` is (first column, valid columns, `NR`, outputs).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn finish_tile(
    tile: &mut [f32; MAX_TILE],
    (first, valid, block_row): (usize, usize, usize),
    (col0, cols, nr, n): (usize, usize, usize, usize),
    w: &PackedLinear,
    int8: bool,
    epilogue: Epilogue,
    scratch: &Scratch,
    out: &mut [f32],
) {
    if int8 {
        let rows_at = block_row..block_row + valid;
        dequantise(
            &mut tile[..valid * nr],
            nr,
            &scratch.row_scales[rows_at.clone()],
            &scratch.row_zeros[rows_at],
            &w.weight_scales[col0..col0 + cols],
            &w.weight_sums[col0..col0 + cols],
        );
    }
    let bias = &w.bias[col0..col0 + cols];
    for r in 0..valid {
        let sums = &mut tile[r * nr..r * nr + cols];
        for (s, &b) in sums.iter_mut().zip(bias) {
            *s += b;
        }
    }
    // The whole tile at once: many independent vectors for the activation's long
    // dependency chains to overlap.
    if let Epilogue::Activate(act) = epilogue {
        ops::activate(act, &mut tile[..valid * nr]);
    }
    for r in 0..valid {
        let at = (first + r) * n + col0;
        let dst = &mut out[at..at + cols];
        let sums = &tile[r * nr..r * nr + cols];
        match epilogue {
            Epilogue::AddResidual(res) => {
                for ((d, &s), &x) in dst.iter_mut().zip(sums).zip(&res[at..at + cols]) {
                    *d = s + x;
                }
            }
            _ => copy_row(dst, sums),
        }
    }
}

/// `x.round_ties_even()` for |x| < 2^22, without the call to libm's `rintf` that the
/// baseline x86-64 target (no SSE4.1) makes for it: adding and taking away 1.5 × 2^23 leaves
/// no fraction bits, so the addition rounds to nearest even.
#[inline(always)]
fn round_ties_even_small(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0;
    (x + MAGIC) - MAGIC
}

/// Quantises each row of `a` (`inputs` wide) to uint8 with its own scale and zero point, into
/// `scratch.packed` row by row, `steps` u32 each (the padding meets zero weights), and the
/// scales and zero points into `scratch`. Each value takes `BYTES` bytes: one (four to a u32)
/// or two (a 16-bit integer, two to a u32; the high byte stays zero from the cleared buffer).
///
/// The range is widened to hold 0, so 0 is exact and the zero point is an integer in 0..=255.
#[inline(always)]
fn quantise_rows<const BYTES: usize>(
    a: &[f32],
    inputs: usize,
    steps: usize,
    scratch: &mut Scratch,
) {
    scratch.row_scales.clear();
    scratch.row_zeros.clear();
    let bytes: &mut [u8] = bytemuck_u8(&mut scratch.packed);
    for (row, out) in a
        .chunks_exact(inputs)
        .zip(bytes.chunks_exact_mut(steps * 4))
    {
        let (lo, hi) = range_with_zero(row);
        let scale = if hi > lo { (hi - lo) / 255.0 } else { 1.0 };
        let inverse = 1.0 / scale;
        let zero = (-lo * inverse).round_ties_even().clamp(0.0, 255.0);
        for (q, &x) in out.iter_mut().step_by(BYTES).zip(row) {
            // Rounded to nearest even without a saturating `as` cast (which the compiler keeps
            // scalar): adding 2^23 to a value in 0..=255 puts it, rounded, in the low bits.
            let clamped = (x * inverse + zero).clamp(0.0, 255.0);
            *q = (clamped + 8_388_608.0).to_bits() as u8;
        }
        scratch.row_scales.push(scale);
        scratch.row_zeros.push(zero as i32);
    }
}

/// The smallest and largest value of a row, widened to hold 0, in lane-wise partial minima
/// and maxima that the compiler vectorises (`f32::min` keeps a scalar loop for its NaN rule).
#[inline(always)]
fn range_with_zero(row: &[f32]) -> (f32, f32) {
    const L: usize = ops::LANES;
    let (mut lo, mut hi) = ([0f32; L], [0f32; L]);
    let chunks = row.chunks_exact(L);
    let tail = chunks.remainder();
    for chunk in chunks {
        for i in 0..L {
            lo[i] = if chunk[i] < lo[i] { chunk[i] } else { lo[i] };
            hi[i] = if chunk[i] > hi[i] { chunk[i] } else { hi[i] };
        }
    }
    for (i, &x) in tail.iter().enumerate() {
        lo[i] = if x < lo[i] { x } else { lo[i] };
        hi[i] = if x > hi[i] { x } else { hi[i] };
    }
    let lo = lo.iter().fold(0f32, |m, &x| if x < m { x } else { m });
    let hi = hi.iter().fold(0f32, |m, &x| if x > m { x } else { m });
    (lo, hi)
}

/// The bytes of a u32 buffer, in memory order (little-endian on every target with a kernel
/// that reads them).
fn bytemuck_u8(words: &mut [u32]) -> &mut [u8] {
    // SAFETY: u8 has no alignment or validity requirements; the length is in bytes.
    unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast(), words.len() * 4) }
}

/// Turns an int8 kernel's tile of i32 sums (as bits) into f32 products, before the bias:
/// `(sum - z Σqw) · scale_row · scale_col`.
#[inline(always)]
fn dequantise(
    tile: &mut [f32],
    nr: usize,
    row_scales: &[f32],
    row_zeros: &[i32],
    weight_scales: &[f32],
    weight_sums: &[i32],
) {
    for ((row, &scale), &zero) in tile.chunks_exact_mut(nr).zip(row_scales).zip(row_zeros) {
        for ((x, &w_scale), &w_sum) in row.iter_mut().zip(weight_scales).zip(weight_sums) {
            let sum = x.to_bits() as i32 - zero * w_sum;
            *x = sum as f32 * (scale * w_scale);
        }
    }
}

#[inline(always)]
fn pack_bf16_pairs(
    a: &[f32],
    inputs: usize,
    first: usize,
    count: usize,
    mr: usize,
    dst: &mut [u32],
) {
    let at = |r: usize, i: usize| -> f32 {
        if r < count && i < inputs {
            a[(first + r) * inputs + i]
        } else {
            0.0
        }
    };
    for (s, chunk) in dst.chunks_exact_mut(mr).enumerate() {
        for (r, slot) in chunk.iter_mut().enumerate() {
            *slot = bf16_pair(at(r, 2 * s), at(r, 2 * s + 1));
        }
    }
}

/// The portable kernels' loop over a 4 × 16 tile: `step(acc, a, b)` adds one step's product
/// of an activation word and a weight word to an accumulator, `finish` turns an accumulator
/// into the tile's bits.
///
/// # Safety
/// As [`Micro::tile`].
#[inline(always)]
unsafe fn portable_tile<T: Copy + Default>(
    steps: usize,
    a: Rows,
    b: *const u32,
    tile: &mut [f32; MAX_TILE],
    step: impl Fn(T, u32, u32) -> T,
    finish: impl Fn(T) -> f32,
) {
    let mut sums = [[T::default(); 16]; 4];
    for s in 0..steps {
        // SAFETY: the caller guarantees `steps` full steps in both panels.
        let (a_step, b_step) = unsafe {
            (
                std::array::from_fn::<u32, 4, _>(|r| *a.at(r, s)),
                std::slice::from_raw_parts(b.add(s * 16), 16),
            )
        };
        for (row, x) in sums.iter_mut().zip(a_step) {
            for (acc, &y) in row.iter_mut().zip(b_step) {
                *acc = step(*acc, x, y);
            }
        }
    }
    for (r, row) in sums.iter().enumerate() {
        for (slot, &sum) in tile[r * 16..r * 16 + 16].iter_mut().zip(row) {
            *slot = finish(sum);
        }
    }
}

/// Plain Rust, left to the compiler to vectorise.
struct Portable;

impl Micro for Portable {
    const MR: usize = 4;
    const NR: usize = 16;

    #[inline(always)]
    unsafe fn tile(steps: usize, a: Rows, b: *const u32, tile: &mut [f32; MAX_TILE]) {
        // SAFETY: per the caller.
        unsafe {
            portable_tile(
                steps,
                a,
                b,
                tile,
                |acc: f32, x, y| f32::from_bits(x).mul_add(f32::from_bits(y), acc),
                |sum| sum,
            )
        }
    }
}

/// int8 in plain Rust, left to the compiler to vectorise: four unsigned activation bytes
/// against four signed weight bytes per step, as `vpdpbusd` does.
struct PortableInt8;

impl Micro for PortableInt8 {
    const MR: usize = 4;
    const NR: usize = 16;

    #[inline(always)]
    unsafe fn tile(steps: usize, a: Rows, b: *const u32, tile: &mut [f32; MAX_TILE]) {
        // SAFETY: per the caller.
        unsafe {
            portable_tile(
                steps,
                a,
                b,
                tile,
                |acc: i32, x, y| {
                    let (x, y) = (x.to_le_bytes(), y.to_le_bytes());
                    acc + (0..4)
                        .map(|t| i32::from(x[t]) * i32::from(y[t] as i8))
                        .sum::<i32>()
                },
                |sum| f32::from_bits(sum as u32),
            )
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{AVX512_ROWS, Epilogue, MAX_TILE, Micro, PackedLinear, Rows, Scratch, drive};

    pub(super) struct Avx512F32;
    pub(super) struct Avx512Bf16;
    pub(super) struct Avx2F32;
    pub(super) struct Avx512Vnni;
    pub(super) struct AvxVnni;
    pub(super) struct Avx2Int8;

    /// `impl Micro` for a kernel whose tile is `$mr × $nr`, computed by `$tile` (its
    /// `target_feature` function; weights as f32 when `f32` is given).
    macro_rules! micro {
        ($kernel:ident, $mr:expr, $nr:expr, $tile:ident $(, $f32:ident)?) => {
            impl Micro for $kernel {
                const MR: usize = $mr;
                const NR: usize = $nr;

                #[inline(always)]
                unsafe fn tile(steps: usize, a: Rows, b: *const u32, tile: &mut [f32; MAX_TILE]) {
                    $(let b = b.cast::<$f32>();)?
                    // SAFETY: forwarded from the caller.
                    unsafe { $tile(steps, a, b, tile) }
                }
            }
        };
    }

    micro!(Avx512F32, AVX512_ROWS, 32, avx512_f32_tile, f32);

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn avx512_f32_tile(steps: usize, a: Rows, b: *const f32, tile: &mut [f32; MAX_TILE]) {
        let mut c = [[_mm512_setzero_ps(); 2]; AVX512_ROWS];
        for s in 0..steps {
            // SAFETY: `steps` full steps of 12 and 32 values, per the caller.
            unsafe {
                let b0 = _mm512_loadu_ps(b.add(s * 32));
                let b1 = _mm512_loadu_ps(b.add(s * 32 + 16));
                for (r, acc) in c.iter_mut().enumerate() {
                    let x = _mm512_set1_ps(f32::from_bits(*a.at(r, s)));
                    acc[0] = _mm512_fmadd_ps(x, b0, acc[0]);
                    acc[1] = _mm512_fmadd_ps(x, b1, acc[1]);
                }
            }
        }
        // SAFETY: the caller's CPU has AVX-512F.
        unsafe { store_avx512(&c, tile) }
    }

    /// Stores a 12 × 32 tile of sums.
    #[inline(always)]
    unsafe fn store_avx512(c: &[[__m512; 2]; AVX512_ROWS], tile: &mut [f32; MAX_TILE]) {
        for (r, acc) in c.iter().enumerate() {
            // SAFETY: the tile holds 12 × 32; the caller's CPU has AVX-512F.
            unsafe {
                _mm512_storeu_ps(tile.as_mut_ptr().add(r * 32), acc[0]);
                _mm512_storeu_ps(tile.as_mut_ptr().add(r * 32 + 16), acc[1]);
            }
        }
    }

    micro!(Avx512Bf16, AVX512_ROWS, 32, avx512_bf16_tile);

    #[inline]
    #[target_feature(enable = "avx512f,avx512bf16")]
    unsafe fn avx512_bf16_tile(steps: usize, a: Rows, b: *const u32, tile: &mut [f32; MAX_TILE]) {
        let mut c = [[_mm512_setzero_ps(); 2]; AVX512_ROWS];
        for s in 0..steps {
            // SAFETY: `steps` full steps of 12 and 32 pairs, per the caller. `__m512i` and
            // `__m512bh` are both 64 bytes of lanes.
            unsafe {
                let b0: __m512bh = std::mem::transmute(_mm512_loadu_si512(b.add(s * 32).cast()));
                let b1: __m512bh =
                    std::mem::transmute(_mm512_loadu_si512(b.add(s * 32 + 16).cast()));
                for (r, acc) in c.iter_mut().enumerate() {
                    let x: __m512bh = std::mem::transmute(_mm512_set1_epi32(*a.at(r, s) as i32));
                    acc[0] = _mm512_dpbf16_ps(acc[0], x, b0);
                    acc[1] = _mm512_dpbf16_ps(acc[1], x, b1);
                }
            }
        }
        // SAFETY: the caller's CPU has AVX-512F.
        unsafe { store_avx512(&c, tile) }
    }

    micro!(Avx2F32, 6, 16, avx2_f32_tile, f32);

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn avx2_f32_tile(steps: usize, a: Rows, b: *const f32, tile: &mut [f32; MAX_TILE]) {
        let mut c = [[_mm256_setzero_ps(); 2]; 6];
        for s in 0..steps {
            // SAFETY: `steps` full steps of 6 and 16 values, per the caller.
            unsafe {
                let b0 = _mm256_loadu_ps(b.add(s * 16));
                let b1 = _mm256_loadu_ps(b.add(s * 16 + 8));
                for (r, acc) in c.iter_mut().enumerate() {
                    let x = _mm256_set1_ps(f32::from_bits(*a.at(r, s)));
                    acc[0] = _mm256_fmadd_ps(x, b0, acc[0]);
                    acc[1] = _mm256_fmadd_ps(x, b1, acc[1]);
                }
            }
        }
        for (r, acc) in c.iter().enumerate() {
            // SAFETY: 6 × 16 fits the tile.
            unsafe {
                _mm256_storeu_ps(tile.as_mut_ptr().add(r * 16), acc[0]);
                _mm256_storeu_ps(tile.as_mut_ptr().add(r * 16 + 8), acc[1]);
            }
        }
    }

    micro!(Avx512Vnni, AVX512_ROWS, 32, avx512_vnni_tile);

    #[inline]
    #[target_feature(enable = "avx512f,avx512vnni")]
    unsafe fn avx512_vnni_tile(steps: usize, a: Rows, b: *const u32, tile: &mut [f32; MAX_TILE]) {
        let mut c = [[_mm512_setzero_si512(); 2]; AVX512_ROWS];
        for s in 0..steps {
            // SAFETY: `steps` full steps of 12 rows and 32 outputs of four bytes, per the caller.
            unsafe {
                let b0 = _mm512_loadu_si512(b.add(s * 32).cast());
                let b1 = _mm512_loadu_si512(b.add(s * 32 + 16).cast());
                for (r, acc) in c.iter_mut().enumerate() {
                    let x = _mm512_set1_epi32(*a.at(r, s) as i32);
                    acc[0] = _mm512_dpbusd_epi32(acc[0], x, b0);
                    acc[1] = _mm512_dpbusd_epi32(acc[1], x, b1);
                }
            }
        }
        for (r, acc) in c.iter().enumerate() {
            // SAFETY: the tile holds 12 × 32 four-byte values.
            unsafe {
                let at = tile.as_mut_ptr().add(r * 32);
                _mm512_storeu_si512(at.cast(), acc[0]);
                _mm512_storeu_si512(at.add(16).cast(), acc[1]);
            }
        }
    }

    micro!(AvxVnni, 6, 16, avx_vnni_tile);

    /// The 6 × 16 tile of int32 sums of the 256-bit int8 kernels, `$dot(acc, x, w)` adding a
    /// step's products of the broadcast activations `x` and the weights `w` to `acc`. A macro,
    /// not a closure, so that every step stays inline in the `target_feature` function.
    macro_rules! avx2_i32_tile {
        ($steps:ident, $a:ident, $b:ident, $tile:ident, $dot:expr) => {{
            let mut c = [[_mm256_setzero_si256(); 2]; 6];
            for s in 0..$steps {
                // SAFETY: `steps` full steps of 6 rows and 16 outputs of four bytes, per the
                // caller.
                unsafe {
                    let b0 = _mm256_loadu_si256($b.add(s * 16).cast());
                    let b1 = _mm256_loadu_si256($b.add(s * 16 + 8).cast());
                    for (r, acc) in c.iter_mut().enumerate() {
                        let x = _mm256_set1_epi32(*$a.at(r, s) as i32);
                        acc[0] = $dot(acc[0], x, b0);
                        acc[1] = $dot(acc[1], x, b1);
                    }
                }
            }
            for (r, acc) in c.iter().enumerate() {
                // SAFETY: 6 × 16 four-byte values fit the tile.
                unsafe {
                    let at = $tile.as_mut_ptr().add(r * 16);
                    _mm256_storeu_si256(at.cast(), acc[0]);
                    _mm256_storeu_si256(at.add(8).cast(), acc[1]);
                }
            }
        }};
    }

    #[inline]
    #[target_feature(enable = "avx2,avxvnni")]
    unsafe fn avx_vnni_tile(steps: usize, a: Rows, b: *const u32, tile: &mut [f32; MAX_TILE]) {
        avx2_i32_tile!(steps, a, b, tile, |acc, x, w| _mm256_dpbusd_avx_epi32(
            acc, x, w
        ))
    }

    micro!(Avx2Int8, 6, 16, avx2_int8_tile);

    /// int8 without VNNI: each step is two inputs widened to 16 bits, multiplied and summed
    /// in pairs into int32 by `vpmaddwd`, which is exact. (`vpmaddubsw` takes four inputs a
    /// step on bytes, but saturates its 16-bit pair sums at 255 × 127 × 2, so its results
    /// would differ from the VNNI kernels'.)
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn avx2_int8_tile(steps: usize, a: Rows, b: *const u32, tile: &mut [f32; MAX_TILE]) {
        avx2_i32_tile!(steps, a, b, tile, |acc, x, w| _mm256_add_epi32(
            acc,
            _mm256_madd_epi16(x, w)
        ))
    }

    /// A kernel's entry point: the shared loop nest compiled for the kernel's instructions.
    macro_rules! entry {
        ($name:ident, $micro:ty, $features:literal) => {
            #[target_feature(enable = $features)]
            pub(super) unsafe fn $name(
                a: &[f32],
                rows: usize,
                w: &PackedLinear,
                out: &mut [f32],
                epilogue: Epilogue,
                scratch: &mut Scratch,
            ) {
                drive::<$micro>(a, rows, w, out, epilogue, scratch);
            }
        };
    }

    entry!(
        linear_avx512_f32,
        Avx512F32,
        "avx512f,avx512bw,avx512vl,avx2,fma"
    );
    entry!(
        linear_avx512_bf16,
        Avx512Bf16,
        "avx512f,avx512bw,avx512vl,avx512bf16,avx2,fma"
    );
    entry!(linear_avx2_f32, Avx2F32, "avx2,fma");
    entry!(
        linear_avx512_vnni,
        Avx512Vnni,
        "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma"
    );
    entry!(linear_avx_vnni, AvxVnni, "avx2,fma,avxvnni");
    entry!(linear_avx2_int8, Avx2Int8, "avx2,fma");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `a · wᵀ + bias` into a fresh output that starts as NaN, so unwritten outputs show.
    fn product(a: &[f32], rows: usize, w: &PackedLinear) -> Vec<f32> {
        let mut out = vec![f32::NAN; rows * w.outputs()];
        linear(
            a,
            rows,
            w,
            &mut out,
            Epilogue::Bias,
            &mut Scratch::default(),
        );
        out
    }

    /// Every (precision, kernel) pair this CPU runs.
    fn runnable() -> Vec<(Precision, Kernel)> {
        let isas = [Isa::Portable, Isa::Avx2, Isa::Avx512];
        let mut all: Vec<(Precision, Kernel)> = isas
            .iter()
            .filter(|&&isa| isa <= Isa::cpu())
            .flat_map(|&isa| {
                [Precision::F32, Precision::Bf16, Precision::Int8]
                    .map(|p| (p, Kernel::choose(p, isa)))
            })
            .collect();
        // Chosen only where the CPU lacks VNNI, but it runs on every AVX2 CPU.
        if Isa::cpu() >= Isa::Avx2 {
            all.push((Precision::Int8, Kernel::Avx2Int8));
        }
        all.sort_by_key(|&(p, k)| (p.name(), k.name()));
        all.dedup();
        all
    }

    /// The largest error int8 quantisation can make in one output: each weight is off by at
    /// most half its row's step, each activation by half its row's step.
    fn int8_bound(a_row: &[f32], w_row: &[f32]) -> f64 {
        let w_step = f64::from(w_row.iter().fold(0f32, |m, x| m.max(x.abs()))) / 127.0;
        let (lo, hi) = a_row
            .iter()
            .fold((0f32, 0f32), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        let a_step = f64::from(hi - lo) / 255.0;
        a_row
            .iter()
            .zip(w_row)
            .map(|(&x, &w)| {
                f64::from(x.abs()) * w_step / 2.0
                    + f64::from(w.abs()) * a_step / 2.0
                    + a_step * w_step / 4.0
            })
            .sum::<f64>()
            + 1e-5
    }

    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = crate::rng::SplitMix::new(seed);
        (0..n).map(|_| rng.next_f32() * 2.0 - 1.0).collect()
    }

    fn reference(
        a: &[f32],
        rows: usize,
        w: &[f32],
        outputs: usize,
        inputs: usize,
        bias: &[f32],
        round: bool,
    ) -> Vec<f64> {
        let r = |x: f32| f64::from(if round { round_bf16(x) } else { x });
        let mut out = vec![0f64; rows * outputs];
        for i in 0..rows {
            for o in 0..outputs {
                out[i * outputs + o] = f64::from(bias[o])
                    + (0..inputs)
                        .map(|k| r(a[i * inputs + k]) * r(w[o * inputs + k]))
                        .sum::<f64>();
            }
        }
        out
    }

    #[test]
    fn every_kernel_matches_a_direct_product_on_ragged_shapes() {
        for (precision, kernel) in runnable() {
            for (rows, inputs, outputs) in [
                (1, 1, 1),
                (5, 7, 3),
                (13, 33, 65),
                (30, 64, 32),
                (25, 70, 48),
                // wider than K_BLOCK_STEPS in every precision: summed in inner blocks
                (13, 4 * K_BLOCK_STEPS + 9, 40),
            ] {
                let a = values(rows * inputs, 1);
                let w = values(outputs * inputs, 2);
                let bias = values(outputs, 3);
                let packed = PackedLinear::new(&w, outputs, inputs, &bias, precision, kernel);
                let out = product(&a, rows, &packed);
                let want = reference(
                    &a,
                    rows,
                    &w,
                    outputs,
                    inputs,
                    &bias,
                    precision == Precision::Bf16,
                );
                for (i, (&got, &want)) in out.iter().zip(&want).enumerate() {
                    let bound = if precision == Precision::Int8 {
                        let (row, col) = (i / outputs, i % outputs);
                        int8_bound(
                            &a[row * inputs..(row + 1) * inputs],
                            &w[col * inputs..(col + 1) * inputs],
                        )
                    } else {
                        1e-5 * (1.0 + inputs as f64)
                    };
                    assert!(
                        (f64::from(got) - want).abs() < bound,
                        "{kernel:?} {precision:?} {rows}x{inputs}x{outputs} at {i}: {got} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn rows_are_packed_where_they_would_share_l1_sets() {
        // The encoders' widths on the AVX-512 panel (12 rows) and the AVX2 one (6).
        assert!(rows_stay_in_l1(384, 12));
        assert!(rows_stay_in_l1(768, 12));
        assert!(!rows_stay_in_l1(1536, 12));
        assert!(!rows_stay_in_l1(3072, 12));
        assert!(rows_stay_in_l1(1536, 6));
        assert!(!rows_stay_in_l1(3072, 6));
        assert!(rows_stay_in_l1(3072 + 16, 12));
    }

    #[test]
    fn packed_and_direct_rows_give_the_same_bits() {
        for inputs in [384, 3072] {
            let (rows, outputs) = (30, 40);
            let a = values(rows * inputs, 8);
            let w = values(outputs * inputs, 9);
            let bias = values(outputs, 10);
            for (precision, kernel) in runnable() {
                let packed = PackedLinear::new(&w, outputs, inputs, &bias, precision, kernel);
                let [all_packed, direct] = [true, false].map(|always_pack| {
                    let mut out = vec![0f32; rows * outputs];
                    let mut scratch = if always_pack {
                        Scratch::always_packing()
                    } else {
                        Scratch::default()
                    };
                    linear(&a, rows, &packed, &mut out, Epilogue::Bias, &mut scratch);
                    out.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
                });
                assert_eq!(
                    all_packed, direct,
                    "{kernel:?} {precision:?} at {inputs} inputs"
                );
            }
        }
    }

    #[test]
    fn epilogues_apply_after_the_bias() {
        for inputs in [20, 2 * K_BLOCK_STEPS + 3] {
            epilogues_apply_after_the_bias_at(inputs);
        }
    }

    fn epilogues_apply_after_the_bias_at(inputs: usize) {
        let (rows, outputs) = (14, 40);
        let a = values(rows * inputs, 4);
        let w = values(outputs * inputs, 5);
        let bias = values(outputs, 6);
        let residual = values(rows * outputs, 7);
        let packed = PackedLinear::new(
            &w,
            outputs,
            inputs,
            &bias,
            Precision::F32,
            Kernel::choose(Precision::F32, Isa::cpu()),
        );
        let mut plain = vec![0f32; rows * outputs];
        let mut scratch = Scratch::default();
        linear(&a, rows, &packed, &mut plain, Epilogue::Bias, &mut scratch);
        let mut gelu = vec![0f32; rows * outputs];
        linear(
            &a,
            rows,
            &packed,
            &mut gelu,
            Epilogue::Activate(Activation::GeluErf),
            &mut scratch,
        );
        let mut added = vec![0f32; rows * outputs];
        linear(
            &a,
            rows,
            &packed,
            &mut added,
            Epilogue::AddResidual(&residual),
            &mut scratch,
        );
        for i in 0..rows * outputs {
            assert_eq!(gelu[i], ops::gelu_erf(plain[i]));
            assert_eq!(added[i], plain[i] + residual[i]);
        }
    }

    #[test]
    fn a_row_gives_the_same_bits_whatever_rows_run_with_it() {
        for inputs in [96, 4 * K_BLOCK_STEPS + 9] {
            a_row_gives_the_same_bits_at(inputs);
        }
    }

    fn a_row_gives_the_same_bits_at(inputs: usize) {
        let outputs = 64;
        let w = values(outputs * inputs, 8);
        let bias = values(outputs, 9);
        let a = values(40 * inputs, 10);
        for (precision, kernel) in runnable() {
            let packed = PackedLinear::new(&w, outputs, inputs, &bias, precision, kernel);
            let mut all = vec![0f32; 40 * outputs];
            linear(
                &a,
                40,
                &packed,
                &mut all,
                Epilogue::Bias,
                &mut Scratch::default(),
            );
            for row in [0, 7, 13, 39] {
                let mut one = vec![0f32; outputs];
                linear(
                    &a[row * inputs..(row + 1) * inputs],
                    1,
                    &packed,
                    &mut one,
                    Epilogue::Bias,
                    &mut Scratch::default(),
                );
                assert_eq!(
                    one,
                    all[row * outputs..(row + 1) * outputs],
                    "{kernel:?} row {row}"
                );
            }
        }
    }

    #[test]
    fn int8_is_close_on_encoder_shapes_and_every_int8_kernel_gives_the_same_bits() {
        let (rows, inputs, outputs) = (37, 384, 96);
        let a = values(rows * inputs, 11);
        let w = values(outputs * inputs, 12);
        let bias = vec![0f32; outputs];
        let exact = reference(&a, rows, &w, outputs, inputs, &bias, false);
        let mut first: Option<Vec<f32>> = None;
        for (_, kernel) in runnable()
            .into_iter()
            .filter(|(p, _)| *p == Precision::Int8)
        {
            let packed = PackedLinear::new(&w, outputs, inputs, &bias, Precision::Int8, kernel);
            let mut out = vec![0f32; rows * outputs];
            let mut scratch = Scratch::default();
            linear(&a, rows, &packed, &mut out, Epilogue::Bias, &mut scratch);
            // Typical error, not just the worst case: well under 1% of the outputs' spread.
            let spread = exact.iter().map(|x| x * x).sum::<f64>() / exact.len() as f64;
            let error = out
                .iter()
                .zip(&exact)
                .map(|(&g, &e)| (f64::from(g) - e).powi(2))
                .sum::<f64>()
                / exact.len() as f64;
            assert!(
                error < 1e-4 * spread,
                "{kernel:?}: {error} against {spread}"
            );
            match &first {
                None => first = Some(out),
                Some(first) => assert_eq!(&out, first, "{kernel:?}"),
            }
        }
    }

    #[test]
    fn int8_sums_do_not_saturate_at_the_extremes() {
        // Activations that quantise to 255 and weights to ±127 side by side: a pair's sum,
        // 255 × 127 × 2, is past what 16 bits hold.
        let (rows, inputs, outputs) = (7, 64, 20);
        let a: Vec<f32> = (0..rows * inputs)
            .map(|i| if i % inputs == 0 { 0.0 } else { 1.0 })
            .collect();
        let w: Vec<f32> = (0..outputs * inputs)
            .map(|i| if (i / inputs) % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        let bias = vec![0f32; outputs];
        for (_, kernel) in runnable()
            .into_iter()
            .filter(|(p, _)| *p == Precision::Int8)
        {
            let packed = PackedLinear::new(&w, outputs, inputs, &bias, Precision::Int8, kernel);
            for (i, &got) in product(&a, rows, &packed).iter().enumerate() {
                let want = if i % outputs % 2 == 0 { 63.0 } else { -63.0 };
                assert!((got - want).abs() < 1e-3, "{kernel:?} at {i}: {got}");
            }
        }
    }

    #[test]
    fn int8_keeps_zero_rows_and_constant_rows_exact() {
        let (inputs, outputs) = (8, 5);
        let w = values(outputs * inputs, 13);
        let bias = values(outputs, 14);
        let kernel = Kernel::choose(Precision::Int8, Isa::cpu());
        let packed = PackedLinear::new(&w, outputs, inputs, &bias, Precision::Int8, kernel);
        let a = [vec![0f32; inputs], vec![-2.5f32; inputs]].concat();
        let mut out = vec![0f32; 2 * outputs];
        linear(
            &a,
            2,
            &packed,
            &mut out,
            Epilogue::Bias,
            &mut Scratch::default(),
        );
        assert_eq!(&out[..outputs], &bias[..], "zeros give the bias alone");
        let want = reference(&a, 2, &w, outputs, inputs, &bias, false);
        for (o, &got) in out[outputs..].iter().enumerate() {
            let bound = int8_bound(&a[inputs..], &w[o * inputs..(o + 1) * inputs]);
            assert!((f64::from(got) - want[outputs + o]).abs() < bound);
        }
    }

    #[test]
    fn small_rounding_is_to_nearest_even() {
        for x in [
            0.0f32, -0.0, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 126.49, 126.5, -127.5, 3.7, -3.7,
        ] {
            assert_eq!(round_ties_even_small(x), x.round_ties_even(), "{x}");
        }
    }

    #[test]
    fn bf16_rounds_to_nearest_even() {
        assert_eq!(round_bf16(1.0), 1.0);
        assert_eq!(round_bf16(1.0 + 1.0 / 256.0), 1.0); // a tie: to even
        assert_eq!(round_bf16(1.0 + 3.0 / 256.0), 1.0 + 4.0 / 256.0); // a tie: to even
        assert_eq!(round_bf16(1.0 + 1.5 / 256.0), 1.0 + 2.0 / 256.0);
        assert!(round_bf16(f32::NAN).is_nan());
    }
}
