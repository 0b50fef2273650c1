//! Bad input: each problem is named with its file and position in errors.jsonl, the run goes
//! on with the other inputs, and the exit code is 3.

use crate::util::*;

#[test]
fn bad_files_among_good_ones_give_exit_3_and_error_records() {
    let wd = Workdir::new();
    wd.create(
        "in/good.txt",
        "Interviewer: Hello.\n\nRespondent: We pooled the budget to stop paying twice.\n",
    );
    wd.create("in/bad_utf8.txt", b"Respondent: caf\xe9 au lait\n");
    wd.create("in/empty.txt", "");
    wd.create("in/binary.txt", b"\x00\x01\x02binary");
    wd.create(
        "in/lines.jsonl",
        "{\"text\":\"We co-produce with carers.\"}\n{broken\n{\"text\":\"Earlier support.\"}\n",
    );
    wd.create("in/no_text.csv", "id,utterance\n1,hello\n");
    wd.create(
        "in/huge.txt",
        format!("Respondent: {}\n", "x".repeat(3 * 1024 * 1024)),
    );
    wd.create("in/notes.pdf", "not a transcript");
    wd.command(&["label", "in", "--out", "out"])
        .assert()
        .code(3);
    let out = wd.path().join("out");
    let errors = errors(&out);
    let find = |name: &str| {
        errors
            .iter()
            .find(|e| e["path"].as_str().unwrap().ends_with(name))
            .unwrap_or_else(|| panic!("no error for {name}: {errors:?}"))
            .clone()
    };
    let utf8 = find("bad_utf8.txt");
    assert_eq!(utf8["position"]["line"], 1);
    assert_eq!(utf8["position"]["column"], 16);
    assert!(utf8["reason"].as_str().unwrap().contains("UTF-8"));
    assert!(
        find("empty.txt")["reason"]
            .as_str()
            .unwrap()
            .contains("empty")
    );
    assert!(
        find("binary.txt")["reason"]
            .as_str()
            .unwrap()
            .contains("binary")
    );
    assert_eq!(find("lines.jsonl")["position"]["line"], 2);
    assert!(
        find("no_text.csv")["reason"]
            .as_str()
            .unwrap()
            .contains("--text-column")
    );
    assert!(
        find("huge.txt")["reason"]
            .as_str()
            .unwrap()
            .contains("exceeds")
    );

    // Good inputs, and the good lines of a partly bad one, are labelled.
    let batches = read_segments(&out);
    let sources = strings(&batches, "source_path");
    assert!(
        sources
            .iter()
            .any(|s| s.as_deref().unwrap().ends_with("good.txt"))
    );
    assert_eq!(
        sources
            .iter()
            .filter(|s| s.as_deref().unwrap().ends_with("lines.jsonl"))
            .count(),
        2
    );
    // The pdf is reported as skipped, not silently dropped.
    let manifest = manifest(&out);
    assert!(
        manifest["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["path"].as_str().unwrap().ends_with("notes.pdf"))
    );
    let failed: Vec<_> = manifest["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["status"] == "failed")
        .collect();
    assert_eq!(failed.len(), 5);
}

#[test]
fn missing_input_file_is_an_error_record_not_a_crash() {
    let wd = Workdir::new();
    wd.create("good.txt", "Respondent: We pooled the budget.\n");
    wd.command(&["label", "good.txt", "missing.txt", "--out", "out"])
        .assert()
        .code(3);
    let errors = errors(&wd.path().join("out"));
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["path"], "missing.txt");
}

#[test]
fn usage_errors_exit_2() {
    let wd = Workdir::new();
    wd.command(&["label", "x.txt", "--out", "o", "--shard", "4/4"])
        .assert()
        .code(2);
    wd.command(&["label", "--out", "o"]).assert().code(2);
    wd.command(&["label", "x.txt", "--out", "o", "--batch-size", "0"])
        .assert()
        .code(2);
}

#[test]
fn a_symlink_loop_and_a_vanished_file_are_error_records_and_the_rest_is_labelled() {
    let wd = Workdir::new();
    wd.create(
        "in/good.txt",
        "Interviewer: Hello.\n\nRespondent: We pooled the budget to stop paying twice.\n",
    );
    std::fs::create_dir_all(wd.path().join("in/sub")).unwrap();
    // a folder loop: in/sub/back -> in
    std::os::unix::fs::symlink("..", wd.path().join("in/sub/back")).unwrap();
    // a file that vanished after it was listed: its link remains, its target is gone
    let target = wd.create("gone.txt", "Respondent: here today.\n");
    std::os::unix::fs::symlink(&target, wd.path().join("in/vanished.txt")).unwrap();
    std::fs::remove_file(&target).unwrap();
    wd.command(&["label", "in", "--out", "out"])
        .assert()
        .code(3);
    let out = wd.path().join("out");
    let errors = errors(&out);
    let reason = |name: &str| -> String {
        errors
            .iter()
            .find(|e| e["path"].as_str().unwrap().ends_with(name))
            .unwrap_or_else(|| panic!("no error for {name}: {errors:?}"))["reason"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(reason("sub/back").contains("loop"));
    assert!(reason("vanished.txt").contains("No such file"));
    let sources = strings(&read_segments(&out), "source_path");
    assert!(!sources.is_empty());
    let distinct: std::collections::BTreeSet<&str> =
        sources.iter().map(|s| s.as_deref().unwrap()).collect();
    assert_eq!(distinct.len(), 1, "{distinct:?}");
    let only = distinct.into_iter().next().unwrap();
    assert!(
        only.ends_with("good.txt") && !only.contains("back"),
        "{only}"
    );
}
