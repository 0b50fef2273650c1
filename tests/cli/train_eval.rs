//! `discotag train` and `discotag eval`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::prelude::*;
use predicates::prelude::*;

use crate::util::*;

#[test]
fn eval_json_has_exactly_the_contract_keys() {
    let wd = Workdir::new();
    let test = repo().join("data/labelled/test.jsonl");
    let report = eval_json(&wd, None, &test);
    let mut keys: Vec<&str> = report
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        vec!["macro_f1", "macro_kappa", "micro_f1", "n", "per_code"]
    );
    assert_eq!(report["n"], count_lines(&test));
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
        assert_eq!(
            keys,
            vec!["cohen_kappa", "f1", "precision", "recall", "support"]
        );
        let kappa = scores["cohen_kappa"].as_f64().unwrap();
        assert!((-1.0..=1.0).contains(&kappa), "{kappa}");
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

/// Training writes a Platt scaling per code, and one scored section (table with kappa,
/// reliability bins, bf16 note) per `--test` file; `eval` then reports calibrated scores whose
/// macro kappa is on the card.
#[test]
fn training_calibrates_and_reports_every_test_set() {
    let wd = Workdir::new();
    let repo = repo();
    let (real, synthetic) = (
        repo.join("data/real/test.jsonl"),
        repo.join("data/labelled/test.jsonl"),
    );
    wd.command(&["train", "--codebook"])
        .arg(repo.join("data/codebooks/joint_commissioning.toml"))
        .arg("--data")
        .arg(repo.join("data/labelled/train.jsonl"))
        .arg("--dev")
        .arg(repo.join("data/labelled/dev.jsonl"))
        .args(["--test"])
        .arg(&real)
        .args(["--test"])
        .arg(&synthetic)
        .arg("--encoder")
        .arg(tiny_encoder())
        .args([
            "--epochs",
            "5",
            "--head",
            "linear",
            "--pooling",
            "mean",
            "--out",
            "m",
        ])
        .assert()
        .success()
        .stderr(predicate::str::contains("on ").and(predicate::str::contains("real/test.jsonl")));
    let calibration: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(wd.path().join("m/calibration.json")).unwrap(),
    )
    .unwrap();
    for code in ["prevention", "empowerment", "efficiency"] {
        let slope = calibration[code]["slope"].as_f64().unwrap();
        assert!(slope > 0.0, "{code}: slope {slope}");
        assert!(calibration[code]["intercept"].as_f64().unwrap().is_finite());
    }
    let card = std::fs::read_to_string(wd.path().join("m/MODEL_CARD.md")).unwrap();
    for path in [&real, &synthetic] {
        let heading = format!("### Held-out test: `{}`", path.display());
        assert!(card.contains(&heading), "no section for {}", path.display());
    }
    assert_eq!(card.matches("#### Reliability of the scores").count(), 2);
    // Dev and both test files checked in bf16 and int8, in the card and in precisions.json.
    assert_eq!(card.matches("### Precision").count(), 1);
    let checks: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(wd.path().join("m/precisions.json")).unwrap(),
    )
    .unwrap();
    let checks = checks["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 6);
    let dev = repo.join("data/labelled/dev.jsonl").display().to_string();
    assert_eq!(
        checks.iter().filter(|c| c["data"] == dev.as_str()).count(),
        2,
        "dev is checked in bf16 and int8"
    );
    for check in checks {
        let data = check["data"].as_str().unwrap();
        let row = format!("| {} | `{data}` | ", check["precision"].as_str().unwrap());
        assert!(card.contains(&row), "the card has no row {row}");
        assert!(check["min_cosine"].as_f64().unwrap() > 0.9);
    }
    assert!(card.contains("| score bin | decisions | mean score | observed rate |"));
    let report = eval_json(&wd, Some("m"), &real);
    let kappa = report["macro_kappa"].as_f64().unwrap();
    assert!(
        card.contains(&format!("macro kappa {kappa:.3}")),
        "the card's real-test macro kappa is eval's {kappa:.3}"
    );
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
    let empty = wd.create("empty.jsonl", "\n");
    train_on(&wd, &empty).code(1).stderr(
        predicate::str::contains("empty.jsonl")
            .and(predicate::str::contains("no labelled utterances")),
    );
}

