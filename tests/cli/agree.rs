//! `discotag agree`: two human coders in JSONL, the model's output dataset against a human
//! coder, the review queue and the report.

use std::collections::HashMap;

use arrow_array::Float32Array;
use predicates::prelude::*;
use serde_json::Value;

use crate::util::*;

fn agree_json(wd: &Workdir, args: &[&str]) -> Value {
    let out = wd
        .command(&["agree", "--json"])
        .args(args)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice(&out).expect("agree --json prints one JSON object")
}

fn close(value: &Value, expected: f64) {
    let got = value
        .as_f64()
        .unwrap_or_else(|| panic!("not a number: {value}"));
    assert!((got - expected).abs() < 1e-9, "{got} != {expected}");
}

/// Ten utterances; on `prevention` the coders agree on 8 (3 both, 5 neither), and each codes one
/// the other does not. Hand-computed: p_o = 0.8, p_e = 0.52, kappa = 0.28 / 0.48; AC1 with
/// pi = 0.4: p_e = 0.48, (0.8 - 0.48) / 0.52; alpha from the coincidence matrix (n = 20,
/// n_1 = 8, n_0 = 12, o_01 = 2): 1 - 19 * 2 / 96.
#[test]
fn two_human_coders_in_jsonl_match_hand_computed_statistics() {
    let wd = Workdir::new();
    let line = |id: usize, labels: &[&str]| {
        format!(
            "{{\"id\": \"u{id}\", \"text\": \"utterance {id}\", \"speaker\": \"{}\", \"labels\": {}}}\n",
            if id.is_multiple_of(2) {
                "GP"
            } else {
                "Commissioner"
            },
            serde_json::to_string(labels).unwrap()
        )
    };
    let reference: String = (0..10)
        .map(|i| line(i, if i < 4 { &["prevention"] } else { &[] }))
        .collect();
    let candidate: String = (0..10)
        .map(|i| {
            line(
                i,
                if i < 3 || i == 4 {
                    &["prevention"]
                } else {
                    &[]
                },
            )
        })
        .chain([line(99, &["prevention"])])
        .collect();
    wd.create("a.jsonl", reference);
    wd.create("b.jsonl", candidate);
    let report = agree_json(
        &wd,
        &[
            "--reference",
            "a.jsonl",
            "--candidate",
            "b.jsonl",
            "--bootstrap",
            "200",
        ],
    );
    assert_eq!(report["n_units"], 10);
    assert_eq!(report["unmatched_candidate"], 1);
    let p = &report["per_code"]["prevention"];
    close(&p["percent_agreement"], 0.8);
    close(&p["cohen_kappa"], 0.28 / 0.48);
    close(&p["krippendorff_alpha"], 1.0 - 19.0 * 2.0 / 96.0);
    close(&p["gwet_ac1"], 0.32 / 0.52);
    close(&p["precision"], 0.75);
    close(&p["recall"], 0.75);
    close(&p["f1"], 0.75);
    let kappa = report["intervals"]["per_code"]["prevention"]["cohen_kappa"]
        .as_array()
        .unwrap();
    let (lo, hi) = (kappa[0].as_f64().unwrap(), kappa[1].as_f64().unwrap());
    assert!(lo <= 0.28 / 0.48 && 0.28 / 0.48 <= hi, "[{lo}, {hi}]");
    // The same seed gives the same intervals.
    let again = agree_json(
        &wd,
        &[
            "--reference",
            "a.jsonl",
            "--candidate",
            "b.jsonl",
            "--bootstrap",
            "200",
        ],
    );
    assert_eq!(report["intervals"], again["intervals"]);
}

#[test]
fn unknown_codes_and_missing_files_are_clear_errors() {
    let wd = Workdir::new();
    wd.create(
        "a.jsonl",
        "{\"id\": 1, \"text\": \"x\", \"labels\": [\"prevention\"]}\n",
    );
    wd.create(
        "b.jsonl",
        "{\"id\": 1, \"text\": \"x\", \"labels\": []}\n{\"id\": 2, \"text\": \"y\", \"labels\": [\"thrift\"]}\n",
    );
    let codebook = repo().join("data/codebooks/joint_commissioning.toml");
    let codebook = codebook.to_str().unwrap();
    let cases: [(&[&str], i32, &[&str]); 4] = [
        (
            &["b.jsonl", "--codebook", codebook],
            1,
            &["b.jsonl, line 2", "thrift"],
        ),
        (&["nope.jsonl"], 1, &["nope.jsonl"]),
        (&["b.jsonl", "--reference-coder", "Alice"], 2, &[".qdpx"]),
        (&["b.jsonl", "--unit", "window"], 2, &["sentence"]),
    ];
    for (candidate_and_options, code, messages) in cases {
        let output = wd
            .command(&["agree", "--reference", "a.jsonl", "--candidate"])
            .args(candidate_and_options)
            .assert()
            .code(code)
            .get_output()
            .stderr
            .clone();
        let stderr = String::from_utf8_lossy(&output);
        for message in messages {
            assert!(
                stderr.contains(message),
                "{candidate_and_options:?}: {stderr}"
            );
        }
    }
}

