//! Stage "encode and classify": the real encoder on batches of 32 utterances, sorted by length
//! (as the pipeline batches them) and in corpus order (to show what padding costs).

mod common;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use discotag::model::{Pass, Pooling};

fn bench(c: &mut Criterion) {
    let texts = common::utterances();
    let encoder = discotag::model::load_encoder(&common::encoder_dir(), 128).unwrap();
    let ids: Vec<Vec<u32>> = texts
        .iter()
        .take(128)
        .map(|t| encoder.tokenizer.encode(t).unwrap().ids)
        .collect();
    let lengths: Vec<usize> = ids.iter().map(Vec::len).collect();
    let sorted = discotag::batch::plan(&lengths, 32);
    let in_order: Vec<Vec<usize>> = (0..ids.len())
        .collect::<Vec<_>>()
        .chunks(32)
        .map(<[usize]>::to_vec)
        .collect();
    let mut group = c.benchmark_group("encode");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ids.len() as u64));
    for (name, plan) in [
        ("sorted_batches_of_32", &sorted),
        ("corpus_order_batches_of_32", &in_order),
    ] {
        let (real, computed) = discotag::batch::padding(&lengths, plan);
        eprintln!(
            "{name}: {real} real tokens, {computed} computed, padding waste {:.0}%",
            100.0 * (1.0 - real as f64 / computed as f64)
        );
        group.bench_function(name, |b| {
            b.iter(|| {
                for batch in plan {
                    let seqs: Vec<&[u32]> = batch.iter().map(|&i| ids[i].as_slice()).collect();
                    encoder
                        .embed(&seqs, Pooling::Mean, true, Pass::Inference)
                        .unwrap();
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
