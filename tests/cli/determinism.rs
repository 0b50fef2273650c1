//! The same input and model give the same rows whatever the batch size, thread count or shard,
//! in each precision.

use std::collections::BTreeMap;

use crate::util::*;

/// Rows keyed by (source, doc, segment index), with text, start offset and scores.
type Rows = BTreeMap<(String, String, i64), (String, i64, Vec<f32>)>;

/// Rows keyed by (source, doc, segment index) with their text, offsets and scores.
fn rows(out: &std::path::Path) -> Rows {
    let batches = read_segments(out);
    let sources = strings(&batches, "source_path");
    let docs = strings(&batches, "doc_id");
    let texts = strings(&batches, "text");
    let starts = ints(&batches, "char_start");
    let mut segment_index = Vec::new();
    for b in &batches {
        let a = column::<arrow_array::Int32Array>(b, "segment_index");
        segment_index.extend(a.values().iter().map(|&v| i64::from(v)));
    }
    let scores: Vec<Vec<f32>> = ["score_prevention", "score_empowerment", "score_efficiency"]
        .iter()
        .map(|c| floats(&batches, c))
        .collect();
    (0..texts.len())
        .map(|i| {
            (
                (
                    sources[i].clone().unwrap(),
                    docs[i].clone().unwrap(),
                    segment_index[i],
                ),
                (
                    texts[i].clone().unwrap(),
                    starts[i].unwrap(),
                    scores.iter().map(|s| s[i]).collect(),
                ),
            )
        })
        .collect()
}

/// The same segments with scores within `tolerance` (0 for identical bits).
fn assert_close(a: &Rows, b: &Rows, tolerance: f32) {
    assert_eq!(a.len(), b.len());
    for ((key, (text_a, start_a, scores_a)), (key_b, (text_b, start_b, scores_b))) in
        a.iter().zip(b)
    {
        assert_eq!(key, key_b);
        assert_eq!((text_a, start_a), (text_b, start_b));
        for (x, y) in scores_a.iter().zip(scores_b) {
            assert!((x - y).abs() <= tolerance, "{key:?}: {x} vs {y}");
        }
    }
}

/// The same segments and scores, bit for bit: the engine's sums do not depend on the batch.
fn assert_same(a: &Rows, b: &Rows) {
    assert_close(a, b, 0.0);
}

#[test]
fn batch_size_and_threads_do_not_change_rows() {
    let wd = Workdir::new();
    let sample = repo().join("data/sample");
    let sample = sample.to_str().unwrap();
    wd.command(&["label", sample, "--out", "b32"])
        .assert()
        .success();
    wd.command(&[
        "label",
        sample,
        "--out",
        "b1",
        "--batch-size",
        "1",
        "--threads",
        "1",
    ])
    .assert()
    .success();
    wd.command(&[
        "label",
        sample,
        "--out",
        "b7",
        "--batch-size",
        "7",
        "--threads",
        "2",
    ])
    .assert()
    .success();
    for precision in ["bf16", "int8"] {
        for (batch, threads) in [("32", "2"), ("5", "1")] {
            wd.command(&[
                "label",
                sample,
                "--out",
                &format!("{precision}-b{batch}"),
                "--batch-size",
                batch,
                "--threads",
                threads,
                "--precision",
                precision,
            ])
            .assert()
            .success();
        }
    }
    let reference = rows(&wd.path().join("b32"));
    assert_same(&reference, &rows(&wd.path().join("b1")));
    assert_same(&reference, &rows(&wd.path().join("b7")));
    let bf16 = rows(&wd.path().join("bf16-b32"));
    assert_same(&bf16, &rows(&wd.path().join("bf16-b5")));
    // bf16 rounds, so its scores differ from fp32's, but only a little.
    assert_close(&reference, &bf16, 0.05);
    assert_ne!(reference, bf16);
    let int8 = rows(&wd.path().join("int8-b32"));
    assert_same(&int8, &rows(&wd.path().join("int8-b5")));
    assert_close(&reference, &int8, 0.1);
    assert_ne!(reference, int8);
    // Within each document, rows are written in segment order.
    let batches = read_segments(&wd.path().join("b7"));
    let docs = strings(&batches, "doc_id");
    let mut last: BTreeMap<String, i32> = BTreeMap::new();
    let mut i = 0;
    for b in &batches {
        let a = column::<arrow_array::Int32Array>(b, "segment_index");
        for &v in a.values() {
            let doc = docs[i].clone().unwrap();
            assert_eq!(
                v,
                last.get(&doc).map_or(0, |p| p + 1),
                "order broken in {doc}"
            );
            last.insert(doc, v);
            i += 1;
        }
    }
}

#[test]
fn union_of_shards_equals_one_run() {
    let wd = Workdir::new();
    for i in 0..12 {
        wd.create(&format!("in/t{i:02}.txt"), format!("Interviewer: Question {i}?\n\nRespondent: We pooled budget number {i} and listened to carers.\n"));
    }
    wd.command(&["label", "in", "--out", "all"])
        .assert()
        .success();
    let all = rows(&wd.path().join("all"));
    for n in 1..=4 {
        let mut union = BTreeMap::new();
        for k in 0..n {
            let out = format!("shard{n}-{k}");
            wd.command(&["label", "in", "--out", &out, "--shard", &format!("{k}/{n}")])
                .assert()
                .success();
            let part = rows(&wd.path().join(&out));
            for key in part.keys() {
                assert!(!union.contains_key(key), "{key:?} in two shards");
            }
            union.extend(part);
        }
        assert_same(&all, &union);
    }
}

/// `DISCOTAG_ISA` caps the instruction set (to measure the fallbacks on a CPU that has more);
/// every instruction set gives the same rows, bit for bit; a wrong name is a usage error.
#[test]
fn instruction_set_fallbacks_give_the_same_rows() {
    let wd = Workdir::new();
    let sample = repo().join("data/sample");
    let sample = sample.to_str().unwrap();
    wd.command(&["label", sample, "--out", "best"])
        .assert()
        .success();
    for isa in ["avx2", "portable"] {
        wd.command(&["label", sample, "--out", isa])
            .env("DISCOTAG_ISA", isa)
            .assert()
            .success();
        assert_same(&rows(&wd.path().join("best")), &rows(&wd.path().join(isa)));
    }
    wd.command(&["label", sample, "--out", "bad"])
        .env("DISCOTAG_ISA", "sse9")
        .assert()
        .code(2)
        .stderr(predicates::str::contains("DISCOTAG_ISA=\"sse9\""));
}
