//! `discotag eval`: score a model on labelled utterances.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use discotag::labelled;
use discotag::metrics::classification;
use discotag::model::{Classifier, LoadOptions};

use super::exit;

/// Utterances per encoder batch.
const EVAL_BATCH_SIZE: usize = 32;

#[derive(Debug, clap::Args)]
#[command(after_long_help = "Example:\n  discotag eval --data data/labelled/test.jsonl --json")]
pub struct Args {
    /// Labelled utterances (JSONL with id, text, labels). Example: `--data data/labelled/test.jsonl`
    #[arg(long, value_name = "JSONL")]
    data: PathBuf,

    /// Model folder. Default: $DISCOTAG_MODEL, else models/default. Example: `--model models/default`
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,

    /// Print one JSON object: {"n", "per_code": {code: {precision, recall, f1, support}}, "micro_f1", "macro_f1"}. Example: `--json`
    #[arg(long)]
    json: bool,

    /// Token limit per utterance. Default: the one the model was trained with. Example: `--max-tokens 256`
    #[arg(long, value_name = "N")]
    max_tokens: Option<usize>,

    /// Never fetch the encoder. Example: `--offline`
    #[arg(long)]
    offline: bool,

    /// Compute threads. Example: `--threads 2`
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    super::set_threads(args.threads);
    discotag::telemetry::init(true);
    let model_dir = super::resolve_model_dir(args.model);
    let trained_max = discotag::model::ModelDir::open(&model_dir)?.head.max_tokens;
    let classifier = Classifier::load(
        &model_dir,
        &LoadOptions {
            max_tokens: args.max_tokens.unwrap_or(trained_max),
            offline: args.offline,
        },
    )?;
    let codebook = &classifier.model.codebook;
    let data = labelled::read(&args.data, codebook)?;
    let texts: Vec<&str> = data.iter().map(|l| l.text.as_str()).collect();
    let predicted: Vec<Vec<bool>> = classifier
        .score_texts(&texts, EVAL_BATCH_SIZE)?
        .iter()
        .map(|s| classifier.decide(s))
        .collect();
    let truth: Vec<Vec<bool>> = data.iter().map(|l| l.labels.clone()).collect();
    let report = classification::report(&codebook.code_names(), &truth, &predicted);
    let mut stdout = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer(&mut stdout, &report)?;
        writeln!(stdout)?;
    } else {
        writeln!(
            stdout,
            "model {} on {} ({} utterances)",
            classifier.model.model_id,
            args.data.display(),
            report.n
        )?;
        writeln!(
            stdout,
            "{:<20} {:>9} {:>9} {:>9} {:>8}",
            "code", "precision", "recall", "f1", "support"
        )?;
        for code in codebook.code_names() {
            let s = &report.per_code[&code];
            writeln!(
                stdout,
                "{code:<20} {:>9.3} {:>9.3} {:>9.3} {:>8}",
                s.precision, s.recall, s.f1, s.support
            )?;
        }
        writeln!(
            stdout,
            "micro-F1 {:.3}  macro-F1 {:.3}",
            report.micro_f1, report.macro_f1
        )?;
    }
    stdout.flush().context("writing the report")?;
    Ok(exit::SUCCESS)
}
