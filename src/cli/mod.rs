//! Defines discotag's command line: the `Cli` and its subcommands (one module each), dispatch,
//! and the mapping of errors to exit codes.

mod agree;
mod curve;
mod eval;
pub mod exit;
mod label;
mod model;
mod qdpx;
mod suggest;
mod train;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Discourse tagging of interview transcripts, locally, to Parquet.
#[derive(Debug, Parser)]
#[command(name = "discotag", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Label transcripts (files, folders, or - for stdin) and write a Parquet dataset.
    Label(label::Args),
    /// Train a model for a codebook from labelled utterances.
    Train(train::Args),
    /// Score a model on labelled utterances.
    Eval(eval::Args),
    /// Learning curve: how macro-F1 and kappa grow with the number of coded units, and how many reach a target.
    Curve(curve::Args),
    /// Agreement between two coders (human and model, or two humans), code by code.
    Agree(agree::Args),
    /// Obtain, verify and describe the encoder and a model.
    Model(model::Args),
    /// Segments of a labelled dataset whose coding by hand would teach the model most.
    Suggest(suggest::Args),
    /// REFI-QDA: write the model's labels into a .qdpx project; import a .qdc codebook.
    Qdpx(qdpx::Args),
}

/// Runs the command line and returns the process exit code.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Label(args) => label::run(args),
        Command::Train(args) => train::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Curve(args) => curve::run(args),
        Command::Suggest(args) => suggest::run(args),
        Command::Agree(args) => agree::run(args),
        Command::Model(args) => model::run(args),
        Command::Qdpx(args) => qdpx::run(args),
    };
    match result {
        Ok(code) => exit::code(code),
        Err(error) => {
            if is_broken_pipe(&error) {
                return exit::code(exit::SUCCESS);
            }
            eprintln!("discotag: error: {error:#}");
            let usage = error.chain().any(|e| {
                matches!(
                    e.downcast_ref::<discotag::Error>(),
                    Some(discotag::Error::Usage(_))
                )
            });
            exit::code(if usage { exit::USAGE } else { exit::FATAL })
        }
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    let broken = |io: &std::io::Error| io.kind() == std::io::ErrorKind::BrokenPipe;
    error.chain().any(|e| {
        e.downcast_ref::<std::io::Error>().is_some_and(broken)
            || matches!(
                e.downcast_ref::<discotag::Error>(),
                Some(discotag::Error::Io { io, .. }) if broken(io)
            )
    })
}

/// The model directory: `--model`, else `$DISCOTAG_MODEL`, else `models/default` in the current
/// folder, else the default model of the source tree discotag was built from.
pub fn resolve_model_dir(flag: Option<PathBuf>) -> PathBuf {
    if let Some(dir) = flag {
        return dir;
    }
    if let Some(dir) = std::env::var_os("DISCOTAG_MODEL") {
        return PathBuf::from(dir);
    }
    let local = PathBuf::from("models/default");
    if local.is_dir() {
        return local;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/default")
}

/// `--precision`: the encoder's number format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PrecisionArg {
    Auto,
    Fp32,
    Bf16,
    Int8,
}

impl From<PrecisionArg> for discotag::model::precision::Request {
    fn from(p: PrecisionArg) -> Self {
        use discotag::model::Precision;
        use discotag::model::precision::Request;
        match p {
            PrecisionArg::Auto => Request::Auto,
            PrecisionArg::Fp32 => Request::Exactly(Precision::F32),
            PrecisionArg::Bf16 => Request::Exactly(Precision::Bf16),
            PrecisionArg::Int8 => Request::Exactly(Precision::Int8),
        }
    }
}

/// The help of `--precision`, shared by `label` and `eval`.
pub const PRECISION_HELP: &str = "Number format of the encoder's matrix products: auto (the default: the fastest precision the model card validates that this CPU runs faster than fp32, measured once per machine; the log and the manifest say which and why), fp32 (the reference), bf16 (bfloat16 products, f32 sums; fast only on CPUs with AVX-512 BF16) or int8 (weights quantised per output channel, activations per row, int32 sums; fast on CPUs with VNNI). An explicit choice the model's checks do not validate, or that this CPU runs slower than fp32, is used with a warning. Example: `--precision int8`";

/// Sets the number of compute threads for the encoder and tokenizer before any pool starts.
pub fn set_threads(threads: Option<usize>) {
    if let Some(n) = threads {
        // SAFETY: called from the main thread before any other thread is started.
        unsafe { std::env::set_var("RAYON_NUM_THREADS", n.max(1).to_string()) };
    }
}

/// How `train` and `eval` read a coded REFI-QDA project given as data.
#[derive(Debug, Clone, clap::Args)]
pub struct ProjectArgs {
    /// A .qdpx project's coder whose codings are the labels (name, ignoring case, or GUID); repeat for several (their union, or with --adjudicated what they agree on). Needed when the project has more than one coder. Example: `--coder "Ruth Okonjo"`
    #[arg(long, value_name = "NAME")]
    coder: Vec<String>,

    /// With several --coder: keep only the segments on which all of them agree, from sources all of them coded, instead of the union of their codes. Example: `--adjudicated`
    #[arg(long)]
    adjudicated: bool,

    /// Share of the shorter of a segment and a coding that must overlap for the segment to carry the code (as in `agree`). Example: `--min-overlap 0.3`
    #[arg(long, default_value_t = discotag::agree::DEFAULT_MIN_OVERLAP, value_name = "F")]
    min_overlap: f64,

    /// How a project's sources are cut into units, as `label --unit` cuts them (window: sentences packed up to --max-tokens). Example: `--unit turn`
    #[arg(long, value_enum, default_value_t = discotag::segment::SegmentUnit::Window)]
    unit: discotag::segment::SegmentUnit,
}

impl ProjectArgs {
    pub fn options(&self) -> discotag::labelled::ProjectOptions {
        discotag::labelled::ProjectOptions {
            coders: self.coder.clone(),
            combine: if self.adjudicated {
                discotag::labelled::Combine::Adjudicated
            } else {
                discotag::labelled::Combine::Union
            },
            min_overlap: self.min_overlap,
            unit: self.unit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// Every option of every command has help text with an example.
    #[test]
    fn every_option_has_help_with_an_example() {
        let cli = Cli::command();
        for sub in cli.get_subcommands() {
            let subs: Vec<&clap::Command> = if sub.has_subcommands() {
                sub.get_subcommands().collect()
            } else {
                vec![sub]
            };
            for cmd in subs {
                for arg in cmd.get_arguments() {
                    if ["help", "version"].contains(&arg.get_id().as_str()) {
                        continue;
                    }
                    let help = arg
                        .get_long_help()
                        .or(arg.get_help())
                        .map(|h| h.to_string())
                        .unwrap_or_default();
                    assert!(
                        help.contains("xample"),
                        "{} {}: no example in help: {help:?}",
                        cmd.get_name(),
                        arg.get_id()
                    );
                }
            }
        }
    }
}