/// The model's dataset as the candidate: every coded utterance is compared, statistics agree
/// with their own tables, the curve exists, the review queue holds exactly the units that
/// differ, most confident first, and the report renders.
#[test]
fn model_dataset_against_a_human_coder() {
    let wd = Workdir::new();
    let test = std::fs::read_to_string(repo().join("data/labelled/test.jsonl")).unwrap();
    let coded: String = test.lines().take(60).map(|l| format!("{l}\n")).collect();
    wd.create("coded.jsonl", &coded);
    wd.command(&["label", "coded.jsonl", "--out", "run"])
        .assert()
        .success();
    let report = agree_json(
        &wd,
        &[
            "--reference",
            "coded.jsonl",
            "--candidate",
            "run",
            "--disagreements",
            "review.parquet",
            "--report",
            "report.html",
        ],
    );
    assert_eq!(report["n_units"], 60);
    assert_eq!(report["unmatched_reference"], 0);
    let codes = ["prevention", "empowerment", "efficiency"];
    for code in codes {
        let stats = &report["per_code"][code];
        for key in [
            "percent_agreement",
            "cohen_kappa",
            "krippendorff_alpha",
            "precision",
            "recall",
            "f1",
        ] {
            assert!(stats.get(key).is_some(), "{code}: no {key}");
        }
        let t = &report["tables"][code];
        let n: u64 = [
            "true_positive",
            "false_positive",
            "false_negative",
            "true_negative",
        ]
        .iter()
        .map(|k| t[k].as_u64().unwrap())
        .sum();
        assert_eq!(n, 60);
        let agree = (t["true_positive"].as_u64().unwrap() + t["true_negative"].as_u64().unwrap())
            as f64
            / 60.0;
        close(&stats["percent_agreement"], agree);
        assert_eq!(
            report["threshold_curve"][code].as_array().unwrap().len(),
            19
        );
    }

    // The review queue: the units whose codes differ, by confidence.
    let reference: HashMap<String, Vec<String>> = coded
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let id = match &v["id"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let labels = v["labels"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap().to_string())
                .collect();
            (id, labels)
        })
        .collect();
    let segments = read_segments(&wd.path().join("run"));
    // An utterance cut into several windows carries the union of their labels.
    let mut model: HashMap<String, Vec<String>> = HashMap::new();
    for (id, row_labels) in strings(&segments, "record_id")
        .into_iter()
        .map(Option::unwrap)
        .zip(labels(&segments))
    {
        let union = model.entry(id).or_default();
        for label in row_labels {
            if !union.contains(&label) {
                union.push(label);
            }
        }
    }
    let differing = reference
        .iter()
        .filter(|(id, labels)| {
            let mut a = (*labels).clone();
            let mut b = model[*id].clone();
            a.sort();
            b.sort();
            a != b
        })
        .count();
    let review = read_parquet(&wd.path().join("review.parquet"));
    let rows: usize = review.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, differing);
    let confidence: Vec<f32> = review
        .iter()
        .flat_map(|b| column::<Float32Array>(b, "confidence").values().to_vec())
        .collect();
    assert!(
        confidence.windows(2).all(|w| w[0] >= w[1]),
        "{confidence:?}"
    );

    let html = std::fs::read_to_string(wd.path().join("report.html")).unwrap();
    for code in codes {
        assert!(html.contains(code), "report lacks {code}");
    }
    assert!(!html.contains("http://") && !html.contains("https://"));
}

/// Code points of each (source GUID, code) coded by `user`, with project code names mapped to
/// the default codebook's by their last path part, ignoring case.
fn coded_points(
    project: &discotag::refi::Project,
    user: &str,
) -> HashMap<(String, String), std::collections::BTreeSet<u64>> {
    let mut out: HashMap<(String, String), std::collections::BTreeSet<u64>> = HashMap::new();
    for coding in project.codings_by(user) {
        let code = project.code(&coding.code_guid).unwrap().name.to_lowercase();
        out.entry((coding.source_guid.clone(), code))
            .or_default()
            .extend(coding.start..coding.end);
    }
    out
}

