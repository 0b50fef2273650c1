//! JSONL transcripts: one utterance per line with `text`, optional `id`, `doc_id` and `speaker`;
//! every other field is kept as per-row metadata. A malformed line is an error for that line
//! only; the other lines are labelled.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{ChunkContext, Parsed, Unit, check_unit_size, group_by_doc};
use crate::error::{InputError, Position};

pub(super) fn parse(text: &str, path: &str, default_doc_id: &str) -> Parsed {
    parse_chunk(text, path, default_doc_id, &ChunkContext::default())
}

/// Parses whole lines; line numbers and record indexes follow on from `context.lines`.
pub(super) fn parse_chunk(
    text: &str,
    path: &str,
    default_doc_id: &str,
    context: &ChunkContext,
) -> Parsed {
    let mut units = Vec::new();
    let mut errors = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = context.lines + i as u64 + 1;
        let line = line.trim_start_matches('\u{feff}');
        if line.trim().is_empty() {
            continue;
        }
        let position = Position::Line {
            line: line_no,
            column: None,
        };
        match parse_line(line, line_no) {
            Ok((doc_id, mut unit)) => {
                if let Err(e) = check_unit_size(&unit.text, path, position) {
                    errors.push(e);
                    continue;
                }
                unit.record_index = Some(line_no - 1);
                units.push((doc_id.unwrap_or_else(|| default_doc_id.to_string()), unit));
            }
            Err((column, reason)) => errors.push(InputError::new(
                path,
                Position::Line {
                    line: line_no,
                    column,
                },
                reason,
            )),
        }
    }
    Parsed {
        documents: group_by_doc(units),
        errors,
    }
}

fn as_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn parse_line(line: &str, line_no: u64) -> Result<(Option<String>, Unit), (Option<u64>, String)> {
    let value: Value = serde_json::from_str(line).map_err(|e| {
        (
            Some(e.column() as u64),
            format!("malformed JSON: {}", crate::error::json_reason(&e)),
        )
    })?;
    let Value::Object(fields) = value else {
        return Err((None, "expected a JSON object per line".into()));
    };
    let text = match fields.get("text") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err((None, "field \"text\" must be a string".into())),
        None => return Err((None, "missing field \"text\"".into())),
    };
    let mut unit = Unit {
        text,
        line: line_no,
        ..Unit::default()
    };
    let mut doc_id = None;
    let mut metadata = BTreeMap::new();
    for (key, value) in fields {
        if value.is_null() {
            continue;
        }
        match key.as_str() {
            "text" => {}
            "id" => unit.record_id = Some(as_text(&value)),
            "doc_id" => doc_id = Some(as_text(&value)),
            "speaker" => unit.speaker = Some(as_text(&value)),
            _ => {
                metadata.insert(key, as_text(&value));
            }
        }
    }
    unit.metadata = metadata;
    Ok((doc_id, unit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_grouped_by_doc_with_metadata_and_line_errors() {
        let text = concat!(
            "{\"id\":\"u1\",\"doc_id\":\"d1\",\"speaker\":\"GP\",\"text\":\"We pooled it.\",\"site\":\"A\",\"n\":3}\n",
            "{\"id\":\"u2\",\"doc_id\":\"d2\",\"text\":\"Hello\"}\n",
            "{not json\n",
            "\n",
            "{\"id\":\"u3\",\"doc_id\":\"d1\",\"text\":\"Again\"}\n",
            "{\"id\":\"u4\"}\n",
        );
        let parsed = parse(text, "x.jsonl", "x");
        assert_eq!(parsed.documents.len(), 2);
        let d1 = &parsed.documents[0];
        assert_eq!(d1.doc_id, "d1");
        assert_eq!(d1.units.len(), 2);
        assert_eq!(d1.units[0].metadata["site"], "A");
        assert_eq!(d1.units[0].metadata["n"], "3");
        assert_eq!(d1.units[0].speaker.as_deref(), Some("GP"));
        assert_eq!(d1.units[1].record_index, Some(4)); // 0-based line
        assert_eq!(parsed.errors.len(), 2);
        assert!(matches!(
            parsed.errors[0].position,
            Position::Line { line: 3, .. }
        ));
        // the file's line is in the position; the reason does not name serde's "line 1"
        assert!(parsed.errors[0].reason.starts_with("malformed JSON: "));
        assert!(
            !parsed.errors[0].reason.contains("line 1"),
            "{}",
            parsed.errors[0].reason
        );
        assert!(parsed.errors[1].reason.contains("missing field \"text\""));
    }
}
