//! Labelled utterances (JSONL: `id`, `text`, `labels`), the input of `train`, `eval` and
//! `agree`. Other fields are allowed and ignored. Unknown codes, duplicate ids and malformed
//! lines are errors naming the file and line. `train` and `eval` also read a coded REFI-QDA
//! project ([`project`]); [`load`] takes either.

pub mod project;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde::Deserialize;

use crate::codebook::Codebook;
use crate::error::{Error, Result};
use crate::segment::TokenBudget;

pub use project::{Combine, ProjectOptions};

/// One labelled utterance, with its labels as a 0/1 vector in codebook order.
#[derive(Debug, Clone, PartialEq)]
pub struct Labelled {
    pub id: String,
    pub text: String,
    pub labels: Vec<bool>,
}

/// One labelled utterance as written, codes as names: what `agree` reads before it knows the
/// code list. Fields other than `id`, `text` and `labels` are kept as strings (`speaker` among
/// them) for grouping in reports.
#[derive(Debug, Clone, PartialEq)]
pub struct RawLabelled {
    pub id: String,
    pub text: String,
    pub labels: Vec<String>,
    /// 1-based line in the file.
    pub line: usize,
    /// Other fields with string, number or boolean values.
    pub fields: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Line {
    id: serde_json::Value,
    text: String,
    labels: Vec<String>,
    #[serde(flatten)]
    rest: BTreeMap<String, serde_json::Value>,
}

fn data_error(path: &Path, line: usize, reason: String) -> Error {
    Error::Data {
        path: path.to_path_buf(),
        reason: format!("line {line}: {reason}"),
    }
}

/// Reads a labelled-utterance file with codes as names.
///
/// # Errors
/// On the first malformed line or duplicate id, naming file and line; on an empty file.
pub fn read_raw(path: &Path) -> Result<Vec<RawLabelled>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let mut out = Vec::new();
    let mut ids = HashSet::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let line: Line = serde_json::from_str(raw.trim_start_matches('\u{feff}')).map_err(|e| {
            data_error(
                path,
                line_no,
                format!(
                    "expected {{\"id\", \"text\", \"labels\": [..]}}: {} (column {})",
                    crate::error::json_reason(&e),
                    e.column()
                ),
            )
        })?;
        let id = scalar_string(line.id);
        if !ids.insert(id.clone()) {
            return Err(data_error(
                path,
                line_no,
                format!("id {id:?} appears twice"),
            ));
        }
        let fields = line
            .rest
            .into_iter()
            .filter(|(_, v)| !v.is_null() && !v.is_array() && !v.is_object())
            .map(|(k, v)| (k, scalar_string(v)))
            .collect();
        out.push(RawLabelled {
            id,
            text: line.text,
            labels: line.labels,
            line: line_no,
            fields,
        });
    }
    if out.is_empty() {
        return Err(Error::Data {
            path: path.to_path_buf(),
            reason: "no labelled utterances".into(),
        });
    }
    Ok(out)
}

fn scalar_string(value: serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    }
}

/// Reads a labelled-utterance file against a codebook.
///
/// # Errors
/// On the first malformed line, unknown code or duplicate id, naming file and line; on an
/// empty file.
pub fn read(path: &Path, codebook: &Codebook) -> Result<Vec<Labelled>> {
    read_raw(path)?
        .into_iter()
        .map(|raw| {
            let mut labels = vec![false; codebook.codes.len()];
            for label in &raw.labels {
                let Some(index) = codebook.index_of(label) else {
                    return Err(data_error(
                        path,
                        raw.line,
                        format!(
                            "unknown code {label:?}; the codebook {} has {}",
                            codebook.identity(),
                            codebook.code_names().join(", ")
                        ),
                    ));
                };
                labels[index] = true;
            }
            Ok(Labelled {
                id: raw.id,
                text: raw.text,
                labels,
            })
        })
        .collect()
}

/// Labelled units read by [`load`].
#[derive(Debug, Clone)]
pub struct LabelledData {
    pub items: Vec<Labelled>,
    /// For a project: each item's source, so splits keep a source together.
    pub groups: Option<Vec<String>>,
    /// For a project: what was read and left out.
    pub description: Option<String>,
}

/// Whether `path` names a REFI-QDA project (by its `.qdpx` extension).
pub fn is_project(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("qdpx"))
}

/// Reads labelled units from labelled-utterance JSONL or, for a `.qdpx` path, from a coded
/// project (see [`project::read_project`]; `budget` cuts `window` segments).
///
/// # Errors
/// As [`read`] and [`project::read_project`].
pub fn load(
    path: &Path,
    codebook: &Codebook,
    options: &ProjectOptions,
    budget: Option<(usize, &dyn TokenBudget)>,
) -> Result<LabelledData> {
    if is_project(path) {
        let data = project::read_project(path, codebook, options, budget)?;
        tracing::info!(path = %path.display(), "{}", data.description);
        return Ok(LabelledData {
            items: data.items,
            groups: Some(data.sources),
            description: Some(data.description),
        });
    }
    if !options.coders.is_empty() {
        return Err(Error::Usage(format!(
            "--coder names a coder of a .qdpx project; {} is labelled utterances, whose labels are used as they are",
            path.display()
        )));
    }
    Ok(LabelledData {
        items: read(path, codebook)?,
        groups: None,
        description: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codebook() -> Codebook {
        Codebook::parse("name='t'\nversion='1'\n[[codes]]\nname='a'\ndefinition='A'\n[[codes]]\nname='b'\ndefinition='B'\n").unwrap()
    }

    #[test]
    fn reads_labels_in_codebook_order_and_names_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.jsonl");
        std::fs::write(&path, "{\"id\":1,\"text\":\"x\",\"labels\":[\"b\"],\"extra\":true}\n\n{\"id\":\"2\",\"text\":\"y\",\"labels\":[]}\n").unwrap();
        let got = read(&path, &codebook()).unwrap();
        assert_eq!(got[0].labels, vec![false, true]);
        assert_eq!(got[0].id, "1");
        std::fs::write(&path, "{\"id\":1,\"text\":\"x\",\"labels\":[\"c\"]}\n").unwrap();
        let err = read(&path, &codebook()).unwrap_err().to_string();
        assert!(
            err.contains("line 1") && err.contains("unknown code \"c\""),
            "{err}"
        );
        std::fs::write(
            &path,
            "{\"id\":1,\"text\":\"x\",\"labels\":[]}\n{\"id\":1,\"text\":\"x\",\"labels\":[]}\n",
        )
        .unwrap();
        assert!(
            read(&path, &codebook())
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
    }
}