fn table_of(json: &Value) -> [u64; 4] {
    [
        "true_positive",
        "false_positive",
        "false_negative",
        "true_negative",
    ]
    .map(|k| json[k].as_u64().unwrap())
}

/// Character-level tables counted code point by code point over every source.
fn brute_force_tables(
    project: &discotag::refi::Project,
    reference: &HashMap<(String, String), std::collections::BTreeSet<u64>>,
    candidate: &HashMap<(String, String), std::collections::BTreeSet<u64>>,
    code: &str,
) -> [u64; 4] {
    let mut t = [0u64; 4];
    let empty = std::collections::BTreeSet::new();
    for source in &project.sources {
        let key = (source.guid.clone(), code.to_string());
        let r = reference.get(&key).unwrap_or(&empty);
        let c = candidate.get(&key).unwrap_or(&empty);
        for x in 0..source.plain_text.chars().count() as u64 {
            match (r.contains(&x), c.contains(&x)) {
                (true, true) => t[0] += 1,
                (false, true) => t[1] += 1,
                (true, false) => t[2] += 1,
                (false, false) => t[3] += 1,
            }
        }
    }
    t
}

/// Two coders of one REFI-QDA project: the character level equals a code-point-by-code-point
/// count, and a project with several coders needs one named.
#[test]
fn two_coders_of_a_qdpx_project_agree_character_by_character() {
    let wd = Workdir::new();
    let bytes = crate::qdpx::fixture_qdpx();
    wd.create("study.qdpx", &bytes);
    let project = discotag::refi::read_project(&bytes, "study.qdpx").unwrap();
    let report = agree_json(
        &wd,
        &[
            "--reference",
            "study.qdpx",
            "--reference-coder",
            "Ruth Okonjo",
            "--candidate",
            "study.qdpx",
            "--candidate-coder",
            "sam patel",
            "--codebook",
            repo()
                .join("data/codebooks/joint_commissioning.toml")
                .to_str()
                .unwrap(),
        ],
    );
    let ruth = coded_points(&project, "Ruth Okonjo");
    let sam = coded_points(&project, "Sam Patel");
    assert!(!ruth.is_empty() && !sam.is_empty());
    let characters = &report["character_level"];
    let total: u64 = project
        .sources
        .iter()
        .map(|s| s.plain_text.chars().count() as u64)
        .sum();
    assert_eq!(characters["n_units"], total);
    for code in ["prevention", "empowerment", "efficiency"] {
        assert_eq!(
            table_of(&characters["tables"][code]),
            brute_force_tables(&project, &ruth, &sam, code),
            "{code}"
        );
    }
    // NVivo's view: per source and code; each source's characters counted once per code.
    let per_source = characters["per_source"].as_object().unwrap();
    assert_eq!(per_source.len(), project.sources.len());
    for source in &project.sources {
        let n = source.plain_text.chars().count() as u64;
        assert_eq!(per_source[&source.name]["prevention"]["n"], n);
    }
    assert!(report["n_units"].as_u64().unwrap() > 0);
    assert_eq!(report["min_overlap"], 0.5);

    wd.command(&[
        "agree",
        "--reference",
        "study.qdpx",
        "--candidate",
        "study.qdpx",
        "--candidate-coder",
        "Sam Patel",
    ])
    .assert()
    .code(2)
    .stderr(
        predicate::str::contains("Ruth Okonjo").and(predicate::str::contains("--reference-coder")),
    );
}

