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
use crate::refi;

use refi::SOURCE_GUID_KEY;

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
    let bytes =
        std::fs::read(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let project =
        refi::read_project(&bytes, &path.display().to_string()).map_err(|e| Error::Data {
            path: path.to_path_buf(),
            reason: format!("{}: {}", e.position, e.reason),
        })?;
    let user = choose_user(path, &project, coder)?;
    let codes: HashMap<&str, String> = project
        .codes
        .iter()
        .map(|c| (c.guid.as_str(), c.path()))
        .collect();
    let spans = project
        .codings
        .iter()
        .filter(|c| match (&c.user_guid, &user) {
            (Some(coder), Some(user)) => refi::same_guid(coder, &user.guid),
            (None, None) => true,
            _ => false,
        })
        .filter_map(|c| {
            Some(CodedSpan {
                source: c.source_guid.clone(),
                code: codes.get(c.code_guid.as_str())?.clone(),
                start: c.start,
                end: c.end,
            })
        })
        .collect();
    let mut notes = Vec::new();
    for (what, errors) in [
        ("sources", &project.source_errors),
        ("codings", &project.coding_errors),
    ] {
        if let Some(first) = errors.first() {
            notes.push(format!(
                "{}: {} {what} could not be read and were left out (first: {})",
                path.display(),
                errors.len(),
                first
            ));
        }
    }
    let coder_name = user
        .as_ref()
        .map(|u| u.name.clone().unwrap_or_else(|| u.guid.clone()))
        .unwrap_or_else(|| "codings without a coder".into());
    Ok(Coder {
        name: format!("{} (coder {coder_name})", path.display()),
        sources: project
            .sources
            .into_iter()
            .map(|s| SourceText {
                guid: s.guid,
                name: s.name,
                text: s.plain_text,
            })
            .collect(),
        spans,
        notes,
        ..Coder::default()
    })
}

/// The user whose codings are read: the one named (by name, ignoring case, or GUID), else the
/// only one who coded; `None` when no coding names a user.
pub(crate) fn choose_user(
    path: &Path,
    project: &refi::Project,
    coder: Option<&str>,
) -> Result<Option<refi::User>> {
    let mut coding_counts: BTreeMap<Option<&str>, usize> = BTreeMap::new();
    for coding in &project.codings {
        *coding_counts
            .entry(coding.user_guid.as_deref())
            .or_default() += 1;
    }
    let describe = || {
        project
            .users
            .iter()
            .map(|u| {
                format!(
                    "{} ({} codings)",
                    u.name.as_deref().unwrap_or(&u.guid),
                    coding_counts.get(&Some(u.guid.as_str())).unwrap_or(&0)
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(wanted) = coder {
        return project
            .users
            .iter()
            .find(|u| {
                u.name
                    .as_deref()
                    .is_some_and(|n| n.trim().eq_ignore_ascii_case(wanted.trim()))
                    || refi::same_guid(&u.guid, wanted)
            })
            .cloned()
            .map(Some)
            .ok_or_else(|| {
                Error::Usage(format!(
                    "{} has no coder {wanted:?}; its coders are: {}",
                    path.display(),
                    describe()
                ))
            });
    }
    let coders: Vec<Option<&str>> = coding_counts.keys().copied().collect();
    match coders.as_slice() {
        [] => Err(Error::Data {
            path: path.to_path_buf(),
            reason: "the project holds no text codings".into(),
        }),
        [only] => Ok(only.and_then(|guid| project.user(guid).cloned())),
        _ => Err(Error::Usage(format!(
            "{} has several coders; name one (--coder NAME, or in agree --reference-coder / --candidate-coder): {}",
            path.display(),
            describe()
        ))),
    }
}
