//! `--precision auto|fp32|bf16|int8`: `discotag model check-precision` records which precisions
//! keep a model's accuracy, `auto` uses only those, and an explicit unvalidated choice warns.

use predicates::prelude::*;

use crate::util::*;

/// A copy of the tiny model, to add precision checks to.
fn copy_tiny_model(wd: &Workdir) -> std::path::PathBuf {
    let model = wd.path().join("model");
    copy_model(tiny_model(), &model);
    model
}

fn write_checks(model: &std::path::Path, change: f64) {
    let check = |precision: &str| {
        serde_json::json!({
            "precision": precision, "data": "held-out.jsonl", "n": 200,
            "macro_f1": 0.70 + change, "fp32_macro_f1": 0.70,
            "decisions_changed": 0.01, "min_cosine": 0.99
        })
    };
    let checks = serde_json::json!({
        "max_macro_f1_loss": 0.01,
        "checks": [check("bf16"), check("int8")],
    });
    std::fs::write(model.join("precisions.json"), checks.to_string()).unwrap();
}

fn label_with(wd: &Workdir, out: &str, extra: &[&str]) -> (serde_json::Value, String) {
    let input = wd.create(
        "in/a.txt",
        "Respondent: We pooled the budget with the council.\n",
    );
    let mut args = vec![
        "label",
        input.to_str().unwrap(),
        "--out",
        out,
        "--model",
        "model",
    ];
    args.extend_from_slice(extra);
    let done = wd.command(&args).output().unwrap();
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    (
        manifest(&wd.path().join(out)),
        String::from_utf8_lossy(&done.stderr).into_owned(),
    )
}

#[test]
fn check_precision_records_the_checks_in_the_model_and_its_card() {
    let wd = Workdir::new();
    let model = copy_tiny_model(&wd);
    let dev = repo().join("data/labelled/dev.jsonl");
    let check = || {
        wd.command(&[
            "model",
            "check-precision",
            "--model",
            "model",
            "--data",
            dev.to_str().unwrap(),
        ])
        .assert()
        .success()
    };
    check().stdout(predicate::str::contains("| int8 | `"));
    let checks: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(model.join("precisions.json")).unwrap())
            .unwrap();
    let checks = checks["checks"].as_array().unwrap();
    let precisions: Vec<&str> = checks
        .iter()
        .map(|c| c["precision"].as_str().unwrap())
        .collect();
    assert_eq!(precisions, ["bf16", "int8"]);
    for c in checks {
        assert_eq!(c["n"], 225);
        assert!(c["min_cosine"].as_f64().unwrap() > 0.9, "{c}");
        let fp32 = c["fp32_macro_f1"].as_f64().unwrap();
        assert!(fp32 > 0.0 && fp32 <= 1.0);
    }
    let card = std::fs::read_to_string(model.join("MODEL_CARD.md")).unwrap();
    assert_eq!(card.matches("### Precision").count(), 1);
    // Checking again replaces the section rather than adding a second one.
    check();
    let card = std::fs::read_to_string(model.join("MODEL_CARD.md")).unwrap();
    assert_eq!(card.matches("### Precision").count(), 1);
    assert!(card.contains("### Dev"), "the rest of the card stays");
}

#[test]
fn auto_uses_fp32_when_the_checks_fail_or_are_missing() {
    let wd = Workdir::new();
    let model = copy_tiny_model(&wd);
    let (m, _) = label_with(&wd, "none", &[]);
    assert_eq!(m["identity"]["precision"], "fp32");
    let reason = m["runs"][0]["precision_reason"].as_str().unwrap();
    assert!(reason.starts_with("auto: fp32"), "{reason}");
    write_checks(&model, -0.05);
    let (m, _) = label_with(&wd, "failed", &[]);
    assert_eq!(m["identity"]["precision"], "fp32");
}

#[test]
fn auto_takes_a_validated_precision_only_when_this_cpu_runs_it_faster() {
    let wd = Workdir::new();
    let model = copy_tiny_model(&wd);
    write_checks(&model, 0.0);
    let (m, _) = label_with(&wd, "out", &[]);
    let chosen = m["identity"]["precision"].as_str().unwrap();
    let reason = m["runs"][0]["precision_reason"].as_str().unwrap();
    assert!(reason.starts_with(&format!("auto: {chosen}")), "{reason}");
    if chosen != "fp32" {
        assert!(reason.contains("times as fast as fp32"), "{reason}");
    }
    // The speeds were measured once and cached for the next run.
    let cache = wd.path().join(".cache/precision-speed.json");
    let speeds: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cache).unwrap()).unwrap();
    assert_eq!(speeds.as_array().unwrap().len(), 1);
    for p in ["fp32", "bf16", "int8"] {
        assert!(speeds[0]["seconds"][p].as_f64().unwrap() > 0.0);
    }
    let (again, _) = label_with(&wd, "again", &[]);
    assert_eq!(again["identity"]["precision"], chosen);
}

#[test]
fn an_explicit_unvalidated_precision_runs_with_a_warning() {
    let wd = Workdir::new();
    copy_tiny_model(&wd);
    let (m, stderr) = label_with(&wd, "out", &["--precision", "int8"]);
    assert_eq!(m["identity"]["precision"], "int8");
    assert!(m["runs"][0]["kernel"].as_str().unwrap().ends_with("int8"));
    assert!(stderr.contains("do not validate"), "{stderr}");
    let reason = m["runs"][0]["precision_reason"].as_str().unwrap();
    assert!(reason.starts_with("int8 as asked, but"), "{reason}");
}
