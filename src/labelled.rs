//! Labelled utterances (JSONL: `id`, `text`, `labels`), the input of `train`, `eval` and
//! `agree`. Other fields are allowed and ignored. Unknown codes, duplicate ids and malformed
//! lines are errors naming the file and line.

use std::collections::HashSet;
use std::path::Path;

use serde::Deserialize;

use crate::codebook::Codebook;
use crate::error::{Error, Result};

/// One labelled utterance, with its labels as a 0/1 vector in codebook order.
#[derive(Debug, Clone, PartialEq)]
pub struct Labelled {
    pub id: String,
    pub text: String,
    pub labels: Vec<bool>,
}

#[derive(Deserialize)]
struct Line {
    id: serde_json::Value,
    text: String,
    labels: Vec<String>,
}

/// Reads a labelled-utterance file against a codebook.
///
/// # Errors
/// On the first malformed line, unknown code or duplicate id, naming file and line; on an
/// empty file.
pub fn read(path: &Path, codebook: &Codebook) -> Result<Vec<Labelled>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let bad = |line: usize, reason: String| Error::Data {
        path: path.to_path_buf(),
        reason: format!("line {line}: {reason}"),
    };
    let mut out = Vec::new();
    let mut ids = HashSet::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let line: Line = serde_json::from_str(raw.trim_start_matches('\u{feff}')).map_err(|e| {
            bad(
                line_no,
                format!("expected {{\"id\", \"text\", \"labels\": [..]}}: {e}"),
            )
        })?;
        let id = match line.id {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        };
        if !ids.insert(id.clone()) {
            return Err(bad(line_no, format!("id {id:?} appears twice")));
        }
        let mut labels = vec![false; codebook.codes.len()];
        for label in &line.labels {
            let Some(index) = codebook.index_of(label) else {
                return Err(bad(
                    line_no,
                    format!(
                        "unknown code {label:?}; the codebook {} has {}",
                        codebook.identity(),
                        codebook.code_names().join(", ")
                    ),
                ));
            };
            labels[index] = true;
        }
        out.push(Labelled {
            id,
            text: line.text,
            labels,
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
