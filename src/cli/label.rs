//! `discotag label`: transcripts in, Parquet dataset out.

use std::path::PathBuf;

use anyhow::Context;
use discotag::input::{CsvColumns, Format, ReadOptions, Shard};
use discotag::pipeline::{LabelConfig, StopSignal, run_label};
use discotag::segment::SegmentUnit;

use super::exit;

#[derive(Debug, clap::Args)]
#[command(
    after_long_help = "Examples:\n  discotag label data/sample --out labelled\n  cat interview.jsonl | discotag label - --format jsonl --out labelled\n  discotag label corpus/ --out labelled --shard 2/8 --resume\n\nExit codes: 0 all inputs labelled; 3 finished but some inputs failed (see errors.jsonl in --out); 2 usage error; 1 fatal; 130 or 143 stopped by SIGINT or SIGTERM (what was done is committed; --resume continues; a second signal stops at once)."
)]
pub struct Args {
    /// Transcript files, folders (searched recursively) or `-` for stdin. Example: `data/sample interview.txt`
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<PathBuf>,

    /// Output folder for the dataset (Parquet files under segments/, manifest.json, errors.jsonl). Example: `--out labelled`
    #[arg(long, value_name = "DIR")]
    out: PathBuf,

    /// Model folder (codebook, head, thresholds, encoder reference). Default: $DISCOTAG_MODEL, else models/default. Example: `--model models/default`
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,

    /// Format of stdin, and of named files whose extension says none. Without it, stdin is read as JSON lines when it starts with `{`, WebVTT with `WEBVTT`, SRT with a cue, else as plain text (CSV on stdin needs `--format csv`). Example: `--format jsonl`
    #[arg(long, value_enum)]
    format: Option<Format>,

    /// What one segment is: a speaker turn, a sentence, or sentences of a turn packed into windows that fit --max-tokens. Example: `--unit sentence`
    #[arg(long, value_enum, default_value_t = SegmentUnit::Window)]
    unit: SegmentUnit,

    /// Token limit per segment, special tokens included; longer turn/sentence segments are truncated (and flagged). Example: `--max-tokens 256`
    #[arg(long, default_value_t = 128, value_name = "N")]
    max_tokens: usize,

    /// Segments per encoder batch (segments of similar length are batched together). Example: `--batch-size 64`
    #[arg(long, default_value_t = 32, value_name = "N")]
    batch_size: usize,

    #[arg(long, value_enum, default_value_t = super::PrecisionArg::Auto, help = super::PRECISION_HELP)]
    precision: super::PrecisionArg,

    /// Compute threads for tokenising and the encoder. Default: all cores. Example: `--threads 2`
    #[arg(long, value_name = "N")]
    threads: Option<usize>,

    /// Take only share K of N of the inputs (K from 0 to N-1), e.g. a Kubernetes job index; the union of all N shards equals one run. Example: `--shard 0/4`
    #[arg(long, value_name = "K/N", default_value = "0/1")]
    shard: Shard,

    /// Continue a dataset in --out: inputs already labelled and unchanged are skipped, inputs cut off by a kill continue from their last commit, and inputs whose content changed have their rows replaced. Example: `--resume`
    #[arg(long)]
    resume: bool,

    /// With --resume: remove the rows of inputs in the dataset that this run is not given (deleted or renamed files). Example: `--resume --prune`
    #[arg(long, requires = "resume")]
    prune: bool,

    /// Never fetch the encoder; fail with the fetch command if it is not cached. Example: `--offline`
    #[arg(long)]
    offline: bool,

    /// CSV column holding the text. Example: `--text-column utterance`
    #[arg(long, default_value = "text", value_name = "NAME")]
    text_column: String,

    /// CSV column holding the speaker. Example: `--speaker-column role`
    #[arg(long, default_value = "speaker", value_name = "NAME")]
    speaker_column: String,

    /// CSV column holding the record id. Example: `--id-column turn_id`
    #[arg(long, default_value = "id", value_name = "NAME")]
    id_column: String,

