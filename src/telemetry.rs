//! Logging and progress: human logs and a progress bar on a terminal; quiet JSON logs (one
//! object per line, carrying the run id) when stderr is not a terminal, as under cron,
//! systemd or a cluster scheduler.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tracing_subscriber::EnvFilter;

/// Whether stderr is an interactive terminal.
pub fn is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// Sets up `tracing`: `RUST_LOG` filters (default `info`, or `warn` with `quiet`); JSON when
/// stderr is not a terminal. Safe to call more than once (later calls do nothing).
pub fn init(quiet: bool) {
    let default = if quiet { "warn" } else { "info" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if is_terminal() {
        builder
            .with_writer(|| StderrAboveBar)
            .with_target(false)
            .without_time()
            .try_init()
    } else {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init()
    };
}

/// The progress bar on screen, if any: log lines are printed above it instead of through it.
static ACTIVE_BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Writes to stderr, suspending the active progress bar while it does.
struct StderrAboveBar;

impl Write for StderrAboveBar {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let bar = ACTIVE_BAR.lock().map(|b| b.clone()).unwrap_or(None);
        match bar {
            Some(bar) => bar
                .suspend(|| std::io::stderr().write_all(buf))
                .map(|()| buf.len()),
            None => std::io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// The current time as RFC 3339 (UTC, seconds).
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// A new run id: UTC time and a few random-ish hex digits, sortable by start time.
pub fn new_run_id() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let stamp = humantime::format_rfc3339_seconds(SystemTime::now())
        .to_string()
        .replace(['-', ':'], "")
        .trim_end_matches('Z')
        .to_string();
    let salt = (now.subsec_nanos() ^ std::process::id().rotate_left(16)) & 0xffff;
    format!("{stamp}-{salt:04x}")
}

/// The progress bar for `label`: bytes of input done, segments per second, ETA. Hidden when
/// stderr is not a terminal. [`finish_progress`] takes it off the screen.
pub fn label_progress(total_bytes: u64, show: bool) -> ProgressBar {
    active_progress(
        total_bytes,
        show,
        "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg} ETA {eta}",
    )
}

/// The progress bar for `train`: optimiser steps done, with the loss and dev F1 in the message.
pub fn train_progress(total_steps: u64) -> ProgressBar {
    active_progress(
        total_steps,
        true,
        "{spinner} [{elapsed_precise}] {wide_bar} step {pos}/{len} {msg} ETA {eta}",
    )
}

fn active_progress(total: u64, show: bool, template: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if !show || !is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    if let Ok(mut active) = ACTIVE_BAR.lock() {
        *active = Some(bar.clone());
    }
    bar.set_style(ProgressStyle::with_template(template).expect("static template is valid"));
    bar
}

/// Clears the progress bar and stops routing log lines around it.
pub fn finish_progress(bar: &ProgressBar) {
    bar.finish_and_clear();
    if let Ok(mut active) = ACTIVE_BAR.lock() {
        *active = None;
    }
}
