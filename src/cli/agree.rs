//! `discotag agree`: agreement between two coders (human and model, or two humans).

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use discotag::agree::coders::CoderInput;
use discotag::agree::{self, AgreeConfig, Agreement, LevelAgreement};
use discotag::codebook::Codebook;
use discotag::metrics::agreement::{Statistic, StatisticIntervals};
use discotag::segment::SegmentUnit;

use super::exit;

#[derive(Debug, clap::Args)]
#[command(after_long_help = "Examples:
  # The model against a human coder, on utterances labelled by both:
  discotag label coded.jsonl --out model-run
  discotag agree --reference coded.jsonl --candidate model-run --report agreement.html

  # The model against one coder of a REFI-QDA project, with the review queue:
  discotag label project.qdpx --out model-run
  discotag agree --reference project.qdpx --reference-coder Alice --candidate model-run \\
      --disagreements review.parquet --json

  # Two human coders of one project:
  discotag agree --reference project.qdpx --reference-coder Alice \\
      --candidate project.qdpx --candidate-coder Bob")]
pub struct Args {
    /// The reference coder: labelled utterances (JSONL with id, text, labels), a discotag output folder, or a REFI-QDA .qdpx (name the coder with --reference-coder). Example: `--reference coded.jsonl`
    #[arg(long, value_name = "CODES")]
    reference: PathBuf,

    /// The candidate coder, in any of the same forms; usually the model's output folder. Example: `--candidate model-run`
    #[arg(long, value_name = "CODES")]
    candidate: PathBuf,

    /// The reference coder's user name (or GUID) in a .qdpx project; optional when the project has one coder. Example: `--reference-coder Alice`
    #[arg(long, value_name = "NAME")]
    reference_coder: Option<String>,

    /// The candidate coder's user name (or GUID) in a .qdpx project. Example: `--candidate-coder Bob`
    #[arg(long, value_name = "NAME")]
    candidate_coder: Option<String>,

    /// The codes to compare. Default: the dataset's codes, else every code either coder used. Example: `--codebook data/codebooks/joint_commissioning.toml`
    #[arg(long, value_name = "FILE")]
    codebook: Option<PathBuf>,

    /// For span codings (REFI-QDA): a segment carries a code when one of the coder's spans overlaps it by at least this share of the shorter of the two. Example: `--min-overlap 0.5`
    #[arg(long, value_name = "SHARE", default_value_t = agree::DEFAULT_MIN_OVERLAP)]
    min_overlap: f64,

    /// How source text is cut into segments when two REFI-QDA coders are compared: `sentence` or `turn`. Example: `--unit turn`
    #[arg(long, value_enum, default_value_t = SegmentUnit::Sentence)]
    unit: SegmentUnit,

    /// Bootstrap replicates for 95% intervals (0 for none). Example: `--bootstrap 2000`
    #[arg(long, value_name = "N", default_value_t = 1000)]
    bootstrap: usize,

    /// Seed of the bootstrap, so that intervals are reproducible. Example: `--seed 7`
    #[arg(long, value_name = "N", default_value_t = 42)]
    seed: u64,

    /// The model whose thresholds are marked on the threshold curves. Default: the model named in the candidate dataset if it is $DISCOTAG_MODEL or models/default. Example: `--model models/default`
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,

    /// Print one JSON object: {"n_units", "per_code": {code: {percent_agreement, cohen_kappa, krippendorff_alpha, gwet_ac1, precision, recall, f1, ...}}, "macro", "intervals", "character_level", "threshold_curve", ...}. Example: `--json`
    #[arg(long)]
    json: bool,

    /// Write a self-contained HTML report (agreement with intervals, code co-occurrence, codes by speaker and by a metadata field, top disagreements, threshold curves). Example: `--report agreement.html`
    #[arg(long, value_name = "FILE.html")]
    report: Option<PathBuf>,

