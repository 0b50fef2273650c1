//! Streaming inside an input: a large JSONL file is committed while it is read, a kill at any
//! point and `--resume` give every record exactly once, an edited input's old rows are
//! replaced, a deleted one is reported and pruned, SIGTERM commits and exits with its code, and
//! stdin's format is told from its first bytes.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::util::*;

/// Rows keyed by (source, record index, segment index), with how often each occurs and its text.
type RowKey = (String, i64, i64);

fn rows(out: &Path) -> BTreeMap<RowKey, (usize, String)> {
    let batches = read_segments(out);
    let sources = strings(&batches, "source_path");
    let records = ints(&batches, "record_index");
    let mut segments = Vec::new();
    for b in &batches {
        let a = column::<arrow_array::Int32Array>(b, "segment_index");
        segments.extend(a.values().iter().map(|&v| i64::from(v)));
    }
    let texts = strings(&batches, "text");
    let mut counts: BTreeMap<RowKey, (usize, String)> = BTreeMap::new();
    for i in 0..texts.len() {
        let key = (
            sources[i].clone().unwrap(),
            records[i].unwrap_or(-1),
            segments[i],
        );
        counts
            .entry(key)
            .or_insert((0, texts[i].clone().unwrap()))
            .0 += 1;
    }
    counts
}

fn jsonl(records: usize, tag: &str) -> String {
    (0..records)
        .map(|i| {
            format!(
                "{{\"id\": \"{tag}-{i}\", \"doc_id\": \"debate-{}\", \"speaker\": \"Member {}\", \"text\": \"{tag} record {i}: we pooled the budget and listened to carers first, then we saved money.\"}}\n",
                i % 7,
                i % 5
            )
        })
        .collect()
}

fn label(wd: &Workdir, inputs: &[&str], out: &str, extra: &[&str]) -> std::process::Command {
    let mut args = vec!["label"];
    args.extend_from_slice(inputs);
    args.extend_from_slice(&["--out", out, "--quiet"]);
    args.extend_from_slice(extra);
    let mut cmd = wd.std_command(&args);
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    cmd
}

fn live_files(out: &Path) -> Vec<String> {
    std::fs::read_to_string(out.join("manifest.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|m| {
            m["files"].as_array().map(|files| {
                files
                    .iter()
                    .map(|f| f["path"].as_str().unwrap().to_string())
                    .collect()
            })
        })
        .unwrap_or_default()
}

/// Waits until the manifest lists a committed part file (or the child ends).
fn wait_for_rows(child: &mut Child, out: &Path, limit: Duration) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if !live_files(out).is_empty() {
            return true;
        }
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn assert_exactly(
    clean: &BTreeMap<RowKey, (usize, String)>,
    got: &BTreeMap<RowKey, (usize, String)>,
) {
    let duplicated: Vec<_> = got
        .iter()
        .filter(|(_, (n, _))| *n != 1)
        .map(|(k, _)| k)
        .take(5)
        .collect();
    assert!(
        duplicated.is_empty(),
        "rows written more than once: {duplicated:?}"
    );
    let lost: Vec<_> = clean
        .keys()
        .filter(|k| !got.contains_key(*k))
        .take(5)
        .collect();
    assert!(lost.is_empty(), "rows lost: {lost:?}");
    assert_eq!(
        got.len(),
        clean.len(),
        "rows that a clean run does not have"
    );
    for (key, (_, text)) in clean {
        assert_eq!(&got[key].1, text);
    }
}