/// The model's segments of a labelled .qdpx against one of its coders: segment level by the
/// overlap rule, character level from the rows' ranges, both recomputed here independently.
#[test]
fn model_dataset_against_a_qdpx_coder() {
    let wd = Workdir::new();
    let bytes = crate::qdpx::fixture_qdpx();
    wd.create("study.qdpx", &bytes);
    let project = discotag::refi::read_project(&bytes, "study.qdpx").unwrap();
    wd.command(&["label", "study.qdpx", "--out", "run", "--unit", "sentence"])
        .assert()
        .success();
    let report = agree_json(
        &wd,
        &[
            "--reference",
            "study.qdpx",
            "--reference-coder",
            "Ruth Okonjo",
            "--candidate",
            "run",
            "--disagreements",
            "review.parquet",
        ],
    );
    let data = discotag::output::read::read_dataset(&wd.path().join("run")).unwrap();
    assert_eq!(report["n_units"], data.rows.len() as u64);
    let ruth = coded_points(&project, "Ruth Okonjo");
    let mut model: HashMap<(String, String), std::collections::BTreeSet<u64>> = HashMap::new();
    let mut segment_tables: HashMap<&str, [u64; 4]> = HashMap::new();
    let spans_of = |guid: &str, code: &str| -> Vec<(u64, u64)> {
        project
            .codings_by("Ruth Okonjo")
            .into_iter()
            .filter(|c| {
                c.source_guid == guid
                    && project.code(&c.code_guid).unwrap().name.to_lowercase() == code
            })
            .map(|c| (c.start, c.end))
            .collect()
    };
    let mut rows_differing = 0u64;
    for row in &data.rows {
        let mut differs = false;
        let guid = row.metadata["refi_source_guid"].clone();
        let (start, end) = (row.char_start as u64, row.char_end as u64);
        for code in ["prevention", "empowerment", "efficiency"] {
            let says = row.labels.iter().any(|l| l == code);
            if says {
                model
                    .entry((guid.clone(), code.to_string()))
                    .or_default()
                    .extend(start..end);
            }
            let carries = spans_of(&guid, code).iter().any(|&(s, e)| {
                let shared = end.min(e).saturating_sub(start.max(s));
                shared > 0 && shared as f64 >= 0.5 * (end - start).min(e - s) as f64
            });
            differs |= carries != says;
            let t = segment_tables.entry(code).or_default();
            match (carries, says) {
                (true, true) => t[0] += 1,
                (false, true) => t[1] += 1,
                (true, false) => t[2] += 1,
                (false, false) => t[3] += 1,
            }
        }
        rows_differing += u64::from(differs);
    }
    for code in ["prevention", "empowerment", "efficiency"] {
        assert_eq!(
            table_of(&report["tables"][code]),
            segment_tables[code],
            "{code}"
        );
        assert_eq!(
            table_of(&report["character_level"]["tables"][code]),
            brute_force_tables(&project, &ruth, &model, code),
            "{code}"
        );
    }
    let review = read_parquet(&wd.path().join("review.parquet"));
    assert_eq!(
        review.iter().map(|b| b.num_rows() as u64).sum::<u64>(),
        rows_differing
    );
}

/// Two coders of a project made by another QDA tool (AQDA): the character-level tables equal
/// those counted from AQDA's own record of the codings (`expected.json`, from its database,
/// not from the export), so reading, code matching and counting are all checked end to end.
#[test]
fn two_coders_of_a_foreign_project_agree_as_the_tool_recorded() {
    let wd = Workdir::new();
    let fixture = repo().join("tests/fixtures/refi-qda/aqda");
    std::fs::copy(
        fixture.join("commissioning.qdpx"),
        wd.path().join("aqda.qdpx"),
    )
    .unwrap();
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture.join("expected.json")).unwrap())
            .unwrap();
    let report = agree_json(
        &wd,
        &[
            "--reference",
            "aqda.qdpx",
            "--reference-coder",
            "Alice",
            "--candidate",
            "aqda.qdpx",
            "--candidate-coder",
            "Bob",
            "--codebook",
            repo()
                .join("data/codebooks/joint_commissioning.toml")
                .to_str()
                .unwrap(),
        ],
    );
    let documents = expected["documents"].as_array().unwrap();
    let codings = expected["codings"].as_array().unwrap();
    for code in ["prevention", "empowerment", "efficiency"] {
        let mut t = [0u64; 4];
        for doc in documents {
            let name = doc["name"].as_str().unwrap();
            let points = |coder: &str| -> std::collections::BTreeSet<u64> {
                codings
                    .iter()
                    .filter(|c| {
                        // Sub-codes (empowerment/co-production) count as their parent.
                        c["document"] == name && c["coder"] == coder && c["code_path"][0] == code
                    })
                    .flat_map(|c| c["start_pos"].as_u64().unwrap()..c["end_pos"].as_u64().unwrap())
                    .collect()
            };
            let (alice, bob) = (points("Alice"), points("Bob"));
            for x in 0..doc["content"].as_str().unwrap().chars().count() as u64 {
                match (alice.contains(&x), bob.contains(&x)) {
                    (true, true) => t[0] += 1,
                    (false, true) => t[1] += 1,
                    (true, false) => t[2] += 1,
                    (false, false) => t[3] += 1,
                }
            }
        }
        assert_eq!(
            table_of(&report["character_level"]["tables"][code]),
            t,
            "{code}"
        );
    }
}
