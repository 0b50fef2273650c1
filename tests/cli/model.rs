//! `discotag model fetch|info|path` and encoder acquisition errors.

use predicates::prelude::*;

use crate::util::*;

#[test]
fn info_describes_the_model() {
    let wd = Workdir::new();
    wd.command(&["model", "info"]).assert().success().stdout(
        predicate::str::contains("joint-commissioning-discourses")
            .and(predicate::str::contains("prevention"))
            .and(predicate::str::contains("threshold")),
    );
    wd.command(&["model", "path"])
        .assert()
        .success()
        .stdout(predicate::str::contains(tiny_encoder().to_str().unwrap()));
}

#[test]
fn offline_without_the_encoder_names_the_fetch_command() {
    let wd = Workdir::new();
    // A model that references the default PyPI encoder, with an empty cache.
    let model = wd.path().join("model");
    copy_head(&model);
    discotag::model::EncoderRef::default_minilm()
        .save(&model.join("encoder.toml"))
        .unwrap();
    let input = wd.create("a.txt", "Respondent: hello\n");
    wd.command(&[
        "label",
        input.to_str().unwrap(),
        "--out",
        "out",
        "--offline",
        "--model",
        "model",
    ])
    .assert()
    .code(1)
    .stderr(
        predicate::str::contains("--offline").and(predicate::str::contains("discotag model fetch")),
    );
}

#[test]
fn a_tampered_encoder_file_is_refused() {
    let wd = Workdir::new();
    let encoder = wd.path().join("enc");
    std::fs::create_dir_all(&encoder).unwrap();
    for file in ["config.json", "tokenizer.json", "model.safetensors"] {
        std::fs::copy(tiny_encoder().join(file), encoder.join(file)).unwrap();
    }
    let model = wd.path().join("model");
    copy_head(&model);
    discotag::model::EncoderRef::for_local_dir(&encoder, "tiny")
        .unwrap()
        .save(&model.join("encoder.toml"))
        .unwrap();
    let mut config = std::fs::read_to_string(encoder.join("config.json")).unwrap();
    config.push(' ');
    std::fs::write(encoder.join("config.json"), config).unwrap();
    let input = wd.create("a.txt", "Respondent: hello\n");
    wd.command(&[
        "label",
        input.to_str().unwrap(),
        "--out",
        "out",
        "--model",
        "model",
    ])
    .assert()
    .code(1)
    .stderr(predicate::str::contains("sha256"));
}

/// Copies the tiny model's codebook and head (not its encoder reference) into `model`.
fn copy_head(model: &std::path::Path) {
    std::fs::create_dir_all(model).unwrap();
    for file in [
        "codebook.toml",
        "head.safetensors",
        "head.json",
        "thresholds.json",
    ] {
        std::fs::copy(tiny_model().join(file), model.join(file)).unwrap();
    }
}