/// `discotag eval --json` of `model` (default: the tiny model) on `data`, parsed.
fn eval_json(wd: &Workdir, model: Option<&str>, data: &Path) -> serde_json::Value {
    let mut cmd = wd.command(&["eval", "--json", "--data"]);
    cmd.arg(data);
    if let Some(model) = model {
        cmd.args(["--model", model]);
    }
    let output = cmd.assert().success().get_output().stdout.clone();
    serde_json::from_slice(&output).unwrap()
}

fn count_lines(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count()
}

/// `discotag train --mode finetune` on the tiny encoder with the first 240 training utterances
/// of the default codebook, into `out`, with extra arguments.
fn finetune(wd: &Workdir, out: &str, extra: &[&str]) -> Command {
    let repo = repo();
    let data = wd.path().join("train-240.jsonl");
    if !data.exists() {
        let lines: String = std::fs::read_to_string(repo.join("data/labelled/train.jsonl"))
            .unwrap()
            .lines()
            .take(240)
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&data, lines).unwrap();
    }
    let mut cmd = wd.std_command(&["train", "--mode", "finetune", "--codebook"]);
    cmd.arg(repo.join("data/codebooks/joint_commissioning.toml"))
        .arg("--data")
        .arg(data)
        .arg("--dev")
        .arg(repo.join("data/labelled/dev.jsonl"))
        .arg("--encoder")
        .arg(tiny_encoder())
        .args([
            "--seed",
            "5",
            "--pooling",
            "mean",
            "--max-tokens",
            "64",
            "--out",
            out,
        ])
        .args(extra);
    cmd
}

fn model_files(dir: &Path) -> Vec<Vec<u8>> {
    [
        "head.safetensors",
        "encoder_delta.safetensors",
        "thresholds.json",
    ]
    .iter()
    .map(|f| std::fs::read(dir.join(f)).unwrap())
    .collect()
}

#[test]
fn finetuning_is_reproducible_and_gives_a_usable_model() {
    let wd = Workdir::new();
    finetune(&wd, "a", &["--epochs", "2"]).assert().success();
    finetune(&wd, "b", &["--epochs", "2"]).assert().success();
    let (a, b) = (wd.path().join("a"), wd.path().join("b"));
    assert_eq!(
        model_files(&a),
        model_files(&b),
        "same data and seed, same weights"
    );
    assert!(
        !a.join(".train-checkpoint").exists(),
        "a finished run removes its checkpoint"
    );
    let card = std::fs::read_to_string(a.join("MODEL_CARD.md")).unwrap();
    assert!(card.contains("--mode finetune") && card.contains("Fine-tuning: every encoder weight"));

    let test = repo().join("data/labelled/test.jsonl");
    let report = eval_json(&wd, Some("a"), &test);
    assert_eq!(report["n"], count_lines(&test));

    // Its delta compressed to rank 2 is smaller and still a model that evaluates.
    let small = wd.path().join("a-small");
    copy_model(&a, &small);
    let delta_bytes = |dir: &Path| {
        std::fs::metadata(dir.join(discotag::model::ENCODER_DELTA_FILE))
            .unwrap()
            .len()
    };
    wd.command(&[
        "model",
        "compress-delta",
        "--model",
        "a-small",
        "--rank",
        "2",
    ])
    .assert()
    .success()
    .stdout(predicate::str::contains("matrices at rank 2"));
    assert!(delta_bytes(&small) < delta_bytes(&a));
    let compressed = eval_json(&wd, Some("a-small"), &test);
    assert_eq!(compressed["n"], report["n"]);
    let macro_f1 = compressed["macro_f1"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&macro_f1));
    wd.command(&["model", "compress-delta", "--rank", "2", "--model"])
        .arg(tiny_model())
        .assert()
        .failure()
        .stderr(predicate::str::contains("not a fine-tuned model"));
    wd.command(&[
        "model",
        "compress-delta",
        "--rank",
        "2",
        "--model",
        "nowhere",
    ])
    .assert()
    .failure()
    .stderr(predicate::str::contains("no model folder at nowhere"));
    wd.command(&["model", "info", "--model", "a"])
        .assert()
        .success()
        .stdout(predicate::str::contains("fine-tuned"));
    // the fine-tuned encoder is used for labelling too
    let transcript = wd.create("t.txt", "Interviewer: Why pool the budgets?\n\nRespondent: So the money follows the person and we stop paying twice.\n");
    wd.command(&["label", "--model", "a", "--out", "out"])
        .arg(&transcript)
        .assert()
        .success();
    let batches = read_segments(&wd.path().join("out"));
    let ids = strings(&batches, "model_id");
    let info = discotag::model::ModelDir::open(&a).unwrap();
    assert!(info.fine_tuned);
    assert!(
        ids.iter()
            .all(|i| i.as_deref() == Some(info.model_id.as_str()))
    );
}

