//! REFI-QDA projects (.qdpx): each text source becomes a [`Document`] whose units come from
//! the plain-text transcript reader run on the source's plain text, so offsets index that
//! plain text exactly (the text REFI-QDA positions index; see [`crate::refi`] for what it is).
//!
//! The document id is the source's name; its metadata carries `refi_source_guid` and
//! `refi_source_name` (plus any `---` header in the text), which `discotag qdpx export` uses to
//! put the model's codings back into the project. A source that cannot be read is an error for
//! that source, naming it; a broken archive or `project.qde` is an error for the whole input.

use super::{Document, Parsed, text};
use crate::error::{InputError, Position};
use crate::refi::{self, SOURCE_GUID_KEY, SOURCE_NAME_KEY, TextSource};
use crate::segment::{self, SegmentUnit, TokenBudget};

pub(super) fn parse(bytes: &[u8], path: &str) -> Result<Parsed, InputError> {
    let project = refi::read_project(bytes, path)?;
    for (kind, name) in &project.skipped_sources {
        tracing::warn!(path, source = %name, kind = %kind, "not a text source; not labelled");
    }
    let mut parsed = Parsed {
        documents: Vec::new(),
        errors: project.source_errors,
    };
    for source in project.sources {
        match document(&source, path) {
            Ok((document, errors)) => {
                parsed.documents.push(document);
                parsed.errors.extend(errors);
            }
            Err(error) => parsed.errors.push(error),
        }
    }
    Ok(parsed)
}

/// One source as a document, and errors of single turns in it.
fn document(source: &TextSource, path: &str) -> Result<(Document, Vec<InputError>), InputError> {
    let entry = source
        .plain_text_entry
        .clone()
        .unwrap_or_else(|| refi::PROJECT_ENTRY.to_string());
    let in_source = |error: InputError| {
        let place = match error.position {
            Position::Line { line, .. } => format!(", line {line}"),
            _ => String::new(),
        };
        InputError::new(
            path,
            Position::Entry {
                entry: entry.clone(),
            },
            format!(
                "source {:?} ({}){place}: {}",
                source.name, source.guid, error.reason
            ),
        )
    };
    let parsed = text::parse(&source.plain_text, path, &source.name).map_err(in_source)?;
    let errors = parsed.errors.into_iter().map(in_source).collect();
    let mut units = Vec::new();
    let mut metadata = std::collections::BTreeMap::new();
    for document in parsed.documents {
        metadata.extend(document.metadata);
        units.extend(document.units);
    }
    metadata.insert(SOURCE_GUID_KEY.to_string(), source.guid.clone());
    metadata.insert(SOURCE_NAME_KEY.to_string(), source.name.clone());
    Ok((
        Document {
            doc_id: source.name.clone(),
            metadata,
            units,
        },
        errors,
    ))
}

/// A segment of a source's plain text as `discotag label` cuts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSegment {
    /// Code-point range in the plain text.
    pub start: u64,
    pub end: u64,
    pub speaker: Option<String>,
}

/// A source's plain text cut into speaker turns by the plain-text transcript reader, then into
/// segments of `unit`: exactly the segments `label` gives the source (their offsets match the
/// dataset's `char_start`/`char_end`). `window` needs the token budget (`max_tokens` and the
/// tokenizer); without it a window segment is the whole turn. Text that does not read as a
/// transcript gives no segments.
pub fn source_segments(
    plain_text: &str,
    name: &str,
    unit: SegmentUnit,
    budget: Option<(usize, &dyn TokenBudget)>,
) -> Vec<SourceSegment> {
    let Ok(parsed) = text::parse(plain_text, name, name) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for turn in parsed.documents.iter().flat_map(|d| &d.units) {
        let ranges = match budget {
            Some((max_tokens, tokens)) => segment::split(&turn.text, unit, max_tokens, tokens),
            None => segment::split_untokenized(&turn.text, unit).unwrap_or_else(|| {
                segment::split_untokenized(&turn.text, SegmentUnit::Turn).unwrap_or_default()
            }),
        };
        for range in segment::char_ranges(&turn.text, &ranges) {
            out.push(SourceSegment {
                start: turn.char_start + range.start,
                end: turn.char_start + range.end,
                speaker: turn.speaker.clone(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn qdpx(qde: &str, entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        writer
            .start_file("project.qde", zip::write::SimpleFileOptions::default())
            .unwrap();
        writer.write_all(qde.as_bytes()).unwrap();
        for (name, data) in entries {
            writer
                .start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            writer.write_all(data).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    #[test]
    fn sources_become_documents_whose_offsets_index_the_plain_text() {
        let qde = r#"<Project xmlns="urn:QDA-XML:project:1.0" name="P"><Sources>
<TextSource guid="11111111-1111-4111-8111-111111111111" name="Site A" plainTextPath="internal://a.txt"/>
<TextSource guid="22222222-2222-4222-8222-222222222222" name="Site B" richTextPath="internal://b.docx"/>
<TextSource guid="33333333-3333-4333-8333-333333333333" name="Site C"><PlainTextContent>---
site: C
---
Interviewer: Hi</PlainTextContent></TextSource>
</Sources></Project>"#;
        let text =
            "\u{feff}Interviewer: Why pool? 🙂\r\n\r\nRespondent: It saves money.\r\nAnd time.";
        let bytes = qdpx(
            qde,
            &[
                ("Sources/a.txt", text.as_bytes()),
                ("sources/b.docx", b"PK"),
            ],
        );
        let parsed = super::super::parse(
            &bytes,
            super::super::Format::Qdpx,
            "p.qdpx",
            "p",
            &Default::default(),
        )
        .unwrap();
        assert_eq!(parsed.documents.len(), 2);
        let a = &parsed.documents[0];
        assert_eq!(a.doc_id, "Site A");
        assert_eq!(
            a.metadata[SOURCE_GUID_KEY],
            "11111111-1111-4111-8111-111111111111"
        );
        assert_eq!(a.metadata[SOURCE_NAME_KEY], "Site A");
        let plain: Vec<char> = text.trim_start_matches('\u{feff}').chars().collect();
        for unit in &a.units {
            let start = unit.char_start as usize;
            let slice: String = plain[start..start + unit.text.chars().count()]
                .iter()
                .collect();
            assert_eq!(slice, unit.text);
        }
        assert_eq!(a.units[1].text, "It saves money.\r\nAnd time.");
        assert_eq!(
            a.units[0].char_start, 13,
            "the byte-order mark is not counted"
        );
        let c = &parsed.documents[1];
        assert_eq!(c.metadata["site"], "C");
        assert_eq!(parsed.errors.len(), 1);
        let error = parsed.errors[0].to_string();
        assert!(error.contains("\"Site B\""), "{error}");
    }

    #[test]
    fn a_project_without_text_is_an_error() {
        let qde = r#"<Project xmlns="urn:QDA-XML:project:1.0" name="P"><Sources>
<PictureSource guid="11111111-1111-4111-8111-111111111111" name="Photo" path="internal://a.png"/>
</Sources></Project>"#;
        let err = super::super::parse(
            &qdpx(qde, &[]),
            super::super::Format::Qdpx,
            "p.qdpx",
            "p",
            &Default::default(),
        )
        .unwrap_err();
        assert!(err.reason.contains("no text"), "{err}");
    }
}
