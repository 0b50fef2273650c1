//! Exactly once: a run killed with SIGKILL at several points and resumed with `--resume` ends
//! with every segment exactly once, as a clean run has them.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::*;

/// Rows keyed by (source, doc, segment index) with how often each occurs and its text.
fn row_counts(out: &std::path::Path) -> BTreeMap<(String, String, i32), (usize, String)> {
    let batches = read_segments(out);
    let sources = strings(&batches, "source_path");
    let docs = strings(&batches, "doc_id");
    let texts = strings(&batches, "text");
    let mut index = Vec::new();
    for b in &batches {
        index.extend(
            column::<arrow_array::Int32Array>(b, "segment_index")
                .values()
                .iter()
                .copied(),
        );
    }
    let mut counts: BTreeMap<(String, String, i32), (usize, String)> = BTreeMap::new();
    for i in 0..texts.len() {
        let key = (
            sources[i].clone().unwrap(),
            docs[i].clone().unwrap(),
            index[i],
        );
        let entry = counts.entry(key).or_insert((0, texts[i].clone().unwrap()));
        entry.0 += 1;
    }
    counts
}

fn label(wd: &Workdir, out: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_discotag"));
    cmd.current_dir(wd.path())
        .env("DISCOTAG_MODEL", tiny_model())
        .env("DISCOTAG_CACHE_DIR", wd.path().join(".cache"))
        .args([
            "label",
            "in",
            "--out",
            out,
            "--resume",
            "--commit-every",
            "0",
            "--quiet",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

#[test]
fn killed_runs_resume_to_every_segment_exactly_once() {
    let wd = Workdir::new();
    for i in 0..150 {
        let turns: String = (0..8)
            .map(|t| format!("Interviewer: Question {t} of interview {i}?\n\nRespondent: We pooled the budget ({i}.{t}) and listened to carers first. Then we saved money.\n\n"))
            .collect();
        wd.create(&format!("in/interview_{i:03}.txt"), turns);
    }
    let started = Instant::now();
    assert!(label(&wd, "clean").status().unwrap().success());
    let clean_time = started.elapsed();
    let clean = row_counts(&wd.path().join("clean"));
    assert!(clean.values().all(|(n, _)| *n == 1));

    let mut kills = 0;
    for fraction in [0.15, 0.4, 0.65, 0.9] {
        let mut child = label(&wd, "killed").spawn().unwrap();
        std::thread::sleep(clean_time.mul_f64(fraction).max(Duration::from_millis(50)));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL: no clean-up code runs
            kills += 1;
        }
        child.wait().unwrap();
    }
    assert!(kills >= 2, "the runs finished before they could be killed");
    let status = label(&wd, "killed").status().unwrap();
    assert!(status.success(), "final resume failed: {status}");

    let resumed = row_counts(&wd.path().join("killed"));
    let duplicated: Vec<_> = resumed
        .iter()
        .filter(|(_, (n, _))| *n != 1)
        .map(|(k, _)| k)
        .collect();
    assert!(
        duplicated.is_empty(),
        "rows written more than once: {duplicated:?}"
    );
    assert_eq!(resumed.len(), clean.len(), "rows lost");
    for (key, (_, text)) in &clean {
        assert_eq!(&resumed[key].1, text);
    }
    // Every part file on disk is in the manifest, and nothing temporary is left.
    let manifest = manifest(&wd.path().join("killed"));
    let listed: Vec<&str> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    for entry in std::fs::read_dir(wd.path().join("killed/segments")).unwrap() {
        let name = format!("segments/{}", entry.unwrap().file_name().to_string_lossy());
        assert!(
            listed.contains(&name.as_str()),
            "{name} is not in the manifest"
        );
    }
}

#[test]
fn a_run_holding_the_lock_is_refused_and_a_stale_lock_is_taken_over() {
    let wd = Workdir::new();
    wd.create("in/a.txt", "Respondent: We pooled the budget.\n");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let lock = wd.path().join("out/.discotag.lock");
    std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
    // A live process holds the lock: the run is refused and the lock is left alone.
    let mut holder = Command::new("sleep").arg("60").spawn().unwrap();
    std::fs::write(&lock, format!("{} {}", holder.id(), host.trim())).unwrap();
    let refused = label(&wd, "out").stderr(Stdio::piped()).output().unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("another discotag run"));
    assert!(lock.exists());
    // The holder dies without removing it (as under SIGKILL): the next run takes it over.
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert!(label(&wd, "out").status().unwrap().success());
    assert!(!lock.exists());
    assert_eq!(row_counts(&wd.path().join("out")).len(), 1);
}

/// A dataset records its precision and each run's kernel; resuming it with another explicit
/// precision is refused, since its rows would mix two number formats, and `auto` (the default)
/// keeps the dataset's.
#[test]
fn resuming_with_another_precision_is_refused() {
    let wd = Workdir::new();
    wd.create("in/a.txt", "Respondent: We pooled the budget.\n");
    wd.command(&["label", "in", "--out", "out", "--precision", "bf16"])
        .assert()
        .success();
    let manifest = manifest(&wd.path().join("out"));
    assert_eq!(manifest["identity"]["precision"], "bf16");
    let kernel = manifest["runs"][0]["kernel"].as_str().unwrap().to_string();
    assert!(
        kernel.ends_with("bf16") || kernel.ends_with("f32"),
        "{kernel}"
    );
    let resume = |precision: &[&str]| {
        let mut args = vec!["label", "in", "--out", "out", "--resume"];
        args.extend_from_slice(precision);
        wd.command(&args).assert()
    };
    resume(&["--precision", "fp32"])
        .code(1)
        .stderr(predicates::str::contains("precision bf16"));
    resume(&["--precision", "bf16"]).success();
    resume(&[]).success();
    let resumed = crate::util::manifest(&wd.path().join("out"));
    assert_eq!(resumed["identity"]["precision"], "bf16");
    assert_eq!(resumed["runs"].as_array().unwrap().len(), 3);
}
