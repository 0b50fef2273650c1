//! `discotag agree`: the bootstrap over units (segment level) and over blocks (character level),
//! and character-level counting over merged spans.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use discotag::agree::align;
use discotag::metrics::agreement;
use discotag::metrics::classification::Confusion;
use discotag::rng::SplitMix;

const UNITS: usize = 10_000;
const CODES: usize = 3;

fn unit_tables(rng: &mut SplitMix) -> Vec<Vec<Confusion>> {
    (0..UNITS)
        .map(|_| {
            let reference: Vec<bool> = (0..CODES).map(|_| rng.next_f32() < 0.3).collect();
            let candidate: Vec<bool> = reference
                .iter()
                .map(|&r| if rng.next_f32() < 0.15 { !r } else { r })
                .collect();
            agreement::unit_tables(&reference, &candidate).expect("same length")
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut rng = SplitMix::new(7);
    let units = unit_tables(&mut rng);
    let mut group = c.benchmark_group("agree");
    group.sample_size(10);
    group.throughput(Throughput::Elements(UNITS as u64));
    group.bench_function("bootstrap_1000_units_10k_codes_3", |b| {
        b.iter(|| agreement::bootstrap(&units, 1000, 42).expect("units"))
    });
    // A 60-minute interview is about 50,000 code points; spans of 50 to 500 points.
    let length = 50_000u64;
    let spans = |rng: &mut SplitMix| {
        align::merge(
            (0..150)
                .map(|_| {
                    let start = rng.next_u64() % length;
                    (start, (start + 50 + rng.next_u64() % 450).min(length))
                })
                .collect(),
        )
    };
    let (reference, candidate) = (spans(&mut rng), spans(&mut rng));
    let starts: Vec<u64> = (0..length).step_by(200).collect();
    group.throughput(Throughput::Elements(length));
    group.bench_function("char_tables_50k_points_250_blocks", |b| {
        b.iter(|| {
            align::blocks(&starts, length)
                .into_iter()
                .map(|block| align::char_confusion(&reference, &candidate, block))
                .fold(0u64, |n, t| n + t.true_positive)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
