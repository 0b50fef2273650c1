//! CSV transcripts with a header row. The text, speaker, id and doc id columns are chosen by
//! options (defaults `text`, `speaker`, `id`, `doc_id`, matched exactly, else ignoring case);
//! other columns become metadata. The delimiter (`,`, `;` or tab) is read off the header row.

use std::collections::BTreeMap;

use super::{ChunkContext, CsvColumns, Parsed, Unit, check_unit_size, group_by_doc};
use crate::error::{InputError, Position};

pub(super) fn parse(
    text: &str,
    path: &str,
    default_doc_id: &str,
    columns: &CsvColumns,
) -> Result<Parsed, InputError> {
    parse_chunk(
        text,
        path,
        default_doc_id,
        columns,
        &mut ChunkContext::default(),
    )
}

/// Parses whole records. The first chunk holds the header row, which is kept in
/// `context.carry` for the chunks after it; record numbers and lines follow on from `context`.
pub(super) fn parse_chunk(
    text: &str,
    path: &str,
    default_doc_id: &str,
    columns: &CsvColumns,
    context: &mut ChunkContext,
) -> Result<Parsed, InputError> {
    let text = text.trim_start_matches('\u{feff}');
    let (headers, mut reader) = match (&context.carry.csv_header, context.carry.csv_delimiter) {
        (Some(header), Some(delimiter)) => (
            csv::StringRecord::from(header.clone()),
            csv::ReaderBuilder::new()
                .flexible(false)
                .has_headers(false)
                .delimiter(delimiter)
                .from_reader(text.as_bytes()),
        ),
        _ => {
            let delimiter = delimiter(text);
            let mut reader = csv::ReaderBuilder::new()
                .flexible(false)
                .delimiter(delimiter)
                .from_reader(text.as_bytes());
            let headers = reader
                .headers()
                .map_err(|e| {
                    InputError::new(
                        path,
                        Position::Line {
                            line: 1,
                            column: None,
                        },
                        format!("unreadable CSV header: {e}"),
                    )
                })?
                .clone();
            context.carry.csv_header = Some(headers.iter().map(str::to_string).collect());
            context.carry.csv_delimiter = Some(delimiter);
            (headers, reader)
        }
    };
    let line_base = context.lines;
    let find = |name: &str| {
        headers.iter().position(|h| h.trim() == name).or_else(|| {
            headers
                .iter()
                .position(|h| h.trim().eq_ignore_ascii_case(name))
        })
    };
    let Some(text_col) = find(&columns.text) else {
        return Err(InputError::new(
            path,
            Position::Line {
                line: 1,
                column: None,
            },
            format!(
                "no column named {:?} for the text (columns: {}); choose one with --text-column",
                columns.text,
                headers.iter().collect::<Vec<_>>().join(", ")
            ),
        ));
    };
    let speaker_col = find(&columns.speaker);
    let id_col = find(&columns.id);
    let doc_col = find(&columns.doc_id);

    let mut units = Vec::new();
    let mut errors = Vec::new();
    for record in reader.records() {
        let i = context.records;
        context.records += 1;
        let record_no = i + 1;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| line_base + p.line());
                errors.push(InputError::new(
                    path,
                    Position::Record {
                        record: record_no,
                        line,
                    },
                    format!("malformed CSV record: {e}"),
                ));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| line_base + p.line());
        let Some(text) = record.get(text_col) else {
            continue;
        };
        if let Err(e) = check_unit_size(
            text,
            path,
            Position::Record {
                record: record_no,
                line,
            },
        ) {
            errors.push(e);
            continue;
        }
        let field = |col: Option<usize>| {
            col.and_then(|c| record.get(c))
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let mut metadata = BTreeMap::new();
        for (c, name) in headers.iter().enumerate() {
            if [Some(text_col), speaker_col, id_col, doc_col].contains(&Some(c)) {
                continue;
            }
            if let Some(value) = record.get(c).filter(|v| !v.is_empty()) {
                metadata.insert(name.trim().to_string(), value.to_string());
            }
        }
        let unit = Unit {
            text: text.to_string(),
            record_index: Some(i),
            record_id: field(id_col),
            speaker: field(speaker_col),
            metadata,
            line,
            ..Unit::default()
        };
        units.push((
            field(doc_col).unwrap_or_else(|| default_doc_id.to_string()),
            unit,
        ));
    }
    Ok(Parsed {
        documents: group_by_doc(units),
        errors,
    })
}

/// The most frequent of `,`, `;` and tab outside quotes in the header row (`,` on a tie).
fn delimiter(text: &str) -> u8 {
    let header = text.lines().next().unwrap_or_default();
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for c in header.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => counts[0] += 1,
            ';' if !quoted => counts[1] += 1,
            '\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let best = (0..3)
        .rev()
        .max_by_key(|&i| (counts[i], i == 0))
        .unwrap_or(0);
    [b',', b';', b'\t'][best]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_columns_quoted_newlines_and_metadata() {
        let text = "id,speaker,text,site\nc1,GP,\"We pooled, \"\"finally\"\".\nThen saved.\",North\nc2,Cllr,Short,\n";
        let parsed = parse(text, "f.csv", "f", &CsvColumns::default()).unwrap();
        let units = &parsed.documents[0].units;
        assert_eq!(units[0].text, "We pooled, \"finally\".\nThen saved.");
        assert_eq!(units[0].metadata["site"], "North");
        assert_eq!(units[0].record_id.as_deref(), Some("c1"));
        assert_eq!(units[1].line, 4);
        assert!(units[1].metadata.is_empty());
    }

    #[test]
    fn semicolons_tabs_and_header_case() {
        for text in [
            "ID;Speaker;Text\n1;GP;\"Pooled; finally\"\n",
            "ID\tSpeaker\tText\n1\tGP\tPooled; finally\n",
        ] {
            let parsed = parse(text, "f.csv", "f", &CsvColumns::default()).unwrap();
            let unit = &parsed.documents[0].units[0];
            assert_eq!(unit.text, "Pooled; finally");
            assert_eq!(unit.speaker.as_deref(), Some("GP"));
            assert_eq!(unit.record_id.as_deref(), Some("1"));
        }
    }

    #[test]
    fn missing_text_column_names_the_columns() {
        let err = parse("a,b\n1,2\n", "f.csv", "f", &CsvColumns::default()).unwrap_err();
        assert!(err.reason.contains("\"text\"") && err.reason.contains("a, b"));
    }

    #[test]
    fn ragged_record_is_a_record_error() {
        let parsed = parse(
            "id,text\n1,ok\n2,bad,extra\n3,fine\n",
            "f.csv",
            "f",
            &CsvColumns::default(),
        )
        .unwrap();
        assert_eq!(parsed.documents[0].units.len(), 2);
        assert_eq!(parsed.errors.len(), 1);
        assert_eq!(
            parsed.errors[0].position,
            Position::Record { record: 2, line: 3 }
        );
    }
}
