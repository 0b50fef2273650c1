//! `discotag qdpx export|codebook`: the model's labels written into a REFI-QDA project as a
//! coder's codings, and a REFI-QDA codebook imported as a discotag codebook.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use discotag::output::read::read_dataset;
use discotag::refi::{self, NewCoding, WriteOptions};

use super::exit;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Write the model's labels from a dataset labelled from a .qdpx into a copy of that project, as the codings of a new coder.
    #[command(
        after_long_help = "Example:\n  discotag label study.qdpx --out labelled\n  discotag qdpx export --project study.qdpx --dataset labelled --out study-with-model.qdpx\n\nEach row's labels become codings of its span (char_start..char_end of the source's plain text);\na code's touching spans are merged into one selection. Codes missing from the project's\ncodebook are added. Every other part of the project is copied unchanged."
    )]
    Export(ExportArgs),
    /// Turn a REFI-QDA codebook (.qdc, or the codebook of a .qdpx) into a discotag codebook TOML.
    #[command(
        after_long_help = "Example:\n  discotag qdpx codebook study.qdc --out codebook.toml\n\nEvery codable code becomes a code; nested codes are named by their path joined with `__`\n(Discourses__Prevention). Definitions come from the codes' descriptions; a code without one\ngets a placeholder definition, and the command lists those codes."
    )]
    Codebook(CodebookArgs),
}

#[derive(Debug, clap::Args)]
struct ExportArgs {
    /// The REFI-QDA project the dataset was labelled from. Example: `--project study.qdpx`
    #[arg(long, value_name = "IN.qdpx")]
    project: PathBuf,

    /// The discotag output dataset (the --out folder of `discotag label`). Example: `--dataset labelled`
    #[arg(long, value_name = "DIR")]
    dataset: PathBuf,

    /// Where to write the new project (must not be the --project file). Example: `--out study-with-model.qdpx`
    #[arg(long, value_name = "OUT.qdpx")]
    out: PathBuf,

    /// The coder (REFI-QDA user) the model's codings are attributed to; must not be a user of the project already. Example: `--coder discotag-v1`
    #[arg(long, default_value = "discotag", value_name = "NAME")]
    coder: String,
}

#[derive(Debug, clap::Args)]
struct CodebookArgs {
    /// A REFI-QDA codebook (.qdc) or project (.qdpx). Example: `study.qdc`
    #[arg(value_name = "IN.qdc|IN.qdpx")]
    input: PathBuf,

    /// Where to write the discotag codebook TOML. Example: `--out codebook.toml`
    #[arg(long, value_name = "FILE")]
    out: PathBuf,

    /// The codebook's name. Default: the input's file name without extension. Example: `--name imperatives`
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    discotag::telemetry::init(true);
    match args.action {
        Action::Export(args) => export(args),
        Action::Codebook(args) => codebook(args),
    }
}

fn export(args: ExportArgs) -> anyhow::Result<u8> {
    if same_file(&args.project, &args.out) {
        return Err(discotag::Error::Usage(format!(
            "--out {} is the --project file: write the new project to another file",
            args.out.display()
        ))
        .into());
    }
    let display = args.project.display().to_string();
    let original = std::fs::read(&args.project).with_context(|| format!("reading {display}"))?;
    let project = refi::read_project(&original, &display)?;
    let dataset = read_dataset(&args.dataset)
        .with_context(|| format!("reading the dataset {}", args.dataset.display()))?;

    let mut codings = Vec::new();
    let mut other_rows = 0usize;
    for row in &dataset.rows {
        let Some(source) = row
            .metadata
            .get(refi::SOURCE_GUID_KEY)
            .and_then(|guid| project.source(guid))
        else {
            other_rows += 1;
            continue;
        };
        let (start, end) = checked_span(
            source,
            (row.char_start, row.char_end),
            &row.text,
            &format!("row {} of {:?}", row.segment_index, row.doc_id),
            &display,
        )?;
        codings.extend(row.labels.iter().map(|label| NewCoding {
            source_guid: source.guid.clone(),
            code: label.clone(),
            start,
            end,
            memo: None,
        }));
    }
    if dataset.rows.len() == other_rows {
        bail!(
            "no row of {} comes from a source of {display} (rows are matched by their {} metadata): label the project first, e.g. `discotag label {display} --out DIR`",
            args.dataset.display(),
            refi::SOURCE_GUID_KEY
        );
    }
    let created = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let options = WriteOptions {
        coder: &args.coder,
        created: Some(&created),
    };
    let written = refi::write_codings(&original, &display, &options, &codings)?;
    write_atomically(&args.out, &written.bytes)?;
    eprintln!(
        "discotag: wrote {}: coder {:?} with {} codings in {} selections{}{}",
        args.out.display(),
        args.coder,
        written.codings,
        written.selections,
        if written.codes_added.is_empty() {
            String::new()
        } else {
            format!("; codes added: {}", written.codes_added.join(", "))
        },
        if other_rows == 0 {
            String::new()
        } else {
            format!("; {other_rows} rows from other inputs ignored")
        }
    );
    Ok(exit::SUCCESS)
}

fn codebook(args: CodebookArgs) -> anyhow::Result<u8> {
    let display = args.input.display().to_string();
    let bytes = std::fs::read(&args.input).with_context(|| format!("reading {display}"))?;
    let (codes, _origin) = refi::read_codebook(&bytes, &display)?;
    let name = args
        .name
        .unwrap_or_else(|| discotag::input::default_doc_id(&args.input));
    let import = refi::to_codebook(&codes, &name, &display)?;
    write_atomically(&args.out, import.to_toml()?.as_bytes())?;
    eprintln!(
        "discotag: wrote {} with {} codes",
        args.out.display(),
        import.codebook.codes.len()
    );
    if !import.placeholders.is_empty() {
        eprintln!(
            "discotag: {} codes have no description in {display} and got a placeholder definition; write one before training: {}",
            import.placeholders.len(),
            import.placeholders.join(", ")
        );
    }
    Ok(exit::SUCCESS)
}

/// A dataset segment's code-point range in `source`, checked to slice exactly its text, so that
/// codings never land on other words than the ones labelled.
pub(super) fn checked_span(
    source: &refi::TextSource,
    (char_start, char_end): (i64, i64),
    text: &str,
    what: &str,
    project: &str,
) -> anyhow::Result<(u64, u64)> {
    let (start, end) = (char_start.max(0) as u64, char_end.max(0) as u64);
    let span: String = source
        .plain_text
        .chars()
        .skip(start as usize)
        .take(end.saturating_sub(start) as usize)
        .collect();
    if span != text {
        bail!(
            "{what} (characters {start}..{end}) does not match source {:?} of {project}: was the dataset labelled from another version of the project?",
            source.name
        );
    }
    Ok((start, end))
}

/// Whether two paths name the same existing file.
pub(super) fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Writes `bytes` to a temporary file beside `path`, then renames it into place.
pub(super) fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let temporary = path.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&temporary, bytes)
        .with_context(|| format!("writing {}", temporary.display()))?;
    std::fs::rename(&temporary, path).with_context(|| format!("writing {}", path.display()))
}
