//! The check every fuzz target runs: parsing arbitrary bytes as one format never panics, every
//! error names the input, and plain-text units index the decoded file exactly.

use discotag::input::{Format, ReadOptions, parse};

pub fn check(data: &[u8], format: Format) {
    let path = "fuzz/input";
    match parse(data, format, path, "doc", &ReadOptions::default()) {
        Err(e) => assert_eq!(e.path, path),
        Ok(parsed) => {
            assert!(parsed.errors.iter().all(|e| e.path == path));
            if format == Format::Text {
                let text = decoded(data);
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
