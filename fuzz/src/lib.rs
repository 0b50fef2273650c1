//! The check every fuzz target runs: parsing arbitrary bytes as one format never panics, every
//! error names the input, and plain-text and DOCX units index their offset base (the decoded
//! file, the DOCX plain text) exactly.

use discotag::input::{Format, ReadOptions, docx, parse};

pub fn check(data: &[u8], format: Format) {
    let path = "fuzz/input";
    match parse(data, format, path, "doc", &ReadOptions::default()) {
        Err(e) => assert_eq!(e.path, path),
        Ok(parsed) => {
            assert!(parsed.errors.iter().all(|e| e.path == path));
            let offset_base = match format {
                Format::Text => Some(decoded(data)),
                Format::Docx => Some(docx::plain_text(data, path).expect("parse accepted it")),
                _ => None,
            };
            if let Some(text) = offset_base {
                let chars: Vec<char> = text.chars().collect();
                for unit in parsed.documents.iter().flat_map(|d| &d.units) {
                    let start = unit.char_start as usize;
                    let slice: String = chars[start..start + unit.text.chars().count()]
                        .iter()
                        .collect();
                    assert_eq!(slice, unit.text);
                }
            }
        }
    }
}

/// Wraps arbitrary bytes as the main part (`word/document.xml`) of an otherwise valid .docx and
/// checks it: random bytes are almost never a zip, so this reaches the XML walker far more often
/// than the `docx` target does.
pub fn check_docx_main_part(xml: &[u8]) {
    use std::io::Write;
    let stored = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored);
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let entries: [(&str, &[u8]); 2] = [
        (
            "_rels/.rels",
            br#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>"#,
        ),
        ("word/document.xml", xml),
    ];
    for (name, data) in entries {
        writer.start_file(name, stored).expect("in-memory zip");
        writer.write_all(data).expect("in-memory zip");
    }
    let bytes = writer.finish().expect("in-memory zip").into_inner();
    check(&bytes, Format::Docx);
}

/// The decoded text as the reader saw it: UTF-16 with a byte-order mark, else UTF-8.
fn decoded(data: &[u8]) -> String {
    let utf16 = |rest: &[u8], word: fn([u8; 2]) -> u16| {
        let words: Vec<u16> = rest.chunks_exact(2).map(|c| word([c[0], c[1]])).collect();
        String::from_utf16(&words).expect("parse accepted it")
    };
    match data {
        [0xFF, 0xFE, rest @ ..] => utf16(rest, u16::from_le_bytes),
        [0xFE, 0xFF, rest @ ..] => utf16(rest, u16::from_be_bytes),
        _ => String::from_utf8(data.to_vec()).expect("parse accepted it"),
    }
}

/// The REFI-QDA check: the bytes as a whole `.qdpx` (almost always refused as a zip, which
/// must not panic), then, to reach the XML reader, the bytes up to the first `0xFF` as
/// `project.qde` and the rest as `sources/a.txt` zipped together. Every coding read must slice
/// its source's plain text; every labelled unit must index its source's plain text; writing a
/// coding back into any project that reads must not panic and must read back.
pub fn check_qdpx(data: &[u8]) {
    check(data, Format::Qdpx);
    let split = data.iter().position(|&b| b == 0xFF).unwrap_or(data.len());
    let (qde, text) = (&data[..split], data.get(split + 1..).unwrap_or_default());
    let archive = zip_of(&[("project.qde", qde), ("sources/a.txt", text)]);
    let path = "fuzz/input.qdpx";
    let Ok(project) = discotag::refi::read_project(&archive, path) else {
        return;
    };
    for coding in &project.codings {
        let source = project.source(&coding.source_guid).expect("codings name read sources");
        assert!(coding.start < coding.end);
        assert!(coding.end as usize <= source.plain_text.chars().count());
    }
    if let Ok(parsed) = parse(&archive, Format::Qdpx, path, "doc", &ReadOptions::default()) {
        for document in &parsed.documents {
            let guid = &document.metadata[discotag::refi::SOURCE_GUID_KEY];
            let chars: Vec<char> = project.source(guid).expect("a read source").plain_text.chars().collect();
            for unit in &document.units {
                let start = unit.char_start as usize;
                let slice: String = chars[start..start + unit.text.chars().count()].iter().collect();
                assert_eq!(slice, unit.text);
            }
        }
    }
    let codings: Vec<discotag::refi::NewCoding> = project
        .sources
        .iter()
        .filter(|s| !s.plain_text.is_empty())
        .map(|s| discotag::refi::NewCoding {
            source_guid: s.guid.clone(),
            code: "fuzz".into(),
            start: 0,
            end: s.plain_text.chars().count().min(5) as u64,
        })
        .collect();
    let options = discotag::refi::WriteOptions { coder: "fuzz coder", created: None };
    if let Ok(written) = discotag::refi::write_codings(&archive, path, &options, &codings) {
        let again = discotag::refi::read_project(&written.bytes, path).expect("written projects read");
        assert_eq!(again.codings_by("fuzz coder").len(), codings.len());
    }
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write;
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in entries {
        writer
            .start_file(*name, zip::write::SimpleFileOptions::default())
            .expect("writing to memory");
        writer.write_all(data).expect("writing to memory");
    }
    writer.finish().expect("writing to memory").into_inner()
}
