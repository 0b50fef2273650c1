//! Reading one coder's codes from what users have: labelled utterances (JSONL, units by `id`),
//! a discotag output dataset (the model as a coder, with its scores), or one coder of a
//! REFI-QDA project (.qdpx, codes as character spans over its text sources).
//!
//! Codes stay names here; [`super::CodeList`] maps them to the compared code list.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::labelled;
use crate::output::read as dataset;

/// The metadata key that ties a dataset row to its REFI-QDA text source.
pub const SOURCE_GUID_KEY: &str = "refi_source_guid";

/// What a `--reference` or `--candidate` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoderInput {
    /// Labelled utterances JSONL.
    Labelled(PathBuf),
    /// A discotag output directory.
    Dataset(PathBuf),
    /// One coder (a REFI-QDA user, by name or GUID) of a .qdpx project.
    Qdpx {
        path: PathBuf,
        coder: Option<String>,
    },
}

impl CoderInput {
    /// Recognises an input by its kind: a folder is a dataset, `.qdpx` a REFI-QDA project,
    /// anything else labelled utterances.
    ///
    /// # Errors
    /// When a coder name is given for an input that has no coders, or the path does not exist.
    pub fn detect(path: &Path, coder: Option<String>) -> Result<Self> {
        if !path.exists() {
            return Err(Error::Data {
                path: path.to_path_buf(),
                reason: "no such file or folder".into(),
            });
        }
        let is_qdpx = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("qdpx"));
        if is_qdpx {
            return Ok(CoderInput::Qdpx {
                path: path.to_path_buf(),
                coder,
            });
        }
        if let Some(name) = coder {
            return Err(Error::Usage(format!(
                "a coder ({name:?}) can only be named for a .qdpx project, not for {}",
                path.display()
            )));
        }
        Ok(if path.is_dir() {
            CoderInput::Dataset(path.to_path_buf())
        } else {
            CoderInput::Labelled(path.to_path_buf())
        })
    }
}

/// A unit (utterance or segment) and the codes one coder gave it.
#[derive(Debug, Clone, PartialEq)]
pub struct CodedUnit {
    /// The key units are matched by: the utterance `id`, or for dataset rows their `record_id`,
    /// else `doc_id#segment_index`.
    pub key: String,
    pub text: String,
    pub codes: Vec<String>,
    /// The model's score per code name (datasets only).
    pub scores: HashMap<String, f32>,
    pub speaker: Option<String>,
    pub metadata: BTreeMap<String, String>,
    /// The unit's place in a REFI-QDA text source: (source GUID, start, end) in code points.
    pub source_span: Option<(String, u64, u64)>,
    /// Where the unit was read, for error messages (`file, line N`).
    pub origin: String,
}

/// A text source of a REFI-QDA project.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceText {
    pub guid: String,
    pub name: String,
    pub text: String,
}

/// A coded span of a REFI-QDA source.
#[derive(Debug, Clone, PartialEq)]
pub struct CodedSpan {
    pub source: String,
    pub code: String,
    pub start: u64,
    pub end: u64,
}

/// Everything read for one coder.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Coder {
    /// How the coder is shown: the path, and the coder's name for a project.
    pub name: String,
    pub units: Vec<CodedUnit>,
    pub sources: Vec<SourceText>,
    pub spans: Vec<CodedSpan>,
    /// A dataset's codes (its score columns), in order.
    pub dataset_codes: Option<Vec<String>>,
    pub model_id: Option<String>,
    /// Things worth telling the user (codes ignored, coders found, ...).
    pub notes: Vec<String>,
}

impl Coder {
    /// Whether this coder codes spans of source text (a REFI-QDA coder).
    pub fn is_spans(&self) -> bool {
        !self.sources.is_empty()
    }
}

/// Reads a coder.
///
/// # Errors
/// When the input cannot be read or parsed, naming the file and position.
pub fn load(input: &CoderInput) -> Result<Coder> {
    match input {
        CoderInput::Labelled(path) => load_labelled(path),
        CoderInput::Dataset(path) => load_dataset(path),
        CoderInput::Qdpx { path, coder } => load_qdpx(path, coder.as_deref()),
    }
}

fn load_labelled(path: &Path) -> Result<Coder> {
    let units = labelled::read_raw(path)?
        .into_iter()
        .map(|raw| {
            let mut metadata = raw.fields;
            let speaker = metadata.remove("speaker");
            CodedUnit {
                key: raw.id,
                text: raw.text,
                codes: raw.labels,
                scores: HashMap::new(),
                speaker,
                metadata,
                source_span: None,
                origin: format!("{}, line {}", path.display(), raw.line),
            }
        })
        .collect();
    Ok(Coder {
        name: path.display().to_string(),
        units,
        ..Coder::default()
    })
}

/// A dataset's rows as units. Rows of one record (an utterance cut into several windows) are
/// one unit: the union of their labels, the highest score per code, their texts joined.
fn load_dataset(path: &Path) -> Result<Coder> {
    let data = dataset::read_dataset(path)?;
    let mut units: Vec<CodedUnit> = Vec::new();
    let mut by_key: HashMap<String, usize> = HashMap::new();
    for row in data.rows {
        let key = match &row.record_id {
            Some(id) => id.clone(),
            None => format!("{}#{}", row.doc_id, row.segment_index),
        };
        let scores: HashMap<String, f32> = data
            .codes
            .iter()
            .cloned()
            .zip(row.scores.iter().copied())
            .collect();
        if let Some(&i) = by_key.get(&key) {
            let unit = &mut units[i];
            for label in row.labels {
                if !unit.codes.contains(&label) {
                    unit.codes.push(label);
                }
            }
            for (code, score) in scores {
                let best = unit.scores.entry(code).or_insert(score);
                *best = best.max(score);
            }
            unit.text.push(' ');
            unit.text.push_str(&row.text);
            unit.source_span = None;
            continue;
        }
        let source_span = row
            .metadata
            .get(SOURCE_GUID_KEY)
            .map(|guid| (guid.clone(), row.char_start as u64, row.char_end as u64));
        by_key.insert(key.clone(), units.len());
        units.push(CodedUnit {
            key,
            origin: format!(
                "{}: {} segment {}",
                path.display(),
                row.source_path,
                row.segment_index
            ),
            text: row.text,
            codes: row.labels,
            scores,
            speaker: row.speaker,
            metadata: (*row.metadata).clone(),
            source_span,
        });
    }
    Ok(Coder {
        name: match &data.model_id {
            Some(model) => format!("{} (model {model})", path.display()),
            None => path.display().to_string(),
        },
        units,
        dataset_codes: Some(data.codes),
        model_id: data.model_id,
        ..Coder::default()
    })
}

fn load_qdpx(path: &Path, coder: Option<&str>) -> Result<Coder> {
    let _ = (path, coder);
    Err(Error::Usage("qdpx not wired yet".into()))
}