    /// Write the review queue: every unit the coders disagree on, with both codings and the model's scores, most confident first. Example: `--disagreements review.parquet`
    #[arg(long, value_name = "FILE.parquet")]
    disagreements: Option<PathBuf>,

    /// The metadata field whose values the report counts codes by, besides the speaker. Default: `site` when present. Example: `--by role`
    #[arg(long, value_name = "FIELD")]
    by: Option<String>,

    /// How many disagreements the report shows. Example: `--top 50`
    #[arg(long, value_name = "N", default_value_t = 25)]
    top: usize,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    discotag::telemetry::init(true);
    let codebook = args.codebook.as_deref().map(Codebook::load).transpose()?;
    let reference = CoderInput::detect(&args.reference, args.reference_coder.clone())?;
    let candidate = CoderInput::detect(&args.candidate, args.candidate_coder.clone())?;
    let config = AgreeConfig {
        reference,
        candidate,
        codebook,
        min_overlap: args.min_overlap,
        unit: args.unit,
        bootstrap: args.bootstrap,
        seed: args.seed,
    };
    let mut agreement = agree::compare(&config).with_context(|| {
        format!(
            "comparing {} with {}",
            args.reference.display(),
            args.candidate.display()
        )
    })?;
    agreement.thresholds =
        model_thresholds(args.model.clone(), agreement.candidate_model_id.as_deref());