/// Kill -9 at random points inside one large input, many times; each `--resume` continues from
/// the last commit, and the end result has every record exactly once. `DISCOTAG_KILL_TRIALS`
/// sets the number of kills (100 in docs/PERFORMANCE.md; fewer in CI).
#[test]
fn kills_inside_one_large_input_resume_to_every_record_exactly_once() {
    let wd = Workdir::new();
    wd.create("in/debates.jsonl", jsonl(20000, "a"));
    wd.create("in/small.jsonl", jsonl(40, "b"));
    let started = Instant::now();
    assert!(
        label(&wd, &["in"], "clean", &[])
            .status()
            .unwrap()
            .success()
    );
    let clean_time = started.elapsed();
    let clean = rows(&wd.path().join("clean"));
    assert_eq!(clean.len(), 20040);

    let trials: usize = std::env::var("DISCOTAG_KILL_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    let out = wd.path().join("killed");
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut kills = 0;
    for _ in 0..trials {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let fraction = (seed % 1000) as f64 / 1000.0;
        let mut child = label(&wd, &["in"], "killed", &["--resume", "--commit-every", "0"])
            .spawn()
            .unwrap();
        std::thread::sleep(
            clean_time
                .mul_f64(fraction * 0.7)
                .max(Duration::from_millis(30)),
        );
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL: no clean-up code runs
            kills += 1;
            child.wait().unwrap();
        } else {
            // Finished before the kill: check it, then start again so later kills still land
            // inside the input.
            assert!(child.wait().unwrap().success());
            assert_exactly(&clean, &rows(&out));
            std::fs::remove_dir_all(&out).unwrap();
        }
    }
    assert!(
        kills * 3 >= trials,
        "only {kills} of {trials} runs could be killed"
    );
    let status = label(&wd, &["in"], "killed", &["--resume"])
        .status()
        .unwrap();
    assert!(status.success(), "final resume failed: {status}");
    assert_exactly(&clean, &rows(&out));
    // Every part file on disk is listed, and nothing temporary is left.
    let listed = live_files(&out);
    for entry in std::fs::read_dir(out.join("segments")).unwrap() {
        let name = format!("segments/{}", entry.unwrap().file_name().to_string_lossy());
        assert!(listed.contains(&name), "{name} is not in the manifest");
    }
    let manifest = manifest(&out);
    let inputs = manifest["inputs"].as_array().unwrap();
    assert!(inputs.iter().all(|i| i["status"] == "done"), "{inputs:?}");
    assert_eq!(
        inputs
            .iter()
            .map(|i| i["segments"].as_u64().unwrap())
            .sum::<u64>(),
        20040
    );
}

/// A large input is committed while it is read: rows are in the dataset before the run ends.
#[test]
fn rows_of_a_large_input_are_committed_while_it_is_read() {
    let wd = Workdir::new();
    wd.create("in/debates.jsonl", jsonl(20000, "a"));
    let out = wd.path().join("out");
    let mut child = label(&wd, &["in"], "out", &["--commit-every", "0"])
        .spawn()
        .unwrap();
    assert!(
        wait_for_rows(&mut child, &out, Duration::from_secs(60)),
        "no rows committed while the input was read"
    );
    let running = child.try_wait().unwrap().is_none();
    let committed = rows(&out).len();
    assert!(child.wait().unwrap().success());
    assert!(running, "the run ended before rows could be seen");
    assert!(
        committed > 0 && committed < 20000,
        "{committed} rows committed mid-run"
    );
    assert_eq!(rows(&out).len(), 20000);
}

#[test]
fn an_edited_input_has_its_old_rows_replaced_and_a_deleted_one_is_pruned() {
    let wd = Workdir::new();
    wd.create("in/a.jsonl", jsonl(30, "old"));
    wd.create("in/b.jsonl", jsonl(20, "b"));
    wd.create("in/c.jsonl", jsonl(10, "c"));
    assert!(label(&wd, &["in"], "out", &[]).status().unwrap().success());
    let out = wd.path().join("out");
    let before = rows(&out);
    assert_eq!(before.len(), 60);

    // a.jsonl edited in place, c.jsonl deleted; b.jsonl shares a part file with both.
    wd.create("in/a.jsonl", jsonl(25, "new"));
    std::fs::remove_file(wd.path().join("in/c.jsonl")).unwrap();
    wd.command(&["label", "in", "--out", "out", "--resume", "--quiet"])
        .assert()
        .success();
    let after = rows(&out);
    let a: Vec<&String> = after
        .iter()
        .filter(|(k, _)| k.0 == "in/a.jsonl")
        .map(|(_, (_, t))| t)
        .collect();
    assert_eq!(a.len(), 25);
    assert!(
        a.iter().all(|t| t.starts_with("new record")),
        "old rows of a.jsonl remain"
    );
    assert!(after.values().all(|(n, _)| *n == 1));
    assert_eq!(after.keys().filter(|k| k.0 == "in/b.jsonl").count(), 20);
    // The deleted input is reported, its rows kept until --prune.
    assert_eq!(after.keys().filter(|k| k.0 == "in/c.jsonl").count(), 10);
    let run = manifest(&out)["runs"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(run["inputs_replaced"], 1);
    assert_eq!(run["inputs_missing"], 1);

    wd.command(&[
        "label", "in", "--out", "out", "--resume", "--prune", "--quiet",
    ])
    .assert()
    .success();
    let pruned = rows(&out);
    assert_eq!(pruned.keys().filter(|k| k.0 == "in/c.jsonl").count(), 0);
    assert_eq!(pruned.len(), 45);
    let manifest = manifest(&out);
    assert_eq!(
        manifest["runs"].as_array().unwrap().last().unwrap()["inputs_pruned"],
        1
    );
    assert_eq!(manifest["inputs"].as_array().unwrap().len(), 2);
    // Files the manifest no longer lists are gone from disk.
    let listed = live_files(&out);
    for entry in std::fs::read_dir(out.join("segments")).unwrap() {
        let name = format!("segments/{}", entry.unwrap().file_name().to_string_lossy());
        assert!(listed.contains(&name), "{name} is left over");
    }
}

#[test]
fn sigterm_commits_exits_143_and_resume_equals_a_clean_run() {
    let wd = Workdir::new();
    wd.create("in/debates.jsonl", jsonl(20000, "a"));
    wd.create("in/later.jsonl", jsonl(50, "b"));
    assert!(
        label(&wd, &["in"], "clean", &[])
            .status()
            .unwrap()
            .success()
    );
    let out = wd.path().join("out");
    let mut child = label(&wd, &["in"], "out", &["--commit-every", "0"])
        .spawn()
        .unwrap();
    assert!(wait_for_rows(&mut child, &out, Duration::from_secs(60)));
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143), "{status}");
    assert!(
        !out.join(".discotag.lock").exists(),
        "the lock was not released"
    );
    let manifest = manifest(&out);
    assert_eq!(manifest["runs"][0]["interrupted"], true);
    let partial = rows(&out).len();
    assert!(partial > 0 && partial < 20050, "{partial}");
    assert!(
        label(&wd, &["in"], "out", &["--resume"])
            .status()
            .unwrap()
            .success()
    );
    assert_exactly(&rows(&wd.path().join("clean")), &rows(&out));
}

