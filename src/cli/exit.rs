//! Exit codes: the one place they are defined (documented in the README).

use std::process::ExitCode;

/// Every input was labelled.
pub const SUCCESS: u8 = 0;
/// A fatal error: nothing more could be done (model unusable, output not writable, ...).
pub const FATAL: u8 = 1;
/// The command line was wrong (clap also exits with 2).
pub const USAGE: u8 = 2;
/// The run finished, but some inputs or records failed; they are in the errors file.
pub const PARTIAL: u8 = 3;

/// Stopped by SIGINT (Ctrl-C): what was done is committed; `--resume` continues (128 + 2).
pub const INTERRUPTED_SIGINT: u8 = 130;
/// Stopped by SIGTERM (Kubernetes, Slurm): as for SIGINT (128 + 15).
pub const INTERRUPTED_SIGTERM: u8 = 143;

pub fn code(value: u8) -> ExitCode {
    ExitCode::from(value)
}