    if let Some(path) = &args.disagreements {
        agree::disagreements::write(&agreement, path)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.report {
        let mut input = agree::report_input(&agreement, args.by.as_deref(), args.top);
        let (curve, note) = model_curve(
            args.model.clone(),
            agreement.candidate_model_id.as_deref(),
            &[&args.reference, &args.candidate],
        );
        input.learning_curve = curve;
        input.notes.extend(note);
        let html = discotag::metrics::report::render(&input);
        discotag::output::manifest::write_atomically(path, html.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer(&mut out, &agreement.json())?;
        writeln!(out)?;
    } else {
        print_table(&mut out, &agreement)?;
    }
    Ok(exit::SUCCESS)
}

/// The model `agree` describes: `--model`, or the default model when it made the candidate
/// dataset.
fn chosen_model(
    flag: Option<PathBuf>,
    candidate_model_id: Option<&str>,
) -> Option<discotag::model::ModelDir> {
    let explicit = flag.is_some();
    let model = discotag::model::ModelDir::open(&super::resolve_model_dir(flag)).ok()?;
    (explicit || candidate_model_id == Some(model.model_id.as_str())).then_some(model)
}

/// The model's learning curve for the report, when the model was trained from the project one
/// of the coders comes from; otherwise a note on why it is not shown (if the model has one).
fn model_curve(
    flag: Option<PathBuf>,
    candidate_model_id: Option<&str>,
    inputs: &[&std::path::Path],
) -> (
    Option<discotag::metrics::report::LearningCurveSection>,
    Option<String>,
) {
    let Some(model) = chosen_model(flag, candidate_model_id) else {
        return (None, None);
    };
    let Ok(text) = std::fs::read_to_string(model.path.join(discotag::model::CURVE_FILE)) else {
        return (None, None);
    };
    let Ok(saved) = serde_json::from_str::<discotag::train::curve::SavedCurve>(&text) else {
        return (None, None);
    };
    let Some(trained_on) = &saved.project_name else {
        return (None, None);
    };
    let same = inputs.iter().any(|path| {
        discotag::labelled::is_project(path)
            && discotag::labelled::project::project_name(path)
                .ok()
                .as_deref()
                == Some(trained_on.as_str())
    });
    if same {
        let section = discotag::metrics::report::LearningCurveSection {
            model: format!(
                "model {}, trained from project {trained_on:?} ({})",
                model.path.display(),
                saved.data
            ),
            curve: saved.curve,
        };
        (Some(section), None)
    } else {
        (
            None,
            Some(format!(
                "The model's learning curve is not shown: it was trained from project {trained_on:?}, not from a project compared here."
            )),
        )
    }
}

/// The thresholds of `--model`, or of the default model when it made the candidate dataset.
fn model_thresholds(
    flag: Option<PathBuf>,
    candidate_model_id: Option<&str>,
) -> Option<HashMap<String, f32>> {
    let model = chosen_model(flag, candidate_model_id)?;
    Some(
        model
            .codebook
            .code_names()
            .into_iter()
            .zip(model.thresholds)
            .collect(),
    )
}

fn fmt_stat(value: f64) -> String {
    if value.is_nan() {
        "n/a".into()
    } else {
        format!("{value:.3}")
    }
}

fn fmt_percent(share: f64) -> String {
    if share.is_nan() {
        "n/a".into()
    } else {
        format!("{:.1}", 100.0 * share)
    }
}

fn print_level(
    out: &mut impl Write,
    codes: &[String],
    level: &LevelAgreement,
) -> std::io::Result<()> {
    writeln!(out, "{} units: {}", level.n_units, level.level)?;
    let width = codes
        .iter()
        .map(|c| c.chars().count())
        .max()
        .unwrap_or(0)
        .max(20);
    writeln!(
        out,
        "  {:<width$} {:>7} {:>7} {:>17} {:>7} {:>7} {:>7} {:>7} {:>7}",
        "code", "agree%", "kappa", "kappa 95% CI", "alpha", "AC1", "prec", "recall", "F1"
    )?;
    let intervals = level.intervals.as_ref();
    type Getter<'a> = Box<dyn Fn(Statistic) -> f64 + 'a>;
    let mut rows: Vec<(&str, Getter<'_>, Option<&StatisticIntervals>)> = codes
        .iter()
        .filter_map(|code| level.per_code.get_key_value(code))
        .map(|(code, s)| {
            let get: Getter<'_> = Box::new(|stat| s.get(stat));
            (
                code.as_str(),
                get,
                intervals.and_then(|i| i.per_code.get(code)),
            )
        })
        .collect();
    rows.push((
        "(macro)",
        Box::new(|stat| level.macro_average.get(stat)),
        intervals.map(|i| &i.macro_average),
    ));
    for (code, value, interval) in rows {
        let ci = interval
            .map(|i| &i.bounds.cohen_kappa)
            .filter(|k| !k.lower.is_nan())
            .map(|k| format!("[{}, {}]", fmt_stat(k.lower), fmt_stat(k.upper)))
            .unwrap_or_default();
        writeln!(
            out,
            "  {:<width$} {:>7} {:>7} {:>17} {:>7} {:>7} {:>7} {:>7} {:>7}",
            code,
            fmt_percent(value(Statistic::PercentAgreement)),
            fmt_stat(value(Statistic::CohenKappa)),
            ci,
            fmt_stat(value(Statistic::KrippendorffAlpha)),
            fmt_stat(value(Statistic::GwetAc1)),
            fmt_stat(value(Statistic::Precision)),
            fmt_stat(value(Statistic::Recall)),
            fmt_stat(value(Statistic::F1)),
        )?;
    }
    Ok(())
}

fn print_table(out: &mut impl Write, agreement: &Agreement) -> std::io::Result<()> {
    writeln!(out, "reference: {}", agreement.reference_name)?;
    writeln!(out, "candidate: {}", agreement.candidate_name)?;
    print_level(out, &agreement.codes, &agreement.segment)?;
    if let Some(character) = &agreement.character {
        print_level(out, &agreement.codes, character)?;
    }
    if agreement.unmatched_reference + agreement.unmatched_candidate > 0 {
        writeln!(
            out,
            "not compared: {} reference and {} candidate units without a counterpart",
            agreement.unmatched_reference, agreement.unmatched_candidate
        )?;
    }
    for note in &agreement.notes {
        writeln!(out, "note: {note}")?;
    }
    Ok(())
}
