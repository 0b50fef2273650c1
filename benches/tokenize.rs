//! Stage "tokenise": all-MiniLM-L6-v2's tokenizer with discotag's truncation.

mod common;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use discotag::tokenize::TextTokenizer;

fn bench(c: &mut Criterion) {
    let texts = common::utterances();
    let tokenizer =
        TextTokenizer::from_file(&common::encoder_dir().join("tokenizer.json"), 128).unwrap();
    let mut group = c.benchmark_group("tokenize");
    group.throughput(Throughput::Elements(texts.len() as u64));
    group.bench_function("encode_utterances", |b| {
        b.iter(|| {
            texts
                .iter()
                .map(|t| tokenizer.encode(t).unwrap().ids.len())
                .sum::<usize>()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
