//! `discotag eval`: score a model on labelled utterances.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use std::collections::BTreeMap;

use discotag::labelled;
use discotag::model::{Classifier, Evaluation, LoadOptions};

use super::exit;

#[derive(Debug, clap::Args)]
#[command(after_long_help = "Example:\n  discotag eval --data data/labelled/test.jsonl --json")]
pub struct Args {
    /// Labelled utterances (JSONL with id, text, labels), or a coded REFI-QDA project (.qdpx: its sources cut into segments as `label` cuts them, labelled by --coder's codings). Example: `--data data/labelled/test.jsonl`
    #[arg(long, value_name = "JSONL|QDPX")]
    data: PathBuf,

    #[command(flatten)]
    project: super::ProjectArgs,

    /// Model folder. Default: $DISCOTAG_MODEL, else models/default. Example: `--model models/default`
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,

    /// Print one JSON object: {"n", "per_code": {code: {precision, recall, f1, support, cohen_kappa}}, "micro_f1", "macro_f1", "macro_kappa"}; a kappa that is undefined (neither side ever uses the code) is null. Example: `--json`
    #[arg(long)]
    json: bool,

    /// Write every misclassified utterance to this JSONL file: id, text, reference and predicted codes, missed and spurious codes, per-code scores. Example: `--errors errors.jsonl`
    #[arg(long, value_name = "FILE")]
    errors: Option<PathBuf>,

    /// Token limit per utterance. Default: the one the model was trained with. Example: `--max-tokens 256`
    #[arg(long, value_name = "N")]
    max_tokens: Option<usize>,

    /// Never fetch the encoder. Example: `--offline`
    #[arg(long)]
    offline: bool,

    #[arg(long, value_enum, default_value_t = super::PrecisionArg::Auto, help = super::PRECISION_HELP)]
    precision: super::PrecisionArg,

    /// Compute threads. Example: `--threads 2`
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    super::set_threads(args.threads);
    discotag::telemetry::init(true);
    let model_dir = super::resolve_model_dir(args.model);
    let trained_max = discotag::model::ModelDir::open(&model_dir)?.head.max_tokens;
    let max_tokens = args.max_tokens.unwrap_or(trained_max);
    let classifier = Classifier::load(
        &model_dir,
        &LoadOptions {
            max_tokens,
            offline: args.offline,
            precision: args.precision.into(),
        },
    )?;
    let codebook = &classifier.model.codebook;
    let loaded = labelled::load(
        &args.data,
        codebook,
        &args.project.options(),
        Some((max_tokens, classifier.tokenizer())),
    )?;
    if let Some(description) = &loaded.description {
        eprintln!("discotag: {description}");
    }
    let data = loaded.items;
    let evaluation = classifier.evaluate(&data)?;
    let report = &evaluation.report;
    let codes = codebook.code_names();
    if let Some(path) = &args.errors {
        let written = write_errors(path, &codes, &data, &evaluation)
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!(
            "discotag: {written} misclassified utterances -> {}",
            path.display()
        );
    }
    let mut stdout = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer(&mut stdout, report)?;
        writeln!(stdout)?;
    } else {
        writeln!(
            stdout,
            "model {} on {} ({} utterances)\n",
            classifier.model.model_id,
            args.data.display(),
            report.n
        )?;
        writeln!(
            stdout,
            "{:<22} {:>9} {:>7} {:>7} {:>7} {:>8} {:>6} {:>6} {:>6} {:>6}",
            "code", "precision", "recall", "f1", "kappa", "support", "TP", "FP", "FN", "TN"
        )?;
        for (code, counts) in codes.iter().zip(&evaluation.confusions) {
            let s = &report.per_code[code];
            writeln!(
                stdout,
                "{code:<22} {:>9.3} {:>7.3} {:>7.3} {:>7} {:>8} {:>6} {:>6} {:>6} {:>6}",
                s.precision,
                s.recall,
                s.f1,
                discotag::metrics::classification::kappa_text(s.cohen_kappa),
                s.support,
                counts.true_positive,
                counts.false_positive,
                counts.false_negative,
                counts.true_negative
            )?;
        }
        let exact = evaluation
            .predicted
            .iter()
            .zip(&data)
            .filter(|(p, l)| **p == l.labels)
            .count();
        writeln!(
            stdout,
            "\nmicro-F1 {:.3}  macro-F1 {:.3}  macro kappa {}  exact match {exact}/{} ({:.1}%)",
            report.micro_f1,
            report.macro_f1,
            discotag::metrics::classification::kappa_text(report.macro_kappa),
            report.n,
            100.0 * exact as f64 / report.n.max(1) as f64
        )?;
    }
    stdout.flush().context("writing the report")?;
    Ok(exit::SUCCESS)
}

/// One line of the `--errors` file.
#[derive(serde::Serialize)]
struct Misclassified<'a> {
    id: &'a str,
    text: &'a str,
    labels: Vec<&'a str>,
    predicted: Vec<&'a str>,
    missed: Vec<&'a str>,
    spurious: Vec<&'a str>,
    scores: BTreeMap<&'a str, f32>,
}

fn write_errors(
    path: &std::path::Path,
    codes: &[String],
    data: &[labelled::Labelled],
    evaluation: &Evaluation,
) -> anyhow::Result<usize> {
    let pick = |flags: &dyn Fn(usize) -> bool| -> Vec<&str> {
        codes
            .iter()
            .enumerate()
            .filter(|&(c, _)| flags(c))
            .map(|(_, n)| n.as_str())
            .collect()
    };
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut written = 0;
    for ((item, predicted), scores) in data
        .iter()
        .zip(&evaluation.predicted)
        .zip(&evaluation.scores)
    {
        if *predicted == item.labels {
            continue;
        }
        let line = Misclassified {
            id: &item.id,
            text: &item.text,
            labels: pick(&|c| item.labels[c]),
            predicted: pick(&|c| predicted[c]),
            missed: pick(&|c| item.labels[c] && !predicted[c]),
            spurious: pick(&|c| !item.labels[c] && predicted[c]),
            scores: codes
                .iter()
                .map(String::as_str)
                .zip(scores.iter().copied())
                .collect(),
        };
        serde_json::to_writer(&mut out, &line)?;
        out.write_all(b"\n")?;
        written += 1;
    }
    out.flush()?;
    Ok(written)
}