    /// CSV column holding the document id (rows are grouped into documents by it). Example: `--doc-id-column interview`
    #[arg(long, default_value = "doc_id", value_name = "NAME")]
    doc_id_column: String,

    /// Commit the rows written so far (a Parquet part file and the position reached in each input) every this many seconds, also in the middle of a large input: at most this much work is redone when a killed run is resumed, and a reader sees rows of a live stream this soon. Example: `--commit-every 300`
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    commit_every: u64,

    /// No progress bar and only warnings in the log. Example: `--quiet`
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    super::set_threads(args.threads);
    discotag::telemetry::init(args.quiet);
    if args.batch_size == 0 {
        return Err(discotag::Error::Usage("--batch-size must be at least 1".into()).into());
    }
    let out = args.out.clone();
    let stdin_format = match args.format {
        Some(format) => Some(format),
        // Decided before any work, so that an undecidable stream is a usage error.
        None if args.inputs.iter().any(|i| i.as_os_str() == "-") => {
            Some(discotag::input::detect_stdin_format().map_err(discotag::Error::Usage)?)
        }
        None => None,
    };
    let stop = install_signal_handlers()?;
    let config = LabelConfig {
        inputs: args.inputs,
        out_dir: args.out,
        model_dir: super::resolve_model_dir(args.model),
        stdin_format: args.format,
        detected_stdin_format: stdin_format,
        unit: args.unit,
        max_tokens: args.max_tokens,
        batch_size: args.batch_size,
        shard: args.shard,
        resume: args.resume,
        prune: args.prune,
        offline: args.offline,
        precision: args.precision.into(),
        read: ReadOptions {
            csv: CsvColumns {
                text: args.text_column,
                speaker: args.speaker_column,
                id: args.id_column,
                doc_id: args.doc_id_column,
            },
        },
        progress: !args.quiet,
        commit_interval: std::time::Duration::from_secs(args.commit_every),
        stop: stop.clone(),
    };
    let summary = run_label(config).with_context(|| format!("labelling into {}", out.display()))?;
    let run = &summary.run;
    if !args.quiet && discotag::telemetry::is_terminal() {
        eprintln!(
            "discotag: {} inputs labelled, {} failed, {} already done; {} segments in {:.1}s -> {}",
            run.inputs_done,
            run.inputs_failed,
            run.inputs_skipped_as_done,
            run.segments,
            run.seconds,
            summary.out_dir.join("segments").display()
        );
    }
    if run.interrupted {
        eprintln!(
            "discotag: stopped by a signal; {} segments committed; run the same command with --resume to continue",
            run.segments
        );
        let signal = stop.signal.load(std::sync::atomic::Ordering::Relaxed) as i32;
        return Ok(if signal == signal_hook::consts::SIGTERM {
            exit::INTERRUPTED_SIGTERM
        } else {
            exit::INTERRUPTED_SIGINT
        });
    }
    if summary.had_errors() {
        eprintln!(
            "discotag: {} errors; see {}",
            run.errors,
            summary
                .out_dir
                .join(discotag::output::ERRORS_FILE)
                .display()
        );
        return Ok(exit::PARTIAL);
    }
    Ok(exit::SUCCESS)
}

/// SIGINT and SIGTERM set the stop flag (the run commits what it has and ends); a second one
/// ends the process at once with the same exit code (what was committed stays committed).
fn install_signal_handlers() -> anyhow::Result<StopSignal> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let stop = StopSignal::default();
    for (signal, code) in [
        (SIGINT, exit::INTERRUPTED_SIGINT),
        (SIGTERM, exit::INTERRUPTED_SIGTERM),
    ] {
        // Registered first, so it sees the flag as the previous signal left it.
        signal_hook::flag::register_conditional_shutdown(
            signal,
            i32::from(code),
            stop.stop.clone(),
        )
        .context("installing signal handlers")?;
        signal_hook::flag::register_usize(signal, stop.signal.clone(), signal as usize)
            .context("installing signal handlers")?;
        signal_hook::flag::register(signal, stop.stop.clone())
            .context("installing signal handlers")?;
    }
    Ok(stop)
}
