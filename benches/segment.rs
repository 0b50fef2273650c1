//! Stage "read" + "segment": parsing a plain-text transcript and windowing its turns.

mod common;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use discotag::input::{self, Format, ReadOptions};
use discotag::segment::{self, SegmentUnit};
use discotag::tokenize::TextTokenizer;

fn bench(c: &mut Criterion) {
    let text = std::fs::read(common::repo().join("data/sample/site_a_gp_interview.txt")).unwrap();
    let tokenizer =
        TextTokenizer::from_file(&common::encoder_dir().join("tokenizer.json"), 128).unwrap();
    let mut group = c.benchmark_group("read_segment");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("parse_text", |b| {
        b.iter(|| input::parse(&text, Format::Text, "a.txt", "a", &ReadOptions::default()).unwrap())
    });
    let parsed = input::parse(&text, Format::Text, "a.txt", "a", &ReadOptions::default()).unwrap();
    for unit in [SegmentUnit::Sentence, SegmentUnit::Window] {
        group.bench_function(format!("split_{unit:?}").to_lowercase(), |b| {
            b.iter(|| {
                parsed.documents[0]
                    .units
                    .iter()
                    .map(|u| segment::split(&u.text, unit, 128, &tokenizer).len())
                    .sum::<usize>()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
