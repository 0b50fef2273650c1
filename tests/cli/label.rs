//! `discotag label` on every input format, with the Parquet read back.

use arrow_array::{Array, MapArray, StringArray};
use predicates::prelude::*;

use crate::util::*;

#[test]
fn labels_the_bundled_samples_in_every_format() {
    let wd = Workdir::new();
    let sample = repo().join("data/sample");
    wd.command(&["label", sample.to_str().unwrap(), "--out", "out"])
        .assert()
        .success();
    let out = wd.path().join("out");
    let batches = read_segments(&out);
    let sources = strings(&batches, "source_path");
    for ext in ["txt", "jsonl", "csv", "vtt", "srt", "docx"] {
        assert!(
            sources.iter().any(|s| s.as_deref().unwrap().ends_with(ext)),
            "no rows from .{ext}"
        );
    }
    // The documented columns are there, with one score column per code.
    let schema = batches[0].schema();
    for column in [
        "run_id",
        "doc_id",
        "segment_index",
        "speaker",
        "char_start",
        "char_end",
        "cue_start_ms",
        "text",
        "token_count",
        "truncated",
        "labels",
        "score_prevention",
        "score_empowerment",
        "score_efficiency",
        "model_id",
        "metadata",
    ] {
        assert!(
            schema.field_with_name(column).is_ok(),
            "missing column {column}"
        );
    }
    // Cue times are kept for subtitles.
    let cue = ints(&batches, "cue_start_ms");
    assert!(
        sources
            .iter()
            .zip(&cue)
            .filter(|(s, _)| s.as_deref().unwrap().ends_with(".vtt"))
            .all(|(_, c)| c.is_some())
    );
    // The manifest lists every input as done with its hash.
    let manifest = manifest(&out);
    let inputs = manifest["inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), 6);
    assert!(
        inputs
            .iter()
            .all(|i| i["status"] == "done" && i["sha256"].as_str().unwrap().len() == 64)
    );
    assert_eq!(
        manifest["runs"][0]["segments"].as_u64().unwrap() as usize,
        sources.len()
    );
}

#[test]
fn plain_text_offsets_index_the_whole_file_and_header_is_metadata() {
    let wd = Workdir::new();
    let text = "\u{feff}---\r\nsite: Northtown\r\nparticipant_role: GP\r\n---\r\n\r\nInterviewer: What does joint commissioning mean to you? 🙂\r\n\r\nRespondent: Café talk aside, it means we pool the budget. We stop paying twice for the same visit! And we get in early, before Mrs Jones falls again.\r\n";
    let path = wd.create("interview.txt", text);
    wd.command(&[
        "label",
        path.to_str().unwrap(),
        "--out",
        "out",
        "--unit",
        "sentence",
    ])
    .assert()
    .success();
    let batches = read_segments(&wd.path().join("out"));
    let chars: Vec<char> = text.chars().collect();
    let texts = strings(&batches, "text");
    let starts = ints(&batches, "char_start");
    let ends = ints(&batches, "char_end");
    assert_eq!(texts.len(), 5, "{texts:?}");
    for ((t, s), e) in texts.iter().zip(&starts).zip(&ends) {
        let sliced: String = chars[s.unwrap() as usize..e.unwrap() as usize]
            .iter()
            .collect();
        assert_eq!(&sliced, t.as_ref().unwrap());
    }
    let speakers: Vec<Option<String>> = strings(&batches, "speaker");
    let expected = [
        "Interviewer",
        "Interviewer",
        "Respondent",
        "Respondent",
        "Respondent",
    ];
    assert_eq!(speakers, expected.map(|s| Some(s.to_string())).to_vec());
    let metadata = batches[0]
        .column_by_name("metadata")
        .unwrap()
        .as_any()
        .downcast_ref::<MapArray>()
        .unwrap();
    let entries = metadata.value(0);
    let keys = entries
        .column(0)
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    let values = entries
        .column(1)
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    let pairs: Vec<(&str, &str)> = (0..keys.len())
        .map(|i| (keys.value(i), values.value(i)))
        .collect();
    assert_eq!(
        pairs,
        vec![("participant_role", "GP"), ("site", "Northtown")]
    );
}

#[test]
fn stdin_jsonl_keeps_ids_metadata_and_order() {
    let wd = Workdir::new();
    let input = "{\"id\":\"a1\",\"doc_id\":\"int-7\",\"speaker\":\"GP\",\"text\":\"We pooled budgets to stop paying twice.\",\"site\":\"B\"}\n{\"id\":\"a2\",\"doc_id\":\"int-7\",\"speaker\":\"Interviewer\",\"text\":\"And the patients?\"}\n";
    wd.command(&["label", "-", "--format", "jsonl", "--out", "out"])
        .write_stdin(input)
        .assert()
        .success();
    let batches = read_segments(&wd.path().join("out"));
    assert_eq!(
        strings(&batches, "record_id"),
        vec![Some("a1".into()), Some("a2".into())]
    );
    assert_eq!(
        strings(&batches, "doc_id"),
        vec![Some("int-7".into()), Some("int-7".into())]
    );
    assert_eq!(strings(&batches, "source_path")[0].as_deref(), Some("-"));
    assert_eq!(ints(&batches, "char_start"), vec![Some(0), Some(0)]);
    assert_eq!(labels(&batches).len(), 2);
}

#[test]
fn csv_columns_are_chosen_by_options() {
    let wd = Workdir::new();
    let path = wd.create("focus.csv", "turn,who,utterance,site\n1,Cllr Patel,\"We co-produce services with carers, properly.\",North\n");
    wd.command(&[
        "label",
        path.to_str().unwrap(),
        "--out",
        "out",
        "--text-column",
        "utterance",
        "--speaker-column",
        "who",
        "--id-column",
        "turn",
    ])
    .assert()
    .success();
    let batches = read_segments(&wd.path().join("out"));
    assert_eq!(
        strings(&batches, "speaker"),
        vec![Some("Cllr Patel".into())]
    );
    assert_eq!(strings(&batches, "record_id"), vec![Some("1".into())]);
}

#[test]
fn window_unit_never_truncates_and_turn_unit_flags_truncation() {
    let wd = Workdir::new();
    let long = format!(
        "Respondent: {}\n",
        "We pooled the budget so that services could reach people earlier. ".repeat(40)
    );
    let path = wd.create("long.txt", &long);
    wd.command(&[
        "label",
        path.to_str().unwrap(),
        "--out",
        "win",
        "--max-tokens",
        "32",
    ])
    .assert()
    .success();
    let windows = read_segments(&wd.path().join("win"));
    assert!(windows.iter().map(|b| b.num_rows()).sum::<usize>() > 10);
    for batch in &windows {
        let truncated = column::<arrow_array::BooleanArray>(batch, "truncated");
        assert_eq!(truncated.true_count(), 0);
    }
    wd.command(&[
        "label",
        path.to_str().unwrap(),
        "--out",
        "turn",
        "--max-tokens",
        "32",
        "--unit",
        "turn",
    ])
    .assert()
    .success();
    let turns = read_segments(&wd.path().join("turn"));
    let truncated = column::<arrow_array::BooleanArray>(&turns[0], "truncated");
    assert_eq!(truncated.true_count(), 1);
}

#[test]
fn second_run_on_a_dataset_needs_resume_and_resume_skips_done_inputs() {
    let wd = Workdir::new();
    let a = wd.create(
        "in/a.txt",
        "Interviewer: Hello.\n\nRespondent: We pooled the budget.\n",
    );
    wd.command(&["label", "in", "--out", "out"])
        .assert()
        .success();
    wd.command(&["label", "in", "--out", "out"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--resume"));
    wd.create("in/b.txt", "Respondent: Carers told us what they needed.\n");
    wd.command(&["label", "in", "--out", "out", "--resume"])
        .assert()
        .success();
    let batches = read_segments(&wd.path().join("out"));
    let sources = strings(&batches, "source_path");
    assert_eq!(
        sources
            .iter()
            .filter(|s| s.as_deref().unwrap().ends_with("a.txt"))
            .count(),
        2
    );
    assert_eq!(
        sources
            .iter()
            .filter(|s| s.as_deref().unwrap().ends_with("b.txt"))
            .count(),
        1
    );
    let runs = manifest(&wd.path().join("out"))["runs"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[1]["inputs_skipped_as_done"], 1);
    let _ = a;
}

#[test]
fn no_temporary_or_lock_files_are_left_behind() {
    let wd = Workdir::new();
    let path = wd.create("a.txt", "Respondent: We pooled the budget.\n");
    wd.command(&["label", path.to_str().unwrap(), "--out", "out"])
        .assert()
        .success();
    let out = wd.path().join("out");
    let mut names: Vec<String> = walk(&out);
    names.sort();
    assert!(
        names
            .iter()
            .all(|n| !n.ends_with(".tmp") && !n.ends_with(".lock")),
        "{names:?}"
    );
    assert!(
        names.iter().any(|n| n == "manifest.json") && names.iter().any(|n| n == "errors.jsonl")
    );
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.path().is_dir() {
            out.extend(walk(&entry.path()));
        } else {
            out.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    out
}

#[test]
fn help_explains_every_option_with_an_example() {
    let wd = Workdir::new();
    wd.command(&["label", "--help"]).assert().success().stdout(
        predicate::str::contains("--shard")
            .and(predicate::str::contains("Example"))
            .and(predicate::str::contains("Exit codes")),
    );
}
