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

/// Whether this process runs as root, which reads every file whatever its permissions.
fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The same command run as user `nobody` (through util-linux `setpriv`), so that file
/// permissions apply even when the tests run as root.
fn as_nobody(cmd: &std::process::Command) -> std::process::Command {
    let mut wrapped = std::process::Command::new("setpriv");
    wrapped
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(cmd.get_program())
        .args(cmd.get_args());
    if let Some(dir) = cmd.get_current_dir() {
        wrapped.current_dir(dir);
    }
    for (key, value) in cmd.get_envs() {
        match value {
            Some(v) => wrapped.env(key, v),
            None => wrapped.env_remove(key),
        };
    }
    wrapped
}

/// A file the user may not read is an error record naming it (exit 3); the others are labelled.
#[test]
fn an_unreadable_file_is_an_error_record_and_the_rest_is_labelled() {
    use std::os::unix::fs::PermissionsExt;
    let wd = Workdir::new();
    let open = std::fs::Permissions::from_mode(0o777);
    std::fs::set_permissions(wd.path(), open).unwrap();
    wd.create(
        "in/good.txt",
        "Interviewer: Hello.\n\nRespondent: We pooled the budget to stop paying twice.\n",
    );
    let secret = wd.create("in/secret.txt", "Respondent: not for your eyes.\n");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o000)).unwrap();
    let cmd = wd.std_command(&["label", "in", "--out", "out"]);
    let mut cmd = if is_root() {
        // candle saves weights readable by their owner only; let `nobody` read the test model.
        for dir in [tiny_model(), tiny_encoder()] {
            for file in std::fs::read_dir(dir).unwrap() {
                std::fs::set_permissions(
                    file.unwrap().path(),
                    std::fs::Permissions::from_mode(0o644),
                )
                .unwrap();
            }
        }
        as_nobody(&cmd)
    } else {
        cmd
    };
    let status = cmd.status().expect("setpriv (util-linux) runs the binary");
    assert_eq!(status.code(), Some(3));
    let out = wd.path().join("out");
    let errors = errors(&out);
    let secret_error = errors
        .iter()
        .find(|e| e["path"].as_str().unwrap().ends_with("secret.txt"))
        .unwrap_or_else(|| panic!("no error for secret.txt: {errors:?}"));
    assert!(
        secret_error["reason"]
            .as_str()
            .unwrap()
            .contains("Permission denied"),
        "{secret_error}"
    );
    let sources = strings(&read_segments(&out), "source_path");
    assert!(!sources.is_empty());
    assert!(
        sources
            .iter()
            .all(|s| s.as_deref().unwrap().ends_with("good.txt"))
    );
}

/// A disk that fills mid-run (simulated with a file-size limit, so writes fail with EFBIG as
/// they would with ENOSPC) stops the run with a clear fatal error and leaves no half-written
/// part file; once space is back, `--resume` finishes with every segment exactly once.
#[test]
fn a_full_disk_stops_the_run_cleanly_and_resume_finishes_it() {
    use std::os::unix::process::CommandExt;
    let wd = Workdir::new();
    let turn = "Respondent: We pooled the budget so that the falls team could see people earlier, and it saved money on admissions. ";
    for i in 0..30 {
        wd.create(
            &format!("in/interview_{i:02}.txt"),
            format!("Interviewer: Question {i}?\n\n{}\n", turn.repeat(40)),
        );
    }
    // Commit after every input, so that the disk fills after some inputs are safely written.
    let mut cmd = wd.std_command(&[
        "label",
        "in",
        "--out",
        "out",
        "--resume",
        "--commit-every",
        "0",
    ]);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit {
                rlim_cur: 256 * 1024,
                rlim_max: 256 * 1024,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let output = cmd.output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("File too large") || stderr.contains("is the disk full"),
        "{stderr}"
    );
    let out = wd.path().join("out");
    let done_before_full = manifest(&out)["inputs"].as_array().unwrap().len();
    assert!(
        done_before_full > 0 && done_before_full < 30,
        "{done_before_full}"
    );
    let leftovers: Vec<_> = walkdir::WalkDir::new(&out)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .map(|e| e.path().to_path_buf())
        .collect();
    assert!(
        leftovers.is_empty() || manifest_lists_no(&out, &leftovers),
        "{leftovers:?}"
    );

    wd.command(&["label", "in", "--out", "out", "--resume"])
        .assert()
        .success();
    wd.command(&["label", "in", "--out", "clean"])
        .assert()
        .success();
    let count = |dir: &str| {
        let mut rows: Vec<(Option<String>, Option<i64>)> = {
            let batches = read_segments(&wd.path().join(dir));
            strings(&batches, "source_path")
                .into_iter()
                .zip(ints(&batches, "char_start"))
                .collect()
        };
        rows.sort();
        rows
    };
    assert_eq!(count("out"), count("clean"));
}

/// Temporary files a failed run left behind are never listed as dataset files.
fn manifest_lists_no(out: &std::path::Path, files: &[std::path::PathBuf]) -> bool {
    let Ok(text) = std::fs::read_to_string(out.join("manifest.json")) else {
        return true;
    };
    files
        .iter()
        .all(|f| !text.contains(&*f.file_name().unwrap().to_string_lossy()))
}