#[test]
fn stdin_format_is_detected_and_an_undecidable_stream_is_a_usage_error() {
    let wd = Workdir::new();
    wd.command(&["label", "-", "--out", "out", "--quiet"])
        .write_stdin(jsonl(5, "s"))
        .assert()
        .success();
    let got = rows(&wd.path().join("out"));
    assert_eq!(got.len(), 5);
    assert!(got.keys().all(|k| k.0 == "-" && k.1 >= 0));
    wd.command(&["label", "-", "--out", "out2", "--quiet"])
        .write_stdin("Interviewer: How was it?\n\nRespondent: We pooled the budget.\n")
        .assert()
        .success();
    assert_eq!(rows(&wd.path().join("out2")).len(), 2);
    wd.command(&["label", "-", "--out", "out3"])
        .write_stdin("[{\"text\": \"an array\"}]")
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--format"));
    assert!(
        !wd.path().join("out3").exists(),
        "work was done before the usage error"
    );
}

/// A live stream on stdin: rows are committed while the stream is still open.
#[test]
fn a_live_stream_shows_rows_within_the_commit_interval() {
    let wd = Workdir::new();
    let out = wd.path().join("out");
    let mut child = label(
        &wd,
        &["-"],
        "out",
        &["--format", "jsonl", "--commit-every", "1"],
    )
    .stdin(Stdio::piped())
    .spawn()
    .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(jsonl(3, "live").as_bytes()).unwrap();
    stdin.flush().unwrap();
    let seen = wait_for_rows(&mut child, &out, Duration::from_secs(30));
    let shown = rows(&out).len();
    stdin.write_all(jsonl(2, "more").as_bytes()).unwrap();
    drop(stdin);
    assert!(child.wait().unwrap().success());
    assert!(seen, "no rows committed while the stream was open");
    assert_eq!(shown, 3);
    assert_eq!(rows(&out).len(), 5);
}

/// An input labelled before that cannot be read now (named but gone, unreadable) is an error
/// for this run; its rows stay, since nothing says they are wrong.
#[test]
fn an_unreadable_input_keeps_its_rows() {
    let wd = Workdir::new();
    wd.create("a.jsonl", jsonl(10, "a"));
    wd.create("b.jsonl", jsonl(5, "b"));
    wd.command(&["label", "a.jsonl", "b.jsonl", "--out", "out", "--quiet"])
        .assert()
        .success();
    std::fs::remove_file(wd.path().join("a.jsonl")).unwrap();
    wd.command(&[
        "label", "a.jsonl", "b.jsonl", "--out", "out", "--resume", "--quiet",
    ])
    .assert()
    .code(3);
    let out = wd.path().join("out");
    assert_eq!(rows(&out).keys().filter(|k| k.0 == "a.jsonl").count(), 10);
    assert!(errors(&out).iter().any(|e| e["path"] == "a.jsonl"));
    let manifest = manifest(&out);
    let a = manifest["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["path"] == "a.jsonl")
        .unwrap()
        .clone();
    assert_eq!(a["status"], "done");
}
