//! `discotag suggest`: segments of a labelled dataset to code by hand next.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use discotag::refi::{self, NewCoding, WriteOptions};

use super::exit;

/// The code the suggestions are filed under in a `--qdpx-out` project.
const SUGGESTION_CODE: &str = "discotag: to code";
/// The coder the suggestions are attributed to in a `--qdpx-out` project.
const SUGGESTION_CODER: &str = "discotag suggest";

#[derive(Debug, clap::Args)]
#[command(
    after_long_help = "Example:\n  discotag label study.qdpx --out labelled\n  discotag suggest --dataset labelled --n 40 --qdpx-out study-to-code.qdpx --project study.qdpx\n\nSuggestions are the segments whose scores lie nearest a code's threshold (in logits), with the\ncodes taking turns, spread over sources and speakers, and without near duplicates. With\n--qdpx-out, they become selections coded \"discotag: to code\" by the user \"discotag suggest\",\neach with its reason as the selection's description, so the coder finds them in their QDA tool."
)]
pub struct Args {
    /// A dataset written by `discotag label`. Example: `--dataset labelled`
    #[arg(long, value_name = "DIR")]
    dataset: PathBuf,

    /// The model whose thresholds the scores are read against (the one that labelled the dataset). Default: $DISCOTAG_MODEL, else models/default. Example: `--model models/default`
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,

    /// How many segments to suggest. Example: `--n 40`
    #[arg(long, value_name = "N")]
    n: usize,

    /// Print a JSON list: one object per suggestion with source_path, doc_id, record_index, record_id, segment_index, char_start, char_end, speaker, text, scores, code, threshold, distance, reason. Example: `--json`
    #[arg(long)]
    json: bool,

    /// Write a copy of --project with the suggestions as selections coded "discotag: to code". Example: `--qdpx-out study-to-code.qdpx`
    #[arg(long, value_name = "FILE", requires = "project")]
    qdpx_out: Option<PathBuf>,

    /// The REFI-QDA project the dataset was labelled from (with --qdpx-out). Example: `--project study.qdpx`
    #[arg(long, value_name = "QDPX", requires = "qdpx_out")]
    project: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    discotag::telemetry::init(args.json);
    if args.n == 0 {
        return Err(discotag::Error::Usage("--n must be at least 1".into()).into());
    }
    if let (Some(out), Some(project)) = (&args.qdpx_out, &args.project)
        && super::qdpx::same_file(project, out)
    {
        return Err(discotag::Error::Usage(format!(
            "--qdpx-out {} is the --project file: write the new project to another file",
            out.display()
        ))
        .into());
    }
    let model = discotag::model::ModelDir::open(&super::resolve_model_dir(args.model))?;
    let thresholds: BTreeMap<String, f32> = model
        .codebook
        .code_names()
        .into_iter()
        .zip(model.thresholds.iter().copied())
        .collect();
    let (suggestions, stats) = discotag::suggest::suggest(&args.dataset, &thresholds, args.n)
        .with_context(|| format!("choosing segments of {}", args.dataset.display()))?;
    if let (Some(out), Some(project)) = (&args.qdpx_out, &args.project) {
        write_project(project, out, &suggestions)?;
    }
    let mut stdout = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer(&mut stdout, &suggestions)?;
        writeln!(stdout)?;
    } else {
        writeln!(
            stdout,
            "{} of {} segments, nearest their thresholds first within each code (mean distance {:.2} logits, against {:.2} over all segments):\n",
            suggestions.len(),
            stats.rows,
            stats.mean_distance_suggested,
            stats.mean_distance_all
        )?;
        for (i, s) in suggestions.iter().enumerate() {
            let text: String = s.text.chars().take(100).collect();
            let place = match (&s.record_id, s.record_index) {
                (Some(id), _) => format!("{}, record {id}", s.doc_id),
                (None, Some(index)) => format!("{}, record_index {index}", s.doc_id),
                (None, None) => s.doc_id.clone(),
            };
            writeln!(
                stdout,
                "{:>3}. {place} [{}..{}] {}\n     {}{}\n",
                i + 1,
                s.char_start,
                s.char_end,
                s.reason,
                text,
                if text.len() < s.text.len() { "..." } else { "" }
            )?;
        }
    }
    stdout.flush().context("writing the suggestions")?;
    Ok(exit::SUCCESS)
}

/// Writes the suggestions into a copy of the project they were labelled from.
fn write_project(
    project: &std::path::Path,
    out: &std::path::Path,
    suggestions: &[discotag::suggest::Suggestion],
) -> anyhow::Result<()> {
    let display = project.display().to_string();
    let original = std::fs::read(project).with_context(|| format!("reading {display}"))?;
    let parsed = refi::read_project(&original, &display)?;
    let mut codings = Vec::new();
    for s in suggestions {
        let Some(source) = s.source_guid.as_deref().and_then(|g| parsed.source(g)) else {
            bail!(
                "suggestion {:?} [{}..{}] does not come from a source of {display}: --qdpx-out needs a dataset labelled from that project (`discotag label {display} --out DIR`)",
                s.doc_id,
                s.char_start,
                s.char_end
            );
        };
        let (start, end) = super::qdpx::checked_span(
            source,
            (s.char_start, s.char_end),
            &s.text,
            &format!("segment {:?}", s.doc_id),
            &display,
        )?;
        codings.push(NewCoding {
            source_guid: source.guid.clone(),
            code: SUGGESTION_CODE.into(),
            start,
            end,
            memo: Some(s.reason.clone()),
        });
    }
    let created = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let written = refi::write_codings(
        &original,
        &display,
        &WriteOptions {
            coder: SUGGESTION_CODER,
            created: Some(&created),
        },
        &codings,
    )?;
    super::qdpx::write_atomically(out, &written.bytes)?;
    eprintln!(
        "discotag: wrote {}: {} suggestions as selections coded {SUGGESTION_CODE:?} by {SUGGESTION_CODER:?}",
        out.display(),
        written.selections
    );
    Ok(())
}