/// The tensors of a model's encoder delta file, by name.
fn delta_tensors(dir: &Path) -> std::collections::HashMap<String, candle_core::Tensor> {
    candle_core::safetensors::load(
        dir.join(discotag::model::ENCODER_DELTA_FILE),
        &candle_core::Device::Cpu,
    )
    .unwrap()
}

fn largest_difference(a: &candle_core::Tensor, b: &candle_core::Tensor) -> f32 {
    let f32 = candle_core::DType::F32;
    (a.to_dtype(f32).unwrap() - b.to_dtype(f32).unwrap())
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

#[test]
fn a_fine_tuned_model_continues_training_with_its_frozen_layers_kept() {
    let wd = Workdir::new();
    finetune(&wd, "first", &["--epochs", "1"])
        .assert()
        .success();
    finetune(
        &wd,
        "next",
        &["--epochs", "1", "--init", "first", "--freeze-layers", "1"],
    )
    .assert()
    .success();
    let (first, next) = (
        delta_tensors(&wd.path().join("first")),
        delta_tensors(&wd.path().join("next")),
    );
    // the embeddings and layer 0 stay where the first model left them ...
    let kept = "encoder.layer.0.attention.self.query.weight";
    assert!(largest_difference(&first[kept], &next[kept]) < 1e-3);
    assert!(
        largest_difference(&first[kept], &first[kept].zeros_like().unwrap()) > 0.0,
        "the first model changed layer 0, so keeping it is a test"
    );
    // ... and layer 1 trained on from there
    let trained = "encoder.layer.1.attention.self.query.weight";
    assert!(largest_difference(&first[trained], &next[trained]) > 1e-4);
    let card = std::fs::read_to_string(wd.path().join("next/MODEL_CARD.md")).unwrap();
    assert!(card.contains("Started from the fine-tuned model `first`"));
    assert!(card.contains("lowest 1 layers (kept frozen)"));
    let test = repo().join("data/labelled/test.jsonl");
    assert_eq!(eval_json(&wd, Some("next"), &test)["n"], count_lines(&test));

    // what cannot be continued is refused before any training
    finetune(&wd, "again", &["--init", "nowhere"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no model folder at nowhere"));
    wd.command(&[
        "train", "--data", "x.jsonl", "--out", "y", "--init", "first",
    ])
    .assert()
    .code(2)
    .stderr(predicate::str::contains("add --mode finetune"));
    let mut cmd = finetune(&wd, "from-head", &["--epochs", "1", "--init"]);
    cmd.arg(tiny_model())
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "cannot continue training from this model",
        ));
    finetune(&wd, "first", &["--init", "first"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("the same folder"));
}

/// Starts a training run, waits until its first checkpoint is written, kills it (SIGKILL) and
/// returns the checkpoint's state file.
fn kill_after_first_checkpoint(mut cmd: Command, out: &Path) -> std::path::PathBuf {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let state = discotag::train::staging_dir(out).join(".train-checkpoint/state.json");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !state.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    state
}

#[test]
fn killed_finetuning_resumes_to_the_same_weights() {
    let wd = Workdir::new();
    let args = ["--epochs", "6", "--patience", "6"];
    finetune(&wd, "whole", &args).assert().success();

    let state = kill_after_first_checkpoint(finetune(&wd, "part", &args), &wd.path().join("part"));
    assert!(state.exists(), "a checkpoint was written before the kill");
    assert!(
        !wd.path().join("part/head.safetensors").exists(),
        "the run was killed before it finished, so the test tests resuming"
    );
    finetune(&wd, "part", &args)
        .arg("--resume")
        .assert()
        .success()
        .stderr(predicate::str::contains("resuming"));
    assert_eq!(
        model_files(&wd.path().join("whole")),
        model_files(&wd.path().join("part"))
    );

    // a checkpoint from other settings is refused, not silently mixed in
    kill_after_first_checkpoint(finetune(&wd, "other", &args), &wd.path().join("other"));
    finetune(
        &wd,
        "other",
        &[
            "--epochs",
            "6",
            "--patience",
            "6",
            "--learning-rate",
            "0.001",
            "--resume",
        ],
    )
    .assert()
    .code(1)
    .stderr(predicate::str::contains("other data or settings"));
}

#[test]
fn eval_prints_confusion_counts_and_writes_misclassified_units() {
    let wd = Workdir::new();
    let test = repo().join("data/labelled/test.jsonl");
    let out = wd
        .command(&["eval", "--errors", "errors.jsonl", "--data"])
        .arg(&test)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let table = String::from_utf8(out).unwrap();
    for word in [
        "precision",
        "TP",
        "FP",
        "FN",
        "TN",
        "prevention",
        "empowerment",
        "efficiency",
        "macro-F1",
    ] {
        assert!(table.contains(word), "{word} missing from\n{table}");
    }
    let errors = std::fs::read_to_string(wd.path().join("errors.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = errors
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        !lines.is_empty(),
        "a tiny random encoder gets some utterances wrong"
    );
    let names = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    for line in &lines {
        let (labels, predicted) = (names(&line["labels"]), names(&line["predicted"]));
        assert_ne!(labels, predicted);
        for code in names(&line["missed"]) {
            assert!(labels.contains(&code) && !predicted.contains(&code));
        }
        for code in names(&line["spurious"]) {
            assert!(!labels.contains(&code) && predicted.contains(&code));
        }
        assert_eq!(line["scores"].as_object().unwrap().len(), 3);
        assert!(line["id"].is_string() && line["text"].is_string());
    }
    // the table's FP and FN totals are the spurious and missed counts of the errors file
    let total = |key: &str| {
        lines
            .iter()
            .map(|l| l[key].as_array().unwrap().len())
            .sum::<usize>()
    };
    let column_sum = |col: usize| -> usize {
        table
            .lines()
            .filter(|l| {
                ["prevention", "empowerment", "efficiency"]
                    .iter()
                    .any(|c| l.starts_with(c))
            })
            .map(|l| {
                l.split_whitespace()
                    .nth(col)
                    .unwrap()
                    .parse::<usize>()
                    .unwrap()
            })
            .sum()
    };
    // columns: code, precision, recall, f1, kappa, support, TP, FP, FN, TN
    assert_eq!(total("spurious"), column_sum(7));
    assert_eq!(total("missed"), column_sum(8));
}

#[test]
fn the_second_codebook_trains_and_evaluates_the_same_way() {
    let wd = Workdir::new();
    let repo = repo();
    let data = repo.join("data/labelled/policy_imperatives");
    wd.command(&["train", "--codebook"])
        .arg(repo.join("data/codebooks/policy_imperatives.toml"))
        .arg("--data")
        .arg(data.join("train.jsonl"))
        .arg("--dev")
        .arg(data.join("dev.jsonl"))
        .arg("--test")
        .arg(data.join("test.jsonl"))
        .arg("--encoder")
        .arg(tiny_encoder())
        .args(["--epochs", "10", "--out", "pi"])
        .assert()
        .success();
    let report = eval_json(&wd, Some("pi"), &data.join("test.jsonl"));
    let codes: Vec<&String> = report["per_code"].as_object().unwrap().keys().collect();
    assert_eq!(
        codes,
        [
            "care_closer_to_home",
            "efficiency",
            "overlap_of_clientele",
            "personalisation",
            "place",
            "prevention"
        ]
    );
    let thresholds: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(wd.path().join("pi/thresholds.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(thresholds.as_object().unwrap().len(), 6);
}

/// A trained model directory can be shared: its weight files get the same permissions as the
/// rest of the folder (the safetensors writer alone makes them owner-only).
#[test]
fn trained_weights_are_as_readable_as_the_rest_of_the_model() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |name: &str| {
        std::fs::metadata(tiny_model().join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("head.safetensors"), mode("codebook.toml"));
}

/// `train` builds the model in a hidden sibling folder and renames it into place: a run that
/// fails after writing some files leaves the previous model whole, a successful run replaces
/// it entirely, and a folder holding anything but a model is refused before any work.
#[test]
fn a_model_folder_is_replaced_whole_or_not_at_all() {
    let wd = Workdir::new();
    let repo = repo();
    let train = |extra: &[&str]| {
        wd.command(&["train", "--codebook"])
            .arg(repo.join("data/codebooks/joint_commissioning.toml"))
            .arg("--data")
            .arg(repo.join("data/labelled/train.jsonl"))
            .arg("--encoder")
            .arg(tiny_encoder())
            .args(["--epochs", "3", "--out", "m"])
            .args(extra)
            .assert()
    };
    train(&["--seed", "1"]).success();
    let first = head_model_files(&wd.path().join("m"));

    // scoring the test file fails after every model file was written to the staging folder
    let bad_test = wd.path().join("bad-test.jsonl");
    std::fs::write(
        &bad_test,
        "{\"id\": \"x\", \"text\": \"t\", \"labels\": [\"nonsense\"]}\n",
    )
    .unwrap();
    train(&["--seed", "2", "--test", bad_test.to_str().unwrap()])
        .failure()
        .stderr(predicate::str::contains("nonsense"));
    assert_eq!(
        head_model_files(&wd.path().join("m")),
        first,
        "the old model is untouched"
    );

    train(&["--seed", "2"]).success();
    let second = head_model_files(&wd.path().join("m"));
    assert_ne!(second, first, "a new seed gives new weights");
    let leftovers: Vec<String> = std::fs::read_dir(wd.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".m."))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    std::fs::write(wd.path().join("m/my-notes.txt"), "mine").unwrap();
    train(&["--seed", "3"])
        .failure()
        .code(2)
        .stderr(predicate::str::contains("my-notes.txt"));
    assert!(wd.path().join("m/my-notes.txt").exists());
    assert_eq!(head_model_files(&wd.path().join("m")), second);
}

fn head_model_files(dir: &Path) -> Vec<Vec<u8>> {
    ["head.safetensors", "thresholds.json", "calibration.json"]
        .iter()
        .map(|f| std::fs::read(dir.join(f)).unwrap())
        .collect()
}

/// Labelled utterances exported as a one-coder REFI-QDA project by scripts/labelled_to_qdpx.py.
fn as_project(wd: &Workdir, jsonl: &Path, name: &str) -> std::path::PathBuf {
    let out = wd.path().join(name);
    let status = Command::new("python3")
        .arg(repo().join("scripts/labelled_to_qdpx.py"))
        .arg(jsonl)
        .arg("--codebook")
        .arg(repo().join("data/codebooks/joint_commissioning.toml"))
        .arg("--out")
        .arg(&out)
        .args(["--coder", "Ruth Okonjo"])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    out
}

/// The same labels trained from JSONL and from a coded project give the same model within
/// 0.05 macro-F1, and score the same within 0.06; without --codebook and --dev the project's
/// codes are the codebook and whole sources are the dev split.
#[test]
fn a_coded_project_trains_and_evaluates_like_the_same_labels_in_jsonl() {
    let wd = Workdir::new();
    let repo = repo();
    let train_jsonl = wd.path().join("train-300.jsonl");
    let lines: String = std::fs::read_to_string(repo.join("data/labelled/train.jsonl"))
        .unwrap()
        .lines()
        .take(300)
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&train_jsonl, lines).unwrap();
    let dev_jsonl = repo.join("data/labelled/dev.jsonl");
    let (train_qdpx, dev_qdpx) = (
        as_project(&wd, &train_jsonl, "train.qdpx"),
        as_project(&wd, &dev_jsonl, "dev.qdpx"),
    );
    let train = |out: &str, data: &Path, dev: &Path| {
        wd.command(&["train", "--codebook"])
            .arg(repo.join("data/codebooks/joint_commissioning.toml"))
            .arg("--data")
            .arg(data)
            .arg("--dev")
            .arg(dev)
            .arg("--encoder")
            .arg(tiny_encoder())
            .args(["--head", "linear", "--pooling", "mean", "--epochs", "40"])
            .args(["--unit", "turn", "--out", out])
            .assert()
            .success();
    };
    train("from-jsonl", &train_jsonl, &dev_jsonl);
    train("from-qdpx", &train_qdpx, &dev_qdpx);
    let test = repo.join("data/labelled/test.jsonl");
    let f1 = |model: &str, data: &Path, extra: &[&str]| {
        let out = wd
            .command(&["eval", "--model", model, "--json", "--data"])
            .arg(data)
            .args(extra)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (
            report["macro_f1"].as_f64().unwrap(),
            report["n"].as_u64().unwrap(),
        )
    };
    let (jsonl_f1, _) = f1("from-jsonl", &test, &[]);
    let (qdpx_f1, _) = f1("from-qdpx", &test, &[]);
    assert!(
        (jsonl_f1 - qdpx_f1).abs() <= 0.05,
        "{jsonl_f1} vs {qdpx_f1}"
    );
    let (on_jsonl, n_jsonl) = f1("from-qdpx", &dev_jsonl, &[]);
    let (on_qdpx, n_qdpx) = f1("from-qdpx", &dev_qdpx, &["--unit", "turn"]);
    assert_eq!(n_jsonl, n_qdpx, "one turn per utterance");
    assert!(
        (on_jsonl - on_qdpx).abs() <= 0.06,
        "{on_jsonl} vs {on_qdpx}"
    );
    // window segments (the default) are what `label` would cut: never fewer than the turns
    let (_, n_windows) = f1("from-qdpx", &dev_qdpx, &[]);
    assert!(n_windows >= n_qdpx);

    wd.command(&["train", "--data"])
        .arg(&train_qdpx)
        .arg("--encoder")
        .arg(tiny_encoder())
        .args(["--head", "linear", "--pooling", "mean", "--epochs", "5"])
        .args(["--coder", "ruth okonjo", "--out", "own-codes"])
        .assert()
        .success();
    let codebook = std::fs::read_to_string(wd.path().join("own-codes/codebook.toml")).unwrap();
    assert!(codebook.contains("Discourses__Prevention"), "{codebook}");
    let card = std::fs::read_to_string(wd.path().join("own-codes/MODEL_CARD.md")).unwrap();
    assert!(
        card.contains("labelled by coder Ruth Okonjo") && card.contains("whole sources"),
        "{card}"
    );
    let (_, n) = f1("own-codes", &train_qdpx, &[]);
    assert!(n > 0);
    assert!(
        card.contains("Learning curve of the training data"),
        "{card}"
    );

    // agree --report shows that curve when the model is compared on the project it learnt from
    wd.command(&["label", "--model", "own-codes", "--out", "labelled"])
        .arg(&train_qdpx)
        .assert()
        .success();
    wd.command(&["agree", "--reference"])
        .arg(&train_qdpx)
        .args([
            "--candidate",
            "labelled",
            "--model",
            "own-codes",
            "--bootstrap",
            "0",
        ])
        .args(["--report", "report.html"])
        .assert()
        .success();
    let report = std::fs::read_to_string(wd.path().join("report.html")).unwrap();
    assert!(report.contains("How much coding is enough"));
    assert!(
        report.contains("trained from project &quot;train-300&quot;"),
        "names the project"
    );

    // a coder named for labelled utterances is a usage error, before any work
    wd.command(&["eval", "--model", "own-codes", "--coder", "x", "--data"])
        .arg(&dev_jsonl)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--coder"));
}

/// `curve --json` keeps its contract: a point per size with means inside their ranges, the
/// target, and an estimate that says whether it extrapolates.
#[test]
fn curve_reports_points_with_ranges_and_an_estimate() {
    let wd = Workdir::new();
    let out = wd
        .command(&["curve", "--codebook"])
        .arg(repo().join("data/codebooks/joint_commissioning.toml"))
        .arg("--data")
        .arg(repo().join("data/labelled/train.jsonl"))
        .arg("--encoder")
        .arg(tiny_encoder())
        .args(["--repeats", "2", "--sizes", "50,100,200,400", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let curve: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let points = curve["points"].as_array().unwrap();
    let sizes: Vec<u64> = points
        .iter()
        .map(|p| p["n_train"].as_u64().unwrap())
        .collect();
    assert_eq!(sizes, vec![50, 100, 200, 400]);
    for p in points {
        let (f1, range) = (p["macro_f1"].as_f64().unwrap(), &p["f1_interval"]);
        assert!(range[0].as_f64().unwrap() <= f1 && f1 <= range[1].as_f64().unwrap());
        let kappa = p["macro_kappa"].as_f64().unwrap();
        assert!((-1.0..=1.0).contains(&kappa));
        assert_eq!(p["repeats"], 2);
    }
    assert_eq!(curve["target_kappa"], 0.7);
    assert!(curve["extrapolated"].is_boolean());
    assert!(curve.get("estimated_n_for_target").is_some());
    // Whether more data scores better is tested in train::curve on features that carry the
    // codes: the tiny random encoder's features carry too little for that to hold on every CPU.
}
