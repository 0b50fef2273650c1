//! `discotag train` and `discotag eval`.

use predicates::prelude::*;

use crate::util::*;

#[test]
fn eval_json_has_exactly_the_contract_keys() {
    let wd = Workdir::new();
    let test = repo().join("data/labelled/test.jsonl");
    let output = wd
        .command(&["eval", "--data", test.to_str().unwrap(), "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let report: serde_json::Value = serde_json::from_slice(&output).unwrap();
    let mut keys: Vec<&str> = report
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, vec!["macro_f1", "micro_f1", "n", "per_code"]);
    assert_eq!(report["n"], 70);
    let per_code = report["per_code"].as_object().unwrap();
    assert_eq!(per_code.len(), 3);
    for scores in per_code.values() {
        let mut keys: Vec<&str> = scores
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, vec!["f1", "precision", "recall", "support"]);
    }
    let support: u64 = per_code
        .values()
        .map(|s| s["support"].as_u64().unwrap())
        .sum();
    assert!(support > 0);
}

#[test]
fn training_is_reproducible_with_the_same_seed() {
    let wd = Workdir::new();
    let repo = repo();
    let train = |out: &str| {
        wd.command(&["train", "--codebook"])
            .arg(repo.join("data/codebooks/joint_commissioning.toml"))
            .arg("--data")
            .arg(repo.join("data/labelled/train.jsonl"))
            .arg("--encoder")
            .arg(tiny_encoder())
            .args(["--epochs", "5", "--seed", "3", "--out", out])
            .assert()
            .success();
        std::fs::read(wd.path().join(out).join("head.safetensors")).unwrap()
    };
    assert_eq!(train("m1"), train("m2"));
    let card = std::fs::read_to_string(wd.path().join("m1/MODEL_CARD.md")).unwrap();
    assert!(card.contains("Dev") && card.contains(tiny_encoder().to_str().unwrap()));
}

/// `discotag train` on `data` with the default codebook and the tiny encoder.
fn train_on(wd: &Workdir, data: &std::path::Path) -> assert_cmd::assert::Assert {
    let codebook = repo().join("data/codebooks/joint_commissioning.toml");
    wd.command(&[
        "train",
        "--codebook",
        codebook.to_str().unwrap(),
        "--out",
        "m",
        "--data",
    ])
    .arg(data)
    .arg("--encoder")
    .arg(tiny_encoder())
    .assert()
}

#[test]
fn unknown_codes_and_codes_without_examples_are_clear_errors() {
    let wd = Workdir::new();
    let bad = wd.create("bad.jsonl", "{\"id\":1,\"text\":\"x\",\"labels\":[]}\n{\"id\":2,\"text\":\"y\",\"labels\":[\"thrift\"]}\n");
    train_on(&wd, &bad).code(1).stderr(
        predicate::str::contains("line 2").and(predicate::str::contains("unknown code \"thrift\"")),
    );
    let lines: String = (0..20)
        .map(|i| format!("{{\"id\":{i},\"text\":\"t{i}\",\"labels\":[\"prevention\"]}}\n"))
        .collect();
    let one_code = wd.create("one.jsonl", lines);
    train_on(&wd, &one_code)
        .code(1)
        .stderr(predicate::str::contains(
            "\"empowerment\" has no positive example",
        ));
}
