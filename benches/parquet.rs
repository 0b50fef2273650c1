//! Stage "write": rows to a zstd Parquet part file.

use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use discotag::output::parquet::PartWriter;
use discotag::output::schema::{Row, segment_schema, to_record_batch};

fn rows(n: usize) -> Vec<Row> {
    let metadata = Arc::new([("site".to_string(), "Northtown".to_string())].into());
    (0..n)
        .map(|i| Row {
            source_path: "corpus/interview_000001.txt".into(),
            doc_id: "interview_000001".into(),
            record_index: None,
            record_id: None,
            segment_index: i as i32,
            speaker: Some("Respondent".into()),
            char_start: i as i64 * 200,
            char_end: i as i64 * 200 + 180,
            cue_start_ms: None,
            cue_end_ms: None,
            text: format!("We pooled the budget in year {i} so that the reablement team could get in earlier, and it saved money."),
            token_count: 28,
            truncated: false,
            labels: vec!["prevention".into(), "efficiency".into()],
            scores: vec![0.8, 0.1, 0.7],
            metadata: Arc::clone(&metadata),
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let codes: Vec<String> = ["prevention", "empowerment", "efficiency"]
        .map(String::from)
        .to_vec();
    let schema = segment_schema(&codes);
    let rows = rows(10_000);
    let mut group = c.benchmark_group("write");
    group.throughput(Throughput::Elements(rows.len() as u64));
    group.bench_function("record_batch_10k_rows", |b| {
        b.iter(|| to_record_batch(&schema, "run", "model", &rows).unwrap())
    });
    group.bench_function("parquet_part_10k_rows", |b| {
        b.iter_batched(
            || tempfile::tempdir().unwrap(),
            |dir| {
                let mut writer = PartWriter::new(dir.path(), schema.clone(), "bench").unwrap();
                writer
                    .write(&to_record_batch(&schema, "run", "model", &rows).unwrap())
                    .unwrap();
                writer.commit().unwrap()
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
