//! The inference engine: its matrix products at the encoders' shapes (all-MiniLM-L6-v2's 384
//! wide, all-mpnet-base-v2's 768) in every precision (throughput in FLOP/s or int8 OP/s, shown
//! by criterion as elements/s; int8 also on its portable kernel, the fallback's cost), and the real encoder on 128 utterances on one thread,
//! to compare with `encode/sorted_batches_of_32` (candle) in the `classify` bench.

mod common;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use discotag::model::engine::gemm::{self, Epilogue, Isa, Kernel, PackedLinear, Scratch};
use discotag::model::engine::ops::Activation;
use discotag::model::{InferenceEncoder, Pooling, Precision};

/// Tokens in a batch of 32 utterances of the corpus's median length (38).
const ROWS: usize = 1216;

fn gemm_shapes(c: &mut Criterion) {
    let mut group = c.benchmark_group("gemm");
    group.sample_size(20);
    let shapes = [
        ("qkv_384x1152", 384, 1152, None),
        ("attention_out_384x384", 384, 384, None),
        ("intermediate_384x1536", 384, 1536, None),
        (
            "intermediate_gelu_384x1536",
            384,
            1536,
            Some(Activation::GeluErf),
        ),
        ("output_1536x384", 1536, 384, None),
        ("mpnet_qkv_768x2304", 768, 2304, None),
        ("mpnet_intermediate_768x3072", 768, 3072, None),
        ("mpnet_output_3072x768", 3072, 768, None),
    ];
    let best = Isa::from_env().unwrap();
    let mut kernels: Vec<(Precision, Kernel)> = [Precision::F32, Precision::Bf16, Precision::Int8]
        .iter()
        .map(|&p| (p, Kernel::choose(p, best)))
        .collect();
    if Kernel::choose(Precision::Int8, Isa::Portable) != Kernel::choose(Precision::Int8, best) {
        kernels.push((
            Precision::Int8,
            Kernel::choose(Precision::Int8, Isa::Portable),
        ));
    }
    for (precision, kernel) in kernels {
        for &(name, inputs, outputs, act) in &shapes {
            let weight: Vec<f32> = (0..inputs * outputs)
                .map(|i| ((i % 97) as f32 - 48.0) / 97.0)
                .collect();
            let bias = vec![0.1; outputs];
            let packed = PackedLinear::new(&weight, outputs, inputs, &bias, precision, kernel);
            let a: Vec<f32> = (0..ROWS * inputs)
                .map(|i| ((i % 89) as f32 - 44.0) / 89.0)
                .collect();
            let mut out = vec![0f32; ROWS * outputs];
            let epilogue = act.map_or(Epilogue::Bias, Epilogue::Activate);
            group.throughput(Throughput::Elements((2 * ROWS * inputs * outputs) as u64));
            // f32 kernels read rows in place unless that would thrash L1; at the wider inputs
            // the same product with every row panel packed shows what that rule is worth.
            let packing = if precision == Precision::F32 {
                &[false, true][..]
            } else {
                &[false][..]
            };
            for &always_pack in packing {
                let mut scratch = if always_pack {
                    Scratch::always_packing()
                } else {
                    Scratch::default()
                };
                let variant = if always_pack { "_all-packed" } else { "" };
                // bf16 without AVX-512 BF16 is an f32 kernel on rounded values.
                let rounded = if precision == Precision::Bf16 && kernel != Kernel::Avx512Bf16 {
                    "bf16-rounded_"
                } else {
                    ""
                };
                let id = format!("{rounded}{}{variant}_{name}", packed.kernel().name());
                group.bench_function(id, |b| {
                    b.iter(|| gemm::linear(&a, ROWS, &packed, &mut out, epilogue, &mut scratch))
                });
            }
        }
    }
    group.finish();
}

fn encode(c: &mut Criterion) {
    let texts = common::utterances();
    let loaded = discotag::model::load_encoder(&common::encoder_dir(), 128).unwrap();
    let ids: Vec<Vec<u32>> = texts
        .iter()
        .take(128)
        .map(|t| loaded.tokenizer.encode(t).unwrap().ids)
        .collect();
    let lengths: Vec<usize> = ids.iter().map(Vec::len).collect();
    let plan = discotag::batch::plan(&lengths, 32);
    let mut group = c.benchmark_group("engine");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ids.len() as u64));
    for precision in [Precision::F32, Precision::Bf16, Precision::Int8] {
        let engine = InferenceEncoder::new(&loaded.encoder, precision).unwrap();
        let mut ws = discotag::model::engine::Workspace::default();
        group.bench_function(
            format!("one_thread_{}_batches_of_32", engine.kernel().name()),
            |b| {
                b.iter(|| {
                    for batch in &plan {
                        let seqs: Vec<&[u32]> = batch.iter().map(|&i| ids[i].as_slice()).collect();
                        engine.embed(&seqs, Pooling::Mean, true, &mut ws).unwrap();
                    }
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, gemm_shapes, encode);
criterion_main!(benches);
